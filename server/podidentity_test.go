package server_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/podagent"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
)

// podIdentityReq is the driver's Mount of pod pmp/pmp-0 with the
// CSIDriver's tokenRequests holding both audiences, for a
// SecretProviderClass with usePodIdentity: "true".
func podIdentityReq(objects string) mountReq {
	r := pmpReq(objects)
	r.MoreAudiences = []string{podagent.Audience}
	r.Parameters["usePodIdentity"] = "true"
	return r
}

// withAgents points the provider at stand-in agents on loopback for both
// address families: no test ever sends anything to the link-local ones.
func withAgents(v4, v6 *podagent.Agent) envOption {
	return func(o *provider.Options) {
		if v4 != nil {
			o.PodIdentityAgentURL = v4.URL
		}
		if v6 != nil {
			o.PodIdentityAgentURLIPv6 = v6.URL
		}
	}
}

func TestMountWithEKSPodIdentity(t *testing.T) {
	e := newEnv(t)
	v4, v6 := podagent.Start(t, e.aws.EmulatorEndpoint), podagent.Start(t, e.aws.EmulatorEndpoint)
	for _, a := range []*podagent.Agent{v4, v6} {
		a.Associate("pmp", "pmp-secrets-access", testRole)
	}
	e = startProvider(t, e.aws, withAgents(v4, v6))
	doc, want := pmpTemplate(secretValue)
	e.putSecret("PMP-Production-Credentials", doc)
	objects := "- objectName: PMP-Production-Credentials"

	resp, err := e.mount(podIdentityReq(objects))
	if err != nil {
		t.Fatal(err)
	}
	if got := filesOf(resp); len(got) != len(want) {
		t.Errorf("%d files, want %d", len(got), len(want))
	}
	if v4.Calls() != 1 || v6.Calls() != 0 {
		t.Errorf("agents asked: IPv4 %d, IPv6 %d; want the IPv4 one once (preferredAddressType auto)", v4.Calls(), v6.Calls())
	}
	if n := e.aws.Front.Count("sts:AssumeRoleWithWebIdentity"); n != 0 {
		t.Errorf("IRSA's exchange called %d times for a Pod Identity Mount", n)
	}
	// The republish: credentials and secret cached for this identity.
	if _, err := e.mount(podIdentityReq(objects)); err != nil {
		t.Fatal(err)
	}
	if v4.Calls() != 1 || e.aws.Front.Count("secretsmanager:GetSecretValue") != 1 {
		t.Errorf("second Mount: agent asked %d times, GetSecretValue %d; want 1 and 1", v4.Calls(), e.aws.Front.Count("secretsmanager:GetSecretValue"))
	}

	// The same service account over IPv6: the agent's other address.
	r := podIdentityReq("- objectName: PMP-Production-Credentials\n  keys: [VCS.*]")
	r.Parameters["preferredAddressType"] = "ipv6"
	e2 := startProvider(t, e.aws, withAgents(v4, v6))
	if _, err := e2.mount(r); err != nil {
		t.Fatal(err)
	}
	if v6.Calls() != 1 || v4.Calls() != 1 {
		t.Errorf("preferredAddressType ipv6: IPv4 %d, IPv6 %d calls; want the IPv6 agent asked", v4.Calls(), v6.Calls())
	}
}

// TestPodIdentityIsKeptPerPod: EKS Pod Identity tags each session with
// the pod (kubernetes-pod-name, kubernetes-pod-uid), which a policy may
// match, so two pods of one service account each get their own
// credentials and their own read: pod Y is never served what was read as
// pod X. With --pod-identity-share-by-service-account they share both.
func TestPodIdentityIsKeptPerPod(t *testing.T) {
	e := newEnv(t)
	agent := podagent.Start(t, e.aws.EmulatorEndpoint)
	agent.Associate("pmp", "pmp-secrets-access", testRole)
	doc, _ := pmpTemplate(secretValue)
	e.putSecret("PMP-Production-Credentials", doc)
	objects := "- objectName: PMP-Production-Credentials"
	x := podIdentityReq(objects)
	y := podIdentityReq(objects)
	y.PodName, y.PodUID = "pmp-1", "0b0e3c1e-0000-4000-8000-000000000002"
	reads := func() int64 { return e.aws.Front.Count("secretsmanager:GetSecretValue") }

	perPod := startProvider(t, e.aws, withAgents(agent, nil))
	for _, r := range []mountReq{x, y, x, y} {
		if _, err := perPod.mount(r); err != nil {
			t.Fatalf("%s: %v", r.PodName, err)
		}
	}
	if agent.CallsFor(x.PodUID) != 1 || agent.CallsFor(y.PodUID) != 1 || reads() != 2 {
		t.Errorf("per pod: agent asked for pod X %d times, pod Y %d, GetSecretValue %d; want 1, 1 and 2 (each pod its own credentials and read, each kept for its republish)",
			agent.CallsFor(x.PodUID), agent.CallsFor(y.PodUID), reads())
	}

	e.aws.Front.ResetCounts()
	calls := agent.Calls()
	shared := startProvider(t, e.aws, withAgents(agent, nil), func(o *provider.Options) { o.PodIdentityShareByServiceAccount = true })
	for _, r := range []mountReq{x, y} {
		if _, err := shared.mount(r); err != nil {
			t.Fatalf("shared, %s: %v", r.PodName, err)
		}
	}
	if agent.Calls()-calls != 1 || reads() != 1 {
		t.Errorf("shared by the service account: agent asked %d times, GetSecretValue %d; want 1 and 1 (pod Y served pod X's)", agent.Calls()-calls, reads())
	}
}

// TestPodIdentityIsolation: a pod whose service account has no
// association is refused by the agent, while the associated pod's
// credentials and secret are cached; the same pod without the
// pods.eks.amazonaws.com token is refused before anything is asked.
func TestPodIdentityIsolation(t *testing.T) {
	e := newEnv(t)
	agent := podagent.Start(t, e.aws.EmulatorEndpoint)
	agent.Associate("pmp", "pmp-secrets-access", testRole)
	e = startProvider(t, e.aws, withAgents(agent, nil))
	doc, want := pmpTemplate(secretValue)
	e.putSecret("PMP-Production-Credentials", doc)
	objects := "- objectName: PMP-Production-Credentials"
	if _, err := e.mount(podIdentityReq(objects)); err != nil {
		t.Fatal(err)
	}
	e.aws.Front.ResetCounts()

	copycat := podIdentityReq(objects)
	copycat.Namespace, copycat.ServiceAccount, copycat.PodName = "other", "copycat", "copycat-0"
	_, err := e.mount(copycat)
	st := status.Convert(err)
	if st.Code() != codes.PermissionDenied || !strings.Contains(st.Message(), "refused the credentials of service account other/copycat") ||
		!strings.Contains(st.Message(), "create-pod-identity-association --cluster-name CLUSTER --namespace other --service-account copycat") {
		t.Errorf("copycat: %v, want PermissionDenied naming the association to create", err)
	}
	for name, v := range want {
		if strings.Contains(st.Message(), v) {
			t.Errorf("the refusal quotes the value of %s", name)
		}
	}

	noToken := pmpReq(objects) // tokenRequests without pods.eks.amazonaws.com
	noToken.Parameters["usePodIdentity"] = "true"
	calls := agent.Calls()
	_, err = e.mount(noToken)
	if st := status.Convert(err); st.Code() != codes.Unauthenticated || !strings.Contains(st.Message(), `audience "pods.eks.amazonaws.com"`) {
		t.Errorf("no Pod Identity token: %v, want Unauthenticated naming the audience", err)
	}
	// A token of the other audience sent as the Pod Identity one.
	swapped := pmpReq(objects)
	swapped.Parameters["usePodIdentity"] = "true"
	swapped.Audience = podagent.Audience
	swapped.Token = testIssuer.Sign(issuerToken(swapped, "sts.amazonaws.com"))
	_, err = e.mount(swapped)
	if st := status.Convert(err); st.Code() != codes.Unauthenticated || !strings.Contains(st.Message(), "audience check") {
		t.Errorf("an STS token as the Pod Identity one: %v, want the audience check to fail", err)
	}
	if agent.Calls() != calls || e.aws.Front.Count("secretsmanager:GetSecretValue") != 0 {
		t.Errorf("refused Mounts reached the agent (%d) or Secrets Manager (%d)", agent.Calls()-calls, e.aws.Front.Count("secretsmanager:GetSecretValue"))
	}

	// Without agent addresses the provider says what to set; nothing is
	// asked anywhere (the provider itself names no agent address).
	bare := startProvider(t, e.aws)
	_, err = bare.mount(podIdentityReq(objects))
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "--pod-identity-agent-url") {
		t.Errorf("no agent address: %v, want InvalidArgument naming the flag", err)
	}
}

// issuerToken is the kubelet's token of r's pod for audience.
func issuerToken(r mountReq, audience string) issuer.Token {
	return issuer.Token{Namespace: r.Namespace, ServiceAccount: r.ServiceAccount, PodName: r.PodName, PodUID: r.PodUID, Audience: []string{audience}}
}
