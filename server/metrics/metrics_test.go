package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/cache"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/metrics"
)

func TestMetricsExposition(t *testing.T) {
	srv := httptest.NewServer(metrics.Handler(func() map[string]cache.Stats {
		return map[string]cache.Stats{
			"secrets":     {Hits: 998, Misses: 2, Coalesced: 99, Evictions: 1, Entries: 3},
			"credentials": {Misses: 1, Entries: 1},
		}
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		"# TYPE pmp_cache_hits_total counter\n",
		`pmp_cache_hits_total{cache="secrets"} 998` + "\n",
		`pmp_cache_misses_total{cache="credentials"} 1` + "\n",
		`pmp_cache_coalesced_total{cache="secrets"} 99` + "\n",
		`pmp_cache_evictions_total{cache="secrets"} 1` + "\n",
		"# TYPE pmp_cache_entries gauge\n",
		`pmp_cache_entries{cache="secrets"} 3` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q", ct)
	}
	if strings.Index(body, `{cache="credentials"}`) > strings.Index(body, `{cache="secrets"}`) {
		t.Error("caches not in name order")
	}
}

func TestHealthz(t *testing.T) {
	srv := httptest.NewServer(metrics.Handler(func() map[string]cache.Stats { return nil }))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
}
