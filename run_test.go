package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"k8s.io/klog/v2"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/cache"
)

func TestJSONLogFormat(t *testing.T) {
	var buf bytes.Buffer
	setupLogging("json", &buf)
	defer klog.ClearLogger()
	klog.InfoS("mount", "pod", klog.KRef("pmp", "pmp-0"), "files", 30)
	klog.Flush()
	line := strings.TrimSpace(buf.String())
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("not a JSON line: %q (%v)", line, err)
	}
	if m["msg"] != "mount" || m["files"] != float64(30) {
		t.Errorf("line = %v", m)
	}
	pod, _ := m["pod"].(map[string]any)
	if pod["name"] != "pmp-0" || pod["namespace"] != "pmp" {
		t.Errorf("pod = %v", m["pod"])
	}
}

func TestServeMetricsAndStop(t *testing.T) {
	addr, stop, err := serveMetrics("127.0.0.1:0", func() map[string]cache.Stats {
		return map[string]cache.Stats{"secrets": {Hits: 7}}
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `pmp_cache_hits_total{cache="secrets"} 7`) {
		t.Errorf("/metrics = %s", b)
	}
	stop()
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Error("metrics still served after stop")
	}
	if _, _, err := serveMetrics("127.0.0.1:notaport", nil); err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Errorf("bad address: err = %v, want one naming --metrics-addr", err)
	}
}
