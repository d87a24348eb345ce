package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
)

// Steps are the checks doctor ran, in order, one finding each: a problem
// (report.Error, report.Warning), or report.OK or report.Skipped.
//
// Its JSON is doctor's (--output json): a check's severity is its
// "status", first the check, and no key or location, as doctor never has
// one.
type Steps []report.Finding

// stepJSON is how one element of Steps reads in JSON.
type stepJSON struct {
	Check   string          `json:"check"`
	Status  report.Severity `json:"status"`
	Message string          `json:"message"`
	Fix     string          `json:"fix,omitempty"`
}

// MarshalJSON writes the steps as doctor's JSON has them.
func (s Steps) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("null"), nil
	}
	out := make([]stepJSON, len(s))
	for i, f := range s {
		out[i] = stepJSON{Check: f.Check, Status: f.Severity, Message: f.Message, Fix: f.Fix}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Steps) UnmarshalJSON(b []byte) error {
	var in []stepJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	if in == nil {
		*s = nil
		return nil
	}
	*s = make(Steps, len(in))
	for i, x := range in {
		(*s)[i] = report.Finding{Check: x.Check, Severity: x.Status, Message: x.Message, Fix: x.Fix}
	}
	return nil
}

func writeSteps(w io.Writer, steps Steps) {
	width := 0
	for _, s := range steps {
		width = max(width, len(s.Check))
	}
	pad := strings.Repeat(" ", 9+width+2)
	for _, s := range steps {
		fmt.Fprintf(w, "%-8s %-*s  %s\n", s.Severity, width, s.Check, strings.ReplaceAll(s.Message, "\n", "\n"+pad))
		if s.Fix != "" {
			fmt.Fprintf(w, "%sfix: %s\n", pad, strings.ReplaceAll(s.Fix, "\n", "\n"+pad+"     "))
		}
	}
}

func (s *Steps) ok(check, format string, args ...any) {
	*s = append(*s, report.Finding{Check: check, Severity: report.OK, Message: fmt.Sprintf(format, args...)})
}

func (s *Steps) skip(check, format string, args ...any) {
	*s = append(*s, report.Finding{Check: check, Severity: report.Skipped, Message: fmt.Sprintf(format, args...)})
}

func (s *Steps) fail(check string, sev report.Severity, msg, fix string) {
	*s = append(*s, report.Finding{Check: check, Severity: sev, Message: msg, Fix: fix})
}
