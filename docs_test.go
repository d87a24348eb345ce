package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/mddoc"
)

// TestDocLinksResolve: every relative link and #anchor of every Markdown
// file leads to a file, directory or heading that exists; so does every
// document a chart file, the Dockerfile, a script or a product message
// names (`README.md, "Why uid 0 (and how to run non-root)"`); and every
// Mermaid diagram is one GitHub can draw.
func TestDocLinksResolve(t *testing.T) {
	c := mddoc.NewChecker(".")
	pages, err := mddoc.MarkdownFiles(".")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pages, "README.md") {
		t.Fatalf("no README.md among %q: is the test run from the repository's root?", pages)
	}
	var probs []mddoc.Problem
	for _, p := range pages {
		probs = append(probs, c.CheckPage(p)...)
		d, err := c.Page(p)
		if err != nil {
			t.Fatal(err)
		}
		for line, src := range d.Diagrams() {
			if err := mddoc.CheckMermaid(src); err != nil {
				probs = append(probs, mddoc.Problem{File: p, Line: line, Target: "mermaid", Why: err.Error()})
			}
		}
	}
	for _, f := range namingFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range mddoc.FindRefs(string(b)) {
			if p := c.ResolveRef(f, r); p != nil {
				probs = append(probs, *p)
			}
		}
	}
	for _, p := range probs {
		t.Error(p)
	}
}

// namingFiles are the files besides Markdown that send a reader to a
// document: the chart's files (comments in values.yaml and the templates,
// the schema's descriptions), the Dockerfile, the scripts and the
// product's Go code (its messages).
func namingFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(".", func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			switch path {
			case ".git", "_output", "internal", "tools":
				return filepath.SkipDir
			}
			return nil
		}
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".md"), strings.HasSuffix(name, "_test.go"):
		case strings.HasPrefix(path, filepath.Join("charts", "pmp-secrets-provider")+string(filepath.Separator)),
			name == "Dockerfile", name == "Makefile", strings.HasSuffix(name, ".sh"), strings.HasSuffix(name, ".go"):
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
