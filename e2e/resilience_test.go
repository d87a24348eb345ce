//go:build e2e

package e2e

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
)

// assertFullFromStart checks that the pod's very first view of its volume
// already held every stored credential: it never ran with an empty volume.
func (ns *testNS) assertFullFromStart(pod string, want pmpSecret) {
	ns.t.Helper()
	got := contentsOf(ns.firstSnapshot(pod))
	if d := cmp.Diff(want.nonEmpty(), got); d != "" {
		ns.t.Errorf("pod %s started with (-stored +mounted):\n%s", pod, d)
	}
}

// TestProviderRestart: pods created while the provider restarts (on the
// local cluster: a rolling update of its DaemonSet, helm upgrade) mount
// once it is back, and a running pod keeps its files. With the provider's
// DaemonSet known, its pod must have been replaced by a Ready one. Serial:
// it restarts the provider every other test uses.
func TestProviderRestart(t *testing.T) {
	if cfg.restartCmd == "" {
		t.Skip("PMP_E2E_PROVIDER_RESTART is not set: it is the command that restarts the provider (e2e/README.md)")
	}
	var ds *appsv1.DaemonSet
	var oldPod types.UID
	if cfg.daemonSet != "" {
		ds = needDaemonSet(t)
		oldPod = providerPod(t, ds).UID
	}
	ns, want, secret := newPMPNamespace(t, "restart")
	ns.wholeSecretClass(secret)
	ns.readerPod("before", "pmp", "pmp")
	ns.waitRunning("before", podStart)

	start := time.Now()
	restarted := make(chan error, 1)
	go func() {
		out, err := exec.Command("sh", "-c", cfg.restartCmd).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%v: %s", err, out)
		}
		restarted <- err
	}()
	pods := []string{"before"}
	for i, at := range []time.Duration{0, 1500 * time.Millisecond, 3 * time.Second} {
		time.Sleep(time.Until(start.Add(at)))
		name := fmt.Sprintf("during-%d", i)
		ns.readerPod(name, "pmp", "pmp")
		pods = append(pods, name)
	}
	if err := <-restarted; err != nil {
		t.Fatalf("restarting the provider: %v", err)
	}
	t.Logf("provider restarted in %s", time.Since(start).Round(100*time.Millisecond))
	if ds != nil {
		p := providerPod(t, ds)
		if p.UID == oldPod {
			t.Errorf("the restart left the provider's pod %s in place: no rolling update happened", p.Name)
		}
		for _, cs := range p.Status.ContainerStatuses {
			if !cs.Ready {
				t.Errorf("the new provider pod %s is not Ready: %s", p.Name, describePod(p))
			}
		}
	}
	ns.readerPod("after", "pmp", "pmp")
	pods = append(pods, "after")

	for _, p := range pods {
		took := ns.waitRunning(p, 2*podStart)
		t.Logf("pod %s Running (%s after the wait began)", p, took.Round(100*time.Millisecond))
		ns.assertFullFromStart(p, want)
	}
	all, err := ns.snapshots("before")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if len(s.files) != len(want.nonEmpty()) {
			t.Errorf("running pod lost files during the restart: at %s it saw %s", s.at.Format(time.TimeOnly), names(s.files))
		}
	}
}

// TestTransientAWSFailure: Secrets Manager failing at a pod's first mount.
// Within the provider's retry budget the pod starts with its files; beyond
// it the pod waits in ContainerCreating with a message that says the failure
// is transient, and starts with its files once AWS recovers. Never Running
// with an empty volume. Serial: faults apply to every caller of the front.
func TestTransientAWSFailure(t *testing.T) {
	f := needFront(t)

	// Within the budget, for each of the two AWS calls of a first mount.
	for _, tc := range []struct {
		name string
		f    fault
	}{
		{"GetSecretValue throttled for less than the retry budget", fault{Operation: "secretsmanager:GetSecretValue",
			Status: 400, Code: "ThrottlingException", Message: "Rate exceeded", For: "4s"}},
		{"STS unavailable for less than the retry budget", fault{Operation: "sts:AssumeRoleWithWebIdentity",
			Status: 503, Code: "ServiceUnavailable", Message: "Service is unavailable", For: "4s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, want, secret := newPMPNamespace(t, "brief")
			ns.wholeSecretClass(secret)
			before := f.count(tc.f.Operation)
			f.inject(tc.f)
			ns.readerPod("reader", "pmp", "pmp")
			took := ns.waitRunning("reader", podStart)
			t.Logf("pod Running %s after creation, through 4 s of %s on %s", took.Round(100*time.Millisecond), tc.f.Code, tc.f.Operation)
			ns.assertFullFromStart("reader", want)
			if calls := f.count(tc.f.Operation) - before; calls < 2 {
				t.Errorf("%s called %d times: the fault was not exercised (want a failed call and a retry)", tc.f.Operation, calls)
			}
		})
	}

	t.Run("GetSecretValue unavailable for longer than the retry budget", func(t *testing.T) {
		ns, want, secret := newPMPNamespace(t, "outage")
		ns.wholeSecretClass(secret)
		f.inject(fault{Operation: "secretsmanager:GetSecretValue", Status: 503, Code: "ServiceUnavailable",
			Message: "Service is unavailable", For: "5m"})
		ns.readerPod("reader", "pmp", "pmp")
		ns.assertFailedMount("reader", secret, "transient")
		// The kubelet retries: the pod must keep waiting, not start empty.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
			ns.assertContainerCreating("reader")
		}
		f.clear()
		cleared := time.Now()
		ns.waitRunning("reader", 2*podStart)
		t.Logf("pod Running %s after the outage ended", time.Since(cleared).Round(100*time.Millisecond))
		ns.assertFullFromStart("reader", want)
	})
}
