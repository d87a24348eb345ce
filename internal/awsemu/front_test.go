package awsemu

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
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
