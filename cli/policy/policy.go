// Package policy is the policy subcommand: the IAM permission policy that
// lets a role read exactly one PMP secret (with --environment, a Mendix
// app environment's secret, and what its IAM-authentication modes reach:
// rds-db:connect, the S3 bucket), and, for a service account, the role's
// trust policy that lets only that service account assume it through the
// cluster's OIDC provider.
package policy

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/cmdline"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mendixenv"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// Command is the subcommand's description.
var Command = cmdline.Command{
	Name: "policy",
	About: `Prints the IAM policies of the role a PMP pod reads its secret as (IRSA):

  - the permission policy: secretsmanager:GetSecretValue and DescribeSecret on
    this one secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-??????,
    the six characters being the suffix Secrets Manager adds), instead of the
    PMP document's every PMP-* secret in every region and account;
  - with --parameter (once per parameter), ssm:GetParameters on those
    Parameter Store parameters (objectType ssmparameter), by name;
  - with --failover-region (the class's failoverRegion), the same secret and
    parameters in that region too: a replica keeps its secret's name and
    suffix, so a secret's ARN is the same with the other region in it (for a
    failoverObject that names another secret, add that secret yourself);
  - with --namespace, --service-account and --oidc-issuer, the role's trust
    policy: sts:AssumeRoleWithWebIdentity for that one service account through
    the cluster's IAM OIDC identity provider, audience sts.amazonaws.com.

With --environment, the role of a Mendix app environment (its ServiceAccount
is named as the environment): its secret, and for the modes that authenticate
as the role instead of with a key in the secret,
  - --database-auth rds-iam: rds-db:connect as --db-user on the RDS database
    --db-resource-id (its Resource ID, db-ABC..., not its name);
  - --storage-auth irsa: the S3 actions the Mendix runtime uses on the
    objects of --bucket (NAME, or NAME/PREFIX).

Without --region (or AWS_REGION) or --account (or, with --environment, the
database user, its resource ID or the bucket the modes need) the policy holds
a placeholder and the status is 1.

  policy --secret PMP-Production-Credentials --region eu-west-1 --account 123456789012
  policy --environment --secret my-namespace/my-app --region eu-west-1 --account 123456789012 \
      --database-auth rds-iam --db-user my_app --db-resource-id db-ABCDEFGHIJKL01234 --storage-auth irsa --bucket my-app-bucket
  policy --secret PMP-Production-Credentials --region eu-west-1 --account 123456789012 \
      --namespace pmp --service-account pmp-secrets-access \
      --oidc-issuer https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE

The OIDC issuer of an EKS cluster:
  aws eks describe-cluster --name CLUSTER --query cluster.identity.oidc.issuer --output text`,
}

// Placeholders stand for what was not given.
const (
	PlaceholderRegion     = "REGION"
	PlaceholderAccount    = "ACCOUNT_ID"
	PlaceholderDBResource = "DB_RESOURCE_ID"
	PlaceholderDBUser     = "DB_USER"
	PlaceholderBucket     = "BUCKET"
)

// S3Actions are what the Mendix runtime does with an environment's files
// in S3 when it reaches them as the environment's role (IRSA), as the
// Mendix documentation lists them.
var S3Actions = []string{"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"}

// Input is what the policies are made for.
type Input struct {
	Secret, Region, Account string
	// FailoverRegion is the class's failoverRegion: the secret and
	// parameters are read there too when Region is out.
	FailoverRegion string
	// Parameters are Parameter Store parameter names.
	Parameters                            []string
	Namespace, ServiceAccount, OIDCIssuer string
	// Environment: the role of a Mendix app environment, with Modes;
	// DBUser and DBResourceID for RDS IAM authentication, Bucket (NAME
	// or NAME/PREFIX) for S3 with IRSA.
	Environment                  bool
	Modes                        mendixenv.Modes
	DBUser, DBResourceID, Bucket string
}

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Document.
type Statement struct {
	Sid       string                       `json:"Sid,omitempty"`
	Effect    string                       `json:"Effect"`
	Principal map[string]string            `json:"Principal,omitempty"`
	Action    any                          `json:"Action"`
	Resource  any                          `json:"Resource,omitempty"` // a string, or a list of them
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// Result is what the subcommand prints (--output json).
type Result struct {
	PermissionPolicy Document         `json:"permissionPolicy"`
	TrustPolicy      *Document        `json:"trustPolicy,omitempty"`
	Findings         []report.Finding `json:"findings"`
}

var (
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
	accountRE = regexp.MustCompile(`^\d{12}$`)
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]{1,512}$`)
	paramRE   = regexp.MustCompile(`^[A-Za-z0-9_./-]+$`)
	dbUserRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$@.-]{0,62}$`)
	dbResRE   = regexp.MustCompile(`^(db|cluster)-[A-Z0-9]{10,}$`)
	bucketRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*'()/-]+)?$`)
	arnRE     = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov):secretsmanager:([a-z0-9-]+):(\d{12}):secret:([A-Za-z0-9/_+=.@-]+)$`)
	// dns1123Label is a namespace; a service account is a subdomain.
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// Run runs the subcommand.
func Run(_ context.Context, env cmdline.Env, args []string) int {
	fs := env.FlagSet(Command)
	var in Input
	fs.StringVar(&in.Secret, "secret", "", "the secret's name (PMP-Production-Credentials) or full ARN (required)")
	fs.StringVar(&in.Region, "region", os.Getenv("AWS_REGION"), "the secret's region (default $AWS_REGION)")
	fs.StringVar(&in.Account, "account", "", "the 12-digit AWS account of the secret and the role")
	fs.StringVar(&in.FailoverRegion, "failover-region", "", "the SecretProviderClass's failoverRegion: also allow the secret's replica and the parameters there")
	fs.StringVar(&in.Namespace, "namespace", "", "for the trust policy: the pod's namespace")
	fs.StringVar(&in.ServiceAccount, "service-account", "", "for the trust policy: the pod's service account")
	fs.StringVar(&in.OIDCIssuer, "oidc-issuer", "", "for the trust policy: the cluster's OIDC issuer URL")
	fs.Func("parameter", "a Parameter Store parameter the role reads (/app/db/password); repeat for more", func(v string) error {
		in.Parameters = append(in.Parameters, strings.TrimSpace(v))
		return nil
	})
	fs.BoolVar(&in.Environment, "environment", false, "the role of a Mendix app environment: its secret, and what its IAM-authentication modes reach")
	modes := cmdline.ModeFlags(fs)
	fs.StringVar(&in.DBUser, "db-user", "", "with --environment --database-auth rds-iam: the database user (database-username)")
	fs.StringVar(&in.DBResourceID, "db-resource-id", "", "with --environment --database-auth rds-iam: the RDS database's Resource ID (db-...)")
	fs.StringVar(&in.Bucket, "bucket", "", "with --environment --storage-auth irsa: the S3 bucket of the environment's files, NAME or NAME/PREFIX")
	output := cmdline.OutputFlag(fs)
	rest, code, done := env.Parse(Command, fs, args)
	if done {
		return code
	}
	if len(rest) > 0 {
		return env.Usage(Command.Name, "unexpected arguments %q", rest)
	}
	in.Modes = *modes
	if err := in.checkEnvironment(fs); err != "" {
		return env.Usage(Command.Name, "%s", err)
	}
	if err := in.check(); err != "" {
		return env.Usage(Command.Name, "%s", err)
	}
	res := Build(in)
	if *output == cmdline.JSON {
		if err := report.WriteJSON(env.Stdout, res); err != nil {
			fmt.Fprintln(env.Stderr, err)
			return report.ExitProblems
		}
	} else {
		writeText(env.Stdout, in, res)
	}
	return report.Exit(res.Findings)
}

// check reports a usage error: a flag that cannot be right.
func (in *Input) check() string {
	in.Secret = strings.TrimSpace(in.Secret)
	switch {
	case in.Secret == "":
		return "--secret is required: the secret's name or ARN"
	case strings.HasPrefix(in.Secret, "arn:"):
		m := arnRE.FindStringSubmatch(in.Secret)
		if m == nil {
			return fmt.Sprintf("--secret %q is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX)", in.Secret)
		}
		// The ARN names its region; AWS_REGION (the default) may differ.
		if in.Region != "" && in.Region != m[2] && in.Region != os.Getenv("AWS_REGION") {
			return fmt.Sprintf("--region %s differs from the region of --secret's ARN (%s)", in.Region, m[2])
		}
		if in.Account != "" && in.Account != m[3] {
			return fmt.Sprintf("--account %s differs from the account of --secret's ARN (%s)", in.Account, m[3])
		}
		in.Region, in.Account = m[2], m[3]
	case !nameRE.MatchString(in.Secret):
		return fmt.Sprintf("--secret %q is not a secret name (1-512 of A-Z a-z 0-9 / _ + = . @ -; no wildcards: the policy is for one secret)", in.Secret)
	}
	for _, p := range in.Parameters {
		if !paramRE.MatchString(p) || len(p) > 1011 {
			return fmt.Sprintf("--parameter %q is not a Parameter Store parameter name (1-1011 of A-Z a-z 0-9 . - _ and /; no wildcards, no :version)", p)
		}
	}
	if in.Region != "" && !regionRE.MatchString(in.Region) {
		return fmt.Sprintf("--region %q is not an AWS region name such as eu-west-1", in.Region)
	}
	if in.FailoverRegion != "" {
		switch {
		case !regionRE.MatchString(in.FailoverRegion):
			return fmt.Sprintf("--failover-region %q is not an AWS region name such as eu-central-1", in.FailoverRegion)
		case in.FailoverRegion == in.Region:
			return fmt.Sprintf("--failover-region %s is the secret's own region: name the region that holds its replica", in.FailoverRegion)
		case in.Region != "" && identity.Partition(in.FailoverRegion) != identity.Partition(in.Region):
			return fmt.Sprintf("--failover-region %s is in another partition than %s: Secrets Manager replicates within a partition", in.FailoverRegion, in.Region)
		}
	}
	if in.Account != "" && !accountRE.MatchString(in.Account) {
		return fmt.Sprintf("--account %q is not a 12-digit AWS account ID", in.Account)
	}
	trust := map[string]string{"--namespace": in.Namespace, "--service-account": in.ServiceAccount, "--oidc-issuer": in.OIDCIssuer}
	var set, unset []string
	for _, f := range []string{"--namespace", "--service-account", "--oidc-issuer"} {
		if trust[f] != "" {
			set = append(set, f)
		} else {
			unset = append(unset, f)
		}
	}
	if len(set) > 0 && len(unset) > 0 {
		return fmt.Sprintf("the trust policy needs --namespace, --service-account and --oidc-issuer: %s missing", strings.Join(unset, " and "))
	}
	if len(set) == 0 {
		return ""
	}
	if !dns1123Label.MatchString(in.Namespace) {
		return fmt.Sprintf("--namespace %q is not a Kubernetes namespace name", in.Namespace)
	}
	if len(in.ServiceAccount) > 253 || !dns1123Subdomain.MatchString(in.ServiceAccount) {
		return fmt.Sprintf("--service-account %q is not a Kubernetes service account name", in.ServiceAccount)
	}
	issuer, err := issuerHost(in.OIDCIssuer)
	if err != "" {
		return err
	}
	in.OIDCIssuer = issuer
	return ""
}

// checkEnvironment reports a usage error of the --environment flags.
func (in *Input) checkEnvironment(fs *flag.FlagSet) string {
	var envOnly []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "database", "database-auth", "storage", "storage-auth", "db-user", "db-resource-id", "bucket":
			envOnly = append(envOnly, "--"+f.Name)
		}
	})
	if !in.Environment {
		if len(envOnly) > 0 {
			return strings.Join(envOnly, ", ") + ": only with --environment"
		}
		return ""
	}
	in.Modes = in.Modes.Defaults()
	if err := in.Modes.Check(); err != nil {
		return err.Error()
	}
	switch {
	case in.DBUser != "" && in.Modes.DatabaseAuth != mendixenv.AuthRDSIAM, in.DBResourceID != "" && in.Modes.DatabaseAuth != mendixenv.AuthRDSIAM:
		return "--db-user and --db-resource-id are for --database-auth " + mendixenv.AuthRDSIAM
	case in.Bucket != "" && in.Modes.StorageAuth != mendixenv.AuthIRSA:
		return "--bucket is for --storage-auth " + mendixenv.AuthIRSA + " (with an access key pair the role needs no S3 permission)"
	case in.DBUser != "" && !dbUserRE.MatchString(in.DBUser):
		return fmt.Sprintf("--db-user %q is not a database user name", in.DBUser)
	case in.DBResourceID != "" && !dbResRE.MatchString(in.DBResourceID):
		return fmt.Sprintf("--db-resource-id %q is not an RDS Resource ID such as db-ABCDEFGHIJKL01234 (aws rds describe-db-instances --query 'DBInstances[].DbiResourceId'): the database's name does not work here", in.DBResourceID)
	case in.Bucket != "" && !bucketRE.MatchString(in.Bucket):
		return fmt.Sprintf("--bucket %q is not an S3 bucket name, or NAME/PREFIX", in.Bucket)
	}
	return ""
}

// issuerHost is the issuer as IAM names it: host and path, no scheme.
func issuerHost(s string) (string, string) {
	raw := strings.TrimSpace(s)
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Sprintf("--oidc-issuer %q is not a URL such as https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE", s)
	}
	if u.Scheme != "https" {
		return "", fmt.Sprintf("--oidc-issuer %q must be an https URL: IAM OIDC providers are https", s)
	}
	return u.Host + strings.TrimSuffix(u.Path, "/"), ""
}

// Build makes the policies, with placeholders for what in lacks and a
// finding for each placeholder.
func Build(in Input) Result {
	res := Result{Findings: []report.Finding{}}
	region, account := in.Region, in.Account
	if region == "" {
		region = PlaceholderRegion
		res.Findings = append(res.Findings, report.Finding{Severity: report.Error, Check: "placeholder-region",
			Message: "no region: the policy names " + PlaceholderRegion,
			Fix:     "pass --region (the secret's region, e.g. eu-west-1), or set AWS_REGION"})
	}
	if account == "" {
		account = PlaceholderAccount
		res.Findings = append(res.Findings, report.Finding{Severity: report.Error, Check: "placeholder-account",
			Message: "no account: the policy names " + PlaceholderAccount,
			Fix:     "pass --account (aws sts get-caller-identity --query Account --output text)"})
	}
	part := identity.Partition(region)
	// What a role needs on each object comes from its backend.
	secret, parameter := provider.Backend(params.SecretsManager), provider.Backend(params.SSMParameter)
	regions := []string{region}
	if in.FailoverRegion != "" {
		regions = append(regions, in.FailoverRegion)
	}
	var secrets, parameters []string
	for _, r := range regions {
		if strings.HasPrefix(in.Secret, "arn:") {
			// A replica's ARN is its secret's with the other region.
			m := arnRE.FindStringSubmatch(in.Secret)
			secrets = append(secrets, fmt.Sprintf("arn:%s:secretsmanager:%s:%s:secret:%s", m[1], r, m[3], m[4]))
		} else {
			secrets = append(secrets, secret.Resource(part, r, account, in.Secret))
		}
		for _, p := range in.Parameters {
			parameters = append(parameters, parameter.Resource(part, r, account, p))
		}
	}
	sid := "ReadThePMPSecret"
	if in.Environment {
		sid = "ReadTheEnvironmentSecret"
	}
	res.PermissionPolicy = Document{Version: "2012-10-17", Statement: []Statement{{
		Sid:      sid,
		Effect:   "Allow",
		Action:   slices.Clone(secret.Actions),
		Resource: oneOrList(secrets),
	}}}
	if len(parameters) > 0 {
		res.PermissionPolicy.Statement = append(res.PermissionPolicy.Statement,
			Statement{Sid: "ReadTheParameters", Effect: "Allow", Action: slices.Clone(parameter.Actions), Resource: oneOrList(parameters)})
	}
	if in.Environment {
		environmentStatements(&res, in, part, region, account)
	}
	if in.Namespace == "" {
		return res
	}
	res.TrustPolicy = &Document{Version: "2012-10-17", Statement: []Statement{{
		Effect:    "Allow",
		Principal: map[string]string{"Federated": fmt.Sprintf("arn:%s:iam::%s:oidc-provider/%s", part, account, in.OIDCIssuer)},
		Action:    "sts:AssumeRoleWithWebIdentity",
		Condition: map[string]map[string]string{"StringEquals": {
			in.OIDCIssuer + ":sub": "system:serviceaccount:" + in.Namespace + ":" + in.ServiceAccount,
			in.OIDCIssuer + ":aud": "sts.amazonaws.com",
		}},
	}}}
	return res
}

// environmentStatements adds what an environment's IAM-authentication
// modes need, with a placeholder and a finding for each value not given.
func environmentStatements(res *Result, in Input, part, region, account string) {
	placeholder := func(v *string, ph, check, msg, fix string) {
		if *v == "" {
			*v = ph
			res.Findings = append(res.Findings, report.Finding{Severity: report.Error, Check: check, Message: msg + ": the policy names " + ph, Fix: fix})
		}
	}
	if in.Modes.DatabaseAuth == mendixenv.AuthRDSIAM {
		user, id := in.DBUser, in.DBResourceID
		placeholder(&user, PlaceholderDBUser, "placeholder-db-user", "no database user", "pass --db-user, the environment's database-username")
		placeholder(&id, PlaceholderDBResource, "placeholder-db-resource-id", "no RDS Resource ID",
			"pass --db-resource-id (aws rds describe-db-instances --db-instance-identifier NAME --query 'DBInstances[0].DbiResourceId' --output text)")
		res.PermissionPolicy.Statement = append(res.PermissionPolicy.Statement, Statement{Sid: "ConnectToTheDatabaseAsItsUser", Effect: "Allow",
			Action: []string{"rds-db:connect"}, Resource: fmt.Sprintf("arn:%s:rds-db:%s:%s:dbuser:%s/%s", part, region, account, id, user)})
	}
	if in.Modes.StorageAuth == mendixenv.AuthIRSA {
		bucket := in.Bucket
		placeholder(&bucket, PlaceholderBucket, "placeholder-bucket", "no S3 bucket", "pass --bucket, the bucket of the environment's storage-endpoint (NAME, or NAME/PREFIX)")
		res.PermissionPolicy.Statement = append(res.PermissionPolicy.Statement, Statement{Sid: "ReadAndWriteTheFiles", Effect: "Allow",
			Action: S3Actions, Resource: fmt.Sprintf("arn:%s:s3:::%s/*", part, strings.TrimSuffix(bucket, "/"))})
	}
}

func writeText(w io.Writer, in Input, res Result) {
	switch {
	case in.Environment && len(res.PermissionPolicy.Statement) > 1:
		fmt.Fprintln(w, "# Permission policy of the environment's role: read its secret, and what its IAM-authentication modes reach.")
	case in.Environment:
		fmt.Fprintln(w, "# Permission policy of the environment's role: read its secret.")
	default:
		fmt.Fprintln(w, "# Permission policy of the role: read this one secret.")
	}
	policyName := "pmp-secret"
	if in.Environment {
		policyName = "mendix-environment"
	}
	fmt.Fprintf(w, "# aws iam put-role-policy --role-name ROLE --policy-name %s --policy-document file://permission-policy.json\n", policyName)
	_ = report.WriteJSON(w, res.PermissionPolicy)
	if res.TrustPolicy != nil {
		fmt.Fprintf(w, "\n# Trust policy of the role: only service account %s/%s, through the cluster's OIDC provider.\n", in.Namespace, in.ServiceAccount)
		fmt.Fprintln(w, "# aws iam create-role --role-name ROLE --assume-role-policy-document file://trust-policy.json")
		_ = report.WriteJSON(w, res.TrustPolicy)
		roleARN := fmt.Sprintf("arn:%s:iam::%s:role/ROLE", identity.Partition(or(in.Region, PlaceholderRegion)), or(in.Account, PlaceholderAccount))
		if in.Environment {
			fmt.Fprintf(w, "\n# Then create the environment's ServiceAccount (named as the environment) and SecretProviderClass with the role:\n")
			fmt.Fprintf(w, "# pmp-secrets-provider manifests --environment %s -n %s --secret %s --role-arn %s | kubectl apply -f -\n", in.ServiceAccount, in.Namespace, in.Secret, roleARN)
		} else {
			fmt.Fprintf(w, "\n# Then annotate the service account (not the Deployment) with the role:\n")
			fmt.Fprintf(w, "# kubectl annotate serviceaccount -n %s %s eks.amazonaws.com/role-arn=%s\n", in.Namespace, in.ServiceAccount, roleARN)
		}
	}
	if len(res.Findings) > 0 {
		fmt.Fprintf(w, "\n%s:\n", report.Summary(res.Findings))
		report.WriteText(w, res.Findings)
	}
}

// oneOrList is a statement's Resource: one ARN as a string, as IAM's
// console writes it, more as a list.
func oneOrList(arns []string) any {
	if len(arns) == 1 {
		return arns[0]
	}
	return arns
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
