// Package jmes selects values from a JSON secret or parameter with JMESPath
// expressions, the objects entries' jmesPath field. A string result is
// written as its raw text, as the official AWS provider (ASCP) writes it; a
// number, boolean, array or object result, which ASCP refuses ("only string
// is allowed"), is written as its compact JSON text. Errors name the
// expression and say why; they never hold a value.
//
// An expression is a tenant's input, evaluated in the provider every pod on
// the node depends on, so what it can cost is bounded: Compile refuses an
// expression over MaxLength bytes or MaxDepth levels deep, a function the
// library does not have or called with the wrong number of arguments, and
// a literal pad width over MaxPadWidth; Search charges what it allocates
// to a Budget and stops when it is spent, and writes a result as JSON only
// up to MaxResultBytes, stopping there rather than building the whole text.
package jmes

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jmespath-community/go-jmespath/pkg/parsing"
)

const (
	// MaxLength is the longest expression, in bytes.
	MaxLength = 1024
	// MaxDepth is how deep an expression may nest.
	MaxDepth = 128
	// MaxResultBytes is the longest result: the provider's response limit
	// (provider.MaxResponseBytes), which no file can pass anyway.
	MaxResultBytes = 3 << 20
)

// Expr is a compiled expression. It is safe for concurrent use.
type Expr struct {
	text string
	ast  parsing.ASTNode
}

// Compile compiles a JMESPath expression. Its error says where the syntax
// breaks and how keys with '-' or other characters are written, or what
// was refused and what to write instead.
func Compile(text string) (*Expr, error) {
	if len(text) > MaxLength {
		return nil, fmt.Errorf("is %d bytes long; a jmesPath path may be at most %d: select the value with a shorter path", len(text), MaxLength)
	}
	ast, err := parsing.NewParser().Parse(text)
	if err != nil {
		var se parsing.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("is not a JMESPath expression (%s at character %d): a key with characters other than letters, digits and _ (such as '-') is written in double quotes, e.g. '\"db-creds\".password'",
				trimSyntax(se.Error()), se.Offset)
		}
		return nil, fmt.Errorf("is not a JMESPath expression (%v)", err)
	}
	if err := check(&ast, 1); err != nil {
		return nil, err
	}
	return &Expr{text: text, ast: ast}, nil
}

func trimSyntax(s string) string { return strings.TrimPrefix(s, "SyntaxError: ") }

// check refuses what the evaluator does not run or cannot bound.
func check(n *parsing.ASTNode, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("nests more than %d levels deep: select the value with a simpler path", MaxDepth)
	}
	switch n.NodeType {
	case parsing.ASTFunctionExpression:
		if err := checkCall(n); err != nil {
			return err
		}
	case parsing.ASTLetExpression:
		for _, b := range n.Children[0].Children {
			if b.NodeType != parsing.ASTBinding || len(b.Children) != 2 || b.Children[0].NodeType != parsing.ASTVariable {
				return errors.New("is not a JMESPath expression (let binds variables as let $name = expression, ... in expression)")
			}
			if err := check(&b.Children[1], depth+1); err != nil {
				return err
			}
		}
		return check(&n.Children[1], depth+1)
	case parsing.ASTBinding, parsing.ASTBindings:
		return errors.New("is not a JMESPath expression (a variable is assigned only in let $name = expression in expression)")
	case parsing.ASTSlice:
		if p := n.Value.([]*int); len(p) > 2 && p[2] != nil && *p[2] == 0 {
			return errors.New("slices with a step of 0: write a step other than 0, e.g. [::1]")
		}
	case parsing.ASTEmpty:
		return errors.New("is not a JMESPath expression")
	}
	for i := range n.Children {
		if err := check(&n.Children[i], depth+1); err != nil {
			return err
		}
	}
	return nil
}

// String is the expression as written.
func (e *Expr) String() string { return e.text }

// ErrNotJSON means the document searched is not JSON.
var ErrNotJSON = errors.New("the value is not a JSON document")

// ErrNoMatch means the expression selects nothing (or null).
var ErrNoMatch = errors.New("the expression selects nothing (no such key, or null)")

// ErrBudget means evaluating the expression on the value would allocate
// more than Budget.
var ErrBudget = fmt.Errorf("evaluating the expression on this value would use more than %d MiB, a jmesPath's limit: select the value by its keys and indexes rather than building a larger one", Budget>>20)

// ErrTooLarge means the result is longer than MaxResultBytes.
var ErrTooLarge = fmt.Errorf("the result would be over %d MiB, the most a Mount can return: select a smaller part of the value", MaxResultBytes>>20)

// Doc is a parsed JSON document, shared by the expressions searched in it.
// A search never changes it.
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
// result's compact JSON text. It allocates about Budget at most for the
// evaluation, and MaxResultBytes for the result.
func (e *Expr) Search(d *Doc) (out []byte, err error) {
	defer func() {
		// A panic in the library's functions on a tenant's value must
		// not take the provider, and every pod on the node, down.
		if r := recover(); r != nil {
			out, err = nil, errors.New("the expression fails on this value")
		}
	}()
	ev := evaluator{root: d.v, left: Budget}
	got, err := ev.eval(&e.ast, d.v, nil)
	if err != nil {
		var te tenantError
		switch {
		case errors.Is(err, errBudget):
			return nil, ErrBudget
		case errors.As(err, &te):
			return nil, fmt.Errorf("the expression fails on this value: %v", te)
		}
		// A runtime error from the library's functions: its text can
		// hold the argument, a value: not kept.
		return nil, errors.New("the expression fails on this value: a function was given an argument it does not take")
	}
	switch v := got.(type) {
	case nil:
		if strings.Contains(e.text, "-") && !strings.Contains(e.text, `"`) {
			// a-b is a subtraction in JMESPath, not the key "a-b".
			return nil, fmt.Errorf("%w: a key with '-' is written in double quotes, e.g. '\"db-creds\".password'", ErrNoMatch)
		}
		return nil, ErrNoMatch
	case string:
		if len(v) > MaxResultBytes {
			return nil, ErrTooLarge
		}
		return []byte(v), nil
	}
	b, err := encode(got, MaxResultBytes, false, &ev.keys, ev.charge)
	switch {
	case errors.Is(err, errBudget):
		return nil, ErrBudget
	case errors.Is(err, errTooLarge):
		return nil, ErrTooLarge
	case err != nil:
		return nil, fmt.Errorf("the result cannot be written as JSON: %v", err)
	}
	return b, nil
}
