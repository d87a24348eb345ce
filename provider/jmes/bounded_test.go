package jmes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// searchBound is what a Search that returned out may allocate: the
// Budget, the result, and 512 KiB of slack (the error's text, the
// runtime's own).
func searchBound(out []byte) uint64 { return Budget + uint64(len(out)) + 512<<10 }

// allocated is the bytes f allocates on the heap (the test runs it on one
// goroutine, with nothing else running).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// bigDoc is a document of nearly 64 KiB, the most Secrets Manager stores:
// a long string, a long array, an object of many keys, and value at k and
// n.k.
func bigDoc(value string) []byte {
	doc := map[string]any{"k": value, "n": map[string]any{"k": value, "w": 200000000}}
	doc["s"] = strings.Repeat("ab", 6000)
	a := make([]any, 8000)
	for i := range a {
		a[i] = i % 10
	}
	doc["a"] = a
	o := map[string]any{}
	for i := range 1500 {
		o[fmt.Sprintf("k%d", i)] = i % 10
	}
	doc["o"] = o
	raw, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	if len(raw) > 64<<10 {
		panic(fmt.Sprintf("bigDoc is %d bytes", len(raw)))
	}
	return raw
}

func doubling(stages int) string {
	return "@" + strings.Repeat(" | [@,@]", stages)
}

// TestIssueExploitsAreCheap: the two expressions of the issue, which made
// the provider allocate 862 MiB, are refused at Compile or stopped within
// the bound, and so is every other way to grow a value found.
func TestIssueExploitsAreCheap(t *testing.T) {
	_, err := Compile("pad_left('', `200000000`)")
	if err == nil || !strings.Contains(err.Error(), "pads to a width of 200000000; pad_left() pads to at most 4096 characters") {
		t.Errorf("Compile(pad_left('', `200000000`)) = %v, want a refusal naming the width and the limit", err)
	}
	d, err := Parse(bigDoc("s3cret-value"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       error
	}{
		{"16 doublings of the document", doubling(16), ErrTooLarge},
		{"60 doublings of the document", doubling(60), ErrTooLarge},
		{"pad width from the value", "pad_left('', n.w)", nil},
		{"pad in a projection", "a[*].pad_left(to_string(@), `4096`)", ErrBudget},
		{"root in nested projections", "a[*].map(&$.a, $.a)", ErrBudget},
		{"variable in nested projections", "let $d = @ in a[*].map(&[$d.o], $d.a)", ErrBudget},
		{"to_string of the doublings", "to_string(" + doubling(16) + ")", ErrBudget},
		{"length of to_string of the doublings", "length(to_string(" + doubling(40) + "))", ErrBudget},
		{"flattening the doublings", "a" + strings.Repeat(" | [@,@,@,@]", 12) + strings.Repeat("[]", 12), ErrBudget},
		{"projecting the doublings", "a" + strings.Repeat(" | [@,@,@,@]", 12) + strings.Repeat("[*]", 12), ErrBudget},
		{"comparing the doublings", "(" + doubling(40) + ") == (" + doubling(40) + ")", ErrBudget},
		{"replace every character with the string", "replace(s, '', s)", ErrBudget},
		{"join the doublings", "join(s, [s,s,s,s] | [@,@,@,@][] | [@,@,@,@][] | [@,@,@,@][] | [@,@,@,@][] | [@,@,@,@][])", ErrBudget},
		{"split every character", "a[*].split($.s, '')", ErrBudget},
		{"sort_by the array in a projection", "a[*].sort_by($.a, &@)", ErrBudget},
		{"items of the object in a projection", "a[*].items($.o)", ErrBudget},
		{"zip in a projection", "a[*].zip($.a, $.a)", ErrBudget},
		{"multiselect hash doublings", "@" + strings.Repeat(" | {a: @, b: @}", 30), ErrTooLarge},
		{"upper of the doubled string", "upper(join('', [s,s] | [@,@][] | [@,@][] | [@,@][] | [@,@][] | [@,@][] | [@,@][] | [@,@][]))", ErrBudget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Compile(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			var out []byte
			n := allocated(func() { out, err = e.Search(d) })
			if n > searchBound(out) {
				t.Errorf("Search(%s) allocated %d bytes, over %d", tt.path, n, searchBound(out))
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Search(%s) = %d bytes, %v; want %v", tt.path, len(out), err, tt.want)
			}
			if tt.want == nil && err == nil {
				t.Errorf("Search(%s) succeeded", tt.path)
			}
			t.Logf("%s: %d bytes allocated: %v", tt.path, n, err)
		})
	}
}

func TestCompileRefusesWhatCannotBeBounded(t *testing.T) {
	tests := []struct{ path, want string }{
		{"pad_right(s, `1e9`)", "pads to a width of 1000000000; pad_right() pads to at most 4096 characters: pad to a smaller width"},
		{strings.Repeat("a.", 600) + "a", "is 1201 bytes long; a jmesPath path may be at most 1024: select the value with a shorter path"},
		{strings.Repeat("-", 200) + "a", "nests more than 128 levels deep"},
		{"repeat(s, `100`)", "calls repeat(), which is not a JMESPath function"},
		{"length(a, b)", "calls length() with 2 arguments; it takes 1"},
		{"join(',')", "calls join() with 1 arguments; it takes 2"},
		{"merge()", "calls merge() with 0 arguments; it takes at least 1"},
		{"a[::0]", "slices with a step of 0"},
		{"let $x in $x", "let binds variables as let $name = expression"},
		{"$x = a", "a variable is assigned only in let"},
	}
	for _, tt := range tests {
		_, err := Compile(tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%.40s) = %v, want %q", tt.path, err, tt.want)
		}
	}
	for _, ok := range []string{"pad_left(port, `4096`, '0')", strings.Repeat("a.", 100) + "a", "let $x = a in $x", "a[::-1]"} {
		if _, err := Compile(ok); err != nil {
			t.Errorf("Compile(%.40s): %v", ok, err)
		}
	}
}

// TestSearchLegitimate: what tenants write still works within the bound,
// on a document of nearly 64 KiB.
func TestSearchLegitimate(t *testing.T) {
	raw := bigDoc("s3cret")
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["database-type"] = "postgres"
	m["creds"] = []any{map[string]any{"name": "app", "pw": "p1"}, map[string]any{"name": "ro", "pw": "p2"}}
	raw, _ = json.Marshal(m)
	d, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ path, want string }{
		{`"database-type"`, "postgres"},
		{"n.k", "s3cret"},
		{"n", `{"k":"s3cret","w":200000000}`},
		{"creds[?name=='ro'].pw | [0]", "p2"},
		{"creds[*].name", `["app","ro"]`},
		{"{user: creds[0].name, type: \"database-type\"}", `{"type":"postgres","user":"app"}`},
		{"length(a)", "8000"},
		{"a[:3]", "[0,1,2]"},
		{"sum(a)", "36000"},
		{"keys(n)", `["k","w"]`},
		{"values(n)", `["s3cret",200000000]`},
		{"n.*", `["s3cret",200000000]`},
		{"items(n)", `[["k","s3cret"],["w",200000000]]`},
		{"to_string(n)", `{"k":"s3cret","w":200000000}`},
		{"pad_left(to_string(length(creds)), `4`, '0')", "0002"},
		{"sort_by(creds, &name)[-1].name", "ro"},
		{"contains(creds, {name: 'app', pw: 'p1'})", "true"},
		{"find_first(n.k, 'c', `10`)", ""},
		{"join(',', creds[*].name)", "app,ro"},
		{"length(to_string(@))", fmt.Sprint(len(raw))},
		{"@", string(raw)},
	}
	for _, tt := range tests {
		e, err := Compile(tt.path)
		if err != nil {
			t.Fatalf("Compile(%s): %v", tt.path, err)
		}
		var got []byte
		n := allocated(func() { got, err = e.Search(d) })
		if tt.want == "" {
			if !errors.Is(err, ErrNoMatch) {
				t.Errorf("Search(%s) = %q, %v; want no match", tt.path, got, err)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("Search(%s) = %.80q, %v; want %.80q", tt.path, got, err, tt.want)
		}
		if n > searchBound(got) {
			t.Errorf("Search(%s) allocated %d bytes", tt.path, n)
		}
	}
}

// TestSearchLeavesTheDocument: sort_by sorts a copy; the library sorted
// the document's array in place, under the next expression searched.
func TestSearchLeavesTheDocument(t *testing.T) {
	d, err := Parse([]byte(`{"a":[{"n":3},{"n":1},{"n":2}]}`))
	if err != nil {
		t.Fatal(err)
	}
	sorted, _ := Compile("sort_by(a, &n)[*].n")
	first, _ := Compile("a[0].n")
	if got, err := sorted.Search(d); err != nil || string(got) != "[1,2,3]" {
		t.Fatalf("sort_by = %s, %v", got, err)
	}
	if got, err := first.Search(d); err != nil || string(got) != "3" {
		t.Errorf("a[0].n after sort_by = %s, %v; want 3, the document as stored", got, err)
	}
}

// TestSearchNoPanic: values on which the library's functions panicked,
// taking the provider down, are answered.
func TestSearchNoPanic(t *testing.T) {
	d, err := Parse([]byte(`{"a":[[1],{"k":1}],"s":"abc"}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ path, want string }{
		{"contains(a, `[1]`)", "true"},
		{"contains(a, {k: `1`})", "true"},
		{"contains(a, `[2]`)", "false"},
		{"find_first(s, 'b', `10`) || 'none'", "none"},
		{"find_last(s, 'b', `2`, `1`) || 'none'", "none"},
		{"find_first(s, 'b', `0`, `-1`) || 'none'", "none"},
		{"find_first(s, 'c', `1`)", "2"},
		{"find_first(s, 'a', `0`, `1e300`)", "0"},
		{"find_last(s, 'b', `-3`, `1e300`)", "1"},
	}
	for _, tt := range tests {
		e, err := Compile(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := e.Search(d); err != nil || string(got) != tt.want {
			t.Errorf("Search(%s) = %s, %v; want %s", tt.path, got, err, tt.want)
		}
	}
}

// FuzzEncode: the bounded encoder writes what encoding/json writes.
func FuzzEncode(f *testing.F) {
	f.Add(`{"a":[1,2.5,-0,1e21,1e-7,123456789012345678],"<&>":"\u2028\u0007\b\f\n\r\t\"\\ é","z":null,"t":true}`)
	f.Add(`"\xff\xfe"`)
	f.Fuzz(func(t *testing.T, raw string) {
		var v any
		if json.Unmarshal([]byte(raw), &v) != nil {
			return
		}
		var keys keyCache
		got, err := encode(v, MaxResultBytes, false, &keys, nil)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		if string(got) != strings.TrimSuffix(want.String(), "\n") {
			t.Errorf("encode = %s, encoding/json = %s", got, want.String())
		}
		html, err := encode(v, MaxResultBytes, true, &keys, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := json.Marshal(v); string(html) != string(want) {
			t.Errorf("encode(html) = %s, json.Marshal = %s", html, want)
		}
		if len(got) > 0 {
			if _, err := encode(v, len(got)-1, false, &keys, nil); !errors.Is(err, errTooLarge) {
				t.Errorf("encode with a limit 1 byte short = %v, want errTooLarge", err)
			}
		}
	})
}
