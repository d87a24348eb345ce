package mendixenv

import (
	"strings"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/mddoc"
)

func page(t *testing.T) *mddoc.Doc {
	t.Helper()
	d, err := mddoc.Load("../../docs/mendix-environments.md")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The keys table of docs/mendix-environments.md is the catalog's.
func TestDocsTableIsTheCatalog(t *testing.T) {
	section := page(t).MustSection(t, "The keys")
	if !strings.Contains(section, Table()) {
		t.Errorf("docs/mendix-environments.md's table is not the catalog's; it should read:\n%s", Table())
	}
}

// Every key whose description the Mendix documentation leaves unclear is
// named in the page's list of what is unclear.
func TestDocsNameEveryDoubt(t *testing.T) {
	section := page(t).MustSection(t, "What the Mendix documentation leaves unclear")
	for _, k := range append(Keys(), Patterns()...) {
		if k.Doubt != "" && !strings.Contains(section, "`"+k.Name+"`") {
			t.Errorf("the catalog doubts %s, but docs/mendix-environments.md does not say why", k.Name)
		}
	}
}
