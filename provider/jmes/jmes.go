// Package jmes selects values from a JSON secret or parameter with JMESPath
// expressions, the objects entries' jmesPath field. A string result is
// written as its raw text, as the official AWS provider (ASCP) writes it; a
// number, boolean, array or object result, which ASCP refuses ("only string
// is allowed"), is written as its compact JSON text. Errors name the
// expression and say why; they never hold a value.
package jmes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jmespath-community/go-jmespath"
)

// Expr is a compiled expression. It is safe for concurrent use.
type Expr struct {
	text string
	jp   jmespath.JMESPath
}

// Compile compiles a JMESPath expression. Its error says where the syntax
// breaks and how keys with '-' or other characters are written.
func Compile(text string) (*Expr, error) {
	jp, err := jmespath.Compile(text)
	if err != nil {
		var se jmespath.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("is not a JMESPath expression (%s at character %d): a key with characters other than letters, digits and _ (such as '-') is written in double quotes, e.g. '\"db-creds\".password'",
				trimSyntax(se.Error()), se.Offset)
		}
		return nil, fmt.Errorf("is not a JMESPath expression (%v)", err)
	}
	return &Expr{text: text, jp: jp}, nil
}

func trimSyntax(s string) string { return strings.TrimPrefix(s, "SyntaxError: ") }

// String is the expression as written.
func (e *Expr) String() string { return e.text }

// ErrNotJSON means the document searched is not JSON.
var ErrNotJSON = errors.New("the value is not a JSON document")

// ErrNoMatch means the expression selects nothing (or null).
var ErrNoMatch = errors.New("the expression selects nothing (no such key, or null)")

// Doc is a parsed JSON document, shared by the expressions searched in it.
type Doc struct{ v any }

// Parse parses a JSON document to search; the error never quotes it.
func Parse(raw []byte) (*Doc, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%w (syntax error at byte %d)", ErrNotJSON, se.Offset)
		}
		return nil, ErrNotJSON
	}
	return &Doc{v: v}, nil
}

// Search returns the text e selects in d: a string's raw text, any other
// result's compact JSON text.
func (e *Expr) Search(d *Doc) ([]byte, error) {
	got, err := e.jp.Search(d.v)
	if err != nil {
		// A runtime error: a function given an argument of the wrong
		// type. The library's text prints the argument, a value: not kept.
		return nil, errors.New("the expression fails on this value: a function was given an argument of the wrong type")
	}
	switch v := got.(type) {
	case nil:
		if strings.Contains(e.text, "-") && !strings.Contains(e.text, `"`) {
			// a-b is a subtraction in JMESPath, not the key "a-b".
			return nil, fmt.Errorf("%w: a key with '-' is written in double quotes, e.g. '\"db-creds\".password'", ErrNoMatch)
		}
		return nil, ErrNoMatch
	case string:
		return []byte(v), nil
	default:
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return nil, fmt.Errorf("the result cannot be written as JSON (%v)", err)
		}
		return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
	}
}
