package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/cmdline"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/apifake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/golden"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/podagent"
)

const targetRole = "arn:aws:iam::444455556666:role/pmp-reader"

// classWith is the healthy set-up's SecretProviderClass with more
// parameters.
func classWith(objects string, parameters map[string]string) apifake.Obj {
	c := apifake.Class("pmp-credentials", "pmp", "eu-west-1", objects)
	p := c["spec"].(apifake.Obj)["parameters"].(apifake.Obj)
	for k, v := range parameters {
		p[k] = v
	}
	return c
}

const healthyObjects = "- objectName: PMP-Production-Credentials\n  filePermission: \"0440\"\n"

// providerWithArgs is the provider DaemonSet run with args, after an
// empty --pod-identity-agent-url-ipv6: nothing in the tests is sent to the
// agent's real (link-local) addresses, the flags' defaults.
func providerWithArgs(args ...string) apifake.Obj {
	return apifake.DaemonSet("kube-system", "pmp-secrets-provider", "pmp-secrets-provider",
		apifake.Obj{"name": "provider", "image": "ghcr.io/example/pmp-secrets-provider:1.0", "args": append([]string{"--pod-identity-agent-url-ipv6="}, args...)}, nil)
}

// podIdentityWorld is the healthy set-up with EKS Pod Identity: the class
// sets usePodIdentity, the CSIDriver requests tokens for
// pods.eks.amazonaws.com too, the service account has no role
// annotation, and the provider DaemonSet is pointed at a stand-in agent
// that has the service account's association.
func podIdentityWorld(t *testing.T) (*world, *podagent.Agent) {
	t.Helper()
	w := newWorld(t, "")
	agent := podagent.Start(t, w.aws.EmulatorEndpoint)
	agent.Associate("pmp", "pmp-secrets-access", apifake.Role)
	drv := apifake.CSIDriver(true, true, true)
	drv["spec"].(apifake.Obj)["tokenRequests"] = []apifake.Obj{{"audience": "sts.amazonaws.com"}, {"audience": podagent.Audience}}
	w.api.Put(apifake.CSIDriverPath, drv)
	w.api.Put(apifake.ClassPath, classWith(healthyObjects, map[string]string{"usePodIdentity": "true"}))
	w.api.Put(apifake.ServiceAccountPath, apifake.ServiceAccount("pmp-secrets-access", ""))
	w.api.Put(apifake.ProviderDaemonSet, providerWithArgs("--pod-identity-agent-url="+agent.URL))
	return w, agent
}

// agentDaemonSet puts the EKS Pod Identity Agent add-on's DaemonSet with
// a pod on each of the world's nodes, ready or not.
func putAgentDaemonSet(w *world, ready map[string]bool) {
	w.api.Put("/apis/apps/v1/namespaces/kube-system/daemonsets/eks-pod-identity-agent", apifake.DaemonSet("kube-system", "eks-pod-identity-agent", "eks-pod-identity-agent",
		apifake.Obj{"name": "eks-pod-identity-agent", "image": "eks/eks-pod-identity-agent:0.1"}, nil))
	for n, r := range ready {
		w.api.Put("/api/v1/namespaces/kube-system/pods/eks-pod-identity-agent-"+n, apifake.Pod("kube-system", "eks-pod-identity-agent-"+n, "eks-pod-identity-agent", n, r))
	}
}

// refusingAgent answers every credentials request with status and code:
// what the real agent relays from EKS Auth, and the stand-in, which
// accepts every token of the right audience, never does.
func refusingAgent(t *testing.T, status int, code string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"code": code, "message": "refused by the test"})
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1/credentials"
}

// notLinkLocal fails if doctor asked the agent's real addresses, which
// no test may send to.
func notLinkLocal(t *testing.T, res Result) {
	t.Helper()
	for _, st := range res.Steps {
		if strings.Contains(st.Message, "169.254.170.23") || strings.Contains(st.Message, "fd00:ec2::23") {
			t.Errorf("doctor asked a link-local agent address: %s", st.Message)
		}
	}
}

var agentPort = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)

func TestPodIdentitySetUpPasses(t *testing.T) {
	w, agent := podIdentityWorld(t)
	res := w.doctor(t).Check(context.Background(), ofDeployment)
	want := "csidriver ok, daemonset ok, deployment ok, secretproviderclass ok, serviceaccount ok, token ok, agent ok, secret[0] ok, secret[0] ok, secret[0] ok, mount ok"
	if got := strings.Join(statuses(res), ", "); got != want {
		t.Fatalf("steps:\n%s\nwant:\n%s\n%+v", got, want, res.Steps)
	}
	if got := w.api.TokenRequests(); len(got) != 1 || got[0] != "pmp/pmp-secrets-access pods.eks.amazonaws.com" {
		t.Errorf("token requests = %q, want one for the Pod Identity audience", got)
	}
	if n := agent.Calls(); n != 1 {
		t.Errorf("the agent was asked %d times, want once (the Mount is served from what the chain fetched)", n)
	}
	if n := w.aws.Front.Count("sts:AssumeRoleWithWebIdentity"); n != 0 {
		t.Errorf("%d IRSA exchanges for a Pod Identity class", n)
	}
	if m := step(res, "agent", report.OK).Message; !strings.Contains(m, agent.URL+" from --pod-identity-agent-url of DaemonSet kube-system/pmp-secrets-provider") {
		t.Errorf("agent: %q does not say the URL read from the provider's arguments", m)
	}
	notLinkLocal(t, res)
	golden.Check(t, "podidentity.golden.txt", agentPort.ReplaceAllString(w.printed(t, res), "127.0.0.1:PORT"))
}

// Each broken link of the Pod Identity chain is its own finding, which
// says how to fix it.
func TestEachPodIdentityMistakeHasItsFinding(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, w *world, agent *podagent.Agent, d *Doctor)
		check  string
		status report.Severity
		says   []string
		chain  bool // the chain still runs to the Mount
	}{
		{name: "no association for the service account",
			break_: func(t *testing.T, w *world, _ *podagent.Agent, _ *Doctor) {
				other := podagent.Start(t, w.aws.EmulatorEndpoint)
				other.Associate("pmp", "pmp-secret-access", apifake.Role) // the PMP document's other spelling
				w.api.Put(apifake.ProviderDaemonSet, providerWithArgs("--pod-identity-agent-url", other.URL))
			},
			check: "agent", status: report.Error,
			says: []string{"refused service account pmp/pmp-secrets-access (HTTP 400 AccessDeniedException: no Pod Identity association for service account pmp/pmp-secrets-access)",
				"aws eks create-pod-identity-association --cluster-name CLUSTER --namespace pmp --service-account pmp-secrets-access --role-arn ROLE_ARN",
				"pods.eks.amazonaws.com sts:AssumeRole and sts:TagSession", "eks-auth:AssumeRoleForPodIdentity"}},
		{name: "the agent add-on is not installed",
			break_: func(t *testing.T, w *world, _ *podagent.Agent, d *Doctor) {
				u := podagent.UnreachableURL(t)
				d.PodIdentityAgentURL = &u
			},
			check: "agent", status: report.Error,
			says: []string{"nothing answers at the EKS Pod Identity Agent's address http://127.0.0.1:", "from doctor's --pod-identity-agent-url",
				"the EKS Pod Identity Agent add-on is not installed (there is no DaemonSet kube-system/eks-pod-identity-agent)",
				"aws eks create-addon --cluster-name CLUSTER --addon-name eks-pod-identity-agent"}},
		{name: "the agent add-on is not running on a node",
			break_: func(t *testing.T, w *world, _ *podagent.Agent, _ *Doctor) {
				w.api.Put(apifake.ProviderDaemonSet, providerWithArgs("--pod-identity-agent-url="+podagent.UnreachableURL(t)))
				putAgentDaemonSet(w, map[string]bool{"node-1": true, "node-2": false})
			},
			check: "agent", status: report.Error,
			says: []string{"the EKS Pod Identity Agent add-on is not running on node node-2", "kubectl -n kube-system get pods -o wide -l app=eks-pod-identity-agent"}},
		{name: "the agent runs but doctor cannot reach it",
			break_: func(t *testing.T, w *world, _ *podagent.Agent, _ *Doctor) {
				w.api.Put(apifake.ProviderDaemonSet, providerWithArgs("--pod-identity-agent-url="+podagent.UnreachableURL(t)))
				putAgentDaemonSet(w, map[string]bool{"node-1": true, "node-2": true})
			},
			check: "agent", status: report.Error,
			says: []string{"runs ready on all 2 nodes (DaemonSet kube-system/eks-pod-identity-agent), so doctor is where it cannot be reached", "run doctor in a pod of the cluster"}},
		{name: "no IPv6 address for preferredAddressType ipv6",
			break_: func(t *testing.T, w *world, _ *podagent.Agent, _ *Doctor) {
				w.api.Put(apifake.ClassPath, classWith(healthyObjects, map[string]string{"usePodIdentity": "true", "preferredAddressType": "ipv6"}))
			},
			check: "agent", status: report.Error,
			says: []string{"preferredAddressType ipv6, but the provider has no EKS Pod Identity Agent address for it: --pod-identity-agent-url-ipv6 is empty (--pod-identity-agent-url-ipv6 of DaemonSet kube-system/pmp-secrets-provider)",
				"--set podIdentityAgent.urlIPv6="}},
		{name: "the agent refuses the token",
			break_: func(t *testing.T, w *world, _ *podagent.Agent, _ *Doctor) {
				w.api.Put(apifake.ProviderDaemonSet, providerWithArgs("--pod-identity-agent-url="+refusingAgent(t, 400, "InvalidTokenException")))
			},
			check: "agent", status: report.Error,
			says: []string{"refused the token doctor requested for pmp/pmp-secrets-access with audience pods.eks.amazonaws.com (HTTP 400 InvalidTokenException", "tokens of its own EKS cluster only"}},
		{name: "the agent fails",
			break_: func(t *testing.T, w *world, _ *podagent.Agent, _ *Doctor) {
				w.api.Put(apifake.ProviderDaemonSet, providerWithArgs("--pod-identity-agent-url="+refusingAgent(t, 500, "InternalServerException")))
			},
			check: "agent", status: report.Error,
			says: []string{"kept failing", "HTTP 500 InternalServerException", "kubectl -n kube-system logs daemonset/eks-pod-identity-agent"}},
		{name: "CSIDriver without the Pod Identity token request",
			break_: func(t *testing.T, w *world, _ *podagent.Agent, _ *Doctor) {
				w.api.Put(apifake.CSIDriverPath, apifake.CSIDriver(true, true, true))
			},
			check: "csidriver", status: report.Error, chain: true,
			says: []string{"requests no service-account token for audience pods.eks.amazonaws.com, so pods get no EKS Pod Identity token",
				"add {audience: pods.eks.amazonaws.com} to tokenRequests, keeping those there  (helm: --set tokenRequests[1].audience=pods.eks.amazonaws.com)"}},
		{name: "a role without GetSecretValue",
			break_: func(t *testing.T, w *world, _ *podagent.Agent, _ *Doctor) {
				w.aws.Front.Inject(awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Status: 400, Code: "AccessDeniedException", Message: "denied"})
			},
			check: "secret[0]", status: report.Error, says: []string{"access to secret PMP-Production-Credentials in eu-west-1 was denied", "secretsmanager:GetSecretValue"}},
		{name: "a cross-account role whose trust policy refuses",
			break_: func(t *testing.T, w *world, _ *podagent.Agent, _ *Doctor) {
				w.api.Put(apifake.ClassPath, classWith(healthyObjects, map[string]string{"usePodIdentity": "true", "assumeRoleArn": targetRole}))
				w.aws.Front.Inject(awsemu.Fault{Operation: "sts:AssumeRole", Status: 403, Code: "AccessDenied", Message: "not authorized to perform sts:AssumeRole"})
			},
			check: "assumerole", status: report.Error,
			says: []string{"STS refused to let the IAM role of the EKS Pod Identity association of service account pmp/pmp-secrets-access",
				"the trust policy of role " + targetRole + " must allow sts:AssumeRole for the ARN of the role of the service account's EKS Pod Identity association",
				"aws iam update-assume-role-policy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, agent := podIdentityWorld(t)
			d := w.doctor(t)
			// An agent that never answers is retried for the budget.
			d.RetryBudget = 2 * time.Second
			tc.break_(t, w, agent, d)
			res := d.Check(context.Background(), ofDeployment)
			s := step(res, tc.check, tc.status)
			if s == nil {
				t.Fatalf("no %s step with status %s:\n%s\n%+v", tc.check, tc.status, strings.Join(statuses(res), "\n"), res.Steps)
			}
			for _, want := range tc.says {
				if !strings.Contains(s.Message+"\n"+s.Fix, want) {
					t.Errorf("the finding does not say %q:\n%s\nfix: %s", want, s.Message, s.Fix)
				}
			}
			if s.Fix == "" {
				t.Errorf("the finding says no fix: %s", s.Message)
			}
			if ran := step(res, "mount", report.OK) != nil; ran != tc.chain {
				t.Errorf("the Mount succeeded: %v, want %v:\n%s", ran, tc.chain, strings.Join(statuses(res), "\n"))
			}
			for _, st := range res.Steps {
				if st.Check == "serviceaccount" && st.Severity != report.OK || st.Check == "sts" {
					t.Errorf("a Pod Identity class got an IRSA step: %+v", st)
				}
			}
			notLinkLocal(t, res)
			out, _ := json.Marshal(res)
			noSecrets(t, w.api, string(out))
		})
	}
}

// A Pod Identity class that does not parse: the service account is not
// asked for an IRSA annotation it does not need.
func TestPodIdentityClassWithATypo(t *testing.T) {
	w, _ := podIdentityWorld(t)
	w.api.Put(apifake.ClassPath, classWith("- objectName: PMP-Production-Credentials\n  filePermision: \"0440\"\n", map[string]string{"usePodIdentity": "true"}))
	res := w.doctor(t).Check(context.Background(), ofDeployment)
	if step(res, "secretproviderclass", report.Error) == nil || step(res, "serviceaccount", report.OK) == nil || step(res, "chain", report.Skipped) == nil {
		t.Errorf("steps:\n%s", strings.Join(statuses(res), "\n"))
	}
	if n := len(report.Problems(res.Steps)); n != 1 {
		t.Errorf("%d findings, want the class's only: %+v", n, res.Steps)
	}
}

// assumeRoleArn: the secret is read as the target role, assumed with the
// pod's own credentials, for IRSA and for Pod Identity alike.
func TestCrossAccountChain(t *testing.T) {
	for _, tc := range []struct {
		name string
		pi   bool
		own  string // the own identity's step
	}{
		{name: "IRSA", own: "sts"},
		{name: "EKS Pod Identity", pi: true, own: "agent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "")
			parameters := map[string]string{"assumeRoleArn": targetRole, "assumeRoleExternalId": "pmp-prod"}
			principal := apifake.Role
			if tc.pi {
				w, _ = podIdentityWorld(t)
				parameters["usePodIdentity"] = "true"
				principal = "the IAM role of the EKS Pod Identity association of service account pmp/pmp-secrets-access"
			}
			w.api.Put(apifake.ClassPath, classWith(healthyObjects, parameters))
			res := w.doctor(t).Check(context.Background(), ofDeployment)
			want := "csidriver ok, daemonset ok, deployment ok, secretproviderclass ok, serviceaccount ok, token ok, " + tc.own + " ok, assumerole ok, secret[0] ok, secret[0] ok, secret[0] ok, mount ok"
			if got := strings.Join(statuses(res), ", "); got != want {
				t.Fatalf("steps:\n%s\nwant:\n%s\n%+v", got, want, res.Steps)
			}
			if m := step(res, "assumerole", report.OK).Message; !strings.Contains(m, "STS lets "+principal+" (the identity of pmp/pmp-secrets-access) assume role "+targetRole+" with its external ID") {
				t.Errorf("assumerole: %s", m)
			}
			var read bool
			for _, s := range res.Steps {
				read = read || s.Check == "secret[0]" && strings.HasPrefix(s.Message, "role "+targetRole+" reads secret PMP-Production-Credentials")
			}
			if !read {
				t.Errorf("the secret was not read as the target role:\n%+v", res.Steps)
			}
			if n := w.aws.Front.Count("sts:AssumeRole"); n != 1 {
				t.Errorf("%d AssumeRole calls, want 1 (the Mount is served from what the chain fetched)", n)
			}
			if form := w.aws.Front.LastForm("sts:AssumeRole"); form.Get("RoleArn") != targetRole || form.Get("ExternalId") != "pmp-prod" {
				t.Errorf("AssumeRole sent RoleArn %q ExternalId %q", form.Get("RoleArn"), form.Get("ExternalId"))
			}
		})
	}
}

// --pod-identity-agent-url on doctor's command line wins over the
// provider DaemonSet's.
func TestRunWithAgentURL(t *testing.T) {
	w, agent := podIdentityWorld(t)
	w.api.Put(apifake.ProviderDaemonSet, providerWithArgs("--pod-identity-agent-url="+podagent.UnreachableURL(t)))
	var out, errb bytes.Buffer
	code := Run(context.Background(), cmdline.Env{Prog: "kubectl pmp", Stdout: &out, Stderr: &errb},
		[]string{"--kubeconfig", w.api.Kubeconfig(t), "--deployment", "pmp-deployment", "--pod-identity-agent-url", agent.URL, "--output", "json"})
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("status %d: %v\n%s%s", code, err, out.String(), errb.String())
	}
	if code != 0 || step(res, "agent", report.OK) == nil || !strings.Contains(step(res, "agent", report.OK).Message, agent.URL+" from doctor's --pod-identity-agent-url") {
		t.Errorf("status %d:\n%s", code, out.String())
	}
	notLinkLocal(t, res)
}
