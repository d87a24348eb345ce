package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// The provider's flags that name the EKS Pod Identity Agent's addresses.
const (
	flagAgentIPv4 = "pod-identity-agent-url"
	flagAgentIPv6 = "pod-identity-agent-url-ipv6"
)

// agentDaemonSet is where the EKS Pod Identity Agent add-on runs.
const agentDaemonSet = "kube-system/eks-pod-identity-agent"

// agentURL is one address of the agent the provider asks, and where
// doctor read it.
type agentURL struct {
	flag, url, from string
}

// agentAddresses are the provider's agent URLs (IPv4, IPv6): doctor's
// own flags where given, else the provider DaemonSet's arguments, else
// the flags' defaults.
func (d *Doctor) agentAddresses(prov *daemonSet) (v4, v6 agentURL) {
	v4 = agentURL{flag: flagAgentIPv4, url: identity.DefaultAgentIPv4URL, from: "the provider's default"}
	v6 = agentURL{flag: flagAgentIPv6, url: identity.DefaultAgentIPv6URL, from: "the provider's default"}
	for _, a := range []struct {
		u    *agentURL
		mine *string
	}{{&v4, d.PodIdentityAgentURL}, {&v6, d.PodIdentityAgentURLIPv6}} {
		switch {
		case a.mine != nil:
			a.u.url, a.u.from = *a.mine, "doctor's --"+a.u.flag
		case prov != nil:
			if v, ok := flagValue(prov.Spec.Template.Spec.Containers, a.u.flag); ok {
				a.u.url, a.u.from = v, "--"+a.u.flag+" of DaemonSet "+ref(prov.Metadata)
			}
		}
	}
	return v4, v6
}

// flagValue is the last value the containers' arguments give flag, as
// Go's flag package reads them (-flag=v, --flag=v, --flag v).
func flagValue(cs []container, flag string) (string, bool) {
	value, found := "", false
	for _, c := range cs {
		args := append(slices.Clone(c.Command), c.Args...)
		for i, a := range args {
			name, v, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
			switch {
			case !strings.HasPrefix(a, "-") || name != flag:
			case hasValue:
				value, found = v, true
			case i+1 < len(args):
				value, found = args[i+1], true
			}
		}
	}
	return value, found
}

// asked are the agent URLs a Mount of preferredAddressType addr asks, in
// order (auto: IPv6 only when IPv4 cannot be reached).
func asked(addr params.AddressType, v4, v6 agentURL) []agentURL {
	switch addr {
	case params.AddressIPv4:
		return []agentURL{v4}
	case params.AddressIPv6:
		return []agentURL{v6}
	}
	return []agentURL{v4, v6}
}

func addressTypeName(addr params.AddressType) string {
	switch addr {
	case params.AddressIPv4:
		return "ipv4"
	case params.AddressIPv6:
		return "ipv6"
	}
	return "auto"
}

// urlList names the URLs asked and where each was read.
func urlList(us []agentURL) string {
	var out []string
	for _, u := range us {
		if u.url != "" {
			out = append(out, u.url+" from "+u.from)
		}
	}
	return strings.Join(out, ", then ")
}

// agentFinding is the agent step for a failure to get credentials from
// the agent: which link broke, and what to change.
func (d *Doctor) agentFinding(ctx context.Context, t Target, req *params.Request, v4, v6 agentURL, err error, s *Steps) {
	const check = "agent"
	who := t.Namespace + "/" + t.ServiceAccount
	var ae *identity.AgentError
	if !errors.As(err, &ae) {
		s.fail(check, report.Error, "EKS Pod Identity: "+err.Error(), "the message says what to change")
		return
	}
	at := ae.URL
	switch ae.Fault {
	case identity.AgentNoAddress:
		var empty []string
		for _, u := range asked(req.AddressType, v4, v6) {
			empty = append(empty, fmt.Sprintf("--%s is empty (%s)", u.flag, u.from))
		}
		s.fail(check, report.Error, fmt.Sprintf("SecretProviderClass %s/%s sets usePodIdentity with preferredAddressType %s, but the provider has no EKS Pod Identity Agent address for it: %s",
			t.Namespace, t.Class, addressTypeName(req.AddressType), strings.Join(empty, "; ")),
			"give the provider the agent's address (helm: --set podIdentityAgent.url="+identity.DefaultAgentIPv4URL+" --set podIdentityAgent.urlIPv6="+identity.DefaultAgentIPv6URL+
				"), or set preferredAddressType to the family it has an address for")
	case identity.AgentUnreachable:
		msg, fix := d.agentNotRunning(ctx)
		s.fail(check, report.Error, fmt.Sprintf("nothing answers at the EKS Pod Identity Agent's address %s (%s; asked: %s, for preferredAddressType %s): %s",
			at, ae.Error(), urlList(asked(req.AddressType, v4, v6)), addressTypeName(req.AddressType), msg), fix)
	case identity.AgentNoAssociation:
		s.fail(check, report.Error, fmt.Sprintf("the EKS Pod Identity Agent at %s refused service account %s (%s): it has no EKS Pod Identity association in this cluster, or the agent may not use it",
			at, who, ae.Error()),
			fmt.Sprintf("create one (aws eks list-pod-identity-associations --cluster-name CLUSTER --namespace %s lists those there are):\n"+
				"aws eks create-pod-identity-association --cluster-name CLUSTER --namespace %s --service-account %s --role-arn ROLE_ARN\n"+
				"with a role whose trust policy allows the service principal pods.eks.amazonaws.com sts:AssumeRole and sts:TagSession.\n"+
				"If the association exists: the nodes' IAM role needs eks-auth:AssumeRoleForPodIdentity (AmazonEKSWorkerNodePolicy grants it)",
				t.Namespace, t.Namespace, t.ServiceAccount))
	case identity.AgentTokenRefused:
		s.fail(check, report.Error, fmt.Sprintf("the EKS Pod Identity Agent at %s refused the token doctor requested for %s with audience %s (%s)",
			at, who, identity.PodIdentityAudience, ae.Error()),
			"the agent takes tokens of its own EKS cluster only: run doctor against the cluster the agent runs in (--context), and check that the nodes' clocks are right")
	default:
		s.fail(check, report.Error, err.Error(),
			"see why in its logs: kubectl -n kube-system logs daemonset/eks-pod-identity-agent")
	}
}

// agentNotRunning says why nothing answers at the agent's address, from
// the add-on's DaemonSet: not installed, not ready on some nodes, or
// running (then doctor is where the agent cannot be reached).
func (d *Doctor) agentNotRunning(ctx context.Context) (msg, fix string) {
	ns, name, _ := strings.Cut(agentDaemonSet, "/")
	var ds daemonSet
	err := d.Kube.GetJSON(ctx, "/apis/apps/v1"+d.nsPath(ns)+"/daemonsets/"+url.PathEscape(name), &ds)
	switch {
	case apierrors.IsNotFound(err):
		return "the EKS Pod Identity Agent add-on is not installed (there is no DaemonSet " + agentDaemonSet + ")",
			"install it: aws eks create-addon --cluster-name CLUSTER --addon-name eks-pod-identity-agent (EKS Auto Mode clusters have it built in)"
	case err != nil:
		return "and DaemonSet " + agentDaemonSet + " cannot be read (" + apiReason(err) + ")",
			"check that the EKS Pod Identity Agent add-on runs on every node: kubectl -n kube-system get daemonset eks-pod-identity-agent"
	}
	all, err := d.podNodes(ctx, ds, false)
	if err != nil {
		return "and the agent's pods cannot be listed (" + apiReason(err) + ")",
			"check that the EKS Pod Identity Agent add-on runs on every node: kubectl -n kube-system get pods -o wide -l " + selector(ds.Spec.Selector.MatchLabels)
	}
	ready, _ := d.podNodes(ctx, ds, true)
	var down []string
	for n := range all {
		if !ready[n] {
			down = append(down, n)
		}
	}
	sort.Strings(down)
	see := fmt.Sprintf("see why: kubectl -n %s get pods -o wide -l %s; kubectl -n %s describe daemonset %s", ns, selector(ds.Spec.Selector.MatchLabels), ns, name)
	switch {
	case len(all) == 0:
		return "the EKS Pod Identity Agent add-on (DaemonSet " + agentDaemonSet + ") runs no pod", see
	case len(down) > 0:
		return fmt.Sprintf("the EKS Pod Identity Agent add-on is not running on node %s (DaemonSet %s has no ready pod there); Mounts of pods there fail", strings.Join(down, ", "), agentDaemonSet), see
	}
	nodes := fmt.Sprintf("all %d nodes", len(all))
	if len(all) == 1 {
		nodes = "its one node"
	}
	return fmt.Sprintf("the EKS Pod Identity Agent add-on runs ready on %s (DaemonSet %s), so doctor is where it cannot be reached", nodes, agentDaemonSet),
		"the agent answers only inside the cluster, on each node's link-local address: run doctor in a pod of the cluster (or on a node), or point --pod-identity-agent-url at an agent"
}
