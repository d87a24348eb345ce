package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/cmdline"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/apifake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/golden"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/kubeapi"
)

// world is a fake API server holding a healthy PMP set-up and the AWS
// emulator holding its secret.
type world struct {
	api *apifake.Server
	aws *awsemu.AWS
}

func newWorld(t *testing.T, secret string) *world {
	t.Helper()
	return worldWith(t, "PMP-Production-Credentials", secret, "../validate/testdata/in/github.json")
}

// worldWith is the healthy PMP cluster objects and the emulator holding
// secret name in eu-west-1: secret, or when it is "" the file orElse.
func worldWith(t *testing.T, name, secret, orElse string) *world {
	t.Helper()
	a := awsemu.Start(t)
	a.UseFrom(t, "eu-west-1")
	if secret == "" {
		b, err := os.ReadFile(orElse)
		if err != nil {
			t.Fatal(err)
		}
		secret = string(b)
	}
	a.PutSecretIn(t, "eu-west-1", name, secret)
	api := apifake.Start(t)
	api.PMP()
	return &world{api: api, aws: a}
}

func (w *world) doctor(t *testing.T) *Doctor {
	t.Helper()
	kube, err := kubeapi.New(&rest.Config{Host: w.api.URL})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := provider.LoadAWSConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &Doctor{Kube: kube, AWS: cfg, Audience: "sts.amazonaws.com", ProviderName: "pmp"}
}

var ofDeployment = Target{Namespace: "pmp", Deployment: "pmp-deployment"}

// status is "check status" per step, for the tables.
func statuses(res Result) []string {
	var out []string
	for _, s := range res.Steps {
		out = append(out, s.Check+" "+string(s.Severity))
	}
	return out
}

func step(res Result, check string, st report.Severity) *report.Finding {
	for i, s := range res.Steps {
		if s.Check == check && s.Severity == st {
			return &res.Steps[i]
		}
	}
	return nil
}

// versionIDs are the secret versions doctor names: new in every run.
var versionIDs = regexp.MustCompile(`version [0-9a-f-]{36}`)

// printed is res as doctor prints it, checked to show no value of the
// world's secrets, with its versions as VERSION.
func (w *world) printed(t *testing.T, res Result) string {
	t.Helper()
	var text bytes.Buffer
	WriteText(&text, res)
	noSecrets(t, w.api, text.String())
	return versionIDs.ReplaceAllString(text.String(), "version VERSION")
}

func noSecrets(t *testing.T, api *apifake.Server, out string) {
	t.Helper()
	if strings.Contains(out, "SENTINEL") {
		t.Errorf("output shows a credential value:\n%s", out)
	}
	for _, tok := range api.Issuer.Issued() {
		for _, part := range strings.Split(tok, ".") {
			if strings.Contains(out, part) {
				t.Errorf("output shows a token the API server issued:\n%s", out)
			}
		}
	}
}

func TestHealthySetUpPasses(t *testing.T) {
	w := newWorld(t, "")
	res := w.doctor(t).Check(context.Background(), ofDeployment)
	want := "csidriver ok, daemonset ok, deployment ok, secretproviderclass ok, serviceaccount ok, token ok, sts ok, secret[0] ok, secret[0] ok, secret[0] ok, mount ok"
	if got := strings.Join(statuses(res), ", "); got != want {
		t.Fatalf("steps:\n%s\nwant:\n%s\n%+v", got, want, res.Steps)
	}
	if m := step(res, "mount", report.OK).Message; !strings.Contains(m, "gets 3 files: Email.SMTPPassword, VCS.GithubAdminPAT, VCS.GithubOrgOwnerPAT") {
		t.Errorf("mount: %s", m)
	}
	if got := w.api.TokenRequests(); len(got) != 1 || got[0] != "pmp/pmp-secrets-access sts.amazonaws.com" {
		t.Errorf("token requests = %q", got)
	}
	for _, op := range []string{"sts:AssumeRoleWithWebIdentity", "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"} {
		if n := w.aws.Front.Count(op); n != 1 {
			t.Errorf("%d calls of %s, want 1 (the Mount is served from what the chain fetched)", n, op)
		}
	}
	golden.Check(t, "healthy.golden.txt", w.printed(t, res))
}

// Each mistake is caught by its own finding, which says how to fix it.
func TestEachMistakeHasItsFinding(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret string
		break_ func(w *world, d *Doctor)
		target Target
		check  string
		status report.Severity
		says   []string
		// chain: the IRSA chain still runs to the Mount.
		chain bool
	}{
		{name: "CSIDriver without the token request",
			break_: func(w *world, _ *Doctor) { w.api.Put(apifake.CSIDriverPath, apifake.CSIDriver(false, true, true)) },
			check:  "csidriver", status: report.Error, chain: true,
			says: []string{"requests no service-account token for audience sts.amazonaws.com", "tokenRequests: [{audience: sts.amazonaws.com}]", "--set tokenRequests[0].audience=sts.amazonaws.com"}},
		{name: "CSIDriver without rotation",
			break_: func(w *world, _ *Doctor) { w.api.Put(apifake.CSIDriverPath, apifake.CSIDriver(true, true, false)) },
			check:  "csidriver", status: report.Warning, chain: true, says: []string{"requiresRepublish is not true", "--set enableSecretRotation=true"}},
		{name: "no CSIDriver",
			break_: func(w *world, _ *Doctor) { w.api.Delete(apifake.CSIDriverPath) },
			check:  "csidriver", status: report.Error, chain: true, says: []string{"the Secrets Store CSI Driver is not installed", "helm install"}},
		{name: "service account without the annotation",
			break_: func(w *world, _ *Doctor) {
				w.api.Put(apifake.ServiceAccountPath, apifake.ServiceAccount("pmp-secrets-access", ""))
			},
			check: "serviceaccount", status: report.Error,
			says: []string{"has no eks.amazonaws.com/role-arn annotation", "kubectl -n pmp annotate serviceaccount pmp-secrets-access eks.amazonaws.com/role-arn=arn:aws:iam::ACCOUNT_ID:role/"}},
		{name: "the annotation only on the Deployment",
			break_: func(w *world, _ *Doctor) {
				w.api.Put(apifake.ServiceAccountPath, apifake.ServiceAccount("pmp-secrets-access", ""))
				w.api.Put(apifake.DeploymentPath, apifake.Deployment("pmp-secrets-access", "pmp-credentials", apifake.Obj{"eks.amazonaws.com/role-arn": apifake.Role}))
			},
			check: "serviceaccount", status: report.Error,
			says: []string{"it is on Deployment pmp/pmp-deployment instead (as in the PMP document's example), where IRSA never reads it",
				"kubectl -n pmp annotate serviceaccount pmp-secrets-access eks.amazonaws.com/role-arn=" + apifake.Role}},
		{name: "the service account spelled as in the PMP document's Deployment",
			break_: func(w *world, _ *Doctor) {
				w.api.Put(apifake.DeploymentPath, apifake.Deployment("pmp-secret-access", "pmp-credentials", nil))
			},
			check: "serviceaccount", status: report.Error,
			says: []string{"there is no service account pmp/pmp-secret-access; did you mean pmp-secrets-access?", "serviceAccountName: pmp-secrets-access"}},
		{name: "a trust policy that names another service account",
			break_: func(w *world, _ *Doctor) {
				w.aws.Front.Inject(awsemu.Fault{Operation: "sts:AssumeRoleWithWebIdentity", Status: 403, Code: "AccessDenied", Message: "Not authorized to perform sts:AssumeRoleWithWebIdentity"})
			},
			check: "sts", status: report.Error,
			says: []string{"STS refused to let pmp/pmp-secrets-access assume role " + apifake.Role + " (AccessDenied)", "<issuer>:sub = system:serviceaccount:pmp:pmp-secrets-access",
				"pmp-secrets-provider policy --secret PMP-Production-Credentials --region eu-west-1 --account 123456789012 --namespace pmp --service-account pmp-secrets-access --oidc-issuer " + issuer.DefaultURL}},
		{name: "a secret with a mis-cased key",
			secret: `{"VCS": {"GithubAdminPat": "VALUE-SENTINEL-pat"}, "Email": {"SMTPPassword": "VALUE-SENTINEL-smtp"}}`,
			check:  "secret[0]", status: report.Error, chain: true,
			says: []string{"secret PMP-Production-Credentials: line 1, column 10: VCS.GithubAdminPat is not a PMP key; did you mean VCS.GithubAdminPAT?", `rename it to VCS.GithubAdminPAT`}},
		{name: "a SecretProviderClass with a typo",
			break_: func(w *world, _ *Doctor) {
				w.api.Put(apifake.ClassPath, apifake.Class("pmp-credentials", "pmp", "eu-west-1", "- objectName: PMP-Production-Credentials\n  key: [\"VCS.*\"]\n"))
			},
			check: "secretproviderclass", status: report.Error,
			says: []string{`SecretProviderClass "pmp-credentials": objects[0] (PMP-Production-Credentials): unknown field "key"`, "kubectl -n pmp edit secretproviderclass pmp-credentials"}},
		{name: "a SecretProviderClass of another provider",
			break_: func(w *world, _ *Doctor) {
				w.api.Put(apifake.ClassPath, apifake.Class("pmp-credentials", "aws", "eu-west-1", "- objectName: PMP-Production-Credentials\n"))
			},
			check: "secretproviderclass", status: report.Error, says: []string{`has spec.provider "aws"`, "set spec.provider: pmp"}},
		{name: "a Deployment that does not exist",
			target: Target{Namespace: "pmp", Deployment: "pmp-deploymnet"},
			check:  "deployment", status: report.Error, says: []string{"there is no Deployment pmp/pmp-deploymnet; did you mean pmp-deployment?", "kubectl -n pmp get deployments"}},
		{name: "the volume names a SecretProviderClass that does not exist",
			break_: func(w *world, _ *Doctor) {
				w.api.Put(apifake.DeploymentPath, apifake.Deployment("pmp-secrets-access", "pmp-credential", nil))
			},
			check: "secretproviderclass", status: report.Error, says: []string{"there is no SecretProviderClass pmp/pmp-credential; did you mean pmp-credentials?"}},
		{name: "the provider does not tolerate a node's taint",
			break_: func(w *world, _ *Doctor) {
				w.api.Put("/api/v1/nodes/node-2", apifake.Obj{"metadata": apifake.Obj{"name": "node-2"}, "spec": apifake.Obj{"taints": []apifake.Obj{{"key": "dedicated", "value": "pmp", "effect": "NoSchedule"}}}})
				w.api.Delete("/api/v1/namespaces/kube-system/pods/pmp-secrets-provider-node-2")
			},
			check: "daemonset", status: report.Error, chain: true,
			says: []string{"has no ready pod on 1 of the 2 nodes the driver runs on: node-2", "- {key: dedicated, operator: Equal, value: pmp, effect: NoSchedule}"}},
		{name: "a provider pod that is not ready",
			break_: func(w *world, _ *Doctor) {
				w.api.Put("/api/v1/namespaces/kube-system/pods/pmp-secrets-provider-node-1", apifake.Pod("kube-system", "pmp-secrets-provider-node-1", "pmp-secrets-provider", "node-1", false))
			},
			check: "daemonset", status: report.Error, chain: true, says: []string{"node-1", "kubectl -n kube-system get pods -o wide -l app=pmp-secrets-provider"}},
		{name: "no provider DaemonSet beside the driver's",
			break_: func(w *world, _ *Doctor) { w.api.Delete(apifake.ProviderDaemonSet) },
			check:  "daemonset", status: report.Error, chain: true, says: []string{"no provider DaemonSet was found", "--provider-daemonset"}},
		{name: "no TokenRequest allowed",
			break_: func(w *world, _ *Doctor) { w.api.TokenStatus = http.StatusForbidden },
			check:  "token", status: report.Error, says: []string{"you may not request tokens", "kubectl auth can-i create serviceaccounts/token -n pmp"}},
		{name: "a role without DescribeSecret",
			break_: func(w *world, _ *Doctor) {
				w.aws.Front.Inject(awsemu.Fault{Operation: "secretsmanager:DescribeSecret", Status: 400, Code: "AccessDeniedException", Message: "denied"})
			},
			check: "secret[0]", status: report.Warning, chain: true, says: []string{"may not DescribeSecret", "policy --secret PMP-Production-Credentials"}},
		{name: "a role without GetSecretValue",
			break_: func(w *world, _ *Doctor) {
				w.aws.Front.Inject(awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Status: 400, Code: "AccessDeniedException", Message: "denied"})
			},
			check: "secret[0]", status: report.Error, says: []string{"access to secret PMP-Production-Credentials in eu-west-1 was denied", "secretsmanager:GetSecretValue"}},
		{name: "a keys pattern that matches only empty credentials",
			break_: func(w *world, _ *Doctor) {
				w.api.Put(apifake.ClassPath, apifake.Class("pmp-credentials", "pmp", "eu-west-1", "- objectName: PMP-Production-Credentials\n  keys: [\"VCS.Gitlab*\"]\n"))
			},
			check: "mount", status: report.Error, says: []string{`keys pattern "VCS.Gitlab*" matches no key that has a value`}},
		{name: "no region anywhere",
			break_: func(w *world, d *Doctor) {
				w.api.Put(apifake.ClassPath, apifake.Class("pmp-credentials", "pmp", "", "- objectName: PMP-Production-Credentials\n"))
				d.AWS.Region = ""
			},
			check: "sts", status: report.Error, says: []string{"no AWS region", "pass --region"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.secret)
			d := w.doctor(t)
			if tc.break_ != nil {
				tc.break_(w, d)
			}
			target := tc.target
			if target.Namespace == "" {
				target = ofDeployment
			}
			res := d.Check(context.Background(), target)
			s := step(res, tc.check, tc.status)
			if s == nil {
				t.Fatalf("no %s step with status %s:\n%s", tc.check, tc.status, strings.Join(statuses(res), "\n"))
			}
			for _, want := range tc.says {
				if !strings.Contains(s.Message+"\n"+s.Fix, want) {
					t.Errorf("the finding does not say %q:\n%s\nfix: %s", want, s.Message, s.Fix)
				}
			}
			if s.Fix == "" && tc.status != report.Warning {
				t.Errorf("the finding says no fix: %s", s.Message)
			}
			if ran := step(res, "mount", report.OK) != nil; ran != tc.chain {
				t.Errorf("the Mount succeeded: %v, want %v:\n%s", ran, tc.chain, strings.Join(statuses(res), "\n"))
			}
			out, _ := json.Marshal(res)
			noSecrets(t, w.api, string(out))
		})
	}
}

func TestNoDaemonSetsIsNotAProblem(t *testing.T) {
	w := newWorld(t, "")
	w.api.Delete(apifake.DriverDaemonSet)
	w.api.Delete(apifake.ProviderDaemonSet)
	res := w.doctor(t).Check(context.Background(), Target{Namespace: "pmp", ServiceAccount: "pmp-secrets-access"})
	if step(res, "daemonset", report.Skipped) == nil || len(report.Problems(res.Steps)) != 0 {
		t.Errorf("steps:\n%s", strings.Join(statuses(res), "\n"))
	}
	if res.Target.Class != "pmp-credentials" {
		t.Errorf("the namespace's only class of the provider was not picked: %+v", res.Target)
	}
}

// A driver that is not a DaemonSet (a host process, a static pod) is found
// by the nodes whose CSINode lists it.
func TestDriverNotADaemonSet(t *testing.T) {
	for _, tc := range []struct {
		name   string
		nodes  []string // CSINodes listing the driver
		status report.Severity
		says   string
	}{
		{"registered on both nodes", []string{"node-1", "node-2"}, report.OK,
			"runs ready on all 2 nodes of the driver (not a DaemonSet here: nodes whose CSINode lists secrets-store.csi.k8s.io)"},
		{"registered on one node", []string{"node-1"}, report.OK, "runs ready on the one node of the driver"},
		{"registered on a node without the provider", []string{"node-1", "node-3"}, report.Error, "has no ready pod on 1 of the 2 nodes the driver runs on: node-3"},
		{"registered nowhere", nil, report.Error, "the driver does not: no DaemonSet has a container with --provider-volume and no node's CSINode lists secrets-store.csi.k8s.io"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "")
			w.api.Delete(apifake.DriverDaemonSet)
			for _, n := range tc.nodes {
				w.api.Put("/apis/storage.k8s.io/v1/csinodes/"+n, apifake.Obj{"metadata": apifake.Obj{"name": n},
					"spec": apifake.Obj{"drivers": []apifake.Obj{{"name": "csi.other.example"}, {"name": "secrets-store.csi.k8s.io"}}}})
			}
			w.api.Put("/apis/storage.k8s.io/v1/csinodes/node-2x", apifake.Obj{"metadata": apifake.Obj{"name": "node-2x"},
				"spec": apifake.Obj{"drivers": []apifake.Obj{{"name": "csi.other.example"}}}})
			res := w.doctor(t).Check(context.Background(), ofDeployment)
			s := step(res, "daemonset", tc.status)
			if s == nil || !strings.Contains(s.Message, tc.says) {
				t.Fatalf("want a daemonset step %s saying %q:\n%+v", tc.status, tc.says, res.Steps)
			}
			if tc.status == report.Error && s.Fix == "" {
				t.Errorf("no fix: %s", s.Message)
			}
		})
	}
}

// The subcommand, from the command line with a kubeconfig: as a user runs
// it (and as kubectl pmp doctor).
func TestRun(t *testing.T) {
	w := newWorld(t, "")
	kubeconfig := w.api.Kubeconfig(t)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Run(context.Background(), cmdline.Env{Prog: "kubectl pmp", Stdout: &out, Stderr: &errb}, args)
		return code, out.String(), errb.String()
	}
	code, stdout, stderr := run("--kubeconfig", kubeconfig, "--deployment", "pmp-deployment")
	if code != 0 || !strings.HasPrefix(stdout, "doctor: namespace pmp, Deployment pmp-deployment, service account pmp-secrets-access, SecretProviderClass pmp-credentials: no problems") {
		t.Errorf("status %d\n%s%s", code, stdout, stderr)
	}
	noSecrets(t, w.api, stdout+stderr)

	w.api.Put(apifake.ServiceAccountPath, apifake.ServiceAccount("pmp-secrets-access", ""))
	code, stdout, _ = run("--kubeconfig", kubeconfig, "-n", "pmp", "--service-account", "pmp-secrets-access", "--output", "json")
	var res Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if code != 1 || res.Summary != "1 problem (1 error)" || step(res, "serviceaccount", report.Error) == nil {
		t.Errorf("status %d\n%s", code, stdout)
	}
	golden.Check(t, "no-annotation.golden.json", stdout)
	code, stdout, _ = run("--kubeconfig", kubeconfig, "-n", "pmp", "--service-account", "pmp-secrets-access")
	if code != 1 {
		t.Errorf("status %d, want 1", code)
	}
	golden.Check(t, "no-annotation.golden.txt", stdout)

	for args, says := range map[string]string{
		"--kubeconfig " + kubeconfig:        "name the workload: --deployment NAME or --service-account NAME",
		"--kubeconfig /nope --deployment x": "kubeconfig:",
		"--deployment x extra":              `unexpected arguments ["extra"]`,
	} {
		code, stdout, stderr := run(strings.Fields(args)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, says) {
			t.Errorf("%s: status %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}
