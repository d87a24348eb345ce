package provider_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/mddoc"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/mountenv"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

// Optional objects and jmesPath entries, against the real emulator: a
// Mendix app environment whose database, storage and configuration live
// in separate secrets or parameters, not all created yet.

const opGetSecretValue = "secretsmanager:GetSecretValue"

// optionalEnv is a provider whose refusals are remembered for a minute,
// longer than any of these tests, so the call counts do not depend on
// how fast the Mounts run.
func optionalEnv(t *testing.T, opts ...mountenv.Option) *mountenv.Env {
	t.Helper()
	return mountenv.New(t, append([]mountenv.Option{func(o *provider.Options) { o.NegativeTTL = time.Minute }}, opts...)...)
}

func putParameter(t *testing.T, e *mountenv.Env, name, value string) {
	t.Helper()
	if _, err := e.AWS.SSM.PutParameter(context.Background(), &awsssm.PutParameterInput{
		Name: aws.String(name), Type: ssmtypes.ParameterTypeString, Value: aws.String(value), Overwrite: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
}

func skipped(res *provider.Result) []string {
	if res == nil {
		return nil
	}
	var out []string
	for _, s := range res.Skipped {
		out = append(out, s.String())
	}
	return out
}

// TestOptionalSecretMissingIsSkipped: an optional secret that does not
// exist is left out, the others are mounted, and the Mount says which it
// left out. Its absence is remembered as any refusal is (--negative-ttl):
// republishes make no call for it.
func TestOptionalSecretMissingIsSkipped(t *testing.T) {
	e := optionalEnv(t)
	e.PutSecret("myapp-database", `{"database-type": "PostgreSQL", "database-password": "VALUE-SENTINEL-db"}`)
	e.PutSecret("myapp-config", `{"mx-admin-password": "VALUE-SENTINEL-admin"}`)
	objects := `- objectName: myapp-database
- objectName: myapp-storage
  optional: true
- objectName: myapp-config`
	want := map[string]string{
		"database-type":     "PostgreSQL",
		"database-password": "VALUE-SENTINEL-db",
		"mx-admin-password": "VALUE-SENTINEL-admin",
	}
	for i := range 3 { // a first Mount, then republishes
		res, err := e.Mount(e.Req(objects))
		if err != nil {
			t.Fatalf("Mount %d: %v", i, err)
		}
		if diff := cmp.Diff(want, mountenv.Files(res)); diff != "" {
			t.Errorf("Mount %d: files (-want +got):\n%s", i, diff)
		}
		if diff := cmp.Diff([]string{"secret myapp-storage"}, skipped(res)); diff != "" {
			t.Errorf("Mount %d: skipped (-want +got):\n%s", i, diff)
		}
	}
	if n := e.AWS.Front.Count(opGetSecretValue); n != 3 {
		t.Errorf("3 Mounts of 2 secrets and a missing optional one made %d GetSecretValue calls, want 3 (one each; republishes from the caches)", n)
	}
}

// TestOptionalParameterMissingInABatch: Parameter Store answers a batch
// with the names that do not exist; the optional ones among them are left
// out and the rest of the batch is read again without them, once: both
// answers are kept, so republishes make no call.
func TestOptionalParameterMissingInABatch(t *testing.T) {
	e := optionalEnv(t)
	putParameter(t, e, "/myapp/database-type", "PostgreSQL")
	putParameter(t, e, "/myapp/database-host", "db.example:5432")
	putParameter(t, e, "/myapp/storage-bucket-name", "myapp-files")
	objects := `- {objectName: /myapp/database-type, objectType: ssmparameter, objectAlias: database-type}
- {objectName: /myapp/database-host, objectType: ssmparameter, objectAlias: database-host}
- {objectName: /myapp/database-password, objectType: ssmparameter, objectAlias: database-password, optional: true}
- {objectName: /myapp/storage-bucket-name, objectType: ssmparameter, objectAlias: storage-bucket-name}
- {objectName: /myapp/database-type, objectType: ssmparameter, objectVersion: "9", objectAlias: database-type-9, optional: true}`
	want := map[string]string{
		"database-type":       "PostgreSQL",
		"database-host":       "db.example:5432",
		"storage-bucket-name": "myapp-files",
	}
	for i := range 3 {
		res, err := e.Mount(e.Req(objects))
		if err != nil {
			t.Fatalf("Mount %d: %v", i, err)
		}
		if diff := cmp.Diff(want, mountenv.Files(res)); diff != "" {
			t.Errorf("Mount %d: files (-want +got):\n%s", i, diff)
		}
		if diff := cmp.Diff([]string{"parameter /myapp/database-password", "parameter /myapp/database-type"}, skipped(res)); diff != "" {
			t.Errorf("Mount %d: skipped (-want +got):\n%s", i, diff)
		}
	}
	if n := e.AWS.Front.Count(awsemu.OpGetParameters); n != 2 {
		t.Errorf("3 Mounts of a batch with 2 missing optional parameters made %d GetParameters calls, want 2 (the batch, then the rest; republishes from the caches)", n)
	}

	// The same batch with a missing parameter that is not optional fails
	// as before, naming what is missing.
	_, err := e.Mount(e.Req(objects + "\n- {objectName: /myapp/storage-endpoint, objectType: ssmparameter, objectAlias: storage-endpoint}"))
	const msg = "parameters /myapp/database-password, /myapp/database-type:9, /myapp/storage-endpoint were not found in region eu-west-1: check objectName, objectVersion and objectVersionLabel and the region (SecretProviderClass region, AWS_REGION or the node's topology.kubernetes.io/region label); a parameter the role may not read fails with AccessDeniedException instead"
	if mounterr.KindOf(err) != mounterr.NotFound || err.Error() != msg {
		t.Errorf("error = %v (%v), want NotFound: %s", err, mounterr.KindOf(err), msg)
	}
}

// TestOptionalJMESPathKeyMissingIsSkipped: an optional jmesPath entry whose
// path selects nothing is left out, the other entries and the object's
// files are mounted. An unquoted hyphen is still refused: it is a typo,
// not a key that is not there.
func TestOptionalJMESPathKeyMissingIsSkipped(t *testing.T) {
	e := optionalEnv(t)
	e.PutSecret("myapp-env", `{"database-type": "PostgreSQL", "database-jdbc-url": "jdbc:postgresql://db/app"}`)
	res, err := e.Mount(e.Req(`- objectName: myapp-env
  flatten: false
  objectAlias: env.json
  jmesPath:
    - {path: '"database-type"', objectAlias: database-type}
    - {path: '"database-password"', objectAlias: database-password, optional: true}
    - {path: '"database-jdbc-url"', objectAlias: database-jdbc-url, optional: true}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"env.json":          `{"database-type": "PostgreSQL", "database-jdbc-url": "jdbc:postgresql://db/app"}`,
		"database-type":     "PostgreSQL",
		"database-jdbc-url": "jdbc:postgresql://db/app",
	}
	if diff := cmp.Diff(want, mountenv.Files(res)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"jmesPath[1] (objectAlias database-password) of secret myapp-env"}, skipped(res)); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}

	for _, tt := range []struct{ name, objects, want string }{
		{"not optional", `- {objectName: myapp-env, jmesPath: [{path: '"database-password"', objectAlias: database-password}]}`,
			`objects entry myapp-env: jmesPath[0] path "\"database-password\"" (objectAlias database-password) in secret myapp-env: the expression selects nothing (no such key, or null)`},
		{"an unquoted hyphen", `- {objectName: myapp-env, jmesPath: [{path: database-password, objectAlias: database-password, optional: true}]}`,
			`objects entry myapp-env: jmesPath[0] path "database-password" (objectAlias database-password) in secret myapp-env: the expression selects nothing (no such key, or null): a key with '-' is written in double quotes, e.g. '"db-creds".password'`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Mount(e.Req(tt.objects))
			if mounterr.KindOf(err) != mounterr.NotFound || err.Error() != tt.want {
				t.Errorf("error = %v (%v), want NotFound: %s", err, mounterr.KindOf(err), tt.want)
			}
		})
	}
}

// TestMissingObjectNotOptionalFailsAsBefore: without optional (or with
// optional: false) a missing secret fails the Mount with the message it
// always had; and a volume whose every object is optional and missing
// fails too (the driver refuses a Mount with no file), saying so.
func TestMissingObjectNotOptionalFailsAsBefore(t *testing.T) {
	e := optionalEnv(t)
	e.PutSecret("myapp-database", `{"database-type": "PostgreSQL"}`)
	const notFound = "secret myapp-storage was not found in region eu-west-1: check objectName (and objectVersion/objectVersionLabel) and the region (SecretProviderClass region, AWS_REGION or the node's topology.kubernetes.io/region label)"
	for _, tt := range []struct{ name, objects, want string }{
		{"no optional", "- objectName: myapp-database\n- objectName: myapp-storage", notFound},
		{"optional: false", "- objectName: myapp-database\n- {objectName: myapp-storage, optional: false}", notFound},
		{"optional elsewhere", "- {objectName: myapp-database, optional: true}\n- objectName: myapp-storage", notFound},
		{"the same secret, optional once", "- {objectName: myapp-storage, objectAlias: a, flatten: false, optional: true}\n- {objectName: myapp-storage, objectAlias: b, flatten: false}\n- objectName: myapp-database", notFound},
		{"every object optional and missing", "- {objectName: myapp-storage, optional: true}\n- {objectName: myapp-config, optional: true}",
			`SecretProviderClass "pmp-credentials" mounts nothing: none of its objects exists, and all are optional (secret myapp-storage, secret myapp-config); a volume needs one file at least: create one of them, or check the names and the region`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.Mount(e.Req(tt.objects))
			if mounterr.KindOf(err) != mounterr.NotFound || err.Error() != tt.want {
				t.Errorf("error = %v (%v), want NotFound: %s", err, mounterr.KindOf(err), tt.want)
			}
			if len(mountenv.Files(res)) != 0 || len(skipped(res)) != 0 {
				t.Errorf("a failed Mount returned files %v, skipped %v", mountenv.Files(res), skipped(res))
			}
		})
	}
}

// TestOptionalNeverSkipsARefusal: optional leaves out only what does not
// exist. A denied permission, a secret that cannot be decrypted or is
// scheduled for deletion, throttling past the retries: each fails the
// Mount as it would without optional.
func TestOptionalNeverSkipsARefusal(t *testing.T) {
	e := optionalEnv(t, func(o *provider.Options) { o.RetryBudget = time.Second })
	e.PutSecret("myapp-database", `{"database-type": "PostgreSQL"}`)
	putParameter(t, e, "/myapp/database-type", "PostgreSQL")
	// The optional object first: objects are read in their order, and the
	// first failure fails the Mount, so the failure is its read's (the
	// parameters are read in one call).
	secrets := "- {objectName: myapp-storage, optional: true}\n- objectName: myapp-database"
	params := "- {objectName: /myapp/storage, objectType: ssm, optional: true}\n- {objectName: /myapp/database-type, objectType: ssm}"
	for _, tt := range []struct {
		name, objects, op, code string
		status                  int
		kind                    mounterr.Kind
		names                   string // in the message
	}{
		{"secret, access denied", secrets, opGetSecretValue, "AccessDeniedException", 400, mounterr.Denied, "access to secret myapp-storage in eu-west-1 was denied"},
		{"secret, not decrypted", secrets, opGetSecretValue, "DecryptionFailure", 400, mounterr.Denied, "secret myapp-storage could not be decrypted"},
		{"secret scheduled for deletion", secrets, opGetSecretValue, "InvalidRequestException", 400, mounterr.NotFound, "secret myapp-storage cannot be read"},
		{"secret, throttled", secrets, opGetSecretValue, "ThrottlingException", 400, mounterr.Transient, "GetSecretValue for myapp-storage"},
		{"parameter, access denied", params, awsemu.OpGetParameters, "AccessDeniedException", 400, mounterr.Denied, "access to parameters /myapp/database-type, /myapp/storage in eu-west-1 was denied"},
		{"parameter, key disabled", params, awsemu.OpGetParameters, "InvalidKeyId", 400, mounterr.Denied, "a SecureString parameter of /myapp/database-type, /myapp/storage in eu-west-1 could not be decrypted"},
		{"parameter, AWS failing", params, awsemu.OpGetParameters, "InternalServerError", 500, mounterr.Transient, "GetParameters for /myapp/database-type, /myapp/storage"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A namespace of its own for each case: nothing cached from the last.
			e.Kube.PutServiceAccount(strings.ReplaceAll(tt.name, " ", ""), "app", mountenv.Role)
			r := e.Req(tt.objects)
			r.Namespace, r.ServiceAccount = strings.ReplaceAll(tt.name, " ", ""), "app"
			e.AWS.Front.Inject(awsemu.Fault{Operation: tt.op, Status: tt.status, Code: tt.code, Message: "refused"})
			defer e.AWS.Front.Clear()
			res, err := e.Mount(r)
			if mounterr.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.names) {
				t.Errorf("error = %v (%v), want %v saying %q", err, mounterr.KindOf(err), tt.kind, tt.names)
			}
			if len(mountenv.Files(res)) != 0 {
				t.Errorf("files %v from a failed Mount", mountenv.Files(res))
			}
		})
	}
}

// TestOptionalSecretThatDisappears: a file mounted before is no longer in
// the Mount's files once its optional secret is deleted (the driver
// removes it from the volume); it comes back when the secret does.
func TestOptionalSecretThatDisappears(t *testing.T) {
	e := optionalEnv(t, func(o *provider.Options) { o.SecretTTL, o.NegativeTTL = 1, 0 })
	e.PutSecret("myapp-database", `{"database-type": "PostgreSQL"}`)
	e.PutSecret("myapp-storage", `{"storage-bucket-name": "myapp-files"}`)
	objects := "- objectName: myapp-database\n- {objectName: myapp-storage, optional: true}"
	mount := func() map[string]string {
		t.Helper()
		res, err := e.Mount(e.Req(objects))
		if err != nil {
			t.Fatal(err)
		}
		return mountenv.Files(res)
	}
	if diff := cmp.Diff(map[string]string{"database-type": "PostgreSQL", "storage-bucket-name": "myapp-files"}, mount()); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if _, err := e.AWS.Admin.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{
		SecretId: aws.String("myapp-storage"), ForceDeleteWithoutRecovery: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"database-type": "PostgreSQL"}, mount()); diff != "" {
		t.Errorf("deleted: files (-want +got):\n%s", diff)
	}
	e.PutSecret("myapp-storage", `{"storage-bucket-name": "myapp-files-2"}`)
	if diff := cmp.Diff(map[string]string{"database-type": "PostgreSQL", "storage-bucket-name": "myapp-files-2"}, mount()); diff != "" {
		t.Errorf("created again: files (-want +got):\n%s", diff)
	}
}

// TestOptionalIsTheTenantsOwn: one identity's Mount of a class whose
// missing secret is optional leaves nothing behind for another identity
// reading the same secret: that one's Mount asks AWS for itself, and
// reads the secret once it exists although the first identity's absence
// is still remembered.
func TestOptionalIsTheTenantsOwn(t *testing.T) {
	e := optionalEnv(t)
	e.PutSecret("myapp-database", `{"database-type": "PostgreSQL"}`)
	a := e.Req("- objectName: myapp-database\n- {objectName: myapp-storage, optional: true}")
	res, err := e.Mount(a)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"secret myapp-storage"}, skipped(res)); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	b := e.Req("- objectName: myapp-storage")
	b.Namespace, b.ServiceAccount = "other", "copycat" // the same role, another identity
	before := e.AWS.Front.Count(opGetSecretValue)
	if _, err := e.Mount(b); mounterr.KindOf(err) != mounterr.NotFound {
		t.Errorf("the other identity's Mount of the missing secret: %v, want NotFound", err)
	}
	if n := e.AWS.Front.Count(opGetSecretValue) - before; n != 1 {
		t.Errorf("the other identity's Mount made %d GetSecretValue calls, want 1: its own", n)
	}

	e.PutSecret("myapp-storage", `{"storage-bucket-name": "myapp-files"}`)
	e.Kube.PutServiceAccount("pmp", "storage-reader", mountenv.Role)
	c := e.Req("- objectName: myapp-storage")
	c.ServiceAccount = "storage-reader"
	res, err = e.Mount(c)
	if err != nil {
		t.Fatalf("a third identity's Mount of the secret, created since: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"storage-bucket-name": "myapp-files"}, mountenv.Files(res)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	// The first identity's absence is still remembered (--negative-ttl).
	res, err = e.Mount(a)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"secret myapp-storage"}, skipped(res)); diff != "" {
		t.Errorf("the first identity, within its negative window: skipped (-want +got):\n%s", diff)
	}
}

// sectionYAML is the first YAML block of the section heading of the page.
func sectionYAML(t *testing.T, page, heading string) []byte {
	t.Helper()
	d, err := mddoc.Load(page)
	if err != nil {
		t.Fatal(err)
	}
	section := d.MustSection(t, heading)
	_, rest, ok := strings.Cut(section, "```yaml\n")
	if !ok {
		t.Fatalf("%s, %s: no YAML", page, heading)
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("%s, %s: the YAML does not end", page, heading)
	}
	return []byte(block)
}

// TestMendixSeparateSecretsExample: the class of docs/mendix-environments.md
// whose environment keeps its database, storage and app settings in three
// secrets, the last two optional, mounts the database's files while it is
// the only one, and every file once all three exist.
func TestMendixSeparateSecretsExample(t *testing.T) {
	var class struct {
		Spec struct {
			Parameters map[string]string `json:"parameters"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(sectionYAML(t, "../docs/mendix-environments.md", "Settings in separate secrets"), &class); err != nil {
		t.Fatal(err)
	}
	e := optionalEnv(t, func(o *provider.Options) { o.NegativeTTL = 0 })
	e.Kube.PutServiceAccount("my-namespace", "my-app", mountenv.Role)
	mount := func() (map[string]string, []string) {
		t.Helper()
		r := e.Req(class.Spec.Parameters["objects"])
		r.Namespace, r.ServiceAccount, r.SecretProviderClass = "my-namespace", "my-app", "my-app"
		res, err := e.Mount(r)
		if err != nil {
			t.Fatal(err)
		}
		return mountenv.Files(res), skipped(res)
	}

	e.PutSecret("my-namespace/my-app/database", `{"database-type": "PostgreSQL", "database-jdbc-url": "jdbc:postgresql://db:5432/app", "database-host": "db:5432", "database-name": "app", "database-username": "app", "database-password": "VALUE-SENTINEL-db"}`)
	files, left := mount()
	want := map[string]string{
		"database-type": "PostgreSQL", "database-jdbc-url": "jdbc:postgresql://db:5432/app", "database-host": "db:5432",
		"database-name": "app", "database-username": "app", "database-password": "VALUE-SENTINEL-db",
	}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("the database secret alone: files (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"secret my-namespace/my-app/storage", "secret my-namespace/my-app/config"}, left); diff != "" {
		t.Errorf("the database secret alone: skipped (-want +got):\n%s", diff)
	}

	e.PutSecret("my-namespace/my-app/storage", `{"storage-service-name": "com.mendix.storage.s3", "storage-endpoint": "https://my-app-bucket.s3.eu-west-1.amazonaws.com", "storage-bucket-name": "my-app"}`)
	e.PutSecret("my-namespace/my-app/config", `{"mx-admin-password": "VALUE-SENTINEL-admin", "mx-const-MyFirstModule.WelcomePageTitle": "Hello"}`)
	files, left = mount()
	want["storage-service-name"], want["storage-endpoint"], want["storage-bucket-name"] = "com.mendix.storage.s3", "https://my-app-bucket.s3.eu-west-1.amazonaws.com", "my-app"
	want["mx-admin-password"], want["mx-const-MyFirstModule.WelcomePageTitle"] = "VALUE-SENTINEL-admin", "Hello"
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("all three secrets: files (-want +got):\n%s", diff)
	}
	if len(left) != 0 {
		t.Errorf("all three secrets: skipped %v", left)
	}
}

// TestOptionalReferenceExample: the example of docs/secretproviderclass.md's
// Optional objects and keys mounts what exists and names what it left out.
func TestOptionalReferenceExample(t *testing.T) {
	var example struct {
		Objects string `json:"objects"`
	}
	if err := yaml.UnmarshalStrict(sectionYAML(t, "../docs/secretproviderclass.md", "Optional objects and keys"), &example); err != nil {
		t.Fatal(err)
	}
	e := optionalEnv(t)
	e.PutSecret("myapp-database", `{"database-type": "PostgreSQL"}`)
	e.PutSecret("myapp-runtime", `{"mx-admin-password": "VALUE-SENTINEL-admin"}`)
	res, err := e.Mount(e.Req(example.Objects))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"database-type":     "PostgreSQL",
		"runtime.json":      `{"mx-admin-password": "VALUE-SENTINEL-admin"}`,
		"mx-admin-password": "VALUE-SENTINEL-admin",
	}
	if diff := cmp.Diff(want, mountenv.Files(res)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	wantSkipped := []string{"secret myapp-storage", "parameter /myapp/config/mx-debugger-password",
		"jmesPath[1] (objectAlias mx-runtime-ClusterManagerActionListenerPort) of secret myapp-runtime"}
	if diff := cmp.Diff(wantSkipped, skipped(res)); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
}
