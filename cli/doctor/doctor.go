// Package doctor is the doctor subcommand: it checks a live cluster's PMP
// set-up for one workload or service account, from the CSIDriver object to
// the files its pods get, and proves the IRSA chain end to end exactly as
// the provider runs it (a service-account token for sts.amazonaws.com,
// AssumeRoleWithWebIdentity, DescribeSecret and GetSecretValue as the
// role, the provider's own Mount pipeline, validate on the secret). Every
// finding says what is wrong and what to change. It reads the Kubernetes
// API with plain REST calls (provider/kubeapi), never the typed clientset,
// and never prints a token or a value.
package doctor

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/cmdline"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/kubeapi"
)

// Command is the subcommand's description.
var Command = cmdline.Command{
	Name: "doctor",
	About: `Checks a cluster's PMP set-up for one workload (--deployment) or service
account (--service-account), in the order a pod's mount depends on it:

  csidriver            the CSIDriver secrets-store.csi.k8s.io requests tokens for
                       sts.amazonaws.com, with podInfoOnMount and requiresRepublish
                       (and serviceAccountTokenInSecrets on Kubernetes 1.35+)
  daemonset            the provider runs, ready, on every node the driver runs on (its
                       DaemonSet's, or the nodes whose CSINode lists it); if not, which
                       taints its tolerations miss
  deployment           the workload's service account and SecretProviderClass
  secretproviderclass  it exists, names this provider and parses (the provider's parser)
  serviceaccount       it exists and carries eks.amazonaws.com/role-arn (not only the
                       Deployment, as in the PMP document)
  token                a token for the service account, audience sts.amazonaws.com
  sts                  AssumeRoleWithWebIdentity with it (the role's trust policy)
  secret[N]            DescribeSecret and GetSecretValue as the role; validate
  mount                the Mount, through the provider's own pipeline: the files

It uses your kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) and needs
to read those objects and create serviceaccounts/token; STS and Secrets Manager
are called with the service account's role, never your AWS identity. AWS
settings (AWS_REGION, AWS_ENDPOINT_URL...) come from the environment, as for
the provider.

  doctor -n pmp --deployment pmp
  doctor -n pmp --service-account pmp-secrets-access --class pmp-credentials
  kubectl pmp doctor -n pmp --deployment pmp`,
}

// API is what doctor reads from the Kubernetes API; kubeapi.Client.
type API interface {
	provider.KubeAPI
	GetJSON(ctx context.Context, path string, v any) error
	PostJSON(ctx context.Context, path string, body, v any) error
}

var _ API = (*kubeapi.Client)(nil)

// Doctor checks one cluster.
type Doctor struct {
	Kube API
	// AWS is the configuration the provider would use (LoadAWSConfig).
	AWS aws.Config
	// Audience is the token audience (the provider's --token-audience).
	Audience     string
	ProviderName string
	// ProviderDaemonSet is NAMESPACE/NAME of the provider's DaemonSet;
	// empty: found by its image.
	ProviderDaemonSet string
}

// Result is what doctor prints (--output json).
type Result struct {
	Target  Target `json:"target"`
	Summary string `json:"summary"`
	Steps   []Step `json:"steps"`
}

// Check runs every check for t, in order; a check whose input failed is
// skipped.
func (d *Doctor) Check(ctx context.Context, t Target) Result {
	var s steps
	d.checkCSIDriver(ctx, &s)
	d.checkDaemonSets(ctx, &s)
	dep, ok := d.resolveDeployment(ctx, &t, &s)
	if !ok {
		s.skip("chain", "no service account to check")
		return result(t, s)
	}
	req := d.checkClass(ctx, &t, &s)
	role := d.checkServiceAccount(ctx, t, dep, &s)
	if req == nil || role == "" {
		s.skip("chain", "the IRSA chain needs the SecretProviderClass and the service account's role (above)")
		return result(t, s)
	}
	token := d.requestToken(ctx, t, &s)
	if token == "" {
		return result(t, s)
	}
	d.chain(ctx, t, req, role, token, &s)
	return result(t, s)
}

func result(t Target, s steps) Result {
	return Result{Target: t, Summary: report.Summary(Findings(s)), Steps: s}
}

// Run runs the subcommand.
func Run(ctx context.Context, env cmdline.Env, args []string) int {
	fs := env.FlagSet(Command)
	var t Target
	fs.StringVar(&t.Namespace, "namespace", "", "the workload's namespace (default: the kubeconfig context's)")
	fs.StringVar(&t.Namespace, "n", "", "shorthand for --namespace")
	fs.StringVar(&t.Deployment, "deployment", "", "the Deployment to check: its service account and SecretProviderClass")
	fs.StringVar(&t.ServiceAccount, "service-account", "", "the service account to check (instead of, or as well as, --deployment)")
	fs.StringVar(&t.Class, "class", "", "the SecretProviderClass (default: the Deployment's, or the namespace's only one of this provider)")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default $KUBECONFIG, then ~/.kube/config)")
	kubeContext := fs.String("context", "", "kubeconfig context (default the current one)")
	region := fs.String("region", "", "AWS region of the secrets, if the SecretProviderClass sets none (default $AWS_REGION)")
	d := Doctor{}
	fs.StringVar(&d.Audience, "token-audience", "sts.amazonaws.com", "the provider's --token-audience")
	fs.StringVar(&d.ProviderName, "provider-name", "pmp", "the provider's --provider-name")
	fs.StringVar(&d.ProviderDaemonSet, "provider-daemonset", "", "NAMESPACE/NAME of the provider's DaemonSet (default: found by its image)")
	output := cmdline.OutputFlag(fs)
	rest, code, done := env.Parse(Command, fs, args)
	if done {
		return code
	}
	if len(rest) > 0 {
		return env.Usage(Command.Name, "unexpected arguments %q", rest)
	}
	if t.Deployment == "" && t.ServiceAccount == "" {
		return env.Usage(Command.Name, "name the workload: --deployment NAME or --service-account NAME")
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: *kubeconfig, Precedence: clientcmd.NewDefaultClientConfigLoadingRules().Precedence},
		&clientcmd.ConfigOverrides{CurrentContext: *kubeContext})
	rc, err := cc.ClientConfig()
	if err != nil {
		return env.Usage(Command.Name, "kubeconfig: %v", err)
	}
	if t.Namespace == "" {
		if t.Namespace, _, err = cc.Namespace(); err != nil || t.Namespace == "" {
			t.Namespace = "default"
		}
	}
	rc.UserAgent = "pmp-secrets-provider-doctor"
	kube, err := kubeapi.New(rc)
	if err != nil {
		return env.Usage(Command.Name, "%v", err)
	}
	d.Kube = kube
	if d.AWS, err = provider.LoadAWSConfig(ctx); err != nil {
		fmt.Fprintln(env.Stderr, err)
		return report.ExitProblems
	}
	if *region != "" {
		d.AWS.Region = *region
	}
	// The provider's pipeline logs as it would in the provider; here its
	// findings are steps instead.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	res := d.Check(ctx, t)
	if *output == cmdline.JSON {
		if err := report.WriteJSON(env.Stdout, res); err != nil {
			fmt.Fprintln(env.Stderr, err)
			return report.ExitProblems
		}
	} else {
		WriteText(env.Stdout, res)
	}
	return report.Exit(Findings(res.Steps))
}

// WriteText writes the result for people.
func WriteText(w io.Writer, res Result) {
	t := res.Target
	who := []string{"namespace " + t.Namespace}
	if t.Deployment != "" {
		who = append(who, "Deployment "+t.Deployment)
	}
	if t.ServiceAccount != "" {
		who = append(who, "service account "+t.ServiceAccount)
	}
	if t.Class != "" {
		who = append(who, "SecretProviderClass "+t.Class)
	}
	fmt.Fprintf(w, "doctor: %s: %s\n\n", strings.Join(who, ", "), res.Summary)
	writeSteps(w, res.Steps)
}
