package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The built binary: serving stays the default, subcommands exit 0, 1 or 2,
// and installed as kubectl-pmp it is a kubectl plugin.
func TestBinaryDispatch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "pmp-secrets-provider")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	plugin := filepath.Join(dir, "kubectl-pmp")
	if err := os.Symlink(bin, plugin); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bin    string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{bin, []string{"--version"}, 0, "dev\n", ""},
		{bin, []string{"serve", "--version"}, 0, "dev\n", ""},
		{bin, []string{"serve", "--help"}, 0, "", "-provider-dir"},
		{bin, []string{"--provider-name", "no spaces"}, 2, "", "--provider-name"},
		{bin, []string{"--help"}, 0, "pmp-secrets-provider validate [flags] FILE|-", ""},
		{bin, []string{"template", "--modules", "Email"}, 0, "{\n  \"Email\": {\n    \"SMTPPassword\": \"\"\n  }\n}\n", ""},
		{bin, []string{"validate", "cli/validate/testdata/in/github.json"}, 0, "no problems", ""},
		{bin, []string{"validate", "cli/validate/testdata/in/mistakes.json"}, 1, "did you mean VCS.GithubAdminPAT?", ""},
		{bin, []string{"validate"}, 2, "", "give the secret"},
		{bin, []string{"policy", "--secret", "PMP-Production-Credentials", "--region", "eu-west-1", "--account", "123456789012"}, 0, "secret:PMP-Production-Credentials-??????", ""},
		{bin, []string{"nope"}, 2, "", `unknown command "nope"`},
		{plugin, []string{"template", "--modules", "Email"}, 0, "\"SMTPPassword\": \"\"", ""},
		{plugin, []string{"validate", "--help"}, 0, "Usage: kubectl pmp validate", ""},
		{plugin, nil, 2, "", "kubectl pmp policy"},
	} {
		cmd := exec.Command(tc.bin, tc.args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(tc.bin) + " " + strings.Join(tc.args, " ")
		if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("%s: status %d (want %d)\nstdout: %s\nstderr: %s", name, code, tc.code, stdout.String(), stderr.String())
		}
	}
}
