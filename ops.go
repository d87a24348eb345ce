package main

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/awscalls"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/kubeapi"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/metrics"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/opshttp"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/probes"
)

// ops is the operations side of one run: the registry every instrument
// counts in, and the HTTP servers of --metrics-addr and --pprof-addr.
// The instruments count whether or not anything serves them: they cost
// the Mount path a few atomic adds.
type ops struct {
	reg     *prometheus.Registry
	health  *probes.Health
	mounts  *metrics.Mounts
	aws     *awscalls.Metrics
	kube    *kubeapi.Metrics
	servers []*opshttp.Server
}

// startOps builds the registry and starts the HTTP servers the flags ask
// for, before anything else, so /readyz says "not ready" while the
// provider starts rather than refusing connections.
func startOps(cfg Config) (_ *ops, err error) {
	o := &ops{
		reg:    metrics.NewRegistry(version),
		health: probes.NewHealth(server.SocketPath(cfg.ProviderDir, cfg.ProviderName)),
	}
	if o.mounts, err = metrics.NewMounts(o.reg); err != nil {
		return nil, err
	}
	if o.aws, err = awscalls.NewMetrics(o.reg); err != nil {
		return nil, err
	}
	if o.kube, err = kubeapi.NewMetrics(o.reg); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			o.stop()
		}
	}()
	if cfg.MetricsAddr != "" {
		s, err := opshttp.Start("--metrics-addr", cfg.MetricsAddr, opshttp.Handler(o.reg, o.health), opshttp.Timeouts{})
		if err != nil {
			return nil, err
		}
		o.servers = append(o.servers, s)
	}
	if cfg.PprofAddr != "" {
		s, err := opshttp.Start("--pprof-addr", cfg.PprofAddr, opshttp.PprofHandler(), opshttp.PprofTimeouts())
		if err != nil {
			return nil, err
		}
		o.servers = append(o.servers, s)
	}
	return o, nil
}

// loaded exposes p's caches and failover counts and marks the AWS configuration loaded.
func (o *ops) loaded(p *provider.Provider) error {
	if err := metrics.RegisterCaches(o.reg, p.CacheStats); err != nil {
		return fmt.Errorf("registering cache metrics: %w", err)
	}
	if err := metrics.RegisterFailover(o.reg, p.FailoverServed); err != nil {
		return fmt.Errorf("registering failover metrics: %w", err)
	}
	o.health.ConfigLoaded()
	return nil
}

// stop shuts the HTTP servers down.
func (o *ops) stop() {
	for _, s := range o.servers {
		s.Stop()
	}
}
