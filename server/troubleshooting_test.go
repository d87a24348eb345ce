package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/mddoc"
)

// TestTroubleshootingCoversEveryCode: the table of docs/troubleshooting.md
// has an entry for the code of every kind of Mount failure, and names no
// code the provider does not answer with.
func TestTroubleshootingCoversEveryCode(t *testing.T) {
	rows := troubleshootingRows(t)
	documented := map[string]bool{}
	for _, r := range rows {
		documented[r[1]] = true
	}
	answered := map[string]bool{}
	for k := range answers {
		c := codeFor(k).String()
		answered[c] = true
		if !documented[c] {
			t.Errorf("a Mount that fails as %s ends with %s, which docs/troubleshooting.md has no entry for", k, c)
		}
	}
	for c := range documented {
		if !answered[c] {
			t.Errorf("docs/troubleshooting.md has an entry with code %q, which no Mount failure ends with", c)
		}
	}
}

// TestTroubleshootingMessagesAreTheCodes: every message the table shows is
// what the product code says. Each message is written as a pod's event
// shows it, with placeholders (NS/SA, N, "...", ...) for what varies; the
// words between placeholders must be what the product's string literals
// print, piece by piece as format verbs join them. A message reworded in
// the code and not in the table fails here.
func TestTroubleshootingMessagesAreTheCodes(t *testing.T) {
	lits := productLiterals(t)
	rows := troubleshootingRows(t)
	for _, r := range rows {
		cell := also.ReplaceAllString(r[0], "")
		spans := mddoc.CodeSpans(cell)
		if len(spans) == 0 {
			t.Errorf("troubleshooting row %q shows no message in `code`", r[0])
		}
		for _, msg := range spans {
			for _, p := range libraryPrefixes {
				msg = strings.TrimPrefix(msg, p)
			}
			for _, run := range placeholder.Split(msg, -1) {
				if w := words(run); len(w) > 0 {
					if bad := lits.uncovered(w); bad != "" {
						t.Errorf("troubleshooting message %q: %q is not in the provider's messages (at %q)", msg, strings.Join(w, " "), bad)
					}
				}
			}
		}
	}
}

// libraryPrefixes are what gRPC puts before a message of the provider's.
var libraryPrefixes = []string{"grpc: failed to unmarshal the received message: "}

var (
	also        = regexp.MustCompile(`\(also [^)]*\)`)
	placeholder = regexp.MustCompile(`\.\.\.|"[^"]*"|\S*\d\S*|\b(?:NS/SA|NS/NAME|NS|SA|NAME|N|TIME)\b`)
	formatVerb  = regexp.MustCompile(`%[-+# 0]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[a-zA-Z%]`)
)

func troubleshootingRows(t *testing.T) [][]string {
	t.Helper()
	d, err := mddoc.Load("../docs/troubleshooting.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, r := range mddoc.BodyRows(d.MustSection(t, "Messages in a pod's events")) {
		if len(r) != 3 {
			t.Fatalf("troubleshooting row %q: want 3 cells (message, code, what to do)", r)
		}
		if _, ok := codeByName[r[1]]; !ok {
			t.Errorf("troubleshooting row %q: %q is not a gRPC code", r[0], r[1])
		}
		rows = append(rows, r)
	}
	if len(rows) < 20 {
		t.Fatalf("docs/troubleshooting.md has %d message rows", len(rows))
	}
	return rows
}

var codeByName = func() map[string]codes.Code {
	m := map[string]codes.Code{}
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		m[c.String()] = c
	}
	return m
}()

// words splits text into words without the punctuation around them.
func words(s string) []string {
	var out []string
	for _, w := range strings.Fields(s) {
		if w = strings.Trim(w, ".,:;()[]{}\"'`"); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// literals are the product's string literals, split at format verbs,
// as word lists.
type literals [][]string

// productLiterals reads every string literal of the module's product code
// (not tests, test libraries, developer programs or tools).
func productLiterals(t *testing.T) literals {
	t.Helper()
	var lits literals
	err := filepath.WalkDir("..", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			switch e.Name() {
			case ".git", "internal", "dev", "e2e", "tools", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if b, ok := n.(*ast.BasicLit); ok && b.Kind == token.STRING {
				s, err := strconv.Unquote(b.Value)
				if err != nil {
					return true
				}
				for _, piece := range formatVerb.Split(s, -1) {
					if w := words(piece); len(w) > 0 {
						lits = append(lits, w)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(lits) < 1000 {
		t.Fatalf("read %d string literals: is the test run from server/?", len(lits))
	}
	return lits
}

// uncovered returns "" when w is what the code can print: a run of
// literal pieces, each beside the next as a format verb puts them, i.e.
// every piece but the first starts a literal piece and every piece but the
// last ends one (a value a verb prints, such as the name of a check, is a
// literal of its own). Else it returns the first word no such run
// reaches.
func (lits literals) uncovered(w []string) string {
	reach := make([]bool, len(w)+1) // reach[i]: w[:i] is such a run
	reach[0] = true
	for i := range w {
		if !reach[i] {
			continue
		}
		for _, l := range lits {
			for j := range l {
				if i > 0 && j > 0 {
					break // a piece after the first starts its literal
				}
				m := 0
				for i+m < len(w) && j+m < len(l) && l[j+m] == w[i+m] {
					m++
				}
				for k := 1; k <= m; k++ {
					if i+k == len(w) || j+k == len(l) {
						reach[i+k] = true
					}
				}
			}
		}
	}
	if reach[len(w)] {
		return ""
	}
	last := 0
	for i, r := range reach {
		if r {
			last = i
		}
	}
	return w[min(last, len(w)-1)]
}
