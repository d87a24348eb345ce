// Package flatten turns a secret whose value is a JSON object into dotted
// names and raw values: {"VCS": {"GithubAdminPAT": "x"}} becomes
// VCS.GithubAdminPAT = x. Flat dotted keys ({"VCS.GithubAdminPAT": "x"}) and
// mixes of both give the same names.
//
// Values: strings as their raw bytes (no added newline), numbers and
// booleans as their JSON text, arrays as their compact JSON text (one file;
// PMP has none, and indexed names would be ambiguous with dotted keys),
// null as nothing. Error messages name keys, never values.
package flatten

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// MaxDepth bounds nesting; PMP uses two levels.
const MaxDepth = 32

// ErrNotObject means the value is not a JSON object.
var ErrNotObject = errors.New("the value is not a JSON object")

// ErrInvalidJSON means the value starts like a JSON object but does not parse.
var ErrInvalidJSON = errors.New("the value starts with '{' but is not valid JSON")

// Entry is one flattened key.
type Entry struct {
	// Name is the dotted name, e.g. "VCS.GithubAdminPAT".
	Name  string
	Value []byte
}

// Flatten returns the entries of a JSON object value, sorted by name.
// A value that is not a JSON object gives ErrNotObject (wrapped).
func Flatten(raw []byte) ([]Entry, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, ErrNotObject
	}
	if !json.Valid(trimmed) {
		// Almost surely a broken JSON document, not a plain value: refuse
		// rather than mount it whole where files per key are expected. The
		// error gives the offset only: the parser's text quotes the input.
		var se *json.SyntaxError
		if err := json.Unmarshal(trimmed, new(json.RawMessage)); errors.As(err, &se) {
			return nil, fmt.Errorf("%w (syntax error at byte %d)", ErrInvalidJSON, se.Offset)
		}
		return nil, ErrInvalidJSON
	}
	f := flattener{seen: map[string]int{}}
	if err := f.object(trimmed, "", 1); err != nil {
		return nil, err
	}
	sort.Slice(f.out, func(i, j int) bool { return f.out[i].Name < f.out[j].Name })
	return f.out, nil
}

type flattener struct {
	out  []Entry
	seen map[string]int // name -> index in out
}

func (f *flattener) object(raw []byte, prefix string, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("key %q nests deeper than %d levels", prefix, MaxDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // '{'
		return fmt.Errorf("reading object %q: %w", prefix, err)
	}
	keys := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("reading object %q: %w", prefix, err)
		}
		key := tok.(string) // object keys are always strings
		if keys[key] {
			return fmt.Errorf("key %q appears twice in the same object", join(prefix, key))
		}
		keys[key] = true
		if key == "" {
			return fmt.Errorf("an empty key is under %s: every key needs a name", prefixOrRoot(prefix))
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("reading key %q: %w", join(prefix, key), err)
		}
		if err := f.value(v, join(prefix, key), depth); err != nil {
			return err
		}
	}
	return nil
}

func (f *flattener) value(v json.RawMessage, name string, depth int) error {
	switch v[0] {
	case '{':
		return f.object(v, name, depth+1)
	case 'n': // null: nothing to mount
		return nil
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("reading key %q: %w", name, err)
		}
		return f.add(name, []byte(s))
	case '[':
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			return fmt.Errorf("reading key %q: %w", name, err)
		}
		return f.add(name, buf.Bytes())
	default: // number, true, false: their JSON text
		return f.add(name, append([]byte(nil), v...))
	}
}

func (f *flattener) add(name string, value []byte) error {
	if i, ok := f.seen[name]; ok {
		if bytes.Equal(f.out[i].Value, value) {
			return nil // nested and dotted spellings agree
		}
		return fmt.Errorf("key %q is set twice with different values (nested and as a dotted key): keep one spelling", name)
	}
	f.seen[name] = len(f.out)
	f.out = append(f.out, Entry{Name: name, Value: value})
	return nil
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func prefixOrRoot(prefix string) string {
	if prefix == "" {
		return "the top level"
	}
	return fmt.Sprintf("%q", prefix)
}
