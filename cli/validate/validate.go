// Package validate is the validate subcommand: it checks a PMP secret's
// JSON, from a file, stdin or Secrets Manager, against the PMP catalog
// (with --environment, a Mendix app environment's secret against the
// Mendix Operator's catalog, provider/mendixenv), says which credentials
// are set, and shows the files a SecretProviderClass would mount from it,
// using the provider's own parsing, flattening and file selection. It
// never prints a value.
package validate

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/cmdline"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/spclass"
)

// Command is the subcommand's description.
var Command = cmdline.Command{
	Name: "validate",
	Args: "FILE|-",
	About: `Checks a PMP secret's JSON before any pod mounts it: JSON syntax (with line
and column), module and key names against the PMP catalog (with "did you
mean" suggestions: names are case-sensitive), values that are not strings,
one key written both nested and dotted, values with stray white space. It
lists which credentials are set, empty or missing per module, and with
--class the files a SecretProviderClass would mount from it, exactly as the
provider would. It never prints a value.

  validate pmp-credentials.json
  validate - < pmp-credentials.json
  validate --secret PMP-Production-Credentials --region eu-west-1
  validate --secret PMP-Production-Credentials --class examples/pmp-vcs-only.yaml

With --environment it checks the secret of a Mendix app environment instead:
the keys the Mendix Operator reads for the environment's database and storage
kinds (--database, --database-auth, --storage, --storage-auth; the kinds
default to what the secret's database-type and storage-service-name say),
unknown keys with suggestions (database-pasword), values that cannot work (a
JDBC URL of another database, a storage service name, booleans), and the
template's placeholders left in.

  validate --environment env-secret.json
  validate --environment --secret my-namespace/my-app --database-auth rds-iam --storage-auth irsa

--secret reads the secret with your own AWS credentials and configuration
(environment, profile, SSO), as the AWS CLI does: they need
secretsmanager:GetSecretValue on it.`,
}

// Result is the whole outcome, as --output json prints it.
type Result struct {
	Source  Source `json:"source"`
	Summary string `json:"summary"`
	Document
	// Classes are the files of each --class SecretProviderClass.
	Classes []Volume `json:"classes,omitempty"`
	// ClassesNotShown says why there are no Classes despite --class.
	ClassesNotShown string `json:"classesNotShown,omitempty"`
	// Environment is set with --environment.
	Environment *Environment `json:"environment,omitempty"`
}

// refusals are the findings of a secret no SecretProviderClass can mount
// as files.
var refusals = []string{"json-syntax", "not-an-object", "duplicate-key", "conflicting-spellings", "provider-refuses"}

// Run runs the subcommand.
func Run(ctx context.Context, env cmdline.Env, args []string) int {
	fs := env.FlagSet(Command)
	secret := fs.String("secret", "", "read the secret NAME (or ARN) from Secrets Manager instead of a file")
	region := fs.String("region", "", "AWS region of --secret (default: your AWS configuration's, e.g. AWS_REGION)")
	var classFiles []string
	fs.Func("class", "a YAML file of SecretProviderClasses: show the files each would mount from the secret (repeatable)", func(s string) error {
		classFiles = append(classFiles, s)
		return nil
	})
	providerName := fs.String("provider-name", "pmp", "the provider's name, as spec.provider of the classes")
	environment := fs.Bool("environment", false, "check a Mendix app environment's secret (the Mendix Operator's keys) instead of a PMP secret")
	modes := cmdline.ModeFlags(fs)
	output := cmdline.OutputFlag(fs)
	rest, code, done := env.Parse(Command, fs, args)
	if done {
		return code
	}
	if given := cmdline.ModesGiven(fs); len(given) > 0 && !*environment {
		return env.Usage(Command.Name, "%s: only with --environment", strings.Join(given, ", "))
	}
	if *environment {
		// A mode given is checked now; one inferred from the secret later.
		if err := modes.Defaults().Check(); err != nil {
			return env.Usage(Command.Name, "%v", err)
		}
	}
	var src Source
	switch {
	case *secret != "" && len(rest) > 0:
		return env.Usage(Command.Name, "give a FILE or --secret, not both")
	case *secret != "":
		src = Source{Secret: *secret, Region: *region}
	case len(rest) == 1:
		if *region != "" {
			return env.Usage(Command.Name, "--region applies to --secret only")
		}
		src = Source{File: rest[0]}
	case len(rest) == 0:
		return env.Usage(Command.Name, "give the secret: a FILE, - for standard input, or --secret NAME")
	default:
		return env.Usage(Command.Name, "one FILE at a time, got %d", len(rest))
	}
	var classes []spclass.SecretProviderClass
	for _, path := range classFiles {
		cs, err := spclass.Read(path)
		if err != nil {
			return env.Usage(Command.Name, "--class: %v", err)
		}
		if len(cs) == 0 {
			return env.Usage(Command.Name, "--class: %s holds no SecretProviderClass", path)
		}
		classes = append(classes, cs...)
	}

	res := Result{Source: src}
	var raw []byte
	var err error
	if src.Secret != "" {
		raw, err = readSecret(ctx, &res.Source)
	} else {
		raw, err = readFile(src.File, env.Stdin)
	}
	if err != nil {
		res.Findings = []report.Finding{{Severity: report.Error, Check: "read-failed", Message: err.Error()}}
	} else {
		if *environment {
			e := CheckEnvironment(raw, *modes)
			res.Findings, res.Environment = e.Findings, &e
		} else {
			res.Document = Check(raw)
		}
		if len(classes) > 0 {
			if hasCheck(res.Findings, refusals...) {
				res.ClassesNotShown = "the provider refuses this secret (see the errors above): fix it to see the files"
				raw = nil
			}
			var more []report.Finding
			res.Classes, more = mountPreview(classes, src.Secret, raw, *providerName)
			res.Findings = append(res.Findings, more...)
		}
	}
	res.Summary = report.Summary(res.Findings)
	if *output == cmdline.JSON {
		if err := report.WriteJSON(env.Stdout, res); err != nil {
			fmt.Fprintln(env.Stderr, err)
			return report.ExitProblems
		}
	} else if *environment {
		writeEnvironmentText(env.Stdout, res)
	} else {
		writeText(env.Stdout, res)
	}
	return report.Exit(res.Findings)
}

func hasCheck(fs []report.Finding, checks ...string) bool {
	for _, f := range fs {
		for _, c := range checks {
			if f.Check == c {
				return true
			}
		}
	}
	return false
}

func writeText(w io.Writer, res Result) {
	fmt.Fprintf(w, "%s: %s\n", res.Source, res.Summary)
	if len(res.Findings) > 0 {
		fmt.Fprintln(w)
		report.WriteText(w, res.Findings)
	}
	if len(res.Modules) > 0 {
		fmt.Fprintln(w, "\nCredentials by module:")
		for _, m := range res.Modules {
			total := len(m.Set) + len(m.Empty) + len(m.Missing)
			if len(m.Empty) == total {
				fmt.Fprintf(w, "  %-17s 0 of %d set (all empty)\n", m.Name, total)
				continue
			}
			fmt.Fprintf(w, "  %-17s %d of %d set%s\n", m.Name, len(m.Set), total, list(": ", m.Set))
			if len(m.Empty) > 0 {
				fmt.Fprintf(w, "  %-17s empty (not mounted): %s\n", "", strings.Join(m.Empty, ", "))
			}
			if len(m.Missing) > 0 {
				fmt.Fprintf(w, "  %-17s missing (as if empty): %s\n", "", strings.Join(m.Missing, ", "))
			}
		}
		if len(res.Absent) > 0 {
			fmt.Fprintf(w, "  not in the secret: %s\n", strings.Join(res.Absent, ", "))
		}
	}
	writeClasses(w, res)
}

// writeClasses writes the files of the --class SecretProviderClasses.
func writeClasses(w io.Writer, res Result) {
	if res.ClassesNotShown != "" {
		fmt.Fprintf(w, "\nFiles of the SecretProviderClasses not shown: %s.\n", res.ClassesNotShown)
	}
	for _, v := range res.Classes {
		fmt.Fprintf(w, "\nSecretProviderClass %s would mount:\n", v.Class)
		for _, o := range v.Objects {
			switch {
			case o.Other:
				fmt.Fprintf(w, "  objects[%d] %s: another secret, not shown\n", o.Index, o.Object)
				continue
			case o.Fails:
				fmt.Fprintf(w, "  objects[%d] %s: the Mount fails (see above)\n", o.Index, o.Object)
				continue
			case len(o.Files) == 1:
				fmt.Fprintf(w, "  objects[%d] %s: 1 file\n", o.Index, o.Object)
			default:
				fmt.Fprintf(w, "  objects[%d] %s: %d files\n", o.Index, o.Object, len(o.Files))
			}
			for _, f := range o.Files {
				fmt.Fprintf(w, "    %s  %s\n", f.Mode, f.Path)
			}
		}
	}
}

func list(prefix string, s []string) string {
	if len(s) == 0 {
		return ""
	}
	return prefix + strings.Join(s, ", ")
}
