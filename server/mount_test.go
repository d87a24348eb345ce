package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/secrets-store-csi-driver/pkg/util/fileutil"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

func TestMountPMPSecretGivesOneFilePerCredential(t *testing.T) {
	e := newEnv(t)
	doc, want := pmpTemplate(secretValue)
	version := e.putSecret("PMP-Production-Credentials", doc)

	resp, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials"))
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	if len(want) != 30 {
		t.Fatalf("template has %d credentials, want the PMP document's 30", len(want))
	}
	if diff := cmp.Diff(want, filesOf(resp)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	for _, f := range resp.GetFiles() {
		if f.GetMode() != 0o644 {
			t.Errorf("%s mode = %#o, want the request's 0644", f.GetPath(), f.GetMode())
		}
	}
	if len(resp.GetObjectVersion()) != len(resp.GetFiles()) {
		t.Fatalf("%d object versions for %d files", len(resp.GetObjectVersion()), len(resp.GetFiles()))
	}
	for _, v := range resp.GetObjectVersion() {
		if v.GetVersion() != version {
			t.Errorf("version of %s = %q, want the Secrets Manager VersionId %q", v.GetId(), v.GetVersion(), version)
		}
		if _, ok := want[v.GetId()]; !ok {
			t.Errorf("object version id %q names no file", v.GetId())
		}
	}
	if got := e.aws.Front.Counts(); got["sts:AssumeRoleWithWebIdentity"] != 1 || got["secretsmanager:GetSecretValue"] != 1 || len(got) != 2 {
		t.Errorf("AWS calls = %v, want exactly one AssumeRoleWithWebIdentity and one GetSecretValue", got)
	}
}

func TestMountOptions(t *testing.T) {
	e := newEnv(t)
	doc, _ := pmpTemplate(func(name string) string {
		if strings.HasPrefix(name, "VCS.Gitlab") || strings.HasPrefix(name, "VCS.Azure") {
			return "" // unused credentials are left empty, as the PMP document says
		}
		return secretValue(name)
	})
	e.putSecret("PMP-Production-Credentials", doc)
	e.putSecret("PMP-Plain", "just-a-password")
	e.putSecret("PMP-Mixed", `{"VCS": {"GithubAdminPAT": "a"}, "VCS.GitlabAdminPAT": "b", "Port": 5432, "TLS": true, "Nothing": null, "Hosts": ["x", "y"]}`)

	tests := []struct {
		name    string
		objects string
		want    map[string]string // path -> contents
		modes   map[string]int32  // path -> mode, where not 0644
	}{
		{
			name:    "keys selects only VCS, empty values skipped",
			objects: "- objectName: PMP-Production-Credentials\n  keys: [\"VCS.*\"]",
			want: map[string]string{
				"VCS.BitbucketProjectAdminPAT":     secretValue("VCS.BitbucketProjectAdminPAT"),
				"VCS.BitbucketAdminPassword":       secretValue("VCS.BitbucketAdminPassword"),
				"VCS.GithubOrgOwnerPAT":            secretValue("VCS.GithubOrgOwnerPAT"),
				"VCS.GithubAdminPAT":               secretValue("VCS.GithubAdminPAT"),
				"VCS.GithubEnterpriseClientSecret": secretValue("VCS.GithubEnterpriseClientSecret"),
			},
		},
		{
			name:    "keepEmpty mounts empty credentials, nested layout makes directories",
			objects: "- objectName: PMP-Production-Credentials\n  keys: [VCS.Gitlab*]\n  keepEmpty: true\n  layout: nested\n  filePermission: \"0400\"",
			want:    map[string]string{"VCS/GitlabGroupOwnerPAT": "", "VCS/GitlabAdminPAT": ""},
			modes:   map[string]int32{"VCS/GitlabGroupOwnerPAT": 0o400, "VCS/GitlabAdminPAT": 0o400},
		},
		{
			name:    "objectAlias puts a flattened secret in a directory",
			objects: "- objectName: PMP-Production-Credentials\n  objectAlias: pmp\n  keys: [Email.SMTPPassword]",
			want:    map[string]string{"pmp/Email.SMTPPassword": secretValue("Email.SMTPPassword")},
		},
		{
			name:    "a value that is not JSON is one file, named by objectAlias",
			objects: "- objectName: PMP-Plain\n  objectAlias: db-password",
			want:    map[string]string{"db-password": "just-a-password"},
		},
		{
			name:    "flatten false mounts the whole JSON document",
			objects: "- objectName: PMP-Mixed\n  flatten: false",
			want:    map[string]string{"PMP-Mixed": `{"VCS": {"GithubAdminPAT": "a"}, "VCS.GitlabAdminPAT": "b", "Port": 5432, "TLS": true, "Nothing": null, "Hosts": ["x", "y"]}`},
		},
		{
			name:    "nested and dotted keys mix; numbers, booleans, arrays as JSON text; null skipped",
			objects: "- objectName: PMP-Mixed",
			want:    map[string]string{"VCS.GithubAdminPAT": "a", "VCS.GitlabAdminPAT": "b", "Port": "5432", "TLS": "true", "Hosts": `["x","y"]`},
		},
		{
			name:    "two objects in one volume",
			objects: "- objectName: PMP-Plain\n  objectAlias: db\n- objectName: PMP-Production-Credentials\n  keys: [Email.*]",
			want:    map[string]string{"db": "just-a-password", "Email.SMTPPassword": secretValue("Email.SMTPPassword")},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.mount(pmpReq(tc.objects))
			if err != nil {
				t.Fatalf("Mount: %v", err)
			}
			if diff := cmp.Diff(tc.want, filesOf(resp)); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			// The driver refuses a response whose paths it would not write.
			if err := fileutil.Validate(resp.GetFiles()); err != nil {
				t.Errorf("the driver would refuse these files: %v", err)
			}
			for _, f := range resp.GetFiles() {
				want, ok := tc.modes[f.GetPath()]
				if !ok {
					want = 0o644
				}
				if f.GetMode() != want {
					t.Errorf("%s mode = %#o, want %#o", f.GetPath(), f.GetMode(), want)
				}
			}
		})
	}
}

func TestMountReadsTokenFromSecrets(t *testing.T) {
	e := newEnv(t)
	doc, want := pmpTemplate(secretValue)
	e.putSecret("PMP-Production-Credentials", doc)
	r := pmpReq("- objectName: PMP-Production-Credentials")
	r.TokensInSecrets = true // CSIDriver serviceAccountTokenInSecrets: true
	resp, err := e.mount(r)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	if len(resp.GetFiles()) != len(want) {
		t.Errorf("got %d files, want %d", len(resp.GetFiles()), len(want))
	}
}

func TestMountAfterRotationServesNewVersion(t *testing.T) {
	e := newEnv(t, func(o *provider.Options) { o.SecretTTL = 1 }) // 1ns: every Mount refreshes
	v1 := e.putSecret("PMP-Production-Credentials", `{"VCS": {"GithubAdminPAT": "old"}}`)
	first, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials"))
	if err != nil {
		t.Fatal(err)
	}
	v2 := e.putSecret("PMP-Production-Credentials", `{"VCS": {"GithubAdminPAT": "new"}}`)
	second, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials"))
	if err != nil {
		t.Fatal(err)
	}
	if got := filesOf(first)["VCS.GithubAdminPAT"]; got != "old" {
		t.Errorf("before rotation: %q, want old", got)
	}
	if got := filesOf(second)["VCS.GithubAdminPAT"]; got != "new" {
		t.Errorf("after rotation: %q, want new", got)
	}
	if v1 == v2 {
		t.Fatal("emulator gave the same version id twice")
	}
	if got := second.GetObjectVersion()[0].GetVersion(); got != v2 {
		t.Errorf("object version after rotation = %q, want %q", got, v2)
	}
	if got := e.aws.Front.Count("sts:AssumeRoleWithWebIdentity"); got != 1 {
		t.Errorf("AssumeRoleWithWebIdentity calls = %d, want 1: credentials outlive the secret window", got)
	}
}

func TestMountCostsOneCallPerWindowWhateverThePods(t *testing.T) {
	e := newEnv(t)
	doc, _ := pmpTemplate(secretValue)
	e.putSecret("PMP-Production-Credentials", doc)

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials")); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Mount: %v", err)
	}
	if got := e.aws.Front.Counts(); got["sts:AssumeRoleWithWebIdentity"] != 1 || got["secretsmanager:GetSecretValue"] != 1 {
		t.Errorf("100 concurrent pods of one identity made AWS calls %v, want one of each", got)
	}
	// What /metrics reports: one load, the other 99 served by it or after it.
	st := e.p.CacheStats()["secrets"]
	if st.Misses != 1 || st.Hits+st.Coalesced != 99 || st.Entries != 1 {
		t.Errorf("secret cache stats = %+v, want 1 miss and 99 hits or coalesced waits", st)
	}
}

func TestMountNeverSharesAcrossIdentities(t *testing.T) {
	e := newEnv(t)
	e.putSecret("PMP-Production-Credentials", `{"Email": {"SMTPPassword": "x"}}`)
	if _, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials")); err != nil {
		t.Fatal(err)
	}
	// Another namespace's service account that copied the role annotation
	// must go to STS itself, which enforces the role's trust policy.
	r := pmpReq("- objectName: PMP-Production-Credentials")
	r.Namespace, r.ServiceAccount = "other", "copycat"
	e.aws.Front.ResetCounts()
	if _, err := e.mount(r); err != nil {
		t.Fatal(err)
	}
	if got := e.aws.Front.Counts(); got["sts:AssumeRoleWithWebIdentity"] != 1 || got["secretsmanager:GetSecretValue"] != 1 {
		t.Errorf("copied role annotation made AWS calls %v, want its own AssumeRoleWithWebIdentity and GetSecretValue", got)
	}
}

func TestVersion(t *testing.T) {
	e := newEnv(t)
	v, err := e.client.Version(context.Background(), &v1alpha1.VersionRequest{Version: "v1alpha1"})
	if err != nil {
		t.Fatal(err)
	}
	if v.GetRuntimeName() != "pmp-secrets-provider" || v.GetVersion() != "v1alpha1" {
		t.Errorf("Version = %+v", v)
	}
}

// TestMountBinarySecretKeepsItsBytes: docs/secretproviderclass.md promises raw bytes. A
// binary secret holding JSON whose strings are not UTF-8 (Latin-1 text
// stored by an older tool) is split into files holding exactly its bytes,
// never U+FFFD in their place.
func TestMountBinarySecretKeepsItsBytes(t *testing.T) {
	e := newEnv(t)
	value := []byte("{\"DB\": {\"Password\": \"p\xe4ssw\xf6rd\"}, \"Raw\": \"\xff\xfe\"}")
	if _, err := e.aws.Admin.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String("PMP-Legacy"), SecretBinary: value,
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := e.mount(pmpReq("- objectName: PMP-Legacy"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"DB.Password": "p\xe4ssw\xf6rd", "Raw": "\xff\xfe"}
	if diff := cmp.Diff(want, filesOf(resp)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}
