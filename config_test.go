package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
)

func TestParseFlagsDefaults(t *testing.T) {
	t.Setenv("NODE_NAME", "ip-10-0-0-1.eu-west-1.compute.internal")
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		ProviderDir: "/var/run/secrets-store-csi-providers", ProviderName: "pmp", LogFormat: "text",
		KubeQPS: 50, KubeBurst: 100, MaxConcurrentMounts: 16,
		Options: provider.Options{
			TokenAudience: "sts.amazonaws.com", NodeName: "ip-10-0-0-1.eu-west-1.compute.internal", Cache: true,
			SecretTTL: 30 * time.Second, NegativeTTL: 10 * time.Second, CacheSize: 1024, CacheMaxBytes: 32 << 20, RetryBudget: 30 * time.Second,
			// The agent's link-local addresses: only the flags name them.
			PodIdentityAgentURL: "http://169.254.170.23/v1/credentials", PodIdentityAgentURLIPv6: "http://[fd00:ec2::23]/v1/credentials",
			AWSCallTimeout: 5 * time.Second, StaleIfError: time.Hour,
			// A tenant's secretTTL of up to 24h is served at most an hour.
			MaxSecretTTL: time.Hour,
		},
	}
	if c != want {
		t.Errorf("defaults = %+v\nwant %+v", c, want)
	}
}

func TestParseFlagsRejectsBadValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"provider name the driver would not dial", []string{"--provider-name", "pmp.aws"}, "--provider-name"},
		{"unknown log format", []string{"--log-format", "yaml"}, "--log-format"},
		{"zero window with caching on", []string{"--secret-ttl", "0"}, "--cache=false"},
		{"retry budget past the kubelet's deadline", []string{"--retry-budget", "3m"}, "2m"},
		{"call timeout of hours", []string{"--aws-call-timeout", "2h"}, "--aws-call-timeout 2h0m0s must be between 100ms and 100s"},
		{"no call timeout", []string{"--aws-call-timeout", "0"}, "--aws-call-timeout"},
		{"stale for days", []string{"--stale-if-error", "72h"}, "--stale-if-error 72h0m0s must be between 0 (off) and 24h"},
		{"no Mount slot", []string{"--max-concurrent-mounts", "0"}, "--max-concurrent-mounts 0 must be between 1 and 4096"},
		{"no cap on secretTTL", []string{"--max-secret-ttl", "0"}, "--max-secret-ttl 0s must be between 1s and 24h0m0s"},
		{"a cap past what secretTTL allows", []string{"--max-secret-ttl", "48h"}, "--max-secret-ttl 48h0m0s must be between 1s and 24h0m0s"},
		{"the default window past the cap", []string{"--secret-ttl", "2h"}, "--secret-ttl 2h0m0s must be at most --max-secret-ttl 1h0m0s"},
		{"negative grace", []string{"--shutdown-grace", "-1s"}, "--shutdown-grace"},
		{"empty audience", []string{"--token-audience", ""}, "--token-audience"},
		{"negative cache bytes", []string{"--cache-max-bytes", "-1"}, "--cache-max-bytes"},
		{"stray argument", []string{"serve"}, "unexpected arguments"},
		{"unknown flag", []string{"--region", "eu-west-1"}, "flag provided but not defined"},
		{"pprof on every interface", []string{"--pprof-addr", ":6060"}, "--pprof-addr \":6060\" listens on every interface"},
		{"qps zero", []string{"--qps", "0"}, "--qps 0 must be positive"},
		{"burst zero", []string{"--burst", "0"}, "--burst 0 must be at least 1"},
		{"qps not a number", []string{"--qps", "many"}, "invalid value"},
		{"agent URL without a scheme", []string{"--pod-identity-agent-url", "169.254.170.23/v1/credentials"}, "--pod-identity-agent-url \"169.254.170.23/v1/credentials\" is not an http URL"},
		{"agent URL with credentials", []string{"--pod-identity-agent-url-ipv6", "http://u:p@[fd00:ec2::23]/v1/credentials"}, "--pod-identity-agent-url-ipv6"},
		{"pprof on a node address", []string{"--pprof-addr", "10.0.0.1:6060"}, "--pprof-addr \"10.0.0.1:6060\" is not a loopback address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestParseFlagsASCPNamesAndAgentAddresses(t *testing.T) {
	c, err := parseFlags([]string{"--qps=5", "--burst=10", "--pod-identity-agent-url=http://127.0.0.1:2703/v1/credentials", "--pod-identity-agent-url-ipv6="}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.KubeQPS != 5 || c.KubeBurst != 10 || c.PodIdentityAgentURL != "http://127.0.0.1:2703/v1/credentials" || c.PodIdentityAgentURLIPv6 != "" {
		t.Errorf("config = qps %g burst %d agent %q %q", c.KubeQPS, c.KubeBurst, c.PodIdentityAgentURL, c.PodIdentityAgentURLIPv6)
	}
}

func TestParseFlagsTenantBounds(t *testing.T) {
	c, err := parseFlags([]string{"--max-secret-ttl=5m", "--secret-ttl=5m", "--pod-identity-share-by-service-account"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxSecretTTL != 5*time.Minute || !c.PodIdentityShareByServiceAccount {
		t.Errorf("config = max-secret-ttl %s, share by service account %v", c.MaxSecretTTL, c.PodIdentityShareByServiceAccount)
	}
}

func TestParseFlagsCacheOffAllowsZeroWindow(t *testing.T) {
	c, err := parseFlags([]string{"--cache=false", "--secret-ttl=0", "-v=4"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cache {
		t.Error("cache still on")
	}
}

func TestShutdownGraceDefaultsToTheRetryBudget(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, 35 * time.Second},
		{[]string{"--retry-budget=10s"}, 15 * time.Second},
		{[]string{"--shutdown-grace=90s"}, 90 * time.Second},
	} {
		c, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Grace(); got != tc.want {
			t.Errorf("%v: grace %s, want %s", tc.args, got, tc.want)
		}
	}
}

func TestStaleIfErrorOff(t *testing.T) {
	c, err := parseFlags([]string{"--stale-if-error=0"}, io.Discard)
	if err != nil || c.StaleIfError != 0 {
		t.Fatalf("--stale-if-error=0: %v, %s", err, c.StaleIfError)
	}
}

// A budget shorter than the default call timeout needs no other flag: the
// budget bounds each call too.
func TestShortBudgetWithTheDefaultCallTimeout(t *testing.T) {
	if _, err := parseFlags([]string{"--retry-budget=2s"}, io.Discard); err != nil {
		t.Fatal(err)
	}
}
