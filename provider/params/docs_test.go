package params

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/mddoc"
)

func reference(t *testing.T) *mddoc.Doc {
	t.Helper()
	d, err := mddoc.Load("../../docs/secretproviderclass.md")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// firstColumn returns each row's first-column `code spans`, and the row
// each names.
func firstColumn(section string) map[string][]string {
	out := map[string][]string{}
	for _, r := range mddoc.BodyRows(section) {
		for _, name := range mddoc.CodeSpans(r[0]) {
			out[name] = r
		}
	}
	return out
}

// TestReferenceListsEveryParameter: the Parameters table of
// docs/secretproviderclass.md has a row for every SecretProviderClass
// parameter the parser reads (each Param constant of this package), and
// none it does not.
func TestReferenceListsEveryParameter(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var params []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if strings.HasPrefix(name.Name, "Param") && i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						params = append(params, v)
					}
				}
			}
			return true
		})
	}
	if len(params) < 10 {
		t.Fatalf("found %d Param constants: %q", len(params), params)
	}
	documented := firstColumn(reference(t).MustSection(t, "Parameters"))
	for _, p := range params {
		if _, ok := documented[p]; !ok {
			t.Errorf("docs/secretproviderclass.md's Parameters table has no row for %s", p)
		}
	}
	for p := range documented {
		if !slices.Contains(params, p) {
			t.Errorf("docs/secretproviderclass.md lists the parameter %s, which the parser does not read", p)
		}
	}
}

// TestReferenceListsEveryObjectField: the fields table has a row for every
// field of an objects entry (knownFields), none other, and the jmesPath
// and failoverObject rows name each of their own fields.
func TestReferenceListsEveryObjectField(t *testing.T) {
	documented := firstColumn(reference(t).MustSection(t, "Fields of an `objects` entry"))
	got := slices.Sorted(maps.Keys(documented))
	want := slices.Sorted(slices.Values(knownFields))
	if !slices.Equal(got, want) {
		t.Errorf("docs/secretproviderclass.md's fields table lists %q; an objects entry has %q", got, want)
	}
	for field, subs := range map[string][]string{"jmesPath": jmesPathFields, "failoverObject": failoverObjectFields} {
		row := documented[field]
		if row == nil {
			continue
		}
		spans := mddoc.CodeSpans(strings.Join(row[1:], " | "))
		for _, s := range subs {
			if !slices.ContainsFunc(spans, func(sp string) bool {
				return sp == s || strings.Contains(sp, s+",") || strings.Contains(sp, s+"}") || strings.Contains(sp, "{"+s)
			}) {
				t.Errorf("the fields table's %s row does not name its field %s", field, s)
			}
		}
	}
}
