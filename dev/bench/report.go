package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

// run runs every scenario and reports; it returns how many targets failed.
func run(o options, command string) (int, error) {
	e, err := newEnv(o)
	defer e.close(o.keep)
	if err != nil {
		return 0, err
	}
	b := &bench{o: o, e: e}
	if err := b.rotate(); err != nil {
		return 0, err
	}
	// Warm the emulator, the front and the page cache up, so the first
	// scenario is not charged for them.
	if err := b.warmUp(); err != nil {
		return 0, err
	}
	loadBefore := loadAvg()
	start := time.Now()
	steps := []struct {
		name string
		fn   func() error
	}{
		{"cold", b.cold},
		{"republish", b.republish},
		{"podidentity", b.podIdentity},
		{"burst", b.burst},
		{"denied", b.denied},
		{"steady1", func() error { return b.throughput(1) }},
		{"steady8", func() error { return b.throughput(8) }},
		{"steady32", func() error { return b.throughput(32) }},
		{"rotation", b.rotation},
		{"long", b.long},
		{"identities", b.identities},
		{"faults", b.faults},
		{"outage", b.outage},
		{"latency", b.latencyTable},
	}
	for _, step := range steps {
		if o.only != nil && !o.only.MatchString(step.name) {
			continue
		}
		if err := step.fn(); err != nil {
			return 0, err
		}
	}
	elapsed := time.Since(start)
	b.load = fmt.Sprintf("load average %s before the scenarios, %s after", loadBefore, loadAvg())

	targets := b.targets()
	failed := 0
	for _, t := range targets {
		if !t.pass {
			failed++
		}
	}
	report := b.markdown(command, elapsed, targets)
	fmt.Print(report)
	if o.write != "" {
		// The fleet section is make fleet's: kept as it was.
		if old, err := os.ReadFile(o.write); err == nil {
			if fleet := fleetSection(string(old)); fleet != "" {
				report = spliceFleet(report, fleet)
			}
		}
		if err := os.WriteFile(o.write, []byte(report), 0o644); err != nil {
			return failed, err
		}
		fmt.Fprintln(os.Stderr, "bench: wrote", o.write)
	}
	return failed, nil
}

func (b *bench) find(prefix string, t target) *row {
	for _, r := range b.rows {
		if strings.HasPrefix(r.scenario, prefix) && r.target == t {
			return r
		}
	}
	return nil
}

type targetResult struct {
	name, figure string
	pass         bool
}

func (b *bench) targets() []targetResult {
	var out []targetResult
	add := func(name string, pass bool, format string, args ...any) {
		out = append(out, targetResult{name: name, pass: pass, figure: fmt.Sprintf(format, args...)})
	}

	if r, off := b.find("republish", cached), b.find("republish", uncached); r != nil && off != nil {
		per := float64(r.awsTotal()) / float64(max(r.windows, 1))
		add(fmt.Sprintf("%d pods x %d republish rounds of one identity and one secret: at most 2 AWS calls per freshness window", b.o.pods, b.o.rounds),
			r.awsTotal() <= 2*int64(max(r.windows, 1)) && r.res.errors == 0,
			"%d calls (%s) over %d windows of %s = %.1f per window; caching off: %d calls",
			r.awsTotal(), fmtCalls(r.aws), r.windows, b.o.window, per, off.awsTotal())
	}
	for _, callers := range []string{"8", "32"} {
		c, n := b.find("steady "+callers+" ", cached), b.find("steady "+callers+" ", null)
		if c == nil || n == nil {
			continue
		}
		ratio := c.res.rate() / n.res.rate()
		add("cached Mount throughput at "+callers+" callers >= 80% of the null provider's", ratio >= 0.8,
			"%.0f vs %.0f mounts/s = %.0f%%; provider CPU per Mount %.0f vs %.0f µs", c.res.rate(), n.res.rate(), 100*ratio,
			float64(c.cpuPerMount())/1e3, float64(n.cpuPerMount())/1e3)
	}
	if c := b.find("steady 1 ", cached); c != nil {
		p50 := c.res.percentile(50)
		add("cached p50 latency at 1 caller < 0.5 ms", p50 < 500*time.Microsecond && c.res.errors == 0, "%s", fmtDur(p50))
	}
	if r := b.find("long run", cached); r != nil {
		add(fmt.Sprintf("provider RSS < 40 MiB after %d cached mounts", r.res.mounts),
			r.end.HWM < 40<<20 && r.end.RSS < 40<<20 && r.res.errors == 0,
			"RSS %s MiB after warm-up, %s MiB at the end, peak (VmHWM) %s MiB", mib(r.start.RSS), mib(r.end.RSS), mib(r.end.HWM))
		add(fmt.Sprintf("provider fd count unchanged after %d cached mounts", r.res.mounts),
			r.end.FDs == r.start.FDs, "%d fds after warm-up, %d at the end", r.start.FDs, r.end.FDs)
	}
	for _, t := range []target{cached, uncached} {
		if r := b.find("rotation", t); r != nil {
			add(fmt.Sprintf("rotation (%s): after the freshness window every pod gets the new value", t),
				r.afterPods > 0 && r.afterOK == r.afterPods,
				"%d of %d pods", r.afterOK, r.afterPods)
		}
	}
	for _, t := range []target{cached, uncached} {
		if r := b.find("burst", t); r != nil && t == cached {
			add(fmt.Sprintf("%d concurrent first Mounts of one identity coalesce into one STS and one Secrets Manager call", r.res.mounts),
				r.aws["sts:AssumeRoleWithWebIdentity"] == 1 && r.aws["secretsmanager:GetSecretValue"] == 1 && r.awsTotal() == 2 && r.kube["get serviceaccounts"] == 1,
				"%s, %d Kubernetes API calls (%d service account reads; the others read the issuer's keys once)", fmtCalls(r.aws), r.kubeTotal(), r.kube["get serviceaccounts"])
		}
		if r := b.find("denied", t); r != nil && t == cached {
			add(fmt.Sprintf("a refused pod mounting %d times within the negative-cache window costs one refused call", r.res.mounts),
				r.aws["secretsmanager:GetSecretValue"] == 1 && r.res.errors == r.res.mounts,
				"%s; %d of %d Mounts refused", fmtCalls(r.aws), r.res.errors, r.res.mounts)
		}
	}
	for _, r := range b.latency {
		off := b.latencyCellOf(0, r.pods)
		if r.window != defaultTTL || off == nil {
			continue
		}
		add(fmt.Sprintf("rotation latency with the default --secret-ttl (%s) at %d pod(s): within 30 s of cache off's (the AWS provider's pattern)", defaultTTL, r.pods),
			r.unconfirmed == 0 && r.errors == 0 && r.worst <= off.worst+30*time.Second,
			"worst %d s vs %d s", int(r.worst.Seconds()), int(off.worst.Seconds()))
		if r.pods >= 100 {
			ours, theirs := r.perHour(r.gsv)+60.0/55, off.perHour(off.gsv)+off.perHour(off.sts)
			add(fmt.Sprintf("AWS calls with the default --secret-ttl at %d pods of one identity: at least 50x fewer than cache off", r.pods),
				ours*50 <= theirs, "%.0f vs %.0f calls/h = %.0fx", ours, theirs, theirs/ours)
		}
	}
	b.faultTargets(add)
	errs, first := 0, ""
	for _, r := range b.rows {
		if r.failing {
			continue
		}
		errs += r.res.errors
		if first == "" && r.res.firstErr != "" {
			first = r.scenario + " (" + string(r.target) + "): " + r.res.firstErr
		}
	}
	for _, r := range b.latency {
		errs += r.errors
		if first == "" && r.firstErr != "" {
			first = fmt.Sprintf("latency %s, %d pods: %s", windowName(r.window), r.pods, r.firstErr)
		}
	}
	fig := fmt.Sprintf("%d failed or wrong mounts", errs)
	if first != "" {
		fig += "; first: " + first
	}
	add("every Mount of every scenario succeeds with the stored value", errs == 0, "%s", fig)
	return out
}

var opNames = map[string]string{
	"sts:AssumeRoleWithWebIdentity": "STS",
	"secretsmanager:GetSecretValue": "GSV",
}

func fmtCalls(m map[string]int64) string {
	if len(m) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		name := k
		if n, ok := opNames[k]; ok {
			name = n
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, m[k]))
	}
	return strings.Join(parts, ", ")
}

func (b *bench) table(sb *strings.Builder) {
	sb.WriteString("| scenario | provider | callers | mounts | errors | mounts/s | p50 | p99 | AWS calls (by operation) | AWS calls/mount | Kubernetes API calls | peak RSS MiB | fds start -> end |\n")
	sb.WriteString("|---|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|\n")
	for _, r := range b.rows {
		awsCalls, perMount, kube := "-", "-", "-"
		if r.target != null {
			awsCalls = fmtCalls(r.aws)
			perMount = fmt.Sprintf("%.3f", float64(r.awsTotal())/float64(max(r.res.mounts, 1)))
			kube = fmt.Sprint(r.kubeTotal())
		}
		fmt.Fprintf(sb, "| %s | %s | %d | %d | %d | %.0f | %s | %s | %s | %s | %s | %s | %d -> %d |\n",
			r.scenario, r.target, r.callers, r.res.mounts, r.res.errors, r.res.rate(),
			fmtDur(r.res.percentile(50)), fmtDur(r.res.percentile(99)), awsCalls, perMount, kube,
			mib(r.end.HWM), r.start.FDs, r.end.FDs)
	}
}

func (b *bench) ratios(sb *strings.Builder) {
	base := ""
	if b.o.baseline != "" {
		base = fmt.Sprintf(" cached / baseline (%s) throughput | baseline / cached peak RSS |", b.o.baseline)
	}
	sb.WriteString("| scenario | cached / null throughput | null / cached provider CPU per Mount | cached / cache-off throughput | cache-off / cached AWS calls | cache-off / cached p50 |" + base + "\n")
	sb.WriteString("|---|--:|--:|--:|--:|--:|" + strings.Repeat("--:|", strings.Count(base, "|")) + "\n")
	seen := map[string]bool{}
	for _, r := range b.rows {
		if seen[r.scenario] || r.target != cached {
			continue
		}
		seen[r.scenario] = true
		cell := func(num, den float64, suffix string) string {
			if den <= 0 {
				if num > 0 {
					return "inf"
				}
				return "-"
			}
			return fmt.Sprintf("%.2f%s", num/den, suffix)
		}
		vsNull, cpu, vsOff, calls, p50 := "-", "-", "-", "-", "-"
		if n := b.find(r.scenario, null); n != nil {
			vsNull = cell(r.res.rate(), n.res.rate(), "")
			if c := r.cpuPerMount(); c > 0 && n.cpuPerMount() > 0 {
				cpu = fmt.Sprintf("%.2f (%.0f vs %.0f µs)", float64(n.cpuPerMount())/float64(c), float64(n.cpuPerMount())/1e3, float64(c)/1e3)
			}
		}
		if off := b.find(r.scenario, uncached); off != nil {
			vsOff = cell(r.res.rate(), off.res.rate(), "x")
			calls = cell(float64(off.awsTotal()), float64(r.awsTotal()), "x")
			p50 = cell(float64(off.res.percentile(50)), float64(r.res.percentile(50)), "x")
		}
		if vsNull == "-" && vsOff == "-" && b.find(r.scenario, baseline) == nil {
			continue // nothing to compare with
		}
		fmt.Fprintf(sb, "| %s | %s | %s | %s | %s | %s |", r.scenario, vsNull, cpu, vsOff, calls, p50)
		if b.o.baseline != "" {
			vsBase, rss := "-", "-"
			if bl := b.find(r.scenario, baseline); bl != nil {
				vsBase = cell(r.res.rate(), bl.res.rate(), "x")
				rss = cell(float64(bl.end.HWM), float64(r.end.HWM), "x")
			}
			fmt.Fprintf(sb, " %s | %s |", vsBase, rss)
		}
		sb.WriteString("\n")
	}
}

func (b *bench) markdown(command string, elapsed time.Duration, targets []targetResult) string {
	var sb strings.Builder
	sb.WriteString("# Benchmarks\n\n")
	sb.WriteString("Produced by `make bench` (extra harness flags go in `BENCHFLAGS`), which runs the Go benchmarks (last section) and then the harness; this run's harness command:\n\n")
	fmt.Fprintf(&sb, "```\nKUMO_BIN=$(tools/build.sh kumo) %s\n```\n\n", command)
	if b.o.baseline != "" {
		fmt.Fprintf(&sb, "\"baseline\" rows are the provider built from git revision %s (caching on), run in the same scenarios of the same run: the before/after figures.\n\n", b.o.baseline)
	}
	fmt.Fprintf(&sb, "Run on %s, %s of scenarios. Machine: %s; %s (other work on the machine shows as load above the harness's own).\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), elapsed.Round(time.Second), machine(), b.load)
	sb.WriteString(`The harness (dev/bench/) starts as separate processes the kumo AWS emulator, the counting AWS
front (dev/awsfront) before it and the provider binary built from this tree; it serves a
Kubernetes API stand-in on loopback for the service-account role annotation, and drives
Mount over the provider's unix socket as the Secrets Store CSI Driver does: one gRPC
connection, N concurrent callers, pod attributes with the service-account token map,
permission "420", the SecretProviderClass of examples/ (the 30-credential PMP document,
filePermission 0440). Each scenario starts a fresh provider process, so its peak RSS
(VmHWM) and fd count (/proc/PID/fd) are its own. "cache off" is the same binary with
--cache=false; "null" is a gRPC server that answers every Mount with a precomputed
response of the same 30 files: the ceiling on this machine with this client, which shares
the 2 cores with the provider.

`)
	sb.WriteString("## Results\n\n")
	b.table(&sb)
	sb.WriteString("\nNotes:\n\n")
	seen := map[string]bool{}
	for _, r := range b.rows {
		if r.note != "" && !seen[r.scenario+r.note] {
			seen[r.scenario+r.note] = true
			fmt.Fprintf(&sb, "- %s (%s): %s\n", r.scenario, r.target, r.note)
		}
	}
	sb.WriteString("- AWS calls: STS = sts:AssumeRoleWithWebIdentity, GSV = secretsmanager:GetSecretValue, counted by the front. Steady scenarios count after their warm-up round.\n")
	sb.WriteString("\n## Ratios (same run)\n\n")
	b.ratios(&sb)
	b.faultMarkdown(&sb)
	b.latencyMarkdown(&sb)
	sb.WriteString("\n## Targets\n\n| target | measured | result |\n|---|---|---|\n")
	for _, t := range targets {
		res := "PASS"
		if !t.pass {
			res = "**FAIL**"
		}
		fmt.Fprintf(&sb, "| %s | %s | %s |\n", t.name, t.figure, res)
	}
	if b.o.goBench != "" {
		if gb, err := os.ReadFile(b.o.goBench); err == nil && len(gb) > 0 {
			sb.WriteString("\n## Go benchmarks (hot functions)\n\n```\n")
			sb.WriteString(strings.TrimSpace(benchLines(string(gb))))
			sb.WriteString("\n```\n")
		}
	}
	return sb.String()
}

// benchLines keeps the benchmark result lines and package headers of `go
// test -bench` output.
func benchLines(s string) string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "Benchmark") || strings.HasPrefix(l, "pkg:") || strings.HasPrefix(l, "cpu:") && !contains(out, l) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("%d cores (%s)%s, %s %s/%s", runtime.NumCPU(), cpu, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// loadAvg is the 1-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
