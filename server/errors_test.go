package server_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
)

// errorCase is a Mount a user gets wrong, or AWS refuses, and what the
// user then reads in `kubectl describe pod`.
type errorCase struct {
	name   string
	secret string // stored as PMP-Production-Credentials when not empty
	fault  *awsemu.Fault
	req    func() mountReq
	code   codes.Code
	// want are substrings of the message; none may be missing.
	want []string
}

func errorCases() []errorCase {
	pmp := func() mountReq { return pmpReq("- objectName: PMP-Production-Credentials") }
	return []errorCase{
		{
			name: "CSIDriver has no tokenRequests for sts.amazonaws.com",
			req:  func() mountReq { r := pmp(); r.Issuer = nil; return r },
			code: codes.Unauthenticated,
			want: []string{`audience "sts.amazonaws.com"`, "tokenRequests", "CSIDriver"},
		},
		{
			name: "token for another audience only",
			req:  func() mountReq { r := pmp(); r.Audience = "vault"; return r },
			code: codes.Unauthenticated,
			want: []string{"tokenRequests: [{audience: \"sts.amazonaws.com\"}]"},
		},
		{
			name: "forged token: signed by a key the cluster's issuer does not publish",
			req:  func() mountReq { r := pmp(); r.Issuer = testForger; return r },
			code: codes.Unauthenticated,
			want: []string{`pod "pmp/pmp-0"`, "failed the signature check", "/openid/v1/jwks"},
		},
		{
			name: "expired token",
			req: func() mountReq {
				r := pmp()
				r.Token = testIssuer.Sign(issuer.Token{Namespace: "pmp", ServiceAccount: "pmp-secrets-access", IssuedAt: time.Now().Add(-2 * time.Hour)})
				return r
			},
			code: codes.Unauthenticated,
			want: []string{"failed the expiry check", "expired at"},
		},
		{
			name: "token for another audience",
			req: func() mountReq {
				r := pmp()
				r.Token = testIssuer.Sign(issuer.Token{Namespace: "pmp", ServiceAccount: "pmp-secrets-access", Audience: []string{"vault"}})
				return r
			},
			code: codes.Unauthenticated,
			want: []string{"failed the audience check", `"vault"`, "--token-audience"},
		},
		{
			name: "token of another namespace's service account",
			req: func() mountReq {
				r := pmp()
				r.Token = testIssuer.Sign(issuer.Token{Namespace: "other", ServiceAccount: "copycat"})
				return r
			},
			code: codes.Unauthenticated,
			want: []string{"failed the subject check", "system:serviceaccount:other:copycat", "system:serviceaccount:pmp:pmp-secrets-access"},
		},
		{
			name: "service account without the role annotation",
			req:  func() mountReq { r := pmp(); r.ServiceAccount = "no-role"; return r },
			code: codes.PermissionDenied,
			want: []string{"pmp/no-role", "eks.amazonaws.com/role-arn", "kubectl annotate serviceaccount -n pmp no-role"},
		},
		{
			name: "service account that does not exist",
			req:  func() mountReq { r := pmp(); r.ServiceAccount = "ghost"; return r },
			code: codes.NotFound,
			want: []string{"service account pmp/ghost does not exist"},
		},
		{
			name:  "STS refuses the token",
			fault: &awsemu.Fault{Operation: "sts:AssumeRoleWithWebIdentity", Status: 400, Code: "InvalidIdentityToken", Message: "No OpenIDConnect provider found in your account"},
			req:   pmp,
			code:  codes.Unauthenticated,
			want:  []string{"InvalidIdentityToken", "system:serviceaccount:pmp:pmp-secrets-access", "sts.amazonaws.com", "OIDC"},
		},
		{
			name:  "trust policy does not allow the service account",
			fault: &awsemu.Fault{Operation: "sts:AssumeRoleWithWebIdentity", Status: 403, Code: "AccessDenied", Message: "Not authorized to perform sts:AssumeRoleWithWebIdentity"},
			req:   pmp,
			code:  codes.PermissionDenied,
			want:  []string{testRole, "trust policy", "<issuer>:sub = system:serviceaccount:pmp:pmp-secrets-access", "<issuer>:aud = sts.amazonaws.com"},
		},
		{
			name:   "IAM policy does not allow reading the secret",
			secret: `{"VCS": {"GithubAdminPAT": "x"}}`,
			fault:  &awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Status: 400, Code: "AccessDeniedException", Message: "not authorized"},
			req:    pmp,
			code:   codes.PermissionDenied,
			want:   []string{"PMP-Production-Credentials", "secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
		},
		{
			name: "secret does not exist",
			req:  func() mountReq { return pmpReq("- objectName: PMP-Staging-Credentials") },
			code: codes.NotFound,
			want: []string{"PMP-Staging-Credentials", "not found", testRegion},
		},
		{
			name:   "flatten asked for, value is not JSON",
			secret: "not json at all",
			req:    func() mountReq { return pmpReq("- objectName: PMP-Production-Credentials\n  flatten: true") },
			code:   codes.InvalidArgument,
			want:   []string{"PMP-Production-Credentials", "not a JSON object"},
		},
		{
			name:   "strictKeys and a mis-cased PMP key",
			secret: `{"VCS": {"GithubAdminPat": "VALUE-SENTINEL-pat"}, "Email": {"SMTPPassword": "VALUE-SENTINEL-smtp"}}`,
			req:    func() mountReq { return pmpReq("- objectName: PMP-Production-Credentials\n  strictKeys: true") },
			code:   codes.InvalidArgument,
			want:   []string{"secret PMP-Production-Credentials has a key that is not in the PMP catalog", `"VCS.GithubAdminPat" (did you mean VCS.GithubAdminPAT?)`, "strictKeys: true"},
		},
		{
			name:   "decode: a selected key that is not base64",
			secret: `{"TLS": {"Cert": "aGVsbG8=", "Key": "VALUE-SENTINEL-not-base64!"}}`,
			req: func() mountReq {
				return pmpReq("- objectName: PMP-Production-Credentials\n  keys: [TLS.*]\n  decode: base64")
			},
			code: codes.InvalidArgument,
			want: []string{"objects entry PMP-Production-Credentials", "key TLS.Key", "not valid base64", "remove decode"},
		},
		{
			name:   "value starts like JSON but is broken",
			secret: `{"VCS": {"GithubAdminPAT": "x"`,
			req:    pmp,
			code:   codes.InvalidArgument,
			want:   []string{"PMP-Production-Credentials", "not valid JSON"},
		},
		{
			name:   "nested and dotted spellings disagree",
			secret: `{"VCS": {"GithubAdminPAT": "a"}, "VCS.GithubAdminPAT": "b"}`,
			req:    pmp,
			code:   codes.InvalidArgument,
			want:   []string{`"VCS.GithubAdminPAT"`, "set twice"},
		},
		{
			name:   "key that would escape the volume",
			secret: `{"..": {"etc": "x"}}`,
			req:    pmp,
			code:   codes.InvalidArgument,
			want:   []string{"cannot be a file name"},
		},
		{
			name: "malformed objects parameter",
			req:  func() mountReq { return pmpReq("objectName: [PMP") },
			code: codes.InvalidArgument,
			want: []string{"parameter objects", "YAML"},
		},
		{
			name: "every problem at once",
			req: func() mountReq {
				return pmpReq("- objetName: PMP-Production-Credentials\n  filePermission: 777\n- objectName: x\n  layout: tree")
			},
			code: codes.InvalidArgument,
			want: []string{`unknown field "objetName"`, "objectName is required", "filePermission must be a string", `layout "tree"`},
		},
		{
			name:   "keys pattern matches nothing",
			secret: `{"VCS": {"GithubAdminPAT": "x", "GitlabAdminPAT": ""}}`,
			req: func() mountReq {
				return pmpReq("- objectName: PMP-Production-Credentials\n  keys: [VCS.GitlabAdminPAT]")
			},
			code: codes.NotFound,
			want: []string{`"VCS.GitlabAdminPAT"`, "keepEmpty"},
		},
		{
			name:   "Secrets Manager unavailable for longer than the retry budget",
			secret: `{"VCS": {"GithubAdminPAT": "x"}}`,
			fault:  &awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Status: 503, Code: "ServiceUnavailable", Message: "try later"},
			req:    pmp,
			code:   codes.Unknown,
			want:   []string{"PMP-Production-Credentials", "transient", "ServiceUnavailable"},
		},
		{
			name:  "STS throttling for longer than the retry budget",
			fault: &awsemu.Fault{Operation: "sts:AssumeRoleWithWebIdentity", Status: 400, Code: "Throttling", Message: "Rate exceeded"},
			req:   pmp,
			code:  codes.Unknown,
			want:  []string{"transient", "Throttling"},
		},
	}
}

func TestMountErrorsTellTheUserWhatToDo(t *testing.T) {
	for _, tc := range errorCases() {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			runErrorCase(t, e, tc)
		})
	}
}

func runErrorCase(t *testing.T, e *env, tc errorCase) {
	t.Helper()
	if tc.secret != "" {
		e.putSecret("PMP-Production-Credentials", tc.secret)
	}
	if tc.fault != nil {
		e.aws.Front.Inject(*tc.fault)
		defer e.aws.Front.Clear()
	}
	resp, err := e.mount(tc.req())
	checkRefused(t, resp, err, tc.code, tc.want)
}

// checkRefused: a Mount that must fail did, with code and a message that
// holds every one of want, no files, nothing of a value or token, and not
// one of the codes that leave a half-made volume.
func checkRefused(t *testing.T, resp *v1alpha1.MountResponse, err error, code codes.Code, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Mount succeeded with %d files, want %s", len(resp.GetFiles()), code)
	}
	if n := len(resp.GetFiles()); n != 0 {
		t.Errorf("a refused Mount returned %d files", n)
	}
	st := status.Convert(err)
	if st.Code() != code {
		t.Errorf("code = %s, want %s (message: %s)", st.Code(), code, st.Message())
	}
	for _, w := range want {
		if !strings.Contains(st.Message(), w) {
			t.Errorf("message lacks %q:\n%s", w, st.Message())
		}
	}
	if strings.Contains(st.Message(), "SENTINEL") || leaksToken(st.Message()) {
		t.Errorf("message leaks a token or value:\n%s", st.Message())
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Canceled:
		t.Errorf("code %s makes the kubelet keep a half-made volume on a first mount", st.Code())
	}
}

func TestMountRetriesTransientFailures(t *testing.T) {
	e := newEnv(t)
	e.putSecret("PMP-Production-Credentials", `{"VCS": {"GithubAdminPAT": "x"}}`)
	e.aws.Front.Inject(awsemu.Fault{Operation: "sts:AssumeRoleWithWebIdentity", Status: 400, Code: "ThrottlingException", Times: 2})
	e.aws.Front.Inject(awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Status: 503, Code: "ServiceUnavailable", Times: 2})
	resp, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials"))
	if err != nil {
		t.Fatalf("Mount failed through transient faults: %v", err)
	}
	if got := filesOf(resp)["VCS.GithubAdminPAT"]; got != "x" {
		t.Errorf("file = %q", got)
	}
	if got := e.aws.Front.Counts(); got["sts:AssumeRoleWithWebIdentity"] != 3 || got["secretsmanager:GetSecretValue"] != 3 {
		t.Errorf("calls = %v, want 3 of each (2 faults + 1 success)", got)
	}
}

func TestRefusalsAreRememberedBriefly(t *testing.T) {
	e := newEnv(t)
	// A crash-looping pod whose secret is missing must not cost an AWS
	// call per attempt.
	for i := 0; i < 5; i++ {
		if _, err := e.mount(pmpReq("- objectName: PMP-Missing")); status.Code(err) != codes.NotFound {
			t.Fatalf("attempt %d: %v, want NotFound", i, err)
		}
	}
	if got := e.aws.Front.Count("secretsmanager:GetSecretValue"); got != 1 {
		t.Errorf("GetSecretValue calls = %d, want 1 within the negative-cache window", got)
	}
	// A transient failure is never remembered: the next Mount tries again.
	e.putSecret("PMP-Production-Credentials", `{"A": "x"}`)
	e.aws.Front.Inject(awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Status: 500, Code: "InternalServiceError", Until: time.Now().Add(time.Hour)})
	if _, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials")); status.Code(err) != codes.Unknown {
		t.Fatalf("want Unknown during the outage, got %v", err)
	}
	e.aws.Front.Clear()
	if _, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials")); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}

// TestRejectedCredentialsAreExchangedAgain: STS credentials cached from an
// earlier Mount that Secrets Manager refuses (expired, or the role's
// sessions revoked) are dropped and the token exchanged once more, so the
// Mount succeeds; fresh credentials refused fail at once.
func TestRejectedCredentialsAreExchangedAgain(t *testing.T) {
	for _, code := range []string{"ExpiredTokenException", "UnrecognizedClientException", "InvalidSignatureException", "AccessDeniedException"} {
		t.Run(code, func(t *testing.T) {
			e := newEnv(t, func(o *provider.Options) { o.SecretTTL = 1 }) // every Mount fetches
			e.putSecret("PMP-Production-Credentials", `{"A": "x"}`)
			if _, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials")); err != nil {
				t.Fatal(err)
			}
			e.aws.Front.ResetCounts()
			e.aws.Front.Inject(awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Status: 400, Code: code, Times: 1})
			resp, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials"))
			if err != nil {
				t.Fatalf("Mount with the cached credentials refused: %v", err)
			}
			if got := filesOf(resp)["A"]; got != "x" {
				t.Errorf("file A = %q", got)
			}
			if got := e.aws.Front.Counts(); got["sts:AssumeRoleWithWebIdentity"] != 1 || got["secretsmanager:GetSecretValue"] != 2 {
				t.Errorf("calls = %v, want one new exchange and the call again", got)
			}
		})
	}
	t.Run("fresh credentials refused", func(t *testing.T) {
		e := newEnv(t)
		e.putSecret("PMP-Production-Credentials", `{"A": "x"}`)
		e.aws.Front.Inject(awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Status: 400, Code: "ExpiredTokenException", Times: 1})
		_, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials"))
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("Mount = %v, want Unauthenticated", err)
		}
		if got := e.aws.Front.Count("sts:AssumeRoleWithWebIdentity"); got != 1 {
			t.Errorf("STS calls = %d, want 1: credentials exchanged for this Mount are not exchanged again", got)
		}
	})
}
