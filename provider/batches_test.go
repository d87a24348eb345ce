package provider_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsfake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/jmes"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

// Parameter Store objects are mounted against the kumo emulator (through
// the awsemu front, which counts the calls); secrets come from awsfake.SM.

const ssmRegion = "us-east-1"

type ssmEnv struct {
	aws *awsemu.AWS
	sm  *awsfake.SM
	p   *provider.Provider
}

func startSSM(t *testing.T, versions ...awsfake.Version) *ssmEnv {
	t.Helper()
	a := awsemu.Start(t)
	client := awsssm.New(awsssm.Options{Region: ssmRegion, BaseEndpoint: aws.String(a.Endpoint), Retryer: aws.NopRetryer{}})
	sm := &awsfake.SM{Versions: versions}
	p := provider.NewFromAPIs(provider.APIs{STS: newSTS(), SecretsManager: sm, SSM: client, Kube: kubeObjects(t).Client(), Region: ssmRegion}, testOptions)
	return &ssmEnv{aws: a, sm: sm, p: p}
}

func (e *ssmEnv) put(t *testing.T, name string, typ types.ParameterType, value string) {
	t.Helper()
	if _, err := e.aws.SSM.PutParameter(context.Background(), &awsssm.PutParameterInput{Name: aws.String(name), Type: typ, Value: aws.String(value), Overwrite: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
}

func (e *ssmEnv) mount(t *testing.T, objects string, extra map[string]string) (*provider.Result, error) {
	t.Helper()
	r := pmpReq(objects)
	for k, v := range extra {
		r.Parameters[k] = v
	}
	return e.p.Mount(context.Background(), parse(t, r))
}

const dbDoc = `{"username":"app","password":"hunter2","port":5432,"tls":{"on":true}}`

func TestMountParameters(t *testing.T) {
	e := startSSM(t, awsfake.Version{ID: "db-creds", VersionID: v1, Value: dbDoc})
	e.put(t, "/app/db", types.ParameterTypeString, dbDoc)
	e.put(t, "/app/password", types.ParameterTypeSecureString, "s3cret")
	e.put(t, "/app/hosts", types.ParameterTypeStringList, "a.example,b.example")
	e.put(t, "/app/flag", types.ParameterTypeString, "v2")
	e.aws.Front.AddParameterVersion(awsemu.ParameterVersion{Name: "/app/flag", Version: 1, Type: "String", Value: "v1", Labels: []string{"stable"}})
	e.aws.Front.AddParameterVersion(awsemu.ParameterVersion{Name: "/app/flag", Version: 2, Type: "String", Value: "v2"})

	tests := []struct {
		name    string
		objects string
		params  map[string]string
		want    []file
	}{
		{
			name:    "a JSON parameter is flattened, with keys, layout and jmesPath",
			objects: "- {objectName: /app/db, objectType: ssmparameter, objectAlias: db, keys: [username, 'tls.*'], layout: nested, jmesPath: [{path: port, objectAlias: db-port, filePermission: '0400'}]}",
			want: []file{
				{Path: "db-port", Mode: 0o400, Contents: "5432"},
				{Path: "db/tls/on", Mode: 0o644, Contents: "true"},
				{Path: "db/username", Mode: 0o644, Contents: "app"},
			},
		},
		{
			name: "SecureString decrypted, StringList as stored, a label, names translated as ASCP does",
			objects: `- {objectName: /app/password, objectType: ssmparameter}
- {objectName: /app/hosts, objectType: ssm, filePermission: "0440"}
- {objectName: /app/flag, objectType: ssmparameter, objectVersionLabel: stable, objectAlias: flag-stable}
- {objectName: /app/flag, objectType: ssmparameter, objectVersion: "2", objectAlias: flag-2}`,
			want: []file{
				{Path: "_app_hosts", Mode: 0o440, Contents: "a.example,b.example"},
				{Path: "_app_password", Mode: 0o644, Contents: "s3cret"},
				{Path: "flag-2", Mode: 0o644, Contents: "v2"},
				{Path: "flag-stable", Mode: 0o644, Contents: "v1"},
			},
		},
		{
			name: "ascpCompat: a copied ASCP class mounts ASCP's files",
			objects: `- objectName: db-creds
  objectType: secretsmanager
  jmesPath:
    - Path: username
      ObjectAlias: dbuser
    - path: '"tls".on'
      objectAlias: dbtls
- objectName: /app/db
  objectType: ssmparameter
  filePermission: "0400"
  jmesPath:
    - {path: password, objectAlias: ssm-password}`,
			params: map[string]string{"ascpCompat": "true"},
			want: []file{
				{Path: "_app_db", Mode: 0o400, Contents: dbDoc},
				{Path: "db-creds", Mode: 0o644, Contents: dbDoc},
				{Path: "dbtls", Mode: 0o644, Contents: "true"},
				{Path: "dbuser", Mode: 0o644, Contents: "app"},
				{Path: "ssm-password", Mode: 0o400, Contents: "hunter2"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.mount(t, tt.objects, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, filesOf(res)); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMountParametersCalls: one GetParameters per ten parameters, and the
// cache serves republishes.
func TestMountParametersCalls(t *testing.T) {
	e := startSSM(t)
	var objects strings.Builder
	for i := range 12 {
		name := "/batch/p" + string(rune('a'+i))
		e.put(t, name, types.ParameterTypeString, "v")
		objects.WriteString("- {objectName: " + name + ", objectType: ssmparameter}\n")
	}
	for range 3 {
		res, err := e.mount(t, objects.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Files) != 12 {
			t.Fatalf("%d files, want 12", len(res.Files))
		}
	}
	if n := e.aws.Front.Count(awsemu.OpGetParameters); n != 2 {
		t.Errorf("3 Mounts of 12 parameters made %d GetParameters calls, want 2", n)
	}
	if st := e.p.CacheStats()["parameters"]; st.Misses != 2 || st.Hits != 4 {
		t.Errorf("parameters cache = %+v, want 2 misses, 4 hits", st)
	}
}

func TestMountParametersErrors(t *testing.T) {
	e := startSSM(t, awsfake.Version{ID: "plain", VersionID: v1, Value: "not json"})
	e.put(t, "/app/db", types.ParameterTypeString, dbDoc)
	tests := []struct {
		name    string
		objects string
		kind    mounterr.Kind
		want    []string
	}{
		{name: "missing parameter", objects: "- {objectName: /app/missing, objectType: ssmparameter}", kind: mounterr.NotFound,
			want: []string{"parameter /app/missing was not found in region us-east-1"}},
		{name: "jmesPath that selects nothing names the path, alias and object", kind: mounterr.NotFound,
			objects: "- {objectName: /app/db, objectType: ssmparameter, jmesPath: [{path: user, objectAlias: u}]}",
			want:    []string{`objects entry /app/db: jmesPath[0] path "user" (objectAlias u) in parameter /app/db: the expression selects nothing`}},
		{name: "unquoted hyphenated key", kind: mounterr.NotFound,
			objects: "- {objectName: /app/db, objectType: ssmparameter, jmesPath: [{path: db-user, objectAlias: u}]}",
			want:    []string{`a key with '-' is written in double quotes`}},
		{name: "jmesPath on a value that is not JSON", kind: mounterr.Invalid,
			objects: "- {objectName: plain, jmesPath: [{path: a, objectAlias: u}]}",
			want:    []string{"objects entry plain: jmesPath selects from a JSON value, but secret plain: the value is not a JSON document", "remove jmesPath"}},
		{name: "a parameter's errors say parameter", kind: mounterr.NotFound,
			objects: "- {objectName: /app/db, objectType: ssmparameter, keys: [nokey]}",
			want:    []string{`parameter /app/db: keys pattern "nokey" matches no key`}},
		{name: "the issue's doubling jmesPath stops at the response limit", kind: mounterr.Invalid,
			objects: "- {objectName: /app/db, objectType: ssmparameter, jmesPath: [{path: '@" + strings.Repeat(" | [@,@]", 16) + "', objectAlias: u}]}",
			want:    []string{`objects entry /app/db: jmesPath[0] path "@ | [@,@]`, "(objectAlias u) in parameter /app/db: the result would be over 3 MiB, the most a Mount can return"}},
		{name: "a jmesPath over its budget", kind: mounterr.Invalid,
			objects: "- {objectName: /app/db, objectType: ssmparameter, jmesPath: [{path: 'to_string(@" + strings.Repeat(" | [@,@]", 30) + ")', objectAlias: u}]}",
			want:    []string{"(objectAlias u) in parameter /app/db: evaluating the expression on this value would use more than 2 MiB, a jmesPath's limit"}},
		{name: "a jmesPath file colliding with a flattened key", kind: mounterr.Invalid,
			objects: "- {objectName: /app/db, objectType: ssmparameter, jmesPath: [{path: username, objectAlias: username}]}",
			want:    []string{`two objects or keys produce the same file "username"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.mount(t, tt.objects, nil)
			var merr *mounterr.Error
			if !errors.As(err, &merr) || merr.Kind != tt.kind {
				t.Fatalf("error = %v, want kind %v", err, tt.kind)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q holds a value", err)
			}
		})
	}
}

// TestJMESPathResultLimitIsTheResponseLimit: a jmesPath result is written
// only up to the Mount's response limit, no further.
func TestJMESPathResultLimitIsTheResponseLimit(t *testing.T) {
	if jmes.MaxResultBytes != provider.MaxResponseBytes {
		t.Errorf("jmes.MaxResultBytes = %d, provider.MaxResponseBytes = %d", jmes.MaxResultBytes, provider.MaxResponseBytes)
	}
}
