// Package metrics serves the provider's cache counters in the Prometheus
// text exposition format on /metrics, and a liveness answer on /healthz.
// It writes the format itself: the provider exports a handful of counters
// and needs no client library for that.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"sort"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/cache"
)

// Source returns the current counters of each named cache.
type Source func() map[string]cache.Stats

type family struct {
	name, help, kind string
	value            func(cache.Stats) int64
}

var families = []family{
	{"pmp_cache_hits_total", "Lookups answered from the cache.", "counter", func(s cache.Stats) int64 { return s.Hits }},
	{"pmp_cache_misses_total", "Lookups that loaded from AWS or the Kubernetes API.", "counter", func(s cache.Stats) int64 { return s.Misses }},
	{"pmp_cache_coalesced_total", "Lookups that waited on a load already in flight instead of making their own call.", "counter", func(s cache.Stats) int64 { return s.Coalesced }},
	{"pmp_cache_evictions_total", "Entries dropped because the cache was full (--cache-size).", "counter", func(s cache.Stats) int64 { return s.Evictions }},
	{"pmp_cache_entries", "Entries held now.", "gauge", func(s cache.Stats) int64 { return s.Entries }},
}

// Handler serves /metrics from src and /healthz.
func Handler(src Source) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		Write(w, src())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// Write writes stats in the text exposition format, caches in name order.
func Write(w io.Writer, stats map[string]cache.Stats) {
	names := make([]string, 0, len(stats))
	for n := range stats {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, f := range families {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.kind)
		for _, n := range names {
			fmt.Fprintf(w, "%s{cache=%q} %d\n", f.name, n, f.value(stats[n]))
		}
	}
}
