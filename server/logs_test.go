package server_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/logcapture"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server"
)

// captureLogs turns klog up to its maximum verbosity and collects its
// output until the test ends.
func captureLogs(t *testing.T) *logcapture.Buffer { return logcapture.Klog(t, 10) }

// loggedOnce checks that the captured logs say line exactly once, with
// each of fields, and hold no secret value or token.
func loggedOnce(t *testing.T, logs *logcapture.Buffer, line string, fields ...string) {
	t.Helper()
	klog.Flush()
	out := logs.String()
	if n := strings.Count(out, line); n != 1 {
		t.Errorf("%q is logged %d times, want once:\n%s", line, n, out)
	}
	for _, w := range fields {
		if !strings.Contains(out, w) {
			t.Errorf("the log line %q does not say %s:\n%s", line, w, out)
		}
	}
	if strings.Contains(out, "VALUE-SENTINEL") || leaksToken(out) {
		t.Error("the log holds a secret value or a token")
	}
}

var stsSecretRE = regexp.MustCompile(`ASIA[0-9a-fA-F]{12,}`)

// leaksToken reports whether s holds any token testIssuer or testForger
// signed, or the signature of one (the part only the token's holder can
// know).
func leaksToken(s string) bool {
	for _, tok := range append(testIssuer.Issued(), testForger.Issued()...) {
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(s, tok) || strings.Contains(s, sig) {
			return true
		}
	}
	return false
}

func TestLogsNeverContainSecretsOrTokens(t *testing.T) {
	logs := captureLogs(t)

	// Every success path: first mount, cached republish, rotation.
	e := newEnv(t, func(o *provider.Options) { o.SecretTTL = 1 })
	doc, want := pmpTemplate(secretValue)
	e.putSecret("PMP-Production-Credentials", doc)
	// Object versions are stored in SecretProviderClassPodStatus, readable
	// by more than the pod: never a value in them.
	versionsHoldNoValue := func(resp *v1alpha1.MountResponse) {
		for _, v := range resp.GetObjectVersion() {
			if strings.Contains(v.GetId()+v.GetVersion(), "VALUE-SENTINEL") {
				t.Errorf("object version %s=%s holds a value", v.GetId(), v.GetVersion())
			}
		}
	}
	for i := 0; i < 2; i++ {
		resp, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials"))
		if err != nil {
			t.Fatal(err)
		}
		versionsHoldNoValue(resp)
	}
	rotated, _ := pmpTemplate(func(n string) string { return secretValue(n) + "-ROTATED" })
	e.putSecret("PMP-Production-Credentials", rotated)
	if resp, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials\n  layout: nested")); err != nil {
		t.Fatal(err)
	} else {
		versionsHoldNoValue(resp)
	}
	// Every failure path: each error case, and each fault path.
	for _, tc := range errorCases() {
		t.Run(tc.name, func(t *testing.T) { runErrorCase(t, newEnv(t), tc) })
	}
	faultPaths(t, e)
	stalePaths(t)
	klog.Flush()
	out := logs.String()
	// The stale lines name the secret or parameters and the identity: they
	// must be in what is scanned.
	for _, line := range []string{"serving the last good version of a secret", "serving the last good values of parameters"} {
		if !strings.Contains(out, line) {
			t.Errorf("no %q line in the logs: the stale path was not scanned", line)
		}
	}

	if leaksToken(out) {
		t.Error("logs contain a pod's service-account token")
	}
	for name, v := range want {
		if strings.Contains(out, v) {
			t.Errorf("logs contain the value of %s", name)
		}
	}
	if strings.Contains(out, "VALUE-SENTINEL") {
		t.Error("logs contain a secret value")
	}
	if m := stsSecretRE.FindString(out); m != "" {
		t.Errorf("logs contain STS credentials (%s...)", m[:8])
	}
	// One line per Mount with who, what and how it went.
	okLines, staleLines := 0, 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `"mount"`) && strings.Contains(line, `result="ok"`) {
			what := []string{`objects=["PMP-Production-Credentials"]`, "files=30"}
			if strings.Contains(line, "/pmp/db/password") { // stalePaths'
				staleLines++
				what = []string{`objects=["PMP-Production-Credentials","/pmp/db/password"]`, "files=31"}
			} else {
				okLines++
			}
			for _, k := range append([]string{`pod="pmp/pmp-0"`, `serviceAccount="pmp-secrets-access"`, `role="arn:aws:iam::`, "duration="}, what...) {
				if !strings.Contains(line, k) {
					t.Errorf("mount line lacks %s: %s", k, line)
				}
			}
		}
	}
	if okLines != 4 || staleLines != 2 { // the three above, the one that renewed rejected credentials; stalePaths' two
		t.Errorf("%d and %d successful mount lines, want 4 and 2", okLines, staleLines)
	}
	if n := strings.Count(out, `"mount failed"`); n < len(errorCases()) {
		t.Errorf("%d failed-mount lines, want at least %d", n, len(errorCases()))
	}
}

// faultPaths runs every fault path that is not an error case, against e
// (whose secret is cached) and servers of their own: bad tokens for a
// cached identity, credentials AWS rejects, a trust policy refusing a
// copied annotation, transient faults retried to success, a panic, an
// over-long request, an over-long error.
func faultPaths(t *testing.T, e *env) {
	t.Helper()
	for _, b := range badTokens() {
		r := pmpReq("- objectName: PMP-Production-Credentials")
		r.Token = b.token
		if _, err := e.mount(r); status.Code(err) != codes.Unauthenticated {
			t.Errorf("bad token %s: %v", b.name, err)
		}
	}
	e.aws.Front.Inject(awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Status: 400, Code: "ExpiredTokenException", Times: 1})
	e.aws.Front.Inject(awsemu.Fault{Operation: "sts:AssumeRoleWithWebIdentity", Status: 400, Code: "ThrottlingException", Times: 1})
	if _, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials")); err != nil {
		t.Errorf("rejected credentials, then throttling: %v", err)
	}
	e.aws.Front.SetTrust(awsemu.Trust{Role: testRole, Subjects: []string{"system:serviceaccount:pmp:pmp-secrets-access"}})
	copycat := pmpReq("- objectName: PMP-Production-Credentials")
	copycat.Namespace, copycat.ServiceAccount = "other", "copycat"
	if _, err := e.mount(copycat); status.Code(err) != codes.PermissionDenied {
		t.Errorf("copied annotation: %v", err)
	}
	e.aws.Front.ClearTrust()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	boom := pmpReq("- objectName: PMP-Production-Credentials")
	boom.SecretProviderClass = "boom"
	if _, err := serveMounter(t, panicMounter{}).Mount(ctx, boom.Build()); status.Code(err) != codes.Internal {
		t.Errorf("panic: %v", err)
	}
	huge := pmpReq("- objectName: PMP-Production-Credentials")
	huge.Parameters["padding"] = strings.Repeat("x", server.MaxRequestBytes)
	if _, err := serveMounter(t, panicMounter{}).Mount(ctx, huge.Build()); status.Code(err) != codes.Internal {
		t.Errorf("over-long request: %v", err)
	}
	if _, err := serveMounter(t, longErrorMounter{n: 10_000}).Mount(ctx, pmpReq("- objectName: x").Build()); err == nil {
		t.Error("long error: Mount succeeded")
	}
}

// stalePaths serves a secret and a Parameter Store parameter stale through
// an AWS outage (--stale-if-error), so the lines saying so (the
// StaleLog lines of provider/fetch, for secrets and parameters) are logged.
func stalePaths(t *testing.T) {
	t.Helper()
	e := newEnv(t, func(o *provider.Options) {
		// Fresh for a nanosecond: every Mount after the first refreshes.
		o.SecretTTL, o.StaleIfError, o.RetryBudget, o.AWSCallTimeout = 1, time.Hour, time.Second, 300*time.Millisecond
	})
	doc, _ := pmpTemplate(secretValue)
	e.putSecret("PMP-Production-Credentials", doc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.aws.SSM.PutParameter(ctx, &awsssm.PutParameterInput{Name: aws.String("/pmp/db/password"), Type: ssmtypes.ParameterTypeSecureString,
		Value: aws.String("VALUE-SENTINEL-parameter-5e2a"), Overwrite: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	objects := "- objectName: PMP-Production-Credentials\n- objectName: /pmp/db/password\n  objectType: ssmparameter\n  objectAlias: db-password"
	if _, err := e.mount(pmpReq(objects)); err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"secretsmanager:GetSecretValue", awsemu.OpGetParameters} {
		e.aws.Front.Inject(awsemu.Fault{Operation: op, Status: 503, Code: "ServiceUnavailable", Until: time.Now().Add(time.Hour)})
	}
	resp, err := e.mount(pmpReq(objects))
	if err != nil {
		t.Fatalf("Mount during the outage: %v; want the last good values", err)
	}
	if got := filesOf(resp)["db-password"]; got != "VALUE-SENTINEL-parameter-5e2a" {
		t.Errorf("the parameter during the outage: %d bytes, want the last good value", len(got))
	}
}
