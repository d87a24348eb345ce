package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
)

// DriverName is the Secrets Store CSI Driver's CSIDriver object.
const DriverName = "secrets-store.csi.k8s.io"

// checkCSIDriver checks the CSIDriver object: the token request for the
// audience the class's identity needs (IRSA's, or Pod Identity's), pod
// info, rotation, and tokens kept out of volume attributes where the
// cluster can.
func (d *Doctor) checkCSIDriver(ctx context.Context, audience string, s *Steps) {
	const check = "csidriver"
	var drv csiDriver
	err := d.Kube.GetJSON(ctx, "/apis/storage.k8s.io/v1/csidrivers/"+DriverName, &drv)
	switch {
	case apierrors.IsNotFound(err):
		s.fail(check, report.Error, "there is no CSIDriver "+DriverName+": the Secrets Store CSI Driver is not installed",
			"install the driver (v1.6+) with its chart: helm install csi-secrets-store secrets-store-csi-driver/secrets-store-csi-driver -n kube-system --set tokenRequests[0].audience="+audience+" --set enableSecretRotation=true")
		return
	case err != nil:
		s.fail(check, report.Error, "reading CSIDriver "+DriverName+": "+apiReason(err), "")
		return
	}
	var problems, fixes []string
	hasAudience := false
	for _, tr := range drv.Spec.TokenRequests {
		hasAudience = hasAudience || tr.Audience == audience
	}
	if !hasAudience {
		kind := "IRSA"
		if audience == identity.PodIdentityAudience {
			kind = "EKS Pod Identity"
		}
		problems = append(problems, fmt.Sprintf("it requests no service-account token for audience %s, so pods get no %s token and every Mount fails", audience, kind))
		fix := "tokenRequests: [{audience: " + audience + "}]  (helm: --set tokenRequests[0].audience=" + audience + ")"
		if n := len(drv.Spec.TokenRequests); n > 0 {
			fix = fmt.Sprintf("add {audience: %s} to tokenRequests, keeping those there  (helm: --set tokenRequests[%d].audience=%s)", audience, n, audience)
		}
		fixes = append(fixes, fix)
	}
	if drv.Spec.PodInfoOnMount == nil || !*drv.Spec.PodInfoOnMount {
		problems = append(problems, "podInfoOnMount is not true, so Mounts do not say which pod and service account they are for")
		fixes = append(fixes, "podInfoOnMount: true  (the driver's chart sets it)")
	}
	st := report.Error
	if len(problems) == 0 {
		st = report.Warning
	}
	if drv.Spec.RequiresRepublish == nil || !*drv.Spec.RequiresRepublish {
		problems = append(problems, "requiresRepublish is not true, so rotated credentials never reach running pods")
		fixes = append(fixes, "requiresRepublish: true  (helm: --set enableSecretRotation=true)")
	}
	if d.minor(ctx) >= 35 && (drv.Spec.ServiceAccountTokenInSecrets == nil || !*drv.Spec.ServiceAccountTokenInSecrets) {
		problems = append(problems, "serviceAccountTokenInSecrets is not true (this cluster supports it), so pod tokens travel in volume attributes, which may be logged")
		fixes = append(fixes, "serviceAccountTokenInSecrets: true")
	}
	if len(problems) > 0 {
		s.fail(check, st, "CSIDriver "+DriverName+": "+strings.Join(problems, "; "),
			"set in the CSIDriver's spec (kubectl edit csidriver "+DriverName+", or the driver chart's values):\n"+strings.Join(fixes, "\n"))
		return
	}
	s.ok(check, "CSIDriver %s requests tokens for %s, with podInfoOnMount and requiresRepublish", DriverName, audience)
}

// minor is the cluster's Kubernetes minor version, 0 when unknown.
func (d *Doctor) minor(ctx context.Context) int {
	var v serverVersion
	if err := d.Kube.GetJSON(ctx, "/version", &v); err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimRight(v.Minor, "+"))
	return n
}

// checkDaemonSets checks that the provider runs, ready, on every node the
// driver runs on, and when it does not, whether its tolerations are why.
// It returns the provider's DaemonSet, nil when there is none.
func (d *Doctor) checkDaemonSets(ctx context.Context, s *Steps) *daemonSet {
	const check = "daemonset"
	var all list[daemonSet]
	if err := d.Kube.GetJSON(ctx, "/apis/apps/v1/daemonsets", &all); err != nil {
		s.fail(check, report.Warning, "listing DaemonSets: "+apiReason(err), "run doctor as a user who may list daemonsets, pods and nodes")
		return nil
	}
	var drivers, providers []daemonSet
	for _, ds := range all.Items {
		switch {
		case d.ProviderDaemonSet != "" && ds.Metadata.Namespace+"/"+ds.Metadata.Name == d.ProviderDaemonSet:
			providers = append(providers, ds)
		case d.ProviderDaemonSet == "" && isProvider(ds, d.ProviderName):
			providers = append(providers, ds)
		case isDriver(ds):
			drivers = append(drivers, ds)
		}
	}
	switch {
	case len(drivers) == 0 && len(providers) == 0:
		s.skip(check, "neither the driver nor the provider runs as a DaemonSet here (looked for a container with --provider-volume, and the image pmp-secrets-provider)")
		return nil
	case len(providers) == 0:
		s.fail(check, report.Error, fmt.Sprintf("the driver runs (DaemonSet %s), but no provider DaemonSet was found (a container of image pmp-secrets-provider, or with --provider-name=%s)", ref(drivers[0].Metadata), d.ProviderName),
			"install the provider as a DaemonSet beside the driver (docs/getting-started-eks.md), or name it with --provider-daemonset NAMESPACE/NAME")
		return nil
	}
	prov := &providers[0]
	var driverNodes map[string]bool
	var driver string // where the driver runs, for the messages
	if len(drivers) > 0 {
		var err error
		if driverNodes, err = d.podNodes(ctx, drivers[0], false); err != nil {
			s.fail(check, report.Warning, "listing the driver's pods: "+apiReason(err), "")
			return prov
		}
		driver = "DaemonSet " + ref(drivers[0].Metadata)
	} else {
		// A driver run some other way (a host process, a static pod of
		// another name) is on the nodes whose CSINode lists it: where the
		// kubelet sends the mounts.
		driverNodes = d.registeredNodes(ctx)
		if len(driverNodes) == 0 {
			s.fail(check, report.Error, fmt.Sprintf("the provider runs (DaemonSet %s), but the driver does not: no DaemonSet has a container with --provider-volume and no node's CSINode lists %s", ref(providers[0].Metadata), DriverName),
				"install the Secrets Store CSI Driver v1.6+ (helm chart secrets-store-csi-driver)")
			return prov
		}
		driver = "not a DaemonSet here: nodes whose CSINode lists " + DriverName
	}
	provNodes, err := d.podNodes(ctx, providers[0], true)
	if err != nil {
		s.fail(check, report.Warning, "listing the provider's pods: "+apiReason(err), "")
		return prov
	}
	var missing []string
	for n := range driverNodes {
		if !provNodes[n] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) == 0 {
		all := fmt.Sprintf("all %d nodes", len(driverNodes))
		if len(driverNodes) == 1 {
			all = "the one node"
		}
		s.ok(check, "the provider (DaemonSet %s) runs ready on %s of the driver (%s)", ref(prov.Metadata), all, driver)
		return prov
	}
	msg := fmt.Sprintf("the provider (DaemonSet %s) has no ready pod on %d of the %d nodes the driver runs on: %s; pods there that mount a SecretProviderClass of provider %s wait in ContainerCreating",
		ref(prov.Metadata), len(missing), len(driverNodes), strings.Join(missing, ", "), d.ProviderName)
	var untolerated []taint
	for _, n := range missing {
		var nd node
		if err := d.Kube.GetJSON(ctx, "/api/v1/nodes/"+url.PathEscape(n), &nd); err != nil {
			continue
		}
		for _, t := range nd.Spec.Taints {
			if (t.Effect == "NoSchedule" || t.Effect == "NoExecute") && !tolerated(t, prov.Spec.Template.Spec.Tolerations) && !slices.Contains(untolerated, t) {
				untolerated = append(untolerated, t)
			}
		}
	}
	if len(untolerated) == 0 {
		s.fail(check, report.Error, msg, fmt.Sprintf("see why: kubectl -n %s get pods -o wide -l %s; kubectl -n %s describe daemonset %s",
			prov.Metadata.Namespace, selector(prov.Spec.Selector.MatchLabels), prov.Metadata.Namespace, prov.Metadata.Name))
		return prov
	}
	var yaml []string
	for _, t := range untolerated {
		if t.Value != "" {
			yaml = append(yaml, fmt.Sprintf("- {key: %s, operator: Equal, value: %s, effect: %s}", t.Key, t.Value, t.Effect))
		} else {
			yaml = append(yaml, fmt.Sprintf("- {key: %s, operator: Exists, effect: %s}", t.Key, t.Effect))
		}
	}
	s.fail(check, report.Error, msg+"; its tolerations do not cover their taints",
		fmt.Sprintf("add to the tolerations of DaemonSet %s (spec.template.spec.tolerations), as the driver's are:\n%s", ref(prov.Metadata), strings.Join(yaml, "\n")))
	return prov
}

// registeredNodes are the nodes whose CSINode lists the driver; nil when
// they cannot be read.
func (d *Doctor) registeredNodes(ctx context.Context) map[string]bool {
	var nodes list[csiNode]
	if d.Kube.GetJSON(ctx, "/apis/storage.k8s.io/v1/csinodes", &nodes) != nil {
		return nil
	}
	out := map[string]bool{}
	for _, n := range nodes.Items {
		for _, drv := range n.Spec.Drivers {
			if drv.Name == DriverName {
				out[n.Metadata.Name] = true
			}
		}
	}
	return out
}

// podNodes are the nodes with a pod of ds (a ready one, if ready).
func (d *Doctor) podNodes(ctx context.Context, ds daemonSet, ready bool) (map[string]bool, error) {
	var pods list[pod]
	path := "/api/v1/namespaces/" + url.PathEscape(ds.Metadata.Namespace) + "/pods?labelSelector=" + url.QueryEscape(selector(ds.Spec.Selector.MatchLabels))
	if err := d.Kube.GetJSON(ctx, path, &pods); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, p := range pods.Items {
		if p.Spec.NodeName != "" && (!ready || p.ready()) {
			out[p.Spec.NodeName] = true
		}
	}
	return out, nil
}

func selector(labels map[string]string) string {
	var parts []string
	for k, v := range labels {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// isDriver: a container of the driver's node plugin has --provider-volume.
func isDriver(ds daemonSet) bool {
	for _, c := range ds.Spec.Template.Spec.Containers {
		for _, a := range append(c.Command, c.Args...) {
			if strings.HasPrefix(a, "--provider-volume") {
				return true
			}
		}
	}
	return false
}

// isProvider: a container runs this provider's image or names it.
func isProvider(ds daemonSet, name string) bool {
	for _, c := range ds.Spec.Template.Spec.Containers {
		if strings.Contains(c.Image, "pmp-secrets-provider") {
			return true
		}
		for _, a := range append(c.Command, c.Args...) {
			if a == "--provider-name="+name || strings.HasSuffix(a, "/pmp-secrets-provider") {
				return true
			}
		}
	}
	return false
}

// tolerated reports whether one of tols tolerates t, as the scheduler
// decides it; a DaemonSet's pods also tolerate the node-condition taints
// the DaemonSet controller adds.
func tolerated(t taint, tols []toleration) bool {
	if strings.HasPrefix(t.Key, "node.kubernetes.io/") {
		return true
	}
	for _, tol := range tols {
		if tol.Effect != "" && tol.Effect != t.Effect {
			continue
		}
		switch tol.Operator {
		case "Exists":
			if tol.Key == "" || tol.Key == t.Key {
				return true
			}
		case "", "Equal":
			if tol.Key == t.Key && tol.Value == t.Value {
				return true
			}
		}
	}
	return false
}

func ref(m meta) string {
	if m.Namespace == "" {
		return m.Name
	}
	return m.Namespace + "/" + m.Name
}

// apiReason is an API error in short: the server's message.
func apiReason(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		if msg := st.Status().Message; msg != "" {
			return msg
		}
		return string(st.Status().Reason)
	}
	return err.Error()
}
