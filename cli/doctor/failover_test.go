package doctor

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/apifake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/golden"
)

const westRegion = "us-west-2"

// failoverWorld is the healthy set-up (its secret in eu-west-1) with a
// second region, us-west-2, the class's failoverRegion; secrets lists
// what that region holds.
func failoverWorld(t *testing.T, w *world, objects string, parameters map[string]string, secrets ...string) *awsemu.Region {
	t.Helper()
	west := w.aws.AddRegion(t, westRegion)
	for _, name := range secrets {
		if _, err := west.Admin.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
			Name: aws.String(name), SecretString: aws.String(`{"VCS": {"GithubAdminPAT": "VALUE-SENTINEL-west"}}`),
		}); err != nil {
			t.Fatal(err)
		}
	}
	p := map[string]string{"failoverRegion": westRegion}
	for k, v := range parameters {
		p[k] = v
	}
	w.api.Put(apifake.ClassPath, classWith(objects, p))
	return west
}

func TestFailoverRegionServesEveryObject(t *testing.T) {
	w := newWorld(t, "")
	failoverWorld(t, w, healthyObjects, nil, "PMP-Production-Credentials")
	res := w.doctor(t).Check(context.Background(), ofDeployment)
	want := "csidriver ok, daemonset ok, deployment ok, secretproviderclass ok, serviceaccount ok, token ok, sts ok, secret[0] ok, secret[0] ok, secret[0] ok, mount ok, failover ok"
	if got := strings.Join(statuses(res), ", "); got != want {
		t.Fatalf("steps:\n%s\nwant:\n%s\n%+v", got, want, res.Steps)
	}
	if m := step(res, "failover", report.OK).Message; !strings.HasPrefix(m, "failover region us-west-2 serves every object as a Mount reads it there during an outage of eu-west-1, with the pod's credentials from STS in us-west-2: secret PMP-Production-Credentials as role "+apifake.Role) {
		t.Errorf("failover: %s", m)
	}
	if n := w.aws.Front.CountIn(westRegion, "secretsmanager:GetSecretValue"); n != 1 {
		t.Errorf("%d GetSecretValue in us-west-2, want 1 (the replica)", n)
	}
	// AssumeRoleWithWebIdentity is not signed, so the front cannot tell its
	// region: the second one is the exchange for us-west-2.
	if n := w.aws.Front.Count("sts:AssumeRoleWithWebIdentity"); n != 2 {
		t.Errorf("%d AssumeRoleWithWebIdentity, want 2 (one per region)", n)
	}
	golden.Check(t, "failover.golden.txt", w.printed(t, res))
}

// The failover region is read as a Mount reads it: the failoverObject's
// name, the assumeRoleArn role assumed there, for IRSA and Pod Identity.
func TestFailoverReadsAsTheMount(t *testing.T) {
	for _, tc := range []struct {
		name string
		pi   bool
		own  string
	}{
		{name: "IRSA", own: "sts"},
		{name: "EKS Pod Identity", pi: true, own: "agent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "")
			parameters := map[string]string{"assumeRoleArn": targetRole}
			if tc.pi {
				w, _ = podIdentityWorld(t)
				parameters["usePodIdentity"] = "true"
			}
			failoverWorld(t, w, healthyObjects+"  failoverObject: {objectName: PMP-DR-Credentials}\n", parameters, "PMP-DR-Credentials")
			res := w.doctor(t).Check(context.Background(), ofDeployment)
			want := "csidriver ok, daemonset ok, deployment ok, secretproviderclass ok, serviceaccount ok, token ok, " + tc.own + " ok, assumerole ok, secret[0] ok, secret[0] ok, secret[0] ok, mount ok, failover ok"
			if got := strings.Join(statuses(res), ", "); got != want {
				t.Fatalf("steps:\n%s\nwant:\n%s\n%+v", got, want, res.Steps)
			}
			if m := step(res, "failover", report.OK).Message; !strings.Contains(m, "secret PMP-DR-Credentials as role "+targetRole+" (GetSecretValue, version ") {
				t.Errorf("failover: %s", m)
			}
			if n := w.aws.Front.CountIn(westRegion, "sts:AssumeRole"); n != 1 {
				t.Errorf("%d AssumeRole calls in us-west-2, want 1", n)
			}
			if form := w.aws.Front.LastForm("sts:AssumeRole"); form.Get("RoleArn") != targetRole {
				t.Errorf("AssumeRole in us-west-2 sent RoleArn %q", form.Get("RoleArn"))
			}
		})
	}
}

// A failover region that would fail is a warning naming the object, the
// region, AWS's reason and the fix; the primary still mounts.
func TestFailoverRegionThatWouldFail(t *testing.T) {
	for _, tc := range []struct {
		name       string
		parameters map[string]string
		secrets    []string // in us-west-2
		fault      *awsemu.Fault
		says       []string
		notSays    string
	}{
		{name: "no replica",
			says: []string{"objects entry PMP-Production-Credentials cannot be read in failover region us-west-2, so its Mount would fail during an outage of eu-west-1",
				"ResourceNotFoundException",
				"replicate the secret to us-west-2: aws secretsmanager replicate-secret-to-regions --secret-id PMP-Production-Credentials --add-replica-regions Region=us-west-2 --region eu-west-1",
				"or fix failoverObject"},
			notSays: "pmp-secrets-provider policy"},
		{name: "the role may not read the replica", secrets: []string{"PMP-Production-Credentials"},
			fault: &awsemu.Fault{Region: westRegion, Operation: "secretsmanager:GetSecretValue", Status: 400, Code: "AccessDeniedException", Message: "denied"},
			says: []string{"objects entry PMP-Production-Credentials cannot be read in failover region us-west-2",
				"AccessDeniedException",
				"grant role " + apifake.Role + " secretsmanager:GetSecretValue on the replica's ARN in us-west-2: pmp-secrets-provider policy --secret PMP-Production-Credentials --region eu-west-1 --failover-region us-west-2 writes such a policy",
				"or fix failoverObject"},
			notSays: "replicate-secret-to-regions"},
		{name: "STS in the failover region refuses the target role", parameters: map[string]string{"assumeRoleArn": targetRole}, secrets: []string{"PMP-Production-Credentials"},
			fault: &awsemu.Fault{Region: westRegion, Operation: "sts:AssumeRole", Status: 403, Code: "AccessDenied", Message: "denied"},
			says: []string{"may not assume role " + targetRole + " (assumeRoleArn) in failover region us-west-2, so every Mount would fail during an outage of eu-west-1", "AccessDenied",
				"a refusal in us-west-2 alone is its STS"},
			notSays: "replicate-secret-to-regions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "")
			failoverWorld(t, w, healthyObjects, tc.parameters, tc.secrets...)
			if tc.fault != nil {
				w.aws.Front.Inject(*tc.fault)
			}
			res := w.doctor(t).Check(context.Background(), ofDeployment)
			assume := ""
			if tc.parameters["assumeRoleArn"] != "" {
				assume = "assumerole ok, "
			}
			want := "csidriver ok, daemonset ok, deployment ok, secretproviderclass ok, serviceaccount ok, token ok, sts ok, " + assume + "secret[0] ok, secret[0] ok, secret[0] ok, mount ok, failover warning"
			if got := strings.Join(statuses(res), ", "); got != want {
				t.Fatalf("steps:\n%s\nwant:\n%s\n%+v", got, want, res.Steps)
			}
			if res.Summary != "1 problem (1 warning)" {
				t.Errorf("summary %q", res.Summary)
			}
			s := step(res, "failover", report.Warning)
			for _, want := range tc.says {
				if !strings.Contains(s.Message+"\n"+s.Fix, want) {
					t.Errorf("the finding does not say %q:\n%s\nfix: %s", want, s.Message, s.Fix)
				}
			}
			if strings.Contains(s.Fix, tc.notSays) {
				t.Errorf("the fix says %q, which does not fix this:\n%s", tc.notSays, s.Fix)
			}
			out, _ := json.Marshal(res)
			noSecrets(t, w.api, string(out))
		})
	}
}

// Parameters are read only by the mount check, in the primary region:
// the failover check says it leaves them, and vouches for the secrets.
func TestFailoverLeavesParameters(t *testing.T) {
	w := newWorld(t, "")
	if _, err := w.aws.SSM.PutParameter(context.Background(), &awsssm.PutParameterInput{Name: aws.String("/pmp/smtp/password"),
		Type: ssmtypes.ParameterTypeSecureString, Value: aws.String("VALUE-SENTINEL-ssm")}, func(o *awsssm.Options) { o.Region = "eu-west-1" }); err != nil {
		t.Fatal(err)
	}
	failoverWorld(t, w, healthyObjects+"- objectName: /pmp/smtp/password\n  objectType: ssmparameter\n  objectAlias: smtp\n", nil, "PMP-Production-Credentials")
	res := w.doctor(t).Check(context.Background(), ofDeployment)
	s := step(res, "failover", report.Skipped)
	if s == nil || !strings.Contains(s.Message, "parameters /pmp/smtp/password (Parameter Store) are not read in failover region us-west-2") {
		t.Fatalf("no skipped failover step for the parameter:\n%+v", res.Steps)
	}
	if m := step(res, "failover", report.OK); m == nil || !strings.HasPrefix(m.Message, "failover region us-west-2 serves every secret as") {
		t.Errorf("failover ok: %+v", res.Steps)
	}
	if n := w.aws.Front.CountIn(westRegion, "ssm:GetParameters"); n != 0 {
		t.Errorf("%d GetParameters in us-west-2", n)
	}
}
