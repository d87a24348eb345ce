// Package template is the template subcommand: the PMP secret's JSON
// template, every credential empty, for all modules or some; with
// --environment, a Mendix app environment's secret for its database and
// storage kinds, with placeholders; with --describe, what each key is for.
package template

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/cmdline"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mendixenv"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/suggest"
)

// Command is the subcommand's description.
var Command = cmdline.Command{
	Name: "template",
	About: `Prints the JSON template of the PMP secret, every credential empty, modules
and keys in the order of the PMP documentation. Paste it into Secrets Manager
(Other type of secret, Plaintext) and fill in the credentials you use; leave
the others empty.

  template > pmp-credentials.json
  template --modules VCS,Email
  template --describe              what each key is for

With --environment it prints the secret of a Mendix app environment instead:
one flat JSON object of the files the Mendix Operator reads, the keys its
database and storage kinds need, with placeholders (<PASSWORD>) that
validate --environment reports until you replace them. Optional keys
(mx-admin-password, mx-const-Module.Constant, ...) are listed by --describe.

  template --environment                                 PostgreSQL, password, S3 with an access key pair
  template --environment --database-auth rds-iam --storage-auth irsa
  template --environment --database sqlserver --storage azure --storage-auth managed-identity
  template --environment --describe`,
}

// Run runs the subcommand.
func Run(_ context.Context, env cmdline.Env, args []string) int {
	fs := env.FlagSet(Command)
	modules := fs.String("modules", "", "comma-separated modules to include (default all): "+strings.Join(pmp.ModuleNames(), ","))
	describe := fs.Bool("describe", false, "list the keys with what each is for, instead of the template")
	environment := fs.Bool("environment", false, "print a Mendix app environment's secret (the Mendix Operator's keys) instead of PMP's")
	modes := cmdline.ModeFlags(fs)
	rest, code, done := env.Parse(Command, fs, args)
	if done {
		return code
	}
	if len(rest) > 0 {
		return env.Usage(Command.Name, "unexpected arguments %q", rest)
	}
	if *environment {
		if *modules != "" {
			return env.Usage(Command.Name, "--modules is for the PMP secret, not --environment")
		}
		m := modes.Defaults()
		if err := m.Check(); err != nil {
			return env.Usage(Command.Name, "%v", err)
		}
		if *describe {
			writeEnvironmentKeys(env, m)
			return report.ExitClean
		}
		fmt.Fprint(env.Stdout, mendixenv.Template(m))
		return report.ExitClean
	}
	if given := cmdline.ModesGiven(fs); len(given) > 0 {
		return env.Usage(Command.Name, "%s: only with --environment", strings.Join(given, ", "))
	}
	var sel []string
	if *modules != "" {
		for _, m := range strings.Split(*modules, ",") {
			m = strings.TrimSpace(m)
			if _, ok := pmp.FindModule(m); !ok {
				return env.Usage(Command.Name, "--modules: %q is not a PMP module%s (modules: %s)", m, suggest.Clause(pmp.SuggestModule(m)), strings.Join(pmp.ModuleNames(), ", "))
			}
			sel = append(sel, m)
		}
	}
	if *describe {
		writeDescriptions(env, sel)
		return report.ExitClean
	}
	fmt.Fprint(env.Stdout, pmp.Template(sel...))
	return report.ExitClean
}

func writeDescriptions(env cmdline.Env, sel []string) {
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	for _, m := range pmp.Modules() {
		if len(sel) > 0 && !slices.Contains(sel, m.Name) {
			continue
		}
		fmt.Fprintf(tw, "%s\t(%s)\n", m.Name, m.Title)
		for _, k := range m.Keys {
			fmt.Fprintf(tw, "  %s\t%s\n", k.Dotted(), k.Description)
			if k.Doubt != "" {
				fmt.Fprintf(tw, "  \t(doubt: %s)\n", k.Doubt)
			}
		}
	}
	tw.Flush()
}

// writeEnvironmentKeys lists the environment's keys: those modes m need,
// then the optional ones, then the name patterns, with what each is for
// and where the Mendix documentation is unclear.
func writeEnvironmentKeys(env cmdline.Env, m mendixenv.Modes) {
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	line := func(k mendixenv.Key) {
		what := k.Description
		if k.Since != "" {
			what += " (" + k.Since + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", k.Name, what)
		if k.Doubt != "" {
			fmt.Fprintf(tw, "  \t(unclear: %s)\n", k.Doubt)
		}
	}
	fmt.Fprintf(tw, "Needed with %s:\n", m)
	for _, k := range mendixenv.Keys() {
		if k.RequiredIn(m) {
			line(k)
		}
	}
	fmt.Fprintln(tw, "Optional:")
	for _, k := range mendixenv.Keys() {
		if !k.RequiredIn(m) && k.ReadWith(m) {
			line(k)
		}
	}
	for _, k := range mendixenv.Patterns() {
		line(k)
	}
	tw.Flush()
}
