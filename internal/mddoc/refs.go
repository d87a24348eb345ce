package mddoc

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Ref is a document named in prose (a comment, a message): a Markdown
// file's name, with an #anchor or a quoted heading after it when a section
// is meant: `README.md, "Values"`, `docs/operations.md#metrics`.
type Ref struct {
	Line    int
	Name    string // as written: "README.md", "docs/operations.md"
	Anchor  string // without '#'
	Heading string // the quoted heading text
}

var docRef = regexp.MustCompile(`([A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md)\b(?:#([A-Za-z0-9_-]+)|,? \(?"([^"]+)")?`)

// FindRefs returns the Markdown documents text names, line by line.
func FindRefs(text string) []Ref {
	var out []Ref
	for i, line := range strings.Split(text, "\n") {
		for _, m := range docRef.FindAllStringSubmatch(line, -1) {
			out = append(out, Ref{Line: i + 1, Name: m[1], Anchor: m[2], Heading: m[3]})
		}
	}
	return out
}

// ResolveRef checks a Ref written in the file from: the document is the
// nearest one of that name, looking in from's directory and then in each
// directory above it up to the root (so a chart's "README.md" is the
// chart's own, its "BENCHMARKS.md" the repository's); its anchor or
// heading must be on that page.
func (c *Checker) ResolveRef(from string, r Ref) *Problem {
	from, _ = filepath.Abs(from)
	dir := filepath.Dir(from)
	for {
		file := filepath.Join(dir, filepath.FromSlash(r.Name))
		if st, err := os.Stat(file); err == nil && !st.IsDir() {
			switch {
			case r.Heading != "":
				return c.ResolveHeading(from, r.Line, file, r.Heading)
			case r.Anchor != "":
				rel, _ := filepath.Rel(filepath.Dir(from), file)
				return c.Resolve(from, r.Line, filepath.ToSlash(rel)+"#"+r.Anchor)
			}
			return nil
		}
		if dir == c.Root || !strings.HasPrefix(dir, c.Root) {
			break
		}
		dir = filepath.Dir(dir)
	}
	return &Problem{File: Rel(c.Root, from), Line: r.Line, Target: r.Name,
		Why: "no such document in " + Rel(c.Root, filepath.Dir(from)) + " or any directory above it"}
}
