package mddoc

import (
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Link is a link target written on a page.
type Link struct {
	Line   int
	Target string
}

var (
	inlineLink = regexp.MustCompile(`\]\(\s*<?([^()\s<>]*(?:\([^()\s]*\)[^()\s<>]*)*)>?(?:\s+"[^"]*")?\s*\)`)
	refDef     = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$`)
	scheme     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
	lineAnchor = regexp.MustCompile(`^L\d+(-L\d+)?$`)
)

// Links returns the targets of the page's inline links and images and of
// its reference definitions, outside code blocks and code spans.
func (d *Doc) Links() []Link {
	var out []Link
	forLines(d.Text, func(n int, line string, inCode bool) {
		if inCode {
			return
		}
		line = codeSpan.ReplaceAllString(line, "")
		if m := refDef.FindStringSubmatch(line); m != nil {
			out = append(out, Link{n, m[1]})
			return
		}
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			out = append(out, Link{n, m[1]})
		}
	})
	return out
}

// Problem is a reference that leads nowhere.
type Problem struct {
	File   string // relative to the checker's root
	Line   int
	Target string
	Why    string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Target, p.Why)
}

// Checker resolves links between the files under Root, reading each page
// once.
type Checker struct {
	Root string
	docs map[string]*Doc
}

// NewChecker returns a checker for the tree at root.
func NewChecker(root string) *Checker {
	abs, err := filepath.Abs(root)
	if err != nil {
		abs = root
	}
	return &Checker{Root: abs, docs: map[string]*Doc{}}
}

// Page returns the parsed page at path.
func (c *Checker) Page(path string) (*Doc, error) {
	path, _ = filepath.Abs(path)
	if d, ok := c.docs[path]; ok {
		return d, nil
	}
	d, err := Load(path)
	if err != nil {
		return nil, err
	}
	c.docs[path] = d
	return d, nil
}

// CheckPage returns every relative link or #anchor of the page at path
// that does not resolve: a file or directory that does not exist or lies
// outside the tree, or an anchor that is no heading (or <a id>) of the
// Markdown page it names. Links with a scheme (https:, mailto:) are not
// followed.
func (c *Checker) CheckPage(path string) []Problem {
	d, err := c.Page(path)
	if err != nil {
		return []Problem{{File: Rel(c.Root, path), Target: path, Why: err.Error()}}
	}
	var out []Problem
	for _, l := range d.Links() {
		if p := c.Resolve(d.Path, l.Line, l.Target); p != nil {
			out = append(out, *p)
		}
	}
	return out
}

// Resolve checks one target written in the file from (a page, or any file
// that names a page) at line: "path", "path#anchor" or "#anchor", the path
// relative to from's directory.
func (c *Checker) Resolve(from string, line int, target string) *Problem {
	from, _ = filepath.Abs(from)
	bad := func(format string, args ...any) *Problem {
		return &Problem{File: Rel(c.Root, from), Line: line, Target: target, Why: fmt.Sprintf(format, args...)}
	}
	if target == "" {
		return bad("empty link")
	}
	if scheme.MatchString(target) || strings.HasPrefix(target, "//") {
		return nil
	}
	pathPart, anchor, _ := strings.Cut(target, "#")
	file := from
	if pathPart != "" {
		p, err := url.PathUnescape(pathPart)
		if err != nil {
			return bad("not a URL path: %v", err)
		}
		if strings.HasPrefix(p, "/") {
			file = filepath.Join(c.Root, filepath.FromSlash(p))
		} else {
			file = filepath.Join(filepath.Dir(from), filepath.FromSlash(p))
		}
		if r, err := filepath.Rel(c.Root, file); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return bad("it leads outside the repository")
		}
		st, err := os.Stat(file)
		if err != nil {
			return bad("no such file or directory")
		}
		if st.IsDir() {
			if anchor != "" {
				return bad("an anchor on a directory")
			}
			return nil
		}
	}
	if anchor == "" {
		return nil
	}
	if !strings.HasSuffix(file, ".md") {
		if lineAnchor.MatchString(anchor) {
			return nil
		}
		return bad("#%s on a file that is not Markdown (only #L<line> anchors)", anchor)
	}
	d, err := c.Page(file)
	if err != nil {
		return bad("%v", err)
	}
	if !d.HasAnchor(anchor) {
		return bad("%s has no heading with anchor #%s", Rel(c.Root, file), anchor)
	}
	return nil
}

// ResolveHeading checks a reference to the section named heading (its
// text as written) of the page at file.
func (c *Checker) ResolveHeading(from string, line int, file, heading string) *Problem {
	d, err := c.Page(file)
	if err != nil {
		return &Problem{File: Rel(c.Root, from), Line: line, Target: file, Why: err.Error()}
	}
	for _, h := range d.Headings {
		if h.Text == heading {
			return nil
		}
	}
	return &Problem{File: Rel(c.Root, from), Line: line, Target: fmt.Sprintf("%s, %q", Rel(c.Root, file), heading),
		Why: "the page has no such heading"}
}

// MarkdownFiles returns every .md file under root, skipping .git and the
// directories skip names (relative to root, with slashes).
func MarkdownFiles(root string, skip ...string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			rel := Rel(root, path)
			if e.Name() == ".git" || e.Name() == "_output" || e.Name() == "node_modules" {
				return filepath.SkipDir
			}
			for _, s := range skip {
				if rel == s {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if strings.HasSuffix(path, ".md") {
			out = append(out, path)
		}
		return nil
	})
	return out, err
}
