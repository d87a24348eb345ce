// Package manifests is the manifests subcommand: the Kubernetes objects a
// Mendix app environment needs to read its secret through this provider,
// as the Mendix Operator looks for them: a ServiceAccount and a
// SecretProviderClass, both named as the environment (its MendixApp),
// each with the Operator's annotation, the ServiceAccount with the IAM
// role. The class has one object, the environment's flat JSON secret:
// the provider writes each key as a file of that name, the Operator's
// names, so no jmesPath entry is needed.
package manifests

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/cmdline"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mendixenv"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// Command is the subcommand's description.
var Command = cmdline.Command{
	Name: "manifests",
	About: `Prints the Kubernetes objects a Mendix app environment reads its secret
through, as the Mendix Operator looks for them (kubectl apply -f -):

  - a ServiceAccount named as the environment (its MendixApp), annotated
    ` + mendixenv.AccountAnnotation + `: "true" and with the IAM role
    (` + identity.RoleAnnotation + `);
  - a SecretProviderClass of the same name, annotated
    ` + mendixenv.ClassAnnotation + `: "true", provider pmp, with one
    object: the environment's secret, one flat JSON object whose keys the
    provider writes as files of the same names, the names the Operator reads
    (template --environment prints it). No jmesPath entry per key.

The secret defaults to NAMESPACE/ENVIRONMENT, the name the Mendix
documentation suggests. Without --role-arn the ServiceAccount names a
placeholder role and the status is 1.

  manifests --environment my-app -n my-namespace --role-arn arn:aws:iam::123456789012:role/my-app
  manifests --environment my-app -n my-namespace --secret my-app-secret --region eu-west-1 --role-arn ...

For a standalone app, also set allowOverrideSecretsWithSecretStoreCSIDriver:
true in the MendixApp's spec. doctor --environment checks the result.`,
}

// Input is what the objects are made for.
type Input struct {
	Environment, Namespace string
	// Secret is the secret's name or ARN; empty: NAMESPACE/ENVIRONMENT.
	Secret string
	// Region is the class's region parameter; empty: none (the
	// provider's AWS_REGION, then its node's region).
	Region       string
	RoleARN      string
	ProviderName string
}

// PlaceholderRole stands for the role when --role-arn is not given.
const PlaceholderRole = "arn:aws:iam::ACCOUNT_ID:role/ROLE_NAME"

var (
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	secretRE         = regexp.MustCompile(`^([A-Za-z0-9/_+=.@-]{1,512}|arn:(aws|aws-cn|aws-us-gov):secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+)$`)
	regionRE         = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
)

// Run runs the subcommand.
func Run(_ context.Context, env cmdline.Env, args []string) int {
	fs := env.FlagSet(Command)
	var in Input
	fs.StringVar(&in.Environment, "environment", "", "the environment's internal name: its MendixApp's name (required)")
	fs.StringVar(&in.Namespace, "namespace", "", "the environment's namespace (required)")
	fs.StringVar(&in.Namespace, "n", "", "shorthand for --namespace")
	fs.StringVar(&in.Secret, "secret", "", "the environment's secret: name or ARN (default NAMESPACE/ENVIRONMENT)")
	fs.StringVar(&in.Region, "region", "", "the secret's region, as the class's region parameter (default: none, the provider's AWS_REGION)")
	fs.StringVar(&in.RoleARN, "role-arn", "", "the IAM role the environment reads its secret as (IRSA)")
	fs.StringVar(&in.ProviderName, "provider-name", "pmp", "the provider's --provider-name, the class's spec.provider")
	rest, code, done := env.Parse(Command, fs, args)
	if done {
		return code
	}
	if len(rest) > 0 {
		return env.Usage(Command.Name, "unexpected arguments %q", rest)
	}
	if msg := in.check(); msg != "" {
		return env.Usage(Command.Name, "%s", msg)
	}
	var findings []report.Finding
	if in.RoleARN == "" {
		in.RoleARN = PlaceholderRole
		findings = append(findings, report.Finding{Severity: report.Error, Check: "placeholder-role",
			Message: "no role: the ServiceAccount names " + PlaceholderRole,
			Fix:     "pass --role-arn (policy --environment prints the role's policies)"})
	}
	fmt.Fprint(env.Stdout, YAML(in))
	if len(findings) > 0 {
		fmt.Fprintf(env.Stderr, "%s:\n", report.Summary(findings))
		report.WriteText(env.Stderr, findings)
	}
	return report.Exit(findings)
}

func (in *Input) check() string {
	switch {
	case in.Environment == "":
		return "--environment is required: the environment's internal name (its MendixApp's name)"
	case len(in.Environment) > 253 || !dns1123Subdomain.MatchString(in.Environment):
		return fmt.Sprintf("--environment %q is not a Kubernetes object name (lower-case letters, digits, '-' and '.')", in.Environment)
	case in.Namespace == "":
		return "--namespace is required: the environment's namespace"
	case !dns1123Label.MatchString(in.Namespace):
		return fmt.Sprintf("--namespace %q is not a Kubernetes namespace name", in.Namespace)
	}
	if in.Secret == "" {
		in.Secret = in.Namespace + "/" + in.Environment
	}
	switch {
	case !secretRE.MatchString(in.Secret):
		return fmt.Sprintf("--secret %q is not a secret name (1-512 of A-Z a-z 0-9 / _ + = . @ -) or ARN", in.Secret)
	case in.Region != "" && !regionRE.MatchString(in.Region):
		return fmt.Sprintf("--region %q is not an AWS region name such as eu-west-1", in.Region)
	case in.RoleARN != "" && !identity.ValidRoleARN(in.RoleARN):
		return fmt.Sprintf("--role-arn %q is not an IAM role ARN (arn:aws:iam::ACCOUNT_ID:role/NAME)", in.RoleARN)
	case !dns1123Subdomain.MatchString(in.ProviderName):
		return fmt.Sprintf("--provider-name %q is not a provider name such as pmp", in.ProviderName)
	}
	return ""
}

// YAML is the ServiceAccount and the SecretProviderClass of in, as two
// YAML documents.
func YAML(in Input) string {
	var b strings.Builder
	q := strconv.Quote // the secret's name is checked: its Go quoting is YAML's
	fmt.Fprintf(&b, "# The ServiceAccount and SecretProviderClass of Mendix app environment %s/%s.\n", in.Namespace, in.Environment)
	fmt.Fprintf(&b, "# Its pods read secret %s as role %s.\n", in.Secret, in.RoleARN)
	b.WriteString("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n")
	fmt.Fprintf(&b, "  name: %s\n  namespace: %s\n  annotations:\n", in.Environment, in.Namespace)
	fmt.Fprintf(&b, "    %s: \"true\"\n", mendixenv.AccountAnnotation)
	fmt.Fprintf(&b, "    %s: %s\n", identity.RoleAnnotation, in.RoleARN)
	b.WriteString("---\napiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata:\n")
	fmt.Fprintf(&b, "  name: %s\n  namespace: %s\n  annotations:\n", in.Environment, in.Namespace)
	fmt.Fprintf(&b, "    %s: \"true\"\n", mendixenv.ClassAnnotation)
	fmt.Fprintf(&b, "spec:\n  provider: %s\n  parameters:\n", in.ProviderName)
	if in.Region != "" {
		fmt.Fprintf(&b, "    %s: %s\n", params.ParamRegion, in.Region)
	}
	b.WriteString("    # One object: the flat JSON secret. Each key becomes a file of the same\n")
	b.WriteString("    # name, the names the Mendix Operator reads.\n")
	fmt.Fprintf(&b, "    %s: |\n      - objectName: %s\n", params.ParamObjects, q(in.Secret))
	fmt.Fprintf(&b, "# For a standalone app, set spec.allowOverrideSecretsWithSecretStoreCSIDriver: true in MendixApp %s.\n", in.Environment)
	return b.String()
}
