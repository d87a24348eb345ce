package metrics

import "github.com/prometheus/client_golang/prometheus"

// FailoverSource returns, by service, how many reads a failover region
// served.
type FailoverSource func() map[string]int64

// failoverCollector reads the counters at scrape time, as cacheCollector.
type failoverCollector struct {
	src    FailoverSource
	served *prometheus.Desc
}

// RegisterFailover exposes src's counts on reg as
// pmp_failover_served_total, labelled service="Secrets Manager" or "SSM".
func RegisterFailover(reg prometheus.Registerer, src FailoverSource) error {
	return reg.Register(&failoverCollector{src: src, served: prometheus.NewDesc("pmp_failover_served_total",
		"Reads (cache loads) of objects with a failoverRegion that the failover region served because the object's own region was out (5xx, throttling past the retries, no answer), by service.",
		[]string{"service"}, nil)})
}

func (c *failoverCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.served }

func (c *failoverCollector) Collect(ch chan<- prometheus.Metric) {
	for service, n := range c.src() {
		ch <- prometheus.MustNewConstMetric(c.served, prometheus.CounterValue, float64(n), service)
	}
}
