package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/cmdline"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/golden"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mendixenv"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), cmdline.Env{Prog: "pmp-secrets-provider", Stdout: &out, Stderr: &errb}, args)
	return code, out.String(), errb.String()
}

const issuer = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"

func TestGoldenOutputs(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"permission", []string{"--secret", "PMP-Production-Credentials", "--region", "eu-west-1", "--account", "123456789012"}, 0},
		{"trust", []string{"--secret", "PMP-Production-Credentials", "--region", "eu-west-1", "--account", "123456789012",
			"--namespace", "pmp", "--service-account", "pmp-secrets-access", "--oidc-issuer", issuer}, 0},
		{"placeholders", []string{"--secret", "PMP-Production-Credentials", "--namespace", "pmp", "--service-account", "pmp-secrets-access", "--oidc-issuer", issuer}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for format, ext := range map[string]string{"text": "txt", "json": "json"} {
				code, stdout, stderr := run(t, append(tc.args, "--output", format)...)
				if code != tc.code || stderr != "" {
					t.Errorf("--output %s: status %d, want %d; stderr %s", format, code, tc.code, stderr)
				}
				if format == "json" && !json.Valid([]byte(stdout)) {
					t.Errorf("not JSON:\n%s", stdout)
				}
				golden.Check(t, tc.name+".golden."+ext, stdout)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       Input
		resource string
		// federated and sub are the trust policy's, "" for none.
		federated, sub string
		checks         []string
	}{
		{name: "name, region and account", in: Input{Secret: "PMP-Production-Credentials", Region: "eu-west-1", Account: "123456789012"},
			resource: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:PMP-Production-Credentials-??????"},
		{name: "a full ARN", in: Input{Secret: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:PMP-Production-Credentials-AbCdEf", Region: "eu-west-1", Account: "123456789012"},
			resource: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:PMP-Production-Credentials-AbCdEf"},
		{name: "no region", in: Input{Secret: "PMP-Prod", Account: "123456789012"},
			resource: "arn:aws:secretsmanager:REGION:123456789012:secret:PMP-Prod-??????", checks: []string{"placeholder-region"}},
		{name: "no account", in: Input{Secret: "PMP-Prod", Region: "eu-west-1"},
			resource: "arn:aws:secretsmanager:eu-west-1:ACCOUNT_ID:secret:PMP-Prod-??????", checks: []string{"placeholder-account"}},
		{name: "China", in: Input{Secret: "PMP-Prod", Region: "cn-north-1", Account: "123456789012"},
			resource: "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:PMP-Prod-??????"},
		{name: "GovCloud", in: Input{Secret: "PMP-Prod", Region: "us-gov-west-1", Account: "123456789012"},
			resource: "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:PMP-Prod-??????"},
		{name: "trust", in: Input{Secret: "PMP-Prod", Region: "eu-west-1", Account: "123456789012", Namespace: "pmp", ServiceAccount: "pmp-secrets-access", OIDCIssuer: "oidc.eks.eu-west-1.amazonaws.com/id/ABC"},
			resource:  "arn:aws:secretsmanager:eu-west-1:123456789012:secret:PMP-Prod-??????",
			federated: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC", sub: "system:serviceaccount:pmp:pmp-secrets-access"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Build(tc.in)
			st := res.PermissionPolicy.Statement[0]
			if st.Resource != tc.resource {
				t.Errorf("resource = %s, want %s", st.Resource, tc.resource)
			}
			if diff := cmp.Diff([]string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}, st.Action); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			var checks []string
			for _, f := range res.Findings {
				checks = append(checks, f.Check)
			}
			if diff := cmp.Diff(tc.checks, checks); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if tc.federated == "" {
				if res.TrustPolicy != nil {
					t.Errorf("trust policy without a service account: %+v", res.TrustPolicy)
				}
				return
			}
			tst := res.TrustPolicy.Statement[0]
			iss := "oidc.eks.eu-west-1.amazonaws.com/id/ABC"
			want := map[string]map[string]string{"StringEquals": {iss + ":sub": tc.sub, iss + ":aud": "sts.amazonaws.com"}}
			if tst.Principal["Federated"] != tc.federated || tst.Action != "sts:AssumeRoleWithWebIdentity" || !cmp.Equal(want, tst.Condition) {
				t.Errorf("trust statement = %+v", tst)
			}
		})
	}
}

func TestBuildParameters(t *testing.T) {
	res := Build(Input{Secret: "PMP-Prod", Region: "eu-west-1", Account: "123456789012", Parameters: []string{"/app/db/password", "app.flag"}})
	if len(res.PermissionPolicy.Statement) != 2 {
		t.Fatalf("%d statements, want the secret's and the parameters'", len(res.PermissionPolicy.Statement))
	}
	st := res.PermissionPolicy.Statement[1]
	want := Statement{Sid: "ReadTheParameters", Effect: "Allow", Action: []string{"ssm:GetParameters"},
		Resource: []string{"arn:aws:ssm:eu-west-1:123456789012:parameter/app/db/password", "arn:aws:ssm:eu-west-1:123456789012:parameter/app.flag"}}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("parameters statement (-want +got):\n%s", diff)
	}
	one := Build(Input{Secret: "PMP-Prod", Region: "eu-west-1", Account: "123456789012", Parameters: []string{"/app/x"}})
	if r := one.PermissionPolicy.Statement[1].Resource; r != "arn:aws:ssm:eu-west-1:123456789012:parameter/app/x" {
		t.Errorf("one parameter's resource = %v", r)
	}
}

func TestBuildFailoverRegion(t *testing.T) {
	res := Build(Input{Secret: "PMP-Prod", Region: "eu-west-1", FailoverRegion: "eu-central-1", Account: "123456789012", Parameters: []string{"/app/x"}})
	want := []Statement{
		{Sid: "ReadThePMPSecret", Effect: "Allow", Action: []string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}, Resource: []string{
			"arn:aws:secretsmanager:eu-west-1:123456789012:secret:PMP-Prod-??????",
			"arn:aws:secretsmanager:eu-central-1:123456789012:secret:PMP-Prod-??????"}},
		{Sid: "ReadTheParameters", Effect: "Allow", Action: []string{"ssm:GetParameters"}, Resource: []string{
			"arn:aws:ssm:eu-west-1:123456789012:parameter/app/x",
			"arn:aws:ssm:eu-central-1:123456789012:parameter/app/x"}},
	}
	if diff := cmp.Diff(want, res.PermissionPolicy.Statement); diff != "" {
		t.Errorf("statements (-want +got):\n%s", diff)
	}
	// A replica keeps its secret's name and suffix: only the region differs.
	arn := Build(Input{Secret: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:PMP-Prod-AbCdEf", Region: "eu-west-1", Account: "123456789012", FailoverRegion: "eu-central-1"})
	wantARNs := []string{"arn:aws:secretsmanager:eu-west-1:123456789012:secret:PMP-Prod-AbCdEf", "arn:aws:secretsmanager:eu-central-1:123456789012:secret:PMP-Prod-AbCdEf"}
	if diff := cmp.Diff(wantARNs, arn.PermissionPolicy.Statement[0].Resource); diff != "" {
		t.Errorf("ARN secret with a failover region (-want +got):\n%s", diff)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"no secret", nil, "--secret is required"},
		{"a wildcard", []string{"--secret", "PMP-*"}, "no wildcards: the policy is for one secret"},
		{"a bad ARN", []string{"--secret", "arn:aws:s3:::bucket"}, "is not a Secrets Manager secret ARN"},
		{"ARN and another region", []string{"--secret", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:P-AbCdEf", "--region", "us-east-1"}, "differs from the region of --secret's ARN"},
		{"ARN and another account", []string{"--secret", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:P-AbCdEf", "--account", "210987654321"}, "differs from the account"},
		{"bad region", []string{"--secret", "P", "--region", "Europe"}, "not an AWS region name"},
		{"bad account", []string{"--secret", "P", "--account", "12345"}, "not a 12-digit AWS account ID"},
		{"half the trust flags", []string{"--secret", "P", "--namespace", "pmp"}, "--service-account and --oidc-issuer missing"},
		{"bad namespace", []string{"--secret", "P", "--namespace", "PMP", "--service-account", "sa", "--oidc-issuer", issuer}, "not a Kubernetes namespace name"},
		{"bad service account", []string{"--secret", "P", "--namespace", "pmp", "--service-account", "SA_1", "--oidc-issuer", issuer}, "not a Kubernetes service account name"},
		{"http issuer", []string{"--secret", "P", "--namespace", "pmp", "--service-account", "sa", "--oidc-issuer", "http://issuer"}, "must be an https URL"},
		{"issuer with a query", []string{"--secret", "P", "--namespace", "pmp", "--service-account", "sa", "--oidc-issuer", "https://issuer/?x=1"}, "is not a URL such as"},
		{"an argument", []string{"--secret", "P", "extra"}, `unexpected arguments ["extra"]`},
		{"a parameter with a version", []string{"--secret", "P", "--parameter", "/app/db:3"}, "is not a Parameter Store parameter name"},
		{"a parameter wildcard", []string{"--secret", "P", "--parameter", "/app/*"}, "no wildcards"},
		{"failover region is the region", []string{"--secret", "P", "--region", "eu-west-1", "--failover-region", "eu-west-1"}, "--failover-region eu-west-1 is the secret's own region"},
		{"bad failover region", []string{"--secret", "P", "--failover-region", "Frankfurt"}, "--failover-region \"Frankfurt\" is not an AWS region name"},
		{"failover region in another partition", []string{"--secret", "P", "--region", "eu-west-1", "--failover-region", "cn-north-1"}, "is in another partition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.args...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tc.says) {
				t.Errorf("status %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, tc.says)
			}
		})
	}
}

func TestRegionFromTheEnvironment(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-central-1")
	code, stdout, _ := run(t, "--secret", "PMP-Prod", "--account", "123456789012", "--output", "json")
	if code != 0 || !strings.Contains(stdout, "arn:aws:secretsmanager:eu-central-1:123456789012:secret:PMP-Prod-??????") {
		t.Errorf("status %d:\n%s", code, stdout)
	}
	// An ARN's region wins over AWS_REGION.
	code, stdout, _ = run(t, "--secret", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:PMP-Prod-AbCdEf", "--output", "json")
	if code != 0 || !strings.Contains(stdout, `"Resource": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:PMP-Prod-AbCdEf"`) {
		t.Errorf("status %d:\n%s", code, stdout)
	}
}

func TestIssuerHost(t *testing.T) {
	for in, want := range map[string]string{
		issuer: "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
		"oidc.eks.eu-west-1.amazonaws.com/id/ABC/": "oidc.eks.eu-west-1.amazonaws.com/id/ABC",
		"https://issuer.example:8443":              "issuer.example:8443",
	} {
		if got, err := issuerHost(in); got != want || err != "" {
			t.Errorf("issuerHost(%q) = %q, %q; want %q", in, got, err, want)
		}
	}
}

func TestEnvironmentGoldenOutputs(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	env := []string{"--environment", "--secret", "my-namespace/my-app", "--region", "eu-west-1", "--account", "123456789012"}
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"environment", env, 0},
		{"environment-iam", append(env, "--database-auth", "rds-iam", "--db-user", "my_app", "--db-resource-id", "db-ABCDEFGHIJKL01234", "--storage-auth", "irsa", "--bucket", "my-app-bucket/files"), 0},
		{"environment-placeholders", append(env, "--database-auth", "rds-iam", "--storage-auth", "irsa"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for format, ext := range map[string]string{"text": "txt", "json": "json"} {
				code, stdout, stderr := run(t, append(tc.args, "--output", format)...)
				if code != tc.code || stderr != "" {
					t.Errorf("--output %s: status %d, want %d; stderr %s", format, code, tc.code, stderr)
				}
				golden.Check(t, tc.name+".golden."+ext, stdout)
			}
		})
	}
}

func TestEnvironmentStatements(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        Input
		sids      []string
		resources []string
		checks    []string
	}{
		{name: "password and access keys: the secret only", in: Input{Modes: mendixenv.Modes{}.Defaults()},
			sids: []string{"ReadTheEnvironmentSecret"}},
		{name: "RDS IAM", in: Input{Modes: mendixenv.Modes{DatabaseAuth: "rds-iam"}.Defaults(), DBUser: "app", DBResourceID: "db-ABCDEFGHIJKL01234"},
			sids: []string{"ReadTheEnvironmentSecret", "ConnectToTheDatabaseAsItsUser"}, resources: []string{"arn:aws:rds-db:eu-west-1:123456789012:dbuser:db-ABCDEFGHIJKL01234/app"}},
		{name: "S3 with IRSA, in China", in: Input{Region: "cn-north-1", Modes: mendixenv.Modes{StorageAuth: "irsa"}.Defaults(), Bucket: "files"},
			sids: []string{"ReadTheEnvironmentSecret", "ReadAndWriteTheFiles"}, resources: []string{"arn:aws-cn:s3:::files/*"}},
		{name: "Azure with a managed identity: nothing of AWS", in: Input{Modes: mendixenv.Modes{Storage: "azure", StorageAuth: "managed-identity"}.Defaults()},
			sids: []string{"ReadTheEnvironmentSecret"}},
		{name: "placeholders", in: Input{Modes: mendixenv.Modes{DatabaseAuth: "rds-iam", StorageAuth: "irsa"}.Defaults()},
			sids:      []string{"ReadTheEnvironmentSecret", "ConnectToTheDatabaseAsItsUser", "ReadAndWriteTheFiles"},
			resources: []string{"arn:aws:rds-db:eu-west-1:123456789012:dbuser:DB_RESOURCE_ID/DB_USER", "arn:aws:s3:::BUCKET/*"},
			checks:    []string{"placeholder-db-user", "placeholder-db-resource-id", "placeholder-bucket"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Environment, in.Secret, in.Account = true, "my-app", "123456789012"
			if in.Region == "" {
				in.Region = "eu-west-1"
			}
			res := Build(in)
			var sids []string
			var resources []string
			for i, st := range res.PermissionPolicy.Statement {
				sids = append(sids, st.Sid)
				if i > 0 {
					resources = append(resources, st.Resource.(string))
				}
			}
			var checks []string
			for _, f := range res.Findings {
				checks = append(checks, f.Check)
			}
			if diff := cmp.Diff(tc.sids, sids); diff != "" {
				t.Errorf("statements (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.resources, resources); diff != "" {
				t.Errorf("resources (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.checks, checks); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvironmentUsageErrors(t *testing.T) {
	for args, says := range map[string]string{
		"--secret s --storage-auth irsa":                                         "--storage-auth: only with --environment",
		"--secret s --bucket b":                                                  "--bucket: only with --environment",
		"--environment --secret s --bucket b":                                    "--bucket is for --storage-auth irsa",
		"--environment --secret s --db-user u":                                   "--db-user and --db-resource-id are for --database-auth rds-iam",
		"--environment --secret s --database-auth rds-iam --db-resource-id mydb": `--db-resource-id "mydb" is not an RDS Resource ID`,
		"--environment --secret s --storage-auth irsa --bucket My_Bucket":        `--bucket "My_Bucket" is not an S3 bucket name`,
		"--environment --secret s --storage azure --storage-auth irsa":           `--storage-auth "irsa" is not one of azure storage's`,
	} {
		code, stdout, stderr := run(t, strings.Fields(args)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, says) {
			t.Errorf("%s: status %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}
