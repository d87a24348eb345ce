package mendixenv

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// every mode combination the catalog allows.
func allModes() []Modes {
	var out []Modes
	for _, d := range Databases() {
		for _, da := range DatabaseAuths {
			for _, s := range Storages() {
				for _, sa := range s.Auths {
					m := Modes{Database: d.Name, DatabaseAuth: da, Storage: s.Name, StorageAuth: sa}
					if m.Check() == nil {
						out = append(out, m)
					}
				}
			}
		}
	}
	return out
}

func entries(t *testing.T, doc string) []Entry {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("%v:\n%s", err, doc)
	}
	var out []Entry
	for k, v := range m {
		out = append(out, Entry{Name: k, Value: []byte(v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// filled replaces the template's placeholders with working values.
func filled(t *testing.T, m Modes) []Entry {
	t.Helper()
	es := entries(t, Template(m))
	for i, e := range es {
		v := string(e.Value)
		for _, r := range [][2]string{{"<HOST>", "db.example.com"}, {"<DATABASE>", "app1"}, {"<BUCKET>", "bucket"}, {"<REGION>", "eu-west-1"}, {"<ACCOUNT_NAME>", "acct"}} {
			v = strings.ReplaceAll(v, r[0], r[1])
		}
		if HasPlaceholder(v) {
			v = "SENTINEL-" + e.Name
		}
		es[i].Value = []byte(v)
	}
	return es
}

func checks(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		sev := "warning"
		if p.Error {
			sev = "error"
		}
		out = append(out, sev+" "+p.Check+" "+p.Key)
	}
	sort.Strings(out)
	return out
}

func TestRequiredKeysByMode(t *testing.T) {
	for _, tc := range []struct {
		m    Modes
		want []string
	}{
		{Modes{Database: "postgresql", DatabaseAuth: AuthPassword, Storage: "s3", StorageAuth: AuthKeys}, []string{
			"database-type", "database-jdbc-url", "database-host", "database-name", "database-username", "database-password",
			"storage-service-name", "storage-endpoint", "storage-access-key-id", "storage-secret-access-key", "storage-bucket-name"}},
		{Modes{Database: "postgresql", DatabaseAuth: AuthRDSIAM, Storage: "s3", StorageAuth: AuthIRSA}, []string{
			"database-type", "database-jdbc-url", "database-host", "database-name", "database-username",
			"storage-service-name", "storage-endpoint", "storage-bucket-name"}},
		{Modes{Database: "sqlserver", DatabaseAuth: AuthPassword, Storage: "azure", StorageAuth: AuthKeys}, []string{
			"database-type", "database-jdbc-url", "database-host", "database-name", "database-username", "database-password",
			"storage-service-name", "storage-azure-account-name", "storage-azure-account-key", "storage-azure-container"}},
		{Modes{Database: "sqlserver", DatabaseAuth: AuthPassword, Storage: "azure", StorageAuth: AuthManagedIdentity}, []string{
			"database-type", "database-jdbc-url", "database-host", "database-name", "database-username", "database-password",
			"storage-service-name", "storage-azure-container", "storage-azure-blob-endpoint", "storage-azure-use-default-azure-credential"}},
	} {
		var got []string
		for _, k := range Keys() {
			if k.RequiredIn(tc.m) {
				got = append(got, k.Name)
			}
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: required keys (-want +got):\n%s", tc.m, diff)
		}
		var tmpl []string
		for _, e := range entries(t, Template(tc.m)) {
			tmpl = append(tmpl, e.Name)
		}
		want := slices.Clone(tc.want)
		sort.Strings(want)
		if diff := cmp.Diff(want, tmpl); diff != "" {
			t.Errorf("%s: template keys (-want +got):\n%s", tc.m, diff)
		}
	}
}

// The template's placeholders are each an error until replaced; filled
// in, it has no problem, in every mode.
func TestTemplatePlaceholdersAreFlagged(t *testing.T) {
	for _, m := range allModes() {
		es := entries(t, Template(m))
		ps := Check(es, m)
		for _, p := range ps {
			if p.Check != "placeholder" || !p.Error {
				t.Errorf("%s: the template gets %s %s: %s", m, p.Check, p.Key, p.Message)
			}
		}
		if len(ps) < 3 {
			t.Errorf("%s: only %d placeholders flagged", m, len(ps))
		}
		if ps := Check(filled(t, m), m); len(ps) != 0 {
			t.Errorf("%s: the filled-in template has problems: %v", m, checks(ps))
		}
	}
}

func TestCheck(t *testing.T) {
	base := Modes{}.Defaults()
	ok := func(t *testing.T) map[string]string {
		out := map[string]string{}
		for _, e := range filled(t, base) {
			out[e.Name] = string(e.Value)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		modes Modes
		edit  func(map[string]string)
		want  []string
		says  string
	}{
		{name: "a mistyped key", edit: func(s map[string]string) {
			s["database-pasword"] = s["database-password"]
			delete(s, "database-password")
		},
			want: []string{"error missing-key database-password", "error unknown-key database-pasword"}, says: "did you mean database-password?"},
		{name: "a key in another case", edit: func(s map[string]string) { s["Database-Name"] = s["database-name"]; delete(s, "database-name") },
			want: []string{"error missing-key database-name", "error unknown-key Database-Name"}, says: "did you mean database-name?"},
		{name: "a constant written as for Azure Key Vault", edit: func(s map[string]string) { s["mx-const-MyFirstModule-Title"] = "x" },
			want: []string{"error unknown-key mx-const-MyFirstModule-Title"}, says: "did you mean mx-const-MyFirstModule.Title?"},
		{name: "a mistyped prefix", edit: func(s map[string]string) { s["mx-cosnt-MyFirstModule.Title"] = "x" },
			want: []string{"error unknown-key mx-cosnt-MyFirstModule.Title"}, says: "did you mean mx-const-MyFirstModule.Title?"},
		{name: "a constant without a module", edit: func(s map[string]string) { s["mx-const-Title"] = "x" },
			want: []string{"error unknown-key mx-const-Title"}, says: "mx-const-Module.Constant"},
		{name: "constants and runtime settings", edit: func(s map[string]string) {
			s["mx-const-MyFirstModule.Title"] = "x"
			s["mx-runtime-com.mendix.storage.s3.EncryptionKeys"] = "y"
			s["mx-admin-password"] = "z"
		}},
		{name: "no access key pair without IRSA", edit: func(s map[string]string) { delete(s, "storage-access-key-id"); delete(s, "storage-secret-access-key") },
			want: []string{"error missing-key storage-access-key-id", "error missing-key storage-secret-access-key"}, says: "--storage-auth irsa"},
		{name: "IRSA needs no pair", modes: Modes{StorageAuth: AuthIRSA}, edit: func(s map[string]string) { delete(s, "storage-access-key-id"); delete(s, "storage-secret-access-key") }},
		{name: "the pair left in with IRSA", modes: Modes{StorageAuth: AuthIRSA},
			want: []string{"warning unused-key storage-access-key-id", "warning unused-key storage-secret-access-key"}},
		{name: "RDS IAM needs no password", modes: Modes{DatabaseAuth: AuthRDSIAM}, edit: func(s map[string]string) { delete(s, "database-password") }},
		{name: "the password left in with RDS IAM", modes: Modes{DatabaseAuth: AuthRDSIAM}, want: []string{"warning unused-key database-password"}, says: "remove"},
		{name: "S3 without endpoint and bucket", edit: func(s map[string]string) { delete(s, "storage-endpoint"); delete(s, "storage-bucket-name") },
			want: []string{"error missing-key storage-bucket-name", "error missing-key storage-endpoint"}},
		{name: "a storage service name of neither kind", edit: func(s map[string]string) { s["storage-service-name"] = "com.mendix.storage.S3" },
			want: []string{"error wrong-value storage-service-name"}, says: "is not com.mendix.storage.s3 or com.mendix.storage.azure"},
		{name: "Azure's service name for an S3 environment", edit: func(s map[string]string) { s["storage-service-name"] = ServiceAzure },
			want: []string{"error mismatch storage-service-name"}, says: "pass --storage azure"},
		{name: "a SQL Server URL for PostgreSQL", edit: func(s map[string]string) { s["database-jdbc-url"] = "jdbc:sqlserver://db:1433;databaseName=app1" },
			want: []string{"error mismatch database-jdbc-url"}, says: "must start with jdbc:postgresql://"},
		{name: "not a JDBC URL", edit: func(s map[string]string) { s["database-jdbc-url"] = "postgres://db.example.com/app1" },
			want: []string{"error wrong-value database-jdbc-url"}},
		{name: "the URL and host disagree", edit: func(s map[string]string) { s["database-host"] = "other.example.com:5432" },
			want: []string{"warning mismatch database-jdbc-url"}},
		{name: "a database type of another kind", edit: func(s map[string]string) { s["database-type"] = "SQLSERVER" },
			want: []string{"error mismatch database-type"}, says: "pass --database sqlserver"},
		{name: "a database type the docs do not name", edit: func(s map[string]string) { s["database-type"] = "Oracle" },
			want: []string{"warning wrong-value database-type"}},
		{name: "a host with a scheme", edit: func(s map[string]string) { s["database-host"] = "https://db.example.com" },
			want: []string{"error wrong-value database-host", "warning mismatch database-jdbc-url"}},
		{name: "a port out of range", edit: func(s map[string]string) { s["database-host"] = "db.example.com:70000" },
			want: []string{"error wrong-value database-host"}},
		{name: "an endpoint that is not a URL", edit: func(s map[string]string) { s["storage-endpoint"] = "bucket.s3.amazonaws.com" },
			want: []string{"error wrong-value storage-endpoint"}},
		{name: "a boolean that is not one", edit: func(s map[string]string) { s["storage-perform-delete"] = "yes" },
			want: []string{"error wrong-value storage-perform-delete"}, says: "is not true or false"},
		{name: "booleans in any case", edit: func(s map[string]string) {
			s["storage-perform-delete"] = "TRUE"
			s["storage-use-ca-certificates"] = "false"
		}},
		{name: "an Azure key with S3", edit: func(s map[string]string) { s["storage-azure-container"] = "c" },
			want: []string{"warning unused-key storage-azure-container"}, says: "read only with Azure"},
		{name: "an empty required key", edit: func(s map[string]string) { s["database-username"] = "" },
			want: []string{"error empty-value database-username"}, says: "does not mount empty values"},
		{name: "a pasted line break", edit: func(s map[string]string) { s["mx-admin-password"] = "pw\n" },
			want: []string{"warning whitespace mx-admin-password"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.modes.Defaults()
			s := ok(t)
			for _, k := range Keys() {
				if _, in := s[k.Name]; !in && k.RequiredIn(m) {
					s[k.Name] = filledValue(t, m, k.Name)
				}
				if _, in := s[k.Name]; in && !k.RequiredIn(m) && !k.ReadWith(m) && tc.want == nil {
					delete(s, k.Name)
				}
			}
			if tc.edit != nil {
				tc.edit(s)
			}
			b, _ := json.Marshal(s)
			ps := Check(entries(t, string(b)), m)
			if diff := cmp.Diff(tc.want, checks(ps)); diff != "" {
				t.Errorf("problems (-want +got):\n%s\n%+v", diff, ps)
			}
			all := ""
			for _, p := range ps {
				all += p.Message + "\n" + p.Fix + "\n"
				if p.Fix == "" {
					t.Errorf("no fix: %s", p.Message)
				}
			}
			if tc.says != "" && !strings.Contains(all, tc.says) {
				t.Errorf("the problems do not say %q:\n%s", tc.says, all)
			}
			if strings.Contains(all, "SENTINEL") {
				t.Errorf("a problem shows a value:\n%s", all)
			}
		})
	}
}

func filledValue(t *testing.T, m Modes, name string) string {
	for _, e := range filled(t, m) {
		if e.Name == name {
			return string(e.Value)
		}
	}
	t.Fatalf("the template of %s has no %s", m, name)
	return ""
}

func TestClassify(t *testing.T) {
	for name, want := range map[string]NameKind{
		"database-password":                               Fixed,
		"mx-const-MyFirstModule.WelcomePageTitle":         Constant,
		"mx-const-My_Module2.C":                           Constant,
		"mx-const-MyFirstModule":                          Unknown,
		"mx-const-A.B.C":                                  Unknown,
		"mx-const-MyFirstModule-WelcomePageTitle":         Unknown,
		"mx-runtime-com.mendix.storage.s3.EncryptionKeys": RuntimeSetting,
		"mx-runtime-ScheduledEventExecution":              RuntimeSetting,
		"mx-runtime-":                                     Unknown,
		"mx-runtime-a/b":                                  Unknown,
		"com.mendix.storage.s3.EncryptionKeys":            Unknown,
		"database-pasword":                                Unknown,
	} {
		if got := Classify(name); got != want {
			t.Errorf("Classify(%q) = %d, want %d", name, got, want)
		}
	}
}

func TestModesCheck(t *testing.T) {
	if err := (Modes{}).Defaults().Check(); err != nil {
		t.Errorf("the defaults: %v", err)
	}
	for m, says := range map[Modes]string{
		{Database: "oracle", DatabaseAuth: AuthPassword, Storage: "s3", StorageAuth: AuthKeys}:        `--database "oracle" is not a database kind: postgresql, sqlserver`,
		{Database: "sqlserver", DatabaseAuth: AuthRDSIAM, Storage: "s3", StorageAuth: AuthKeys}:       "documented for PostgreSQL on AWS RDS only",
		{Database: "postgresql", DatabaseAuth: AuthPassword, Storage: "gcs", StorageAuth: AuthKeys}:   `--storage "gcs"`,
		{Database: "postgresql", DatabaseAuth: AuthPassword, Storage: "azure", StorageAuth: AuthIRSA}: `--storage-auth "irsa" is not one of azure storage's: keys, managed-identity`,
		{Database: "postgresql", DatabaseAuth: "token", Storage: "s3", StorageAuth: AuthKeys}:         `--database-auth "token" is not password or rds-iam`,
	} {
		if err := m.Check(); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%+v: %v, want %q", m, err, says)
		}
	}
}

func TestInfer(t *testing.T) {
	es := []Entry{{Name: "database-type", Value: []byte("sqlserver")}, {Name: "storage-service-name", Value: []byte(ServiceAzure)}}
	got := Infer(es, Modes{})
	want := Modes{Database: "sqlserver", DatabaseAuth: AuthPassword, Storage: "azure", StorageAuth: AuthKeys}
	if got != want {
		t.Errorf("Infer = %+v, want %+v", got, want)
	}
	if got := Infer(es, Modes{Database: "postgresql"}); got.Database != "postgresql" {
		t.Errorf("a given mode was replaced: %+v", got)
	}
}

func TestTableHasEveryKey(t *testing.T) {
	table := Table()
	for _, k := range append(Keys(), Patterns()...) {
		if !strings.Contains(table, "| `"+k.Name+"` |") {
			t.Errorf("the table lacks %s", k.Name)
		}
	}
}
