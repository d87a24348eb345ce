//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The tests here need the provider installed by its chart, as the DaemonSet
// PMP_E2E_PROVIDER_DAEMONSET; they show what only such an install can.

// needDaemonSet skips a test unless the provider runs as a DaemonSet, and
// returns it.
func needDaemonSet(t *testing.T) *appsv1.DaemonSet {
	t.Helper()
	if cfg.daemonSet == "" {
		t.Skip("PMP_E2E_PROVIDER_DAEMONSET is not set: this test needs the provider installed by its chart (namespace/name of its DaemonSet)")
	}
	ns, name, ok := strings.Cut(cfg.daemonSet, "/")
	if !ok {
		t.Fatalf("PMP_E2E_PROVIDER_DAEMONSET=%q, want namespace/name", cfg.daemonSet)
	}
	ds, err := kube.AppsV1().DaemonSets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the provider's DaemonSet %s: %v", cfg.daemonSet, err)
	}
	return ds
}

// providerPod returns the DaemonSet's pod on the suite's node.
func providerPod(t *testing.T, ds *appsv1.DaemonSet) *corev1.Pod {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	pods, err := kube.CoreV1().Pods(ds.Namespace).List(context.Background(), metav1.ListOptions{
		LabelSelector: sel.String(), FieldSelector: "spec.nodeName=" + cfg.node})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pods.Items {
		if pods.Items[i].DeletionTimestamp == nil {
			return &pods.Items[i]
		}
	}
	t.Fatalf("no pod of the DaemonSet %s on node %s", cfg.daemonSet, cfg.node)
	return nil
}

func runCmd(t *testing.T, what, cmd string) {
	t.Helper()
	start := time.Now()
	out, err := exec.Command("sh", "-c", cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("%s (%s): %v: %s", what, cmd, err, out)
	}
	t.Logf("%s took %s", what, time.Since(start).Round(100*time.Millisecond))
}

// TestChartManifestsAcceptedByAPIServer: what the chart renders, with its
// defaults and with a non-default set of values, is accepted by the real
// kube-apiserver (server-side dry run, strict field validation).
func TestChartManifestsAcceptedByAPIServer(t *testing.T) {
	if cfg.chartManifests == "" {
		t.Skip("PMP_E2E_CHART_MANIFESTS is not set: the glob of the YAML files helm template rendered from the chart")
	}
	t.Parallel()
	paths, err := filepath.Glob(cfg.chartManifests)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no file matches PMP_E2E_CHART_MANIFESTS=%s (%v)", cfg.chartManifests, err)
	}
	ns := newNS(t)
	for _, p := range paths {
		objs := readManifests(t, p)
		kinds := map[string]bool{}
		for _, o := range objs {
			kinds[o.GetKind()] = true
		}
		for _, k := range []string{"DaemonSet", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"} {
			if !kinds[k] {
				t.Errorf("%s renders no %s", filepath.Base(p), k)
			}
		}
		for _, err := range dryRunCreate(t, ns.name, objs) {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
	}
}

// TestProviderPodHardened: the running provider pod has the chart's
// hardening, read back through the API, and the kernel applies it to the
// provider's process: no capability in any set, no_new_privs, a seccomp
// filter, a read-only root filesystem, the user the chart documents.
// Serial: it adds an ephemeral container to the provider's pod.
func TestProviderPodHardened(t *testing.T) {
	ds := needDaemonSet(t)
	pod := providerPod(t, ds)

	// As the API server has the running pod.
	var problems []string
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		problems = append(problems, "pod seccompProfile is not RuntimeDefault")
	}
	if pod.Spec.HostPID || pod.Spec.HostIPC {
		problems = append(problems, "hostPID or hostIPC")
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want the provider alone", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	sc := c.SecurityContext
	switch {
	case sc == nil:
		problems = append(problems, "no container securityContext")
	default:
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			problems = append(problems, "root filesystem writable")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			problems = append(problems, "allowPrivilegeEscalation not false")
		}
		if sc.Privileged != nil && *sc.Privileged {
			problems = append(problems, "privileged")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			problems = append(problems, fmt.Sprintf("capabilities %+v, want drop [ALL] and no add", sc.Capabilities))
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil && len(c.VolumeMounts) > 0 && !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == v.Name && m.MountPath == v.HostPath.Path
		}) {
			problems = append(problems, "host path "+v.HostPath.Path+" mounted elsewhere than the providers directory")
		}
	}
	if ready := slices.ContainsFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool {
		return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
	}); !ready {
		problems = append(problems, "the pod is not Ready: "+describePod(pod))
	}
	for _, p := range problems {
		t.Errorf("provider pod %s/%s: %s", pod.Namespace, pod.Name, p)
	}

	// As the kernel has the provider's process: an ephemeral container in
	// the provider container's PID namespace reads PID 1, the provider.
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := "check-" + hex.EncodeToString(b)
	pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
		TargetContainerName: c.Name,
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: name, Image: cfg.image, ImagePullPolicy: pullPolicy(cfg.image),
			Command: []string{"/bin/sh", "-c", `grep -E '^(Uid|Gid|Cap[A-Za-z]+|NoNewPrivs|Seccomp):' /proc/1/status; ` +
				`awk '$5 == "/" { print "RootMount:", $6 }' /proc/1/mountinfo; tr '\0' ' ' </proc/1/cmdline; echo`},
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := kube.CoreV1().Pods(pod.Namespace).UpdateEphemeralContainers(ctx, pod.Name, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("adding an ephemeral container to %s: %v", pod.Name, err)
	}
	var done bool
	for !done {
		p, err := kube.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range p.Status.EphemeralContainerStatuses {
			done = done || st.Name == name && st.State.Terminated != nil
		}
		if ctx.Err() != nil {
			t.Fatalf("the ephemeral container %s did not finish: %+v", name, p.Status.EphemeralContainerStatuses)
		}
		time.Sleep(300 * time.Millisecond)
	}
	raw, err := kube.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: name}).DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && !strings.Contains(k, " ") {
			got[k] = strings.Join(strings.Fields(v), " ")
		} else {
			got["cmdline"] = l
		}
	}
	t.Logf("PID 1 of the provider container: %s", got["cmdline"])
	if !strings.Contains(got["cmdline"], "--provider-dir=") {
		t.Fatalf("PID 1 of the provider container is not the provider: %q", raw)
	}
	none := "0000000000000000"
	want := map[string]string{
		"CapInh": none, "CapPrm": none, "CapEff": none, "CapBnd": none, "CapAmb": none,
		"NoNewPrivs": "1", // allowPrivilegeEscalation: false
		"Seccomp":    "2", // a filter: RuntimeDefault
	}
	if psc != nil && psc.RunAsUser != nil {
		id := fmt.Sprint(*psc.RunAsUser)
		want["Uid"] = strings.Join([]string{id, id, id, id}, " ")
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("provider process %s: %q, want %q", k, got[k], v)
		}
	}
	if opts := got["RootMount"]; opts != "ro" && !strings.HasPrefix(opts, "ro,") {
		t.Errorf("provider process's root filesystem is mounted %q, want read-only", opts)
	}
}

// TestUninstallLeavesNoSocket: helm uninstall removes the provider's pod
// (the garbage collector deletes the DaemonSet's pods) and its socket, and
// its ServiceAccount; a running workload keeps its files meanwhile; after a
// new install, new pods mount again. Serial: no provider runs for a while.
func TestUninstallLeavesNoSocket(t *testing.T) {
	ds := needDaemonSet(t)
	if cfg.uninstallCmd == "" || cfg.installCmd == "" {
		t.Skip("PMP_E2E_PROVIDER_UNINSTALL and PMP_E2E_PROVIDER_INSTALL are not both set")
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	ns, want, secret := newPMPNamespace(t, "uninstall")
	ns.wholeSecretClass(secret)
	ns.readerPod("before", "pmp", "pmp")
	ns.waitRunning("before", podStart)
	if cfg.socket != "" {
		if _, err := os.Stat(cfg.socket); err != nil {
			t.Fatalf("the provider's socket before uninstalling: %v", err)
		}
	}

	installed := false
	t.Cleanup(func() {
		if !installed {
			out, err := exec.Command("sh", "-c", cfg.installCmd).CombinedOutput()
			if err != nil {
				t.Errorf("reinstalling the provider: %v: %s", err, out)
			}
		}
	})
	runCmd(t, "uninstall", cfg.uninstallCmd)

	ctx := context.Background()
	if _, err := kube.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the DaemonSet %s after uninstall: %v, want not found", cfg.daemonSet, err)
	}
	pods, err := kube.CoreV1().Pods(ds.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pods.Items {
		t.Errorf("pod %s of the uninstalled DaemonSet is left: %s", pods.Items[i].Name, describePod(&pods.Items[i]))
	}
	if sa := ds.Spec.Template.Spec.ServiceAccountName; sa != "" {
		if _, err := kube.CoreV1().ServiceAccounts(ds.Namespace).Get(ctx, sa, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the provider's ServiceAccount %s after uninstall: %v, want not found", sa, err)
		}
	}
	if cfg.socket != "" {
		if _, err := os.Lstat(cfg.socket); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the provider's socket %s after uninstall: %v, want it gone", cfg.socket, err)
		}
	} else {
		t.Log("PMP_E2E_PROVIDER_SOCKET is not set: the socket's removal is not checked")
	}
	// The mounted volume is the kubelet's, not the provider's.
	all, err := ns.snapshots("before")
	if err != nil {
		t.Fatal(err)
	}
	if got := contentsOf(all[len(all)-1]); len(got) != len(want.nonEmpty()) {
		t.Errorf("running pod without a provider sees %s, want its %d files", names(got), len(want.nonEmpty()))
	}

	runCmd(t, "install", cfg.installCmd)
	installed = true
	ns.readerPod("after", "pmp", "pmp")
	ns.waitRunning("after", podStart)
	ns.assertFullFromStart("after", want)
}
