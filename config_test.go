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
		Options: provider.Options{
			TokenAudience: "sts.amazonaws.com", NodeName: "ip-10-0-0-1.eu-west-1.compute.internal", Cache: true,
			SecretTTL: 2 * time.Minute, NegativeTTL: 10 * time.Second, CacheSize: 1024, CacheMaxBytes: 32 << 20, RetryBudget: 30 * time.Second,
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
		{"empty audience", []string{"--token-audience", ""}, "--token-audience"},
		{"negative cache bytes", []string{"--cache-max-bytes", "-1"}, "--cache-max-bytes"},
		{"stray argument", []string{"serve"}, "unexpected arguments"},
		{"unknown flag", []string{"--region", "eu-west-1"}, "flag provided but not defined"},
		{"pprof on every interface", []string{"--pprof-addr", ":6060"}, "--pprof-addr \":6060\" listens on every interface"},
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

func TestParseFlagsCacheOffAllowsZeroWindow(t *testing.T) {
	c, err := parseFlags([]string{"--cache=false", "--secret-ttl=0", "-v=4"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cache {
		t.Error("cache still on")
	}
}
