package template

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/cmdline"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/golden"
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
