package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/apifake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
)

func TestServe(t *testing.T) {
	for _, tc := range []struct {
		argv  []string
		serve bool
		args  []string
	}{
		{[]string{"pmp-secrets-provider"}, true, []string{}},
		{[]string{"/bin/pmp-secrets-provider", "--provider-dir", "/tmp", "-v=2"}, true, []string{"--provider-dir", "/tmp", "-v=2"}},
		{[]string{"pmp-secrets-provider", "serve", "--cache=false"}, true, []string{"--cache=false"}},
		{[]string{"pmp-secrets-provider", "serve", "--help"}, true, []string{"--help"}},
		{[]string{"pmp-secrets-provider", "-version"}, true, []string{"-version"}},
		{[]string{"pmp-secrets-provider", "--help"}, false, nil},
		{[]string{"pmp-secrets-provider", "validate", "x.json"}, false, nil},
		{[]string{"pmp-secrets-provider", "valdiate"}, false, nil},
		{[]string{"/usr/local/bin/kubectl-pmp"}, false, nil},
		{[]string{"kubectl-pmp", "serve"}, false, nil},
	} {
		args, serve := Serve(tc.argv)
		if serve != tc.serve || serve && !cmp.Equal(args, tc.args) {
			t.Errorf("Serve(%q) = %q, %v; want %q, %v", tc.argv, args, serve, tc.args, tc.serve)
		}
	}
}

func run(t *testing.T, stdin string, argv ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), argv, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		name        string
		argv        []string
		code        int
		stdout, err string
	}{
		{"overview", []string{"pmp-secrets-provider", "--help"}, 0, "pmp-secrets-provider [serve] [flags]", ""},
		{"help", []string{"pmp-secrets-provider", "help"}, 0, "pmp-secrets-provider validate [flags] FILE|-", ""},
		{"help of a command", []string{"pmp-secrets-provider", "help", "policy"}, 0, "Usage: pmp-secrets-provider policy [flags]", ""},
		{"unknown command", []string{"pmp-secrets-provider", "valdiate"}, 2, "", `unknown command "valdiate"; did you mean validate?`},
		{"plugin without a command", []string{"/usr/local/bin/kubectl-pmp"}, 2, "", "kubectl pmp validate [flags] FILE|-"},
		{"plugin help", []string{"kubectl-pmp", "validate", "--help"}, 0, "Usage: kubectl pmp validate [flags] FILE|-", ""},
		{"plugin serve", []string{"kubectl-pmp", "serve"}, 2, "", "serve is the provider's own command"},
		{"plugin command", []string{"kubectl-pmp", "template", "--modules", "Email"}, 0, "\"SMTPPassword\": \"\"", ""},
		{"plugin usage error", []string{"kubectl-pmp", "policy"}, 2, "", "Run 'kubectl pmp policy --help' for usage."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, "", tc.argv...)
			if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.err) {
				t.Errorf("status %d (want %d)\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
		})
	}
	_, stdout, _ := run(t, "", "kubectl-pmp", "help")
	if strings.Contains(stdout, "[serve]") {
		t.Errorf("the plugin's overview offers serve:\n%s", stdout)
	}
}

// Every subcommand, on every path, with secrets full of recognisable
// values and tokens: no value may appear in any output.
func TestNoSubcommandPrintsAValue(t *testing.T) {
	a := awsemu.Start(t)
	a.UseFrom(t, "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDCALLERSENTINEL")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "caller-secret-SENTINEL")
	t.Setenv("AWS_SESSION_TOKEN", "caller-session-token-SENTINEL")
	mistakes, err := os.ReadFile("validate/testdata/in/mistakes.json")
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile("validate/testdata/in/github.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string][]byte{"PMP-Mistakes": mistakes, "PMP-Production-Credentials": good} {
		a.PutSecretIn(t, "eu-west-1", name, string(doc))
	}
	api := apifake.Start(t)
	api.PMP()
	kubeconfig := api.Kubeconfig(t)
	const p = "pmp-secrets-provider"
	for _, c := range []struct {
		stdin string
		argv  []string
	}{
		{"", []string{p, "--help"}},
		{"", []string{p, "template"}},
		{"", []string{p, "template", "--describe"}},
		{"", []string{p, "template", "--help"}},
		{"", []string{p, "validate", "validate/testdata/in/mistakes.json"}},
		{"", []string{p, "validate", "validate/testdata/in/mistakes.json", "--output", "json"}},
		{"", []string{p, "validate", "validate/testdata/in/broken.json"}},
		{string(mistakes), []string{p, "validate", "-", "--output", "json"}},
		{"", []string{p, "validate", "validate/testdata/in/github.json", "--class", "../examples/pmp-secretproviderclass.yaml", "--class", "../examples/pmp-vcs-only.yaml"}},
		{"", []string{p, "validate", "validate/testdata/in/github.json", "--class", "validate/testdata/in/typo-class.yaml", "--output", "json"}},
		{"", []string{p, "validate", "--secret", "PMP-Mistakes"}},
		{"", []string{p, "validate", "--secret", "PMP-Production-Credentials", "--class", "../examples/pmp-secretproviderclass.yaml", "--output", "json"}},
		{"", []string{p, "validate", "--secret", "PMP-Absent"}},
		{"", []string{p, "validate", "--help"}},
		{"", []string{p, "policy", "--secret", "PMP-Production-Credentials", "--account", "123456789012", "--namespace", "pmp", "--service-account", "sa", "--oidc-issuer", "https://oidc.example/id/1"}},
		{"", []string{p, "policy", "--secret", "PMP-Production-Credentials", "--output", "json"}},
		{"", []string{p, "policy", "--help"}},
		{"", []string{p, "doctor", "--kubeconfig", kubeconfig, "--deployment", "pmp-deployment"}},
		{"", []string{p, "doctor", "--kubeconfig", kubeconfig, "--deployment", "pmp-deployment", "--class", "nope", "--output", "json"}},
		{"", []string{p, "doctor", "--kubeconfig", kubeconfig, "--service-account", "pmp-secrets-access", "--output", "json"}},
		{"", []string{p, "doctor", "--help"}},
	} {
		_, stdout, stderr := run(t, c.stdin, c.argv...)
		if stdout+stderr == "" {
			t.Errorf("%q printed nothing", c.argv[1:])
		}
		if strings.Contains(stdout+stderr, "SENTINEL") {
			t.Errorf("%q printed a credential value or token:\n%s%s", c.argv[1:], stdout, stderr)
		}
	}
}

// The Mendix app environment subcommands, on every path, with an
// environment's secret full of recognisable values: no value may appear in
// any output.
func TestNoEnvironmentSubcommandPrintsAValue(t *testing.T) {
	a := awsemu.Start(t)
	a.UseFrom(t, "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDCALLERSENTINEL")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "caller-secret-SENTINEL")
	good, err := os.ReadFile("validate/testdata/in/environment.json")
	if err != nil {
		t.Fatal(err)
	}
	mistakes, err := os.ReadFile("validate/testdata/in/environment-mistakes.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string][]byte{"my-namespace/my-app": good, "my-namespace/mistakes": mistakes} {
		a.PutSecretIn(t, "eu-west-1", name, string(doc))
	}
	api := apifake.Start(t)
	api.PMP()
	api.MendixEnvironment()
	kubeconfig := api.Kubeconfig(t)
	const p = "pmp-secrets-provider"
	for _, c := range []struct {
		stdin string
		argv  []string
	}{
		{"", []string{p, "template", "--environment"}},
		{"", []string{p, "template", "--environment", "--describe"}},
		{"", []string{p, "validate", "--environment", "validate/testdata/in/environment.json", "--class", "validate/testdata/in/environment-class.yaml"}},
		{"", []string{p, "validate", "--environment", "validate/testdata/in/environment-mistakes.json", "--output", "json"}},
		{string(mistakes), []string{p, "validate", "--environment", "-", "--database", "sqlserver"}},
		{"", []string{p, "validate", "--environment", "--secret", "my-namespace/mistakes", "--storage-auth", "irsa"}},
		{"", []string{p, "validate", "--environment", "--secret", "my-namespace/my-app", "--class", "validate/testdata/in/environment-class.yaml", "--output", "json"}},
		{"", []string{p, "manifests", "--environment", "my-app", "-n", "my-namespace", "--role-arn", apifake.MendixRole}},
		{"", []string{p, "policy", "--environment", "--secret", "my-namespace/my-app", "--account", "123456789012", "--database-auth", "rds-iam", "--storage-auth", "irsa"}},
		{"", []string{p, "doctor", "--kubeconfig", kubeconfig, "--environment", "my-app", "-n", "my-namespace"}},
		{"", []string{p, "doctor", "--kubeconfig", kubeconfig, "--environment", "my-app", "-n", "my-namespace", "--database", "sqlserver", "--output", "json"}},
	} {
		_, stdout, stderr := run(t, c.stdin, c.argv...)
		if stdout+stderr == "" {
			t.Errorf("%q printed nothing", c.argv[1:])
		}
		if strings.Contains(stdout+stderr, "SENTINEL") {
			t.Errorf("%q printed a value:\n%s%s", c.argv[1:], stdout, stderr)
		}
	}
}
