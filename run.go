package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/awsretry"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/secrets"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server"
)

var providerNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,30}$`)

// credentialRefreshLead renews cached STS credentials this long before they
// expire (they last an hour), so no Mount ever signs with expiring ones.
const credentialRefreshLead = 5 * time.Minute

func run(ctx context.Context, cfg Config) error {
	if cfg.LogFormat == "json" {
		// klog still applies -v; every level it lets through is written.
		klog.SetLogger(logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.Level(-127)})))
	}
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
	klog.InfoS("starting", "version", version, "provider", cfg.ProviderName, "cache", cfg.Cache,
		"secretTTL", cfg.SecretTTL, "retryBudget", cfg.RetryBudget, "region", p.DefaultRegion)
	return server.Serve(ctx, ln, &server.Server{Mounter: p, RuntimeVersion: version}, cfg.RetryBudget+5*time.Second)
}

func kubeClient(kubeconfig string) (kubernetes.Interface, error) {
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
	return kubernetes.NewForConfig(rc)
}

// newProvider builds the Mount pipeline with one shared HTTP client and
// connection pool for all AWS calls; each pod's credentials are attached
// per call. The provider's own AWS identity is never loaded: the base
// credentials are anonymous, so nothing can fall back to the node's role.
func newProvider(ctx context.Context, cfg Config, kube kubernetes.Interface) (*provider.Provider, error) {
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = 256
		t.MaxIdleConnsPerHost = 64
	})
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithCredentialsProvider(aws.AnonymousCredentials{}),
		awsconfig.WithHTTPClient(httpClient),
		awsconfig.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	policy := awsretry.DefaultPolicy
	policy.Budget = cfg.RetryBudget

	ttl := cfg.SecretTTL
	if !cfg.Cache {
		ttl = 0
	}
	return &provider.Provider{
		Audience:      cfg.TokenAudience,
		DefaultRegion: awsCfg.Region,
		Kube:          identity.NewKube(kube, cfg.NodeName, ttl, cfg.CacheSize),
		Credentials: identity.NewCredentials(sts.NewFromConfig(awsCfg), identity.CredentialsConfig{
			Retry: policy, RefreshLead: credentialRefreshLead, NegativeTTL: cfg.NegativeTTL,
			Caching: cfg.Cache, MaxEntries: cfg.CacheSize,
		}),
		Secrets: secrets.NewFetcher(secretsmanager.NewFromConfig(awsCfg), secrets.Config{
			Retry: policy, TTL: ttl, NegativeTTL: cfg.NegativeTTL, MaxEntries: cfg.CacheSize,
		}),
	}, nil
}
