package doctor

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/spclass"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mendixenv"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/suggest"
)

// The MendixApp custom resource, as the Mendix Operator defines it.
const (
	mendixAppCRD   = "mendixapps.privatecloud.mendix.com"
	mendixAppGroup = "privatecloud.mendix.com"
	// allowOverride is the MendixApp's setting that lets the Operator read
	// a standalone app's settings from the secret store.
	allowOverride = "allowOverrideSecretsWithSecretStoreCSIDriver"
)

// annotated is an object's metadata, as the environment checks read it.
type annotated struct {
	Metadata meta `json:"metadata"`
}

// CheckEnvironment checks a Mendix app environment (t.Environment in
// t.Namespace) as the Mendix Operator finds it: its MendixApp's setting
// when the MendixApp CRD is installed, the ServiceAccount and
// SecretProviderClass named as the environment with the Operator's
// annotations, then every check of a workload for that service account and
// class (the IRSA chain to the Mount), and the mounted files against the
// Mendix environment catalog for modes (empty fields: inferred from the
// files). The PMP catalog's checks of the secret are not run: an
// environment's secret is not a PMP secret.
func (d *Doctor) CheckEnvironment(ctx context.Context, t Target, modes mendixenv.Modes) Result {
	name := t.Environment
	t.ServiceAccount, t.Class = name, name
	var s Steps
	d.checkMendixApp(ctx, t, &s)
	d.checkEnvironmentObject(ctx, t, "environment-account", "/api/v1"+d.nsPath(t.Namespace)+"/serviceaccounts", "ServiceAccount", mendixenv.AccountAnnotation, &s)
	d.checkEnvironmentObject(ctx, t, "environment-class", "/apis/secrets-store.csi.x-k8s.io/v1"+d.nsPath(t.Namespace)+"/secretproviderclasses", "SecretProviderClass", mendixenv.ClassAnnotation, &s)
	res := d.Check(ctx, Target{Namespace: t.Namespace, Environment: name, ServiceAccount: name, Class: name})
	s = append(s, res.Steps...)
	if step := s.find("mount", report.OK); step != nil {
		d.checkEnvironmentFiles(ctx, t, modes, &s)
	} else {
		s.skip("environment-secret", "the environment's files are checked once the Mount succeeds (above)")
	}
	return result(t, s)
}

func (s Steps) find(check string, sev report.Severity) *report.Finding {
	for i := range s {
		if s[i].Check == check && s[i].Severity == sev {
			return &s[i]
		}
	}
	return nil
}

// checkMendixApp checks the MendixApp's allowOverrideSecretsWithSecretStoreCSIDriver,
// when the cluster has the MendixApp CRD.
func (d *Doctor) checkMendixApp(ctx context.Context, t Target, s *Steps) {
	const check = "mendixapp"
	var crd struct {
		Spec struct {
			Versions []struct {
				Name   string `json:"name"`
				Served bool   `json:"served"`
			} `json:"versions"`
		} `json:"spec"`
	}
	err := d.Kube.GetJSON(ctx, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"+mendixAppCRD, &crd)
	if apierrors.IsNotFound(err) {
		s.skip(check, "the MendixApp CRD (%s) is not installed: the Mendix Operator's MendixApp %s is not checked", mendixAppCRD, t.Environment)
		return
	}
	if err != nil {
		s.skip(check, "reading the MendixApp CRD: %s", apiReason(err))
		return
	}
	version := ""
	for _, v := range crd.Spec.Versions {
		if v.Served {
			version = v.Name
		}
	}
	if version == "" {
		s.skip(check, "the MendixApp CRD serves no version")
		return
	}
	base := "/apis/" + mendixAppGroup + "/" + version + d.nsPath(t.Namespace) + "/mendixapps"
	var app struct {
		Metadata meta           `json:"metadata"`
		Spec     map[string]any `json:"spec"`
	}
	err = d.Kube.GetJSON(ctx, base+"/"+url.PathEscape(t.Environment), &app)
	if apierrors.IsNotFound(err) {
		sugg := d.similarNames(ctx, base, t.Environment)
		s.fail(check, report.Error, fmt.Sprintf("there is no MendixApp %s/%s%s: the environment's ServiceAccount and SecretProviderClass are named as its MendixApp", t.Namespace, t.Environment, suggest.Clause(sugg)),
			fmt.Sprintf("kubectl -n %s get mendixapps; check the environment named as its MendixApp (its internal name)", t.Namespace))
		return
	}
	if err != nil {
		s.fail(check, report.Error, fmt.Sprintf("reading MendixApp %s/%s: %s", t.Namespace, t.Environment, apiReason(err)), "")
		return
	}
	if v, _ := app.Spec[allowOverride].(bool); !v {
		s.fail(check, report.Warning, fmt.Sprintf("MendixApp %s/%s does not set %s: true, so a standalone app's Operator ignores the secret store (a connected environment gets it from its namespace's Enable Secrets Store option)", t.Namespace, t.Environment, allowOverride),
			fmt.Sprintf("kubectl -n %s patch mendixapp %s --type merge -p '{\"spec\":{\"%s\":true}}'", t.Namespace, t.Environment, allowOverride))
		return
	}
	s.ok(check, "MendixApp %s/%s lets the Operator read the secret store (%s: true)", t.Namespace, t.Environment, allowOverride)
}

// checkEnvironmentObject checks that the object named as the environment
// in the list at base carries annotation: "true", and says which object
// carries it instead when one does.
func (d *Doctor) checkEnvironmentObject(ctx context.Context, t Target, check, base, kind, annotation string, s *Steps) {
	var all list[annotated]
	if err := d.Kube.GetJSON(ctx, base, &all); err != nil {
		s.skip(check, "listing %ss in %s: %s", kind, t.Namespace, apiReason(err))
		return
	}
	var others []string
	var own *annotated
	for i, o := range all.Items {
		switch {
		case o.Metadata.Name == t.Environment:
			own = &all.Items[i]
		case strings.EqualFold(strings.TrimSpace(o.Metadata.Annotations[annotation]), "true"):
			others = append(others, o.Metadata.Name)
		}
	}
	slices.Sort(others)
	if own == nil {
		msg := fmt.Sprintf("there is no %s %s/%s: the Mendix Operator reads the environment's secret through the %s named as the environment", kind, t.Namespace, t.Environment, kind)
		if len(others) > 0 {
			msg += fmt.Sprintf("; %s %s is annotated %s but named differently", kind, strings.Join(others, ", "), annotation)
		}
		fix := fmt.Sprintf("create it named %s: pmp-secrets-provider manifests --environment %s -n %s --role-arn ROLE_ARN prints it", t.Environment, t.Environment, t.Namespace)
		if len(others) > 0 {
			fix = fmt.Sprintf("rename %s %s to %s (and the environment's volume follows), or create it: pmp-secrets-provider manifests --environment %s -n %s --role-arn ROLE_ARN", kind, others[0], t.Environment, t.Environment, t.Namespace)
		}
		s.fail(check, report.Error, msg, fix)
		return
	}
	v, ok := own.Metadata.Annotations[annotation]
	if !ok || strings.TrimSpace(v) != "true" {
		what := "has no annotation " + annotation
		if ok {
			what = fmt.Sprintf("has annotation %s %q, not \"true\"", annotation, v)
		}
		s.fail(check, report.Error, fmt.Sprintf("%s %s/%s %s: the Mendix Operator does not take it for the environment's", kind, t.Namespace, t.Environment, what),
			fmt.Sprintf("kubectl -n %s annotate --overwrite %s %s %s=true", t.Namespace, strings.ToLower(kind), t.Environment, annotation))
		return
	}
	s.ok(check, "%s %s/%s is named as the environment and annotated %s: \"true\"", kind, t.Namespace, t.Environment, annotation)
}

// checkEnvironmentFiles mounts the class as a pod of the environment would
// and checks the files, as the Operator reads them, against the catalog.
func (d *Doctor) checkEnvironmentFiles(ctx context.Context, t Target, modes mendixenv.Modes, s *Steps) {
	const check = "environment-secret"
	var c spclass.SecretProviderClass
	if err := d.Kube.GetJSON(ctx, "/apis/secrets-store.csi.x-k8s.io/v1"+d.nsPath(t.Namespace)+"/secretproviderclasses/"+url.PathEscape(t.Class), &c); err != nil {
		s.skip(check, "reading SecretProviderClass %s/%s: %s", t.Namespace, t.Class, apiReason(err))
		return
	}
	req, err := c.Request()
	if err != nil {
		s.skip(check, "the SecretProviderClass does not parse (above)")
		return
	}
	var scratch Steps
	token := d.requestToken(ctx, t, d.Audience, &scratch)
	if token == "" {
		s.skip(check, "no token for the service account (above)")
		return
	}
	opts := provider.Options{TokenAudience: d.Audience, Cache: true, SecretTTL: time.Minute, CacheSize: 16, RetryBudget: d.RetryBudget}
	if opts.RetryBudget == 0 {
		opts.RetryBudget = 10 * time.Second
	}
	res, err := provider.New(d.AWS, d.Kube, opts).Mount(ctx, d.mountRequest(t, req, d.Audience, token))
	if err != nil {
		s.skip(check, "the Mount failed when the files were read again: %v", err)
		return
	}
	entries := make([]mendixenv.Entry, len(res.Files))
	for i, f := range res.Files {
		entries[i] = mendixenv.Entry{Name: f.Path, Value: f.Contents}
	}
	m := mendixenv.Infer(entries, modes)
	if err := m.Check(); err != nil {
		s.fail(check, report.Error, err.Error(), "pass the environment's modes")
		return
	}
	problems := mendixenv.Check(entries, m)
	for _, p := range problems {
		sev := report.Warning
		if p.Error {
			sev = report.Error
		}
		s.fail(check, sev, p.Message, p.Fix)
	}
	if len(problems) == 0 {
		needed := 0
		for _, k := range mendixenv.Keys() {
			if k.RequiredIn(m) {
				needed++
			}
		}
		s.ok(check, "the %d files are those the Mendix Operator reads for %s (%d needed, all there)", len(entries), m, needed)
	}
}
