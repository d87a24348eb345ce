package identity_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/driverreq"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/mountenv"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/podagent"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
)

const (
	targetRole = "arn:aws:iam::444455556666:role/pmp-reader"
	otherRole  = "arn:aws:iam::777788889999:role/other-reader"
	testRole   = mountenv.Role
)

// podIdentityReq is e's Mount of pod pmp/pmp-0 with usePodIdentity, its
// token for the agent's audience too.
func podIdentityReq(e *mountenv.Env, objects string) driverreq.Request {
	r := e.Req(objects)
	r.MoreAudiences = []string{podagent.Audience}
	r.Parameters["usePodIdentity"] = "true"
	return r
}

// withAgent points the provider at a stand-in agent on loopback: no test
// ever sends anything to the link-local one.
func withAgent(a *podagent.Agent) mountenv.Option {
	return func(o *provider.Options) { o.PodIdentityAgentURL = a.URL }
}

func secretValue(name string) string { return fmt.Sprintf("VALUE-SENTINEL-%s-7c1d", name) }

func TestCrossAccountAssumeRole(t *testing.T) {
	e := mountenv.New(t)
	e.PutSecret("PMP-Production-Credentials", `{"VCS": {"GithubAdminPAT": "gh"}}`)
	e.PutSecret("team-db", "hunter2")
	r := e.Req("- objectName: PMP-Production-Credentials\n- objectName: team-db\n  assumeRoleArn: " + otherRole)
	r.Parameters["assumeRoleArn"] = targetRole
	r.Parameters["assumeRoleExternalId"] = "pmp-prod"
	r.Parameters["assumeRoleDurationSeconds"] = "900"
	resp, err := e.Mount(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := mountenv.Files(resp); got["VCS.GithubAdminPAT"] != "gh" || got["team-db"] != "hunter2" {
		t.Errorf("files = %v", got)
	}
	f := e.AWS.Front
	if f.Count("sts:AssumeRoleWithWebIdentity") != 1 || f.Count("sts:AssumeRole") != 2 || f.Count("secretsmanager:GetSecretValue") != 2 {
		t.Errorf("calls = %v; want the pod's own exchange once and each target assumed once", f.Counts())
	}
	// The last AssumeRole is the object's own target: its fields only.
	form := f.LastForm("sts:AssumeRole")
	if form.Get("RoleArn") != otherRole || form.Get("ExternalId") != "" || form.Get("DurationSeconds") != "" || form.Get("RoleSessionName") != "pmp-pmp-pmp-secrets-access" {
		t.Errorf("AssumeRole sent RoleArn %q ExternalId %q DurationSeconds %q RoleSessionName %q",
			form.Get("RoleArn"), form.Get("ExternalId"), form.Get("DurationSeconds"), form.Get("RoleSessionName"))
	}
	// The republish: all cached.
	f.ResetCounts()
	if _, err := e.Mount(r); err != nil {
		t.Fatal(err)
	}
	if f.Total() != 0 {
		t.Errorf("the republish called %v", f.Counts())
	}

	// The class's target alone, to read what it sends.
	e2 := mountenv.Start(t, e.AWS, mountenv.Config{})
	one := e2.Req("- objectName: PMP-Production-Credentials")
	for _, k := range []string{"assumeRoleArn", "assumeRoleExternalId", "assumeRoleDurationSeconds"} {
		one.Parameters[k] = r.Parameters[k]
	}
	if _, err := e2.Mount(one); err != nil {
		t.Fatal(err)
	}
	form = f.LastForm("sts:AssumeRole")
	if form.Get("RoleArn") != targetRole || form.Get("ExternalId") != "pmp-prod" || form.Get("DurationSeconds") != "900" {
		t.Errorf("AssumeRole sent RoleArn %q ExternalId %q DurationSeconds %q", form.Get("RoleArn"), form.Get("ExternalId"), form.Get("DurationSeconds"))
	}
}

// TestCrossAccountTrustRefusal: the emulator assumes any role for anyone,
// so the front refuses sts:AssumeRole as a target role's trust policy
// would. The message says what the policy must allow; a pod identity
// refused by the target never gets what another pod identity read as it.
func TestCrossAccountTrustRefusal(t *testing.T) {
	e := mountenv.New(t)
	doc, want := pmp.Document(secretValue)
	e.PutSecret("PMP-Production-Credentials", doc)
	legit := e.Req("- objectName: PMP-Production-Credentials")
	legit.Parameters["assumeRoleArn"] = targetRole
	legit.Parameters["assumeRoleExternalId"] = "pmp-prod"
	if _, err := e.Mount(legit); err != nil {
		t.Fatal(err)
	}
	e.AWS.Front.Inject(awsemu.Fault{Operation: "sts:AssumeRole", Status: 403, Code: "AccessDenied",
		Message: "User: arn:aws:sts::123456789012:assumed-role/x/y is not authorized to perform: sts:AssumeRole on resource: " + targetRole})
	e.AWS.Front.ResetCounts()

	copycat := e.Req(legit.Parameters["objects"])
	copycat.Namespace, copycat.ServiceAccount, copycat.PodName = "other", "copycat", "copycat-0"
	for k, v := range legit.Parameters {
		copycat.Parameters[k] = v
	}
	_, err := e.Mount(copycat)
	if mounterr.KindOf(err) != mounterr.Denied {
		t.Fatalf("copycat: %v, want Denied", err)
	}
	for _, w := range []string{
		"STS refused to let " + testRole + " (the identity of other/copycat) assume role " + targetRole,
		`the trust policy of role ` + targetRole + ` must allow sts:AssumeRole for the principal {"AWS": "` + testRole + `"} with the condition {"StringEquals": {"sts:ExternalId": "pmp-prod"}}`,
		"the permission policy of " + testRole + " must allow sts:AssumeRole on " + targetRole,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message = %s\nwant it to contain %s", err.Error(), w)
		}
	}
	for name, v := range want {
		if strings.Contains(err.Error(), v) {
			t.Errorf("the refusal quotes the value of %s", name)
		}
	}
	if n := e.AWS.Front.Count("secretsmanager:GetSecretValue"); n != 0 {
		t.Errorf("the refused pod reached Secrets Manager %d times", n)
	}
	if _, err := e.Mount(legit); err != nil {
		t.Errorf("the trusted pod, from its cache: %v", err)
	}
}

// TestPodIdentityChainedToAnotherAccount: Pod Identity's credentials, from
// the agent, assume the target role.
func TestPodIdentityChainedToAnotherAccount(t *testing.T) {
	e := mountenv.New(t)
	agent := podagent.Start(t, e.AWS.EmulatorEndpoint)
	agent.Associate("pmp", "pmp-secrets-access", testRole)
	e = mountenv.Start(t, e.AWS, mountenv.Config{}, withAgent(agent))
	e.PutSecret("PMP-Production-Credentials", `{"A": "x"}`)
	r := podIdentityReq(e, "- objectName: PMP-Production-Credentials")
	r.Parameters["assumeRoleArn"] = targetRole
	if _, err := e.Mount(r); err != nil {
		t.Fatal(err)
	}
	f := e.AWS.Front
	if agent.Calls() != 1 || f.Count("sts:AssumeRole") != 1 || f.Count("sts:AssumeRoleWithWebIdentity") != 0 {
		t.Errorf("agent %d calls, STS %v; want the agent once and one AssumeRole", agent.Calls(), f.Counts())
	}
	f.Inject(awsemu.Fault{Operation: "sts:AssumeRole", Status: 403, Code: "AccessDenied", Message: "not authorized"})
	e2 := mountenv.Start(t, e.AWS, mountenv.Config{Issuer: e.Issuer}, withAgent(agent))
	_, err := e2.Mount(r)
	if mounterr.KindOf(err) != mounterr.Denied ||
		!strings.Contains(err.Error(), "the ARN of the role of the service account's EKS Pod Identity association as the principal") {
		t.Errorf("refused: %v, want the Pod Identity principal named", err)
	}
}
