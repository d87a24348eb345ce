package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/awscalls"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/kubeapi"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server"
)

var providerNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,30}$`)

func run(ctx context.Context, cfg Config) error {
	setupLogging(cfg.LogFormat, os.Stderr)
	defer klog.Flush()

	o, err := startOps(cfg)
	if err != nil {
		return err
	}
	defer o.stop()
	kube, err := kubeClient(cfg.Kubeconfig, cfg.KubeQPS, cfg.KubeBurst, kubeapi.WithMetrics(o.kube))
	if err != nil {
		return err
	}
	p, endpoints, err := newProvider(ctx, cfg, kube, o.aws)
	if err != nil {
		return err
	}
	if err := o.loaded(p); err != nil {
		return err
	}
	ln, err := server.Listen(server.SocketPath(cfg.ProviderDir, cfg.ProviderName))
	if err != nil {
		return err
	}
	klog.InfoS("starting", "version", version, "provider", cfg.ProviderName, "cache", cfg.Cache,
		"secretTTL", cfg.SecretTTL, "maxSecretTTL", cfg.MaxSecretTTL, "podIdentityShareByServiceAccount", cfg.PodIdentityShareByServiceAccount, "retryBudget", cfg.RetryBudget, "awsCallTimeout", cfg.AWSCallTimeout,
		"staleIfError", cfg.StaleIfError, "maxConcurrentMounts", cfg.MaxConcurrentMounts, "shutdownGrace", cfg.Grace(), "region", p.DefaultRegion(), "endpoints", endpoints)
	return server.Serve(ctx, ln, &server.Server{Mounter: p, RuntimeVersion: version, Metrics: o.mounts, MaxConcurrentMounts: cfg.MaxConcurrentMounts}, cfg.Grace())
}

func kubeClient(kubeconfig string, qps float64, burst int, opts ...kubeapi.Option) (provider.KubeAPI, error) {
	var rc *rest.Config
	var err error
	if kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client config (set --kubeconfig outside a cluster): %w", err)
	}
	rc.UserAgent = "pmp-secrets-provider/" + version
	rc.QPS, rc.Burst = float32(qps), burst
	return kubeapi.New(rc, opts...)
}

// newProvider returns the provider and, for the start-up log line, the
// endpoint each AWS service resolved to (FIPS, VPC endpoints).
func newProvider(ctx context.Context, cfg Config, kube provider.KubeAPI, calls *awscalls.Metrics) (*provider.Provider, map[string]string, error) {
	awsCfg, err := provider.LoadAWSConfig(ctx)
	if err != nil {
		return nil, nil, err
	}
	endpoints, err := provider.Endpoints(ctx, awsCfg)
	if err != nil {
		return nil, nil, err
	}
	calls.Instrument(&awsCfg)
	return provider.New(awsCfg, kube, cfg.Options), endpoints, nil
}

// setupLogging routes klog to JSON lines on w for --log-format=json. klog
// still applies -v; every line it lets through is written.
func setupLogging(format string, w io.Writer) {
	if format == "json" {
		klog.SetLogger(logr.FromSlogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.Level(-127)})))
	}
}
