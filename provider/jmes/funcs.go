package jmes

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/jmespath-community/go-jmespath/pkg/functions"
	"github.com/jmespath-community/go-jmespath/pkg/parsing"
)

// MaxPadWidth is the widest pad_left and pad_right may pad a string to.
const MaxPadWidth = 4096

type expRef = functions.ExpRef

// tenantError is a runtime error whose text holds no value and may be
// shown to the tenant as it is.
type tenantError string

func (e tenantError) Error() string { return string(e) }

const errWrongType = tenantError("a function was given an argument of the wrong type")

// function is one of the library's functions, run by the evaluator: run
// charges what the call allocates, then calls the library's handler or
// does the work itself where the handler cannot be bounded, panics, or
// changes its argument.
type function struct {
	args []functions.ArgSpec
	run  func(ev *evaluator, args []any, handler functions.JpFunction) (any, error)
	lib  functions.JpFunction
}

var library = func() map[string]*function {
	fs := map[string]*function{}
	for _, f := range functions.GetDefaultFunctions() {
		fs[f.Name] = &function{args: f.Arguments, lib: f.Handler, run: runFree}
	}
	set := func(run func(*evaluator, []any, functions.JpFunction) (any, error), names ...string) {
		for _, n := range names {
			fs[n].run = run
		}
	}
	set(runArrayCopy(2), "avg", "sum", "map")
	set(runArrayCopy(3), "max", "min")
	set(runArrayCopy(4), "sort") // and a box per element
	set(runPad, "pad_left", "pad_right")
	set(runReplace, "replace")
	set(runSplit, "split")
	set(runJoin, "join")
	set(runCase, "lower", "upper")
	set(runReverse, "reverse")
	set(runSortBy, "sort_by")
	set(runGroupBy, "group_by")
	set(runFromItems, "from_items")
	set(runMerge, "merge")
	set(runZip, "zip")
	set(runToArray, "to_array")
	set(runToNumber, "to_number")
	set(runToString, "to_string")
	set(runContains, "contains")
	set(runFind(strings.Index), "find_first")
	set(runFind(strings.LastIndex), "find_last")
	set(runKeys, "keys")
	set(runValues, "values")
	set(runItems, "items")
	return fs
}()

// checkCall refuses at compile time a call to a function the library does
// not have, or with a number of arguments it does not take.
func checkCall(n *parsing.ASTNode) error {
	name := n.Value.(string)
	f, ok := library[name]
	if !ok {
		return fmt.Errorf("calls %s(), which is not a JMESPath function", name)
	}
	min, max := 0, 0
	for _, a := range f.args {
		if !a.Optional {
			min++
		}
		max++
		if a.Variadic {
			max = math.MaxInt
		}
	}
	if got := len(n.Children); got < min || got > max {
		if max == math.MaxInt {
			return fmt.Errorf("calls %s() with %d arguments; it takes at least %d", name, got, min)
		}
		if min == max {
			return fmt.Errorf("calls %s() with %d arguments; it takes %d", name, got, min)
		}
		return fmt.Errorf("calls %s() with %d arguments; it takes %d to %d", name, got, min, max)
	}
	if name == "pad_left" || name == "pad_right" {
		w := n.Children[1]
		if w.NodeType == parsing.ASTLiteral {
			if f, ok := w.Value.(float64); ok && f > MaxPadWidth {
				return fmt.Errorf("pads to a width of %.0f; %s() pads to at most %d characters: pad to a smaller width", f, name, MaxPadWidth)
			}
		}
	}
	return nil
}

func (ev *evaluator) call(n *parsing.ASTNode, v any, sc *scope) (any, error) {
	f := library[n.Value.(string)]
	if err := ev.charge(costSlice + costElem*len(n.Children)); err != nil {
		return nil, err
	}
	args := make([]any, len(n.Children))
	for i := range n.Children {
		got, err := ev.eval(&n.Children[i], v, sc)
		if err != nil {
			return nil, err
		}
		args[i] = got
	}
	for i, a := range args {
		spec := f.args[min(i, len(f.args)-1)]
		if ok, err := ev.typeOK(spec.Types, a); err != nil || !ok {
			if err == nil {
				err = errWrongType
			}
			return nil, err
		}
	}
	return f.run(ev, args, f.lib)
}

// typeOK is whether a is of one of the types; it charges for the elements
// of an array it reads.
func (ev *evaluator) typeOK(types []functions.JpType, a any) (bool, error) {
	for _, t := range types {
		switch t {
		case functions.JpAny:
			return true, nil
		case functions.JpNumber:
			if _, ok := a.(float64); ok {
				return true, nil
			}
		case functions.JpString:
			if _, ok := a.(string); ok {
				return true, nil
			}
		case functions.JpObject:
			if _, ok := a.(map[string]any); ok {
				return true, nil
			}
		case functions.JpExpref:
			if _, ok := a.(expRef); ok {
				return true, nil
			}
		case functions.JpArray, functions.JpArrayArray:
			if _, ok := a.([]any); ok {
				return true, nil
			}
		case functions.JpArrayNumber, functions.JpArrayString:
			arr, ok := a.([]any)
			if !ok {
				continue
			}
			if err := ev.charge(len(arr)); err != nil {
				return false, err
			}
			all := true
			for _, e := range arr {
				switch e.(type) {
				case float64:
					all = all && t == functions.JpArrayNumber
				case string:
					all = all && t == functions.JpArrayString
				default:
					all = false
				}
			}
			if all {
				return true, nil
			}
		}
	}
	return false, nil
}

// runFree calls a handler that allocates nothing that grows with its
// arguments.
func runFree(_ *evaluator, args []any, h functions.JpFunction) (any, error) { return h(args) }

// runArrayCopy calls a handler that makes up to copies copies of its first
// array argument.
func runArrayCopy(copies int) func(*evaluator, []any, functions.JpFunction) (any, error) {
	return func(ev *evaluator, args []any, h functions.JpFunction) (any, error) {
		n := 0
		for _, a := range args {
			if arr, ok := a.([]any); ok {
				n += len(arr)
			}
		}
		if err := ev.charge(copies * (costSlice + costElem*n)); err != nil {
			return nil, err
		}
		return h(args)
	}
}

func runPad(ev *evaluator, args []any, h functions.JpFunction) (any, error) {
	w := args[1].(float64)
	if w > MaxPadWidth {
		return nil, tenantError(fmt.Sprintf("pad_left() and pad_right() pad to at most %d characters", MaxPadWidth))
	}
	// The padding, fmt's buffer and the result.
	if err := ev.charge(costSlice + 3*(max(int(max(w, 0)), 0)+len(args[0].(string)))); err != nil {
		return nil, err
	}
	return h(args)
}

func runReplace(ev *evaluator, args []any, h functions.JpFunction) (any, error) {
	s, old, repl := args[0].(string), args[1].(string), args[2].(string)
	n := strings.Count(s, old)
	if len(args) > 3 {
		if c, ok := args[3].(float64); ok && c >= 0 && c < float64(n) {
			n = int(c)
		}
	}
	if err := ev.charge(len(s)/8 + costSlice); err != nil { // the count
		return nil, err
	}
	if err := ev.charge(costSlice + len(s) + n*len(repl)); err != nil {
		return nil, err
	}
	return h(args)
}

func runSplit(ev *evaluator, args []any, h functions.JpFunction) (any, error) {
	s, sep := args[0].(string), args[1].(string)
	n := strings.Count(s, sep) + 1 // one more than the runes when sep is ""
	if err := ev.charge(len(s)/8 + costSlice); err != nil {
		return nil, err
	}
	// strings.SplitN's []string, the result appended to, and a box per
	// piece.
	if err := ev.charge(3*costSlice + (2*costElem+costGrown)*n); err != nil {
		return nil, err
	}
	return h(args)
}

func runJoin(ev *evaluator, args []any, h functions.JpFunction) (any, error) {
	sep, arr := args[0].(string), args[1].([]any)
	size := len(sep) * len(arr)
	for _, e := range arr {
		size += len(e.(string))
	}
	if err := ev.charge(2*costSlice + costGrown*len(arr) + size); err != nil {
		return nil, err
	}
	return h(args)
}

func runCase(ev *evaluator, args []any, h functions.JpFunction) (any, error) {
	// A byte that is not UTF-8 becomes U+FFFD, 3 bytes.
	if err := ev.charge(costSlice + 3*len(args[0].(string))); err != nil {
		return nil, err
	}
	return h(args)
}

func runReverse(ev *evaluator, args []any, h functions.JpFunction) (any, error) {
	switch a := args[0].(type) {
	case string:
		// The runes, then the string: a byte that is not UTF-8 becomes 3.
		if err := ev.charge(2*costSlice + 4*utf8.RuneCountInString(a) + 3*len(a)); err != nil {
			return nil, err
		}
	case []any:
		if err := ev.charge(costSlice + costElem*len(a)); err != nil {
			return nil, err
		}
	}
	return h(args)
}

// runSortBy sorts a copy: the library sorts its argument in place, which
// would reorder the document for the expressions searched after it.
func runSortBy(ev *evaluator, args []any, h functions.JpFunction) (any, error) {
	arr := args[0].([]any)
	// The copy, and the keys appended to.
	if err := ev.charge(2*costSlice + (costElem+costGrown)*len(arr) + costEntry); err != nil {
		return nil, err
	}
	return h([]any{append([]any(nil), arr...), args[1]})
}

func runGroupBy(ev *evaluator, args []any, h functions.JpFunction) (any, error) {
	arr := args[0].([]any)
	// An entry per group, and each group's array appended to.
	if err := ev.charge(costMap + (costEntryGrown+2*costSlice+costGrown)*len(arr)); err != nil {
		return nil, err
	}
	return h(args)
}

func runFromItems(ev *evaluator, args []any, h functions.JpFunction) (any, error) {
	arr := args[0].([]any)
	// util.ToArrayArray appends the pairs ([]any headers, 24 bytes), then
	// the object.
	if err := ev.charge(costSlice + costMap + (costGrown*24/16+costEntryGrown)*len(arr)); err != nil {
		return nil, err
	}
	return h(args)
}

func runMerge(ev *evaluator, args []any, h functions.JpFunction) (any, error) {
	n := 0
	for _, a := range args {
		n += len(a.(map[string]any))
	}
	if err := ev.charge(costMap + costEntryGrown*n); err != nil {
		return nil, err
	}
	return h(args)
}

func runZip(ev *evaluator, args []any, h functions.JpFunction) (any, error) {
	count := math.MaxInt
	for _, a := range args {
		count = min(count, len(a.([]any)))
	}
	// Each tuple appended to, and the result appended to.
	per := 2*costSlice + costGrown*len(args) + costGrown
	if count > 0 && per > (ev.left+1)/count {
		return nil, ev.charge(ev.left + 1)
	}
	if err := ev.charge(costSlice + count*per); err != nil {
		return nil, err
	}
	return h(args)
}

func runToArray(ev *evaluator, args []any, h functions.JpFunction) (any, error) {
	if err := ev.charge(costSlice + costElem); err != nil {
		return nil, err
	}
	return h(args)
}

func runToNumber(ev *evaluator, args []any, h functions.JpFunction) (any, error) {
	if s, ok := args[0].(string); ok {
		// strconv's error holds a copy of the string.
		if err := ev.charge(costEntry + len(s)); err != nil {
			return nil, err
		}
	}
	return h(args)
}

// runToString encodes with the bounded encoder: the library's
// json.Marshal would write out the whole value, however often a search
// has repeated a part of the document in it.
func runToString(ev *evaluator, args []any, _ functions.JpFunction) (any, error) {
	if s, ok := args[0].(string); ok {
		return s, nil
	}
	b, err := encode(args[0], ev.left/2, true, &ev.keys, ev.charge)
	if errors.Is(err, errTooLarge) {
		return nil, ev.charge(ev.left + 1)
	}
	if err != nil {
		return nil, err
	}
	return string(b), ev.charge(2 * len(b))
}

// runContains compares as == does: the library compares with Go's ==,
// which panics on two arrays or two objects.
func runContains(ev *evaluator, args []any, _ functions.JpFunction) (any, error) {
	if s, ok := args[0].(string); ok {
		sub, ok := args[1].(string)
		if !ok {
			return false, nil
		}
		if err := ev.charge(len(s) / 8); err != nil {
			return nil, err
		}
		return strings.Contains(s, sub), nil
	}
	for _, e := range args[0].([]any) {
		eq, err := ev.equal(e, args[1])
		if err != nil || eq {
			return eq, err
		}
	}
	return false, nil
}

// runFind finds the byte offset itself: the library slices the string
// with start and end unchecked (a start past the end, or an end of 1e300,
// panics).
func runFind(find func(s, sub string) int) func(*evaluator, []any, functions.JpFunction) (any, error) {
	return func(ev *evaluator, args []any, _ functions.JpFunction) (any, error) {
		return findIn(ev, args, find)
	}
}

func findIn(ev *evaluator, args []any, find func(s, sub string) int) (any, error) {
	s, sub := args[0].(string), args[1].(string)
	if err := ev.charge(len(s) / 8); err != nil {
		return nil, err
	}
	start, end := 0.0, float64(len(s))
	for i, p := range []*float64{&start, &end} {
		if len(args) > 2+i {
			*p = args[2+i].(float64)
			if math.Floor(*p) != *p {
				return nil, tenantError("find_first() and find_last() take whole numbers for start and end")
			}
		}
	}
	start, end = max(start, 0), min(end, float64(len(s)))
	if s == "" || sub == "" || start > end {
		return nil, nil
	}
	at := find(s[int(start):int(end)], sub)
	if at < 0 {
		return nil, nil
	}
	return float64(int(start) + at), nil
}

func runKeys(ev *evaluator, args []any, _ functions.JpFunction) (any, error) {
	m := args[0].(map[string]any)
	ks, err := ev.sortedKeys(m)
	if err != nil {
		return nil, err
	}
	// The result, and a box per key.
	if err := ev.charge(costSlice + 2*costElem*len(ks)); err != nil {
		return nil, err
	}
	out := make([]any, len(ks))
	for i, k := range ks {
		out[i] = k
	}
	return out, nil
}

func runValues(ev *evaluator, args []any, _ functions.JpFunction) (any, error) {
	m := args[0].(map[string]any)
	ks, err := ev.sortedKeys(m)
	if err != nil {
		return nil, err
	}
	if err := ev.charge(costSlice + costElem*len(ks)); err != nil {
		return nil, err
	}
	out := make([]any, len(ks))
	for i, k := range ks {
		out[i] = m[k]
	}
	return out, nil
}

func runItems(ev *evaluator, args []any, _ functions.JpFunction) (any, error) {
	m := args[0].(map[string]any)
	ks, err := ev.sortedKeys(m)
	if err != nil {
		return nil, err
	}
	// The result, and a pair and its key's box per key.
	if err := ev.charge(costSlice + len(ks)*(costElem+2*costSlice+2*costElem+costElem)); err != nil {
		return nil, err
	}
	out := make([]any, len(ks))
	for i, k := range ks {
		out[i] = []any{k, m[k]}
	}
	return out, nil
}
