package validate

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/flatten"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mendixenv"
)

// Environment is what validate --environment learned about a Mendix app
// environment's secret.
type Environment struct {
	// Findings are Result's (printed there).
	Findings []report.Finding `json:"-"`
	// Modes are the modes the secret was checked for: the flags', else
	// the kinds its database-type and storage-service-name name, else the
	// defaults.
	Modes *mendixenv.Modes `json:"modes,omitempty"`
	// Keys says which keys the secret has, by what they are to the
	// Operator.
	Keys *EnvironmentKeys `json:"keys,omitempty"`
}

// EnvironmentKeys are the names of a secret's keys, by kind.
type EnvironmentKeys struct {
	// Required are the keys the modes need that the secret has with a
	// value; Missing those it lacks (or has empty, or a placeholder).
	Required []string `json:"required"`
	Missing  []string `json:"missing"`
	// Optional are the other catalog keys it has.
	Optional []string `json:"optional"`
	// Constants and RuntimeSettings are its mx-const- and mx-runtime-
	// keys.
	Constants       []string `json:"constants"`
	RuntimeSettings []string `json:"runtimeSettings"`
}

// CheckEnvironment validates the JSON of an environment's secret against
// the Mendix environment catalog for the modes given (empty fields are
// inferred from the secret, then defaulted): the keys as the provider
// mounts them (its own flattening), never a value in a finding.
func CheckEnvironment(raw []byte, given mendixenv.Modes) Environment {
	if f, ok := syntax(raw); !ok {
		return Environment{Findings: []report.Finding{f}}
	}
	flat, err := flatten.Flatten(raw)
	if err != nil {
		return Environment{Findings: []report.Finding{{Severity: report.Error, Check: "provider-refuses",
			Message: "the provider refuses the secret: " + err.Error(),
			Fix:     "store one flat JSON object of the Operator's keys (template --environment prints it)"}}}
	}
	entries := make([]mendixenv.Entry, len(flat))
	for i, e := range flat {
		entries[i] = mendixenv.Entry{Name: e.Name, Value: e.Value}
	}
	m := mendixenv.Infer(entries, given)
	res := Environment{Findings: []report.Finding{}, Modes: &m}
	if err := m.Check(); err != nil {
		res.Findings = append(res.Findings, report.Finding{Severity: report.Error, Check: "modes", Message: err.Error(), Fix: "pass the modes of the environment"})
		return res
	}
	for _, p := range mendixenv.Check(entries, m) {
		sev := report.Warning
		if p.Error {
			sev = report.Error
		}
		res.Findings = append(res.Findings, report.Finding{Severity: sev, Check: p.Check, Key: p.Key, Message: p.Message, Fix: p.Fix})
	}
	keys := EnvironmentKeys{Required: []string{}, Missing: []string{}, Optional: []string{}, Constants: []string{}, RuntimeSettings: []string{}}
	set := map[string]bool{}
	for _, e := range entries {
		set[e.Name] = len(e.Value) > 0 && !mendixenv.HasPlaceholder(string(e.Value))
		switch mendixenv.Classify(e.Name) {
		case mendixenv.Constant:
			keys.Constants = append(keys.Constants, e.Name)
		case mendixenv.RuntimeSetting:
			keys.RuntimeSettings = append(keys.RuntimeSettings, e.Name)
		}
	}
	for _, k := range mendixenv.Keys() {
		switch {
		case k.RequiredIn(m) && set[k.Name]:
			keys.Required = append(keys.Required, k.Name)
		case k.RequiredIn(m):
			keys.Missing = append(keys.Missing, k.Name)
		case set[k.Name]:
			keys.Optional = append(keys.Optional, k.Name)
		}
	}
	res.Keys = &keys
	if !hasSetKey(entries) {
		res.Findings = append(res.Findings, report.Finding{Severity: report.Error, Check: "no-credential",
			Message: "no key has a value: the provider mounts no file and the pod's Mount fails",
			Fix:     "fill in the environment's values (template --environment prints the keys)"})
	}
	return res
}

func hasSetKey(es []mendixenv.Entry) bool {
	return slices.ContainsFunc(es, func(e mendixenv.Entry) bool { return len(e.Value) > 0 })
}

func writeEnvironmentText(w io.Writer, res Result) {
	fmt.Fprintf(w, "%s: %s\n", res.Source, res.Summary)
	if len(res.Findings) > 0 {
		fmt.Fprintln(w)
		report.WriteText(w, res.Findings)
	}
	if e := res.Environment; e != nil && e.Keys != nil {
		k := e.Keys
		total := len(k.Required) + len(k.Missing)
		fmt.Fprintf(w, "\nKeys of a Mendix app environment with %s:\n", e.Modes)
		fmt.Fprintf(w, "  %-17s %d of %d set%s\n", "needed", len(k.Required), total, list(": ", k.Required))
		if len(k.Missing) > 0 {
			fmt.Fprintf(w, "  %-17s missing, empty or a placeholder: %s\n", "", strings.Join(k.Missing, ", "))
		}
		if len(k.Optional) > 0 {
			fmt.Fprintf(w, "  %-17s %s\n", "optional", strings.Join(k.Optional, ", "))
		}
		if len(k.Constants) > 0 {
			fmt.Fprintf(w, "  %-17s %s\n", "constants", strings.Join(k.Constants, ", "))
		}
		if len(k.RuntimeSettings) > 0 {
			fmt.Fprintf(w, "  %-17s %s\n", "runtime settings", strings.Join(k.RuntimeSettings, ", "))
		}
	}
	writeClasses(w, res)
}
