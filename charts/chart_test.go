// Package charts_test checks the Helm chart in pmp-secrets-provider/ with the pinned helm
// (HELM_BIN, set by make test): lint, the objects rendered for the default and for a
// non-default set of values, the values schema refusing mistakes, the provider binary
// accepting every argument the chart passes, and the values table in README.md.
package charts_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/mddoc"
)

const (
	chartDir    = "pmp-secrets-provider"
	release     = "pmp-secrets-provider"
	namespace   = "kube-system"
	providerDir = "/var/run/secrets-store-csi-providers"
)

func helmBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("HELM_BIN")
	if bin == "" {
		t.Skip("HELM_BIN is not set: run make test (it builds the pinned helm with tools/build.sh helm)")
	}
	return bin
}

// helm runs the pinned helm on the chart and returns its stdout and, when it fails, an
// error holding its stderr.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.New(strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// rendered holds the objects of one helm template run, decoded strictly into their
// Kubernetes types: a field the API does not know (a template typo) fails the decode.
type rendered struct {
	kinds          []string
	daemonSet      *appsv1.DaemonSet
	serviceAccount *corev1.ServiceAccount
	clusterRole    *rbacv1.ClusterRole
	binding        *rbacv1.ClusterRoleBinding
	service        *corev1.Service
	serviceMonitor map[string]any
	dashboard      *corev1.ConfigMap
	prometheusRule map[string]any
}

func render(t *testing.T, args ...string) rendered {
	t.Helper()
	out, err := helm(t, append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v", args, err)
	}
	var r rendered
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading rendered YAML: %v", err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("rendered document: %v\n%s", err, doc)
		}
		if tm.Kind == "" {
			continue // a document holding only comments
		}
		r.kinds = append(r.kinds, tm.Kind)
		var into any
		switch tm.Kind {
		case "DaemonSet":
			r.daemonSet = &appsv1.DaemonSet{}
			into = r.daemonSet
		case "ServiceAccount":
			r.serviceAccount = &corev1.ServiceAccount{}
			into = r.serviceAccount
		case "ClusterRole":
			r.clusterRole = &rbacv1.ClusterRole{}
			into = r.clusterRole
		case "ClusterRoleBinding":
			r.binding = &rbacv1.ClusterRoleBinding{}
			into = r.binding
		case "Service":
			r.service = &corev1.Service{}
			into = r.service
		case "ServiceMonitor":
			into = &r.serviceMonitor
		case "ConfigMap":
			r.dashboard = &corev1.ConfigMap{}
			into = r.dashboard
		case "PrometheusRule":
			into = &r.prometheusRule
		default:
			t.Fatalf("the chart rendered an unexpected %s", tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			t.Fatalf("%s does not decode strictly: %v\n%s", tm.Kind, err, doc)
		}
	}
	slices.Sort(r.kinds)
	return r
}

func (r rendered) container(t *testing.T) corev1.Container {
	t.Helper()
	if r.daemonSet == nil {
		t.Fatal("no DaemonSet rendered")
	}
	cs := r.daemonSet.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("want one container, got %d", len(cs))
	}
	return cs[0]
}

func appVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ AppVersion, KubeVersion string }
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.AppVersion == "" || c.KubeVersion == "" {
		t.Fatalf("Chart.yaml must set appVersion and kubeVersion, has %+v", c)
	}
	return c.AppVersion
}

func TestLint(t *testing.T) {
	for _, args := range [][]string{nil, {"--values", nonDefaultValues(t)}} {
		if out, err := helm(t, append([]string{"lint", "--strict", chartDir}, args...)...); err != nil {
			t.Errorf("helm lint --strict %v: %v\n%s", args, err, out)
		}
	}
}

func TestDefaults(t *testing.T) {
	r := render(t)
	if want := []string{"ClusterRole", "ClusterRoleBinding", "DaemonSet", "ServiceAccount"}; !slices.Equal(r.kinds, want) {
		t.Errorf("objects: got %v, want %v (no Service or ServiceMonitor by default)", r.kinds, want)
	}
	pod := r.daemonSet.Spec.Template.Spec
	c := r.container(t)

	if want := "localhost/pmp-secrets-provider:" + appVersion(t); c.Image != want {
		t.Errorf("image %q, want %q (the chart's appVersion)", c.Image, want)
	}
	wantArgs := []string{
		"--provider-dir=" + providerDir, "--provider-name=pmp", "--token-audience=sts.amazonaws.com",
		"--secret-ttl=30s", "--max-secret-ttl=1h", "--negative-ttl=10s", "--cache-size=1024", "--cache-max-bytes=33554432", "--cache=true", "--retry-budget=30s",
		"--qps=50", "--burst=100", "--pod-identity-agent-url=http://169.254.170.23/v1/credentials",
		"--pod-identity-agent-url-ipv6=http://[fd00:ec2::23]/v1/credentials",
		"--pod-identity-share-by-service-account=false", "--aws-call-timeout=5s", "--stale-if-error=1h", "--max-concurrent-mounts=16", "--metrics-addr=:8096", "--log-format=text", "-v=0",
	}
	if d := cmp.Diff(wantArgs, c.Args); d != "" {
		t.Errorf("args (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]corev1.EnvVar{nodeNameEnv}, c.Env); d != "" {
		t.Errorf("env: only NODE_NAME without a region value (-want +got):\n%s", d)
	}

	// The hardened pod: uid 0 only because of the socket directory, no capabilities at all.
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 0 || psc.SeccompProfile == nil ||
		psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want runAsUser 0 and seccomp RuntimeDefault", psc)
	}
	checkHardened(t, c)
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Errorf("host namespaces: network %v, pid %v, ipc %v; want none", pod.HostNetwork, pod.HostPID, pod.HostIPC)
	}

	checkSocketVolume(t, pod, c, providerDir, corev1.HostPathDirectoryOrCreate)
	checkProbes(t, c, 8096, "")

	// Scheduled like the driver: every Linux node, whatever its taints.
	if d := cmp.Diff([]corev1.Toleration{{Operator: corev1.TolerationOpExists}}, pod.Tolerations); d != "" {
		t.Errorf("tolerations (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]string{"kubernetes.io/os": "linux"}, pod.NodeSelector); d != "" {
		t.Errorf("nodeSelector (-want +got):\n%s", d)
	}
	if pod.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName %q", pod.PriorityClassName)
	}
	us := r.daemonSet.Spec.UpdateStrategy
	if us.Type != appsv1.RollingUpdateDaemonSetStrategyType || us.RollingUpdate == nil ||
		us.RollingUpdate.MaxUnavailable == nil || us.RollingUpdate.MaxUnavailable.IntValue() != 1 {
		t.Errorf("updateStrategy %+v: want RollingUpdate, maxUnavailable 1", us)
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g <= 35 {
		t.Errorf("terminationGracePeriodSeconds %v: must exceed retry budget 30s + 5s", g)
	}
	res := c.Resources
	if !res.Requests.Memory().Equal(resource.MustParse("48Mi")) || !res.Limits.Memory().Equal(resource.MustParse("128Mi")) {
		t.Errorf("memory request %v, limit %v: want 48Mi, 128Mi", res.Requests.Memory(), res.Limits.Memory())
	}
	if _, ok := res.Limits[corev1.ResourceCPU]; ok {
		t.Errorf("a CPU limit is set (%v): a burst of first mounts would be throttled", res.Limits.Cpu())
	}

	checkRBAC(t, r, true)
}

var nodeNameEnv = corev1.EnvVar{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{
	FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}

func checkHardened(t *testing.T, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("container has no securityContext")
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	isFalse := func(b *bool) bool { return b != nil && !*b }
	if !isTrue(sc.ReadOnlyRootFilesystem) || !isFalse(sc.AllowPrivilegeEscalation) || !isFalse(sc.Privileged) {
		t.Errorf("container securityContext: readOnlyRootFilesystem %v, allowPrivilegeEscalation %v, privileged %v; want true, false, false",
			sc.ReadOnlyRootFilesystem, sc.AllowPrivilegeEscalation, sc.Privileged)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities %+v: want drop [ALL], add none", sc.Capabilities)
	}
}

func checkSocketVolume(t *testing.T, pod corev1.PodSpec, c corev1.Container, dir string, typ corev1.HostPathType) {
	t.Helper()
	if len(pod.Volumes) != 1 || pod.Volumes[0].HostPath == nil {
		t.Fatalf("volumes %+v: want the one hostPath socket directory", pod.Volumes)
	}
	hp := pod.Volumes[0].HostPath
	if hp.Path != dir || hp.Type == nil || *hp.Type != typ {
		t.Errorf("hostPath %s (%v), want %s (%s)", hp.Path, hp.Type, dir, typ)
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != pod.Volumes[0].Name ||
		c.VolumeMounts[0].MountPath != dir || c.VolumeMounts[0].ReadOnly {
		t.Errorf("volumeMounts %+v: want %s read-write at %s", c.VolumeMounts, pod.Volumes[0].Name, dir)
	}
	if !slices.Contains(c.Args, "--provider-dir="+dir) {
		t.Errorf("args %v lack --provider-dir=%s, where the socket directory is mounted", c.Args, dir)
	}
}

// checkProbes: liveness GETs /healthz and readiness /readyz on the metrics port, which the
// provider serves because --metrics-addr binds it.
func checkProbes(t *testing.T, c corev1.Container, port int32, host string) {
	t.Helper()
	if len(c.Ports) != 1 || c.Ports[0].Name != "metrics" || c.Ports[0].ContainerPort != port {
		t.Fatalf("ports %+v: want metrics %d", c.Ports, port)
	}
	want := "--metrics-addr=" + host + ":" + strconv.Itoa(int(port))
	if !slices.Contains(c.Args, want) {
		t.Errorf("args %v lack %s: the probes would find nothing listening", c.Args, want)
	}
	for name, pp := range map[string]struct {
		probe *corev1.Probe
		path  string
	}{"liveness": {c.LivenessProbe, "/healthz"}, "readiness": {c.ReadinessProbe, "/readyz"}} {
		p := pp.probe
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", name)
			continue
		}
		g := p.HTTPGet
		if g.Path != pp.path || g.Port.String() != "metrics" || g.Host != host {
			t.Errorf("%s probe GET %s:%s%s, want %s:metrics%s", name, g.Host, g.Port.String(), g.Path, host, pp.path)
		}
	}
}

func checkRBAC(t *testing.T, r rendered, nodes bool) {
	t.Helper()
	if r.clusterRole == nil || r.binding == nil || r.serviceAccount == nil {
		t.Fatalf("objects %v: want ServiceAccount, ClusterRole, ClusterRoleBinding", r.kinds)
	}
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"get"}},
		{NonResourceURLs: []string{"/.well-known/openid-configuration", "/openid/v1/jwks"}, Verbs: []string{"get"}},
	}
	if nodes {
		want = append(want, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}})
	}
	if d := cmp.Diff(want, r.clusterRole.Rules); d != "" {
		t.Errorf("ClusterRole rules, nodes readable: %v (-want +got):\n%s", nodes, d)
	}
	sa := r.serviceAccount.Name
	if r.daemonSet.Spec.Template.Spec.ServiceAccountName != sa {
		t.Errorf("pod runs as %q, not the chart's ServiceAccount %q", r.daemonSet.Spec.Template.Spec.ServiceAccountName, sa)
	}
	wantSubj := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: namespace}}
	if d := cmp.Diff(wantSubj, r.binding.Subjects); d != "" || r.binding.RoleRef.Name != r.clusterRole.Name {
		t.Errorf("binding to %q, subjects (-want +got):\n%s", r.binding.RoleRef.Name, d)
	}
}

// nonDefaultValues writes a values file a user behind a proxy, with a region and
// Prometheus, would write.
func nonDefaultValues(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "values.yaml")
	err := os.WriteFile(f, []byte(`
image:
  repository: registry.example/platform/pmp-secrets-provider
  digest: sha256:`+strings.Repeat("ab", 32)+`
region: eu-west-1
secretTTL: 5m
maxSecretTTL: 10m
negativeTTL: 0s
cache: false
cacheSize: 4096
cacheMaxBytes: 67108864
retryBudget: 20s
qps: 7.5
burst: 15
podIdentityAgent:
  url: http://127.0.0.1:2703/v1/credentials
  urlIPv6: ""
podIdentityShareByServiceAccount: true
awsCallTimeout: 2s
staleIfError: 0s
maxConcurrentMounts: 64
logFormat: json
logVerbosity: 2
extraArgs: ["--token-audience=pmp.example"]
env:
  - {name: HTTPS_PROXY, value: "http://proxy.example:3128"}
  - {name: NO_PROXY, value: "10.100.0.1,.svc,.cluster.local"}
metrics:
  port: 9100
  bindAddress: 127.0.0.1
  serviceMonitor:
    enabled: true
    interval: 15s
    labels: {release: prometheus}
  grafanaDashboard:
    enabled: true
    namespace: monitoring
    labels: {team: platform}
    annotations: {grafana_folder: Platform}
  prometheusRule:
    enabled: true
    labels: {release: prometheus}
serviceAccount:
  annotations: {team: platform}
hostNetwork: true
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestNonDefault(t *testing.T) {
	r := render(t, "--values", nonDefaultValues(t))
	if want := []string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet", "PrometheusRule", "Service", "ServiceAccount", "ServiceMonitor"}; !slices.Equal(r.kinds, want) {
		t.Errorf("objects: got %v, want %v", r.kinds, want)
	}
	pod := r.daemonSet.Spec.Template.Spec
	c := r.container(t)

	if want := "registry.example/platform/pmp-secrets-provider@sha256:" + strings.Repeat("ab", 32); c.Image != want {
		t.Errorf("image %q, want %q (by digest)", c.Image, want)
	}
	wantArgs := []string{
		"--provider-dir=" + providerDir, "--provider-name=pmp", "--token-audience=sts.amazonaws.com",
		"--secret-ttl=5m", "--max-secret-ttl=10m", "--negative-ttl=0s", "--cache-size=4096", "--cache-max-bytes=67108864", "--cache=false", "--retry-budget=20s",
		"--qps=7.5", "--burst=15", "--pod-identity-agent-url=http://127.0.0.1:2703/v1/credentials", "--pod-identity-agent-url-ipv6=",
		"--pod-identity-share-by-service-account=true", "--aws-call-timeout=2s", "--stale-if-error=0s", "--max-concurrent-mounts=64", "--metrics-addr=127.0.0.1:9100", "--log-format=json", "-v=2",
		"--token-audience=pmp.example", // extraArgs last: a later flag wins
	}
	if d := cmp.Diff(wantArgs, c.Args); d != "" {
		t.Errorf("args (-want +got):\n%s", d)
	}
	wantEnv := []corev1.EnvVar{
		nodeNameEnv,
		{Name: "AWS_REGION", Value: "eu-west-1"},
		{Name: "HTTPS_PROXY", Value: "http://proxy.example:3128"},
		{Name: "NO_PROXY", Value: "10.100.0.1,.svc,.cluster.local"},
	}
	if d := cmp.Diff(wantEnv, c.Env); d != "" {
		t.Errorf("env (-want +got):\n%s", d)
	}
	// The region value is set: the provider never reads its node, so it may not.
	checkRBAC(t, r, false)
	if d := cmp.Diff(map[string]string{"team": "platform"}, r.serviceAccount.Annotations); d != "" {
		t.Errorf("ServiceAccount annotations (-want +got):\n%s", d)
	}

	if !pod.HostNetwork || pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Errorf("hostNetwork %v, dnsPolicy %q: want true, ClusterFirstWithHostNet", pod.HostNetwork, pod.DNSPolicy)
	}
	checkHardened(t, c)
	checkProbes(t, c, 9100, "127.0.0.1")

	svc := r.service
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 9100 || svc.Spec.Ports[0].TargetPort.String() != "metrics" ||
		svc.Spec.Ports[0].Name != "metrics" {
		t.Errorf("Service ports %+v: want metrics 9100 -> metrics", svc.Spec.Ports)
	}
	if d := cmp.Diff(r.daemonSet.Spec.Selector.MatchLabels, svc.Spec.Selector); d != "" {
		t.Errorf("Service selector is not the DaemonSet's pods (-pods +service):\n%s", d)
	}
	sm := r.serviceMonitor
	smSel := dig(t, sm, "spec", "selector", "matchLabels").(map[string]any)
	for k, v := range smSel {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%v, the Service has %q", k, v, svc.Labels[k])
		}
	}
	ep := dig(t, sm, "spec", "endpoints").([]any)[0].(map[string]any)
	if ep["port"] != "metrics" || ep["path"] != "/metrics" || ep["interval"] != "15s" {
		t.Errorf("ServiceMonitor endpoint %v: want port metrics, path /metrics, interval 15s", ep)
	}
	if got := dig(t, sm, "metadata", "labels").(map[string]any)["release"]; got != "prometheus" {
		t.Errorf("ServiceMonitor label release=%v, want prometheus", got)
	}
	checkMonitoring(t, r, svc.Name)
}

// checkMonitoring: the dashboard ConfigMap is the dashboard file, labelled for the Grafana
// sidecar; the PrometheusRule holds the rules file's groups, selecting the job of the chart's
// ServiceMonitor (the Service's name).
func checkMonitoring(t *testing.T, r rendered, job string) {
	t.Helper()
	cm := r.dashboard
	if cm.Namespace != "monitoring" || cm.Labels["grafana_dashboard"] != "1" || cm.Labels["team"] != "platform" ||
		cm.Annotations["grafana_folder"] != "Platform" {
		t.Errorf("dashboard ConfigMap %s/%s labels %v annotations %v: want monitoring, grafana_dashboard=1, team, grafana_folder",
			cm.Namespace, cm.Name, cm.Labels, cm.Annotations)
	}
	want, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := cm.Data["pmp-secrets-provider.json"]; strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
		t.Errorf("dashboard ConfigMap data is not %s (%d bytes, want %d)", dashboardFile, len(got), len(want))
	}

	pr := r.prometheusRule
	if got := dig(t, pr, "metadata", "labels").(map[string]any)["release"]; got != "prometheus" {
		t.Errorf("PrometheusRule label release=%v, want prometheus", got)
	}
	var file map[string]any
	readYAML(t, rulesFile, &file)
	b, err := yaml.Marshal(file["groups"])
	if err != nil {
		t.Fatal(err)
	}
	wantGroups := strings.ReplaceAll(string(b), `job=~".*pmp-secrets-provider.*"`, `job="`+job+`"`)
	if !strings.Contains(wantGroups, `up{job="`+job+`"}`) {
		t.Fatalf("the rules file selects no job=~\".*pmp-secrets-provider.*\" for the chart to replace")
	}
	got, err := yaml.Marshal(dig(t, pr, "spec", "groups"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantGroups, string(got)); d != "" {
		t.Errorf("PrometheusRule groups are not the rules file's with job %q (-want +got):\n%s", job, d)
	}
	other := render(t, "--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.prometheusRule.job=kube-system/pmp")
	if g, _ := yaml.Marshal(dig(t, other.prometheusRule, "spec", "groups")); !strings.Contains(string(g), `up{job="kube-system/pmp"}`) {
		t.Errorf("metrics.prometheusRule.job=kube-system/pmp: the rules select another job:\n%s", g)
	}
}

func dig(t *testing.T, m map[string]any, keys ...string) any {
	t.Helper()
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%v: %s is not an object", keys, k)
		}
		v = mm[k]
	}
	return v
}

// TestNonRoot renders the non-root set-up README.md describes ("Why uid 0
// (and how to run non-root)").
func TestNonRoot(t *testing.T) {
	dir := "/etc/kubernetes/secrets-store-csi-providers"
	r := render(t, "--set", "providersDir="+dir, "--set", "providersDirType=Directory",
		"--set", "podSecurityContext.runAsUser=65532", "--set", "podSecurityContext.runAsGroup=65532",
		"--set", "podSecurityContext.runAsNonRoot=true")
	pod := r.daemonSet.Spec.Template.Spec
	psc := pod.SecurityContext
	if psc.RunAsUser == nil || *psc.RunAsUser != 65532 || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want uid 65532, runAsNonRoot, seccomp kept", psc)
	}
	checkSocketVolume(t, pod, r.container(t), dir, corev1.HostPathDirectory)
}

// TestSchemaRefuses: a misspelled or wrongly typed value fails helm template (and so helm
// install) with a message naming it, instead of being ignored.
func TestSchemaRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"misspelled value", []string{"--set", "secretTtl=5m"}, "'secretTtl' not allowed"},
		{"misspelled nested value", []string{"--set", "metrics.serviceMonitr.enabled=true"}, "'serviceMonitr' not allowed"},
		{"misspelled env field", []string{"--set", "env[0].name=HTTPS_PROXY", "--set", "env[0].valu=http://p:3128"}, "'valu' not allowed"},
		{"string for a number", []string{"--set", "cacheSize=many"}, "/cacheSize"},
		{"negative cache bytes", []string{"--set", "cacheMaxBytes=-1"}, "/cacheMaxBytes"},
		{"string for a boolean", []string{"--set-string", "cache=false"}, "/cache"},
		{"not a duration", []string{"--set", "secretTTL=5 minutes"}, "/secretTTL"},
		{"cap not a duration", []string{"--set", "maxSecretTTL=1 hour"}, "/maxSecretTTL"},
		{"duration without unit", []string{"--set", "retryBudget=30"}, "/retryBudget"},
		{"unknown log format", []string{"--set", "logFormat=yaml"}, "/logFormat"},
		{"no Mount slot", []string{"--set", "maxConcurrentMounts=0"}, "/maxConcurrentMounts"},
		{"verbosity out of range", []string{"--set", "logVerbosity=-1"}, "/logVerbosity"},
		{"port out of range", []string{"--set", "metrics.port=70000"}, "/metrics/port"},
		{"provider name the driver refuses", []string{"--set", "providerName=pmp.aws"}, "/providerName"},
		{"relative socket directory", []string{"--set", "providersDir=var/run/p"}, "/providersDir"},
		{"bad digest", []string{"--set", "image.digest=sha256:1234"}, "/image/digest"},
		{"not a region", []string{"--set", "region=Frankfurt"}, "/region"},
		{"extra arg that is not a flag", []string{"--set", "extraArgs[0]=v=2"}, "/extraArgs/0"},
		{"Kubernetes older than the driver supports", []string{"--kube-version", "1.29.0"}, "kubeVersion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := helm(t, append([]string{"template", release, chartDir}, tc.args...)...)
			if err == nil {
				t.Fatalf("helm template %v succeeded; want a refusal", tc.args)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("helm template %v: error %q does not name %q", tc.args, err, tc.want)
			}
		})
	}
}

// TestProviderAcceptsRenderedArgs runs the provider binary with the arguments the chart
// renders (and --version, which returns after the flags are parsed and validated), so a
// flag renamed in config.go or a value the provider refuses breaks this test, not a node.
func TestProviderAcceptsRenderedArgs(t *testing.T) {
	helmBin(t)
	bin := filepath.Join(t.TempDir(), "pmp-secrets-provider")
	build := exec.Command("go", "build", "-o", bin, "github.com/pmp-secrets-provider/pmp-secrets-provider")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the provider: %v\n%s", err, out)
	}
	for name, args := range map[string][]string{
		"defaults":    nil,
		"non-default": {"--values", nonDefaultValues(t)},
	} {
		c := render(t, args...).container(t)
		out, err := exec.Command(bin, append(slices.Clone(c.Args), "--version")...).CombinedOutput()
		if err != nil {
			t.Errorf("%s: the provider refuses the chart's args %v: %v\n%s", name, c.Args, err, out)
		}
	}
}

var tableRow = regexp.MustCompile("^\\| `([^`]+)` \\| `([^`]*)` \\| (.*) \\|$")

// TestReadmeTable: the values table in the chart's README.md lists every value of
// values.yaml, no other, with the same default and a meaning. A value is a key whose
// schema has no properties of its own (an object the schema lists properties of is
// described key by key).
func TestReadmeTable(t *testing.T) {
	var values map[string]any
	readYAML(t, filepath.Join(chartDir, "values.yaml"), &values)
	var schema map[string]any
	readYAML(t, filepath.Join(chartDir, "values.schema.json"), &schema)

	want := map[string]any{}
	var walk func(prefix string, v map[string]any, s map[string]any)
	walk = func(prefix string, v map[string]any, s map[string]any) {
		props, _ := s["properties"].(map[string]any)
		for k, val := range v {
			ks, ok := props[k].(map[string]any)
			if !ok {
				t.Errorf("values.yaml has %s%s, which values.schema.json does not describe", prefix, k)
				continue
			}
			if m, isMap := val.(map[string]any); isMap && ks["properties"] != nil {
				walk(prefix+k+".", m, ks)
				continue
			}
			want[prefix+k] = val
		}
	}
	walk("", values, schema)

	d, err := mddoc.Load(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	table := d.MustSection(t, "Values")
	got := map[string]any{}
	for _, line := range strings.Split(table, "\n") {
		m := tableRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		key, def, meaning := m[1], m[2], strings.TrimSpace(m[3])
		if _, dup := got[key]; dup {
			t.Errorf("README.md lists %s twice", key)
		}
		var v any
		if err := yaml.Unmarshal([]byte(def), &v); err != nil {
			t.Errorf("README.md default of %s, %q: %v", key, def, err)
		}
		got[key] = v
		if meaning == "" {
			t.Errorf("README.md: %s has no meaning", key)
		}
	}
	if len(got) == 0 {
		t.Fatal("no value rows found in README.md's table")
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("README.md does not list %s (default %v)", k, w)
			continue
		}
		if d := cmp.Diff(w, g); d != "" {
			t.Errorf("README.md default of %s differs from values.yaml (-values.yaml +README.md):\n%s", k, d)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("README.md lists %s, which values.yaml does not have", k)
		}
	}
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
