// Package mddoc reads the repository's Markdown as the tests that keep it
// true need it: a page's headings and their GitHub anchors, one section's
// text, the rows of a table, and every relative link and #anchor, checked
// to resolve. Never shipped.
package mddoc

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
)

// Doc is one Markdown file.
type Doc struct {
	Path string
	Text string
	// Headings in order, with their level and anchor.
	Headings []Heading
	anchors  map[string]bool
}

// Heading is an ATX heading outside code blocks.
type Heading struct {
	Level  int
	Text   string // as written, without the #s
	Anchor string // GitHub's id, with -1, -2 for repeats
	Line   int    // 1-based
}

// Load reads and parses the file at path.
func Load(path string) (*Doc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, string(b)), nil
}

var (
	atx       = regexp.MustCompile(`^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$`)
	htmlID    = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	fenceOpen = regexp.MustCompile("^ {0,3}(```+|~~~+)(.*)$")
)

// Parse parses text as the Markdown file path.
func Parse(path, text string) *Doc {
	d := &Doc{Path: path, Text: text, anchors: map[string]bool{}}
	seen := map[string]int{}
	forLines(text, func(n int, line string, inCode bool) {
		if inCode {
			return
		}
		for _, m := range htmlID.FindAllStringSubmatch(line, -1) {
			d.anchors[m[1]] = true
		}
		m := atx.FindStringSubmatch(line)
		if m == nil {
			return
		}
		h := Heading{Level: len(m[1]), Text: m[2], Line: n}
		slug := Slug(h.Text)
		h.Anchor = slug
		if k := seen[slug]; k > 0 {
			h.Anchor = fmt.Sprintf("%s-%d", slug, k)
		}
		seen[slug]++
		d.anchors[h.Anchor] = true
		d.Headings = append(d.Headings, h)
	})
	return d
}

// forLines calls f for each line of text with its 1-based number and
// whether it is inside a fenced code block (the fences themselves count as
// code).
func forLines(text string, f func(n int, line string, inCode bool)) {
	var fence string
	for i, line := range strings.Split(text, "\n") {
		if fence == "" {
			if m := fenceOpen.FindStringSubmatch(line); m != nil {
				fence = m[1]
				f(i+1, line, true)
				continue
			}
			f(i+1, line, false)
			continue
		}
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, fence[:3]) && strings.Trim(t, fence[:1]) == "" && len(t) >= len(fence) {
			fence = ""
		}
		f(i+1, line, true)
	}
}

// HasAnchor reports whether #anchor leads somewhere on the page.
func (d *Doc) HasAnchor(anchor string) bool { return d.anchors[anchor] }

// Slug is the id GitHub gives a heading: its text without Markdown
// emphasis, code marks and link targets, lower-cased, every character but
// letters, digits, '_', '-' and spaces dropped, spaces made '-'.
func Slug(heading string) string {
	s := linkText.ReplaceAllString(heading, "$1")
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

var linkText = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)

// Section returns the text under the heading whose text is heading (any
// level), up to the next heading of the same or a higher level.
func (d *Doc) Section(heading string) (string, bool) {
	for i, h := range d.Headings {
		if h.Text != heading {
			continue
		}
		end := -1
		for _, next := range d.Headings[i+1:] {
			if next.Level <= h.Level {
				end = next.Line
				break
			}
		}
		lines := strings.Split(d.Text, "\n")
		if end < 0 {
			end = len(lines) + 1
		}
		return strings.Join(lines[h.Line:end-1], "\n") + "\n", true
	}
	return "", false
}

// MustSection is Section for tests: it fails t when the page has no such
// heading.
func (d *Doc) MustSection(t interface {
	Helper()
	Fatalf(string, ...any)
}, heading string) string {
	t.Helper()
	s, ok := d.Section(heading)
	if !ok {
		t.Fatalf("%s has no section %q", d.Path, heading)
	}
	return s
}

// Rows returns the cells of every table row in text (header and
// delimiter rows included), trimmed, with "\|" kept as "|".
func Rows(text string) [][]string {
	var rows [][]string
	forLines(text, func(_ int, line string, inCode bool) {
		t := strings.TrimSpace(line)
		if inCode || !strings.HasPrefix(t, "|") {
			return
		}
		t = strings.TrimSuffix(strings.TrimPrefix(t, "|"), "|")
		t = strings.ReplaceAll(t, `\|`, "\x00")
		var cells []string
		for _, c := range strings.Split(t, "|") {
			cells = append(cells, strings.ReplaceAll(strings.TrimSpace(c), "\x00", "|"))
		}
		rows = append(rows, cells)
	})
	return rows
}

// BodyRows is Rows without a table's header and delimiter rows.
func BodyRows(text string) [][]string {
	var out [][]string
	rows := Rows(text)
	for i, r := range rows {
		if isDelimiter(r) || (i+1 < len(rows) && isDelimiter(rows[i+1])) {
			continue
		}
		out = append(out, r)
	}
	return out
}

func isDelimiter(r []string) bool {
	for _, c := range r {
		if strings.Trim(c, ":-") != "" || c == "" {
			return false
		}
	}
	return len(r) > 0
}

// CodeSpans returns the text of each `code span` in s, in order.
func CodeSpans(s string) []string {
	var out []string
	for _, m := range codeSpan.FindAllStringSubmatch(s, -1) {
		out = append(out, m[2])
	}
	return out
}

var codeSpan = regexp.MustCompile("(`+)(.+?)(`+)")

// Diagrams returns the source of each ```mermaid block of the page, by
// the line its fence opens on.
func (d *Doc) Diagrams() map[int]string {
	out := map[int]string{}
	start, fence := 0, ""
	var b strings.Builder
	for i, line := range strings.Split(d.Text, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case start == 0:
			if m := fenceOpen.FindStringSubmatch(line); m != nil && strings.TrimSpace(m[2]) == "mermaid" {
				start, fence = i+1, m[1]
				b.Reset()
			}
		case strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "":
			out[start] = b.String()
			start = 0
		default:
			b.WriteString(line + "\n")
		}
	}
	return out
}

// Rel returns path relative to root, with slashes, for messages.
func Rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil {
		return filepath.ToSlash(r)
	}
	return path
}

// ExampleRun finds the run of cmd a page shows in a code block: the line
// "$ cmd ..." with its "\" continuation lines joined (line, without the
// "$ "), and the output after it up to the end of the block.
func ExampleRun(text, cmd string) (line, output string, ok bool) {
	i := strings.Index(text, "\n$ "+cmd)
	if i < 0 {
		return "", "", false
	}
	rest := text[i+3:]
	end := strings.Index(rest, "\n```")
	if end < 0 {
		return "", "", false
	}
	block := rest[:end+1]
	for {
		nl := strings.IndexByte(block, '\n')
		l := block[:nl]
		block = block[nl+1:]
		if !strings.HasSuffix(l, `\`) {
			line += l
			break
		}
		line += strings.TrimSuffix(l, `\`)
	}
	return line, block, true
}
