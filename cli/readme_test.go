package cli

import (
	"os"
	"strings"
	"testing"
)

// example returns the output the README shows after the line "$ "+cmd
// (with its continuation lines), up to the end of the code block.
func example(t *testing.T, readme, cmd string) (args []string, output string) {
	t.Helper()
	i := strings.Index(readme, "\n$ "+cmd)
	if i < 0 {
		t.Fatalf("README shows no run of %s", cmd)
	}
	rest := readme[i+3:]
	end := strings.Index(rest, "\n```")
	block := rest[:end+1]
	var line string
	for {
		nl := strings.IndexByte(block, '\n')
		l := block[:nl]
		block = block[nl+1:]
		if !strings.HasSuffix(l, `\`) {
			line += l
			break
		}
		line += strings.TrimSuffix(l, `\`)
	}
	return strings.Fields(line), block
}

// The README's example runs are what the subcommands print.
func TestREADMEExamples(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)

	args, want := example(t, readme, "pmp-secrets-provider validate pmp-credentials.json")
	_, got, _ := run(t, "", append(args[:2], "validate/testdata/in/readme.json")...)
	got = strings.Replace(got, "validate/testdata/in/readme.json:", "pmp-credentials.json:", 1)
	if got != want {
		t.Errorf("README's validate example:\n%s\nthe command prints:\n%s", want, got)
	}

	args, want = example(t, readme, "pmp-secrets-provider policy")
	if _, got, _ = run(t, "", args...); got != want {
		t.Errorf("README's policy example:\n%s\nthe command prints:\n%s", want, got)
	}

	// doctor's is a run on the local cluster: the e2e suite checks it
	// (e2e/doctor_test.go, TestDoctor).

	args, want = example(t, readme, "pmp-secrets-provider template --describe")
	_, got, _ = run(t, "", args...)
	for _, l := range strings.Split(strings.TrimSpace(want), "\n") {
		if strings.TrimSpace(l) != "..." && !strings.Contains(got, l+"\n") {
			t.Errorf("README's template --describe shows a line it does not print: %q", l)
		}
	}
}
