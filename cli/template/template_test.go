package template

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/cmdline"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/golden"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mendixenv"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
)

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Run(context.Background(), cmdline.Env{Prog: "pmp-secrets-provider", Stdout: &out, Stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestTemplate(t *testing.T) {
	code, stdout, _ := run()
	if code != 0 || stdout != pmp.Template() {
		t.Errorf("status %d, template:\n%s", code, stdout)
	}
	code, stdout, _ = run("--modules", "Email, VCS")
	golden.Check(t, "email-vcs.golden.json", stdout)
	if code != 0 {
		t.Errorf("status %d", code)
	}
}

func TestDescribe(t *testing.T) {
	code, stdout, _ := run("--describe")
	if code != 0 {
		t.Errorf("status %d", code)
	}
	golden.Check(t, "describe.golden.txt", stdout)
	for _, n := range pmp.Names() {
		if !strings.Contains(stdout, n+" ") {
			t.Errorf("--describe lacks %s", n)
		}
	}
	if strings.Count(stdout, "(doubt: ") < 5 {
		t.Errorf("--describe does not mark the doubtful descriptions:\n%s", stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	for args, says := range map[string]string{
		"--modules Emial":    `--modules: "Emial" is not a PMP module; did you mean Email?`,
		"--modules VCS,Nope": `"Nope" is not a PMP module (modules: VCS, BuildPackage`,
		"extra":              `unexpected arguments ["extra"]`,
	} {
		code, stdout, stderr := run(strings.Fields(args)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, says) {
			t.Errorf("%s: status %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

func TestEnvironment(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		modes mendixenv.Modes
	}{
		{[]string{"--environment"}, mendixenv.Modes{}.Defaults()},
		{[]string{"--environment", "--database-auth", "rds-iam", "--storage-auth", "irsa"}, mendixenv.Modes{DatabaseAuth: "rds-iam", StorageAuth: "irsa"}.Defaults()},
		{[]string{"--environment", "--database", "sqlserver", "--storage", "azure", "--storage-auth", "managed-identity"},
			mendixenv.Modes{Database: "sqlserver", Storage: "azure", StorageAuth: "managed-identity"}.Defaults()},
	} {
		code, stdout, stderr := run(tc.args...)
		if code != 0 || stderr != "" || stdout != mendixenv.Template(tc.modes) {
			t.Errorf("%q: status %d, stderr %q, template:\n%s", tc.args, code, stderr, stdout)
		}
		if !json.Valid([]byte(stdout)) || !strings.Contains(stdout, `"<USERNAME>"`) {
			t.Errorf("%q: not JSON with readable placeholders:\n%s", tc.args, stdout)
		}
	}
	code, stdout, _ := run("--environment")
	golden.Check(t, "environment.golden.json", stdout)
	if code != 0 {
		t.Errorf("status %d", code)
	}
	code, stdout, _ = run("--environment", "--describe", "--storage-auth", "irsa")
	golden.Check(t, "environment-describe.golden.txt", stdout)
	for _, k := range mendixenv.Keys() {
		if k.ReadWith(mendixenv.Modes{StorageAuth: "irsa"}.Defaults()) && !strings.Contains(stdout, "  "+k.Name+" ") {
			t.Errorf("--describe lacks %s", k.Name)
		}
	}
	if code != 0 || strings.Contains(stdout, "storage-access-key-id") || strings.Count(stdout, "(unclear: ") < 4 {
		t.Errorf("status %d; --describe of S3 with IRSA:\n%s", code, stdout)
	}
}

func TestEnvironmentUsageErrors(t *testing.T) {
	for args, says := range map[string]string{
		"--environment --modules VCS":                                "--modules is for the PMP secret, not --environment",
		"--database sqlserver":                                       "--database: only with --environment",
		"--environment --database mysql":                             `--database "mysql" is not a database kind: postgresql, sqlserver`,
		"--environment --storage azure --storage-auth irsa":          `--storage-auth "irsa" is not one of azure storage's: keys, managed-identity`,
		"--environment --database sqlserver --database-auth rds-iam": "documented for PostgreSQL on AWS RDS only",
	} {
		code, stdout, stderr := run(strings.Fields(args)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, says) {
			t.Errorf("%s: status %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}
