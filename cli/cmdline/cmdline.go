// Package cmdline is what every subcommand shares on its command line: the
// program's streams and name, flag sets whose --help goes to stdout with
// status 0 and whose mistakes go to stderr with status 2, flags mixed
// with arguments in any order, and the --output flag.
package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
)

// Env is a subcommand's world: its streams and the name it was called by
// ("pmp-secrets-provider", or "kubectl pmp" as a kubectl plugin).
type Env struct {
	Prog   string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Command describes a subcommand for its --help.
type Command struct {
	// Name is the subcommand, e.g. "validate".
	Name string
	// Args is what follows the flags in the synopsis, e.g. "FILE|-".
	Args string
	// About is the help text after the synopsis: what it does, what it
	// prints, examples.
	About string
}

// Synopsis is "PROG NAME [flags] ARGS".
func (c Command) Synopsis(prog string) string {
	return strings.TrimSpace(fmt.Sprintf("%s %s [flags] %s", prog, c.Name, c.Args))
}

// FlagSet returns a flag set for cmd; Parse prints its help.
func (e Env) FlagSet(cmd Command) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // Parse says what went wrong, or prints the help
	return fs
}

// Help writes cmd's help, with the flags of fs, to stdout.
func (e Env) Help(cmd Command, fs *flag.FlagSet) {
	w := e.Stdout
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", cmd.Synopsis(e.Prog), strings.TrimSpace(cmd.About))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	fmt.Fprintln(w, "\nExit status: 0 nothing found, 1 problems found, 2 usage error.")
}

// Parse parses args for cmd, flags and arguments in any order ("--" ends
// the flags), and returns the arguments. When it returns done, the command
// ends with status code: 0 after --help (printed on stdout), 2 after a
// usage error (said on stderr).
func (e Env) Parse(cmd Command, fs *flag.FlagSet, args []string) (positional []string, code int, done bool) {
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			e.Help(cmd, fs)
			return nil, report.ExitClean, true
		}
		if err != nil {
			return nil, e.Usage(cmd.Name, "%v", err), true
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, 0, false
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), 0, false
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// Usage says a usage error on stderr and returns ExitUsage.
func (e Env) Usage(cmd, format string, args ...any) int {
	fmt.Fprintf(e.Stderr, "%s %s: %s\nRun '%s %s --help' for usage.\n", e.Prog, cmd, fmt.Sprintf(format, args...), e.Prog, cmd)
	return report.ExitUsage
}

// Output is the --output flag's value.
type Output string

// The output formats.
const (
	Text Output = "text"
	JSON Output = "json"
)

// String implements flag.Value.
func (o *Output) String() string { return string(*o) }

// Set implements flag.Value.
func (o *Output) Set(s string) error {
	switch Output(s) {
	case Text, JSON:
		*o = Output(s)
		return nil
	}
	return fmt.Errorf("must be text or json")
}

// OutputFlag registers --output (text or json, default text).
func OutputFlag(fs *flag.FlagSet) *Output {
	o := Text
	fs.Var(&o, "output", "output format: text or json")
	return &o
}
