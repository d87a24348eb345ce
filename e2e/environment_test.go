//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mendixenv"
)

// envApp is the environment's internal name: its MendixApp's name, and the
// name of its ServiceAccount, SecretProviderClass and Deployment.
const envApp = "my-app"

var (
	crdGVR       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	mendixAppGVR = schema.GroupVersionResource{Group: "privatecloud.mendix.com", Version: "v1alpha1", Resource: "mendixapps"}
	saGVR        = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
)

// standInLabel marks the suite's stand-in MendixApp CRD, so that the
// suite never deletes a CRD it did not create.
const standInLabel = "pmp-e2e.local/stand-in"

// installMendixAppCRD installs a stand-in for the Mendix Operator's
// MendixApp CRD, removed when the test ends. It is NOT Mendix's own CRD:
// only the group, version, names and the one spec field doctor reads
// (allowOverrideSecretsWithSecretStoreCSIDriver), the rest of the spec kept
// as given. It reports false, and installs nothing, where the suite may not
// edit the cluster (PMP_E2E_NO_CLUSTER_EDITS=1); it skips the test where a
// MendixApp CRD that is not the suite's is installed (a Mendix Operator may
// act on the MendixApps the test would create).
func installMendixAppCRD(t *testing.T) bool {
	t.Helper()
	ctx := context.Background()
	const name = "mendixapps.privatecloud.mendix.com"
	if old, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{}); err == nil {
		if cfg.noClusterEdits || old.GetLabels()[standInLabel] != "true" {
			t.Skipf("CRD %s is installed and is not the suite's stand-in: the suite creates no MendixApp where a Mendix Operator may act on it", name)
		}
		// A stand-in left by an interrupted run: replace it.
		_ = dyn.Resource(crdGVR).Delete(ctx, name, metav1.DeleteOptions{})
		waitGone(t, func() error { _, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{}); return err })
	}
	if cfg.noClusterEdits {
		return false
	}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": name, "labels": map[string]any{standInLabel: "true"}},
		"spec": map[string]any{
			"group": mendixAppGVR.Group,
			"scope": "Namespaced",
			"names": map[string]any{"plural": "mendixapps", "singular": "mendixapp", "kind": "MendixApp", "listKind": "MendixAppList"},
			"versions": []any{map[string]any{
				"name": mendixAppGVR.Version, "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object",
					"properties": map[string]any{"spec": map[string]any{
						"type":                                 "object",
						"x-kubernetes-preserve-unknown-fields": true,
						"properties": map[string]any{
							"allowOverrideSecretsWithSecretStoreCSIDriver": map[string]any{"type": "boolean"},
						},
					}},
				}},
			}},
		},
	}}
	if _, err := dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create the stand-in MendixApp CRD: %v", err)
	}
	t.Cleanup(func() {
		if err := dyn.Resource(crdGVR).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete the stand-in MendixApp CRD: %v", err)
		}
	})
	// Established, and served: a list answers.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := dyn.Resource(mendixAppGVR).List(ctx, metav1.ListOptions{Limit: 1})
		if err == nil {
			return true
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stand-in MendixApp CRD is not served after 30s: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func waitGone(t *testing.T, get func() error) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if apierrors.IsNotFound(get()) {
			return
		}
	}
	t.Fatal("an object was not deleted within 30s")
}

// environment is a Mendix app environment laid out in a test's namespace.
type environment struct {
	ns        *testNS
	secret    string            // its AWS secret
	values    map[string]string // the secret's keys and values
	role      string
	class     *unstructured.Unstructured // as manifests printed it
	mendixApp bool                       // a MendixApp was created (the stand-in CRD is installed)
}

// json is the secret as stored: one flat JSON object.
func (e *environment) json(values map[string]string) string {
	b, err := json.Marshal(values)
	if err != nil {
		e.ns.t.Fatal(err)
	}
	return string(b)
}

// secrets are the values doctor must never print: all but the catalog's
// fixed values (database-type and storage-service-name, which doctor names
// when it says the environment's modes).
func (e *environment) secrets() pmpSecret {
	out := pmpSecret{}
	for k, v := range e.values {
		if k != "database-type" && k != "storage-service-name" {
			out[k] = v
		}
	}
	return out
}

// placeholders are the values the test gives the template's placeholders.
func placeholders(tag string) map[string]string {
	return map[string]string{
		"<HOST>":                   "db-" + tag + ".e2e.internal",
		"<DATABASE>":               "mendix_" + tag,
		"<USERNAME>":               "app_" + tag,
		"<PASSWORD>":               "pw " + tag + " = ü ✓",
		"<BUCKET>":                 "bucket-" + tag,
		"<REGION>":                 cfg.region,
		"<ACCESS_KEY_ID>":          "key-id-" + tag,
		"<SECRET_ACCESS_KEY>":      "wJalr/XUtnFEMI+K7MDENG=" + tag,
		"<BUCKET_OR_SUBDIRECTORY>": "files-" + tag,
	}
}

var placeholderRE = regexp.MustCompile(`<[A-Z_]+>`)

// layOutEnvironment lays out environment envApp as a platform team does
// with the subcommands alone and the Mendix Operator then finds it: the
// secret's JSON from `template --environment` with every placeholder
// filled in (and an app constant), checked by `validate --environment`,
// stored in Secrets Manager; a role whose trust policy (enforced by the AWS
// front, where there is one) admits only the ServiceAccount named as the
// environment; the ServiceAccount and the SecretProviderClass as
// `manifests --environment` prints them, applied as written; and, with the
// stand-in CRD, the MendixApp with allowOverrideSecretsWithSecretStoreCSIDriver.
func layOutEnvironment(t *testing.T, tag string, mendixApp bool) *environment {
	t.Helper()
	ns := newNS(t)
	e := &environment{ns: ns, mendixApp: mendixApp}

	tmpl := ns.runCLI(false, "template", "--environment")
	if tmpl.code != 0 {
		t.Fatalf("%s: exit %d: %s", tmpl.cmd, tmpl.code, tmpl.stderr)
	}
	if err := json.Unmarshal([]byte(tmpl.stdout), &e.values); err != nil {
		t.Fatalf("%s: not a JSON object of strings (%v):\n%s", tmpl.cmd, err, tmpl.stdout)
	}
	fill := placeholders(tag)
	for k, v := range e.values {
		v = placeholderRE.ReplaceAllStringFunc(v, func(p string) string {
			if f, ok := fill[p]; ok {
				return f
			}
			t.Fatalf("%s: %s holds placeholder %s, which this test does not know", tmpl.cmd, k, p)
			return p
		})
		if mendixenv.HasPlaceholder(v) {
			t.Fatalf("%s is still a placeholder after filling it in: %q", k, v)
		}
		e.values[k] = v
	}
	for _, k := range []string{"database-password", "storage-access-key-id", "storage-secret-access-key"} {
		if _, ok := e.values[k]; !ok {
			t.Fatalf("%s without flags has no %s: PostgreSQL with a password, S3 with an access key pair, was the default", tmpl.cmd, k)
		}
	}
	// An app constant: a key the template leaves to the user.
	e.values["mx-const-MyFirstModule.WelcomePageTitle"] = "Welcome, " + tag + "!"

	file := filepath.Join(t.TempDir(), envApp+".json")
	if err := os.WriteFile(file, []byte(e.json(e.values)), 0o600); err != nil {
		t.Fatal(err)
	}
	if v := ns.runCLI(false, "validate", "--environment", file); v.code != 0 {
		t.Fatalf("%s: exit %d on the filled-in template:\n%s%s", v.cmd, v.code, v.stdout, v.stderr)
	}
	e.secret = ns.createSecret("", e.json(e.values))

	e.role = cfg.roleARN
	if cfg.frontControl != "" {
		e.role = ns.trustPolicy(subject(ns.name, envApp))
	}
	man := ns.runCLI(false, "manifests", "--environment", envApp, "-n", ns.name, "--secret", e.secret, "--role-arn", e.role, "--provider-name", cfg.spcProvider)
	if man.code != 0 {
		t.Fatalf("%s: exit %d: %s", man.cmd, man.code, man.stderr)
	}
	yamlFile := filepath.Join(t.TempDir(), envApp+".yaml")
	if err := os.WriteFile(yamlFile, []byte(man.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, u := range readManifests(t, yamlFile) {
		kinds = append(kinds, u.GetKind())
		if u.GetName() != envApp || u.GetNamespace() != ns.name {
			t.Fatalf("%s: %s %s/%s, want %s/%s: named as the environment", man.cmd, u.GetKind(), u.GetNamespace(), u.GetName(), ns.name, envApp)
		}
		switch u.GetKind() {
		case "ServiceAccount":
			if a := u.GetAnnotations(); a[mendixenv.AccountAnnotation] != "true" || a["eks.amazonaws.com/role-arn"] != e.role {
				t.Fatalf("%s: the ServiceAccount's annotations are %v", man.cmd, a)
			}
			if _, err := dyn.Resource(saGVR).Namespace(ns.name).Create(ns.ctx, u, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create the ServiceAccount of %s: %v", man.cmd, err)
			}
		case "SecretProviderClass":
			if a := u.GetAnnotations(); a[mendixenv.ClassAnnotation] != "true" {
				t.Fatalf("%s: the SecretProviderClass's annotations are %v", man.cmd, a)
			}
			e.class = u.DeepCopy()
			if _, err := dyn.Resource(spcGVR).Namespace(ns.name).Create(ns.ctx, u, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create the SecretProviderClass of %s: %v", man.cmd, err)
			}
		}
	}
	if !slices.Equal(kinds, []string{"ServiceAccount", "SecretProviderClass"}) {
		t.Fatalf("%s printed %v, want a ServiceAccount and a SecretProviderClass", man.cmd, kinds)
	}
	if mendixApp {
		app := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": mendixAppGVR.GroupVersion().String(),
			"kind":       "MendixApp",
			"metadata":   map[string]any{"name": envApp, "namespace": ns.name},
			"spec":       map[string]any{"allowOverrideSecretsWithSecretStoreCSIDriver": true},
		}}
		if _, err := dyn.Resource(mendixAppGVR).Namespace(ns.name).Create(ns.ctx, app, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create MendixApp %s: %v", envApp, err)
		}
	}
	return e
}

// deployment creates the environment's Deployment, named as the app and
// running as its ServiceAccount, whose container mounts the class and
// prints snapshots of its files (readerScript), as the Mendix runtime's
// container reads them.
func (e *environment) deployment() *appsv1.Deployment {
	ns := e.ns
	ns.t.Helper()
	one, grace := int32(1), int64(1)
	labels := map[string]string{"app.kubernetes.io/name": envApp}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: envApp, Namespace: ns.name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Affinity:                      onNode(cfg.node),
					ServiceAccountName:            envApp,
					TerminationGracePeriodSeconds: &grace,
					Containers: []corev1.Container{{
						Name:            "mendix",
						Image:           cfg.image,
						ImagePullPolicy: pullPolicy(cfg.image),
						Command:         []string{"/bin/sh", "-c", readerScript},
						VolumeMounts:    []corev1.VolumeMount{{Name: "environment", MountPath: volumeDir, ReadOnly: true}},
					}},
					Volumes: []corev1.Volume{{
						Name: "environment",
						VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
							Driver:           cfg.csiDriverName,
							ReadOnly:         &[]bool{true}[0],
							VolumeAttributes: map[string]string{"secretProviderClass": envApp},
						}},
					}},
				},
			},
		},
	}
	created, err := kube.AppsV1().Deployments(ns.name).Create(ns.ctx, d, metav1.CreateOptions{})
	if err != nil {
		ns.t.Fatalf("create Deployment %s: %v", envApp, err)
	}
	return created
}

// healthyStatuses are doctor --environment's steps on a healthy
// environment; mendixapp is skipped without the (stand-in) CRD.
func (e *environment) healthyStatuses() string {
	first := "mendixapp ok"
	if !e.mendixApp {
		first = "mendixapp skipped"
	}
	return first + ", environment-account ok, environment-class ok, csidriver ok, daemonset ok, secretproviderclass ok, serviceaccount ok, token ok, sts ok, secret[0] ok, secret[0] ok, mount ok, environment-secret ok"
}

// doctor runs `doctor --environment envApp -n NS`, as text and as JSON,
// checked to show none of the environment's values.
func (e *environment) doctor() diagnosis {
	e.ns.t.Helper()
	return e.ns.doctor(e.secrets(), "--environment", envApp)
}

// passes checks that doctor finds no problem in the environment and says
// the files are the Operator's.
func (e *environment) passes(t *testing.T, d diagnosis) {
	t.Helper()
	if d.code != 0 || d.statuses() != e.healthyStatuses() || d.res.Summary != "no problems" {
		t.Fatalf("exit %d, %s: %s\nwant exit 0: %s\n%s", d.code, d.res.Summary, d.statuses(), e.healthyStatuses(), d.text)
	}
	want := fmt.Sprintf("the %d files are those the Mendix Operator reads for PostgreSQL with a password, S3 with an access key pair (11 needed, all there)", len(e.values))
	if m := d.step("environment-secret", report.OK).Message; m != want {
		t.Errorf("environment-secret says %q, want %q", m, want)
	}
	_, files, _ := strings.Cut(d.step("mount", report.OK).Message, " files: ")
	got := strings.Split(files, ", ")
	slices.Sort(got)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range e.values {
			if !yield(k) {
				return
			}
		}
	})
	if diff := cmp.Diff(keys, got); diff != "" {
		t.Errorf("the files doctor says a pod of the environment gets (-secret's keys +doctor):\n%s", diff)
	}
}

// in is the environment with its namespace's helpers reporting to t, a
// subtest of the one that laid it out.
func (e *environment) in(t *testing.T) *environment {
	ns := *e.ns
	ns.t = t
	c := *e
	c.ns = &ns
	return &c
}

// merge applies a JSON merge patch to a namespaced object of the environment.
func (e *environment) merge(gvr schema.GroupVersionResource, name, patch string) {
	e.ns.t.Helper()
	if _, err := dyn.Resource(gvr).Namespace(e.ns.name).Patch(e.ns.ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		e.ns.t.Fatalf("patch %s %s with %s: %v", gvr.Resource, name, patch, err)
	}
}

// TestMendixEnvironment: a Mendix app environment laid out as the Mendix
// Operator lays it out, with the subcommands alone (template, validate,
// manifests), its pods reading the Operator's files, a rotation of
// database-password reaching them, and doctor --environment passing on it
// and catching each mistake with its own finding.
func TestMendixEnvironment(t *testing.T) {
	t.Parallel()
	mendixApp := installMendixAppCRD(t)

	t.Run("the Deployment reads the Operator's files and sees database-password rotate", func(t *testing.T) {
		t.Parallel()
		e := layOutEnvironment(t, "rot", mendixApp)
		ns := e.ns
		deploy := e.deployment()
		pod, took := ns.waitDeploymentPod(deploy, podStart)
		if pod.Spec.ServiceAccountName != envApp {
			t.Fatalf("pod %s runs as %s, want the environment's ServiceAccount %s", pod.Name, pod.Spec.ServiceAccountName, envApp)
		}
		t.Logf("Deployment %s: pod %s Running after %s", envApp, pod.Name, took.Round(100*time.Millisecond))
		first := ns.firstSnapshot(pod.Name)
		if diff := cmp.Diff(e.values, contentsOf(first)); diff != "" {
			t.Fatalf("the pod's files (-secret +mounted): one file per key, named as the Operator reads them:\n%s", diff)
		}

		e.passes(t, e.doctor())

		after := map[string]string{}
		for k, v := range e.values {
			after[k] = v
		}
		after["database-password"] = "pw rotated " + ns.name[len(ns.name)-6:]
		put := time.Now()
		ns.putSecretValue(e.secret, e.json(after))
		sn, err := ns.waitSnapshot(pod.Name, rotationBound, func(s snapshot) bool {
			return cmp.Equal(after, contentsOf(s))
		})
		if err != nil {
			t.Fatalf("database-password rotated in the secret: %v", err)
		}
		all, _ := ns.snapshots(pod.Name)
		for _, s := range all {
			// A reader that straddles the driver's atomic swap may miss one file once.
			if len(s.files) < len(e.values)-1 {
				t.Errorf("at %s the pod saw only %s", s.at.Format(time.TimeOnly), names(s.files))
			}
			for k, f := range s.files {
				if k != "database-password" && f.contents != e.values[k] {
					t.Errorf("at %s %s changed, though only database-password was rotated", s.at.Format(time.TimeOnly), k)
				}
			}
		}
		// The pod stamps snapshots in whole seconds.
		t.Logf("ROTATION LATENCY Mendix environment database-password: %s after PutSecretValue", sn.at.Sub(put.Truncate(time.Second)).Round(time.Second))
		if p, err := kube.CoreV1().Pods(ns.name).Get(ns.ctx, pod.Name, metav1.GetOptions{}); err != nil || p.Status.ContainerStatuses[0].RestartCount != 0 {
			t.Errorf("the pod restarted or went away during the rotation: %v %s", err, describePod(p))
		}
	})

	t.Run("doctor catches each mistake with its own finding", func(t *testing.T) {
		t.Parallel()
		e := layOutEnvironment(t, "mistakes", mendixApp)
		account, class := mendixenv.AccountAnnotation, mendixenv.ClassAnnotation

		// Each case breaks one thing and restores it when it ends; the
		// environment passes again after all of them.
		t.Run("the ServiceAccount without the Operator's annotation", func(t *testing.T) {
			e := e.in(t)
			ns := e.ns
			e.merge(saGVR, envApp, `{"metadata":{"annotations":{"`+account+`":null}}}`)
			t.Cleanup(func() { e.merge(saGVR, envApp, `{"metadata":{"annotations":{"`+account+`":"true"}}}`) })
			d := e.doctor()
			d.finding(t, "environment-account", report.Error,
				"ServiceAccount "+ns.name+"/"+envApp+" has no annotation "+account+": the Mendix Operator does not take it for the environment's",
				"kubectl -n "+ns.name+" annotate --overwrite serviceaccount "+envApp+" "+account+"=true")
			d.onlyFrom(t, "environment-account")
		})
		t.Run("the SecretProviderClass without the Operator's annotation", func(t *testing.T) {
			e := e.in(t)
			ns := e.ns
			e.merge(spcGVR, envApp, `{"metadata":{"annotations":{"`+class+`":null}}}`)
			t.Cleanup(func() { e.merge(spcGVR, envApp, `{"metadata":{"annotations":{"`+class+`":"true"}}}`) })
			d := e.doctor()
			d.finding(t, "environment-class", report.Error,
				"SecretProviderClass "+ns.name+"/"+envApp+" has no annotation "+class,
				"kubectl -n "+ns.name+" annotate --overwrite secretproviderclass "+envApp+" "+class+"=true")
			d.onlyFrom(t, "environment-class")
		})
		t.Run("a SecretProviderClass named differently from the app", func(t *testing.T) {
			e := e.in(t)
			ns := e.ns
			const other = envApp + "-secrets"
			renamed := e.class.DeepCopy()
			renamed.SetName(other)
			classes := dyn.Resource(spcGVR).Namespace(ns.name)
			if _, err := classes.Create(ns.ctx, renamed, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := classes.Delete(ns.ctx, envApp, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := classes.Delete(ns.ctx, other, metav1.DeleteOptions{}); err != nil {
					t.Error(err)
				}
				if _, err := classes.Create(ns.ctx, e.class.DeepCopy(), metav1.CreateOptions{}); err != nil {
					t.Error(err)
				}
			})
			// The class doctor checks next is the missing one too: only
			// environment-class names the mistake.
			d := e.doctor()
			d.finding(t, "environment-class", report.Error,
				"there is no SecretProviderClass "+ns.name+"/"+envApp+": the Mendix Operator reads the environment's secret through the SecretProviderClass named as the environment",
				"SecretProviderClass "+other+" is annotated "+class+" but named differently",
				"rename SecretProviderClass "+other+" to "+envApp)
		})
		t.Run("a secret without a required key", func(t *testing.T) {
			e := e.in(t)
			ns := e.ns
			broken := map[string]string{}
			for k, v := range e.values {
				if k != "database-password" {
					broken[k] = v
				}
			}
			ns.putSecretValue(e.secret, e.json(broken))
			t.Cleanup(func() { ns.putSecretValue(e.secret, e.json(e.values)) })
			d := e.doctor()
			d.finding(t, "environment-secret", report.Error,
				"database-password is missing: the Operator needs it with PostgreSQL with a password",
				`add "database-password" to the secret`, "pass --database-auth rds-iam")
			d.onlyFrom(t, "environment-secret")
		})
		t.Run("a secret with a mistyped key", func(t *testing.T) {
			e := e.in(t)
			ns := e.ns
			broken := map[string]string{}
			for k, v := range e.values {
				if k == "database-password" {
					k = "database-pasword"
				}
				broken[k] = v
			}
			ns.putSecretValue(e.secret, e.json(broken))
			t.Cleanup(func() { ns.putSecretValue(e.secret, e.json(e.values)) })
			d := e.doctor()
			d.finding(t, "environment-secret", report.Error,
				"database-pasword is not a key the Mendix Operator reads", "did you mean database-password?",
				"rename it to database-password")
			d.onlyFrom(t, "environment-secret")
		})
		t.Run("a standalone app's MendixApp without the secret store setting", func(t *testing.T) {
			e := e.in(t)
			ns := e.ns
			if !e.mendixApp {
				t.Skip("no MendixApp CRD: the suite may not install its stand-in (PMP_E2E_NO_CLUSTER_EDITS=1)")
			}
			e.merge(mendixAppGVR, envApp, `{"spec":{"allowOverrideSecretsWithSecretStoreCSIDriver":false}}`)
			t.Cleanup(func() {
				e.merge(mendixAppGVR, envApp, `{"spec":{"allowOverrideSecretsWithSecretStoreCSIDriver":true}}`)
			})
			d := e.doctor()
			d.finding(t, "mendixapp", report.Warning,
				"MendixApp "+ns.name+"/"+envApp+" does not set allowOverrideSecretsWithSecretStoreCSIDriver: true",
				"kubectl -n "+ns.name+` patch mendixapp `+envApp+` --type merge -p '{"spec":{"allowOverrideSecretsWithSecretStoreCSIDriver":true}}'`)
			d.onlyFrom(t, "mendixapp")
		})
		if !t.Failed() {
			e.passes(t, e.doctor())
		}
	})
}
