package doctor

import (
	"fmt"
	"io"
	"strings"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
)

// Status is how one check went.
type Status string

// The statuses of a check.
const (
	OK      Status = "ok"
	Error   Status = "error"
	Warning Status = "warning"
	// Skipped: the check could not run (an earlier one failed, or the
	// cluster does not have what it looks at).
	Skipped Status = "skipped"
)

// Step is one check and its outcome.
type Step struct {
	Check   string `json:"check"`
	Status  Status `json:"status"`
	Message string `json:"message"`
	// Fix says what to change, with the command or YAML to do it.
	Fix string `json:"fix,omitempty"`
}

// Findings are the steps that found a problem.
func Findings(steps []Step) []report.Finding {
	out := []report.Finding{}
	for _, s := range steps {
		switch s.Status {
		case Error:
			out = append(out, report.Finding{Severity: report.Error, Check: s.Check, Message: s.Message, Fix: s.Fix})
		case Warning:
			out = append(out, report.Finding{Severity: report.Warning, Check: s.Check, Message: s.Message, Fix: s.Fix})
		}
	}
	return out
}

func writeSteps(w io.Writer, steps []Step) {
	width := 0
	for _, s := range steps {
		width = max(width, len(s.Check))
	}
	pad := strings.Repeat(" ", 9+width+2)
	for _, s := range steps {
		fmt.Fprintf(w, "%-8s %-*s  %s\n", s.Status, width, s.Check, strings.ReplaceAll(s.Message, "\n", "\n"+pad))
		if s.Fix != "" {
			fmt.Fprintf(w, "%sfix: %s\n", pad, strings.ReplaceAll(s.Fix, "\n", "\n"+pad+"     "))
		}
	}
}

// steps collects steps.
type steps []Step

func (s *steps) ok(check, format string, args ...any) {
	*s = append(*s, Step{Check: check, Status: OK, Message: fmt.Sprintf(format, args...)})
}

func (s *steps) skip(check, format string, args ...any) {
	*s = append(*s, Step{Check: check, Status: Skipped, Message: fmt.Sprintf(format, args...)})
}

func (s *steps) fail(check string, st Status, msg, fix string) {
	*s = append(*s, Step{Check: check, Status: st, Message: msg, Fix: fix})
}
