package awsemu

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
)

func newTestFront(t *testing.T) (*Front, *httptest.Server, *int) {
	t.Helper()
	forwarded := 0
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		forwarded++
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	f := NewFront(u)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv, &forwarded
}

func call(t *testing.T, srv *httptest.Server, op string) *http.Response {
	t.Helper()
	var req *http.Request
	if svc, action, ok := strings.Cut(op, ":"); ok && svc == "sts" {
		req, _ = http.NewRequest("POST", srv.URL, strings.NewReader("Action="+action+"&Version=2011-06-15&RoleSessionName=pmp-a-b"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequest("POST", srv.URL, strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", "secretsmanager."+action)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestFrontCountsAndForwards(t *testing.T) {
	f, srv, forwarded := newTestFront(t)
	call(t, srv, "secretsmanager:GetSecretValue").Body.Close()
	call(t, srv, "secretsmanager:GetSecretValue").Body.Close()
	call(t, srv, "sts:AssumeRoleWithWebIdentity").Body.Close()
	if got := f.Counts(); got["secretsmanager:GetSecretValue"] != 2 || got["sts:AssumeRoleWithWebIdentity"] != 1 {
		t.Errorf("counts = %v", got)
	}
	if *forwarded != 3 {
		t.Errorf("forwarded %d, want 3", *forwarded)
	}
	if got := f.LastForm("sts:AssumeRoleWithWebIdentity").Get("RoleSessionName"); got != "pmp-a-b" {
		t.Errorf("RoleSessionName = %q", got)
	}
}

func TestFaultsInTheCallersProtocol(t *testing.T) {
	f, srv, forwarded := newTestFront(t)
	f.Inject(Fault{Operation: "secretsmanager:GetSecretValue", Status: 400, Code: "AccessDeniedException", Times: 1})
	f.Inject(Fault{Operation: "sts:AssumeRoleWithWebIdentity", Status: 503, Code: "ServiceUnavailable"})

	resp := call(t, srv, "secretsmanager:GetSecretValue")
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 400 || body["__type"] != "AccessDeniedException" || resp.Header.Get("X-Amzn-Errortype") != "AccessDeniedException" {
		t.Errorf("JSON fault = %d %v", resp.StatusCode, body)
	}
	// Times: 1 is spent; the next call goes through.
	call(t, srv, "secretsmanager:GetSecretValue").Body.Close()
	if *forwarded != 1 {
		t.Errorf("forwarded %d, want 1", *forwarded)
	}

	resp = call(t, srv, "sts:AssumeRoleWithWebIdentity")
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(buf.String(), "<Code>ServiceUnavailable</Code>") || !strings.Contains(buf.String(), "<Type>Receiver</Type>") {
		t.Errorf("XML fault = %d %s", resp.StatusCode, buf.String())
	}
	f.Clear()
	call(t, srv, "sts:AssumeRoleWithWebIdentity").Body.Close()
	if *forwarded != 2 {
		t.Errorf("after Clear: forwarded %d, want 2", *forwarded)
	}
}

func TestFaultEndsAtUntil(t *testing.T) {
	f, srv, forwarded := newTestFront(t)
	now := time.Now()
	f.now = func() time.Time { return now }
	f.Inject(Fault{Status: 500, Code: "InternalFailure", Until: now.Add(time.Minute)})
	call(t, srv, "secretsmanager:GetSecretValue").Body.Close()
	now = now.Add(2 * time.Minute)
	call(t, srv, "secretsmanager:GetSecretValue").Body.Close()
	if *forwarded != 1 {
		t.Errorf("forwarded %d, want 1 (the second call after the fault ended)", *forwarded)
	}
}

func TestControlAPI(t *testing.T) {
	f, srv, _ := newTestFront(t)
	ctl := httptest.NewServer(f.ControlHandler())
	defer ctl.Close()
	post := func(body string) int {
		resp, err := http.Post(ctl.URL+"/faults", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(`{"status": 200, "code": "X"}`); code != http.StatusBadRequest {
		t.Errorf("fault with status 200 accepted: %d", code)
	}
	if code := post(`{"operation": "secretsmanager:GetSecretValue", "status": 429, "code": "ThrottlingException", "for": "1m"}`); code != http.StatusNoContent {
		t.Fatalf("POST /faults = %d", code)
	}
	if resp := call(t, srv, "secretsmanager:GetSecretValue"); resp.StatusCode != 429 {
		t.Errorf("status = %d, want the injected 429", resp.StatusCode)
	}
	resp, err := http.Get(ctl.URL + "/counts")
	if err != nil {
		t.Fatal(err)
	}
	var counts map[string]int64
	_ = json.NewDecoder(resp.Body).Decode(&counts)
	resp.Body.Close()
	if counts["secretsmanager:GetSecretValue"] != 1 {
		t.Errorf("GET /counts = %v", counts)
	}
	req, _ := http.NewRequest("DELETE", ctl.URL+"/counts", nil)
	if _, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	if f.Total() != 0 {
		t.Errorf("counts after DELETE: %v", f.Counts())
	}
}

// assume calls AssumeRoleWithWebIdentity for role with token, as the SDK
// does, and returns the status and error code.
func assume(t *testing.T, srv *httptest.Server, role, token string) (int, string) {
	t.Helper()
	form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "RoleArn": {role}, "RoleSessionName": {"s"}, "WebIdentityToken": {token}}
	resp, err := http.Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code string } `xml:"Error"`
	}
	_ = xml.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error.Code
}

func TestTrustPolicies(t *testing.T) {
	f, srv, forwarded := newTestFront(t)
	iss := issuer.New()
	const role = "arn:aws:iam::123456789012:role/pmp"
	pmpToken := iss.Sign(issuer.Token{Namespace: "pmp", ServiceAccount: "pmp-sa"})
	copycat := iss.Sign(issuer.Token{Namespace: "other", ServiceAccount: "pmp-sa"})
	vault := iss.Sign(issuer.Token{Namespace: "pmp", ServiceAccount: "pmp-sa", Audience: []string{"vault"}})

	// No trust policy set: the emulator's own answer, for any token.
	if code, _ := assume(t, srv, role, copycat); code != 200 || *forwarded != 1 {
		t.Fatalf("without a trust policy: %d, forwarded %d", code, *forwarded)
	}
	f.SetTrust(Trust{Role: role, Subjects: []string{"system:serviceaccount:pmp:pmp-sa"}})
	tests := []struct {
		name, role, token string
		status            int
		code              string
	}{
		{name: "the bound service account", role: role, token: pmpToken, status: 200},
		{name: "the same name in another namespace", role: role, token: copycat, status: 403, code: "AccessDenied"},
		{name: "another audience", role: role, token: vault, status: 403, code: "AccessDenied"},
		{name: "not a JWT", role: role, token: "junk", status: 400, code: "InvalidIdentityToken"},
		{name: "a role without a policy set", role: "arn:aws:iam::123456789012:role/open", token: copycat, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, code := assume(t, srv, tt.role, tt.token); status != tt.status || code != tt.code {
				t.Errorf("AssumeRoleWithWebIdentity = %d %q, want %d %q", status, code, tt.status, tt.code)
			}
		})
	}
	// Through the control API, as the e2e suite and the bench set it.
	f.ClearTrust()
	ctl := httptest.NewServer(f.ControlHandler())
	defer ctl.Close()
	resp, err := http.Post(ctl.URL+"/trust", "application/json", strings.NewReader(`{"role": "`+role+`", "subjects": ["system:serviceaccount:other:pmp-sa"]}`))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /trust = %v, %v", resp, err)
	}
	if status, _ := assume(t, srv, role, pmpToken); status != 403 {
		t.Errorf("after POST /trust naming other: %d, want 403", status)
	}
	// DELETE /trust?role= removes that role's policy only.
	const other = "arn:aws:iam::123456789012:role/other"
	f.SetTrust(Trust{Role: other, Subjects: []string{"system:serviceaccount:pmp:pmp-sa"}})
	req, _ := http.NewRequest("DELETE", ctl.URL+"/trust?role="+url.QueryEscape(role), nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /trust?role= = %v, %v", resp, err)
	}
	if status, _ := assume(t, srv, role, copycat); status != 200 {
		t.Errorf("after DELETE /trust?role=%s: %d, want 200 (no policy)", role, status)
	}
	if status, _ := assume(t, srv, other, copycat); status != 403 {
		t.Errorf("the other role's policy after DELETE /trust?role=%s: %d, want 403", role, status)
	}
}

func TestDelayedFaultsAndSlowForwards(t *testing.T) {
	f, srv, forwarded := newTestFront(t)
	f.Inject(Fault{Operation: "secretsmanager:GetSecretValue", Delay: 100 * time.Millisecond, Times: 1})
	f.Inject(Fault{Operation: "sts:AssumeRoleWithWebIdentity", Delay: 100 * time.Millisecond, Status: 503, Code: "ServiceUnavailable", Times: 1})
	start := time.Now()
	resp := call(t, srv, "secretsmanager:GetSecretValue")
	resp.Body.Close()
	if d := time.Since(start); d < 100*time.Millisecond || resp.StatusCode != 200 || *forwarded != 1 {
		t.Errorf("slow forward: %d after %s, forwarded %d; want 200 after 100ms, forwarded", resp.StatusCode, d, *forwarded)
	}
	start = time.Now()
	resp = call(t, srv, "sts:AssumeRoleWithWebIdentity")
	resp.Body.Close()
	if d := time.Since(start); d < 100*time.Millisecond || resp.StatusCode != 503 || *forwarded != 1 {
		t.Errorf("slow fault: %d after %s; want 503 after 100ms, not forwarded", resp.StatusCode, d)
	}
}

func TestHangAnswersNothing(t *testing.T) {
	f, srv, forwarded := newTestFront(t)
	f.Inject(Fault{Delay: Hang})
	client := &http.Client{Timeout: 200 * time.Millisecond}
	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	start := time.Now()
	resp, err := client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a hung call answered %d", resp.StatusCode)
	}
	if d := time.Since(start); d > 2*time.Second || *forwarded != 0 {
		t.Errorf("hung call ended after %s, forwarded %d", d, *forwarded)
	}
	// The front lets go of the call when the client does: Close does not wait an hour.
}

func TestProbabilityFaultsSomeCalls(t *testing.T) {
	f, srv, forwarded := newTestFront(t)
	f.Inject(Fault{Status: 500, Code: "InternalFailure", Probability: 0.25})
	failed := 0
	for range 400 {
		resp := call(t, srv, "secretsmanager:GetSecretValue")
		resp.Body.Close()
		if resp.StatusCode == 500 {
			failed++
		}
	}
	if failed < 50 || failed > 150 || failed+*forwarded != 400 {
		t.Errorf("%d of 400 calls failed, %d forwarded; want about 100 failed, the rest forwarded", failed, *forwarded)
	}
}

// signed is a Secrets Manager call signed for region, as the SDK signs it.
func signed(t *testing.T, srv *httptest.Server, region string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261202/"+region+"/secretsmanager/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestRoutesBySigningRegion(t *testing.T) {
	f, srv, home := newTestFront(t)
	west := 0
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { west++ }))
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	f.Route("us-west-2", u)

	signed(t, srv, "us-east-1").Body.Close()
	signed(t, srv, "us-west-2").Body.Close()
	signed(t, srv, "us-west-2").Body.Close()
	call(t, srv, "secretsmanager:GetSecretValue").Body.Close() // unsigned: home
	if *home != 2 || west != 2 {
		t.Errorf("home upstream got %d calls, us-west-2's got %d; want 2 and 2", *home, west)
	}
	if got := f.CountIn("us-west-2", "secretsmanager:GetSecretValue"); got != 2 {
		t.Errorf("CountIn(us-west-2) = %d, want 2", got)
	}
	if got := f.Count("secretsmanager:GetSecretValue"); got != 4 {
		t.Errorf("Count = %d, want all 4 regions' calls", got)
	}

	// An outage of one region: the other still answers.
	f.Inject(Fault{Region: "us-east-1", Status: 503, Code: "ServiceUnavailable"})
	if resp := signed(t, srv, "us-east-1"); resp.StatusCode != 503 {
		t.Errorf("us-east-1 during its outage: status %d, want 503", resp.StatusCode)
	}
	if resp := signed(t, srv, "us-west-2"); resp.StatusCode != 200 || west != 3 {
		t.Errorf("us-west-2 during us-east-1's outage: status %d, forwarded %d; want 200 and 3", resp.StatusCode, west)
	}
	f.ResetCounts()
	if got := f.RegionCounts("us-west-2"); len(got) != 0 {
		t.Errorf("after ResetCounts, us-west-2's counts = %v", got)
	}
}
