package pmp

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCatalogHasThePMPDocumentsThirtyCredentials(t *testing.T) {
	names := Names()
	if len(names) != 30 {
		t.Fatalf("%d credentials, want 30", len(names))
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("%s listed twice", n)
		}
		seen[n] = true
	}
}

func TestExampleTemplateMatchesCatalog(t *testing.T) {
	b, err := os.ReadFile("../../examples/pmp-credentials.template.json")
	if err != nil {
		t.Fatal(err)
	}
	var file, ours map[string]map[string]string
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal([]byte(Template()), &ours)
	if diff := cmp.Diff(ours, file); diff != "" {
		t.Errorf("examples/pmp-credentials.template.json differs from the catalog (-catalog +file):\n%s", diff)
	}
}

func TestDocumentMountsOnlyValues(t *testing.T) {
	_, mounted := Document(func(n string) string {
		if Unused(n) {
			return ""
		}
		return "v-" + n
	})
	if len(mounted) != 23 {
		t.Errorf("%d credentials with a value, want 23 (30 less 2 GitLab and 5 Azure)", len(mounted))
	}
	if mounted["VCS.GithubAdminPAT"] != "v-VCS.GithubAdminPAT" {
		t.Errorf("mounted = %v", mounted)
	}
}
