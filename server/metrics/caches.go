package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/cache"
)

// Source returns the current counters of each named cache.
type Source func() map[string]cache.Stats

// cacheCollector reads the caches' own counters at scrape time: the Mount
// path pays nothing more for them than the atomic adds it already does.
type cacheCollector struct {
	src                                                Source
	hits, misses, coalesced, evictions, entries, stale *prometheus.Desc
	throttled, heldBack                                *prometheus.Desc
}

// RegisterCaches exposes the counters of src's caches on reg, labelled
// cache="secrets", "parameters", "credentials" or "roles".
func RegisterCaches(reg prometheus.Registerer, src Source) error {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"cache"}, nil)
	}
	return reg.Register(&cacheCollector{
		src:       src,
		hits:      d("pmp_cache_hits_total", "Lookups answered from the cache."),
		misses:    d("pmp_cache_misses_total", "Lookups that loaded from AWS or the Kubernetes API."),
		coalesced: d("pmp_cache_coalesced_total", "Lookups that waited on a load already in flight instead of making their own call."),
		evictions: d("pmp_cache_evictions_total", "Entries dropped because the cache was full (--cache-size)."),
		entries:   d("pmp_cache_entries", "Entries held now."),
		stale:     d("pmp_cache_stale_served_total", "Lookups answered with a value past its freshness window because refreshing it failed transiently (--stale-if-error)."),
		throttled: d("pmp_cache_throttled_total", "Refreshes that AWS throttled: the value held kept answering and the entry waits 2, 4, then up to 8 freshness windows before it tries again."),
		heldBack:  d("pmp_cache_held_back", "Entries whose last refresh AWS throttled: they answer with the value held and wait out their back-off."),
	})
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.hits
	ch <- c.misses
	ch <- c.coalesced
	ch <- c.evictions
	ch <- c.entries
	ch <- c.stale
	ch <- c.throttled
	ch <- c.heldBack
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	for name, s := range c.src() {
		ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(s.Hits), name)
		ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(s.Misses), name)
		ch <- prometheus.MustNewConstMetric(c.coalesced, prometheus.CounterValue, float64(s.Coalesced), name)
		ch <- prometheus.MustNewConstMetric(c.evictions, prometheus.CounterValue, float64(s.Evictions), name)
		ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(s.Entries), name)
		ch <- prometheus.MustNewConstMetric(c.stale, prometheus.CounterValue, float64(s.Stale), name)
		ch <- prometheus.MustNewConstMetric(c.throttled, prometheus.CounterValue, float64(s.Throttled), name)
		ch <- prometheus.MustNewConstMetric(c.heldBack, prometheus.GaugeValue, float64(s.HeldBack), name)
	}
}
