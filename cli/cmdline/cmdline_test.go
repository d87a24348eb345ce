package cmdline

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func parse(args ...string) (pos []string, out Output, code int, done bool, stdout, stderr string) {
	var o, e bytes.Buffer
	env := Env{Prog: "prog", Stdout: &o, Stderr: &e}
	cmd := Command{Name: "cmd", Args: "FILE", About: "Does things."}
	fs := env.FlagSet(cmd)
	output := OutputFlag(fs)
	fs.String("class", "", "a class")
	pos, code, done = env.Parse(cmd, fs, args)
	return pos, *output, code, done, o.String(), e.String()
}

func TestFlagsAndArgumentsInAnyOrder(t *testing.T) {
	pos, out, _, done, _, _ := parse("a.json", "--output", "json", "-", "--class", "c.yaml", "--", "--not-a-flag")
	if done || out != JSON || !cmp.Equal(pos, []string{"a.json", "-", "--not-a-flag"}) {
		t.Errorf("pos %q, output %s, done %v", pos, out, done)
	}
}

func TestHelpGoesToStdoutWithStatus0(t *testing.T) {
	_, _, code, done, stdout, stderr := parse("x", "--help")
	if !done || code != 0 || stderr != "" {
		t.Errorf("code %d, done %v, stderr %q", code, done, stderr)
	}
	for _, want := range []string{"Usage: prog cmd [flags] FILE\n\nDoes things.\n", "-class string", "-output value", "Exit status: 0"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("help lacks %q:\n%s", want, stdout)
		}
	}
}

func TestUsageErrorGoesToStderrWithStatus2(t *testing.T) {
	for args, says := range map[string]string{
		"--nope":        "flag provided but not defined: -nope",
		"--output yaml": `invalid value "yaml" for flag -output: must be text or json`,
		"--class":       "flag needs an argument: -class",
	} {
		_, _, code, done, stdout, stderr := parse(strings.Fields(args)...)
		if !done || code != 2 || stdout != "" || !strings.Contains(stderr, "prog cmd: "+says) || !strings.Contains(stderr, "Run 'prog cmd --help' for usage.") {
			t.Errorf("%s: code %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}
