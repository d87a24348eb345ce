// Package flatten turns a secret whose value is a JSON object into dotted
// names and raw values: {"VCS": {"GithubAdminPAT": "x"}} becomes
// VCS.GithubAdminPAT = x. Flat dotted keys ({"VCS.GithubAdminPAT": "x"}) and
// mixes of both give the same names.
//
// Values: strings as their raw bytes (no added newline; bytes that are not
// valid UTF-8, possible in a binary secret, are kept as they are, never
// replaced), numbers and booleans as their JSON text, arrays as their
// compact JSON text (one file; PMP has none, and indexed names would be
// ambiguous with dotted keys), null as nothing. Error messages name keys,
// never values.
package flatten

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds nesting; PMP uses two levels.
const MaxDepth = 32

// MaxNameBytes bounds the bytes of all the dotted names of one value, the
// names of nested objects included. A 64 KiB value cannot give more with
// sensible keys (the PMP template's names are 1 KiB), but one long key over
// thousands of sub-keys would repeat it in every name: over 100 MiB kept for
// the freshness window.
const MaxNameBytes = 1 << 20

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
	// The document is valid JSON from here on: the scanner below reads it
	// itself, because encoding/json replaces bytes that are not UTF-8 in
	// strings with U+FFFD, and the files must hold the bytes stored.
	f := flattener{s: scanner{b: trimmed}, seen: map[string]int{}}
	if err := f.object("", 1); err != nil {
		return nil, err
	}
	sort.Slice(f.out, func(i, j int) bool { return f.out[i].Name < f.out[j].Name })
	return f.out, nil
}

type flattener struct {
	s         scanner
	out       []Entry
	seen      map[string]int // name -> index in out
	nameBytes int
}

// object reads the object at the scanner, whose name is prefix.
func (f *flattener) object(prefix string, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("key %s nests deeper than %d levels", quoteName(prefix), MaxDepth)
	}
	f.s.next() // '{'
	keys := map[string]bool{}
	for f.s.ws(); f.s.peek() != '}'; f.s.ws() {
		rawKey := f.s.str()
		k, err := unquote(rawKey)
		if err != nil {
			return fmt.Errorf("a key under %s: %w", prefixOrRoot(prefix), err)
		}
		key := string(k)
		if keys[key] {
			return fmt.Errorf("key %s appears twice in the same object", quoteName(join(prefix, key)))
		}
		keys[key] = true
		if key == "" {
			return fmt.Errorf("an empty key is under %s: every key needs a name", prefixOrRoot(prefix))
		}
		if f.nameBytes += len(prefix) + 1 + len(key); f.nameBytes > MaxNameBytes {
			return fmt.Errorf("the key names add up to over %d bytes when flattened (at key %s): a long key over many sub-keys repeats in every name; shorten the keys, or set flatten: false to mount the value as one file",
				MaxNameBytes, quoteName(join(prefix, key)))
		}
		f.s.ws()
		f.s.next() // ':'
		f.s.ws()
		if err := f.value(join(prefix, key), depth); err != nil {
			return err
		}
		f.s.ws()
		if f.s.peek() == ',' {
			f.s.next()
		}
	}
	f.s.next() // '}'
	return nil
}

// value reads the value at the scanner, of key name.
func (f *flattener) value(name string, depth int) error {
	switch f.s.peek() {
	case '{':
		return f.object(name, depth+1)
	case '"':
		v, err := unquote(f.s.str())
		if err != nil {
			return fmt.Errorf("the value of key %s: %w", quoteName(name), err)
		}
		return f.add(name, v)
	case 'n': // null: nothing to mount
		f.s.skip()
		return nil
	case '[':
		raw := f.s.skip()
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return fmt.Errorf("reading key %s: %w", quoteName(name), err)
		}
		return f.add(name, buf.Bytes())
	default: // number, true, false: their JSON text
		return f.add(name, f.s.skip())
	}
}

func (f *flattener) add(name string, value []byte) error {
	if i, ok := f.seen[name]; ok {
		if bytes.Equal(f.out[i].Value, value) {
			return nil // nested and dotted spellings agree
		}
		return fmt.Errorf("key %s is set twice with different values (nested and as a dotted key): keep one spelling", quoteName(name))
	}
	f.seen[name] = len(f.out)
	f.out = append(f.out, Entry{Name: name, Value: value})
	return nil
}

// scanner reads a document json.Valid accepted. Its reads stay within the
// document whatever it holds, so a bug cannot read past it.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) next() {
	if s.i < len(s.b) {
		s.i++
	}
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str reads a string and returns its text between the quotes, escapes and
// all.
func (s *scanner) str() []byte {
	s.next() // '"'
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			raw := s.b[start:s.i]
			s.i++
			return raw
		}
		s.i++
	}
	return s.b[start:min(s.i, len(s.b))]
}

// skip reads any value and returns its text.
func (s *scanner) skip() []byte {
	start := s.i
	switch s.peek() {
	case '"':
		s.str()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				s.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				break
			}
		}
	default: // number, true, false, null
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return s.b[start:s.i]
			}
			s.i++
		}
	}
	return s.b[start:min(s.i, len(s.b))]
}

// errLoneSurrogate is a \u escape of half a UTF-16 surrogate pair, which no
// bytes can hold.
var errLoneSurrogate = errors.New(`a \u escape of half a UTF-16 surrogate pair, which no UTF-8 bytes can hold: escape the whole pair or store the character itself`)

// unquote decodes the text of a JSON string (between its quotes). Bytes
// outside escapes are kept as they are, valid UTF-8 or not. Without an
// escape, the result shares raw's bytes.
func unquote(raw []byte) ([]byte, error) {
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw, nil
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' || i+1 >= len(raw) {
			out = append(out, c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(raw[i+1:])
			if !ok {
				return nil, errors.New("a malformed \\u escape")
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if i+2 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					r2, ok = hex4(raw[i+3:])
				}
				pair := utf16.DecodeRune(r, r2)
				if !ok || pair == utf8.RuneError {
					return nil, errLoneSurrogate
				}
				i += 6
				r = pair
			}
			out = utf8.AppendRune(out, r)
		default: // '"', '\\', '/'
			out = append(out, raw[i])
		}
	}
	return out, nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
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
	return quoteName(prefix)
}

// maxQuotedName bounds a name in a message: a key can be 64 KiB long.
const maxQuotedName = 256

// quoteName quotes a dotted name for a message, cut to its first
// maxQuotedName bytes (at a character boundary).
func quoteName(name string) string {
	if len(name) <= maxQuotedName {
		return fmt.Sprintf("%q", name)
	}
	cut := maxQuotedName
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return fmt.Sprintf("%q... (%d bytes)", name[:cut], len(name))
}
