//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
)

// examplesDir is the repository's examples/, seen from the e2e package.
const examplesDir = "../examples"

// readManifests returns the objects of a YAML file of one or more documents.
func readManifests(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(obj) > 0 {
			out = append(out, &unstructured.Unstructured{Object: obj})
		}
	}
}

// dryRunCreate asks the API server to create every object without storing
// it, with strict field validation: an unknown or misplaced field, a wrong
// type or a failed admission is an error. Namespaced objects go into ns, so
// that the namespace exists for admission.
func dryRunCreate(t *testing.T, ns string, objs []*unstructured.Unstructured) []error {
	t.Helper()
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(kube.Discovery()))
	var errs []error
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: no such API on this cluster: %w", gvk.Kind, u.GetName(), err))
			continue
		}
		opts := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: metav1.FieldValidationStrict}
		obj := u.DeepCopy()
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			obj.SetNamespace(ns)
			_, err = dyn.Resource(m.Resource).Namespace(ns).Create(context.Background(), obj, opts)
		} else {
			_, err = dyn.Resource(m.Resource).Create(context.Background(), obj, opts)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", gvk.Kind, u.GetName(), err))
		}
	}
	return errs
}

// TestExamplesAcceptedByAPIServer: every object in examples/ is one the
// real kube-apiserver accepts as written (server-side dry run, strict field
// validation), the SecretProviderClasses against the driver's own CRD.
func TestExamplesAcceptedByAPIServer(t *testing.T) {
	t.Parallel()
	ns := newNS(t)
	paths, _ := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	n := 0
	for _, p := range paths {
		objs := readManifests(t, p)
		n += len(objs)
		for _, err := range dryRunCreate(t, ns.name, objs) {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
	}
	if n < 4 {
		t.Errorf("dry-ran %d objects from %d files of examples/, want at least the ServiceAccount, the Deployment and two classes", n, len(paths))
	}
}

// TestPMPExampleDeployment: the PMP Deployment of examples/, with its
// SecretProviderClass, applied as a user applies them, only the namespace,
// role, secret, region and image replaced by the test's (and a short
// termination grace period). The
// controller-manager creates its pod, the scheduler places it, and the pod
// reads every stored credential as its own file; the credential the class
// syncs is in the Secret it names.
func TestPMPExampleDeployment(t *testing.T) {
	t.Parallel()
	ns := newNS(t)
	stored := sampleSecret("example")
	stored["Email.SMTPPassword"] = "smtp-example" // the class syncs it into the Secret pmp-smtp
	secret := ns.createSecret("", stored.json())
	deploy := ns.applyExamples(pmpExample{secret: secret})

	pod, took := ns.waitDeploymentPod(deploy, podStart)
	t.Logf("Deployment %s: pod %s Running on %s after %s", deploy.Name, pod.Name, pod.Spec.NodeName, took.Round(100*time.Millisecond))

	// The example's own command lists the volume.
	want := stored.nonEmpty()
	wantNames := make([]string, 0, len(want))
	for k := range want {
		wantNames = append(wantNames, k)
	}
	sort.Strings(wantNames)
	var listed []string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		raw, err := kube.CoreV1().Pods(ns.name).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ns.ctx)
		if err == nil && len(raw) > 0 {
			listed = strings.Fields(string(raw))
			break
		}
	}
	if d := cmp.Diff(wantNames, listed); d != "" {
		t.Errorf("the example's `ls /mnt/pmp` (-stored credentials +listed):\n%s", d)
	}

	// Read every file from inside the pod.
	c := pod.Spec.Containers[0]
	if len(c.VolumeMounts) == 0 {
		t.Fatalf("container %s mounts no volume", c.Name)
	}
	out, err := ns.exec(pod.Name, c.Name, "sh", "-c", "cd "+c.VolumeMounts[0].MountPath+" && echo '=== begin 0' && "+listScript+" && echo '=== end'")
	if err != nil {
		t.Fatalf("reading the volume in pod %s: %v", pod.Name, err)
	}
	snaps, err := parseSnapshots(out)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("reading the volume in pod %s: %v (%d listings in %q)", pod.Name, err, len(snaps), out)
	}
	if d := cmp.Diff(want, contentsOf(snaps[0])); d != "" {
		t.Errorf("files in the Deployment's pod (-stored +mounted):\n%s", d)
	}
	for name, f := range snaps[0].files {
		if f.mode != "440" {
			t.Errorf("%s has mode %s, want 440 (the class's filePermission: \"0440\")", name, f.mode)
		}
	}

	if _, err := ns.waitSecret("pmp-smtp", 60*time.Second, func(d map[string][]byte) bool {
		return string(d["Email.SMTPPassword"]) == stored["Email.SMTPPassword"]
	}); err != nil {
		t.Errorf("the class's secretObjects: %v", err)
	}
}

// pmpExample says what applyExamples changes in examples/pmp-deployment.yaml
// and examples/pmp-secretproviderclass.yaml beyond what it always replaces
// (the namespace, role, secret, region, image and grace period).
type pmpExample struct {
	secret string // the secret the class reads, instead of PMP-Production-Credentials
	role   string // the service account's role; default cfg.roleARN
	// Each edits its object, when set: a user's mistake.
	serviceAccount func(*corev1.ServiceAccount)
	deployment     func(*appsv1.Deployment)
	objects        func(string) string // the class's objects parameter
	parameters     map[string]string   // more class parameters (usePodIdentity)
}

// applyExamples creates the examples' ServiceAccount, Deployment and
// SecretProviderClass in the namespace, as a user applies them, with the
// test's namespace, role, secret, region and image (and a short
// termination grace period), and returns the Deployment.
func (ns *testNS) applyExamples(x pmpExample) *appsv1.Deployment {
	ns.t.Helper()
	if x.role == "" {
		x.role = cfg.roleARN
	}
	const (
		exampleNS     = "pmp"
		exampleSecret = "PMP-Production-Credentials"
		roleKey       = "eks.amazonaws.com/role-arn"
	)

	var deploy *appsv1.Deployment
	for _, f := range []string{"pmp-deployment.yaml", "pmp-secretproviderclass.yaml"} {
		for _, u := range readManifests(ns.t, filepath.Join(examplesDir, f)) {
			if u.GetNamespace() != exampleNS {
				ns.t.Fatalf("%s: %s %s is in namespace %q, want %s", f, u.GetKind(), u.GetName(), u.GetNamespace(), exampleNS)
			}
			switch u.GetKind() {
			case "ServiceAccount":
				var sa corev1.ServiceAccount
				fromUnstructured(ns.t, u, &sa)
				if sa.Annotations[roleKey] == "" {
					ns.t.Fatalf("%s: ServiceAccount %s has no %s", f, sa.Name, roleKey)
				}
				sa.Namespace, sa.Annotations[roleKey] = ns.name, x.role
				if x.serviceAccount != nil {
					x.serviceAccount(&sa)
				}
				if _, err := kube.CoreV1().ServiceAccounts(ns.name).Create(ns.ctx, &sa, metav1.CreateOptions{}); err != nil {
					ns.t.Fatalf("create ServiceAccount %s: %v", sa.Name, err)
				}
			case "Deployment":
				deploy = &appsv1.Deployment{}
				fromUnstructured(ns.t, u, deploy)
				deploy.Namespace = ns.name
				// busybox's sh ignores SIGTERM: without this the namespace's
				// deletion waits out the default 30 s grace period.
				grace := int64(1)
				deploy.Spec.Template.Spec.TerminationGracePeriodSeconds = &grace
				for i := range deploy.Spec.Template.Spec.Containers {
					c := &deploy.Spec.Template.Spec.Containers[i]
					c.Image, c.ImagePullPolicy = cfg.image, pullPolicy(cfg.image)
				}
				if x.deployment != nil {
					x.deployment(deploy)
				}
				created, err := kube.AppsV1().Deployments(ns.name).Create(ns.ctx, deploy, metav1.CreateOptions{})
				if err != nil {
					ns.t.Fatalf("create Deployment %s: %v", deploy.Name, err)
				}
				deploy = created
			case "SecretProviderClass":
				objects, _, _ := unstructured.NestedString(u.Object, "spec", "parameters", "objects")
				if !strings.Contains(objects, exampleSecret) {
					ns.t.Fatalf("%s: class %s does not read %s", f, u.GetName(), exampleSecret)
				}
				objects = strings.ReplaceAll(objects, exampleSecret, x.secret)
				if x.objects != nil {
					objects = x.objects(objects)
				}
				_ = unstructured.SetNestedField(u.Object, objects, "spec", "parameters", "objects")
				for k, v := range x.parameters {
					_ = unstructured.SetNestedField(u.Object, v, "spec", "parameters", k)
				}
				if _, ok, _ := unstructured.NestedString(u.Object, "spec", "parameters", "region"); ok {
					_ = unstructured.SetNestedField(u.Object, cfg.region, "spec", "parameters", "region")
				}
				u.SetNamespace(ns.name)
				if _, err := dyn.Resource(spcGVR).Namespace(ns.name).Create(ns.ctx, u, metav1.CreateOptions{}); err != nil {
					ns.t.Fatalf("create SecretProviderClass %s: %v", u.GetName(), err)
				}
			default:
				ns.t.Fatalf("%s: a %s; this test knows only the ServiceAccount, Deployment and SecretProviderClass", f, u.GetKind())
			}
		}
	}
	if deploy == nil {
		ns.t.Fatal("examples/pmp-deployment.yaml has no Deployment")
	}
	return deploy
}

func fromUnstructured(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

// waitDeploymentPod waits until the Deployment has an available replica and
// returns its pod, checked to be the controller-manager's (owned by the
// Deployment's ReplicaSet) and placed by the scheduler.
func (ns *testNS) waitDeploymentPod(d *appsv1.Deployment, within time.Duration) (*corev1.Pod, time.Duration) {
	ns.t.Helper()
	start := time.Now()
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		ns.t.Fatal(err)
	}
	var last *corev1.Pod
	for time.Since(start) < within {
		pods, err := kube.CoreV1().Pods(ns.name).List(ns.ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err == nil && len(pods.Items) > 0 {
			last = &pods.Items[0]
			if last.Status.Phase == corev1.PodRunning {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	took := time.Since(start)
	if last == nil || last.Status.Phase != corev1.PodRunning {
		ns.t.Fatalf("Deployment %s: no Running pod after %s: %s", d.Name, within, describePod(last))
	}
	owner := metav1.GetControllerOf(last)
	if owner == nil || owner.Kind != "ReplicaSet" {
		ns.t.Fatalf("pod %s is not a ReplicaSet's (owner %v)", last.Name, owner)
	}
	rs, err := kube.AppsV1().ReplicaSets(ns.name).Get(ns.ctx, owner.Name, metav1.GetOptions{})
	if err != nil {
		ns.t.Fatal(err)
	}
	if o := metav1.GetControllerOf(rs); o == nil || o.Kind != "Deployment" || o.Name != d.Name {
		ns.t.Fatalf("ReplicaSet %s is not the Deployment %s's (owner %v)", rs.Name, d.Name, o)
	}
	scheduled := false
	for _, c := range last.Status.Conditions {
		scheduled = scheduled || c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue
	}
	if !scheduled || last.Spec.NodeName == "" {
		ns.t.Fatalf("pod %s was not placed by the scheduler: %s", last.Name, describePod(last))
	}
	return last, took
}

// exec runs command in a container of the pod, as kubectl exec does, and
// returns its standard output.
func (ns *testNS) exec(pod, container string, command ...string) (string, error) {
	req := kube.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns.name).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(rc, "GET", req.URL().String())
	if err != nil {
		return "", err
	}
	spdy, err := remotecommand.NewSPDYExecutor(rc, "POST", req.URL())
	if err != nil {
		return "", err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ns.ctx, 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}); err != nil {
		return stdout.String(), fmt.Errorf("%v (stderr: %s)", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
