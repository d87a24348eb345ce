// Package report is how the subcommands state what they found: findings
// with a severity, where they are, what is wrong and what to change, as
// text for people or JSON for scripts, and the exit status they lead to.
// doctor reports each check it ran the same way, as a finding, and a check
// that found nothing as one of severity OK or Skipped. A finding names
// keys, files and resources, never a credential value.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Exit statuses of every subcommand.
const (
	// ExitClean: nothing to change.
	ExitClean = 0
	// ExitProblems: at least one finding (or the check could not run).
	ExitProblems = 1
	// ExitUsage: bad flags or arguments; nothing was checked.
	ExitUsage = 2
)

// Severity says what a finding costs if it is left alone: an Error or a
// Warning is a problem; OK and Skipped are the outcome of a check that
// found none.
type Severity string

const (
	// Error: PMP or the provider will not get the credential (or the
	// Mount fails).
	Error Severity = "error"
	// Warning: it works, but is probably not what was meant.
	Warning Severity = "warning"
	// OK: the check found nothing to change.
	OK Severity = "ok"
	// Skipped: the check could not run (an earlier one failed, or the
	// cluster does not have what it looks at).
	Skipped Severity = "skipped"
)

// Problem reports whether a finding of severity s is a problem: an Error
// or a Warning.
func (s Severity) Problem() bool { return s == Error || s == Warning }

// Finding is one problem, or (OK, Skipped) one check that found none.
type Finding struct {
	Severity Severity `json:"severity"`
	// Check is a stable identifier of the kind of problem, for scripts:
	// "unknown-key", "wrong-type", ...
	Check string `json:"check"`
	// Key is the dotted credential name it is about, if any.
	Key string `json:"key,omitempty"`
	// Line and Column locate it in the input (1-based), when known.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
	// Message says what is wrong.
	Message string `json:"message"`
	// Fix says what to change, with the command or text to do it.
	Fix string `json:"fix,omitempty"`
}

// Problems are the findings that are problems (see Severity.Problem).
func Problems(findings []Finding) []Finding {
	var out []Finding
	for _, f := range findings {
		if f.Severity.Problem() {
			out = append(out, f)
		}
	}
	return out
}

// Exit is the status for a list of findings: ExitProblems if there is any
// problem.
func Exit(findings []Finding) int {
	if len(Problems(findings)) > 0 {
		return ExitProblems
	}
	return ExitClean
}

// Summary is "no problems", "1 problem" or "N problems (E errors, W
// warnings)"; findings that are no problem are not counted.
func Summary(findings []Finding) string {
	var errs, warns int
	for _, f := range findings {
		switch f.Severity {
		case Error:
			errs++
		case Warning:
			warns++
		}
	}
	problems := errs + warns
	switch {
	case problems == 0:
		return "no problems"
	case errs == 0:
		return fmt.Sprintf("%s (%s)", plural(problems, "problem"), plural(warns, "warning"))
	case warns == 0:
		return fmt.Sprintf("%s (%s)", plural(problems, "problem"), plural(errs, "error"))
	}
	return fmt.Sprintf("%s (%s, %s)", plural(problems, "problem"), plural(errs, "error"), plural(warns, "warning"))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// WriteText writes the findings for people, one block each:
//
//	error    line 7, column 5: VCS.GithubAdminPat is not a PMP key ...
//	         fix: rename the key to ...
func WriteText(w io.Writer, findings []Finding) {
	for _, f := range findings {
		where := ""
		if f.Line > 0 {
			where = fmt.Sprintf("line %d, column %d: ", f.Line, f.Column)
		}
		fmt.Fprintf(w, "%-8s %s%s\n", f.Severity, where, f.Message)
		if f.Fix != "" {
			fmt.Fprintf(w, "%-8s fix: %s\n", "", indent(f.Fix, strings.Repeat(" ", 14)))
		}
	}
}

// indent indents every line of s but the first.
func indent(s, prefix string) string {
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// WriteJSON writes v as indented JSON with a final newline, "<", ">" and
// "&" as themselves (messages hold "->", policies hold none).
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
