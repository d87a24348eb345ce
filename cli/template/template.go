// Package template is the template subcommand: the PMP secret's JSON
// template, every credential empty, for all modules or some; or, with
// --describe, what each key is for.
package template

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/cmdline"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
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
  template --describe              what each key is for`,
}

// Run runs the subcommand.
func Run(_ context.Context, env cmdline.Env, args []string) int {
	fs := env.FlagSet(Command)
	modules := fs.String("modules", "", "comma-separated modules to include (default all): "+strings.Join(pmp.ModuleNames(), ","))
	describe := fs.Bool("describe", false, "list the keys with what each is for, instead of the template")
	rest, code, done := env.Parse(Command, fs, args)
	if done {
		return code
	}
	if len(rest) > 0 {
		return env.Usage(Command.Name, "unexpected arguments %q", rest)
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
