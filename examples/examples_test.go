// Package examples_test keeps the examples true: every SecretProviderClass
// here must pass the provider's own validation, and the IAM documents must
// say what the README says they do.
package examples_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/spclass"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/driverreq"
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
