package main

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/httpget"
)

func TestOpsServeMetricsProbesAndPprofUntilStopped(t *testing.T) {
	dir := t.TempDir()
	cfg, err := parseFlags([]string{"--provider-dir", dir, "--metrics-addr", "127.0.0.1:0", "--pprof-addr", "127.0.0.1:0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o, err := startOps(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.servers) != 2 {
		t.Fatalf("%d servers, want metrics and pprof", len(o.servers))
	}
	m, p := "http://"+o.servers[0].Addr(), "http://"+o.servers[1].Addr()
	code, body := httpget.Get(t, m+"/metrics")
	for _, want := range []string{`pmp_build_info{go_version="`, `version="` + version + `"} 1`, "pmp_mounts_in_flight 0", "go_goroutines ", "process_resident_memory_bytes "} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics = %d, lacks %q", code, want)
		}
	}
	if code, body := httpget.Get(t, m+"/readyz"); code != 503 || !strings.Contains(body, "AWS configuration") {
		t.Errorf("/readyz before start-up = %d %q, want 503", code, body)
	}
	if code, _ := httpget.Get(t, m+"/healthz"); code != 503 {
		t.Errorf("/healthz with no socket = %d, want 503", code)
	}
	if code, _ := httpget.Get(t, p+"/debug/pprof/"); code != 200 {
		t.Errorf("pprof = %d", code)
	}
	if code, _ := httpget.Get(t, m+"/debug/pprof/"); code != 404 {
		t.Errorf("pprof on the metrics port = %d, want 404", code)
	}
	o.stop()
	for _, u := range []string{m + "/metrics", p + "/debug/pprof/"} {
		if _, err := http.Get(u); err == nil {
			t.Errorf("%s still served after stop", u)
		}
	}
}

func TestOpsRefuseABadAddress(t *testing.T) {
	_, err := startOps(Config{ProviderDir: os.TempDir(), ProviderName: "pmp", MetricsAddr: "127.0.0.1:notaport"})
	if err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Errorf("err = %v, want one naming --metrics-addr", err)
	}
	_, err = startOps(Config{ProviderDir: os.TempDir(), ProviderName: "pmp", MetricsAddr: "127.0.0.1:0", PprofAddr: "127.0.0.1:notaport"})
	if err == nil || !strings.Contains(err.Error(), "--pprof-addr") {
		t.Errorf("err = %v, want one naming --pprof-addr", err)
	}
}
