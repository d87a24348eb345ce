package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// The fleet section of BENCHMARKS.md sits between these markers: `make
// fleet` replaces it, `make bench` keeps it.
const (
	fleetBegin = "<!-- fleet: written by make fleet (go run ./dev/bench -fleet); make bench keeps it -->"
	fleetEnd   = "<!-- /fleet -->"
)

// runFleet is run for -fleet: the fleet simulation alone.
func runFleet(o options, command string) (int, error) {
	e, err := newEnv(o)
	defer e.close(o.keep)
	if err != nil {
		return 0, err
	}
	b := &bench{o: o, e: e}
	loadBefore := loadAvg()
	start := time.Now()
	if err := b.fleetTable(); err != nil {
		return 0, err
	}
	b.load = fmt.Sprintf("load average %s before, %s after", loadBefore, loadAvg())
	section := b.fleetMarkdown(command, time.Since(start))
	fmt.Print(section)
	if o.write != "" {
		old, err := os.ReadFile(o.write)
		if err != nil && !os.IsNotExist(err) {
			return 0, err
		}
		if err := os.WriteFile(o.write, []byte(spliceFleet(string(old), section)), 0o644); err != nil {
			return 0, err
		}
		fmt.Fprintln(os.Stderr, "bench: wrote the fleet section of", o.write)
	}
	return 0, nil
}

// spliceFleet puts section (markers included) in doc: in place of the
// fleet section doc has, else before its Targets, else at its end.
func spliceFleet(doc, section string) string {
	section = strings.TrimSpace(section) + "\n"
	if i := strings.Index(doc, fleetBegin); i >= 0 {
		if j := strings.Index(doc[i:], fleetEnd); j >= 0 {
			return doc[:i] + strings.TrimSpace(section) + doc[i+j+len(fleetEnd):]
		}
	}
	if i := strings.Index(doc, "\n## Targets\n"); i >= 0 {
		return doc[:i+1] + section + "\n" + doc[i+1:]
	}
	if doc != "" && !strings.HasSuffix(doc, "\n") {
		doc += "\n"
	}
	if doc != "" {
		doc += "\n"
	}
	return doc + section
}

// fleetSection returns the fleet section of doc, markers included, or "".
func fleetSection(doc string) string {
	i := strings.Index(doc, fleetBegin)
	if i < 0 {
		return ""
	}
	j := strings.Index(doc[i:], fleetEnd)
	if j < 0 {
		return ""
	}
	return doc[i : i+j+len(fleetEnd)]
}

// fleetMarkdown is the section: the measured rows against the model, and
// the model for 1,000 and 5,000 nodes beside a provider that calls AWS on
// every republish.
func (b *bench) fleetMarkdown(command string, elapsed time.Duration) string {
	var sb strings.Builder
	sb.WriteString(fleetBegin + "\n")
	sb.WriteString("## Fleet: AWS calls against the account's quotas\n\n")
	fmt.Fprintf(&sb, "Produced by `make fleet`, on %s in %s; this run's command:\n\n```\nKUMO_BIN=$(tools/build.sh kumo) %s\n```\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), elapsed.Round(time.Second), command)
	fmt.Fprintf(&sb, "Machine: %s; %s.\n\n", machine(), b.load)
	fmt.Fprintf(&sb, `Each node is a real provider process with its own socket (the harness's startProvider),
all before one AWS front that enforces the account's per-operation quotas (GetSecretValue
10,000/s, DescribeSecret 40,000/s, GetParameters 40/s) and answers ThrottlingException past
them. Each node runs pods of a few identities; each pod is mounted every 60-90 s at its own
phase, as the kubelet republishes (with the driver's --rotation-poll-interval at most that;
its 2m default halves every figure here, ours and the every-republish provider's alike).
Time is compressed %dx: one real second is %d simulated seconds; the provider's windows
(--secret-ttl 30s, --stale-if-error 1h, --negative-ttl 10s, and --retry-budget 30s and
--aws-call-timeout 5s down to 3s and 1s of wall time at most: the emulator on a shared machine
answers in tens of milliseconds) are shortened and the quotas raised by the same factor, so
the rates below are per simulated (real-life) second. STS credentials last an hour of wall time, so STS is called once per
identity and node in a run (the model's 1 per 55 minutes in steady state is left out).

Runs per size: **start** (every pod's first Mount within the first minute against fresh
providers, then steady: "fleet start" is minutes 0-1, "steady" minutes 3-%d);
**drain** (at minute 3 a tenth of the nodes stop and their pods are mounted on the others
within 30 s: minutes 3-5); **SSM quota at default** (one identity per node whose class has
30 parameters, three GetParameters batches, against GetParameters' 40/s shared as by a
1,000-node fleet: 40 x nodes/1,000 calls/s, so the quota binds as it would at 1,000 nodes).
The secret is rotated at minutes 3.5 and 5.5; a pod's rotation latency is the time from the
rotation to its first Mount that returns the new version. "model" is dev/bench/fleetmodel.go
for the same shape.

`, b.o.fleetScale, b.o.fleetScale, b.o.fleetMinutes)
	sb.WriteString("| scenario | nodes | identities x pods per node | secrets, batches per identity | GetSecretValue/s (model) | GetParameters/s (model) | GetParameters quota/s | GetParameters answered/s | peak GetParameters/s | throttled calls | refreshes throttled, held back at the end | Mounts | failed Mounts: cached identity / first | rotation latency p50 / p90 / max | every republish (ASCP), model: STS, DescribeSecret or GetSecretValue, GetParameters /s |\n")
	sb.WriteString("|---|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|\n")
	for _, r := range b.fleet {
		s := r.shape
		var throttled int64
		for _, n := range r.throttled {
			throttled += n
		}
		ascp := s.everyRepublishRates()
		if r.scenario == "fleet start" {
			ascp = s.everyRepublishStartRates(startSpread)
		}
		answered := float64(r.calls[opGetParameters]-r.throttled[opGetParameters]) / r.span.Seconds()
		fmt.Fprintf(&sb, "| %s | %d | %d x %d | %d, %d | %.2f (%.2f) | %.2f (%.2f) | %s | %.2f | %.2f | %d | %.0f, %.0f | %d | %d / %d | %s | %.2f, %.2f, %.2f |\n",
			r.scenario, s.Nodes, s.IDsPerNode, s.PodsPerID, s.Secrets, s.Batches,
			r.rate(opGetSecretValue), r.model.GetSecretValue, r.rate(opGetParameters), r.model.GetParameters,
			trimFloat(r.quota), answered, r.peak, throttled, r.throttledRefreshes, r.heldBack, r.mounts, r.failedCached, r.failedFirst, latencySummary(r.latencies, r.unreached),
			ascp.STS, ascp.DescribeSecret+ascp.GetSecretValue, ascp.GetParameters)
	}
	sb.WriteString("\nCalls/s count every call the front answered, throttled ones included. Mounts, failures and rotation latencies are the whole run's (the start and steady rows share a run). \"model\" for the start row is every key's first fetch within the minute plus the refreshes whose window ends in it; for the drain, steady plus a first fetch for every moved pod (an upper bound); for the SSM row, the demand the quota cuts down. The last column is a provider that calls AWS on every Mount for the same fleet (fleetmodel.go everyRepublishRates): its GetParameters alone would exceed the quota of the SSM row by far, and it has no value to serve when throttled.\n")
	for _, r := range b.fleet {
		if r.firstErr != "" {
			fmt.Fprintf(&sb, "\n- %s, %d nodes: first failed Mount: %s\n", r.scenario, r.shape.Nodes, r.firstErr)
		}
	}
	b.fleetModelMarkdown(&sb)
	sb.WriteString(fleetEnd + "\n")
	return sb.String()
}

// fleetModelMarkdown is the model's table for fleets too big to run here.
func (b *bench) fleetModelMarkdown(sb *strings.Builder) {
	sb.WriteString("\n### The model at 1,000 and 5,000 nodes\n\n")
	sb.WriteString("Calls per second, fleet-wide, against the quotas, for the provider (steady state, and a cluster start with every first Mount within a minute) and for a provider that calls AWS on every republish, as the AWS provider (ASCP) does: STS and, per secret, DescribeSecret on every Mount (GetSecretValue when the version changed), GetParameters per batch on every Mount.\n\n")
	sb.WriteString("| nodes | identities x pods per node | secrets, batches | provider | GetSecretValue/s | DescribeSecret/s | GetParameters/s (quota 40) | STS/s |\n|--:|---|---|---|--:|--:|--:|--:|\n")
	for _, nodes := range []int{1000, 5000} {
		for _, s := range fleetModelShapes(nodes) {
			for _, row := range []struct {
				name string
				r    fleetRates
			}{
				{"this provider, steady", s.steadyRates()},
				{"this provider, cluster start", s.startRates(startSpread)},
				{"every republish (ASCP), steady", s.everyRepublishRates()},
				{"every republish (ASCP), cluster start", s.everyRepublishStartRates(startSpread)},
			} {
				gp := fmt.Sprintf("%.1f", row.r.GetParameters)
				if row.r.GetParameters > 40 {
					gp = "**" + gp + "**"
				}
				fmt.Fprintf(sb, "| %d | %d x %d | %d, %d | %s | %.1f | %.1f | %s | %.1f |\n",
					nodes, s.IDsPerNode, s.PodsPerID, s.Secrets, s.Batches, row.name,
					row.r.GetSecretValue, row.r.DescribeSecret, gp, row.r.STS)
			}
		}
	}
	sb.WriteString("\nBold: past GetParameters' default quota (40/s; 3,000 with Parameter Store's higher-throughput setting). A fleet past it is throttled; the provider then backs each throttled refresh off (2, 4, up to 8 windows) and serves the value it holds, which brings the fleet back under a quota it exceeds by up to 8 times (the \"SSM quota at default\" rows above); a provider that calls AWS on every Mount has nothing to serve and fails those Mounts.\n\n")
}

// fleetModelShapes are the shapes of the model table: one identity with
// one parameter batch per node (the sizing case), the simulation's two.
func fleetModelShapes(nodes int) []fleetShape {
	return []fleetShape{
		{Nodes: nodes, IDsPerNode: 1, PodsPerID: 10, Secrets: 1, Batches: 1, Window: 30 * time.Second},
		{Nodes: nodes, IDsPerNode: 2, PodsPerID: 2, Secrets: 1, Batches: 1, Window: 30 * time.Second},
		{Nodes: nodes, IDsPerNode: 1, PodsPerID: 4, Secrets: 1, Batches: 3, Window: 30 * time.Second},
	}
}

// latencySummary is "p50 / p90 / max" of the latencies, in whole seconds,
// and how many pods a rotation did not reach.
func latencySummary(lat []time.Duration, unreached int) string {
	if len(lat) == 0 {
		return "-"
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	q := func(p int) time.Duration { return s[min(len(s)-1, len(s)*p/100)] }
	out := fmt.Sprintf("%d / %d / %d s", int(q(50).Seconds()), int(q(90).Seconds()), int(s[len(s)-1].Seconds()))
	if unreached > 0 {
		out += fmt.Sprintf(" (%d pods not reached)", unreached)
	}
	return out
}

func trimFloat(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", f), "0"), ".")
}
