package pmp

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSuggest(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"case", "VCS.GithubAdminPat", []string{"VCS.GithubAdminPAT"}},
		{"case of the module", "vcs.GithubAdminPAT", []string{"VCS.GithubAdminPAT"}},
		{"transposed letters", "VCS.GithubAdminPTA", []string{"VCS.GithubAdminPAT"}},
		{"a dot too many", "VCS.Github.AdminPAT", []string{"VCS.GithubAdminPAT"}},
		{"a letter missing", "Email.SMTPPasword", []string{"Email.SMTPPassword"}},
		{"a trailing space", "Email.SMTPPassword ", []string{"Email.SMTPPassword"}},
		{"two close names", "BuildPackage.FileBasicAuthPasswort", []string{"BuildPackage.FileBasicAuthPassword"}},
		{"right key, wrong module", "BuildPackage.PrivateRegistryPassword", []string{"RuntimeBaseImage.PrivateRegistryPassword", "OCIRegistry.PrivateRegistryPassword"}},
		{"nothing close", "VCS.SomethingElse", nil},
		{"in the catalog", "VCS.GithubAdminPAT", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Suggest(tc.in)); diff != "" {
				t.Errorf("Suggest(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestSuggestModule(t *testing.T) {
	for in, want := range map[string][]string{
		"Vcs":            {"VCS"},
		"Emial":          {"Email"},
		"ClusterSetting": {"ClusterSettings"},
		"Database":       nil,
		"Email":          nil,
	} {
		if diff := cmp.Diff(want, SuggestModule(in)); diff != "" {
			t.Errorf("SuggestModule(%q) (-want +got):\n%s", in, diff)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		names   []string
		isPMP   bool
		unknown []Unknown
	}{
		{"the template", Names(), true, nil},
		{"a mis-cased key", []string{"VCS.GithubAdminPat", "Email.SMTPPassword"}, true,
			[]Unknown{{Name: "VCS.GithubAdminPat", Suggestions: []string{"VCS.GithubAdminPAT"}}}},
		{"an unknown module beside a known one", []string{"Email.SMTPPassword", "Database.Password"}, true,
			[]Unknown{{Name: "Database.Password", Index: 1}}},
		{"another application's secret", []string{"password", "db.host"}, false,
			[]Unknown{{Name: "db.host", Index: 1}, {Name: "password"}}}, // Index: where it is in names
		{"only mis-cased modules", []string{"vcs.GithubAdminPAT"}, false,
			[]Unknown{{Name: "vcs.GithubAdminPAT", Suggestions: []string{"VCS.GithubAdminPAT"}}}},
		{"a module without a key", []string{"VCS"}, false, []Unknown{{Name: "VCS"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isPMP, unknown := Check(tc.names)
			if isPMP != tc.isPMP {
				t.Errorf("isPMP = %v, want %v", isPMP, tc.isPMP)
			}
			if diff := cmp.Diff(tc.unknown, unknown); diff != "" {
				t.Errorf("unknown (-want +got):\n%s", diff)
			}
		})
	}
}
