// Package promtest reads what a Prometheus registry would expose on a
// scrape, for tests that assert on metrics as an operator sees them: the
// value of one series, and every label of every series.
package promtest

import (
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Value returns the value of the series of family name whose labels are
// exactly labels (name, value, name, value, ...): a counter's or gauge's
// value, a histogram's sample count. A series that does not exist is 0.
func Value(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	if len(labels)%2 != 0 {
		t.Fatalf("promtest.Value(%s): odd label list %q", name, labels)
	}
	want := map[string]string{}
	for i := 0; i < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range family(t, g, name).GetMetric() {
		if !sameLabels(m.GetLabel(), want) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			return m.GetUntyped().GetValue()
		}
	}
	return 0
}

// Labels returns every label value of every series in g, as
// "family{label}=value" lines, for scans of what must never be a label.
func Labels(t testing.TB, g prometheus.Gatherer) []string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				out = append(out, mf.GetName()+"{"+l.GetName()+"}="+l.GetValue())
			}
		}
	}
	return out
}

// Names returns the family names in g.
func Names(t testing.TB, g prometheus.Gatherer) []string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make([]string, 0, len(mfs))
	for _, mf := range mfs {
		out = append(out, mf.GetName())
	}
	return out
}

func family(t testing.TB, g prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

// sameLabels compares label sets as Prometheus does: an empty value is
// an absent label.
func sameLabels(got []*dto.LabelPair, want map[string]string) bool {
	g := map[string]string{}
	for _, l := range got {
		if l.GetValue() != "" {
			g[l.GetName()] = l.GetValue()
		}
	}
	w := map[string]string{}
	for k, v := range want {
		if v != "" {
			w[k] = v
		}
	}
	return maps.Equal(g, w)
}

// Histogram returns the histogram series of family name with exactly
// labels, or nil.
func Histogram(t testing.TB, g prometheus.Gatherer, name string, labels ...string) *dto.Histogram {
	t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range family(t, g, name).GetMetric() {
		if sameLabels(m.GetLabel(), want) {
			return m.GetHistogram()
		}
	}
	return nil
}
