package pmp

import (
	"encoding/json"
	"strings"
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
	var mods []string
	for _, m := range Modules() {
		mods = append(mods, m.Name)
	}
	want := "VCS BuildPackage RuntimeBaseImage MDAStorage OCIRegistry BuildCluster CIAdmin ClusterManager ClusterSettings Marketplace Email"
	if got := strings.Join(mods, " "); got != want {
		t.Errorf("modules = %s, want %s", got, want)
	}
}

func TestEveryKeySaysWhatItIsFor(t *testing.T) {
	for _, m := range Modules() {
		if m.Title == "" {
			t.Errorf("module %s has no title", m.Name)
		}
		for _, k := range m.Keys {
			if k.Module != m.Name {
				t.Errorf("%s: Module = %q", k.Dotted(), k.Module)
			}
			if len(k.Description) < 20 {
				t.Errorf("%s: description %q says too little", k.Dotted(), k.Description)
			}
		}
	}
}

// The PMP document's descriptions that are plainly wrong are corrected, and
// the correction is marked as such.
func TestPlainlyWrongDescriptionsAreCorrectedAndMarked(t *testing.T) {
	for name, docSays := range map[string]string{
		"CIAdmin.AzureAwsS3SK":                     "Name of the Azure DevOps organization",
		"ClusterSettings.MDAAWSS3AccessKey":        "Password for the Prometheus admin user",
		"ClusterSettings.OCIRegistryPassword":      "Password for the Prometheus admin user",
		"ClusterSettings.GrafanaAPIKey":            "Password for the Grafana admin user",
		"RuntimeBaseImage.PrivateRegistryPassword": "Base image for the runtime",
	} {
		k, ok := Lookup(name)
		if !ok {
			t.Fatalf("%s not in the catalog", name)
		}
		if strings.Contains(k.Description, docSays) {
			t.Errorf("%s: description repeats the PMP document's mistake: %q", name, k.Description)
		}
		if !strings.Contains(k.Doubt, docSays) {
			t.Errorf("%s: Doubt %q does not say what the PMP document says (%q)", name, k.Doubt, docSays)
		}
	}
	if k, _ := Lookup("Email.SMTPPassword"); k.Doubt != "" {
		t.Errorf("Email.SMTPPassword: the PMP document is right, yet Doubt = %q", k.Doubt)
	}
}

func TestLookupIsCaseSensitive(t *testing.T) {
	if _, ok := Lookup("VCS.GithubAdminPAT"); !ok {
		t.Error("VCS.GithubAdminPAT not found")
	}
	if _, ok := Lookup("VCS.GithubAdminPat"); ok {
		t.Error("VCS.GithubAdminPat found: PMP key names are case-sensitive")
	}
	if _, ok := FindModule("Vcs"); ok {
		t.Error("module Vcs found")
	}
}

func TestModulesIsACopy(t *testing.T) {
	m := Modules()
	m[0].Keys[0].Name = "changed"
	if Names()[0] != "VCS.BitbucketProjectAdminPAT" {
		t.Error("modifying Modules() changed the catalog")
	}
}

func TestTemplateOfSomeModules(t *testing.T) {
	got := Template("Email", "VCS", "Nope")
	var doc map[string]map[string]string
	if err := json.Unmarshal([]byte(got), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc) != 2 || len(doc["VCS"]) != 9 || len(doc["Email"]) != 1 {
		t.Errorf("template = %s", got)
	}
	if strings.Index(got, `"VCS"`) > strings.Index(got, `"Email"`) {
		t.Error("modules not in catalog order")
	}
}

func TestDocumentMountsOnlyValues(t *testing.T) {
	doc, mounted := Document(func(n string) string {
		if strings.HasPrefix(n, "VCS.") {
			return "v-" + n
		}
		return ""
	})
	if len(mounted) != 9 || mounted["VCS.GithubAdminPAT"] != "v-VCS.GithubAdminPAT" {
		t.Errorf("mounted = %v", mounted)
	}
	var parsed map[string]map[string]string
	if err := json.Unmarshal([]byte(doc), &parsed); err != nil {
		t.Fatalf("document is not JSON: %v", err)
	}
	if parsed["VCS"]["GithubAdminPAT"] != "v-VCS.GithubAdminPAT" || parsed["Email"]["SMTPPassword"] != "" || len(parsed) != 11 {
		t.Errorf("document = %s", doc)
	}
}

func TestModuleNames(t *testing.T) {
	var want []string
	for _, m := range Modules() {
		want = append(want, m.Name)
	}
	if diff := cmp.Diff(want, ModuleNames()); diff != "" {
		t.Errorf("ModuleNames() (-want +got):\n%s", diff)
	}
	if _, ok := FindModule(ModuleNames()[0]); !ok {
		t.Errorf("ModuleNames()[0] = %q is no module", ModuleNames()[0])
	}
}
