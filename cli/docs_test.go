package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/mddoc"
)

// example returns the run of cmd a page of docs/ shows: its
// arguments and its output.
func example(t *testing.T, page, cmd string) (args []string, output string) {
	t.Helper()
	line, output, ok := mddoc.ExampleRun(page, cmd)
	if !ok {
		t.Fatalf("the page shows no run of %s", cmd)
	}
	return strings.Fields(line), output
}

// The example runs of docs/pmp-tooling.md are what the subcommands print.
func TestToolingExamples(t *testing.T) {
	b, err := os.ReadFile("../docs/pmp-tooling.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)

	args, want := example(t, readme, "pmp-secrets-provider validate pmp-credentials.json")
	_, got, _ := run(t, "", append(args[:2], "validate/testdata/in/readme.json")...)
	got = strings.Replace(got, "validate/testdata/in/readme.json:", "pmp-credentials.json:", 1)
	if got != want {
		t.Errorf("docs/pmp-tooling.md's validate example:\n%s\nthe command prints:\n%s", want, got)
	}

	args, want = example(t, readme, "pmp-secrets-provider policy")
	if _, got, _ = run(t, "", args...); got != want {
		t.Errorf("docs/pmp-tooling.md's policy example:\n%s\nthe command prints:\n%s", want, got)
	}

	// doctor's is a run on the local cluster: the e2e suite checks it
	// (e2e/doctor_test.go, TestDoctor).

	args, want = example(t, readme, "pmp-secrets-provider template --describe")
	_, got, _ = run(t, "", args...)
	for _, l := range strings.Split(strings.TrimSpace(want), "\n") {
		if strings.TrimSpace(l) != "..." && !strings.Contains(got, l+"\n") {
			t.Errorf("docs/pmp-tooling.md's template --describe shows a line it does not print: %q", l)
		}
	}
}

// The example runs of docs/mendix-environments.md are what the subcommands
// print; its doctor run is checked in cli/doctor, its ASCP class in
// cli/manifests.
func TestEnvironmentExamples(t *testing.T) {
	b, err := os.ReadFile("../docs/mendix-environments.md")
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, cmd := range []string{
		"pmp-secrets-provider template --environment",
		"pmp-secrets-provider policy --environment",
		"pmp-secrets-provider manifests --environment",
	} {
		args, want := example(t, page, cmd)
		if _, got, _ := run(t, "", args...); got != want {
			t.Errorf("docs/mendix-environments.md's run of %s:\n%s\nthe command prints:\n%s", cmd, want, got)
		}
	}
	args, want := example(t, page, "pmp-secrets-provider validate --environment my-app.json")
	for i, a := range args {
		if a == "my-app.json" {
			args[i] = "validate/testdata/in/environment-mistakes.json"
		}
	}
	_, got, _ := run(t, "", args...)
	got = strings.Replace(got, "validate/testdata/in/environment-mistakes.json:", "my-app.json:", 1)
	if got != want {
		t.Errorf("docs/mendix-environments.md's validate run:\n%s\nthe command prints:\n%s", want, got)
	}
}
