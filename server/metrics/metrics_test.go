package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/promtest"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/cache"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/metrics"
)

// The cache families keep the names, labels and types the hand-written
// writer had, so dashboards built on them keep working.
func TestCacheMetricsKeepTheirNamesAndLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := metrics.RegisterCaches(reg, func() map[string]cache.Stats {
		return map[string]cache.Stats{
			"secrets":     {Hits: 998, Misses: 2, Coalesced: 99, Evictions: 1, Entries: 3, Stale: 4, Throttled: 5, HeldBack: 2},
			"credentials": {Misses: 1, Entries: 1},
		}
	}); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP pmp_cache_coalesced_total Lookups that waited on a load already in flight instead of making their own call.
# TYPE pmp_cache_coalesced_total counter
pmp_cache_coalesced_total{cache="credentials"} 0
pmp_cache_coalesced_total{cache="secrets"} 99
# HELP pmp_cache_entries Entries held now.
# TYPE pmp_cache_entries gauge
pmp_cache_entries{cache="credentials"} 1
pmp_cache_entries{cache="secrets"} 3
# HELP pmp_cache_evictions_total Entries dropped because the cache was full (--cache-size).
# TYPE pmp_cache_evictions_total counter
pmp_cache_evictions_total{cache="credentials"} 0
pmp_cache_evictions_total{cache="secrets"} 1
# HELP pmp_cache_held_back Entries whose last refresh AWS throttled: they answer with the value held and wait out their back-off.
# TYPE pmp_cache_held_back gauge
pmp_cache_held_back{cache="credentials"} 0
pmp_cache_held_back{cache="secrets"} 2
# HELP pmp_cache_hits_total Lookups answered from the cache.
# TYPE pmp_cache_hits_total counter
pmp_cache_hits_total{cache="credentials"} 0
pmp_cache_hits_total{cache="secrets"} 998
# HELP pmp_cache_misses_total Lookups that loaded from AWS or the Kubernetes API.
# TYPE pmp_cache_misses_total counter
pmp_cache_misses_total{cache="credentials"} 1
pmp_cache_misses_total{cache="secrets"} 2
# HELP pmp_cache_stale_served_total Lookups answered with a value past its freshness window because refreshing it failed transiently (--stale-if-error).
# TYPE pmp_cache_stale_served_total counter
pmp_cache_stale_served_total{cache="credentials"} 0
pmp_cache_stale_served_total{cache="secrets"} 4
# HELP pmp_cache_throttled_total Refreshes that AWS throttled: the value held kept answering and the entry waits 2, 4, then up to 8 freshness windows before it tries again.
# TYPE pmp_cache_throttled_total counter
pmp_cache_throttled_total{cache="credentials"} 0
pmp_cache_throttled_total{cache="secrets"} 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestMetricsEndpointServesTheTextFormat(t *testing.T) {
	reg := metrics.NewRegistry("v1.2.3")
	if err := metrics.RegisterCaches(reg, func() map[string]cache.Stats { return map[string]cache.Stats{"secrets": {Hits: 7}} }); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q", ct)
	}
	for _, want := range []string{
		`pmp_cache_hits_total{cache="secrets"} 7` + "\n",
		`pmp_build_info{go_version="` + runtime.Version() + `",version="v1.2.3"} 1` + "\n",
		"# TYPE go_goroutines gauge\n",
		"# TYPE process_resident_memory_bytes gauge\n",
		"# TYPE process_open_fds gauge\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestMountsCountByResultAndCode(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.NewMounts(reg)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		m.Start()
		if got := promtest.Value(t, reg, "pmp_mounts_in_flight"); got != 1 {
			t.Errorf("in flight during a Mount = %v, want 1", got)
		}
		m.Done(200*time.Microsecond, metrics.ResultOK, codes.OK)
		m.End()
	}
	m.Start()
	m.Done(12*time.Second, metrics.ResultTransient, codes.Unknown)
	m.End()

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"pmp_mounts_total", []string{"result", "ok", "code", "OK"}, 3},
		{"pmp_mounts_total", []string{"result", "transient", "code", "Unknown"}, 1},
		{"pmp_mount_duration_seconds", []string{"result", "ok"}, 3},
		{"pmp_mount_duration_seconds", []string{"result", "error"}, 1},
		{"pmp_mounts_in_flight", nil, 0},
	} {
		if got := promtest.Value(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// A cached Mount (0.2 ms) lands in a bucket of its own, well below a
	// millisecond, and a Mount that retried for 12 s below 20 s.
	h := promtest.Histogram(t, reg, "pmp_mount_duration_seconds", "result", "ok")
	if b := h.GetBucket(); b[1].GetUpperBound() != .00025 || b[1].GetCumulativeCount() != 3 || b[0].GetCumulativeCount() != 0 {
		t.Errorf("0.2 ms not in the (0.1 ms, 0.25 ms] bucket: %v", b[:3])
	}
	if got := promtest.Histogram(t, reg, "pmp_mount_duration_seconds", "result", "error").GetSampleSum(); got != 12 {
		t.Errorf("error duration sum = %v, want 12", got)
	}
}

func TestNilMountsCountNothing(t *testing.T) {
	var m *metrics.Mounts
	m.Start()
	m.Done(time.Millisecond, metrics.ResultOK, codes.OK)
	m.End()
}

// BenchmarkMountMetrics is what counting adds to every Mount: in flight up
// and down, the result counter and the duration histogram.
func BenchmarkMountMetrics(b *testing.B) {
	m, err := metrics.NewMounts(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Start()
		m.Done(150*time.Microsecond, metrics.ResultOK, codes.OK)
		m.End()
	}
}
