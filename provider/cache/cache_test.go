package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/testclock"
)

func newCache(max int) (*Cache[string, string], *testclock.Clock) {
	clk := testclock.New(time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC))
	c := New[string, string](max)
	c.now = clk.Now
	return c, clk
}

// loader returns value with ttl and err, counting its calls.
type loader struct {
	calls atomic.Int64
}

func (l *loader) fn(value string, ttl time.Duration, err error) Loader[string] {
	return func(context.Context) (string, time.Duration, error) {
		l.calls.Add(1)
		return value, ttl, err
	}
}

var errDenied = errors.New("AccessDeniedException")

func TestGet(t *testing.T) {
	type step struct {
		advance time.Duration
		key     string
		value   string // what the loader would return
		ttl     time.Duration
		err     error
		want    string
		wantErr error
	}
	tests := []struct {
		name      string
		max       int
		steps     []step
		wantLoads int64
		wantStats Stats
	}{
		{
			name: "miss then hit",
			max:  4,
			steps: []step{
				{key: "a", value: "v1", ttl: time.Minute, want: "v1"},
				{advance: 59 * time.Second, key: "a", value: "v2", ttl: time.Minute, want: "v1"},
			},
			wantLoads: 1,
			wantStats: Stats{Hits: 1, Misses: 1, Entries: 1},
		},
		{
			name: "expired at exactly the ttl",
			max:  4,
			steps: []step{
				{key: "a", value: "v1", ttl: time.Minute, want: "v1"},
				{advance: time.Minute, key: "a", value: "v2", ttl: time.Minute, want: "v2"},
				{advance: time.Second, key: "a", value: "v3", ttl: time.Minute, want: "v2"},
			},
			wantLoads: 2,
			wantStats: Stats{Hits: 1, Misses: 2, Entries: 1},
		},
		{
			name: "keys are separate",
			max:  4,
			steps: []step{
				{key: "a", value: "va", ttl: time.Minute, want: "va"},
				{key: "b", value: "vb", ttl: time.Minute, want: "vb"},
				{key: "a", value: "x", ttl: time.Minute, want: "va"},
			},
			wantLoads: 2,
			wantStats: Stats{Hits: 1, Misses: 2, Entries: 2},
		},
		{
			name: "ttl zero caches nothing",
			max:  4,
			steps: []step{
				{key: "a", value: "v1", ttl: 0, want: "v1"},
				{key: "a", value: "v2", ttl: 0, want: "v2"},
			},
			wantLoads: 2,
			wantStats: Stats{Misses: 2},
		},
		{
			name: "negative ttl caches nothing",
			max:  4,
			steps: []step{
				{key: "a", value: "v1", ttl: -time.Second, want: "v1"},
				{key: "a", value: "v2", ttl: time.Minute, want: "v2"},
			},
			wantLoads: 2,
			wantStats: Stats{Misses: 2, Entries: 1},
		},
		{
			name: "an error with a ttl is a negative entry until it expires",
			max:  4,
			steps: []step{
				{key: "a", err: errDenied, ttl: 10 * time.Second, wantErr: errDenied},
				{advance: 9 * time.Second, key: "a", value: "v", ttl: time.Minute, wantErr: errDenied},
				{advance: time.Second, key: "a", value: "v", ttl: time.Minute, want: "v"},
			},
			wantLoads: 2,
			wantStats: Stats{Hits: 1, Misses: 2, Entries: 1},
		},
		{
			name: "an error without a ttl is not cached",
			max:  4,
			steps: []step{
				{key: "a", err: errDenied, wantErr: errDenied},
				{key: "a", value: "v", ttl: time.Minute, want: "v"},
			},
			wantLoads: 2,
			wantStats: Stats{Misses: 2, Entries: 1},
		},
		{
			name: "max below 1 holds one entry",
			max:  0,
			steps: []step{
				{key: "a", value: "va", ttl: time.Minute, want: "va"},
				{key: "a", value: "x", ttl: time.Minute, want: "va"},
				{key: "b", value: "vb", ttl: time.Minute, want: "vb"},
				{key: "a", value: "va2", ttl: time.Minute, want: "va2"},
			},
			wantLoads: 3,
			wantStats: Stats{Hits: 1, Misses: 3, Evictions: 2, Entries: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newCache(tt.max)
			var l loader
			for i, s := range tt.steps {
				clk.Advance(s.advance)
				got, err := c.Get(context.Background(), s.key, l.fn(s.value, s.ttl, s.err))
				if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
					t.Fatalf("step %d: Get(%q) error = %v, want %v", i, s.key, err, s.wantErr)
				}
				if got != s.want {
					t.Fatalf("step %d: Get(%q) = %q, want %q", i, s.key, got, s.want)
				}
			}
			if n := l.calls.Load(); n != tt.wantLoads {
				t.Errorf("loader ran %d times, want %d", n, tt.wantLoads)
			}
			if diff := cmp.Diff(tt.wantStats, c.Stats()); diff != "" {
				t.Errorf("Stats() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLRUEviction(t *testing.T) {
	c, _ := newCache(3)
	var l loader
	get := func(key string) {
		t.Helper()
		if _, err := c.Get(context.Background(), key, l.fn("value of "+key, time.Hour, nil)); err != nil {
			t.Fatal(err)
		}
	}
	get("a")
	get("b")
	get("c")
	get("a") // a is now the most recently used: b is the oldest
	get("d") // evicts b
	get("e") // evicts c

	cached := map[string]bool{}
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		_, cached[k] = c.Peek(k)
	}
	want := map[string]bool{"a": true, "b": false, "c": false, "d": true, "e": true}
	if diff := cmp.Diff(want, cached); diff != "" {
		t.Errorf("cached keys after eviction (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Stats{Hits: 1, Misses: 5, Evictions: 2, Entries: 3}, c.Stats()); diff != "" {
		t.Errorf("Stats() (-want +got):\n%s", diff)
	}
	before := l.calls.Load()
	get("b") // a miss again, evicting the oldest: a
	if l.calls.Load() != before+1 {
		t.Error("an evicted key was served without loading")
	}
	if _, ok := c.Peek("a"); ok {
		t.Error("a should have been evicted after b came back")
	}
}

func TestLimitBytes(t *testing.T) {
	c, _ := newCache(100)
	c.LimitBytes(100, func(string) int64 { return 0 }, func(v string) int64 { return int64(len(v)) })
	var l loader
	get := func(key string, size int) {
		t.Helper()
		if _, err := c.Get(context.Background(), key, l.fn(strings.Repeat("x", size), time.Hour, nil)); err != nil {
			t.Fatal(err)
		}
	}
	get("a", 40)
	get("b", 40)
	get("a", 0)  // a hit: b is now the least recently used
	get("c", 40) // 120 bytes: b goes
	cached := map[string]bool{}
	for _, k := range []string{"a", "b", "c"} {
		_, cached[k] = c.Peek(k)
	}
	if diff := cmp.Diff(map[string]bool{"a": true, "b": false, "c": true}, cached); diff != "" {
		t.Errorf("cached keys (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Stats{Hits: 1, Misses: 3, Evictions: 1, Entries: 2, Bytes: 80}, c.Stats()); diff != "" {
		t.Errorf("Stats() (-want +got):\n%s", diff)
	}
	// One entry over the bound is kept alone: the Mount that loaded it is
	// served from it, and its replicas' republishes too.
	get("d", 500)
	if diff := cmp.Diff(Stats{Hits: 1, Misses: 4, Evictions: 3, Entries: 1, Bytes: 500}, c.Stats()); diff != "" {
		t.Errorf("Stats() after a large entry (-want +got):\n%s", diff)
	}
	c.Forget("d")
	if got := c.Stats().Bytes; got != 0 {
		t.Errorf("Bytes after Forget = %d, want 0", got)
	}
}

func TestPeekAndForget(t *testing.T) {
	c, clk := newCache(4)
	var l loader
	if _, ok := c.Peek("a"); ok {
		t.Fatal("Peek on an empty cache found a value")
	}
	_, _ = c.Get(context.Background(), "a", l.fn("va", time.Minute, nil))
	_, _ = c.Get(context.Background(), "neg", l.fn("", time.Minute, errDenied))
	clk.Advance(time.Hour)
	if v, ok := c.Peek("a"); !ok || v != "va" {
		t.Errorf("Peek(a) after expiry = %q, %v; want the stale value", v, ok)
	}
	if _, ok := c.Peek("neg"); ok {
		t.Error("Peek returned a negative entry as a value")
	}
	c.Forget("a")
	c.Forget("missing")
	if _, ok := c.Peek("a"); ok {
		t.Error("Peek found a forgotten key")
	}
	if got, _ := c.Get(context.Background(), "a", l.fn("va2", time.Minute, nil)); got != "va2" {
		t.Errorf("Get after Forget = %q, want a fresh load", got)
	}
}

func TestForgetIf(t *testing.T) {
	c, _ := newCache(4)
	var l loader
	_, _ = c.Get(context.Background(), "a", l.fn("old", time.Minute, nil))
	c.ForgetIf("a", func(v string) bool { return v == "other" })
	if v, ok := c.Peek("a"); !ok || v != "old" {
		t.Errorf("ForgetIf dropped a value it was not asked to: %q, %v", v, ok)
	}
	c.ForgetIf("a", func(v string) bool { return v == "old" })
	if _, ok := c.Peek("a"); ok {
		t.Error("ForgetIf kept the stale value")
	}
	c.ForgetIf("missing", func(string) bool { return true })
}

// TestCoalescing starts n Gets of one key while the load is blocked: the
// loader runs once and every caller gets its result.
func TestCoalescing(t *testing.T) {
	const n = 8
	c, _ := newCache(4)
	var loads atomic.Int64
	started := make(chan struct{})
	release := make(chan struct{})
	load := func(context.Context) (string, time.Duration, error) {
		if loads.Add(1) == 1 {
			close(started)
		}
		<-release
		return "shared", time.Minute, nil
	}

	results := make(chan string, n)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the leader
		defer wg.Done()
		v, err := c.Get(context.Background(), "k", load)
		results <- fmt.Sprintf("%s %v", v, err)
	}()
	<-started
	for range n - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.Get(context.Background(), "k", load)
			results <- fmt.Sprintf("%s %v", v, err)
		}()
	}
	// Wait until every other caller waits on the load, then release it.
	waitFor(t, func() bool { return c.Stats().Coalesced == n-1 })
	close(release)
	wg.Wait()
	close(results)
	for r := range results {
		if r != "shared <nil>" {
			t.Errorf("a caller got %q, want the shared value", r)
		}
	}
	if got := loads.Load(); got != 1 {
		t.Errorf("the loader ran %d times for %d concurrent Gets, want 1", got, n)
	}
	if diff := cmp.Diff(Stats{Misses: 1, Coalesced: n - 1, Entries: 1}, c.Stats()); diff != "" {
		t.Errorf("Stats() (-want +got):\n%s", diff)
	}
}

// TestCoalescedWaiterCancel: a waiter whose ctx ends returns ctx.Err() at
// once; the load goes on and its result is cached for the next caller.
func TestCoalescedWaiterCancel(t *testing.T) {
	c, _ := newCache(4)
	var loads atomic.Int64
	started := make(chan struct{})
	release := make(chan struct{})
	load := func(context.Context) (string, time.Duration, error) {
		loads.Add(1)
		close(started)
		<-release
		return "late", time.Minute, nil
	}
	leader := make(chan string, 1)
	go func() {
		v, err := c.Get(context.Background(), "k", load)
		leader <- fmt.Sprintf("%s %v", v, err)
	}()
	<-started

	ctx, cancel := context.WithCancel(context.Background())
	waiter := make(chan error, 1)
	go func() {
		_, err := c.Get(ctx, "k", load)
		waiter <- err
	}()
	waitFor(t, func() bool { return c.Stats().Coalesced == 1 })
	cancel()
	if err := <-waiter; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled waiter got %v, want context.Canceled", err)
	}
	select {
	case r := <-leader:
		t.Fatalf("the load ended with the waiter: %q", r)
	default:
	}

	close(release)
	if r := <-leader; r != "late <nil>" {
		t.Errorf("the leader got %q", r)
	}
	v, err := c.Get(context.Background(), "k", load)
	if v != "late" || err != nil {
		t.Errorf("Get after the load = %q, %v; want the cached result", v, err)
	}
	if got := loads.Load(); got != 1 {
		t.Errorf("the loader ran %d times, want 1", got)
	}
}

// TestCoalescedError: waiters share the leader's error too.
func TestCoalescedError(t *testing.T) {
	c, _ := newCache(4)
	started := make(chan struct{})
	release := make(chan struct{})
	load := func(context.Context) (string, time.Duration, error) {
		close(started)
		<-release
		return "", 0, errDenied
	}
	errs := make(chan error, 2)
	go func() { _, err := c.Get(context.Background(), "k", load); errs <- err }()
	<-started
	go func() { _, err := c.Get(context.Background(), "k", load); errs <- err }()
	waitFor(t, func() bool { return c.Stats().Coalesced == 1 })
	close(release)
	for range 2 {
		if err := <-errs; !errors.Is(err, errDenied) {
			t.Errorf("Get error = %v, want %v", err, errDenied)
		}
	}
	if n := c.Stats().Entries; n != 0 {
		t.Errorf("an error without ttl left %d entries", n)
	}
}

// waitFor polls cond; it bounds a wait for goroutines to reach a state,
// not a speed.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLeaderCancelDoesNotFailWaiters: the caller that started a load
// leaving (its pod deleted, the kubelet giving up) must not fail the other
// pods waiting on the same key.
func TestLeaderCancelDoesNotFailWaiters(t *testing.T) {
	c, _ := newCache(4)
	started := make(chan struct{})
	release := make(chan struct{})
	var loadErr atomic.Value
	load := func(ctx context.Context) (string, time.Duration, error) {
		close(started)
		<-release
		if err := ctx.Err(); err != nil {
			loadErr.Store(err)
		}
		return "value", time.Minute, nil
	}
	lctx, cancel := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() {
		_, err := c.Get(lctx, "k", load)
		leader <- err
	}()
	<-started
	waiter := make(chan string, 1)
	go func() {
		v, err := c.Get(context.Background(), "k", load)
		waiter <- fmt.Sprintf("%s %v", v, err)
	}()
	waitFor(t, func() bool { return c.Stats().Coalesced == 1 })
	cancel()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled leader got %v, want context.Canceled", err)
	}
	close(release)
	if r := <-waiter; r != "value <nil>" {
		t.Errorf("the waiter got %q, want the loaded value", r)
	}
	if err := loadErr.Load(); err != nil {
		t.Errorf("the load saw its context end: %v", err)
	}
}

// TestLoadPanic: a load that panics runs on the cache's goroutine, where
// a panic would end the process. Every caller gets a *PanicError instead,
// nothing is cached, and the next Get loads again.
func TestLoadPanic(t *testing.T) {
	c, _ := newCache(4)
	var wg sync.WaitGroup
	release := make(chan struct{})
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Get(context.Background(), "a", func(context.Context) (string, time.Duration, error) {
				<-release
				var calls []int
				return fmt.Sprint(calls[len(calls)]), time.Minute, nil // a bug: index out of range
			})
		}()
	}
	for c.Stats().Misses+c.Stats().Coalesced < 4 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		var pe *PanicError
		if !errors.As(err, &pe) {
			t.Errorf("caller %d: error = %v, want a *PanicError", i, err)
		}
	}
	if c.Stats().Entries != 0 {
		t.Error("a panicked load was cached")
	}
	if v, err := c.Get(context.Background(), "a", (&loader{}).fn("va", time.Minute, nil)); err != nil || v != "va" {
		t.Errorf("Get after the panic = %q, %v", v, err)
	}
}
