// Package cli is the binary's command line beside serving the driver:
// which subcommand argv asks for, the overview help, and the kubectl
// plugin name. Each subcommand is its own package (template, validate,
// manifests, policy, doctor); serving stays in main, the default with no subcommand.
package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/cmdline"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/doctor"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/manifests"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/policy"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/template"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/validate"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/suggest"
)

// Name is the binary's name; PluginName its name as a kubectl plugin
// (installed on the PATH as kubectl-pmp, run as "kubectl pmp ...").
const (
	Name       = "pmp-secrets-provider"
	PluginName = "kubectl-pmp"
)

type command struct {
	cmdline.Command
	summary string
	run     func(context.Context, cmdline.Env, []string) int
}

var commands = []command{
	{template.Command, "print the PMP secret's JSON template (--describe: what each key is for; --environment: a Mendix app environment's secret)", template.Run},
	{validate.Command, "check a PMP secret (file, stdin or Secrets Manager; --environment: a Mendix app environment's) and what a SecretProviderClass mounts from it", validate.Run},
	{manifests.Command, "print a Mendix app environment's ServiceAccount and SecretProviderClass, as the Mendix Operator looks for them", manifests.Run},
	{policy.Command, "print the IAM permission policy for one secret and the role's trust policy", policy.Run},
	{doctor.Command, "check a live cluster's set-up for a workload, and prove its IRSA chain end to end", doctor.Run},
}

// Serve says whether argv asks to serve the driver, and with which flags:
// no subcommand (flags only) or "serve". The kubectl plugin never serves.
func Serve(argv []string) (args []string, ok bool) {
	if len(argv) == 0 || isPlugin(argv[0]) {
		return nil, false
	}
	args = argv[1:]
	if len(args) == 0 {
		return args, true
	}
	switch a := args[0]; {
	case a == "serve":
		return args[1:], true
	case a == "-h" || a == "-help" || a == "--help":
		return nil, false // the overview
	case strings.HasPrefix(a, "-"):
		return args, true
	}
	return nil, false
}

func isPlugin(argv0 string) bool {
	return strings.TrimSuffix(filepath.Base(argv0), ".exe") == PluginName
}

// Main runs the subcommand argv names and returns the exit status.
func Main(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := cmdline.Env{Prog: Name, Stdin: stdin, Stdout: stdout, Stderr: stderr}
	if len(argv) > 0 && isPlugin(argv[0]) {
		env.Prog = "kubectl pmp"
	}
	var args []string
	if len(argv) > 1 {
		args = argv[1:]
	}
	if len(args) == 0 {
		overview(env, stderr)
		return report.ExitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		overview(env, stdout)
		return report.ExitClean
	case "help":
		if len(args) == 1 {
			overview(env, stdout)
			return report.ExitClean
		}
		name, args = args[1], []string{args[1], "--help"}
	}
	for _, c := range commands {
		if c.Name == name {
			return c.run(ctx, env, args[1:])
		}
	}
	if name == "serve" {
		fmt.Fprintf(stderr, "%s: serve is the provider's own command, not a kubectl plugin's: run %s serve --help\n", env.Prog, Name)
		return report.ExitUsage
	}
	names := []string{"help"}
	for _, c := range commands {
		names = append(names, c.Name)
	}
	fmt.Fprintf(stderr, "%s: unknown command %q%s\n\n", env.Prog, name, suggest.Clause(suggest.Among(name, names)))
	overview(env, stderr)
	return report.ExitUsage
}

func overview(env cmdline.Env, w io.Writer) {
	fmt.Fprintf(w, "%s: Secrets Store CSI Driver provider for Private Mendix Platform credentials in AWS Secrets Manager.\n\nUsage:\n", Name)
	if env.Prog == Name {
		fmt.Fprintf(w, "  %s [serve] [flags]\n      serve the driver's Mount on a unix socket (the default; serve --help lists its flags)\n", Name)
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %s\n      %s\n", c.Synopsis(env.Prog), c.summary)
	}
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's flags. Exit status: 0 nothing found, 1 problems found, 2 usage error.\n", env.Prog)
	if env.Prog == Name {
		fmt.Fprintf(w, "Installed on the PATH as %s, it is also a kubectl plugin: kubectl pmp COMMAND.\n", PluginName)
	}
}
