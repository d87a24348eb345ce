//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// podStart bounds how long a pod with a healthy mount may take to run.
const podStart = 90 * time.Second

// TestMountsEveryPMPFile: a pod reads every stored PMP credential as its own
// dotted file, with the configured mode; empty credentials are absent.
func TestMountsEveryPMPFile(t *testing.T) {
	t.Parallel()
	ns, want, secret := newPMPNamespace(t, "all")
	ns.secretProviderClass(spc{name: "pmp", region: cfg.region, objects: []map[string]any{
		{"objectName": secret, "filePermission": "0440"},
	}})
	ns.readerPod("reader", "pmp", "pmp")
	t.Logf("pod Running after %s", ns.waitRunning("reader", podStart).Round(100*time.Millisecond))

	got := ns.firstSnapshot("reader").files
	contents := map[string]string{}
	for name, f := range got {
		contents[name] = f.contents
		if f.mode != "440" {
			t.Errorf("%s has mode %s, want 440 (filePermission: \"0440\")", name, f.mode)
		}
	}
	if d := cmp.Diff(want.nonEmpty(), contents); d != "" {
		t.Errorf("volume contents (-stored +mounted):\n%s", d)
	}
	for k, v := range want {
		if v == "" {
			if _, ok := got[k]; ok {
				t.Errorf("empty credential %s is mounted", k)
			}
		}
	}
	if len(got) != 10 {
		t.Errorf("%d files, want the 10 non-empty of the 30 template keys", len(got))
	}
}

// TestKeySelection: keys: ["VCS.*"] mounts only the VCS credentials, with the
// driver's default mode when filePermission is not set.
func TestKeySelection(t *testing.T) {
	t.Parallel()
	ns, all, secret := newPMPNamespace(t, "keys")
	ns.secretProviderClass(spc{name: "vcs-only", objects: []map[string]any{
		{"objectName": secret, "keys": []string{"VCS.*"}},
	}})
	ns.readerPod("reader", "pmp", "vcs-only")
	ns.waitRunning("reader", podStart)

	want := map[string]string{}
	for k, v := range all.nonEmpty() {
		if strings.HasPrefix(k, "VCS.") {
			want[k] = v
		}
	}
	got := map[string]string{}
	for name, f := range ns.firstSnapshot("reader").files {
		got[name] = f.contents
		if f.mode != "644" {
			t.Errorf("%s has mode %s, want the default 644", name, f.mode)
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("volume contents (-want +mounted):\n%s", d)
	}
}

// TestNestedLayoutAndAlias: layout: nested gives one directory per group, and
// a second object of the same secret, unflattened under an alias, gives the
// raw JSON in one file.
func TestNestedLayoutAndAlias(t *testing.T) {
	t.Parallel()
	ns, all, secret := newPMPNamespace(t, "nested")
	ns.secretProviderClass(spc{name: "nested", objects: []map[string]any{
		{"objectName": secret, "layout": "nested", "keys": []string{"CIAdmin.*", "ClusterSettings.*"}, "filePermission": "0400"},
		{"objectName": secret, "objectAlias": "pmp.json", "flatten": false},
	}})
	ns.readerPod("reader", "pmp", "nested")
	ns.waitRunning("reader", podStart)

	got := map[string]string{}
	for name, f := range ns.firstSnapshot("reader").files {
		got[name] = f.contents
		if name != "pmp.json" && f.mode != "400" {
			t.Errorf("%s has mode %s, want 400", name, f.mode)
		}
	}
	want := map[string]string{
		"CIAdmin/JenkinsTriggerAuthToken": all["CIAdmin.JenkinsTriggerAuthToken"],
		"ClusterSettings/GrafanaAPIKey":   all["ClusterSettings.GrafanaAPIKey"],
		"pmp.json":                        all.json(),
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("volume contents (-want +mounted):\n%s", d)
	}
}
