package jmes

import (
	"errors"
	"math"
	"reflect"
	"sort"
	"unicode/utf8"

	"github.com/jmespath-community/go-jmespath/pkg/parsing"
	"github.com/jmespath-community/go-jmespath/pkg/util"
)

// Evaluation is metered: every value the search builds, every node it
// visits and every element a function reads is charged to a budget before
// the work is done, and the search stops with errBudget when the budget is
// spent. The charges are upper bounds of the bytes the Go runtime allocates
// for the work (FuzzSearchBounded measures them), so no expression, however
// it nests pipes, projections, multiselects or functions, can make one
// search allocate much more than Budget, whatever the document.

// Budget is what one search may spend, in bytes allocated (and node visits,
// charged as bytes, so that a search that allocates nothing still ends).
const Budget = 2 << 20

// Charges, in bytes, for what the search does.
const (
	costVisit = 16 // an AST node evaluated, a value compared or encoded
	costElem  = 16 // an element of an array the search builds ([]any)
	costSlice = 32 // an array's header and allocation rounding
	// An object the search builds (map[string]any): up to 8 entries fit in
	// the map's first group of slots, 32 bytes each; a larger map holds
	// a power of two of slots, 7/8 full at most.
	costMap   = 384
	costEntry = 80
	// An entry of an object built without knowing its size: the map's
	// tables double as it grows.
	costEntryGrown = 2 * costEntry
	// An element of an array the library builds by appending to an empty
	// one: append doubles the capacity, then grows it by a quarter, so
	// the arrays it leaves behind come to up to 5 times the last one.
	costGrown = 6 * costElem
)

// errBudget is the error of a search that would spend more than Budget.
var errBudget = errors.New("budget")

// evaluator evaluates one search. It is not shared between searches.
type evaluator struct {
	root any
	left int
	keys keyCache
}

// charge takes n bytes from the budget, and a quarter more: the Go
// runtime rounds an allocation up to its size class (or, from 32 KiB, to
// its pages), which wastes up to a quarter of it.
func (ev *evaluator) charge(n int) error {
	n += n >> 2
	if n < 0 || n > ev.left {
		ev.left = -1
		return errBudget
	}
	ev.left -= n
	return nil
}

// scope is the variables a let expression binds, innermost first.
type scope struct {
	name  string
	value any
	up    *scope
}

func (s *scope) get(name string) (any, bool) {
	for ; s != nil; s = s.up {
		if s.name == name {
			return s.value, true
		}
	}
	return nil, false
}

// swallow is how the library treats an error on the left of a filter,
// flatten or value projection: as null. Running out of budget is never
// swallowed.
func swallow(err error) error {
	if errors.Is(err, errBudget) {
		return err
	}
	return nil
}

func (ev *evaluator) eval(n *parsing.ASTNode, v any, sc *scope) (any, error) {
	if err := ev.charge(costVisit); err != nil {
		return nil, err
	}
	switch n.NodeType {
	case parsing.ASTIdentity, parsing.ASTCurrentNode:
		return v, nil
	case parsing.ASTRootNode:
		return ev.root, nil
	case parsing.ASTLiteral:
		return n.Value, nil
	case parsing.ASTVariable:
		got, ok := sc.get(n.Value.(string))
		if !ok {
			return nil, errors.New("variable not defined")
		}
		return got, nil
	case parsing.ASTField:
		if m, ok := v.(map[string]any); ok {
			return m[n.Value.(string)], nil
		}
		return nil, nil
	case parsing.ASTIndex:
		a, ok := v.([]any)
		if !ok {
			return nil, nil
		}
		i := n.Value.(int)
		if i < 0 {
			i += len(a)
		}
		if i < 0 || i >= len(a) {
			return nil, nil
		}
		return a[i], nil
	case parsing.ASTSlice:
		return ev.slice(n, v)
	case parsing.ASTSubexpression, parsing.ASTIndexExpression:
		left, err := ev.eval(&n.Children[0], v, sc)
		if err != nil || left == nil {
			return nil, err
		}
		return ev.eval(&n.Children[1], left, sc)
	case parsing.ASTPipe:
		left, err := ev.eval(&n.Children[0], v, sc)
		if err != nil {
			return nil, err
		}
		return ev.eval(&n.Children[1], left, sc)
	case parsing.ASTProjection:
		left, err := ev.eval(&n.Children[0], v, sc)
		if err != nil {
			return nil, err
		}
		a, ok := left.([]any)
		if !ok {
			first := n.Children[0]
			if s, isString := left.(string); isString && first.NodeType == parsing.ASTIndexExpression &&
				len(first.Children) > 1 && first.Children[1].NodeType == parsing.ASTSlice {
				return s, nil // a slice of a string
			}
			return nil, nil
		}
		return ev.project(a, &n.Children[1], nil, sc)
	case parsing.ASTFilterProjection:
		left, err := ev.eval(&n.Children[0], v, sc)
		if err != nil {
			return nil, swallow(err)
		}
		a, ok := left.([]any)
		if !ok {
			return nil, nil
		}
		return ev.project(a, &n.Children[1], &n.Children[2], sc)
	case parsing.ASTValueProjection:
		left, err := ev.eval(&n.Children[0], v, sc)
		if err != nil {
			return nil, swallow(err)
		}
		m, ok := left.(map[string]any)
		if !ok {
			return nil, nil
		}
		keys, err := ev.sortedKeys(m)
		if err != nil {
			return nil, err
		}
		if err := ev.charge(costSlice + costElem*len(m)); err != nil {
			return nil, err
		}
		values := make([]any, len(keys))
		for i, k := range keys {
			values[i] = m[k]
		}
		return ev.project(values, &n.Children[1], nil, sc)
	case parsing.ASTFlatten:
		left, err := ev.eval(&n.Children[0], v, sc)
		if err != nil {
			return nil, swallow(err)
		}
		a, ok := left.([]any)
		if !ok {
			return nil, nil
		}
		size := 0
		for _, e := range a {
			if inner, ok := e.([]any); ok {
				size += len(inner)
			} else {
				size++
			}
		}
		if err := ev.charge(costSlice + costElem*size); err != nil {
			return nil, err
		}
		out := make([]any, 0, size)
		for _, e := range a {
			if inner, ok := e.([]any); ok {
				out = append(out, inner...)
			} else {
				out = append(out, e)
			}
		}
		return out, nil
	case parsing.ASTMultiSelectList:
		if err := ev.charge(costSlice + costElem*len(n.Children)); err != nil {
			return nil, err
		}
		out := make([]any, len(n.Children))
		for i := range n.Children {
			got, err := ev.eval(&n.Children[i], v, sc)
			if err != nil {
				return nil, err
			}
			out[i] = got
		}
		return out, nil
	case parsing.ASTMultiSelectHash:
		if err := ev.charge(costMap + costEntry*len(n.Children)); err != nil {
			return nil, err
		}
		out := make(map[string]any, len(n.Children))
		for i := range n.Children {
			got, err := ev.eval(&n.Children[i].Children[0], v, sc)
			if err != nil {
				return nil, err
			}
			out[n.Children[i].Value.(string)] = got
		}
		return out, nil
	case parsing.ASTOrExpression:
		left, err := ev.eval(&n.Children[0], v, sc)
		if err != nil || !isFalse(left) {
			return left, err
		}
		return ev.eval(&n.Children[1], v, sc)
	case parsing.ASTAndExpression:
		left, err := ev.eval(&n.Children[0], v, sc)
		if err != nil || isFalse(left) {
			return left, err
		}
		return ev.eval(&n.Children[1], v, sc)
	case parsing.ASTNotExpression:
		got, err := ev.eval(&n.Children[0], v, sc)
		if err != nil {
			return nil, err
		}
		return isFalse(got), nil
	case parsing.ASTComparator:
		return ev.compare(n, v, sc)
	case parsing.ASTArithmeticUnaryExpression:
		got, err := ev.eval(&n.Children[0], v, sc)
		if err != nil {
			return nil, err
		}
		f, ok := got.(float64)
		if !ok {
			return nil, nil
		}
		if n.Value == parsing.TOKMinus {
			return -f, nil
		}
		return f, nil
	case parsing.ASTArithmeticExpression:
		return ev.arithmetic(n, v, sc)
	case parsing.ASTLetExpression:
		inner := sc
		for _, b := range n.Children[0].Children {
			// Each binding is evaluated in the scope outside the let.
			got, err := ev.eval(&b.Children[1], v, sc)
			if err != nil {
				return nil, err
			}
			if err := ev.charge(costEntry); err != nil {
				return nil, err
			}
			inner = &scope{name: b.Children[0].Value.(string), value: got, up: inner}
		}
		return ev.eval(&n.Children[1], v, inner)
	case parsing.ASTExpRef:
		if err := ev.charge(costEntry); err != nil {
			return nil, err
		}
		body := &n.Children[0]
		return expRef(func(e any) (any, error) { return ev.eval(body, e, sc) }), nil
	case parsing.ASTFunctionExpression:
		return ev.call(n, v, sc)
	}
	// Compile refuses every other node.
	return nil, errors.New("unsupported expression")
}

// project evaluates then on each element of a that cond (when not nil)
// holds for, and collects the results that are not null.
func (ev *evaluator) project(a []any, then, cond *parsing.ASTNode, sc *scope) (any, error) {
	if err := ev.charge(costSlice + costElem*len(a)); err != nil {
		return nil, err
	}
	out := make([]any, 0, len(a))
	for _, e := range a {
		if cond != nil {
			ok, err := ev.eval(cond, e, sc)
			if err != nil {
				return nil, err
			}
			if isFalse(ok) {
				continue
			}
		}
		got, err := ev.eval(then, e, sc)
		if err != nil {
			return nil, err
		}
		if got != nil {
			out = append(out, got)
		}
	}
	return out, nil
}

func (ev *evaluator) slice(n *parsing.ASTNode, v any) (any, error) {
	params := util.MakeSliceParams(n.Value.([]*int))
	switch v := v.(type) {
	case []any:
		// util.Slice appends to an empty slice.
		if err := ev.charge(2*costSlice + costGrown*len(v)); err != nil {
			return nil, err
		}
		return util.Slice(v, params)
	case string:
		// The runes, the sliced runes appended to, and the string.
		if err := ev.charge(2*costSlice + 4*utf8.RuneCountInString(v) + costGrown/4*utf8.RuneCountInString(v) + 4*len(v)); err != nil {
			return nil, err
		}
		got, err := util.Slice([]rune(v), params)
		if err != nil {
			return nil, nil
		}
		return string(got), nil
	}
	return nil, nil
}

// operands evaluates the two sides of a binary node, left first.
func (ev *evaluator) operands(n *parsing.ASTNode, v any, sc *scope) (left, right any, err error) {
	if left, err = ev.eval(&n.Children[0], v, sc); err != nil {
		return nil, nil, err
	}
	if right, err = ev.eval(&n.Children[1], v, sc); err != nil {
		return nil, nil, err
	}
	return left, right, nil
}

// numbers is both operands as numbers; ok is false unless both are.
func numbers(left, right any) (l, r float64, ok bool) {
	l, okl := left.(float64)
	r, okr := right.(float64)
	return l, r, okl && okr
}

func (ev *evaluator) compare(n *parsing.ASTNode, v any, sc *scope) (any, error) {
	left, right, err := ev.operands(n, v, sc)
	if err != nil {
		return nil, err
	}
	switch n.Value {
	case parsing.TOKEQ, parsing.TOKNE:
		eq, err := ev.equal(left, right)
		if err != nil {
			return nil, err
		}
		return eq == (n.Value == parsing.TOKEQ), nil
	}
	l, r, ok := numbers(left, right)
	if !ok {
		return nil, nil
	}
	switch n.Value {
	case parsing.TOKGT:
		return l > r, nil
	case parsing.TOKGTE:
		return l >= r, nil
	case parsing.TOKLT:
		return l < r, nil
	case parsing.TOKLTE:
		return l <= r, nil
	}
	return nil, nil
}

func (ev *evaluator) arithmetic(n *parsing.ASTNode, v any, sc *scope) (any, error) {
	left, right, err := ev.operands(n, v, sc)
	if err != nil {
		return nil, err
	}
	l, r, ok := numbers(left, right)
	if !ok {
		return nil, nil
	}
	switch n.Value {
	case parsing.TOKPlus:
		return l + r, nil
	case parsing.TOKMinus:
		return l - r, nil
	case parsing.TOKStar, parsing.TOKMultiply:
		return l * r, nil
	case parsing.TOKDivide:
		return l / r, nil
	case parsing.TOKModulo:
		return math.Mod(l, r), nil
	case parsing.TOKDiv:
		return math.Floor(l / r), nil
	}
	return nil, nil
}

// equal is JSON equality, charged per value compared: a value a search
// built can repeat the same part of the document many times over.
func (ev *evaluator) equal(a, b any) (bool, error) {
	if err := ev.charge(costVisit); err != nil {
		return false, err
	}
	switch a := a.(type) {
	case nil:
		return b == nil, nil
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb, nil
	case float64:
		bf, ok := b.(float64)
		return ok && a == bf, nil
	case string:
		bs, ok := b.(string)
		if !ok || len(a) != len(bs) {
			return false, nil
		}
		if err := ev.charge(len(a) / 8); err != nil {
			return false, err
		}
		return a == bs, nil
	case []any:
		ba, ok := b.([]any)
		if !ok || len(a) != len(ba) {
			return false, nil
		}
		for i := range a {
			if eq, err := ev.equal(a[i], ba[i]); err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false, nil
		}
		for k, av := range a {
			bv, ok := bm[k]
			if !ok {
				return false, nil
			}
			if eq, err := ev.equal(av, bv); err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	}
	return false, nil
}

// isFalse is JMESPath's falsiness: null, false, and empty strings, arrays
// and objects.
func isFalse(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// sortedKeys are m's keys in order: a value projection, keys(), values()
// and items() list an object in key order, so that the same value gives
// the same file at every rotation (the library lists them in Go's random
// map order).
func (ev *evaluator) sortedKeys(m map[string]any) ([]string, error) {
	if ks, ok := ev.keys.get(m); ok {
		return ks, nil
	}
	if err := ev.charge(costEntryGrown + costSlice + costElem*len(m) + costVisit*len(m)); err != nil {
		return nil, err
	}
	return ev.keys.sorted(m), nil
}

// keyCache holds the sorted keys of the objects a search or an encoding
// has listed, so that an object the result repeats is sorted once. It
// holds the object too: an object the search dropped cannot be collected
// and another made where it was, under its keys.
type keyCache map[uintptr]listed

type listed struct {
	m    map[string]any
	keys []string
}

// mapID is an object's identity: where its map is.
func mapID(m map[string]any) uintptr { return reflect.ValueOf(m).Pointer() }

func (c *keyCache) get(m map[string]any) ([]string, bool) {
	l, ok := (*c)[mapID(m)]
	return l.keys, ok
}

func (c *keyCache) sorted(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	if *c == nil {
		*c = keyCache{}
	}
	(*c)[mapID(m)] = listed{m: m, keys: ks}
	return ks
}
