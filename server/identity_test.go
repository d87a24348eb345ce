package server_test

import (
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
)

func TestRoleSessionNameTellsCloudTrailWhoAsked(t *testing.T) {
	e := newEnv(t)
	e.putSecret("PMP-Production-Credentials", `{"A": "x"}`)
	if _, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials")); err != nil {
		t.Fatal(err)
	}
	form := e.aws.Front.LastForm("sts:AssumeRoleWithWebIdentity")
	if got := form.Get("RoleSessionName"); got != "pmp-pmp-pmp-secrets-access" {
		t.Errorf("RoleSessionName = %q, want pmp-<namespace>-<service account>", got)
	}
	if got := form.Get("RoleArn"); got != testRole {
		t.Errorf("RoleArn = %q, want the service account's annotation %q", got, testRole)
	}
}

func TestRegionComesFromClassThenEnvironmentThenNode(t *testing.T) {
	e := newEnv(t)
	missing := func(params map[string]string) string {
		t.Helper()
		r := pmpReq("- objectName: PMP-Missing")
		for k, v := range params {
			r.Parameters[k] = v
		}
		_, err := e.mount(r)
		if status.Code(err) != codes.NotFound {
			t.Fatalf("want NotFound, got %v", err)
		}
		return status.Convert(err).Message()
	}
	if msg := missing(map[string]string{"region": "ap-southeast-2"}); !strings.Contains(msg, "ap-southeast-2") {
		t.Errorf("SecretProviderClass region not used: %s", msg)
	}
	if msg := missing(nil); !strings.Contains(msg, testRegion) {
		t.Errorf("AWS_REGION not used: %s", msg)
	}

	// A provider without AWS_REGION falls back to its node's label.
	os.Unsetenv("AWS_REGION")
	e2 := startProvider(t, e.aws)
	_, err := e2.mount(pmpReq("- objectName: PMP-Missing"))
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "eu-central-1") {
		t.Errorf("node label region not used: %s", msg)
	}
	r := pmpReq("- objectName: PMP-Missing")
	r.Parameters["region"] = "mars-1"
	_, err = e.mount(r)
	if msg := status.Convert(err).Message(); status.Code(err) != codes.InvalidArgument || !strings.Contains(msg, `region "mars-1"`) {
		t.Errorf("bad region not refused: %v", err)
	}
}

func TestServiceSpecificEndpointVariables(t *testing.T) {
	e := newEnv(t)
	e.putSecret("PMP-Production-Credentials", `{"A": "x"}`)
	// Two fronts, as a user with separate VPC endpoints for STS and
	// Secrets Manager would have.
	up, _ := url.Parse(e.aws.EmulatorEndpoint)
	stsFront, smFront := awsemu.NewFront(up), awsemu.NewFront(up)
	stsSrv, smSrv := httptest.NewServer(stsFront), httptest.NewServer(smFront)
	defer stsSrv.Close()
	defer smSrv.Close()
	t.Setenv("AWS_ENDPOINT_URL", "")
	os.Unsetenv("AWS_ENDPOINT_URL")
	t.Setenv("AWS_ENDPOINT_URL_STS", stsSrv.URL)
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", smSrv.URL)
	e2 := startProvider(t, e.aws)
	if _, err := e2.mount(pmpReq("- objectName: PMP-Production-Credentials")); err != nil {
		t.Fatal(err)
	}
	if stsFront.Total() != 1 || stsFront.Count("sts:AssumeRoleWithWebIdentity") != 1 {
		t.Errorf("STS endpoint saw %v", stsFront.Counts())
	}
	if smFront.Total() != 1 || smFront.Count("secretsmanager:GetSecretValue") != 1 {
		t.Errorf("Secrets Manager endpoint saw %v", smFront.Counts())
	}
}

// TestIdentityIsolationUnderTrustPolicies: with STS enforcing the role's
// trust policy (bound to system:serviceaccount:pmp:pmp-secrets-access), a
// pod in another namespace whose service account copies the role
// annotation, and sends its own valid token, is refused. That holds while
// the legitimate pod's role, credentials, secret and file selection are
// all cached, for the identical request, on every try, and the refusal
// leaves the legitimate pod's Mounts as they were.
func TestIdentityIsolationUnderTrustPolicies(t *testing.T) {
	for _, cacheOn := range []bool{true, false} {
		t.Run(map[bool]string{true: "cache on", false: "cache off"}[cacheOn], func(t *testing.T) {
			e := newEnv(t, func(o *provider.Options) { o.Cache = cacheOn })
			e.aws.Front.SetTrust(awsemu.Trust{Role: testRole, Subjects: []string{"system:serviceaccount:pmp:pmp-secrets-access"}})
			doc, want := pmpTemplate(secretValue)
			e.putSecret("PMP-Production-Credentials", doc)
			objects := "- objectName: PMP-Production-Credentials\n  keys: [\"VCS.*\"]"
			legit := pmpReq(objects)
			if _, err := e.mount(legit); err != nil {
				t.Fatalf("the legitimate pod: %v", err)
			}
			copycat := pmpReq(objects) // the same SecretProviderClass, the same selection
			copycat.Namespace, copycat.ServiceAccount, copycat.PodName = "other", "copycat", "copycat-0"
			for try := range 3 {
				e.aws.Front.ResetCounts()
				resp, err := e.mount(copycat)
				if err == nil {
					t.Fatalf("try %d: the copycat got %d files", try, len(resp.GetFiles()))
				}
				st := status.Convert(err)
				if st.Code() != codes.PermissionDenied || !strings.Contains(st.Message(), "STS refused to let other/copycat assume role") {
					t.Errorf("try %d: %v, want PermissionDenied from STS", try, err)
				}
				for name, v := range want {
					if strings.Contains(st.Message(), v) {
						t.Errorf("the refusal quotes the value of %s", name)
					}
				}
				if got := e.aws.Front.Count("secretsmanager:GetSecretValue"); got != 0 {
					t.Errorf("try %d: the copycat reached Secrets Manager %d times", try, got)
				}
			}
			vcs := 0
			for name := range want {
				if strings.HasPrefix(name, "VCS.") {
					vcs++
				}
			}
			resp, err := e.mount(legit)
			if err != nil || len(resp.GetFiles()) != vcs {
				t.Errorf("the legitimate pod after the copycat: %d files, %v; want its %d", len(resp.GetFiles()), err, vcs)
			}
		})
	}
}
