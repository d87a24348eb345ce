package main

import (
	"strings"
	"testing"
	"time"
)

func TestSpliceFleet(t *testing.T) {
	section := fleetBegin + "\n## Fleet\nnew figures\n" + fleetEnd + "\n"
	old := fleetBegin + "\n## Fleet\nold figures\n" + fleetEnd + "\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"empty file", "", section},
		{"replaces the section, keeps the rest", "# Benchmarks\n\nintro\n\n" + old + "\n## Targets\n\nrows\n", "# Benchmarks\n\nintro\n\n" + section + "\n## Targets\n\nrows\n"},
		{"before the targets", "# Benchmarks\n\n## Results\n\nrows\n\n## Targets\n\nt\n", "# Benchmarks\n\n## Results\n\nrows\n\n" + section + "\n## Targets\n\nt\n"},
		{"at the end", "# Benchmarks\n\nrows", "# Benchmarks\n\nrows\n\n" + section},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := spliceFleet(tc.doc, section)
			if got != tc.want {
				t.Errorf("spliceFleet:\n%s\nwant:\n%s", got, tc.want)
			}
			if s := fleetSection(got); s != strings.TrimSpace(section) {
				t.Errorf("fleetSection of the result = %q", s)
			}
			// Splicing again changes nothing: make bench keeps what
			// make fleet wrote.
			if again := spliceFleet(got, fleetSection(got)); again != got {
				t.Errorf("splicing the section back changed the file:\n%s", again)
			}
		})
	}
	if s := fleetSection("no section\n" + fleetBegin + "\nunterminated"); s != "" {
		t.Errorf("an unterminated section: %q, want none", s)
	}
}

func TestSamplesBetween(t *testing.T) {
	samples := []fleetSample{
		{at: 0, counts: map[string]int64{}},
		{at: 10 * time.Second, counts: map[string]int64{opGetParameters: 5, opGetSecretValue: 2}},
		{at: 20 * time.Second, counts: map[string]int64{opGetParameters: 25, opGetSecretValue: 4, "throttled:" + opGetParameters: 7}},
		{at: 31 * time.Second, counts: map[string]int64{opGetParameters: 30, opGetSecretValue: 4, "throttled:" + opGetParameters: 9}},
	}
	calls, throttled, span, peak := samplesBetween(samples, 9*time.Second, 30*time.Second)
	if calls[opGetParameters] != 25 || calls[opGetSecretValue] != 2 || throttled[opGetParameters] != 9 || span != 21*time.Second {
		t.Errorf("samplesBetween(9s, 30s) = %v, %v, %s: want the samples at 10s and 31s", calls, throttled, span)
	}
	if _, ok := calls["throttled:"+opGetParameters]; ok {
		t.Errorf("throttled counts among the calls: %v", calls)
	}
	if peak != 2 { // 20 calls in the 10 s from 10 to 20
		t.Errorf("peak = %v, want 2/s", peak)
	}
	if c, _, span, _ := samplesBetween(samples[:1], 0, time.Minute); len(c) != 0 || span != 0 {
		t.Errorf("one sample: %v over %s, want nothing", c, span)
	}
}

func TestParseNodes(t *testing.T) {
	got, err := parseNodes("10, 50,100")
	if err != nil || len(got) != 3 || got[0] != 10 || got[1] != 50 || got[2] != 100 {
		t.Errorf("parseNodes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "1", "10,x", "501", "10,,20"} {
		if _, err := parseNodes(bad); err == nil {
			t.Errorf("parseNodes(%q) accepted", bad)
		}
	}
}

func TestLatencySummary(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Second)
	}
	if got := latencySummary(lat, 0); got != "51 / 91 / 100 s" {
		t.Errorf("latencySummary = %q", got)
	}
	if got := latencySummary(lat[:1], 3); got != "1 / 1 / 1 s (3 pods not reached)" {
		t.Errorf("latencySummary with unreached = %q", got)
	}
	if got := latencySummary(nil, 0); got != "-" {
		t.Errorf("latencySummary(nil) = %q", got)
	}
}
