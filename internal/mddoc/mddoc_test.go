package mddoc

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSlugIsGitHubs(t *testing.T) {
	for heading, want := range map[string]string{
		"Why a transient failure is reported as `Unknown`, and the empty-volume bug": "why-a-transient-failure-is-reported-as-unknown-and-the-empty-volume-bug",
		"Migrating from the official AWS provider (ASCP)":                            "migrating-from-the-official-aws-provider-ascp",
		"Caching, cost and rotation":                                                 "caching-cost-and-rotation",
		"The local cluster (`e2e/cluster/`)":                                         "the-local-cluster-e2ecluster",
		"Measured here (2 cores, 24 GiB, shared with other builds)":                  "measured-here-2-cores-24-gib-shared-with-other-builds",
		"`--secret-ttl` and [the window](#x)":                                        "--secret-ttl-and-the-window",
		"snake_case and Ünïcode":                                                     "snake_case-and-ünïcode",
	} {
		if got := Slug(heading); got != want {
			t.Errorf("Slug(%q) = %q, want %q", heading, got, want)
		}
	}
}

func TestRepeatedHeadingsGetNumberedAnchors(t *testing.T) {
	d := Parse("p.md", "# A\n## Notes\n```sh\n# Notes in a code block\n```\n## Notes\n## Notes\n")
	var got []string
	for _, h := range d.Headings {
		got = append(got, h.Anchor)
	}
	if want := []string{"a", "notes", "notes-1", "notes-2"}; !slices.Equal(got, want) {
		t.Errorf("anchors %q, want %q (a # line in a code block is no heading)", got, want)
	}
}

func TestSectionEndsAtTheNextHeadingOfItsLevel(t *testing.T) {
	d := Parse("p.md", "# P\n## A\na\n### A.1\n```sh\n# not a heading\n```\na1\n## B\nb\n")
	got, ok := d.Section("A")
	if want := "a\n### A.1\n```sh\n# not a heading\n```\na1\n"; !ok || got != want {
		t.Errorf("Section(A) = %q, %v; want %q", got, ok, want)
	}
	if _, ok := d.Section("C"); ok {
		t.Error("Section(C) found a heading the page does not have")
	}
}

func TestBodyRows(t *testing.T) {
	got := BodyRows("| a | b |\n|---|---|\n| `x\\|y` | 2 |\n| 3 | |\n")
	want := [][]string{{"`x|y`", "2"}, {"3", ""}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("BodyRows = %q, want %q", got, want)
	}
}

// tree writes files (path -> content) under a temporary root.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, s := range files {
		p = filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// The checker finds each kind of dead link, and passes the live ones.
func TestCheckPageFindsEveryDeadLink(t *testing.T) {
	root := tree(t, map[string]string{
		"docs/ops.md":  "# Operations\n## Metrics\n<a id=\"flags\"></a>\n",
		"code/main.go": "package main\n",
		"outside.md":   "# Outside\n",
	})
	for _, tc := range []struct {
		name, link string
		dead       bool
	}{
		{"a page", "docs/ops.md", false},
		{"a heading of a page", "docs/ops.md#metrics", false},
		{"an html anchor", "docs/ops.md#flags", false},
		{"a heading here", "#readme", false},
		{"a directory", "code", false},
		{"a line of code", "code/main.go#L1", false},
		{"from the root", "/docs/ops.md#metrics", false},
		{"a web page", "https://example.com/x#y", false},
		{"a missing page", "docs/opps.md", true},
		{"a missing heading", "docs/ops.md#metric", true},
		{"a missing heading here", "#nowhere", true},
		{"a heading-like anchor on code", "code/main.go#main", true},
		{"out of the tree", "../outside.md", true},
		{"an anchor on a directory", "code#x", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := filepath.Join(root, "README.md")
			text := "# Readme\n\nSee [it](" + tc.link + ").\n\n```md\n[in code](nowhere.md)\n```\n`[in a span](nowhere.md)`\n"
			if err := os.WriteFile(page, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			probs := NewChecker(root).CheckPage(page)
			switch {
			case tc.dead && len(probs) != 1:
				t.Errorf("[it](%s): problems %v, want one", tc.link, probs)
			case !tc.dead && len(probs) != 0:
				t.Errorf("[it](%s): problems %v, want none", tc.link, probs)
			case tc.dead && (probs[0].Line != 3 || probs[0].Target != tc.link || probs[0].File != "README.md"):
				t.Errorf("problem %v, want README.md:3 naming %s", probs[0], tc.link)
			}
		})
	}
}

func TestReferenceDefinitionsAndImagesAreChecked(t *testing.T) {
	root := tree(t, map[string]string{
		"a.md": "# A\n![flow](img/flow.svg)\n[ops]: docs/ops.md#metrics\n",
	})
	var got []string
	for _, p := range NewChecker(root).CheckPage(filepath.Join(root, "a.md")) {
		got = append(got, p.Target)
	}
	if want := []string{"img/flow.svg", "docs/ops.md#metrics"}; !slices.Equal(got, want) {
		t.Errorf("dead targets %q, want %q", got, want)
	}
}

func TestRefsInProseResolveToTheNearestDocument(t *testing.T) {
	root := tree(t, map[string]string{
		"BENCHMARKS.md":          "# Benchmarks\n## Targets\n",
		"docs/operations.md":     "# Operations\n## Metrics\n",
		"charts/c/README.md":     "# Chart\n### Why uid 0 (and how to run non-root)\n",
		"charts/c/values.yaml":   "",
		"charts/c/templates/x.y": "",
	})
	from := filepath.Join(root, "charts/c/values.yaml")
	for _, tc := range []struct {
		text string
		dead bool
	}{
		{`# at it: README.md, "Why uid 0 (and how to run non-root)".`, false},
		{`# the non-root set-up in README.md ("Why uid 0 (and how to run non-root)")`, false},
		{`# Measured (BENCHMARKS.md, 2 cores)`, false},
		{`# BENCHMARKS.md#targets`, false},
		{`# docs/operations.md#metrics`, false},
		{`# at it: README.md, "Running as non-root".`, true},
		{`# BENCHMARKS.md#target`, true},
		{`# docs/operation.md`, true},
	} {
		refs := FindRefs(tc.text)
		if len(refs) != 1 {
			t.Errorf("%s: refs %+v, want one", tc.text, refs)
			continue
		}
		p := NewChecker(root).ResolveRef(from, refs[0])
		if (p != nil) != tc.dead {
			t.Errorf("%s: problem %v, want dead=%v", tc.text, p, tc.dead)
		}
	}
}

func TestCheckMermaid(t *testing.T) {
	ok := "flowchart LR\n  A[\"driver (kubelet)\"] -->|Mount| B{cache?}\n  %% a comment (\n"
	if err := CheckMermaid(ok); err != nil {
		t.Errorf("a good diagram: %v", err)
	}
	for _, bad := range []string{
		"flowchat LR\n  A --> B\n",
		"flowchart LR\n  A[driver --> B\n",
		"sequenceDiagram\n  A->>B: \"open\n",
		"flowchart LR\n\tA --> B\n",
		"flowchart LR\n  A) --> B\n",
	} {
		if err := CheckMermaid(bad); err == nil {
			t.Errorf("CheckMermaid(%q) passed", bad)
		}
	}
}

func TestDiagrams(t *testing.T) {
	d := Parse("p.md", "# P\n```mermaid\nflowchart LR\n  A --> B\n```\n```sh\nx\n```\n")
	if got := d.Diagrams(); len(got) != 1 || !strings.HasPrefix(got[2], "flowchart LR\n") {
		t.Errorf("Diagrams = %v", got)
	}
}

func TestExampleRun(t *testing.T) {
	page := "# P\n```\n$ tool policy --secret S \\\n    --region R\n{\n  \"a\": 1\n}\n```\n"
	line, out, ok := ExampleRun(page, "tool policy")
	if !ok || strings.Join(strings.Fields(line), " ") != "tool policy --secret S --region R" || out != "{\n  \"a\": 1\n}\n" {
		t.Errorf("ExampleRun = %q, %q, %v", line, out, ok)
	}
	if _, _, ok := ExampleRun(page, "tool doctor"); ok {
		t.Error("ExampleRun found a run the page does not show")
	}
}
