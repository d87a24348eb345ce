package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/cmdline"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/golden"
)

// run runs the subcommand and returns its status and outputs.
func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := cmdline.Env{Prog: "pmp-secrets-provider", Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb}
	code = Run(context.Background(), env, args)
	return code, out.String(), errb.String()
}

// The testdata secrets hold SENTINEL values: no output may show one.
func noValues(t *testing.T, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		if strings.Contains(o, "SENTINEL") {
			t.Errorf("output shows a credential value:\n%s", o)
		}
	}
}

func TestGoldenOutputs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"mistakes", []string{"testdata/in/mistakes.json"}, 1},
		{"broken", []string{"testdata/in/broken.json", "--class", "../../examples/pmp-secretproviderclass.yaml"}, 1},
		{"github", []string{"testdata/in/github.json"}, 0},
		{"github-classes", []string{"--class", "../../examples/pmp-secretproviderclass.yaml", "testdata/in/github.json", "--class", "../../examples/pmp-vcs-only.yaml"}, 0},
		{"github-typo-class", []string{"testdata/in/github.json", "--class", "testdata/in/typo-class.yaml"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for format, ext := range map[string]string{"text": "txt", "json": "json"} {
				code, stdout, stderr := run(t, "", append(tc.args, "--output", format)...)
				if code != tc.code {
					t.Errorf("--output %s: status %d, want %d; stderr: %s", format, code, tc.code, stderr)
				}
				if stderr != "" {
					t.Errorf("--output %s: stderr: %s", format, stderr)
				}
				if format == "json" && !json.Valid([]byte(stdout)) {
					t.Errorf("--output json is not JSON:\n%s", stdout)
				}
				noValues(t, stdout)
				golden.Check(t, tc.name+".golden."+ext, stdout)
			}
		})
	}
}

func TestStandardInput(t *testing.T) {
	doc, err := os.ReadFile("testdata/in/mistakes.json")
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := run(t, string(doc), "-")
	want, _ := os.ReadFile("testdata/mistakes.golden.txt")
	if code != 1 || stdout != strings.Replace(string(want), "testdata/in/mistakes.json:", "standard input:", 1) {
		t.Errorf("status %d, stdout:\n%s", code, stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"nothing to validate", nil, "give the secret: a FILE, - for standard input, or --secret NAME"},
		{"a file and a secret", []string{"a.json", "--secret", "PMP"}, "not both"},
		{"two files", []string{"a.json", "b.json"}, "one FILE at a time"},
		{"region without secret", []string{"a.json", "--region", "eu-west-1"}, "--region applies to --secret only"},
		{"unknown flag", []string{"--secrte", "PMP"}, "flag provided but not defined: -secrte"},
		{"bad output", []string{"a.json", "--output", "yaml"}, "must be text or json"},
		{"missing class file", []string{"a.json", "--class", "nope.yaml"}, "--class: open nope.yaml"},
		{"class file without a class", []string{"a.json", "--class", "testdata/in/github.json"}, "holds no SecretProviderClass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, "", tc.args...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tc.says) || !strings.Contains(stderr, "validate --help") {
				t.Errorf("status %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, tc.says)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	code, stdout, stderr := run(t, "", "--help")
	if code != 0 || stderr != "" {
		t.Errorf("status %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"Usage: pmp-secrets-provider validate [flags] FILE|-", "-secret", "-class", "-output", "Exit status: 0 nothing found, 1 problems found, 2 usage error."} {
		if !strings.Contains(stdout, want) {
			t.Errorf("help lacks %q:\n%s", want, stdout)
		}
	}
}

func TestUnreadableFile(t *testing.T) {
	code, stdout, _ := run(t, "", "testdata/nope.json")
	if code != 1 || !strings.Contains(stdout, "read-failed") && !strings.Contains(stdout, "no such file") {
		t.Errorf("status %d, stdout %s", code, stdout)
	}
}

// --secret reads the secret with the caller's own credentials, here from
// the environment, against the emulator.
func TestFromSecretsManager(t *testing.T) {
	a := awsemu.Start(t)
	a.UseFrom(t, "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDCALLER")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "caller-secret")
	doc, err := os.ReadFile("testdata/in/mistakes.json")
	if err != nil {
		t.Fatal(err)
	}
	version := a.PutSecretIn(t, "eu-west-1", "PMP-Production-Credentials", string(doc))

	code, stdout, stderr := run(t, "", "--secret", "PMP-Production-Credentials", "--class", "testdata/in/typo-class.yaml")
	if code != 1 {
		t.Errorf("status %d, stderr %s", code, stderr)
	}
	noValues(t, stdout, stderr)
	want, _ := os.ReadFile("testdata/mistakes.golden.txt")
	findings := strings.SplitN(string(want), "\n", 2)[1]
	findings = findings[:strings.Index(findings, "\nCredentials by module")]
	for _, s := range []string{
		"secret PMP-Production-Credentials (version " + version + ", eu-west-1): ",
		findings,
		`SecretProviderClass "pmp-typo" has 2 problems`,
	} {
		if !strings.Contains(stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, stdout)
		}
	}
	if n := a.Front.Count("secretsmanager:GetSecretValue"); n != 1 {
		t.Errorf("%d GetSecretValue calls, want 1", n)
	}

	code, stdout, _ = run(t, "", "--secret", "PMP-Staging-Credentials", "--output", "json")
	if code != 1 || !strings.Contains(stdout, `"check": "read-failed"`) || !strings.Contains(stdout, "secret PMP-Staging-Credentials was not found in eu-west-1: check the name and --region") {
		t.Errorf("missing secret: status %d, stdout %s", code, stdout)
	}

	a.Front.Inject(awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Status: 400, Code: "AccessDeniedException", Message: "not allowed"})
	code, stdout, _ = run(t, "", "--secret", "PMP-Production-Credentials", "--region", "eu-west-1")
	if code != 1 || !strings.Contains(stdout, "your AWS identity may not read secret PMP-Production-Credentials in eu-west-1 (AccessDeniedException)") {
		t.Errorf("denied: status %d, stdout %s", code, stdout)
	}
}

func TestEnvironmentGoldenOutputs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"environment", []string{"--environment", "testdata/in/environment.json"}, 0},
		{"environment-mistakes", []string{"--environment", "testdata/in/environment-mistakes.json", "--storage-auth", "irsa"}, 1},
		{"environment-classes", []string{"--environment", "testdata/in/environment.json", "--class", "testdata/in/environment-class.yaml"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for format, ext := range map[string]string{"text": "txt", "json": "json"} {
				code, stdout, stderr := run(t, "", append(tc.args, "--output", format)...)
				if code != tc.code || stderr != "" {
					t.Errorf("--output %s: status %d, want %d; stderr: %s", format, code, tc.code, stderr)
				}
				if format == "json" && !json.Valid([]byte(stdout)) {
					t.Errorf("--output json is not JSON:\n%s", stdout)
				}
				noValues(t, stdout)
				golden.Check(t, tc.name+".golden."+ext, stdout)
			}
		})
	}
}

func TestEnvironmentFindings(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		args      []string
		code      int
		says      []string
	}{
		{name: "the kinds come from the secret",
			doc: `{"database-type": "SQLSERVER", "database-jdbc-url": "jdbc:sqlserver://db:1433;databaseName=a", "database-host": "db:1433", "database-name": "a", "database-username": "u", "database-password": "p",
				"storage-service-name": "com.mendix.storage.azure", "storage-azure-account-name": "n", "storage-azure-account-key": "k", "storage-azure-container": "c"}`,
			says: []string{"no problems", "SQLSERVER with a password, Azure with an account key", "10 of 10 set"}},
		{name: "a flag that disagrees with the secret",
			doc:  `{"database-type": "SQLSERVER", "database-jdbc-url": "jdbc:sqlserver://db:1433", "database-host": "db", "database-name": "a", "database-username": "u", "database-password": "p", "storage-service-name": "com.mendix.storage.s3", "storage-endpoint": "https://s3.example", "storage-bucket-name": "b", "storage-access-key-id": "i", "storage-secret-access-key": "s"}`,
			args: []string{"--database", "postgresql"}, code: 1,
			says: []string{"database-type names SQLSERVER, but the environment is checked as PostgreSQL", "pass --database sqlserver"}},
		{name: "a nested object is a dotted key",
			doc:  `{"database": {"type": "PostgreSQL"}}`,
			code: 1, says: []string{"database.type is not a key the Mendix Operator reads", "database-type is missing"}},
		{name: "a PMP secret", doc: `{"VCS": {"GithubAdminPAT": "x"}}`, code: 1, says: []string{"VCS.GithubAdminPAT is not a key the Mendix Operator reads"}},
		{name: "broken JSON", doc: `{"database-type": "PostgreSQL",}`, code: 1, says: []string{"JSON syntax error"}},
		{name: "not an object", doc: `"x"`, code: 1, says: []string{"the provider refuses the secret"}},
		{name: "only empty values", doc: `{"mx-admin-password": ""}`, code: 1, says: []string{"no key has a value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.doc, append([]string{"--environment", "-"}, tc.args...)...)
			if code != tc.code || stderr != "" {
				t.Errorf("status %d, want %d; stderr %s", code, tc.code, stderr)
			}
			for _, s := range tc.says {
				if !strings.Contains(stdout, s) {
					t.Errorf("output lacks %q:\n%s", s, stdout)
				}
			}
		})
	}
}

func TestEnvironmentUsageErrors(t *testing.T) {
	for args, says := range map[string]string{
		"--storage-auth irsa testdata/in/environment.json":                              "--storage-auth: only with --environment",
		"--environment --storage gcs testdata/in/environment.json":                      `--storage "gcs" is not a storage kind`,
		"--environment --database sqlserver --database-auth rds-iam testdata/in/x.json": "documented for PostgreSQL on AWS RDS only",
	} {
		code, stdout, stderr := run(t, "", strings.Fields(args)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, says) {
			t.Errorf("%s: status %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

// --environment --secret reads the environment's secret from Secrets
// Manager with the caller's own credentials, against the emulator.
func TestEnvironmentFromSecretsManager(t *testing.T) {
	a := awsemu.Start(t)
	a.UseFrom(t, "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDCALLER")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "caller-secret")
	doc, err := os.ReadFile("testdata/in/environment-mistakes.json")
	if err != nil {
		t.Fatal(err)
	}
	a.PutSecretIn(t, "eu-west-1", "my-namespace/my-app", string(doc))
	code, stdout, stderr := run(t, "", "--environment", "--secret", "my-namespace/my-app", "--storage-auth", "irsa")
	if code != 1 {
		t.Errorf("status %d, stderr %s", code, stderr)
	}
	noValues(t, stdout, stderr)
	want, _ := os.ReadFile("testdata/environment-mistakes.golden.txt")
	findings := strings.SplitN(string(want), "\n", 2)[1]
	if !strings.Contains(stdout, findings) {
		t.Errorf("the secret's findings are not the file's:\n%s\nwant:\n%s", stdout, findings)
	}
}
