//go:build e2e

package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// rotationBound is what a user is promised: the kubelet republishes every
// volume on its pod sync (about every 60-90 s), the driver then calls the
// provider once the files are older than --rotation-poll-interval, and the
// provider's secret cache is fresh for --secret-ttl. Three minutes covers
// all three with room for a loaded CI machine.
const rotationBound = 3 * time.Minute

// TestRotationAndSync: after PutSecretValue the running pod sees the new
// values without a restart (a credential emptied disappears, one filled
// appears), and the Secret synced by secretObjects, with dotted keys,
// follows.
func TestRotationAndSync(t *testing.T) {
	t.Parallel()
	ns, before, secret := newPMPNamespace(t, "rot")
	synced := []string{"VCS.BitbucketProjectAdminPAT", "VCS.GitlabAdminPAT"}
	data := []any{}
	for _, k := range synced {
		data = append(data, map[string]any{"objectName": k, "key": k})
	}
	ns.secretProviderClass(spc{
		name:    "pmp",
		objects: []map[string]any{{"objectName": secret}},
		secretObjects: []map[string]any{{
			"secretName": "pmp-synced",
			"type":       "Opaque",
			"labels":     map[string]any{"app.kubernetes.io/part-of": "pmp-e2e"},
			"data":       data,
		}},
	})
	ns.readerPod("reader", "pmp", "pmp")
	ns.waitRunning("reader", podStart)

	if got := contentsOf(ns.firstSnapshot("reader")); !cmp.Equal(before.nonEmpty(), got) {
		t.Fatalf("first mount (-stored +mounted):\n%s", cmp.Diff(before.nonEmpty(), got))
	}
	matches := func(want pmpSecret) func(map[string][]byte) bool {
		return func(d map[string][]byte) bool {
			if len(d) != len(synced) {
				return false
			}
			for _, k := range synced {
				if string(d[k]) != want[k] {
					return false
				}
			}
			return true
		}
	}
	if _, err := ns.waitSecret("pmp-synced", 60*time.Second, matches(before)); err != nil {
		t.Fatalf("synced Secret after the first mount: %v", err)
	}

	after := pmpSecret{}
	for k, v := range before {
		after[k] = v
	}
	after["VCS.BitbucketProjectAdminPAT"] = "bb-pat-rotated"
	after["VCS.GitlabAdminPAT"] = "glpat-rotated"
	after["Email.SMTPPassword"] = "smtp-filled-by-rotation"
	after["Marketplace.ImportCDNPassword"] = "" // emptied: its file must go
	put := time.Now()
	ns.putSecretValue(secret, after.json())

	// The pod and the Secret are watched at once: the Secret follows the
	// same republish that changes the files.
	type result struct {
		what string
		took time.Duration
		err  error
	}
	done := make(chan result, 2)
	go func() {
		// A reader that lists the files and then reads them can straddle the
		// driver's atomic ..data swap and see a mix once; the next look is
		// whole. Latency is to the first look with the new value.
		sn, err := ns.waitSnapshot("reader", rotationBound, func(s snapshot) bool {
			return cmp.Equal(after.nonEmpty(), contentsOf(s))
		})
		if err != nil {
			done <- result{"pod files", 0, err}
			return
		}
		all, _ := ns.snapshots("reader")
		for _, s := range all {
			if len(s.files) < len(before.nonEmpty())-1 {
				err = fmt.Errorf("at %s the pod saw only %s", s.at.Format(time.TimeOnly), names(s.files))
			}
		}
		for _, s := range all {
			if s.files["VCS.BitbucketProjectAdminPAT"].contents == "bb-pat-rotated" {
				sn = s
				break
			}
		}
		if err != nil {
			done <- result{"pod files", 0, err}
			return
		}
		// The pod stamps snapshots in whole seconds.
		done <- result{"pod files", sn.at.Sub(put.Truncate(time.Second)), nil}
	}()
	go func() {
		_, err := ns.waitSecret("pmp-synced", rotationBound+30*time.Second, matches(after))
		done <- result{"synced Secret", time.Since(put), err}
	}()
	for range 2 {
		r := <-done
		if r.err != nil {
			t.Errorf("%s after PutSecretValue: %v", r.what, r.err)
			continue
		}
		t.Logf("ROTATION LATENCY %s: %s after PutSecretValue", r.what, r.took.Round(time.Second))
	}
}

func contentsOf(s snapshot) map[string]string {
	out := map[string]string{}
	for k, f := range s.files {
		out[k] = f.contents
	}
	return out
}
