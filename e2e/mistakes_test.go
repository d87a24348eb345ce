//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
)

// mountFailure bounds how long a failing mount takes to show its event.
const mountFailure = 60 * time.Second

// transientCodes are the gRPC codes on which the kubelet keeps a first
// mount's target directory, so that the driver's next NodePublishVolume
// skips the provider and the pod starts with an empty volume (see
// docs/troubleshooting.md). A provider must never end a first mount with one.
var transientCodes = []string{"Unavailable", "DeadlineExceeded", "ResourceExhausted", "Aborted", "Canceled"}

// assertFailedMount waits for the pod's FailedMount event carrying every
// string of want, checks the pod still waits in ContainerCreating and that
// the code is final, and returns the event's message.
func (ns *testNS) assertFailedMount(pod string, want ...string) string {
	ns.t.Helper()
	msg := ns.waitEvent(pod, "FailedMount", mountFailure, want...)
	ns.t.Logf("FailedMount: %s", msg)
	for _, c := range transientCodes {
		if strings.Contains(msg, "code = "+c) {
			ns.t.Errorf("the mount failed with the transient code %s: the pod could start with an empty volume", c)
		}
	}
	ns.assertContainerCreating(pod)
	return msg
}

// TestUserMistakes: the mistakes a user makes leave the pod in
// ContainerCreating with the provider's actionable message in its
// FailedMount event.
func TestUserMistakes(t *testing.T) {
	t.Parallel()
	t.Run("service account without role annotation", func(t *testing.T) {
		t.Parallel()
		ns := newNS(t)
		secret := ns.createSecret("", sampleSecret("sa").json())
		ns.serviceAccount("no-role", "")
		ns.wholeSecretClass(secret)
		ns.readerPod("reader", "no-role", "pmp")
		ns.assertFailedMount("reader", "service account "+ns.name+"/no-role", "eks.amazonaws.com/role-arn")
	})
	t.Run("secret that does not exist", func(t *testing.T) {
		t.Parallel()
		ns := newNS(t)
		ns.serviceAccount("pmp", cfg.roleARN)
		missing := "PMP-" + ns.name + "-missing"
		ns.secretProviderClass(spc{name: "pmp", objects: []map[string]any{{"objectName": missing}}})
		ns.readerPod("reader", "pmp", "pmp")
		ns.assertFailedMount("reader", missing, "not found")
	})
	t.Run("malformed objects parameter", func(t *testing.T) {
		t.Parallel()
		ns := newNS(t)
		ns.serviceAccount("pmp", cfg.roleARN)
		// A flow mapping left open: not YAML.
		ns.secretProviderClass(spc{name: "pmp", objects: "- {objectName: PMP-x, filePermission: \"0400\"\n"})
		ns.readerPod("reader", "pmp", "pmp")
		ns.assertFailedMount("reader", "objects")
	})
	t.Run("bad file permission", func(t *testing.T) {
		t.Parallel()
		ns := newNS(t)
		ns.serviceAccount("pmp", cfg.roleARN)
		ns.secretProviderClass(spc{name: "pmp", objects: []map[string]any{{"objectName": "PMP-x", "filePermission": "rw-r--r--"}}})
		ns.readerPod("reader", "pmp", "pmp")
		ns.assertFailedMount("reader", "filePermission")
	})
}

// csiDriverEdit changes the cluster's CSIDriver object for one test and
// restores its token settings when the test ends. Tests that call it must
// not run in parallel with others.
func csiDriverEdit(t *testing.T, edit func(*storagev1.CSIDriverSpec)) {
	t.Helper()
	if cfg.noClusterEdits {
		t.Skip("PMP_E2E_NO_CLUSTER_EDITS=1: this test edits the cluster-wide CSIDriver for a few seconds")
	}
	ctx := context.Background()
	drivers := kube.StorageV1().CSIDrivers()
	orig, err := drivers.Get(ctx, cfg.csiDriverName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := func(f func(*storagev1.CSIDriverSpec)) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d, err := drivers.Get(ctx, cfg.csiDriverName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			f(&d.Spec)
			_, err = drivers.Update(ctx, d, metav1.UpdateOptions{})
			return err
		})
	}
	t.Cleanup(func() {
		err := set(func(s *storagev1.CSIDriverSpec) {
			s.TokenRequests = orig.Spec.TokenRequests
			s.ServiceAccountTokenInSecrets = orig.Spec.ServiceAccountTokenInSecrets
			s.RequiresRepublish = orig.Spec.RequiresRepublish
		})
		if err != nil {
			t.Errorf("restoring CSIDriver %s: %v", cfg.csiDriverName, err)
		}
		time.Sleep(2 * time.Second) // the kubelet's informer
	})
	if err := set(edit); err != nil {
		t.Fatalf("editing CSIDriver %s: %v", cfg.csiDriverName, err)
	}
	time.Sleep(2 * time.Second) // the kubelet's informer
}

// TestCSIDriverWithoutTokenRequest: a CSIDriver installed without the
// sts.amazonaws.com token request fails every mount with the fix, and
// doctor says so with the same fix. Serial: it edits the cluster's
// CSIDriver (and restores it).
func TestCSIDriverWithoutTokenRequest(t *testing.T) {
	ns, stored, secret := newPMPNamespace(t, "tok")
	ns.wholeSecretClass(secret)
	csiDriverEdit(t, func(s *storagev1.CSIDriverSpec) {
		s.TokenRequests = nil
		s.ServiceAccountTokenInSecrets = nil
	})
	ns.readerPod("reader", "pmp", "pmp")
	ns.assertFailedMount("reader", "tokenRequests", "sts.amazonaws.com")

	d := ns.doctor(stored, "--service-account", "pmp", "--class", "pmp")
	d.finding(t, "csidriver", report.Error,
		"CSIDriver secrets-store.csi.k8s.io: it requests no service-account token for audience sts.amazonaws.com, so pods get no IRSA token and every Mount fails",
		"tokenRequests: [{audience: sts.amazonaws.com}]", "--set tokenRequests[0].audience=sts.amazonaws.com")
	// doctor requests its own token: the rest of the chain still runs.
	if d.step("mount", report.OK) == nil {
		t.Errorf("the IRSA chain did not run to the Mount: %s", d.statuses())
	}
}

// TestTokenInVolumeAttributes: with serviceAccountTokenInSecrets: false (a
// CSIDriver from before Kubernetes 1.35) the token arrives in the volume
// attributes, and mounts still work. Serial: it edits the cluster's CSIDriver.
func TestTokenInVolumeAttributes(t *testing.T) {
	ns, want, secret := newPMPNamespace(t, "attr")
	ns.wholeSecretClass(secret)
	no := false
	csiDriverEdit(t, func(s *storagev1.CSIDriverSpec) { s.ServiceAccountTokenInSecrets = &no })
	ns.readerPod("reader", "pmp", "pmp")
	ns.waitRunning("reader", podStart)
	if got := contentsOf(ns.firstSnapshot("reader")); len(got) != len(want.nonEmpty()) {
		t.Errorf("mounted %s, want %s", names(got), names(want.nonEmpty()))
	}
}
