package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/flatten"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/suggest"
)

// Document is what validate learned about one PMP secret's JSON.
type Document struct {
	Findings []report.Finding `json:"findings"`
	// Modules are the catalog modules the secret has keys of, in catalog
	// order, with which of their credentials are set. Nil (left out of
	// the JSON) when the secret is not read as a PMP secret: it does not
	// parse, or it is a Mendix app environment's.
	Modules []ModuleStatus `json:"modules,omitzero"`
	// Absent are the catalog modules the secret has no key of; nil as
	// Modules.
	Absent []string `json:"absentModules,omitzero"`
}

// ModuleStatus says which credentials of a module have a value.
type ModuleStatus struct {
	Name string `json:"name"`
	// Set have a non-empty value: the provider mounts them.
	Set []string `json:"set"`
	// Empty are "": unused, not mounted.
	Empty []string `json:"empty"`
	// Missing are not in the secret: PMP and the provider see them as
	// unset.
	Missing []string `json:"missing"`
}

// kind is a JSON value's type.
type kind int

const (
	kString kind = iota
	kNumber
	kBool
	kNull
	kArray
	kObject
)

func (k kind) String() string {
	return [...]string{"a string", "a number", "a boolean", "null", "a list", "an object"}[k]
}

// leaf is one dotted name of the document and its value.
type leaf struct {
	name string
	kind kind
	// value is the decoded string, or the JSON text of other kinds: only
	// compared, never printed.
	value []byte
	// flat: some key on its path holds a dot ("VCS.GithubAdminPAT").
	flat bool
	// dupKey: its key was already in the same object (reported as such).
	dupKey    bool
	line, col int
}

// Check validates the JSON of a PMP secret against the catalog. The
// findings say where each problem is (line and column) and never quote a
// value.
func Check(raw []byte) Document {
	w := walker{raw: raw}
	if f, ok := syntax(raw); !ok {
		return Document{Findings: []report.Finding{f}}
	}
	start := skipSpace(raw, 0)
	if raw[start] != '{' {
		line, col := position(raw, start)
		return Document{Findings: []report.Finding{{
			Severity: report.Error, Check: "not-an-object", Line: line, Column: col,
			Message: "the secret is not a JSON object: PMP reads one object of modules, each an object of keys",
			Fix:     "store the PMP template (template prints it) with your values filled in",
		}}}
	}
	w.object(start, "", false, 1)
	return w.finish()
}

type walker struct {
	raw      []byte
	leaves   []leaf
	findings []report.Finding
}

func (w *walker) add(f report.Finding) { w.findings = append(w.findings, f) }

// object walks the JSON object at raw[off], whose dotted name is prefix.
func (w *walker) object(off int, prefix string, flat bool, depth int) {
	if depth > flatten.MaxDepth {
		return // the provider's own refusal is reported by finish
	}
	dec := json.NewDecoder(bytes.NewReader(w.raw[off:]))
	dec.UseNumber()
	_, _ = dec.Token() // '{'
	seen := map[string][2]int{}
	for dec.More() {
		keyOff := off + skipSeparators(w.raw[off:], int(dec.InputOffset()))
		tok, err := dec.Token()
		if err != nil {
			return // syntax was checked before
		}
		key := tok.(string)
		line, col := position(w.raw, keyOff)
		name := key
		if prefix != "" {
			name = prefix + "." + key
		}
		p, dup := seen[key]
		if dup {
			w.add(report.Finding{Severity: report.Error, Check: "duplicate-key", Key: name, Line: line, Column: col,
				Message: fmt.Sprintf("%s appears twice in the same object (first at line %d, column %d): the provider refuses the secret", name, p[0], p[1]),
				Fix:     "keep one of the two"})
		}
		seen[key] = [2]int{line, col}
		valOff := off + skipSeparators(w.raw[off:], int(dec.InputOffset()))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return
		}
		w.value(valOff, v, leaf{name: name, flat: flat || strings.Contains(key, "."), dupKey: dup, line: line, col: col}, depth)
	}
}

// value walks the value v at raw[off] of the key described by l.
func (w *walker) value(off int, v json.RawMessage, l leaf, depth int) {
	name, flat := l.name, l.flat
	switch v[0] {
	case '{':
		_, isKey := pmp.Lookup(name)
		if !isKey {
			w.object(off, name, flat, depth+1)
			return
		}
		l.kind = kObject
	case '"':
		var s string
		_ = json.Unmarshal(v, &s)
		l.kind, l.value = kString, []byte(s)
	case '[':
		l.kind = kArray
	case 'n':
		l.kind = kNull
	case 't', 'f':
		l.kind = kBool
	default:
		l.kind = kNumber
	}
	if l.kind != kString {
		var buf bytes.Buffer
		_ = json.Compact(&buf, v)
		l.value = buf.Bytes()
	}
	w.leaves = append(w.leaves, l)
}

// finish judges the leaves against the catalog.
func (w *walker) finish() Document {
	byName := map[string][]leaf{}
	var order []string
	for _, l := range w.leaves {
		if _, ok := byName[l.name]; !ok {
			order = append(order, l.name)
		}
		byName[l.name] = append(byName[l.name], l)
	}
	isPMP := false
	inSecret := map[string]bool{} // modules with any key in the secret
	for _, name := range order {
		mod, _, _ := strings.Cut(name, ".")
		inSecret[mod] = true
		ls := byName[name]
		l := ls[0]
		if _, ok := pmp.FindModule(mod); ok && strings.Contains(name, ".") {
			isPMP = true
		}
		w.spellings(name, ls)
		if _, ok := pmp.Lookup(name); !ok {
			w.unknown(l)
			continue
		}
		for _, l := range ls {
			w.leafValue(l)
		}
	}
	w.refused()
	doc := Document{Modules: []ModuleStatus{}, Absent: []string{}}
	anySet := false
	for _, m := range pmp.Modules() {
		st := ModuleStatus{Name: m.Name, Set: []string{}, Empty: []string{}, Missing: []string{}}
		present := false
		for _, k := range m.Keys {
			ls, ok := byName[k.Dotted()]
			switch {
			case !ok:
				st.Missing = append(st.Missing, k.Name)
				continue
			case ls[0].kind == kNull || ls[0].kind == kString && len(ls[0].value) == 0:
				st.Empty = append(st.Empty, k.Name) // not mounted
			default: // numbers are mounted too, as their text
				st.Set = append(st.Set, k.Name)
				anySet = true
			}
			present = true
		}
		if present || inSecret[m.Name] {
			doc.Modules = append(doc.Modules, st)
		} else {
			doc.Absent = append(doc.Absent, m.Name)
		}
	}
	switch {
	case !isPMP:
		w.add(report.Finding{Severity: report.Error, Check: "not-pmp",
			Message: "no key is under a PMP module (" + strings.Join(pmp.ModuleNames(), ", ") + "): this is not a PMP secret",
			Fix:     "start from the PMP template (template prints it); module and key names are case-sensitive"})
	case !anySet:
		w.add(report.Finding{Severity: report.Error, Check: "no-credential",
			Message: "no PMP credential has a value: the provider mounts no file and the pod's Mount fails",
			Fix:     "fill in the credentials your PMP installation uses"})
	}
	// In the order of the input; findings about the whole secret last.
	slices.SortStableFunc(w.findings, func(a, b report.Finding) int {
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line - a.Line
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	doc.Findings = w.findings
	if doc.Findings == nil {
		doc.Findings = []report.Finding{}
	}
	return doc
}

// spellings reports a name written twice, nested and as a dotted key.
func (w *walker) spellings(name string, ls []leaf) {
	for _, l := range ls[1:] {
		first := ls[0]
		if l.dupKey {
			continue // a duplicate-key finding
		}
		if bytes.Equal(l.value, first.value) && l.kind == first.kind {
			w.add(report.Finding{Severity: report.Warning, Check: "duplicate-spelling", Key: name, Line: l.line, Column: l.col,
				Message: fmt.Sprintf("%s is written twice (%s at line %d and %s here), with the same value", name, spelling(first), first.line, spelling(l)),
				Fix:     "keep one spelling; the PMP template nests keys in their module"})
			continue
		}
		w.add(report.Finding{Severity: report.Error, Check: "conflicting-spellings", Key: name, Line: l.line, Column: l.col,
			Message: fmt.Sprintf("%s is written twice (%s at line %d and %s here) with different values: the provider refuses the secret", name, spelling(first), first.line, spelling(l)),
			Fix:     "keep one spelling, with the value you mean; the PMP template nests keys in their module"})
	}
}

func spelling(l leaf) string {
	if l.flat {
		return "as a dotted key"
	}
	return "nested"
}

// unknown reports a name that is not in the catalog, with suggestions.
func (w *walker) unknown(l leaf) {
	f := report.Finding{Severity: report.Error, Check: "unknown-key", Key: l.name, Line: l.line, Column: l.col}
	mod, key, dotted := strings.Cut(l.name, ".")
	_, knownModule := pmp.FindModule(mod)
	if sugg := pmp.Suggest(l.name); len(sugg) > 0 {
		f.Message = fmt.Sprintf("%s is not a PMP key; %s PMP key names are case-sensitive and read-only", l.name, suggest.Hint(sugg))
		m, k, _ := strings.Cut(sugg[0], ".")
		f.Fix = fmt.Sprintf("rename it to %s (key %q in module %q)", sugg[0], k, m)
		if len(sugg) > 1 {
			f.Fix = "rename it to one of " + strings.Join(sugg, ", ")
		}
	} else if !dotted {
		f.Check = "unknown-module"
		f.Message = fmt.Sprintf("%s is not a PMP module and holds no PMP key%s", l.name, suggest.Clause(pmp.SuggestModule(mod)))
		f.Fix = "remove it; the modules are " + strings.Join(pmp.ModuleNames(), ", ")
		if l.kind != kObject {
			if _, isModule := pmp.FindModule(l.name); isModule {
				f.Check = "wrong-type"
				f.Message = fmt.Sprintf("%s is a PMP module, so its value must be an object of keys, but it is %s", l.name, l.kind)
				f.Fix = "write it as in the template: \"" + l.name + "\": {\"KEY\": \"VALUE\", ...}"
			}
		}
	} else if !knownModule {
		f.Check = "unknown-module"
		f.Message = fmt.Sprintf("%s: %s is not a PMP module%s", l.name, mod, suggest.Clause(pmp.SuggestModule(mod)))
		f.Fix = "the modules are " + strings.Join(pmp.ModuleNames(), ", ")
	} else {
		m, _ := pmp.FindModule(mod)
		keys := make([]string, len(m.Keys))
		for i, k := range m.Keys {
			keys[i] = k.Name
		}
		f.Message = fmt.Sprintf("%s is not a PMP key: module %s has no key %q", l.name, mod, key)
		f.Fix = "remove it, or use one of " + mod + "'s keys: " + strings.Join(keys, ", ")
	}
	w.add(f)
}

// leafValue reports a catalog key whose value is not a clean string.
func (w *walker) leafValue(l leaf) {
	if l.kind != kString {
		w.add(report.Finding{Severity: report.Error, Check: "wrong-type", Key: l.name, Line: l.line, Column: l.col,
			Message: fmt.Sprintf("%s is %s: PMP values are strings", l.name, l.kind),
			Fix:     "put the value in double quotes, or \"\" for a credential you do not use"})
		return
	}
	s := l.value
	if len(s) == 0 {
		return
	}
	r, _ := utf8.DecodeRune(s)
	last, _ := utf8.DecodeLastRune(s)
	if unicode.IsSpace(r) || unicode.IsSpace(last) {
		what := "starts or ends with white space"
		if last == '\n' || last == '\r' {
			what = "ends with a line break"
		}
		w.add(report.Finding{Severity: report.Warning, Check: "whitespace", Key: l.name, Line: l.line, Column: l.col,
			Message: fmt.Sprintf("the value of %s %s: the mounted file holds it too, and PMP reads it as part of the credential", l.name, what),
			Fix:     "store the credential without the surrounding white space"})
	}
}

// refused adds the provider's own refusal of the secret, unless a finding
// already explains it: validate must never pass a secret the provider
// would not mount.
func (w *walker) refused() {
	_, err := flatten.Flatten(w.raw)
	if err == nil {
		return
	}
	for _, f := range w.findings {
		if f.Check == "duplicate-key" || f.Check == "conflicting-spellings" {
			return
		}
	}
	w.add(report.Finding{Severity: report.Error, Check: "provider-refuses",
		Message: "the provider refuses the secret: " + err.Error(),
		Fix:     "store the PMP template's shape: modules of string values"})
}

// syntax reports a JSON syntax error with its line and column, in words of
// its own: the parser's message quotes the offending character, which may
// be a credential's.
func syntax(raw []byte) (report.Finding, bool) {
	err := json.Unmarshal(raw, new(json.RawMessage))
	if err == nil {
		return report.Finding{}, true
	}
	var se *json.SyntaxError
	off := len(raw)
	msg := err.Error()
	if errors.As(err, &se) && !strings.Contains(msg, "unexpected end") {
		off = int(se.Offset) - 1
	}
	line, col := position(raw, off)
	what, fix := "the JSON does not parse", "fix the JSON at that place"
	// The first row whose text the parser's message holds: Go 1.26's or Go 1.27's wording
	// ("in string literal" is "in string" in 1.27, "in string escape code" is "invalid escape
	// sequence ... in string").
	for _, c := range []struct{ in, what, fix string }{
		{"unexpected end", "the JSON ends too early", "add the missing closing quote, brace } or bracket ]"},
		{"after object key:value pair", "a comma is missing between two keys, or a character is out of place", "separate the keys with commas: \"A\": \"1\", \"B\": \"2\""},
		{"after object key", "a colon is missing after a key", "write \"KEY\": \"VALUE\""},
		{"looking for beginning of object key string", "a key is expected here: a comma after the last key, or a key without double quotes", "remove the trailing comma, or put the key in double quotes"},
		{"looking for beginning of value", "a value is expected here: a value without double quotes, a missing value, or a comma too many", "put the value in double quotes (\"\" for an unused credential)"},
		// Before "in string", which the messages of a bad escape also hold.
		{"in string escape code", "a string holds a backslash that is not a JSON escape", "write a backslash as \\\\"},
		{"invalid escape sequence", "a string holds a backslash that is not a JSON escape", "write a backslash as \\\\"},
		{"in string", "a control character (a line break or tab) is inside a string", "write it as \\n or \\t, or remove it"},
		{"after array element", "a comma is missing between two list elements", "separate the elements with commas"},
		{"after top-level value", "there is text after the end of the JSON object", "remove everything after the last closing brace"},
	} {
		if strings.Contains(msg, c.in) {
			what, fix = c.what, c.fix
			break
		}
	}
	return report.Finding{Severity: report.Error, Check: "json-syntax", Line: line, Column: col,
		Message: "JSON syntax error: " + what, Fix: fix}, false
}

// position is the 1-based line and column (in characters) of raw[off].
func position(raw []byte, off int) (line, col int) {
	off = min(max(off, 0), len(raw))
	before := raw[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	if i := bytes.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return line, utf8.RuneCount(before) + 1
}

func skipSpace(raw []byte, off int) int {
	for off < len(raw) && (raw[off] == ' ' || raw[off] == '\t' || raw[off] == '\n' || raw[off] == '\r') {
		off++
	}
	return off
}

// skipSeparators skips white space, commas and colons: from the decoder's
// offset to the start of the next key or value.
func skipSeparators(raw []byte, off int) int {
	for off < len(raw) && strings.IndexByte(" \t\r\n,:", raw[off]) >= 0 {
		off++
	}
	return off
}
