package jmes

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
)

// errTooLarge is the error of an encoding that would pass its limit.
var errTooLarge = errors.New("too large")

// errNotJSON is the error of a value JSON cannot write: NaN, an infinity
// (1/0 in an expression) or an expression reference.
var errNotJSON = tenantError("the result is not a JSON value (a division by zero, or an expression reference '&...')")

// encode writes v as compact JSON, as encoding/json does (keys sorted,
// html: <, > and & escaped as json.Marshal does, or left as they are), and
// stops at limit bytes with errTooLarge instead of building the whole text
// first: a search can return a value that repeats the same part of the
// document many times over, whose text is far longer than anything it
// allocated. It counts the bytes first, then writes them into a buffer of
// that size. charge (nil: none) is charged for the objects' keys sorted.
func encode(v any, limit int, html bool, keys *keyCache, charge func(int) error) ([]byte, error) {
	e := encoder{limit: limit, html: html, keys: keys, charge: charge}
	if !e.value(v) {
		return nil, e.err
	}
	e.out, e.n = make([]byte, 0, e.n), 0
	if !e.value(v) {
		return nil, e.err
	}
	return e.out, nil
}

type encoder struct {
	out    []byte // nil while counting
	n      int
	limit  int
	html   bool
	keys   *keyCache
	charge func(int) error
	err    error
}

func (e *encoder) put(b ...byte) bool {
	e.n += len(b)
	if e.n > e.limit {
		e.err = errTooLarge
		return false
	}
	if e.out != nil {
		e.out = append(e.out, b...)
	}
	return true
}

func (e *encoder) putString(s string) bool {
	e.n += len(s)
	if e.n > e.limit {
		e.err = errTooLarge
		return false
	}
	if e.out != nil {
		e.out = append(e.out, s...)
	}
	return true
}

func (e *encoder) value(v any) bool {
	switch v := v.(type) {
	case nil:
		return e.put('n', 'u', 'l', 'l')
	case bool:
		if v {
			return e.put('t', 'r', 'u', 'e')
		}
		return e.put('f', 'a', 'l', 's', 'e')
	case float64:
		return e.number(v)
	case string:
		return e.string(v)
	case []any:
		if !e.put('[') {
			return false
		}
		for i, x := range v {
			if i > 0 && !e.put(',') {
				return false
			}
			if !e.value(x) {
				return false
			}
		}
		return e.put(']')
	case map[string]any:
		ks, ok := e.keys.get(v)
		if !ok {
			if e.charge != nil {
				if err := e.charge(costEntryGrown + costSlice + costElem*len(v) + costVisit*len(v)); err != nil {
					e.err = err
					return false
				}
			}
			ks = e.keys.sorted(v)
		}
		if !e.put('{') {
			return false
		}
		for i, k := range ks {
			if i > 0 && !e.put(',') {
				return false
			}
			if !e.string(k) || !e.put(':') || !e.value(v[k]) {
				return false
			}
		}
		return e.put('}')
	}
	e.err = errNotJSON
	return false
}

// number writes f as encoding/json does: as JavaScript writes numbers,
// with an exponent below 1e-6 and from 1e21, and e-7 rather than e-07.
func (e *encoder) number(f float64) bool {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		e.err = errNotJSON
		return false
	}
	var buf [32]byte
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b := strconv.AppendFloat(buf[:0], f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return e.put(b...)
}

const hex = "0123456789abcdef"

// string writes s quoted as encoding/json does: ", \ and control
// characters escaped (\b \f \n \r \t short), bytes that are not UTF-8 as
// \ufffd, U+2028 and U+2029 escaped, and <, >, & when html.
func (e *encoder) string(s string) bool {
	if !e.put('"') {
		return false
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if j := i + safeRun(s[i:], e.html); j > i {
				if !e.putString(s[i:j]) {
					return false
				}
				i = j
				continue
			}
			i++
			switch {
			case c == '"' || c == '\\':
				if !e.put('\\', c) {
					return false
				}
			case c == '\b':
				if !e.put('\\', 'b') {
					return false
				}
			case c == '\f':
				if !e.put('\\', 'f') {
					return false
				}
			case c == '\n':
				if !e.put('\\', 'n') {
					return false
				}
			case c == '\r':
				if !e.put('\\', 'r') {
					return false
				}
			case c == '\t':
				if !e.put('\\', 't') {
					return false
				}
			case c < 0x20 || (e.html && (c == '<' || c == '>' || c == '&')):
				if !e.put('\\', 'u', '0', '0', hex[c>>4], hex[c&0xf]) {
					return false
				}
			default:
				if !e.put(c) {
					return false
				}
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			if !e.put('\\', 'u', 'f', 'f', 'f', 'd') {
				return false
			}
		case r == '\u2028' || r == '\u2029':
			if !e.put('\\', 'u', '2', '0', '2', hex[r&0xf]) {
				return false
			}
		default:
			if !e.putString(s[i : i+size]) {
				return false
			}
		}
		i += size
	}
	return e.put('"')
}

// safeRun is the length of the ASCII that s starts with that is written as
// it is.
func safeRun(s string, html bool) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || (html && (c == '<' || c == '>' || c == '&')) {
			return i
		}
	}
	return len(s)
}
