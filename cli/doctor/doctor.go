// Package doctor is the doctor subcommand: it checks a live cluster's PMP
// set-up for one workload or service account, from the CSIDriver object to
// the files its pods get, and proves the credential chain end to end
// exactly as the provider runs it: a service-account token for the class's
// identity, then IRSA's AssumeRoleWithWebIdentity or the EKS Pod Identity
// Agent, the cross-account AssumeRole of assumeRoleArn, DescribeSecret and
// GetSecretValue as the role, the provider's own Mount pipeline, validate
// on the secret, and, with a failoverRegion, each secret as it is read
// there. Every
// finding says what is wrong and what to change. It reads the Kubernetes
// API with plain REST calls (provider/kubeapi), never the typed clientset,
// and never prints a token or a value.
package doctor

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/cmdline"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/kubeapi"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// Command is the subcommand's description.
var Command = cmdline.Command{
	Name: "doctor",
	About: `Checks a cluster's PMP set-up for one workload (--deployment) or service
account (--service-account), in the order a pod's mount depends on it:

  csidriver            the CSIDriver secrets-store.csi.k8s.io requests tokens for
                       sts.amazonaws.com (pods.eks.amazonaws.com for a class with
                       usePodIdentity), with podInfoOnMount and requiresRepublish
                       (and serviceAccountTokenInSecrets on Kubernetes 1.35+)
  daemonset            the provider runs, ready, on every node the driver runs on (its
                       DaemonSet's, or the nodes whose CSINode lists it); if not, which
                       taints its tolerations miss
  deployment           the workload's service account and SecretProviderClass
  secretproviderclass  it exists, names this provider and parses (the provider's parser)
  serviceaccount       it exists and, for IRSA, carries eks.amazonaws.com/role-arn (not
                       only the Deployment, as in the PMP document)
  token                a token for the service account, for the audience above
  sts                  IRSA: AssumeRoleWithWebIdentity with it (the role's trust policy)
  agent                EKS Pod Identity: the agent at the provider's address for the
                       class's preferredAddressType gives the service account
                       credentials (its Pod Identity association)
  assumerole           assumeRoleArn: sts:AssumeRole of each cross-account role with
                       those credentials (the target role's trust policy)
  secret[N]            DescribeSecret and GetSecretValue as the role; validate
  mount                the Mount, through the provider's own pipeline: the files
  failover             failoverRegion: each secret as a Mount reads it there while
                       its primary region is out (that region's STS, assumeRoleArn,
                       GetSecretValue of its failoverObject); a warning if not.
                       Parameters are not read there

It uses your kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) and needs
to read those objects and create serviceaccounts/token; STS and Secrets Manager
are called with the service account's role, never your AWS identity. AWS
settings (AWS_REGION, AWS_ENDPOINT_URL...) come from the environment, as for
the provider. The EKS Pod Identity Agent answers only inside the cluster (each
node's link-local address, read from the provider DaemonSet's
--pod-identity-agent-url flags): check a Pod Identity class from a pod of the
cluster or a node.

  doctor -n pmp --deployment pmp
  doctor -n pmp --service-account pmp-secrets-access --class pmp-credentials
  kubectl pmp doctor -n pmp --deployment pmp

With --environment NAME it checks a Mendix app environment as the Mendix
Operator finds it, before the checks above for its service account and class:

  mendixapp            the MendixApp NAME sets allowOverrideSecretsWithSecretStoreCSIDriver
                       (skipped when the MendixApp CRD is not installed)
  environment-account  the ServiceAccount NAME, annotated
                       privatecloud.mendix.com/environment-account: "true"
  environment-class    the SecretProviderClass NAME, annotated
                       privatecloud.mendix.com/environment-class: "true"
  environment-secret   the mounted files against the Operator's keys for the
                       environment's modes (--database, --database-auth, --storage,
                       --storage-auth; the kinds default to what the files say)

  doctor --environment my-app -n my-namespace`,
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
	// PodIdentityAgentURL and PodIdentityAgentURLIPv6 are the EKS Pod
	// Identity Agent's addresses, as the provider's flags of those names;
	// nil: the provider DaemonSet's flags, else their defaults.
	PodIdentityAgentURL, PodIdentityAgentURLIPv6 *string
	// RetryBudget is how long a link that fails transiently (an agent that
	// does not answer, STS or Secrets Manager 5xx) is retried, as the
	// provider's --retry-budget; zero: 10 seconds.
	RetryBudget time.Duration
}

// Result is what doctor prints (--output json).
type Result struct {
	Target  Target `json:"target"`
	Summary string `json:"summary"`
	Steps   Steps  `json:"steps"`
}

// Check runs every check for t, in order; a check whose input failed is
// skipped.
func (d *Doctor) Check(ctx context.Context, t Target) Result {
	// The workload and its class are read first, as the CSIDriver's token
	// request depends on the class (IRSA or Pod Identity), and reported
	// after the cluster's checks, in the order a Mount depends on them.
	var workload Steps
	dep, ok := d.resolveDeployment(ctx, &t, &workload)
	var req *params.Request
	podIdentity := false
	if ok {
		req, podIdentity = d.checkClass(ctx, &t, &workload)
	}
	own := identity.Identity{Namespace: t.Namespace, ServiceAccount: t.ServiceAccount}
	if podIdentity {
		own.Source = identity.PodIdentity
		if req != nil {
			own.Address = req.AddressType
		}
	}
	var s Steps
	d.checkCSIDriver(ctx, d.audience(own), &s)
	prov := d.checkDaemonSets(ctx, &s)
	s = append(s, workload...)
	if !ok {
		s.skip("chain", "no service account to check")
		return result(t, s)
	}
	role, exists := d.checkServiceAccount(ctx, t, dep, podIdentity, &s)
	switch {
	case podIdentity && (req == nil || !exists):
		s.skip("chain", "the EKS Pod Identity chain needs the SecretProviderClass and the service account (above)")
		return result(t, s)
	case !podIdentity && (req == nil || role == ""):
		s.skip("chain", "the IRSA chain needs the SecretProviderClass and the service account's role (above)")
		return result(t, s)
	}
	own.RoleARN = role
	var agent *agentURLs
	if podIdentity {
		agent = &agentURLs{}
		agent.v4, agent.v6 = d.agentAddresses(prov)
	}
	token := d.requestToken(ctx, t, d.audience(own), &s)
	if token == "" {
		return result(t, s)
	}
	d.chain(ctx, t, req, own, agent, token, &s)
	return result(t, s)
}

func result(t Target, s Steps) Result {
	return Result{Target: t, Summary: report.Summary(s), Steps: s}
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
	agentV4 := fs.String(flagAgentIPv4, "", "the EKS Pod Identity Agent's IPv4 URL, for a class with usePodIdentity (default: the provider DaemonSet's --"+flagAgentIPv4+", else "+identity.DefaultAgentIPv4URL+")")
	agentV6 := fs.String(flagAgentIPv6, "", "its IPv6 URL (default: the provider DaemonSet's --"+flagAgentIPv6+", else "+identity.DefaultAgentIPv6URL+")")
	fs.StringVar(&t.Environment, "environment", "", "a Mendix app environment to check: its MendixApp's name, the name of its ServiceAccount and SecretProviderClass")
	modes := cmdline.ModeFlags(fs)
	output := cmdline.OutputFlag(fs)
	rest, code, done := env.Parse(Command, fs, args)
	if done {
		return code
	}
	if len(rest) > 0 {
		return env.Usage(Command.Name, "unexpected arguments %q", rest)
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case flagAgentIPv4:
			d.PodIdentityAgentURL = agentV4
		case flagAgentIPv6:
			d.PodIdentityAgentURLIPv6 = agentV6
		}
	})
	given := cmdline.ModesGiven(fs)
	switch {
	case t.Environment != "" && (t.Deployment != "" || t.ServiceAccount != "" || t.Class != ""):
		return env.Usage(Command.Name, "--environment names the service account and class itself: not with --deployment, --service-account or --class")
	case t.Environment == "" && len(given) > 0:
		return env.Usage(Command.Name, "%s: only with --environment", strings.Join(given, ", "))
	case t.Environment != "":
		if err := modes.Defaults().Check(); err != nil {
			return env.Usage(Command.Name, "%v", err)
		}
	case t.Deployment == "" && t.ServiceAccount == "":
		return env.Usage(Command.Name, "name the workload: --deployment NAME or --service-account NAME, or a Mendix app environment: --environment NAME")
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
	var res Result
	if t.Environment != "" {
		res = d.CheckEnvironment(ctx, t, *modes)
	} else {
		res = d.Check(ctx, t)
	}
	if *output == cmdline.JSON {
		if err := report.WriteJSON(env.Stdout, res); err != nil {
			fmt.Fprintln(env.Stderr, err)
			return report.ExitProblems
		}
	} else {
		WriteText(env.Stdout, res)
	}
	return report.Exit(res.Steps)
}

// WriteText writes the result for people.
func WriteText(w io.Writer, res Result) {
	t := res.Target
	who := []string{"namespace " + t.Namespace}
	if t.Environment != "" {
		who = append(who, "Mendix app environment "+t.Environment)
	}
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
