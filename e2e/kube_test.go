//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

var spcGVR = schema.GroupVersionResource{Group: "secrets-store.csi.x-k8s.io", Version: "v1", Resource: "secretproviderclasses"}

// volumeDir is where the reader pods mount the CSI volume.
const volumeDir = "/mnt/pmp"

// testNS is one test's namespace, service account and secret prefix.
type testNS struct {
	t    *testing.T
	ctx  context.Context
	name string
}

// newNS creates a namespace unique to the test and, on cleanup, prints what
// a user would look at when the test failed, then deletes the namespace and
// waits until its pods are gone: the namespace controller deletes them and
// the kubelet unmounts their volumes before the next test or the tear-down.
// The namespace itself goes a few seconds later (the controller's retries
// back off while pods terminate); TestMain waits for every namespace of the
// run to be gone. The controller-manager gives the namespace its default
// service account and kube-root-ca.crt, as on any cluster.
func newNS(t *testing.T) *testNS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := "pmp-e2e-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-") + "-" + hex.EncodeToString(b)
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, name)
	ns := &testNS{t: t, ctx: ctx, name: name}
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	created.Store(name, true)
	t.Cleanup(func() {
		defer cancel()
		if t.Failed() {
			ns.dumpDiagnostics()
		}
		if err := kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete namespace %s: %v", name, err)
			return
		}
		ns.waitPodsGone(2 * time.Minute)
	})
	return ns
}

// created holds the names of the namespaces this run created.
var created sync.Map

// waitPodsGone waits until the namespace's pods are gone, so that their
// volumes are unpublished before the next test or the tear-down.
func (ns *testNS) waitPodsGone(d time.Duration) {
	deadline := time.Now().Add(d)
	var left []string
	for time.Now().Before(deadline) {
		pods, err := kube.CoreV1().Pods(ns.name).List(context.Background(), metav1.ListOptions{})
		if err == nil && len(pods.Items) == 0 {
			return
		}
		left = left[:0]
		if err == nil {
			for i := range pods.Items {
				left = append(left, pods.Items[i].Name)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	ns.t.Errorf("pods of the deleted namespace %s still present after %s: %v", ns.name, d, left)
}

// namespacesGone waits until every namespace this run created is gone and
// returns those still there after d.
func namespacesGone(d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		var left []string
		created.Range(func(k, _ any) bool {
			_, err := kube.CoreV1().Namespaces().Get(context.Background(), k.(string), metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				left = append(left, k.(string))
			}
			return true
		})
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(time.Second)
	}
}

// serviceAccount creates a service account, annotated with the IRSA role
// unless role is empty.
func (ns *testNS) serviceAccount(name, role string) {
	ns.t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns.name}}
	if role != "" {
		sa.Annotations = map[string]string{"eks.amazonaws.com/role-arn": role}
	}
	if _, err := kube.CoreV1().ServiceAccounts(ns.name).Create(ns.ctx, sa, metav1.CreateOptions{}); err != nil {
		ns.t.Fatalf("create service account: %v", err)
	}
}

// spc describes a SecretProviderClass.
type spc struct {
	name          string
	objects       any // marshalled to the YAML of the objects parameter, or a raw string
	region        string
	parameters    map[string]string // further parameters (ascpCompat, failoverRegion, ...)
	secretObjects []map[string]any
}

func (ns *testNS) secretProviderClass(s spc) {
	ns.t.Helper()
	objects, ok := s.objects.(string)
	if !ok {
		b, err := yaml.Marshal(s.objects)
		if err != nil {
			ns.t.Fatal(err)
		}
		objects = string(b)
	}
	params := map[string]any{"objects": objects}
	if s.region != "" {
		params["region"] = s.region
	}
	for k, v := range s.parameters {
		params[k] = v
	}
	spec := map[string]any{"provider": cfg.spcProvider, "parameters": params}
	if len(s.secretObjects) > 0 {
		so := make([]any, len(s.secretObjects))
		for i := range s.secretObjects {
			so[i] = s.secretObjects[i]
		}
		spec["secretObjects"] = so
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "secrets-store.csi.x-k8s.io/v1",
		"kind":       "SecretProviderClass",
		"metadata":   map[string]any{"name": s.name, "namespace": ns.name},
		"spec":       spec,
	}}
	if _, err := dyn.Resource(spcGVR).Namespace(ns.name).Create(ns.ctx, u, metav1.CreateOptions{}); err != nil {
		ns.t.Fatalf("create SecretProviderClass: %v", err)
	}
}

// listScript prints the volume's files, one line each:
//
//	F <octal mode> <path> <base64 contents>
//
// The driver's own entries (..data, ..<timestamp>) are skipped.
const listScript = `find -L . -path './..*' -prune -o -type f -print | sort | while read -r f; do
    echo "F $(stat -L -c %a "$f") ${f#./} $(base64 -w 0 "$f")"
  done`

// readerScript prints a snapshot of the volume when it changes, and once at
// start (so an empty first volume shows as an empty snapshot):
//
//	=== begin <unix seconds>
//	<listScript's lines>
//	=== end
const readerScript = `cd ` + volumeDir + ` || exit 1
prev=x
while :; do
  cur=$(` + listScript + `)
  if [ "$cur" != "$prev" ]; then
    echo "=== begin $(date +%s)"
    [ -n "$cur" ] && echo "$cur"
    echo "=== end"
    prev=$cur
  fi
  sleep 0.5
done`

// readerPod creates a busybox pod that mounts the SecretProviderClass as a
// CSI inline volume and prints snapshots of it. The scheduler places it on
// the suite's node.
func (ns *testNS) readerPod(name, serviceAccount, spcName string) {
	ns.t.Helper()
	grace := int64(1)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns.name},
		Spec: corev1.PodSpec{
			Affinity:                      onNode(cfg.node),
			ServiceAccountName:            serviceAccount,
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name:            "reader",
				Image:           cfg.image,
				ImagePullPolicy: pullPolicy(cfg.image),
				Command:         []string{"/bin/sh", "-c", readerScript},
				VolumeMounts:    []corev1.VolumeMount{{Name: "pmp", MountPath: volumeDir, ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{
				Name: "pmp",
				VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
					Driver:           cfg.csiDriverName,
					ReadOnly:         &[]bool{true}[0],
					VolumeAttributes: map[string]string{"secretProviderClass": spcName},
				}},
			}},
		},
	}
	if _, err := kube.CoreV1().Pods(ns.name).Create(ns.ctx, pod, metav1.CreateOptions{}); err != nil {
		ns.t.Fatalf("create pod %s: %v", name, err)
	}
}

// onNode is the affinity that makes the scheduler place a pod on the node
// named node, as a DaemonSet's pods are placed.
func onNode(node string) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{
				Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{node},
			}}}},
		},
	}}
}

// waitRunning waits until the pod's container runs and returns how long that took.
func (ns *testNS) waitRunning(name string, d time.Duration) time.Duration {
	ns.t.Helper()
	start := time.Now()
	var last *corev1.Pod
	for time.Since(start) < d {
		p, err := kube.CoreV1().Pods(ns.name).Get(ns.ctx, name, metav1.GetOptions{})
		if err == nil {
			last = p
			if p.Status.Phase == corev1.PodRunning {
				return time.Since(start)
			}
			if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
				ns.t.Fatalf("pod %s ended: %s", name, describePod(p))
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	ns.t.Fatalf("pod %s not Running after %s: %s", name, d, describePod(last))
	return 0
}

// assertContainerCreating fails unless the pod is still waiting for its volume.
func (ns *testNS) assertContainerCreating(name string) {
	ns.t.Helper()
	p, err := kube.CoreV1().Pods(ns.name).Get(ns.ctx, name, metav1.GetOptions{})
	if err != nil {
		ns.t.Fatal(err)
	}
	if p.Status.Phase != corev1.PodPending {
		ns.t.Fatalf("pod %s is %s, want Pending (ContainerCreating): %s", name, p.Status.Phase, describePod(p))
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running != nil || cs.State.Terminated != nil {
			ns.t.Fatalf("container %s of %s started without its volume: %s", cs.Name, name, describePod(p))
		}
		if cs.State.Waiting != nil && cs.State.Waiting.Reason != "ContainerCreating" {
			ns.t.Fatalf("container %s of %s waits for %s, want ContainerCreating", cs.Name, name, cs.State.Waiting.Reason)
		}
	}
}

// pullPolicy is Never for the images the cluster scripts load (no registry
// there) and IfNotPresent for an image named by PMP_E2E_IMAGE elsewhere.
func pullPolicy(image string) corev1.PullPolicy {
	if strings.HasPrefix(image, "pmp-e2e.local/") {
		return corev1.PullNever
	}
	return corev1.PullIfNotPresent
}

func describePod(p *corev1.Pod) string {
	if p == nil {
		return "<no pod>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s", p.Status.Phase)
	for _, c := range p.Status.Conditions {
		fmt.Fprintf(&b, " %s=%s", c.Type, c.Status)
	}
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.State.Waiting != nil:
			fmt.Fprintf(&b, " %s:Waiting(%s)", cs.Name, cs.State.Waiting.Reason)
		case cs.State.Running != nil:
			fmt.Fprintf(&b, " %s:Running", cs.Name)
		case cs.State.Terminated != nil:
			fmt.Fprintf(&b, " %s:Terminated(%s,%d)", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode)
		}
	}
	return b.String()
}

// file is one file of the volume as the pod sees it.
type file struct {
	mode     string // octal, as stat %a prints it
	contents string
}

// snapshot is the volume at one moment, as the pod printed it.
type snapshot struct {
	at    time.Time
	files map[string]file
}

// snapshots parses every complete snapshot the reader pod has printed.
func (ns *testNS) snapshots(pod string) ([]snapshot, error) {
	raw, err := kube.CoreV1().Pods(ns.name).GetLogs(pod, &corev1.PodLogOptions{}).DoRaw(ns.ctx)
	if err != nil {
		return nil, err
	}
	return parseSnapshots(string(raw))
}

// parseSnapshots parses readerScript's output.
func parseSnapshots(raw string) ([]snapshot, error) {
	var out []snapshot
	var cur *snapshot
	sc := bufio.NewScanner(strings.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "=== begin "):
			sec, _ := strconv.ParseInt(strings.TrimPrefix(line, "=== begin "), 10, 64)
			cur = &snapshot{at: time.Unix(sec, 0), files: map[string]file{}}
		case line == "=== end" && cur != nil:
			out = append(out, *cur)
			cur = nil
		case strings.HasPrefix(line, "F ") && cur != nil:
			parts := strings.SplitN(line, " ", 4)
			if len(parts) < 3 {
				return nil, fmt.Errorf("bad reader line %q", line)
			}
			var contents []byte
			if len(parts) == 4 {
				var err error
				if contents, err = base64.StdEncoding.DecodeString(parts[3]); err != nil {
					return nil, fmt.Errorf("bad reader line %q: %v", line, err)
				}
			}
			cur.files[parts[2]] = file{mode: parts[1], contents: string(contents)}
		}
	}
	return out, sc.Err()
}

// firstSnapshot is what the pod saw when its container started.
func (ns *testNS) firstSnapshot(pod string) snapshot {
	ns.t.Helper()
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		s, err := ns.snapshots(pod)
		if err == nil && len(s) > 0 {
			return s[0]
		}
		last = err
	}
	ns.t.Fatalf("no snapshot from pod %s: %v", pod, last)
	return snapshot{}
}

// waitSnapshot waits for a snapshot that satisfies ok and returns it.
func (ns *testNS) waitSnapshot(pod string, d time.Duration, ok func(snapshot) bool) (snapshot, error) {
	deadline := time.Now().Add(d)
	for {
		s, err := ns.snapshots(pod)
		if err == nil {
			for _, sn := range s {
				if ok(sn) {
					return sn, nil
				}
			}
		}
		if time.Now().After(deadline) {
			if len(s) > 0 {
				return snapshot{}, fmt.Errorf("no matching snapshot in %s; the last one (%s) has %v", d,
					s[len(s)-1].at.Format(time.TimeOnly), contentsOf(s[len(s)-1]))
			}
			return snapshot{}, fmt.Errorf("no matching snapshot in %s (%v)", d, err)
		}
		time.Sleep(time.Second)
	}
}

func names[V any](m map[string]V) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return "[" + strings.Join(ks, " ") + "]"
}

// waitEvent waits for an event about the object whose reason is reason and
// whose message contains every one of want; it returns the message.
func (ns *testNS) waitEvent(object, reason string, d time.Duration, want ...string) string {
	ns.t.Helper()
	deadline := time.Now().Add(d)
	var seen []string
	for time.Now().Before(deadline) {
		evs, err := kube.CoreV1().Events(ns.name).List(ns.ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + object})
		if err == nil {
			seen = seen[:0]
			for _, e := range evs.Items {
				if e.Reason != reason {
					continue
				}
				seen = append(seen, e.Message)
				if containsAll(e.Message, want) {
					return e.Message
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	ns.t.Fatalf("no %s event for %s containing %q within %s; saw:\n  %s", reason, object, want, d, strings.Join(seen, "\n  "))
	return ""
}

func containsAll(s string, subs []string) bool {
	for _, w := range subs {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// waitSecret waits until the Secret exists and satisfies ok.
func (ns *testNS) waitSecret(name string, d time.Duration, ok func(map[string][]byte) bool) (*corev1.Secret, error) {
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		s, err := kube.CoreV1().Secrets(ns.name).Get(ns.ctx, name, metav1.GetOptions{})
		switch {
		case err == nil && ok(s.Data):
			return s, nil
		case err == nil:
			last = fmt.Errorf("secret %s has keys %s", name, names(s.Data))
		case apierrors.IsNotFound(err):
			last = fmt.Errorf("secret %s does not exist", name)
		default:
			last = err
		}
		time.Sleep(500 * time.Millisecond)
	}
	return nil, errors.Join(fmt.Errorf("secret %s not as expected after %s", name, d), last)
}

// dumpDiagnostics prints what `kubectl describe` and the component logs show.
func (ns *testNS) dumpDiagnostics() {
	t := ns.t
	ctx := context.Background()
	if pods, err := kube.CoreV1().Pods(ns.name).List(ctx, metav1.ListOptions{}); err == nil {
		for i := range pods.Items {
			t.Logf("pod %s/%s: %s", ns.name, pods.Items[i].Name, describePod(&pods.Items[i]))
		}
	}
	if evs, err := kube.CoreV1().Events(ns.name).List(ctx, metav1.ListOptions{}); err == nil {
		sort.Slice(evs.Items, func(i, j int) bool { return eventTime(evs.Items[i]).Before(eventTime(evs.Items[j])) })
		var b strings.Builder
		fmt.Fprintf(&b, "events in %s:\n  %-8s %-7s %-22s %-28s %s\n", ns.name, "AGE", "TYPE", "REASON", "OBJECT", "MESSAGE")
		for _, e := range evs.Items {
			fmt.Fprintf(&b, "  %-8s %-7s %-22s %-28s %s (x%d)\n", time.Since(eventTime(e)).Round(time.Second), e.Type, e.Reason,
				strings.ToLower(e.InvolvedObject.Kind)+"/"+e.InvolvedObject.Name, e.Message, max(e.Count, 1))
		}
		t.Log(b.String())
	}
	for _, l := range []struct {
		what, path string
		hits, tail int
	}{{"provider", cfg.providerLog, 60, 30}, {"driver", cfg.driverLog, 40, 20}, {"kubelet", cfg.kubeletLog, 15, 0}} {
		if l.path != "" {
			t.Logf("%s log (%s): the last %d lines naming %s, then its last %d lines:\n%s",
				l.what, l.path, l.hits, ns.name, l.tail, logExcerpt(l.path, ns.name, l.hits, l.tail))
		}
	}
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// logExcerpt returns the last hits lines that mention needle and the last
// tail lines of the file at path, or of every file matching the glob path
// (oldest first: a DaemonSet pod's log and its replacement's).
func logExcerpt(path, needle string, hits, tail int) string {
	paths, err := filepath.Glob(path)
	if err != nil || len(paths) == 0 {
		return fmt.Sprintf("no file matches %s", path)
	}
	mtime := func(p string) time.Time {
		fi, err := os.Stat(p)
		if err != nil {
			return time.Time{}
		}
		return fi.ModTime()
	}
	sort.SliceStable(paths, func(i, j int) bool { return mtime(paths[i]).Before(mtime(paths[j])) })
	var lines []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return err.Error()
		}
		lines = append(lines, strings.Split(strings.TrimRight(string(b), "\n"), "\n")...)
	}
	var found []string
	for _, l := range lines {
		if strings.Contains(l, needle) {
			found = append(found, l)
		}
	}
	found = found[len(found)-min(hits, len(found)):]
	lines = lines[len(lines)-min(tail, len(lines)):]
	return "  " + strings.Join(found, "\n  ") + "\n  ---- last lines ----\n  " + strings.Join(lines, "\n  ")
}
