package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// The fleet simulation (`make fleet`, -fleet): N real provider processes,
// each a node with its own socket, started by the harness's startProvider,
// against one AWS front that enforces the account's per-operation quotas
// (GetSecretValue 10,000/s, DescribeSecret 40,000/s, GetParameters 40/s),
// answering ThrottlingException past them. Each node runs pods of a few
// identities, each pod mounted every 60-90 s at its own phase (the
// kubelet's republish) in time compressed by -fleet-scale: the provider's
// windows (--secret-ttl, --stale-if-error, --retry-budget, --negative-ttl)
// are shortened by the same factor, and the quotas raised by it, so the
// calls per simulated second are the fleet's calls per real second.
//
// Each fleet size runs three times: a cluster start (every pod's first
// Mount within the first minute) that then runs steady; a node drain (a
// tenth of the nodes stopped, their pods mounted on the others); and a
// fleet whose parameters outgrow GetParameters' default quota, given the
// quota's share of a 1,000-node fleet (40/s for 1,000 nodes is 4/s for
// 100), so the quota binds at the simulated size as it would at 1,000.
// The secret is rotated twice in each run; each pod's rotation latency is
// the simulated time from the rotation to its first Mount that returns it.

// fleetQuotas are the AWS quotas the front enforces, per real second
// (Secrets Manager's and Parameter Store's defaults; the higher-throughput
// Parameter Store setting allows 3,000 GetParameters).
var fleetQuotas = []struct {
	op   string
	rate float64
}{
	{"secretsmanager:GetSecretValue", 10000},
	{"secretsmanager:DescribeSecret", 40000},
	{opGetParameters, 40},
}

const (
	opGetParameters  = "amazonssm:GetParameters"
	opGetSecretValue = "secretsmanager:GetSecretValue"
	opSTS            = "sts:AssumeRoleWithWebIdentity"
	fleetSecret      = "fleet-app"
	// ssmQuotaNodes is the fleet size whose share of GetParameters' quota
	// the SSM scenario gives the simulated fleet.
	ssmQuotaNodes = 1000
)

// fleetRun is one run of one fleet size.
type fleetRun struct {
	name  string
	shape fleetShape
	// drain stops a tenth of the nodes at drainAt and mounts their pods on
	// the others.
	drain bool
	// ssmShare gives GetParameters the quota share of a 1,000-node fleet.
	ssmShare bool
}

// fleetRow is one scenario's figures: calls over a span of the run.
type fleetRow struct {
	scenario string
	shape    fleetShape
	span     time.Duration // simulated
	calls    map[string]int64
	// throttled are the calls the front answered past a quota; quota the
	// GetParameters quota, per real second.
	throttled map[string]int64
	quota     float64
	// peak is the highest GetParameters rate over any sampling step.
	peak float64
	// mounts and failed Mounts over the whole run: of an identity the node
	// had fetched before (cached), and first Mounts.
	mounts, failedCached, failedFirst int
	firstErr                          string
	// latencies are the rotation latencies of every pod, simulated;
	// unreached the pods a rotation did not reach by the run's end.
	latencies []time.Duration
	unreached int
	// heldBack and throttledRefreshes are summed over the providers'
	// metrics at the run's end (pmp_cache_held_back,
	// pmp_cache_throttled_total).
	heldBack, throttledRefreshes float64
	// model is the model's figure for the span.
	model fleetRates
}

// rate is op's calls per real second over the span.
func (r *fleetRow) rate(op string) float64 { return float64(r.calls[op]) / r.span.Seconds() }

// fleet is the simulation's state for one run.
type fleet struct {
	b     *bench
	scale int
	shape fleetShape
	nodes []*proc
	pods  []*fleetPod
	start time.Time

	mu sync.Mutex
	// fetched are the (node, identity) pairs that had a successful Mount.
	fetched                           map[[2]int]bool
	mounts, failedCached, failedFirst int
	firstErr                          string
	version                           string // the secret's current version
	rotated                           time.Time
	// seenAt is, per pod, when it first got version (zero: not yet).
	seenAt    []time.Time
	latencies []time.Duration
	unreached int
	samples   []fleetSample
}

// fleetEvent is something the run does at a simulated time.
type fleetEvent struct {
	at time.Duration
	do func() error
}

// fleetPod is one pod: its request, identity and node.
type fleetPod struct {
	index    int
	req      *v1alpha1.MountRequest
	identity int
	node     int
	cancel   context.CancelFunc
	done     chan struct{}
}

// fleetSample is the front's counts at a simulated time.
type fleetSample struct {
	at     time.Duration
	counts map[string]int64
}

// sim is a simulated duration in wall time; real the reverse.
func (f *fleet) sim(d time.Duration) time.Duration  { return d / time.Duration(f.scale) }
func (f *fleet) real(d time.Duration) time.Duration { return d * time.Duration(f.scale) }
func (f *fleet) now() time.Duration                 { return f.real(time.Since(f.start)) }

// fleetTable runs every size.
func (b *bench) fleetTable() error {
	if err := b.fleetObjects(); err != nil {
		return err
	}
	for _, n := range b.o.fleetNodes {
		for _, run := range fleetRuns(n) {
			rows, err := b.fleetRun(run)
			if err != nil {
				return fmt.Errorf("fleet %s, %d nodes: %w", run.name, n, err)
			}
			b.fleet = append(b.fleet, rows...)
		}
	}
	return nil
}

// fleetRuns are the runs of a fleet of n nodes.
func fleetRuns(n int) []fleetRun {
	base := fleetShape{Nodes: n, IDsPerNode: 2, PodsPerID: 2, Secrets: 1, Batches: 1, Window: 30 * time.Second}
	ssmHeavy := fleetShape{Nodes: n, IDsPerNode: 1, PodsPerID: 4, Secrets: 1, Batches: 3, Window: 30 * time.Second}
	return []fleetRun{
		{name: "start", shape: base},
		{name: "drain", shape: base, drain: true},
		{name: "ssm quota", shape: ssmHeavy, ssmShare: true},
	}
}

// The run's timeline, simulated: first Mounts within startSpread; the
// steady span from steadyFrom; rotations at rotateAt; the drain at drainAt.
const (
	startSpread = time.Minute
	steadyFrom  = 3 * time.Minute
	drainAt     = 3 * time.Minute
	drainSpan   = 2 * time.Minute
	sampleEvery = 10 * time.Second
)

var rotateAt = []time.Duration{3*time.Minute + 30*time.Second, 5*time.Minute + 30*time.Second}

// fleetObjects stores the fleet's secret and its parameters (30, three
// batches) in the emulator, not through the front.
func (b *bench) fleetObjects() error {
	if err := b.fleetRotate(nil); err != nil {
		return err
	}
	client := ssm.New(ssm.Options{
		Region: region, BaseEndpoint: aws.String(b.e.emu.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", ""), HTTPClient: noProxy,
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 30 {
		if _, err := client.PutParameter(ctx, &ssm.PutParameterInput{
			Name: aws.String(paramName(i)), Value: aws.String(fmt.Sprintf("setting-%d", i)),
			Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true),
		}); err != nil {
			return fmt.Errorf("storing parameter %s: %w", paramName(i), err)
		}
	}
	return nil
}

func paramName(i int) string { return fmt.Sprintf("/fleet/p%02d", i) }

// fleetObjectsParam is an identity's SecretProviderClass objects: the
// secret and batches times ten parameters.
func fleetObjectsParam(batches int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "- objectName: %s\n", fleetSecret)
	for i := range batches * 10 {
		fmt.Fprintf(&sb, "- objectName: %s\n  objectType: ssmparameter\n  objectAlias: p%02d\n", paramName(i), i)
	}
	return sb.String()
}

// fleetRotate stores a new version of the fleet's secret; with f, from
// then on f measures how long each pod takes to get it.
func (b *bench) fleetRotate(f *fleet) error {
	b.gen++
	v, err := b.e.putNamed(fleetSecret, fmt.Sprintf(`{"user": "app", "password": "generation-%d"}`, b.gen))
	if err != nil {
		return err
	}
	if f == nil {
		b.fleetVersion = v
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closeRotationLocked()
	f.version, f.rotated = v, time.Now()
	f.seenAt = make([]time.Time, len(f.pods))
	return nil
}

// closeRotationLocked records the latencies of the rotation in progress.
func (f *fleet) closeRotationLocked() {
	if f.rotated.IsZero() {
		return
	}
	for _, at := range f.seenAt {
		if at.IsZero() {
			f.unreached++
			continue
		}
		f.latencies = append(f.latencies, f.real(at.Sub(f.rotated)))
	}
}

// fleetRun starts the run's nodes, drives its pods for the run's length and
// returns its rows.
func (b *bench) fleetRun(run fleetRun) ([]*fleetRow, error) {
	f := &fleet{b: b, scale: b.o.fleetScale, shape: run.shape, fetched: map[[2]int]bool{}, version: b.fleetVersion}
	s := run.shape
	fmt.Fprintf(os.Stderr, "bench: fleet %s: starting %d providers ...\n", run.name, s.Nodes)
	if err := f.startNodes(); err != nil {
		return nil, err
	}
	defer func() {
		for _, p := range f.nodes {
			if p != nil {
				p.stop()
			}
		}
	}()
	if err := b.fleetQuotas(f, run.ssmShare); err != nil {
		return nil, err
	}
	if err := b.e.resetCounts(); err != nil {
		return nil, err
	}
	// Identities: each on two nodes (as a Deployment's replicas spread).
	ids := max(s.IDsPerNode, s.Nodes*s.IDsPerNode/2)
	objects := fleetObjectsParam(s.Batches)
	for n := range s.Nodes {
		for j := range s.IDsPerNode {
			id := (n*s.IDsPerNode + j) % ids
			for range s.PodsPerID {
				i := len(f.pods)
				req := newPodOf(fmt.Sprintf("fleet-%04d", id), "app", i, objects).req
				f.pods = append(f.pods, &fleetPod{index: i, req: req, identity: id, node: n})
			}
		}
	}
	f.seenAt = make([]time.Time, len(f.pods))
	f.start = time.Now()
	for _, p := range f.pods {
		f.schedule(p, f.sim(rand.N(startSpread)))
	}
	stopSampler := f.sampleFront()

	length := time.Duration(b.o.fleetMinutes) * time.Minute
	var events []fleetEvent
	for _, at := range rotateAt {
		events = append(events, fleetEvent{at, func() error { return b.fleetRotate(f) }})
	}
	if run.drain {
		events = append(events, fleetEvent{drainAt, f.drain})
	}
	slices.SortStableFunc(events, func(a, b fleetEvent) int { return int(a.at - b.at) })
	var runErr error
	for _, ev := range events {
		time.Sleep(time.Until(f.start.Add(f.sim(ev.at))))
		if err := ev.do(); err != nil {
			runErr = err
			break
		}
	}
	time.Sleep(time.Until(f.start.Add(f.sim(length))))
	for _, p := range f.pods {
		p.cancel()
		<-p.done
	}
	stopSampler()
	if runErr != nil {
		return nil, runErr
	}
	f.mu.Lock()
	f.closeRotationLocked()
	f.mu.Unlock()

	var held, throttled float64
	for _, p := range f.nodes {
		if p == nil {
			continue
		}
		for _, c := range []string{`cache="secrets"`, `cache="parameters"`} {
			h, err := b.e.metric(p, "pmp_cache_held_back", c)
			if err != nil {
				return nil, err
			}
			t, err := b.e.metric(p, "pmp_cache_throttled_total", c)
			if err != nil {
				return nil, err
			}
			held, throttled = held+h, throttled+t
		}
	}
	rowOf := func(scenario string, from, to time.Duration, model fleetRates) *fleetRow {
		r := &fleetRow{scenario: scenario, shape: s, quota: f.quotaGP(run.ssmShare), model: model,
			mounts: f.mounts, failedCached: f.failedCached, failedFirst: f.failedFirst, firstErr: f.firstErr,
			latencies: f.latencies, unreached: f.unreached, heldBack: held, throttledRefreshes: throttled}
		r.calls, r.throttled, r.span, r.peak = f.between(from, to)
		return r
	}
	var rows []*fleetRow
	switch {
	case run.drain:
		rows = append(rows, rowOf("node drain", drainAt, drainAt+drainSpan, s.drainRates(max(1, s.Nodes/10), drainSpan)))
	case run.ssmShare:
		rows = append(rows, rowOf("SSM quota at default", steadyFrom, length, s.steadyRates()))
	default:
		rows = append(rows, rowOf("fleet start", 0, startSpread, s.startRates(startSpread)), rowOf("steady", steadyFrom, length, s.steadyRates()))
	}
	for _, r := range rows {
		fmt.Fprintf(os.Stderr, "bench: fleet %-20s %3d nodes: GSV %.3f/s (model %.3f), GetParameters %.3f/s (model %.3f, quota %.1f, peak %.3f), throttled %d, Mounts %d, failed %d cached / %d first, held back %.0f\n",
			r.scenario, s.Nodes, r.rate(opGetSecretValue), r.model.GetSecretValue, r.rate(opGetParameters), r.model.GetParameters, r.quota, r.peak,
			r.throttled[opGetParameters]+r.throttled[opGetSecretValue], r.mounts, r.failedCached, r.failedFirst, r.heldBack)
		if r.firstErr != "" {
			fmt.Fprintf(os.Stderr, "bench:   first error: %s\n", r.firstErr)
		}
	}
	return rows, nil
}

// startNodes starts the nodes' providers, a few at a time, with the
// provider's windows compressed by the scale.
func (f *fleet) startNodes() error {
	f.nodes = make([]*proc, f.shape.Nodes)
	flags := []string{
		"--stale-if-error", f.sim(time.Hour).String(),
		// Not below 3s and 1s: the emulator on a shared machine answers
		// in tens of milliseconds, not AWS's few, compressed or not.
		"--retry-budget", max(3*time.Second, f.sim(30*time.Second)).String(),
		"--aws-call-timeout", max(time.Second, f.sim(5*time.Second)).String(),
		"--negative-ttl", f.sim(10 * time.Second).String(),
	}
	sem := make(chan struct{}, 8)
	errs := make(chan error, len(f.nodes))
	var wg sync.WaitGroup
	for i := range f.nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p, err := f.b.e.startProvider(cached, f.sim(f.shape.Window), fmt.Sprintf("fleet-node-%03d", i), flags...)
			if err != nil {
				errs <- err
				return
			}
			f.nodes[i] = p
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// quotaGP is the GetParameters quota of the run, per real second.
func (f *fleet) quotaGP(ssmShare bool) float64 {
	if ssmShare {
		return 40 * float64(f.shape.Nodes) / ssmQuotaNodes
	}
	return 40
}

// fleetQuotas sets the front's quotas, raised by the scale (per wall
// second); the burst is one real second's worth, at least one call.
func (b *bench) fleetQuotas(f *fleet, ssmShare bool) error {
	for _, q := range fleetQuotas {
		rate := q.rate
		if q.op == opGetParameters {
			rate = f.quotaGP(ssmShare)
		}
		body, _ := json.Marshal(map[string]any{"operation": q.op, "rate": rate * float64(f.scale), "burst": max(1, rate)})
		resp, err := b.e.http.Post(b.e.controlURL+"/quotas", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("awsfront POST /quotas: %s", resp.Status)
		}
	}
	return nil
}

// schedule mounts p first after delay (wall), then every 60-90 s
// (simulated), on its node, until p.cancel. A first Mount that fails is
// tried again as the kubelet does: after 0.5 s, doubling up to 2m2s.
func (f *fleet) schedule(p *fleetPod, delay time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTimer(delay)
		defer t.Stop()
		mounted, retry := false, 500*time.Millisecond
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				ok := f.mount(ctx, p)
				mounted = mounted || ok
				next := republishMin + rand.N(republishMax-republishMin)
				if !mounted {
					next, retry = retry, min(2*retry, 2*time.Minute+2*time.Second)
				}
				t.Reset(f.sim(next))
			}
		}
	}()
}

// mount is one Mount of p, as the driver sends it, with the kubelet's
// two-minute deadline in simulated time. It reports whether the Mount
// succeeded.
func (f *fleet) mount(ctx context.Context, p *fleetPod) bool {
	f.mu.Lock()
	node, i := f.nodes[p.node], p.index
	key := [2]int{p.node, p.identity}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, max(f.sim(2*time.Minute), 5*time.Second))
	defer cancel()
	resp, err := node.client.Mount(ctx, p.req)
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return false // the run ended, or the pod moved, mid-Mount
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mounts++
	if err == nil {
		// The secret's two keys, flattened, and the parameters.
		if want := 2 + 10*f.shape.Batches; len(resp.GetFiles()) != want {
			err = fmt.Errorf("pod %d got %d files, want %d", i, len(resp.GetFiles()), want)
		}
	}
	if err != nil {
		if f.fetched[key] {
			f.failedCached++
		} else {
			f.failedFirst++
		}
		if f.firstErr == "" {
			f.firstErr = err.Error()
		}
		return false
	}
	f.fetched[key] = true
	// Each of the secret's files carries its version (a UUID, unique).
	for _, v := range resp.GetObjectVersion() {
		if v.GetVersion() == f.version && f.seenAt[i].IsZero() {
			f.seenAt[i] = time.Now()
		}
	}
	return true
}

// drain stops a tenth of the nodes (at least one), as a node drain does,
// and mounts their pods on the others, each within 30 simulated seconds
// (the pod's restart), round-robin.
func (f *fleet) drain() error {
	n := max(1, f.shape.Nodes/10)
	if n >= f.shape.Nodes {
		return fmt.Errorf("a drain needs at least two nodes")
	}
	var moved []*fleetPod
	for _, p := range f.pods {
		if p.node < n {
			p.cancel()
			<-p.done
			moved = append(moved, p)
		}
	}
	for i := range n {
		f.mu.Lock()
		node := f.nodes[i]
		f.nodes[i] = nil
		f.mu.Unlock()
		node.stop()
	}
	for k, p := range moved {
		f.mu.Lock()
		p.node = n + k%(f.shape.Nodes-n)
		f.mu.Unlock()
		f.schedule(p, f.sim(rand.N(30*time.Second)))
	}
	return nil
}

// sampleFront reads the front's counts every sampleEvery (simulated) until
// the returned stop.
func (f *fleet) sampleFront() (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	take := func() {
		c, err := f.b.e.awsCounts()
		if err != nil {
			return
		}
		t, err := f.b.e.frontThrottled()
		if err != nil {
			return
		}
		for op, n := range t {
			c["throttled:"+op] = n
		}
		f.mu.Lock()
		f.samples = append(f.samples, fleetSample{at: f.now(), counts: c})
		f.mu.Unlock()
	}
	take()
	go func() {
		defer close(finished)
		t := time.NewTicker(f.sim(sampleEvery))
		defer t.Stop()
		for {
			select {
			case <-done:
				take()
				return
			case <-t.C:
				take()
			}
		}
	}()
	return func() { close(done); <-finished }
}

// between returns the calls made from simulated time from to to (the
// samples nearest them), the throttled ones, the span they cover and the
// highest GetParameters rate (per real second) between two samples.
func (f *fleet) between(from, to time.Duration) (calls, throttled map[string]int64, span time.Duration, peak float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return samplesBetween(f.samples, from, to)
}

// samplesBetween is between over samples, sorted by time.
func samplesBetween(samples []fleetSample, from, to time.Duration) (calls, throttled map[string]int64, span time.Duration, peak float64) {
	calls, throttled = map[string]int64{}, map[string]int64{}
	if len(samples) < 2 {
		return calls, throttled, 0, 0
	}
	nearest := func(at time.Duration) int {
		best := 0
		for i, s := range samples {
			if absDur(s.at-at) < absDur(samples[best].at-at) {
				best = i
			}
		}
		return best
	}
	a, b := nearest(from), nearest(to)
	if b <= a {
		return calls, throttled, 0, 0
	}
	for op, n := range samples[b].counts {
		if d := n - samples[a].counts[op]; d > 0 {
			if strings.HasPrefix(op, "throttled:") {
				throttled[strings.TrimPrefix(op, "throttled:")] = d
			} else {
				calls[op] = d
			}
		}
	}
	for i := a + 1; i <= b; i++ {
		if dt := (samples[i].at - samples[i-1].at).Seconds(); dt > 0 {
			peak = max(peak, float64(samples[i].counts[opGetParameters]-samples[i-1].counts[opGetParameters])/dt)
		}
	}
	return calls, throttled, samples[b].at - samples[a].at, peak
}

// frontThrottled reads the calls the front answered past a quota.
func (e *env) frontThrottled() (map[string]int64, error) {
	resp, err := e.http.Get(e.controlURL + "/throttled")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]int64
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
