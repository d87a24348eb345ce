package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/kubeapi"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/metrics"
)

var providerNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,30}$`)

func run(ctx context.Context, cfg Config) error {
	setupLogging(cfg.LogFormat, os.Stderr)
	defer klog.Flush()

	kube, err := kubeClient(cfg.Kubeconfig)
	if err != nil {
		return err
	}
	p, err := newProvider(ctx, cfg, kube)
	if err != nil {
		return err
	}
	ln, err := server.Listen(server.SocketPath(cfg.ProviderDir, cfg.ProviderName))
	if err != nil {
		return err
	}
	if cfg.MetricsAddr != "" {
		_, stop, err := serveMetrics(cfg.MetricsAddr, p.CacheStats)
		if err != nil {
			ln.Close()
			return err
		}
		defer stop()
	}
	klog.InfoS("starting", "version", version, "provider", cfg.ProviderName, "cache", cfg.Cache,
		"secretTTL", cfg.SecretTTL, "retryBudget", cfg.RetryBudget, "region", p.DefaultRegion())
	return server.Serve(ctx, ln, &server.Server{Mounter: p, RuntimeVersion: version}, cfg.RetryBudget+5*time.Second)
}

// serveMetrics serves /metrics and /healthz on addr until the returned
// stop is called, which shuts the server down with a fresh timeout. It
// returns the address it listens on.
func serveMetrics(addr string, src metrics.Source) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	srv := &http.Server{Handler: metrics.Handler(src), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			klog.ErrorS(err, "metrics server stopped")
		}
	}()
	klog.InfoS("serving metrics", "addr", ln.Addr().String())
	return ln.Addr().String(), func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

func kubeClient(kubeconfig string) (provider.KubeAPI, error) {
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
	rc.QPS, rc.Burst = 50, 100
	return kubeapi.New(rc)
}

func newProvider(ctx context.Context, cfg Config, kube provider.KubeAPI) (*provider.Provider, error) {
	awsCfg, err := provider.LoadAWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	return provider.New(awsCfg, kube, cfg.Options), nil
}

// setupLogging routes klog to JSON lines on w for --log-format=json. klog
// still applies -v; every line it lets through is written.
func setupLogging(format string, w io.Writer) {
	if format == "json" {
		klog.SetLogger(logr.FromSlogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.Level(-127)})))
	}
}
