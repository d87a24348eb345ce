// Package metrics is the provider's Prometheus registry: Mounts, caches,
// failover, build info, Go and process collectors (the AWS and Kubernetes
// API instruments live beside their calls, in provider/awscalls and
// provider/kubeapi), and the /metrics handler. server/opshttp serves it.
//
// Nothing here keeps package-level state: run() builds one registry and
// hands it to every instrument; tests build their own. No label ever holds
// a secret, a token, a pod, namespace or secret name, or any other value
// without a small fixed set.
package metrics

import (
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry holding the Go runtime and process
// collectors and pmp_build_info for version.
func NewRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "pmp_build_info",
			Help:        "Always 1; its labels are the provider's version and the Go version it was built with.",
			ConstLabels: prometheus.Labels{"version": version, "go_version": runtime.Version()},
		}, func() float64 { return 1 }),
	)
	return reg
}

// Handler serves /metrics from g.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		// A failing collector must not hide the others.
		ErrorHandling: promhttp.ContinueOnError,
		// Concurrent scrapes are bounded: a node agent has one or two scrapers.
		MaxRequestsInFlight: 4,
	})
}
