package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"k8s.io/klog/v2"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/mddoc"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/cache"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/metrics"
)

// readmeMaxBytes: the README is the page a newcomer reads in five minutes;
// everything else is in docs/, by reader.
const readmeMaxBytes = 15 * 1024

// firstScreen is how many lines a newcomer sees before scrolling.
const firstScreen = 40

// TestREADMEFitsOnePage: the README is at most 15 KB, and its first screen
// has the two commands, the way to install and where to look next.
func TestREADMEFitsOnePage(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > readmeMaxBytes {
		t.Errorf("README.md is %d bytes, over %d: move the section to its page in docs/ and link it", len(b), readmeMaxBytes)
	}
	lines := strings.SplitN(string(b), "\n", firstScreen+1)
	screen := strings.Join(lines[:min(firstScreen, len(lines))], "\n")
	for _, want := range []string{"make demo", "make test", "](#install-on-eks)", "](docs/getting-started-eks.md)", "](#documentation)"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the README's first %d lines lack %q", firstScreen, want)
		}
	}
	d := mddoc.Parse("README.md", string(b))
	for _, h := range []string{"Install on EKS", "Documentation"} {
		if _, ok := d.Section(h); !ok {
			t.Errorf("the README has no section %q", h)
		}
	}
}

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
	diagrams := 0
	for _, p := range pages {
		probs = append(probs, c.CheckPage(p)...)
		d, err := c.Page(p)
		if err != nil {
			t.Fatal(err)
		}
		for line, src := range d.Diagrams() {
			diagrams++
			if err := mddoc.CheckMermaid(src); err != nil {
				probs = append(probs, mddoc.Problem{File: p, Line: line, Target: "mermaid", Why: err.Error()})
			}
		}
	}
	if diagrams < 2 {
		t.Errorf("found %d Mermaid diagrams; the README's request flow and the rotation timeline are two", diagrams)
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

// pristineFlags is the flag set as the process starts: klog's defaults
// are its global state, which tests that parse -v change.
var pristineFlags = newFlagSet(&Config{}, io.Discard)

// TestFlagsTable: the flags table of docs/operations.md is the provider's
// flag set: a row for every flag (klog's other flags named under it), none
// for a flag it does not have, each default as the flag set has it (read
// as the flag reads it: "1h" is 1h0m0s; `$NODE_NAME` is that variable; no
// code span is empty, as "in-cluster" or "off").
func TestFlagsTable(t *testing.T) {
	var c Config
	fs := newFlagSet(&c, io.Discard)
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)

	d, err := mddoc.Load("docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	section := d.MustSection(t, "Provider flags")
	listed := map[string]bool{}
	for _, r := range mddoc.BodyRows(section) {
		spans := mddoc.CodeSpans(r[0])
		if len(r) != 3 || len(spans) != 1 {
			t.Errorf("flags row %q: want `--flag` | default | meaning", r)
			continue
		}
		name := strings.TrimLeft(spans[0], "-")
		if listed[name] {
			t.Errorf("the flags table lists %s twice", spans[0])
		}
		listed[name] = true
		f := fs.Lookup(name)
		if f == nil {
			t.Errorf("the flags table lists %s, which the provider does not have", spans[0])
			continue
		}
		if strings.TrimSpace(r[2]) == "" {
			t.Errorf("the flags table says nothing of %s", spans[0])
		}
		doc := ""
		if d := mddoc.CodeSpans(r[1]); len(d) > 0 {
			doc = d[0]
			if strings.HasPrefix(doc, "$") {
				doc = os.Getenv(doc[1:])
			}
		}
		if klogFlags.Lookup(name) != nil {
			// klog's flags set its global state: compare as written.
			if def := pristineFlags.Lookup(name).DefValue; doc != def {
				t.Errorf("the flags table's default of %s is %q; klog's is %q", spans[0], doc, def)
			}
			continue
		}
		var c2 Config
		fs2 := newFlagSet(&c2, io.Discard)
		if err := fs2.Set(name, doc); err != nil {
			t.Errorf("the flags table's default of %s, %q, is no value of it: %v", spans[0], doc, err)
		} else if got, def := fs2.Lookup(name).Value.String(), pristineFlags.Lookup(name).DefValue; got != def {
			t.Errorf("the flags table's default of %s is %q (%s); the provider's is %q", spans[0], r[1], got, def)
		}
	}
	named := map[string]bool{}
	for _, s := range mddoc.CodeSpans(section) {
		named[strings.TrimLeft(s, "-")] = true
	}
	fs.VisitAll(func(f *flag.Flag) {
		switch {
		case listed[f.Name]:
		case klogFlags.Lookup(f.Name) != nil:
			if !named[f.Name] {
				t.Errorf("docs/operations.md does not name klog's flag --%s under Provider flags", f.Name)
			}
		default:
			t.Errorf("the flags table has no row for --%s (default %q): %s", f.Name, f.DefValue, f.Usage)
		}
	})
}

// TestChartNamesProviderFlags: every provider flag the chart's values.yaml
// comments and its README's values table name is a flag the provider has
// (the driver's flags, "the driver's --provider-volume", are the driver's).
func TestChartNamesProviderFlags(t *testing.T) {
	var c Config
	fs := newFlagSet(&c, io.Discard)
	flagRef := regexp.MustCompile("(?:^|[\\s(`])(driver's |its )?`?--([a-z][a-z0-9-]*)")
	check := func(file, text string) {
		n := 0
		for _, m := range flagRef.FindAllStringSubmatch(text, -1) {
			if m[1] != "" {
				continue
			}
			n++
			if fs.Lookup(m[2]) == nil {
				t.Errorf("%s names --%s, which the provider does not have", file, m[2])
			}
		}
		if n < 10 {
			t.Errorf("%s names %d provider flags: is this the chart?", file, n)
		}
	}
	values, err := os.ReadFile("charts/pmp-secrets-provider/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var comments []string
	for _, l := range strings.Split(string(values), "\n") {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "#") && !strings.HasPrefix(t, "# ---") {
			comments = append(comments, t)
		}
	}
	check("values.yaml", strings.Join(comments, "\n"))
	d, err := mddoc.Load("charts/pmp-secrets-provider/README.md")
	if err != nil {
		t.Fatal(err)
	}
	check("the chart's values table", d.MustSection(t, "Values"))
}

// TestMetricsTable: the metrics table of docs/operations.md is the
// provider's registry as run() builds it: a row for every family it
// describes (the Go and process collectors' under `go_*`, `process_*`),
// none for a family it does not have, each with the family's labels and,
// for the families a scrape shows, its type.
func TestMetricsTable(t *testing.T) {
	o, err := startOps(Config{ProviderDir: t.TempDir(), ProviderName: "pmp"})
	if err != nil {
		t.Fatal(err)
	}
	defer o.stop()
	// What ops.loaded registers with the provider's caches and failover counts.
	if err := metrics.RegisterCaches(o.reg, func() map[string]cache.Stats { return map[string]cache.Stats{"secrets": {}} }); err != nil {
		t.Fatal(err)
	}
	if err := metrics.RegisterFailover(o.reg, func() map[string]int64 { return map[string]int64{"SSM": 1} }); err != nil {
		t.Fatal(err)
	}
	o.mounts.Done(time.Millisecond, metrics.ResultOK, codes.OK)

	registered := map[string][]string{} // family: its labels, sorted
	descs := make(chan *prometheus.Desc)
	go func() { o.reg.Describe(descs); close(descs) }()
	desc := regexp.MustCompile(`fqName: "([^"]+)".*constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}`)
	labelName := regexp.MustCompile(`(?:^|,)(?:c\()?([a-zA-Z_][a-zA-Z0-9_]*)`)
	for d := range descs {
		m := desc.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the descriptor %s", d)
		}
		var labels []string
		for _, l := range labelName.FindAllStringSubmatch(m[2]+","+m[3], -1) {
			labels = append(labels, l[1])
		}
		slices.Sort(labels)
		registered[m[1]] = labels
	}
	types := map[string]string{}
	mfs, err := o.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		types[mf.GetName()] = strings.ToLower(mf.GetType().String())
	}

	d, err := mddoc.Load("docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	prefixes := []string{}
	for _, r := range mddoc.BodyRows(d.MustSection(t, "Metrics")) {
		if len(r) != 4 {
			t.Errorf("metrics row %q: want name | type | labels | meaning", r)
			continue
		}
		for _, name := range mddoc.CodeSpans(r[0]) {
			if p, ok := strings.CutSuffix(name, "*"); ok {
				prefixes = append(prefixes, p)
				continue
			}
			documented[name] = true
			labels, ok := registered[name]
			if !ok {
				t.Errorf("the metrics table lists %s, which the provider does not register", name)
				continue
			}
			doc := mddoc.CodeSpans(parenthesized.ReplaceAllString(r[2], ""))
			slices.Sort(doc)
			if !slices.Equal(doc, labels) {
				t.Errorf("the metrics table's labels of %s are %q; the provider's are %q", name, doc, labels)
			}
			if typ, ok := types[name]; ok && typ != r[1] {
				t.Errorf("the metrics table says %s is a %s; it is a %s", name, r[1], typ)
			}
		}
	}
	for name := range registered {
		covered := documented[name]
		for _, p := range prefixes {
			covered = covered || (strings.HasPrefix(name, p) && !strings.HasPrefix(name, "pmp_"))
		}
		if !covered {
			t.Errorf("the metrics table has no row for %s (labels %q)", name, registered[name])
		}
	}
}

// parenthesized is what a labels cell says of a label's values.
var parenthesized = regexp.MustCompile(`\([^()]*\)`)

// TestArchitectureNamesEveryPackage: the contributor's map
// (docs/architecture.md) gives every package of the pipeline, under
// provider/ and server/, its one job, and names no package that is gone.
func TestArchitectureNamesEveryPackage(t *testing.T) {
	d, err := mddoc.Load("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, row := range mddoc.BodyRows(d.MustSection(t, "Each package's one job")) {
		for _, p := range mddoc.CodeSpans(row[0]) {
			p = strings.TrimSuffix(p, "/")
			if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
				t.Errorf("docs/architecture.md names package %s, which does not exist", p)
			}
			named[p] = true
		}
	}
	for _, root := range []string{"provider", "server"} {
		err := filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
			if err != nil || !e.IsDir() || e.Name() == "testdata" {
				return err
			}
			if src, _ := filepath.Glob(filepath.Join(path, "*.go")); len(src) > 0 && !named[path] {
				t.Errorf("docs/architecture.md does not give package %s its job (the table under \"Each package's one job\")", path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
