package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/klog/v2"
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
