package validate

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
)

// found is the part of a finding the table compares; says is a piece of
// its message or fix.
type found struct {
	Check, Key string
	Line, Col  int
}

func project(fs []report.Finding) []found {
	out := []found{}
	for _, f := range fs {
		out = append(out, found{f.Check, f.Key, f.Line, f.Column})
	}
	return out
}

// filled is the PMP template with GithubAdminPAT set, and edit applied.
func filled(edit func(string) string) string {
	doc := strings.Replace(pmp.Template(), `"GithubAdminPAT": ""`, `"GithubAdminPAT": "v"`, 1)
	if edit != nil {
		doc = edit(doc)
	}
	return doc
}

func TestCheckFindings(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []found
		// says are pieces of the findings' messages and fixes, in order.
		says []string
	}{
		{name: "the filled-in template", in: filled(nil), want: []found{}},

		// JSON syntax: line and column, in words that quote nothing.
		{name: "missing comma", in: "{\n  \"VCS\": {\"GithubAdminPAT\": \"v\"\n  \"Email\": {}\n}",
			want: []found{{"json-syntax", "", 3, 3}}, says: []string{"a comma is missing"}},
		{name: "trailing comma", in: "{\"VCS\": {\"GithubAdminPAT\": \"v\",}}",
			want: []found{{"json-syntax", "", 1, 32}}, says: []string{"a comma after the last key"}},
		{name: "unquoted value", in: "{\"VCS\": {\"GithubAdminPAT\": ghp_secret}}",
			want: []found{{"json-syntax", "", 1, 28}}, says: []string{"a value without double quotes"}},
		{name: "missing colon", in: "{\"VCS\" {}}", want: []found{{"json-syntax", "", 1, 8}}, says: []string{"a colon is missing"}},
		{name: "ends early", in: "{\"VCS\": {\"GithubAdminPAT\": \"v", want: []found{{"json-syntax", "", 1, 30}}, says: []string{"ends too early"}},
		{name: "line break in a string", in: "{\"VCS\": {\"GithubAdminPAT\": \"v\nw\"}}",
			want: []found{{"json-syntax", "", 1, 30}}, says: []string{"a control character"}},
		{name: "bad escape", in: `{"VCS": {"GithubAdminPAT": "C:\x"}}`, want: []found{{"json-syntax", "", 1, 32}}, says: []string{"not a JSON escape"}},
		{name: "text after the object", in: "{}\n}", want: []found{{"json-syntax", "", 2, 1}}, says: []string{"after the end"}},
		{name: "empty", in: "", want: []found{{"json-syntax", "", 1, 1}}},
		{name: "column counts characters, not bytes", in: "{\"VCS\": {\"GithubAdminPAT\": \"ü\" \"x\"}}",
			want: []found{{"json-syntax", "", 1, 32}}},
		{name: "not an object", in: `  ["VCS"]`, want: []found{{"not-an-object", "", 1, 3}}},

		// Names.
		{name: "mis-cased key", in: filled(func(s string) string { return strings.Replace(s, `"GithubOrgOwnerPAT"`, `"GithubOrgOwnerPat"`, 1) }),
			want: []found{{"unknown-key", "VCS.GithubOrgOwnerPat", 7, 5}}, says: []string{"did you mean VCS.GithubOrgOwnerPAT?", `key "GithubOrgOwnerPAT" in module "VCS"`}},
		{name: "mis-cased module", in: `{"Vcs": {"GithubAdminPAT": "v"}, "Email": {"SMTPPassword": ""}}`,
			want: []found{{"unknown-key", "Vcs.GithubAdminPAT", 1, 10}, {"no-credential", "", 0, 0}}, says: []string{"did you mean VCS.GithubAdminPAT?"}},
		{name: "typo in a key", in: `{"Email": {"SMTPPasword": "v", "SMTPPassword": "w"}}`,
			want: []found{{"unknown-key", "Email.SMTPPasword", 1, 12}}, says: []string{"did you mean Email.SMTPPassword?"}},
		{name: "key of another module", in: `{"Email": {"SMTPPassword": "v"}, "BuildPackage": {"PrivateRegistryPassword": ""}}`,
			want: []found{{"unknown-key", "BuildPackage.PrivateRegistryPassword", 1, 51}},
			says: []string{"did you mean RuntimeBaseImage.PrivateRegistryPassword or OCIRegistry.PrivateRegistryPassword?"}},
		{name: "unknown key of a known module", in: `{"Email": {"SMTPPassword": "v", "SMTPUser": "u"}}`,
			want: []found{{"unknown-key", "Email.SMTPUser", 1, 33}}, says: []string{`module Email has no key "SMTPUser"`, "SMTPPassword"}},
		{name: "unknown module", in: `{"Email": {"SMTPPassword": "v"}, "Database": {"Password": "p"}}`,
			want: []found{{"unknown-module", "Database.Password", 1, 47}}, says: []string{"Database is not a PMP module", "VCS, BuildPackage"}},
		{name: "unknown top-level key", in: `{"Email": {"SMTPPassword": "v"}, "password": "p"}`,
			want: []found{{"unknown-module", "password", 1, 34}}, says: []string{"password is not a PMP module and holds no PMP key"}},
		{name: "no PMP module at all", in: `{"db": {"password": "p"}}`,
			want: []found{{"unknown-module", "db.password", 1, 9}, {"not-pmp", "", 0, 0}}, says: []string{"db is not a PMP module", "this is not a PMP secret"}},

		// Values.
		{name: "a number", in: `{"VCS": {"GithubAdminPAT": "v"}, "Email": {"SMTPPassword": 1234}}`,
			want: []found{{"wrong-type", "Email.SMTPPassword", 1, 44}}, says: []string{"is a number: PMP values are strings"}},
		{name: "a boolean", in: `{"VCS": {"GithubAdminPAT": true}, "Email": {"SMTPPassword": "v"}}`,
			want: []found{{"wrong-type", "VCS.GithubAdminPAT", 1, 10}}, says: []string{"is a boolean"}},
		{name: "null", in: `{"VCS": {"GithubAdminPAT": "v", "GithubOrgOwnerPAT": null}}`,
			want: []found{{"wrong-type", "VCS.GithubOrgOwnerPAT", 1, 33}}, says: []string{"is null", `"" for a credential you do not use`}},
		{name: "a list", in: `{"VCS": {"GithubAdminPAT": ["a", "b"]}, "Email": {"SMTPPassword": "v"}}`,
			want: []found{{"wrong-type", "VCS.GithubAdminPAT", 1, 10}}, says: []string{"is a list"}},
		{name: "an object where a value goes", in: `{"VCS": {"GithubAdminPAT": {"token": "v"}}, "Email": {"SMTPPassword": "v"}}`,
			want: []found{{"wrong-type", "VCS.GithubAdminPAT", 1, 10}}, says: []string{"is an object"}},
		{name: "a module that is a string", in: `{"VCS": {"GithubAdminPAT": "v"}, "Email": "smtp"}`,
			want: []found{{"wrong-type", "Email", 1, 34}}, says: []string{"Email is a PMP module, so its value must be an object of keys, but it is a string"}},
		{name: "a trailing line break", in: `{"VCS": {"GithubAdminPAT": "v\n"}}`,
			want: []found{{"whitespace", "VCS.GithubAdminPAT", 1, 10}}, says: []string{"ends with a line break"}},
		{name: "a leading space", in: `{"VCS": {"GithubAdminPAT": " v"}}`,
			want: []found{{"whitespace", "VCS.GithubAdminPAT", 1, 10}}, says: []string{"starts or ends with white space"}},
		{name: "every credential empty", in: pmp.Template(),
			want: []found{{"no-credential", "", 0, 0}}, says: []string{"the provider mounts no file"}},

		// Spellings.
		{name: "nested and dotted, different values", in: "{\n\"VCS\": {\"GithubAdminPAT\": \"v\"},\n\"VCS.GithubAdminPAT\": \"w\"\n}",
			want: []found{{"conflicting-spellings", "VCS.GithubAdminPAT", 3, 1}}, says: []string{"nested at line 2 and as a dotted key here) with different values", "keep one spelling"}},
		{name: "nested and dotted, same value", in: "{\n\"VCS\": {\"GithubAdminPAT\": \"v\"},\n\"VCS.GithubAdminPAT\": \"v\"\n}",
			want: []found{{"duplicate-spelling", "VCS.GithubAdminPAT", 3, 1}}, says: []string{"with the same value"}},
		{name: "flat keys only", in: `{"VCS.GithubAdminPAT": "v", "Email.SMTPPassword": ""}`, want: []found{}},
		{name: "a key twice in one object", in: `{"VCS": {"GithubAdminPAT": "v", "GithubAdminPAT": "w"}}`,
			want: []found{{"duplicate-key", "VCS.GithubAdminPAT", 1, 33}}, says: []string{"appears twice in the same object (first at line 1, column 10)"}},

		// What only the provider's own flattening refuses.
		{name: "an empty key", in: `{"VCS": {"GithubAdminPAT": "v", "": "x"}}`,
			want: []found{{"unknown-key", "VCS.", 1, 33}, {"provider-refuses", "", 0, 0}}, says: []string{"", "an empty key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := Check([]byte(tc.in))
			if diff := cmp.Diff(tc.want, project(doc.Findings)); diff != "" {
				t.Errorf("findings (-want +got):\n%s\nall: %+v", diff, doc.Findings)
			}
			for i, s := range tc.says {
				if i >= len(doc.Findings) {
					break
				}
				if f := doc.Findings[i]; !strings.Contains(f.Message+" "+f.Fix, s) {
					t.Errorf("finding %d %q (fix %q) does not say %q", i, f.Message, f.Fix, s)
				}
			}
			for _, f := range doc.Findings {
				if f.Message == "" || f.Fix == "" || f.Severity == "" {
					t.Errorf("finding without message, fix or severity: %+v", f)
				}
			}
		})
	}
}

// No finding ever quotes a value, even where the JSON breaks inside one.
func TestFindingsNeverQuoteAValue(t *testing.T) {
	const v = "SENTINEL-7f3a"
	for _, in := range []string{
		`{"VCS": {"GithubAdminPAT": ` + v + `}}`,
		`{"VCS": {"GithubAdminPAT": "` + v + `"` + v + `}}`,
		`{"VCS": {"GithubAdminPAT": "` + v + "\n" + `"}}`,
		`{"VCS": {"GithubAdminPAT": "\` + v + `"}}`,
		`{"VCS": {"GithubAdminPAT": 1` + v + `}}`,
		`{"VCS": {"GithubAdminPAT": "` + v + ` "}}`,
		`{"VCS": {"GithubAdminPAT": "` + v + `"}, "VCS.GithubAdminPAT": "` + v + `x"}`,
		`{"VCS": {"GithubAdminPAT": {"` + v + `": "x"}}}`,
	} {
		doc := Check([]byte(in))
		if len(doc.Findings) == 0 {
			t.Errorf("%s: no finding", in)
		}
		for _, f := range doc.Findings {
			if strings.Contains(f.Message+f.Fix, "SENTINEL") {
				t.Errorf("%s: finding quotes the value: %+v", in, f)
			}
		}
	}
}

func TestCheckModuleStatus(t *testing.T) {
	doc := Check([]byte(`{"VCS": {"GithubAdminPAT": "v", "GitlabAdminPAT": "", "GithubOrgOwnerPAT": null}, "Email": {"SMTPPassword": "s"}}`))
	want := []ModuleStatus{
		{Name: "VCS", Set: []string{"GithubAdminPAT"}, Empty: []string{"GitlabAdminPAT", "GithubOrgOwnerPAT"},
			Missing: []string{"BitbucketProjectAdminPAT", "BitbucketAdminPassword", "GitlabGroupOwnerPAT", "GithubEnterpriseClientSecret", "AzureDevOpsOrgAdminPAT", "AzureAuthSecret"}},
		{Name: "Email", Set: []string{"SMTPPassword"}, Empty: []string{}, Missing: []string{}},
	}
	if diff := cmp.Diff(want, doc.Modules); diff != "" {
		t.Errorf("modules (-want +got):\n%s", diff)
	}
	if len(doc.Absent) != 9 || doc.Absent[0] != "BuildPackage" {
		t.Errorf("absent = %v", doc.Absent)
	}
}
