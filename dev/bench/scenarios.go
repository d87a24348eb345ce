package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// defaultTTL is the provider's --secret-ttl default, used where a scenario
// does not exercise the freshness window.
const defaultTTL = 30 * time.Second

// row is one scenario against one target.
type row struct {
	scenario string
	target   target
	callers  int
	res      loadResult
	aws      map[string]int64
	kube     map[string]int64
	start    procStats // after start (and warm-up, where there is one)
	end      procStats
	// windows is the number of freshness windows the scenario spanned
	// (republish only).
	windows int
	// afterOK and afterPods: pods that got the new version once the
	// window had passed after a rotation, out of all (rotation only).
	afterOK, afterPods int
	// failing: the scenario expects Mounts to fail (a refused identity,
	// injected AWS faults, an outage with --stale-if-error off); its own
	// target checks how, and they are not counted as errors of the
	// provider in "every Mount succeeds".
	failing bool
	// stale and retries are the provider's pmp_cache_stale_served_total
	// (secrets) and pmp_aws_retries_total at the end (fault and outage
	// scenarios only).
	stale, retries float64
	note           string
	// cpu is the provider's CPU time while it served the scenario's
	// Mounts (throughput scenarios only).
	cpu time.Duration
}

// cpuPerMount is the provider's CPU time per Mount, 0 when not measured.
func (r *row) cpuPerMount() time.Duration {
	if r.cpu <= 0 || r.res.mounts == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.res.mounts)
}

func (r *row) awsTotal() int64 {
	var n int64
	for _, v := range r.aws {
		n += v
	}
	return n
}

func (r *row) kubeTotal() int64 {
	var n int64
	for _, v := range r.kube {
		n += v
	}
	return n
}

// secretState is the stored secret's current version, for checks.
type secretState struct {
	mu      sync.Mutex
	files   map[string]string
	version string
}

func (s *secretState) set(files map[string]string, version string) {
	s.mu.Lock()
	s.files, s.version = files, version
	s.mu.Unlock()
}

func (s *secretState) get() (map[string]string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.files, s.version
}

type bench struct {
	o      options
	e      *env
	secret secretState
	gen    int
	rows   []*row
	load   string
	// latency is the rotation-latency table's cells.
	latency []latencyRow
	// fleet are the fleet simulation's rows (-fleet); fleetVersion the
	// fleet secret's version before a run rotates it.
	fleet        []*fleetRow
	fleetVersion string
}

// rotate stores a new generation of the PMP document.
func (b *bench) rotate() error {
	b.gen++
	doc, files := pmpDocument(fmt.Sprintf("g%d", b.gen))
	v, err := b.e.putSecret(doc)
	if err != nil {
		return err
	}
	b.secret.set(files, v)
	return nil
}

// measure starts a provider for t, runs body against it, and fills in the
// row's AWS and Kubernetes calls and process figures. body may set
// r.start itself (after a warm-up); otherwise it is taken before body.
func (b *bench) measure(name string, t target, ttl time.Duration, callers int, body func(p *proc, r *row) error) (*row, error) {
	return b.measureWith(name, t, ttl, callers, nil, body)
}

// measureWith is measure with extra provider flags.
func (b *bench) measureWith(name string, t target, ttl time.Duration, callers int, extra []string, body func(p *proc, r *row) error) (*row, error) {
	p, err := b.e.startProvider(t, ttl, name, extra...)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	r := &row{scenario: name, target: t, callers: callers}
	if err := b.e.resetCounts(); err != nil {
		return nil, err
	}
	b.e.kube.take()
	if r.start, err = readProc(p.pid()); err != nil {
		return nil, err
	}
	if err := body(p, r); err != nil {
		return nil, fmt.Errorf("%s (%s): %w", name, t, err)
	}
	if r.end, err = readProc(p.pid()); err != nil {
		return nil, err
	}
	if r.aws, err = b.e.awsCounts(); err != nil {
		return nil, err
	}
	r.kube = b.e.kube.take()
	if t == null {
		r.aws, r.kube = nil, nil // nothing of the null provider's goes there
	}
	b.rows = append(b.rows, r)
	b.logRow(r)
	return r, nil
}

func (b *bench) logRow(r *row) {
	fmt.Fprintf(os.Stderr, "bench: %-22s %-9s %7d mounts %9.0f/s  p50 %s  p99 %s  AWS %d  errors %d  peak RSS %s MiB  CPU/mount %.0f µs\n",
		r.scenario, r.target, r.res.mounts, r.res.rate(), fmtDur(r.res.percentile(50)), fmtDur(r.res.percentile(99)), r.awsTotal(), r.res.errors, mib(r.end.HWM), float64(r.cpuPerMount())/1e3)
}

var allTargets = []target{cached, uncached, null}

// cold: every Mount is the first of its identity (its own namespace and
// service account): a credential exchange and a secret fetch each.
func (b *bench) cold() error {
	name := fmt.Sprintf("cold %d identities", b.o.cold)
	for _, t := range allTargets {
		pods := make([]pod, b.o.cold)
		for i := range pods {
			pods[i] = newPod(fmt.Sprintf("tenant-%d", i), fmt.Sprintf("pmp-%d", i), i)
		}
		_, err := b.measure(name, t, defaultTTL, 8, func(p *proc, r *row) error {
			r.res = run1(p.client, load{pods: pods, callers: 8, count: len(pods), check: b.checkFor(t)})
			if t != null {
				r.note = "each first Mount reads its service account, then calls STS and Secrets Manager; the provider's Kubernetes client is limited to 50 requests/s (burst 100), which paces this scenario past the first 100 identities"
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// checkFor checks responses against the stored secret, except the null
// provider's, which are precomputed.
func (b *bench) checkFor(t target) func(int, *v1alpha1.MountResponse) error {
	if t == null {
		return nil
	}
	return checkFiles(b.secret.get)
}

// republish: pods of one service account, republished in rounds every
// half freshness window (the kubelet's ~1 min pod sync against the 2 min
// default window, scaled down).
func (b *bench) republish() error {
	name := fmt.Sprintf("republish %dx%d", b.o.pods, b.o.rounds)
	pods := podsOf("pmp", "pmp-secrets-access", b.o.pods)
	for _, t := range allTargets {
		_, err := b.measure(name, t, b.o.window, 8, func(p *proc, r *row) error {
			b.republishRounds(p, r, pods, b.checkFor(t))
			r.note = fmt.Sprintf("rounds every %s, freshness window %s: %d windows", b.o.window/2, b.o.window, r.windows)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// throughputSlices is how many turns each target takes in a throughput
// scenario: the targets alternate, so a change in the machine's load
// (other work on the same 2 cores) weighs on all of them alike.
const throughputSlices = 5

// republishRounds mounts every pod once per round, b.o.rounds rounds two
// to a freshness window (the kubelet's republish), adding the results to
// r and setting the number of windows the rounds spanned.
func (b *bench) republishRounds(p *proc, r *row, pods []pod, check func(int, *v1alpha1.MountResponse) error) {
	first := time.Now()
	var last time.Time
	for round := range b.o.rounds {
		r.res.add(run1(p.client, load{pods: pods, callers: 8, count: len(pods), check: check}))
		last = time.Now()
		if round < b.o.rounds-1 {
			time.Sleep(time.Until(first.Add(time.Duration(round+1) * b.o.window / 2)))
		}
	}
	r.windows = int(math.Ceil(last.Sub(first).Seconds() / b.o.window.Seconds()))
}

// throughput: every target is started and warmed up (one round of the
// pods), then they take turns serving as many Mounts as fit in a slice of
// the duration, by callers concurrent callers. AWS and Kubernetes calls
// are counted around each turn: an idle provider makes none.
func (b *bench) throughput(callers int) error {
	name := fmt.Sprintf("steady %d caller", callers)
	if callers > 1 {
		name += "s"
	}
	pods := podsOf("pmp", "pmp-secrets-access", b.o.pods)
	targets := b.withBaseline(allTargets...)
	procs := make([]*proc, 0, len(targets))
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	rows := make([]*row, len(targets))
	for i, t := range targets {
		p, err := b.e.startProvider(t, defaultTTL, name)
		if err != nil {
			return err
		}
		procs = append(procs, p)
		if w := run1(p.client, load{pods: pods, callers: 8, count: len(pods), check: b.checkFor(t)}); w.errors > 0 {
			return fmt.Errorf("%s (%s) warm-up: %d errors, first: %s", name, t, w.errors, w.firstErr)
		}
		rows[i] = &row{scenario: name, target: t, callers: callers, aws: map[string]int64{}, kube: map[string]int64{},
			note: fmt.Sprintf("after one warm-up round; the targets took %d turns each", throughputSlices)}
		if rows[i].start, err = readProc(p.pid()); err != nil {
			return err
		}
	}
	for turn := range throughputSlices {
		for j := range targets {
			i := (turn + j) % len(targets)
			before, err := b.e.awsCounts()
			if err != nil {
				return err
			}
			b.e.kube.take()
			cpu0, err := readProc(procs[i].pid())
			if err != nil {
				return err
			}
			rows[i].res.add(run1(procs[i].client, load{pods: pods, callers: callers, dur: b.o.duration / throughputSlices}))
			cpu1, err := readProc(procs[i].pid())
			if err != nil {
				return err
			}
			rows[i].cpu += cpu1.CPU - cpu0.CPU
			after, err := b.e.awsCounts()
			if err != nil {
				return err
			}
			for k, v := range after {
				if d := v - before[k]; d != 0 {
					rows[i].aws[k] += d
				}
			}
			for k, v := range b.e.kube.take() {
				rows[i].kube[k] += v
			}
		}
	}
	for i, t := range targets {
		var err error
		if rows[i].end, err = readProc(procs[i].pid()); err != nil {
			return err
		}
		if t == null {
			rows[i].aws, rows[i].kube = nil, nil
		}
		b.rows = append(b.rows, rows[i])
		b.logRow(rows[i])
	}
	return nil
}

// rotation: the pods mount, the secret is rotated in Secrets Manager, the
// pods keep republishing; once the freshness window has passed since the
// rotation, every pod must get the new value and version.
func (b *bench) rotation() error {
	name := "rotation"
	pods := podsOf("pmp", "pmp-secrets-access", b.o.pods)
	for _, t := range []target{cached, uncached} {
		_, err := b.measure(name, t, b.o.window, 8, func(p *proc, r *row) error {
			before := run1(p.client, load{pods: pods, callers: 8, count: len(pods), check: checkFiles(b.secret.get)})
			if before.errors > 0 {
				return fmt.Errorf("before the rotation: %d errors, first: %s", before.errors, before.firstErr)
			}
			r.res.add(before)
			oldFiles, oldVersion := b.secret.get()
			if err := b.rotate(); err != nil {
				return err
			}
			rotated := time.Now()
			newFiles, newVersion := b.secret.get()
			var staleMu sync.Mutex
			stale := 0
			either := func(p int, resp *v1alpha1.MountResponse) error {
				if checkFiles(func() (map[string]string, string) { return newFiles, newVersion })(p, resp) == nil {
					return nil
				}
				if err := checkFiles(func() (map[string]string, string) { return oldFiles, oldVersion })(p, resp); err != nil {
					return errors.New("a pod got neither the old nor the new version")
				}
				staleMu.Lock()
				stale++
				staleMu.Unlock()
				return nil
			}
			// Republish rounds inside the window: old or new are both right.
			settle := b.o.window + b.o.window/5
			for i := 0; i < 100 && time.Since(rotated) < settle; i++ {
				r.res.add(run1(p.client, load{pods: pods, callers: 8, count: len(pods), check: either}))
				time.Sleep(min(b.o.window/4, time.Until(rotated.Add(settle))))
			}
			after := run1(p.client, load{pods: pods, callers: 8, count: len(pods), check: checkFiles(b.secret.get)})
			r.res.add(after)
			r.afterOK, r.afterPods = after.mounts-after.errors, len(pods)
			r.note = fmt.Sprintf("window %s; during it %d mounts still saw the old version; after it %d of %d pods got the new one",
				b.o.window, stale, after.mounts-after.errors, len(pods))
			if after.errors > 0 {
				r.note += " (FIRST ERROR: " + after.firstErr + ")"
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// long: many cached Mounts; memory and open files must not grow.
func (b *bench) long() error {
	name := fmt.Sprintf("long run %d", b.o.longMounts)
	pods := podsOf("pmp", "pmp-secrets-access", b.o.pods)
	for _, t := range b.withBaseline(cached) {
		var series []string
		r, err := b.measure(name, t, defaultTTL, 8, func(p *proc, r *row) error {
			if w := run1(p.client, load{pods: pods, callers: 8, count: len(pods)}); w.errors > 0 {
				return fmt.Errorf("warm-up: %d errors, first: %s", w.errors, w.firstErr)
			}
			var err error
			if r.start, err = readProc(p.pid()); err != nil {
				return err
			}
			// In quarters, sampling RSS and fds after each: flat, or growing?
			const parts = 4
			for i := range parts {
				n := b.o.longMounts/parts + boolInt(i < b.o.longMounts%parts)
				r.res.add(run1(p.client, load{pods: pods, callers: 8, count: n}))
				st, err := readProc(p.pid())
				if err != nil {
					return err
				}
				series = append(series, fmt.Sprintf("%s MiB/%d fds", mib(st.RSS), st.FDs))
			}
			// Let idle connections and timers settle before counting fds.
			time.Sleep(200 * time.Millisecond)
			return nil
		})
		if err != nil {
			return err
		}
		r.note = fmt.Sprintf("after warm-up: RSS %s MiB, %d fds; after each quarter of the mounts: %s; at the end: RSS %s MiB (peak %s), %d fds",
			mib(r.start.RSS), r.start.FDs, strings.Join(series, ", "), mib(r.end.RSS), mib(r.end.HWM), r.end.FDs)
	}
	return nil
}

// identities: many distinct identities (namespace/service account), each
// mounted once so that each has its role, credentials and secret cached,
// then once more from the caches: what each cached identity costs in
// memory, and whether the caches kept them all.
func (b *bench) identities() error {
	name := fmt.Sprintf("identities %d", b.o.identities)
	pods := make([]pod, b.o.identities)
	for i := range pods {
		pods[i] = newPod(fmt.Sprintf("team-%d", i), fmt.Sprintf("pmp-%d", i), i)
	}
	_, err := b.measure(name, cached, defaultTTL, 8, func(p *proc, r *row) error {
		r.res.add(run1(p.client, load{pods: pods, callers: 8, count: len(pods), check: checkFiles(b.secret.get)}))
		filled, err := readProc(p.pid())
		if err != nil {
			return err
		}
		before, err := b.e.awsCounts()
		if err != nil {
			return err
		}
		r.res.add(run1(p.client, load{pods: pods, callers: 8, count: len(pods), check: checkFiles(b.secret.get)}))
		after, err := b.e.awsCounts()
		if err != nil {
			return err
		}
		var again int64
		for k, v := range after {
			again += v - before[k]
		}
		per := float64(filled.RSS-r.start.RSS) / float64(len(pods))
		r.note = fmt.Sprintf("each identity mounted once (its role, credentials and secret cached), then once more: RSS %s MiB at start, %s MiB with %d identities cached: %.1f KiB per identity; the second round made %d AWS calls (0: every identity still cached); first Mounts are paced by the provider's Kubernetes client (--qps 50, --burst 100, its defaults)",
			mib(r.start.RSS), mib(filled.RSS), len(pods), per/1024, again)
		return nil
	})
	return err
}

// withBaseline is ts, plus the baseline provider when there is one.
func (b *bench) withBaseline(ts ...target) []target {
	if b.o.baseline == "" {
		return ts
	}
	return append(ts, baseline)
}

func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

// warmUp runs a few uncounted Mounts through a provider with caching off.
func (b *bench) warmUp() error {
	p, err := b.e.startProvider(uncached, defaultTTL, "warm-up")
	if err != nil {
		return err
	}
	defer p.stop()
	pods := make([]pod, 40)
	for i := range pods {
		pods[i] = newPod(fmt.Sprintf("warm-%d", i), "pmp", i)
	}
	if r := run1(p.client, load{pods: pods, callers: 8, count: 2 * len(pods)}); r.errors > 0 {
		return fmt.Errorf("warm-up: %d errors, first: %s", r.errors, r.firstErr)
	}
	return nil
}

// burst: 100 pods of one service account mount at once on a cold
// provider, 32 callers: concurrent identical requests must coalesce.
func (b *bench) burst() error {
	name := fmt.Sprintf("burst %d pods", b.o.pods)
	pods := podsOf("burst", "pmp-secrets-access", b.o.pods)
	for _, t := range []target{cached, uncached} {
		_, err := b.measure(name, t, defaultTTL, 32, func(p *proc, r *row) error {
			r.res = run1(p.client, load{pods: pods, callers: 32, count: len(pods), check: b.checkFor(t)})
			r.note = "first Mounts of one identity, all at once"
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// denied: a misconfigured workload crash-loops: its role may not read the
// secret (the front answers AccessDeniedException), and it mounts again
// and again. The negative cache must keep that from reaching AWS each time.
func (b *bench) denied() error {
	name := fmt.Sprintf("denied x%d", b.o.pods)
	pods := podsOf("denied", "pmp-secrets-access", 1)
	if err := b.e.fault("secretsmanager:GetSecretValue", 400, "AccessDeniedException"); err != nil {
		return err
	}
	defer func() { _ = b.e.clearFaults() }()
	for _, t := range []target{cached, uncached} {
		_, err := b.measure(name, t, defaultTTL, 8, func(p *proc, r *row) error {
			res := run1(p.client, load{pods: pods, callers: 8, count: b.o.pods})
			// Every Mount must fail, with the refusal: a success would be a bug.
			r.failing = true
			r.res = res
			code, _, _ := strings.Cut(res.firstErr, ":")
			r.note = fmt.Sprintf("one pod whose role may not read the secret (AccessDeniedException) mounting %d times within the provider's default --negative-ttl (10s): %d of %d refused, code %s",
				b.o.pods, res.errors, res.mounts, code)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
