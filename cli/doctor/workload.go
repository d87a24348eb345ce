package doctor

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/spclass"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/suggest"
)

// Target is what doctor checks: a workload or service account in a
// namespace, and the SecretProviderClass it mounts.
type Target struct {
	Namespace string `json:"namespace"`
	// Environment is a Mendix app environment (doctor --environment):
	// its ServiceAccount and SecretProviderClass are named as it.
	Environment    string `json:"environment,omitempty"`
	ServiceAccount string `json:"serviceAccount,omitempty"`
	Deployment     string `json:"deployment,omitempty"`
	Class          string `json:"secretProviderClass,omitempty"`
}

func (d *Doctor) nsPath(ns string) string { return "/namespaces/" + url.PathEscape(ns) }

// similarNames is what a name that is not among the objects of the list
// at path (".../deployments") was probably meant to be, for the "there is
// no ..." step: the names of those objects close to it (suggest.Among),
// none when the list cannot be read.
func (d *Doctor) similarNames(ctx context.Context, path, name string) []string {
	var all list[struct {
		Metadata meta `json:"metadata"`
	}]
	_ = d.Kube.GetJSON(ctx, path, &all)
	names := make([]string, len(all.Items))
	for i, x := range all.Items {
		names[i] = x.Metadata.Name
	}
	return suggest.Among(name, names)
}

// resolveDeployment reads the Deployment and fills in its service account
// and SecretProviderClass where the flags did not say. False: stop.
func (d *Doctor) resolveDeployment(ctx context.Context, t *Target, s *Steps) (*deployment, bool) {
	const check = "deployment"
	if t.Deployment == "" {
		return nil, true
	}
	var dep deployment
	err := d.Kube.GetJSON(ctx, "/apis/apps/v1"+d.nsPath(t.Namespace)+"/deployments/"+url.PathEscape(t.Deployment), &dep)
	if apierrors.IsNotFound(err) {
		sugg := d.similarNames(ctx, "/apis/apps/v1"+d.nsPath(t.Namespace)+"/deployments", t.Deployment)
		s.fail(check, report.Error, fmt.Sprintf("there is no Deployment %s/%s%s", t.Namespace, t.Deployment, suggest.Clause(sugg)),
			fmt.Sprintf("kubectl -n %s get deployments", t.Namespace))
		return nil, false
	}
	if err != nil {
		s.fail(check, report.Error, fmt.Sprintf("reading Deployment %s/%s: %s", t.Namespace, t.Deployment, apiReason(err)), "")
		return nil, false
	}
	sa := dep.Spec.Template.Spec.serviceAccount()
	if t.ServiceAccount != "" && t.ServiceAccount != sa {
		s.fail(check, report.Error, fmt.Sprintf("Deployment %s/%s runs its pods as service account %s, not %s", t.Namespace, t.Deployment, sa, t.ServiceAccount),
			"drop --service-account to check the Deployment's own, or set spec.template.spec.serviceAccountName: "+t.ServiceAccount)
		return nil, false
	}
	t.ServiceAccount = sa
	class := ""
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.CSI != nil && v.CSI.Driver == DriverName {
			class = v.CSI.VolumeAttributes["secretProviderClass"]
			break
		}
	}
	switch {
	case class == "" && t.Class == "":
		s.fail(check, report.Error, fmt.Sprintf("Deployment %s/%s mounts no CSI volume of driver %s", t.Namespace, t.Deployment, DriverName),
			"add to spec.template.spec.volumes (and a volumeMount in the container):\n- name: pmp\n  csi:\n    driver: "+DriverName+"\n    readOnly: true\n    volumeAttributes: {secretProviderClass: pmp-credentials}")
		return nil, false
	case t.Class == "":
		t.Class = class
	case class != "" && class != t.Class:
		s.fail(check, report.Warning, fmt.Sprintf("Deployment %s/%s mounts SecretProviderClass %s, not %s: checking %s", t.Namespace, t.Deployment, class, t.Class, t.Class), "")
	}
	s.ok(check, "Deployment %s/%s runs as service account %s and mounts SecretProviderClass %s", t.Namespace, t.Deployment, t.ServiceAccount, t.Class)
	return &dep, true
}

// checkClass reads and parses the SecretProviderClass with the provider's
// own parser. Nil: the chain cannot run. podIdentity: the class sets
// usePodIdentity (read from its parameters when it does not parse, so the
// service account is checked for the chain that applies).
func (d *Doctor) checkClass(ctx context.Context, t *Target, s *Steps) (req *params.Request, podIdentity bool) {
	const check = "secretproviderclass"
	base := "/apis/secrets-store.csi.x-k8s.io/v1" + d.nsPath(t.Namespace) + "/secretproviderclasses"
	if t.Class == "" {
		var all list[spclass.SecretProviderClass]
		if err := d.Kube.GetJSON(ctx, base, &all); err != nil {
			s.fail(check, report.Error, "listing SecretProviderClasses in "+t.Namespace+": "+apiReason(err), "name it with --class")
			return nil, false
		}
		var ours []string
		for _, c := range all.Items {
			if c.Spec.Provider == d.ProviderName {
				ours = append(ours, c.Metadata.Name)
			}
		}
		if len(ours) != 1 {
			s.fail(check, report.Error, fmt.Sprintf("namespace %s has %d SecretProviderClasses of provider %s (%s): doctor does not know which to check", t.Namespace, len(ours), d.ProviderName, strings.Join(ours, ", ")),
				"name it with --class, or check a workload with --deployment")
			return nil, false
		}
		t.Class = ours[0]
	}
	var c spclass.SecretProviderClass
	err := d.Kube.GetJSON(ctx, base+"/"+url.PathEscape(t.Class), &c)
	if apierrors.IsNotFound(err) {
		sugg := d.similarNames(ctx, base, t.Class)
		s.fail(check, report.Error, fmt.Sprintf("there is no SecretProviderClass %s/%s%s: pods that mount it wait in ContainerCreating", t.Namespace, t.Class, suggest.Clause(sugg)),
			fmt.Sprintf("kubectl -n %s get secretproviderclasses; fix the volume's secretProviderClass or create the class (examples/pmp-secretproviderclass.yaml)", t.Namespace))
		return nil, false
	}
	if err != nil {
		s.fail(check, report.Error, fmt.Sprintf("reading SecretProviderClass %s/%s: %s", t.Namespace, t.Class, apiReason(err)), "")
		return nil, false
	}
	if c.Spec.Provider != d.ProviderName {
		s.fail(check, report.Error, fmt.Sprintf("SecretProviderClass %s/%s has spec.provider %q, so the driver sends its Mounts to another provider", t.Namespace, t.Class, c.Spec.Provider),
			"set spec.provider: "+d.ProviderName)
		return nil, false
	}
	req, err = c.Request()
	if err != nil {
		s.fail(check, report.Error, err.Error(), "fix the named field: kubectl -n "+t.Namespace+" edit secretproviderclass "+t.Class+" (docs/secretproviderclass.md lists the fields)")
		// As the provider's parser reads it (strconv.ParseBool).
		podIdentity, _ = strconv.ParseBool(strings.TrimSpace(c.Spec.Parameters[params.ParamUsePodIdentity]))
		return nil, podIdentity
	}
	via := ""
	if req.PodIdentity {
		via = fmt.Sprintf(", with EKS Pod Identity (preferredAddressType %s)", addressTypeName(req.AddressType))
	}
	s.ok(check, "SecretProviderClass %s/%s names provider %s and parses: objects %s%s", t.Namespace, t.Class, d.ProviderName, strings.Join(req.ObjectNames(), ", "), via)
	return req, req.PodIdentity
}

// checkServiceAccount checks that the service account exists and, for
// IRSA, carries the role annotation, and says so when it is on the
// Deployment instead (the PMP document's example). It returns the role,
// "" when there is none (always with Pod Identity, whose association
// names the role), and whether the service account exists.
func (d *Doctor) checkServiceAccount(ctx context.Context, t Target, dep *deployment, podIdentity bool, s *Steps) (role string, exists bool) {
	const check = "serviceaccount"
	base := "/api/v1" + d.nsPath(t.Namespace) + "/serviceaccounts"
	var sa serviceAccount
	err := d.Kube.GetJSON(ctx, base+"/"+url.PathEscape(t.ServiceAccount), &sa)
	if apierrors.IsNotFound(err) {
		sugg := d.similarNames(ctx, base, t.ServiceAccount)
		then := "then annotate it with the role"
		if podIdentity {
			then = "then create its EKS Pod Identity association"
		}
		fix := fmt.Sprintf("create it: kubectl -n %s create serviceaccount %s (%s)", t.Namespace, t.ServiceAccount, then)
		if len(sugg) > 0 {
			fix = fmt.Sprintf("use the existing one: serviceAccountName: %s in the pod template (the PMP document spells it two ways: pmp-secrets-access and pmp-secret-access), or %s", sugg[0], fix)
		}
		s.fail(check, report.Error, fmt.Sprintf("there is no service account %s/%s%s: pods that use it are not created", t.Namespace, t.ServiceAccount, suggest.Clause(sugg)), fix)
		return "", false
	}
	if err != nil {
		s.fail(check, report.Error, fmt.Sprintf("reading service account %s/%s: %s", t.Namespace, t.ServiceAccount, apiReason(err)), "")
		return "", false
	}
	if podIdentity {
		s.ok(check, "service account %s/%s exists; with usePodIdentity its IAM role is the one of its EKS Pod Identity association (no %s annotation is read)",
			t.Namespace, t.ServiceAccount, identity.RoleAnnotation)
		return "", true
	}
	role = strings.TrimSpace(sa.Metadata.Annotations[identity.RoleAnnotation])
	switch {
	case role == "":
		where, value := d.annotatedDeployment(ctx, t, dep)
		if where != "" {
			s.fail(check, report.Error, fmt.Sprintf("service account %s/%s has no %s annotation; it is on %s instead (as in the PMP document's example), where IRSA never reads it",
				t.Namespace, t.ServiceAccount, identity.RoleAnnotation, where),
				fmt.Sprintf("kubectl -n %s annotate serviceaccount %s %s=%s\n(and remove it from the Deployment)", t.Namespace, t.ServiceAccount, identity.RoleAnnotation, value))
			return "", true
		}
		s.fail(check, report.Error, fmt.Sprintf("service account %s/%s has no %s annotation: the provider cannot tell which IAM role its pods read secrets as", t.Namespace, t.ServiceAccount, identity.RoleAnnotation),
			fmt.Sprintf("kubectl -n %s annotate serviceaccount %s %s=arn:aws:iam::ACCOUNT_ID:role/PMP-SecretsManager-Role", t.Namespace, t.ServiceAccount, identity.RoleAnnotation))
		return "", true
	case !identity.ValidRoleARN(role):
		s.fail(check, report.Error, fmt.Sprintf("service account %s/%s: annotation %s %q is not an IAM role ARN", t.Namespace, t.ServiceAccount, identity.RoleAnnotation, role),
			fmt.Sprintf("kubectl -n %s annotate --overwrite serviceaccount %s %s=arn:aws:iam::ACCOUNT_ID:role/ROLE_NAME", t.Namespace, t.ServiceAccount, identity.RoleAnnotation))
		return "", true
	}
	s.ok(check, "service account %s/%s is annotated with role %s", t.Namespace, t.ServiceAccount, role)
	return role, true
}

// annotatedDeployment finds the role annotation on a Deployment that runs
// as the service account (on it or its pod template): where, and the
// value.
func (d *Doctor) annotatedDeployment(ctx context.Context, t Target, dep *deployment) (where, value string) {
	deps := []deployment{}
	if dep != nil {
		deps = append(deps, *dep)
	} else {
		var all list[deployment]
		if d.Kube.GetJSON(ctx, "/apis/apps/v1"+d.nsPath(t.Namespace)+"/deployments", &all) == nil {
			for _, x := range all.Items {
				if x.Spec.Template.Spec.serviceAccount() == t.ServiceAccount {
					deps = append(deps, x)
				}
			}
		}
	}
	for _, x := range deps {
		if v := x.Metadata.Annotations[identity.RoleAnnotation]; v != "" {
			return "Deployment " + ref(x.Metadata), v
		}
		if v := x.Spec.Template.Metadata.Annotations[identity.RoleAnnotation]; v != "" {
			return "the pod template of Deployment " + ref(x.Metadata), v
		}
	}
	return "", ""
}
