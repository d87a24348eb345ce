package awsemu

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/testclock"
)

// TestQuotaThrottlesPastTheRate: a quota of 10 calls/s lets a burst of 10
// through, answers the rest ThrottlingException as AWS does, and lets 5
// more through half a second later; other operations are not limited.
func TestQuotaThrottlesPastTheRate(t *testing.T) {
	f, srv, forwarded := newTestFront(t)
	clk := testclock.New(time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC))
	f.now = clk.Now
	f.SetQuota(Quota{Operation: "secretsmanager:GetSecretValue", Rate: 10})
	status := func(op string) (int, string) {
		resp := call(t, srv, op)
		defer resp.Body.Close()
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body["__type"]
	}
	ok := 0
	for range 25 {
		code, typ := status("secretsmanager:GetSecretValue")
		switch {
		case code == http.StatusOK:
			ok++
		case code != http.StatusBadRequest || typ != "ThrottlingException":
			t.Fatalf("past the quota: %d %q, want 400 ThrottlingException", code, typ)
		}
	}
	if ok != 10 {
		t.Errorf("%d of 25 calls at once passed a quota of 10/s, want the burst of 10", ok)
	}
	if code, _ := status("secretsmanager:DescribeSecret"); code != http.StatusOK {
		t.Errorf("another operation: %d, want it unlimited", code)
	}
	clk.Advance(500 * time.Millisecond)
	ok = 0
	for range 10 {
		if code, _ := status("secretsmanager:GetSecretValue"); code == http.StatusOK {
			ok++
		}
	}
	if ok != 5 {
		t.Errorf("%d calls passed half a second later, want 5", ok)
	}
	if got := f.Throttled()["secretsmanager:GetSecretValue"]; got != 20 {
		t.Errorf("Throttled() = %d, want 20", got)
	}
	if got := f.Count("secretsmanager:GetSecretValue"); got != 35 {
		t.Errorf("Count = %d, want 35: throttled calls count too", got)
	}
	if *forwarded != 16 {
		t.Errorf("forwarded %d, want 16", *forwarded)
	}
	f.ClearQuotas()
	if code, _ := status("secretsmanager:GetSecretValue"); code != http.StatusOK {
		t.Errorf("after ClearQuotas: %d", code)
	}
}

func TestQuotaControlAPI(t *testing.T) {
	f, srv, _ := newTestFront(t)
	ctl := httptest.NewServer(f.ControlHandler())
	defer ctl.Close()
	post := func(body string) int {
		resp, err := http.Post(ctl.URL+"/quotas", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, bad := range []string{`{"rate": 5}`, `{"operation": "amazonssm:GetParameters", "rate": 0}`, `{"operation": "x:Y", "rate": 1, "burst": -1}`, `not json`} {
		if code := post(bad); code != http.StatusBadRequest {
			t.Errorf("POST /quotas %s = %d, want 400", bad, code)
		}
	}
	if code := post(`{"operation": "secretsmanager:GetSecretValue", "rate": 1, "burst": 1}`); code != http.StatusNoContent {
		t.Fatalf("POST /quotas = %d", code)
	}
	call(t, srv, "secretsmanager:GetSecretValue").Body.Close()
	if resp := call(t, srv, "secretsmanager:GetSecretValue"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("second call within the second: %d, want 400", resp.StatusCode)
	}
	resp, err := http.Get(ctl.URL + "/throttled")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]int64
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got["secretsmanager:GetSecretValue"] != 1 {
		t.Errorf("GET /throttled = %v", got)
	}
	req, _ := http.NewRequest(http.MethodDelete, ctl.URL+"/quotas", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /quotas: %v", err)
	}
	if resp := call(t, srv, "secretsmanager:GetSecretValue"); resp.StatusCode != http.StatusOK {
		t.Errorf("after DELETE /quotas: %d", resp.StatusCode)
	}
}
