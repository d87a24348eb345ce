// Package examples_test keeps the examples true: every SecretProviderClass
// here must pass the provider's own validation, the PMP Deployment must use
// one set of names with the role on its ServiceAccount, and the IAM
// documents must say what docs/getting-started-eks.md says they do. The e2e suite applies
// the Deployment and its class on a real cluster (e2e/examples_test.go).
package examples_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/spclass"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/driverreq"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
)

func TestSecretProviderClassesAreValid(t *testing.T) {
	paths, _ := filepath.Glob("*.yaml")
	found := 0
	for _, p := range paths {
		classes, err := spclass.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, spc := range classes {
			found++
			if spc.Spec.Provider != "pmp" {
				t.Errorf("%s: spec.provider = %q, want pmp", p, spc.Spec.Provider)
			}
			m := driverreq.Request{
				PodName: "pmp-0", Namespace: "pmp", PodUID: "uid", ServiceAccount: "pmp-secrets-access",
				SecretProviderClass: spc.Metadata.Name, Parameters: spc.Spec.Parameters, Token: "jwt",
			}.Build()
			if _, err := params.Parse(m.GetAttributes(), m.GetSecrets(), m.GetPermission()); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
	}
	if found < 2 {
		t.Errorf("found %d SecretProviderClasses in examples/, want at least 2", found)
	}
}

// TestASCPExampleMountsASCPsFiles: the converted ASCP class mounts the
// files its header lists, from the values it describes.
func TestASCPExampleMountsASCPsFiles(t *testing.T) {
	classes, err := spclass.Read("ascp-migrated.yaml")
	if err != nil {
		t.Fatal(err)
	}
	req, err := params.ParseClass(classes[0].Metadata.Name, classes[0].Spec.Parameters)
	if err != nil {
		t.Fatal(err)
	}
	if !req.ASCPCompat {
		t.Error("ascpCompat is not on")
	}
	if req.FailoverRegion != "eu-central-1" {
		t.Errorf("failoverRegion = %q", req.FailoverRegion)
	}
	values := map[string]string{
		"/app/db/password": "s3cret",
		"/app/flags":       "beta,dark-mode",
		"/app/db/config":   `{"host":"db.internal","port":5432}`,
		"MySecret":         `{"username":"app","db-creds":{"password":"hunter2"}}`,
		"arn:aws:secretsmanager:eu-west-1:111122223333:secret:MyReplicatedSecret-AbCdEf": "replicated-value",
	}
	type file struct {
		Mode     fs.FileMode
		Contents string
	}
	got := map[string]file{}
	for _, obj := range req.Objects {
		out, err := provider.ObjectFiles(obj, []byte(values[obj.Name]), req.Mode, req.PathTranslation)
		if err != nil {
			t.Fatalf("%s: %v", obj.Name, err)
		}
		for _, f := range out {
			got[f.Path] = file{f.Mode, string(f.Contents)}
		}
	}
	want := map[string]file{
		"_app_db_password": {0o400, "s3cret"},
		"feature-flags":    {0o644, "beta,dark-mode"},
		"_app_db_config":   {0o644, values["/app/db/config"]},
		"db-host":          {0o644, "db.internal"},
		"db-port":          {0o644, "5432"},
		"MySecret":         {0o644, values["MySecret"]},
		"dbusername":       {0o644, "app"},
		"dbpassword":       {0o400, "hunter2"},
		"replicated":       {0o644, "replicated-value"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	header, _ := os.ReadFile("ascp-migrated.yaml")
	for name := range want {
		if !strings.Contains(string(header), "#   "+name+" ") {
			t.Errorf("the example's header does not list %s", name)
		}
	}
}

func TestIAMPolicyGrantsOnlyWhatThePMPDocumentDoes(t *testing.T) {
	var policy struct {
		Statement []struct {
			Action   []string
			Resource string
		}
	}
	readJSON(t, "iam-policy.json", &policy)
	if len(policy.Statement) != 1 {
		t.Fatalf("%d statements", len(policy.Statement))
	}
	st := policy.Statement[0]
	if strings.Join(st.Action, ",") != "secretsmanager:GetSecretValue,secretsmanager:DescribeSecret" {
		t.Errorf("actions = %v", st.Action)
	}
	if !strings.HasSuffix(st.Resource, ":secret:PMP-*") {
		t.Errorf("resource = %s", st.Resource)
	}
}

func TestTrustPolicyNamesTheServiceAccountAndAudience(t *testing.T) {
	b, err := os.ReadFile("trust-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`:sub": "system:serviceaccount:pmp:pmp-secrets-access"`, `:aud": "sts.amazonaws.com"`, "sts:AssumeRoleWithWebIdentity"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("trust policy lacks %s", want)
		}
	}
}

// The template users paste into Secrets Manager is the catalog's, byte for
// byte (what the template subcommand prints).
func TestCredentialsTemplateIsTheCatalogs(t *testing.T) {
	b, err := os.ReadFile("pmp-credentials.template.json")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pmp.Template(), string(b)); diff != "" {
		t.Errorf("pmp-credentials.template.json differs from the catalog's template (-catalog +file):\n%s", diff)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestDeploymentUsesOneSetOfNames: the PMP document's Deployment, corrected.
// The role annotation is on the ServiceAccount the pod runs as (never on the
// Deployment), the trust policy names that service account, the role is the
// one docs/getting-started-eks.md names, and the CSI volume mounts a SecretProviderClass of
// these examples, in the same namespace, that reads the secret the IAM
// policy allows.
func TestDeploymentUsesOneSetOfNames(t *testing.T) {
	var (
		sa     corev1.ServiceAccount
		deploy appsv1.Deployment
	)
	b, err := os.ReadFile("pmp-deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kinds := []string{}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, meta.Kind)
		var into any
		switch meta.Kind {
		case "ServiceAccount":
			into = &sa
		case "Deployment":
			into = &deploy
		default:
			t.Fatalf("pmp-deployment.yaml holds a %s; want only the ServiceAccount and Deployment", meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
			t.Fatalf("%s: %v", meta.Kind, err)
		}
	}
	if got := strings.Join(kinds, ","); got != "ServiceAccount,Deployment" {
		t.Fatalf("pmp-deployment.yaml holds %s, want ServiceAccount,Deployment in that order", got)
	}

	const roleKey = "eks.amazonaws.com/role-arn"
	if sa.Namespace != "pmp" || deploy.Namespace != "pmp" {
		t.Errorf("namespaces: ServiceAccount in %q, Deployment in %q; want both in pmp", sa.Namespace, deploy.Namespace)
	}
	if sa.Name != "pmp-secrets-access" {
		t.Errorf("service account %q, want pmp-secrets-access", sa.Name)
	}
	pod := deploy.Spec.Template.Spec
	if pod.ServiceAccountName != sa.Name {
		t.Errorf("the Deployment's pods run as %q, not as the annotated service account %q", pod.ServiceAccountName, sa.Name)
	}
	if _, ok := deploy.Annotations[roleKey]; ok {
		t.Errorf("the Deployment carries %s: the provider reads it from the ServiceAccount only", roleKey)
	}
	if _, ok := deploy.Spec.Template.Annotations[roleKey]; ok {
		t.Errorf("the pod template carries %s: the provider reads it from the ServiceAccount only", roleKey)
	}
	role := sa.Annotations[roleKey]
	if !strings.HasPrefix(role, "arn:aws:iam::111122223333:") || !strings.HasSuffix(role, ":role/PMP-SecretsManager-Role") {
		t.Errorf("%s = %q, want the role PMP-SecretsManager-Role of the account in iam-policy.json", roleKey, role)
	}
	trust, err := os.ReadFile("trust-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	if sub := `:sub": "system:serviceaccount:` + sa.Namespace + ":" + sa.Name + `"`; !strings.Contains(string(trust), sub) {
		t.Errorf("trust-policy.json does not name the Deployment's service account (%s)", sub)
	}
	if sel := deploy.Spec.Selector; sel == nil || deploy.Spec.Template.Labels["app"] != sel.MatchLabels["app"] {
		t.Errorf("the selector %v does not match the template's labels %v", sel, deploy.Spec.Template.Labels)
	}

	if len(pod.Volumes) != 1 || pod.Volumes[0].CSI == nil {
		t.Fatalf("volumes %+v, want one CSI volume", pod.Volumes)
	}
	vol := pod.Volumes[0]
	if vol.CSI.Driver != "secrets-store.csi.k8s.io" || vol.CSI.ReadOnly == nil || !*vol.CSI.ReadOnly {
		t.Errorf("CSI volume %+v, want driver secrets-store.csi.k8s.io, readOnly", vol.CSI)
	}
	mounted := false
	for _, c := range pod.Containers {
		for _, m := range c.VolumeMounts {
			if m.Name == vol.Name {
				mounted = true
				if !m.ReadOnly {
					t.Errorf("container %s mounts %s writable", c.Name, vol.Name)
				}
			}
		}
	}
	if !mounted {
		t.Errorf("no container mounts the volume %s", vol.Name)
	}

	className := vol.CSI.VolumeAttributes["secretProviderClass"]
	class, file := findClass(t, className)
	if class == nil {
		t.Fatalf("the volume names the SecretProviderClass %q, which no file of examples/ defines", className)
	}
	if class.Metadata.Namespace != deploy.Namespace {
		t.Errorf("%s: class %s is in namespace %q, the Deployment in %q", file, className, class.Metadata.Namespace, deploy.Namespace)
	}
	m := driverreq.Request{
		PodName: "pmp-0", Namespace: deploy.Namespace, PodUID: "uid", ServiceAccount: sa.Name,
		SecretProviderClass: className, Parameters: class.Spec.Parameters, Token: "jwt",
	}.Build()
	req, err := params.Parse(m.GetAttributes(), m.GetSecrets(), m.GetPermission())
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if got := strings.Join(req.ObjectNames(), ","); got != "PMP-Production-Credentials" {
		t.Errorf("%s: class %s reads %s, want PMP-Production-Credentials (allowed by iam-policy.json's PMP-*)", file, className, got)
	}
}

// findClass returns the SecretProviderClass named name in examples/ and its file.
func findClass(t *testing.T, name string) (*spclass.SecretProviderClass, string) {
	t.Helper()
	paths, _ := filepath.Glob("*.yaml")
	for _, p := range paths {
		classes, err := spclass.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := range classes {
			if classes[i].Metadata.Name == name {
				return &classes[i], p
			}
		}
	}
	return nil, ""
}
