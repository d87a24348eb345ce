//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/doctor"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/mddoc"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/podagent"
)

// built is the binary doctor runs as, built once per run from the checkout
// as a user builds it, and the same file installed as kubectl-pmp (the name
// kubectl runs for `kubectl pmp ...`).
var built struct {
	once sync.Once
	dir  string // removed by TestMain
	bin  string
	err  error
}

func removeBuilt() {
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
}

// doctorBinaries returns the paths of pmp-secrets-provider and kubectl-pmp.
func doctorBinaries(t *testing.T) (bin, plugin string) {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "pmp-e2e-bin-"); built.err != nil {
			return
		}
		built.bin = cfg.bin
		if built.bin == "" {
			built.bin = filepath.Join(built.dir, "pmp-secrets-provider")
			cmd := exec.Command("go", "build", "-trimpath", "-o", built.bin, ".")
			cmd.Dir = ".."
			if out, err := cmd.CombinedOutput(); err != nil {
				built.err = errors.New("go build: " + err.Error() + ": " + string(out))
				return
			}
		}
		src, err := os.ReadFile(built.bin)
		if err != nil {
			built.err = err
			return
		}
		built.err = os.WriteFile(filepath.Join(built.dir, "kubectl-pmp"), src, 0o755)
	})
	if built.err != nil {
		t.Fatalf("the pmp-secrets-provider binary: %v", built.err)
	}
	return built.bin, filepath.Join(built.dir, "kubectl-pmp")
}

// doctorOutput is one run of doctor.
type doctorOutput struct {
	cmd            string
	code           int
	stdout, stderr string
}

// runDoctor runs `pmp-secrets-provider doctor ARGS` (as kubectl-pmp when
// plugin is set) as a user runs it: the cluster's admin kubeconfig in
// KUBECONFIG, AWS settings from the environment, the AWS endpoints at the
// AWS front where there is one (its trust policies apply), and no AWS
// identity of its own.
func (ns *testNS) runDoctor(plugin bool, args ...string) doctorOutput {
	ns.t.Helper()
	return ns.runCLI(plugin, append([]string{"doctor"}, args...)...)
}

// runCLI runs `pmp-secrets-provider SUBCOMMAND ARGS` as runDoctor runs doctor.
func (ns *testNS) runCLI(plugin bool, args ...string) doctorOutput {
	ns.t.Helper()
	bin, pluginBin := doctorBinaries(ns.t)
	name := "pmp-secrets-provider"
	if plugin {
		bin, name = pluginBin, "kubectl-pmp"
	}
	ctx, cancel := context.WithTimeout(ns.ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + ns.t.TempDir(), // no ~/.kube/config, no ~/.aws
		"KUBECONFIG=" + cfg.kubeconfig,
		"AWS_REGION=" + cfg.region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	switch {
	case cfg.awsFront != "":
		cmd.Env = append(cmd.Env, "AWS_ENDPOINT_URL="+cfg.awsFront)
	case cfg.awsEndpoint != "":
		cmd.Env = append(cmd.Env, "AWS_ENDPOINT_URL="+cfg.awsEndpoint)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	out := doctorOutput{cmd: name + " " + strings.Join(args, " ")}
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		out.code = exit.ExitCode()
	case err != nil:
		ns.t.Fatalf("%s: %v", out.cmd, err)
	}
	out.stdout, out.stderr = stdout.String(), stderr.String()
	ns.t.Logf("$ %s  (exit %d)\n%s%s", out.cmd, out.code, out.stdout, out.stderr)
	return out
}

// diagnosis is doctor's verdict on one set-up, from a text run (the
// binary) and a JSON run (as kubectl-pmp), checked to agree.
type diagnosis struct {
	code int
	text string
	res  doctor.Result
}

// doctor runs doctor twice on the namespace's set-up, as text and as
// --output json, and checks that neither output shows a credential value
// or a token (secret holds the stored values).
func (ns *testNS) doctor(stored pmpSecret, args ...string) diagnosis {
	ns.t.Helper()
	args = append([]string{"-n", ns.name}, args...)
	text := ns.runDoctor(false, args...)
	js := ns.runDoctor(true, append(args, "--output", "json")...)
	for _, o := range []doctorOutput{text, js} {
		noCredentials(ns.t, o.cmd, o.stdout+o.stderr, stored)
	}
	var d diagnosis
	d.code, d.text = text.code, text.stdout
	if err := json.Unmarshal([]byte(js.stdout), &d.res); err != nil {
		ns.t.Fatalf("%s: not JSON (%v):\n%s%s", js.cmd, err, js.stdout, js.stderr)
	}
	if js.code != text.code {
		ns.t.Errorf("exit %d with --output json, %d without", js.code, text.code)
	}
	if first, _, _ := strings.Cut(text.stdout, "\n"); !strings.HasSuffix(first, ": "+d.res.Summary) {
		ns.t.Errorf("the text's summary %q is not the JSON's %q", first, d.res.Summary)
	}
	for _, s := range d.res.Steps {
		if first, _, _ := strings.Cut(s.Message, "\n"); !strings.Contains(text.stdout, first) {
			ns.t.Errorf("the text run does not show the %s step %q", s.Check, first)
		}
	}
	return d
}

func (d diagnosis) statuses() string {
	var out []string
	for _, s := range d.res.Steps {
		out = append(out, s.Check+" "+string(s.Severity))
	}
	return strings.Join(out, ", ")
}

func (d diagnosis) step(check string, st report.Severity) *report.Finding {
	for i, s := range d.res.Steps {
		if s.Check == check && s.Severity == st {
			return &d.res.Steps[i]
		}
	}
	return nil
}

// finding checks that doctor exits 1 with a step of that check and status
// whose message and fix say every one of says, and a fix. A check may
// report more than one finding (environment-secret has one per key): one
// of them must say it all.
func (d diagnosis) finding(t *testing.T, check string, st report.Severity, says ...string) {
	t.Helper()
	if d.code != 1 {
		t.Errorf("exit %d, want 1 (problems found)", d.code)
	}
	var seen []string
	for _, s := range d.res.Steps {
		if s.Check != check || s.Severity != st {
			continue
		}
		text := s.Message + "\nfix: " + s.Fix
		if containsAll(text, says) {
			if s.Fix == "" {
				t.Errorf("the %s finding says no fix: %s", check, s.Message)
			}
			return
		}
		seen = append(seen, text)
	}
	if seen == nil {
		t.Fatalf("no %s step with status %s: %s\n%s", check, st, d.statuses(), d.text)
	}
	t.Fatalf("no %s finding says all of %q; it says:\n%s", check, says, strings.Join(seen, "\n"))
}

// onlyFrom checks that no check but check found a problem: the mistake
// has its own finding, not a cascade of others.
func (d diagnosis) onlyFrom(t *testing.T, check string) {
	t.Helper()
	for _, s := range d.res.Steps {
		if s.Severity.Problem() && s.Check != check {
			t.Errorf("another check found a problem: %s %s: %s", s.Check, s.Severity, s.Message)
		}
	}
}

var (
	jwtRE       = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}`)
	accessKeyRE = regexp.MustCompile(`\b(AKIA|ASIA)[A-Z0-9]{16}\b`)
)

// noCredentials fails if out shows a stored value (or a line of one), a
// JWT (the service-account token doctor requested) or an AWS access key.
func noCredentials(t *testing.T, cmd, out string, stored pmpSecret) {
	t.Helper()
	for k, v := range stored {
		if v == "" {
			continue
		}
		parts := append([]string{v}, strings.Split(v, "\n")...)
		for _, p := range parts {
			if len(p) >= 6 && strings.Contains(out, p) {
				t.Errorf("%s shows the value of %s", cmd, k)
				break
			}
		}
	}
	if jwtRE.MatchString(out) {
		t.Errorf("%s shows a token", cmd)
	}
	if accessKeyRE.MatchString(out) {
		t.Errorf("%s shows an AWS access key id", cmd)
	}
}

// trustPolicy makes STS (the AWS front) enforce a trust policy for a role of
// the test's own that admits only subjects, as IAM does with the
// condition <issuer>:sub. It returns the role; the policy goes with the test.
func (ns *testNS) trustPolicy(subjects ...string) string {
	ns.t.Helper()
	if cfg.frontControl == "" {
		ns.t.Skip("PMP_E2E_AWS_FRONT_CONTROL is not set: the trust policy is enforced by the AWS front (dev/awsfront)")
	}
	role := "arn:aws:iam::000000000000:role/PMP-e2e-" + ns.name[len(ns.name)-6:]
	f := &front{t: ns.t, url: strings.TrimRight(cfg.frontControl, "/")}
	f.do(http.MethodPost, "/trust", map[string]any{"role": role, "subjects": subjects})
	ns.t.Cleanup(func() { f.do(http.MethodDelete, "/trust?role="+url.QueryEscape(role), nil) })
	return role
}

func subject(ns, sa string) string { return "system:serviceaccount:" + ns + ":" + sa }

// The examples' names: the doctor run of docs/pmp-tooling.md is of the examples applied.
const (
	exampleSA         = "pmp-secrets-access"
	exampleDeployment = "pmp"
	exampleClass      = "pmp-credentials"
)

// TestDoctor: doctor, the binary as a user runs it against the cluster,
// passes the examples' set-up after proving its IRSA chain end to end, and
// catches each mistake with its own finding and the fix. Every output,
// text and JSON, is checked to show no credential value and no token.
func TestDoctor(t *testing.T) {
	t.Parallel()
	t.Run("the examples' set-up passes", func(t *testing.T) {
		t.Parallel()
		ns := newNS(t)
		stored := sampleSecret("doctor")
		// The sample's trailing line break is a mistake validate warns about.
		stored["VCS.GithubEnterpriseClientSecret"] = "line one\nline two"
		secret := ns.createSecret("", stored.json())
		// The role's trust policy admits the service account: STS checks the
		// sub of the token the API server issued to doctor.
		role := cfg.roleARN
		if cfg.frontControl != "" {
			role = ns.trustPolicy(subject(ns.name, exampleSA))
		}
		deploy := ns.applyExamples(pmpExample{secret: secret, role: role})
		d := ns.doctor(stored, "--deployment", exampleDeployment)
		want := "csidriver ok, daemonset ok, deployment ok, secretproviderclass ok, serviceaccount ok, token ok, sts ok, secret[0] ok, secret[0] ok, secret[0] ok, mount ok"
		if d.code != 0 || d.statuses() != want || d.res.Summary != "no problems" {
			t.Fatalf("exit %d, %s: %s, want exit 0, every check ok:\n%s", d.code, d.res.Summary, d.statuses(), d.text)
		}
		for check, says := range map[string]string{
			"token":          "service account " + ns.name + "/" + exampleSA + " a token for audience sts.amazonaws.com",
			"sts":            "assume role " + role + " with its token (AssumeRoleWithWebIdentity)",
			"serviceaccount": "annotated with role " + role,
		} {
			if m := d.step(check, report.OK).Message; !strings.Contains(m, says) {
				t.Errorf("%s: %q does not say %q", check, m, says)
			}
		}
		var describe, get, valid bool
		for _, s := range d.res.Steps {
			describe = describe || s.Check == "secret[0]" && strings.Contains(s.Message, "may DescribeSecret "+secret)
			get = get || s.Check == "secret[0]" && strings.Contains(s.Message, "reads secret "+secret+" (GetSecretValue, version ")
			valid = valid || s.Check == "secret[0]" && strings.Contains(s.Message, "is a valid PMP secret")
		}
		if !describe || !get || !valid {
			t.Errorf("secret[0] steps: DescribeSecret %v, GetSecretValue %v, catalog validation %v:\n%s", describe, get, valid, d.text)
		}
		_, files, _ := strings.Cut(d.step("mount", report.OK).Message, " files: ")
		wantFiles := slices.Sorted(func(yield func(string) bool) {
			for k := range stored.nonEmpty() {
				if !yield(k) {
					return
				}
			}
		})
		got := strings.Split(files, ", ")
		sort.Strings(got)
		if diff := cmp.Diff(wantFiles, got); diff != "" {
			t.Errorf("the files doctor says a pod gets (-stored +doctor):\n%s", diff)
		}
		ns.checkREADME(readmeHealthy, d.text, secret, role)
		// What exit 0 promises: the Deployment's pod starts with its files.
		pod, took := ns.waitDeploymentPod(deploy, podStart)
		t.Logf("the Deployment's pod %s Running after %s", pod.Name, took.Round(100*time.Millisecond))
	})

	t.Run("service account without the role annotation", func(t *testing.T) {
		t.Parallel()
		ns := newNS(t)
		stored := sampleSecret("noann")
		secret := ns.createSecret("", stored.json())
		ns.applyExamples(pmpExample{secret: secret, deployment: noReplicas,
			serviceAccount: func(sa *corev1.ServiceAccount) { delete(sa.Annotations, "eks.amazonaws.com/role-arn") }})
		d := ns.doctor(stored, "--deployment", exampleDeployment)
		d.finding(t, "serviceaccount", report.Error,
			"service account "+ns.name+"/"+exampleSA+" has no eks.amazonaws.com/role-arn annotation",
			"kubectl -n "+ns.name+" annotate serviceaccount "+exampleSA+" eks.amazonaws.com/role-arn=arn:aws:iam::ACCOUNT_ID:role/")
		if d.step("token", report.OK) != nil {
			t.Errorf("the IRSA chain ran without a role: %s", d.statuses())
		}
	})

	t.Run("the role annotation only on the Deployment", func(t *testing.T) {
		t.Parallel()
		ns := newNS(t)
		stored := sampleSecret("depann")
		secret := ns.createSecret("", stored.json())
		// The PMP document's mistake: the annotation in the Deployment's
		// metadata, where IRSA never reads it.
		ns.applyExamples(pmpExample{secret: secret,
			serviceAccount: func(sa *corev1.ServiceAccount) { delete(sa.Annotations, "eks.amazonaws.com/role-arn") },
			deployment: func(d *appsv1.Deployment) {
				noReplicas(d)
				d.Annotations = map[string]string{"eks.amazonaws.com/role-arn": cfg.roleARN}
			}})
		d := ns.doctor(stored, "--deployment", exampleDeployment)
		d.finding(t, "serviceaccount", report.Error,
			"it is on Deployment "+ns.name+"/"+exampleDeployment+" instead (as in the PMP document's example), where IRSA never reads it",
			"kubectl -n "+ns.name+" annotate serviceaccount "+exampleSA+" eks.amazonaws.com/role-arn="+cfg.roleARN,
			"remove it from the Deployment")
	})

	t.Run("a trust policy that names another service account", func(t *testing.T) {
		t.Parallel()
		ns := newNS(t)
		stored := sampleSecret("trust")
		secret := ns.createSecret("", stored.json())
		// The role trusts the PMP document's other spelling of the name.
		role := ns.trustPolicy(subject(ns.name, "pmp-secret-access"))
		ns.applyExamples(pmpExample{secret: secret, role: role, deployment: noReplicas})
		// By service account: the class is the namespace's only one.
		d := ns.doctor(stored, "--service-account", exampleSA)
		d.finding(t, "sts", report.Error,
			"STS refused to let "+ns.name+"/"+exampleSA+" assume role "+role+" (AccessDenied)",
			"<issuer>:sub = "+subject(ns.name, exampleSA),
			"pmp-secrets-provider policy --secret "+secret+" --region "+cfg.region+" --account 000000000000 --namespace "+ns.name+" --service-account "+exampleSA+" --oidc-issuer https://")
		if d.step("secret[0]", report.OK) != nil {
			t.Errorf("the secret was read although STS refused the role: %s", d.statuses())
		}
		ns.checkREADME(readmeTrust, d.text, secret, role)
	})

	t.Run("a secret with a mis-cased key", func(t *testing.T) {
		t.Parallel()
		ns := newNS(t)
		stored := sampleSecret("case")
		doc := stored.json()
		if !strings.Contains(doc, `"GitlabAdminPAT"`) {
			t.Fatalf("the sample secret has no GitlabAdminPAT: %s", doc)
		}
		secret := ns.createSecret("", strings.Replace(doc, `"GitlabAdminPAT"`, `"GitlabAdminPat"`, 1))
		ns.applyExamples(pmpExample{secret: secret, deployment: noReplicas})
		d := ns.doctor(stored, "--deployment", exampleDeployment)
		d.finding(t, "secret[0]", report.Error,
			"secret "+secret+": line ", "VCS.GitlabAdminPat is not a PMP key; did you mean VCS.GitlabAdminPAT?",
			"rename it to VCS.GitlabAdminPAT")
	})

	t.Run("a SecretProviderClass with a typo", func(t *testing.T) {
		t.Parallel()
		ns := newNS(t)
		stored := sampleSecret("typo")
		secret := ns.createSecret("", stored.json())
		ns.applyExamples(pmpExample{secret: secret, deployment: noReplicas,
			objects: func(o string) string { return strings.Replace(o, "filePermission:", "filePermision:", 1) }})
		d := ns.doctor(stored, "--deployment", exampleDeployment)
		d.finding(t, "secretproviderclass", report.Error,
			`SecretProviderClass "`+exampleClass+`": objects[0] (`+secret+`): unknown field "filePermision": did you mean filePermission? (known fields: `,
			"kubectl -n "+ns.name+" edit secretproviderclass "+exampleClass)
	})
}

// noReplicas keeps a broken set-up's Deployment from starting pods: doctor
// reads the objects, and a pod would only wait in ContainerCreating.
func noReplicas(d *appsv1.Deployment) {
	zero := int32(0)
	d.Spec.Replicas = &zero
}

// The doctor runs of docs/pmp-tooling.md, on the local cluster: the examples' set-up, and
// the trust policy naming the other spelling of the service account.
const (
	readmeHealthy = "kubectl pmp doctor -n pmp --deployment " + exampleDeployment
	readmeTrust   = "kubectl pmp doctor -n pmp --service-account " + exampleSA
)

// checkREADME checks, on the local cluster (PMP_E2E_CHECK_README=1), that
// docs/pmp-tooling.md shows what doctor printed here for cmd, with the test's
// namespace, secret and role named as in the examples. Version ids differ
// between runs.
func (ns *testNS) checkREADME(cmd, text, secret, role string) {
	ns.t.Helper()
	if !cfg.checkREADME {
		return
	}
	b, err := os.ReadFile("../docs/pmp-tooling.md")
	if err != nil {
		ns.t.Fatal(err)
	}
	readme := string(b)
	line, shown, ok := mddoc.ExampleRun(readme, cmd)
	if !ok || line != cmd {
		ns.t.Errorf("docs/pmp-tooling.md shows no run of %s", cmd)
		return
	}
	version := regexp.MustCompile(`version [0-9a-f-]{36}`)
	got := strings.NewReplacer(secret, "PMP-Production-Credentials", ns.name, "pmp", role, "arn:aws:iam::111122223333:role/PMP-SecretsManager-Role",
		"--account 000000000000", "--account 111122223333").Replace(text)
	if version.ReplaceAllString(shown, "version V") != version.ReplaceAllString(got, "version V") {
		ns.t.Errorf("the run of %s in docs/pmp-tooling.md is not what doctor prints on this cluster; it prints (names as in the examples):\n%s", cmd, got)
	}
}

// TestDoctorPodIdentity: doctor on the examples' set-up switched to EKS
// Pod Identity (usePodIdentity: "true", the service account's role
// annotation removed, the CSIDriver requesting pods.eks.amazonaws.com
// tokens too), against a stand-in EKS Pod Identity Agent (internal/podagent,
// on loopback in the test's process, its credentials the emulator's; doctor
// pointed at it with --pod-identity-agent-url, the IPv6 one empty, so
// nothing goes to the agent's link-local addresses). Without an association
// for the service account, the agent check names the command that creates
// one; with it, exit 0 and the chain runs through the agent to the Mount,
// with no IRSA check. Serial: it edits the cluster's CSIDriver.
func TestDoctorPodIdentity(t *testing.T) {
	if cfg.awsEndpoint == "" {
		t.Skip("the stand-in agent's credentials come from the AWS emulator (PMP_E2E_AWS_ENDPOINT)")
	}
	csiDriverEdit(t, func(s *storagev1.CSIDriverSpec) {
		s.TokenRequests = append(s.TokenRequests, storagev1.TokenRequest{Audience: podagent.Audience})
	})
	agent := podagent.Start(t, cfg.awsEndpoint)
	ns := newNS(t)
	stored := sampleSecret("podid")
	// The sample's trailing line break is a mistake validate warns about.
	stored["VCS.GithubEnterpriseClientSecret"] = "line one\nline two"
	secret := ns.createSecret("", stored.json())
	ns.applyExamples(pmpExample{secret: secret, deployment: noReplicas, parameters: map[string]string{"usePodIdentity": "true"},
		serviceAccount: func(sa *corev1.ServiceAccount) { delete(sa.Annotations, "eks.amazonaws.com/role-arn") }})
	args := []string{"--deployment", exampleDeployment, "--pod-identity-agent-url", agent.URL, "--pod-identity-agent-url-ipv6="}

	d := ns.doctor(stored, args...)
	d.finding(t, "agent", report.Error,
		"the EKS Pod Identity Agent at "+agent.URL+" refused service account "+ns.name+"/"+exampleSA,
		"aws eks create-pod-identity-association --cluster-name CLUSTER --namespace "+ns.name+" --service-account "+exampleSA+" --role-arn ROLE_ARN")

	agent.Associate(ns.name, exampleSA, cfg.roleARN)
	d = ns.doctor(stored, args...)
	want := "csidriver ok, daemonset ok, deployment ok, secretproviderclass ok, serviceaccount ok, token ok, agent ok, secret[0] ok, secret[0] ok, secret[0] ok, mount ok"
	if d.code != 0 || d.statuses() != want {
		t.Fatalf("exit %d, %s: %s, want exit 0, every check ok:\n%s", d.code, d.res.Summary, d.statuses(), d.text)
	}
	for check, says := range map[string]string{
		"csidriver": "requests tokens for " + podagent.Audience,
		"token":     "service account " + ns.name + "/" + exampleSA + " a token for audience " + podagent.Audience,
		"agent":     agent.URL + " from doctor's --pod-identity-agent-url",
		"mount":     "a pod of " + ns.name + "/" + exampleSA + " mounting SecretProviderClass " + exampleClass + " gets ",
	} {
		if m := d.step(check, report.OK).Message; !strings.Contains(m, says) {
			t.Errorf("%s: %q does not say %q", check, m, says)
		}
	}
}
