package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"k8s.io/klog/v2"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/opshttp"
)

// Config is everything the flags decide. The Mount pipeline's settings are
// provider.Options, passed on as they are.
type Config struct {
	ProviderDir  string
	ProviderName string
	Kubeconfig   string
	LogFormat    string
	MetricsAddr  string
	PprofAddr    string
	ShowVersion  bool
	// KubeQPS and KubeBurst rate-limit the Kubernetes client (ASCP's
	// --qps and --burst).
	KubeQPS   float64
	KubeBurst int
	// ShutdownGrace bounds how long Mounts in flight may finish after
	// SIGTERM; zero: RetryBudget + 5s (Grace).
	ShutdownGrace time.Duration
	// MaxConcurrentMounts bounds the Mounts answered at once; more wait
	// for a slot within their deadline.
	MaxConcurrentMounts int
	provider.Options
}

// DefaultCacheMaxBytes is --cache-max-bytes' default: with the cached
// secrets' bytes at most this, the provider's heap (about twice what it
// holds, with Go's default GC) and its base of about 25 MiB stay well under
// the chart's 128 MiB memory limit.
const DefaultCacheMaxBytes = 32 << 20

// DefaultMaxConcurrentMounts is --max-concurrent-mounts' default. A Mount
// holds its request (at most 4 MiB; about 2.5 MiB from the largest
// SecretProviderClass and nodePublishSecretRef the API server stores) about
// twice while it is answered: 16 of the largest fit the chart's 128 MiB
// memory limit with the provider's base, and cached Mounts take
// microseconds, so a burst of first mounts hardly waits.
const DefaultMaxConcurrentMounts = 16

// parseFlags builds the Config from args. klog's flags (-v, ...) are
// registered on the same set. A bad value fails here, at start-up.
func parseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := newFlagSet(&c, stderr)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c, c.validate()
}

// newFlagSet returns the provider's flags, klog's among them, each set
// into c. docs/operations.md's flags table is checked against it.
func newFlagSet(c *Config, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pmp-secrets-provider", flag.ContinueOnError)
	fs.SetOutput(stderr)
	klog.InitFlags(fs)

	fs.StringVar(&c.ProviderDir, "provider-dir", "/var/run/secrets-store-csi-providers", "directory of the driver's provider sockets")
	fs.StringVar(&c.ProviderName, "provider-name", "pmp", "provider name: the socket is <provider-dir>/<name>.sock and SecretProviderClasses use spec.provider: <name>")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig file; empty uses the in-cluster config")
	fs.StringVar(&c.TokenAudience, "token-audience", "sts.amazonaws.com", "audience of the pod token exchanged with STS (the CSIDriver's tokenRequests)")
	fs.StringVar(&c.NodeName, "node-name", os.Getenv("NODE_NAME"), "this node's name, to read its topology.kubernetes.io/region label when no region is set (default $NODE_NAME)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&c.Cache, "cache", true, "cache credentials, service-account roles and secrets (false: every Mount calls STS and Secrets Manager)")
	fs.DurationVar(&c.SecretTTL, "secret-ttl", 30*time.Second, "freshness window: how long a fetched secret version is served before one call refreshes it")
	fs.DurationVar(&c.MaxSecretTTL, "max-secret-ttl", time.Hour, "cap on every SecretProviderClass's secretTTL (a tenant's choice, up to 24h): the longest a deleted secret or a permission revoked in IAM keeps being served from the cache; a longer secretTTL is served as this (1s to 24h, at least --secret-ttl)")
	fs.DurationVar(&c.NegativeTTL, "negative-ttl", 10*time.Second, "how long an AWS refusal (4xx: denied, not found) is remembered per identity and secret")
	fs.IntVar(&c.CacheSize, "cache-size", 1024, "most secrets (and credentials) kept; least recently used go first")
	fs.Int64Var(&c.CacheMaxBytes, "cache-max-bytes", DefaultCacheMaxBytes, "most bytes of cached secrets and parameters (values, flattened and selected, estimated) kept together (the secrets' and the parameters' caches share it); least recently used go first; 0: --cache-size only")
	fs.DurationVar(&c.RetryBudget, "retry-budget", retry.DefaultPolicy.Budget, "how long one Mount retries transient AWS failures (throttling, 5xx, network) before failing; keep well under the kubelet's 2m")
	fs.DurationVar(&c.AWSCallTimeout, "aws-call-timeout", retry.DefaultPolicy.AttemptTimeout, "how long one AWS call (one attempt) may take before it is abandoned and retried, so a hung connection cannot eat the whole --retry-budget (which also bounds it)")
	fs.DurationVar(&c.StaleIfError, "stale-if-error", time.Hour, "how long past --secret-ttl a secret (and a service account's role) is still served to the same identity when refreshing it fails transiently (AWS or the API server down or throttling); never for a refusal (4xx); 0: off, fail instead")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 0, "on SIGTERM, how long Mounts in flight may take to finish before the socket closes; 0: --retry-budget + 5s")
	fs.IntVar(&c.MaxConcurrentMounts, "max-concurrent-mounts", DefaultMaxConcurrentMounts, "most Mounts answered at once; more wait for a slot (their requests unread), up to shortly before the kubelet's deadline, then fail with Unknown saying the provider is busy (transient: the kubelet retries)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "host:port serving /metrics (Prometheus), /healthz (the socket answers a gRPC health check) and /readyz (and AWS configuration loaded); empty: off")
	fs.StringVar(&c.PprofAddr, "pprof-addr", "", "loopback host:port serving Go's pprof profiles under /debug/pprof/ (e.g. 127.0.0.1:6060; reach it with kubectl port-forward); empty: off")
	fs.Float64Var(&c.KubeQPS, "qps", 50, "queries per second the Kubernetes client may send (service accounts, nodes, the issuer's keys), as ASCP's --qps")
	fs.IntVar(&c.KubeBurst, "burst", 100, "queries the Kubernetes client may send in a burst above --qps, as ASCP's --burst")
	fs.StringVar(&c.PodIdentityAgentURL, "pod-identity-agent-url", identity.DefaultAgentIPv4URL, "EKS Pod Identity Agent credentials URL (IPv4) for SecretProviderClasses with usePodIdentity; empty: not asked")
	fs.StringVar(&c.PodIdentityAgentURLIPv6, "pod-identity-agent-url-ipv6", identity.DefaultAgentIPv6URL, "EKS Pod Identity Agent credentials URL (IPv6), for preferredAddressType ipv6 or auto; empty: not asked")
	fs.BoolVar(&c.PodIdentityShareByServiceAccount, "pod-identity-share-by-service-account", false, "keep EKS Pod Identity credentials, and the secrets read with them, per service account instead of per pod: fewer agent and AWS calls, but a pod is served what another pod of its service account read, so IAM policies that match the session tags kubernetes-pod-name or kubernetes-pod-uid no longer hold; only for clusters where none does")
	fs.BoolVar(&c.ShowVersion, "version", false, "print the version and exit")
	return fs
}

// checkAgentURL checks an EKS Pod Identity Agent URL: empty, or an
// absolute http(s) URL with a host.
func checkAgentURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return errors.New("is not an http URL such as " + identity.DefaultAgentIPv4URL + " (empty: not asked)")
	}
	return nil
}

func (c Config) validate() error {
	var errs []error
	if c.ProviderDir == "" {
		errs = append(errs, errors.New("--provider-dir must not be empty"))
	}
	if !providerNameRE.MatchString(c.ProviderName) {
		errs = append(errs, fmt.Errorf("--provider-name %q must match %s (the driver's rule for spec.provider)", c.ProviderName, providerNameRE))
	}
	if c.TokenAudience == "" {
		errs = append(errs, errors.New("--token-audience must not be empty"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q must be text or json", c.LogFormat))
	}
	if c.Cache && c.SecretTTL <= 0 {
		errs = append(errs, errors.New("--secret-ttl must be positive (use --cache=false to turn caching off)"))
	}
	if c.MaxSecretTTL < params.MinSecretTTL || c.MaxSecretTTL > params.MaxSecretTTL {
		errs = append(errs, fmt.Errorf("--max-secret-ttl %s must be between %s and %s (what secretTTL allows)", c.MaxSecretTTL, params.MinSecretTTL, params.MaxSecretTTL))
	} else if c.Cache && c.SecretTTL > c.MaxSecretTTL {
		errs = append(errs, fmt.Errorf("--secret-ttl %s must be at most --max-secret-ttl %s, the longest anything read is served", c.SecretTTL, c.MaxSecretTTL))
	}
	if c.NegativeTTL < 0 {
		errs = append(errs, errors.New("--negative-ttl must not be negative"))
	}
	if c.CacheMaxBytes < 0 {
		errs = append(errs, errors.New("--cache-max-bytes must not be negative (0: no bound in bytes)"))
	}
	if c.CacheSize < 1 {
		errs = append(errs, errors.New("--cache-size must be at least 1"))
	}
	if c.RetryBudget < time.Second || c.RetryBudget > 100*time.Second {
		errs = append(errs, fmt.Errorf("--retry-budget %s must be between 1s and 100s: the kubelet gives a mount 2m in all", c.RetryBudget))
	}
	if c.KubeQPS <= 0 {
		errs = append(errs, fmt.Errorf("--qps %g must be positive", c.KubeQPS))
	}
	if c.KubeBurst < 1 {
		errs = append(errs, fmt.Errorf("--burst %d must be at least 1", c.KubeBurst))
	}
	for flag, u := range map[string]string{"--pod-identity-agent-url": c.PodIdentityAgentURL, "--pod-identity-agent-url-ipv6": c.PodIdentityAgentURLIPv6} {
		if err := checkAgentURL(u); err != nil {
			errs = append(errs, fmt.Errorf("%s %q %w", flag, u, err))
		}
	}
	if c.AWSCallTimeout < 100*time.Millisecond || c.AWSCallTimeout > 100*time.Second {
		errs = append(errs, fmt.Errorf("--aws-call-timeout %s must be between 100ms and 100s (a longer one is cut to --retry-budget anyway)", c.AWSCallTimeout))
	}
	if c.StaleIfError < 0 || c.StaleIfError > 24*time.Hour {
		errs = append(errs, fmt.Errorf("--stale-if-error %s must be between 0 (off) and 24h", c.StaleIfError))
	}
	if c.MaxConcurrentMounts < 1 || c.MaxConcurrentMounts > 4096 {
		errs = append(errs, fmt.Errorf("--max-concurrent-mounts %d must be between 1 and 4096", c.MaxConcurrentMounts))
	}
	if c.ShutdownGrace < 0 {
		errs = append(errs, errors.New("--shutdown-grace must not be negative"))
	}
	if c.PprofAddr != "" {
		if err := opshttp.CheckLoopback(c.PprofAddr); err != nil {
			errs = append(errs, fmt.Errorf("--pprof-addr %w", err))
		}
	}
	return errors.Join(errs...)
}

// Grace is how long Mounts in flight get to finish on SIGTERM.
func (c Config) Grace() time.Duration {
	if c.ShutdownGrace > 0 {
		return c.ShutdownGrace
	}
	return c.RetryBudget + 5*time.Second
}
