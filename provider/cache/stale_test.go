package cache

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/testclock"
)

var errOutage = errors.New("ServiceUnavailable: AWS is down")

// staleCache is a cache whose values answer stale for an hour for
// errOutage only, with its clock and the OnStale calls it made.
type staleCache struct {
	*Cache[string, string]
	clk *testclock.Clock

	logMu   sync.Mutex
	onStale []time.Duration
}

func newStaleCache(retry time.Duration) *staleCache {
	clk := testclock.New(time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC))
	sc := &staleCache{clk: clk}
	sc.Cache = NewWithOptions[string, string](8, Options[string]{
		StaleIfError: time.Hour,
		StaleIf:      func(err error) bool { return errors.Is(err, errOutage) },
		StaleRetry:   retry,
		Now:          clk.Now,
		OnStale: func(_ string, _ error, late time.Duration) {
			sc.logMu.Lock()
			defer sc.logMu.Unlock()
			sc.onStale = append(sc.onStale, late)
		},
	})
	return sc
}

func (sc *staleCache) staleLogs() []time.Duration {
	sc.logMu.Lock()
	defer sc.logMu.Unlock()
	return append([]time.Duration(nil), sc.onStale...)
}

func get(t *testing.T, c *Cache[string, string], l *loader, value string, ttl time.Duration, err error) (string, error) {
	t.Helper()
	return c.Get(context.Background(), "k", l.fn(value, ttl, err))
}

func TestStaleValueAnswersATransientFailure(t *testing.T) {
	c := newStaleCache(0)
	var l loader
	if v, err := get(t, c.Cache, &l, "v1", time.Minute, nil); v != "v1" || err != nil {
		t.Fatalf("first load: %q, %v", v, err)
	}
	c.clk.Advance(2 * time.Minute) // past the freshness window
	for i := range 3 {
		v, err := get(t, c.Cache, &l, "", 0, errOutage)
		if v != "v1" || err != nil {
			t.Fatalf("lookup %d in the outage: %q, %v; want the last good value v1", i, v, err)
		}
	}
	if got := c.Stats().Stale; got != 3 {
		t.Errorf("Stats().Stale = %d, want 3", got)
	}
	if got := c.staleLogs(); len(got) != 1 || got[0] != time.Minute {
		t.Errorf("OnStale calls %v, want one, a minute late", got)
	}
	// AWS is back: the lookup that finds it still answers stale at once,
	// its load (in the background) brings v2 for the next ones; a later
	// outage is a new one.
	c.idle(t)
	get(t, c.Cache, &l, "v2", time.Minute, nil)
	c.idle(t)
	if v, err := get(t, c.Cache, &l, "v3", time.Minute, nil); v != "v2" || err != nil {
		t.Fatalf("after the outage: %q, %v; want v2", v, err)
	}
	c.clk.Advance(2 * time.Minute)
	if v, err := get(t, c.Cache, &l, "", 0, errOutage); v != "v2" || err != nil {
		t.Fatalf("second outage: %q, %v; want v2", v, err)
	}
	if got := len(c.staleLogs()); got != 2 {
		t.Errorf("OnStale calls %d, want 2: one per outage", got)
	}
}

func TestStaleValueIsBounded(t *testing.T) {
	c := newStaleCache(0)
	var l loader
	get(t, c.Cache, &l, "v1", time.Minute, nil)
	c.clk.Advance(time.Minute + time.Hour + time.Second) // past freshness and StaleIfError
	if v, err := get(t, c.Cache, &l, "", 0, errOutage); !errors.Is(err, errOutage) || v != "" {
		t.Fatalf("an hour past freshness: %q, %v; want the failure", v, err)
	}
}

func TestRefusalDropsTheStaleValueAtOnce(t *testing.T) {
	for _, ttl := range []time.Duration{0, 10 * time.Second} { // a negative entry, or none (--negative-ttl=0)
		c := newStaleCache(10 * time.Second)
		var l loader
		get(t, c.Cache, &l, "v1", time.Minute, nil)
		c.clk.Advance(2 * time.Minute)
		if v, _ := get(t, c.Cache, &l, "", 0, errOutage); v != "v1" {
			t.Fatalf("outage: %q, want v1", v)
		}
		c.idle(t)
		c.clk.Advance(11 * time.Second) // the stale value's retry is due
		// The first lookup is answered stale while its load runs: the
		// refusal must hold from then on.
		get(t, c.Cache, &l, "", ttl, errDenied)
		c.idle(t)
		if v, err := get(t, c.Cache, &l, "", ttl, errDenied); !errors.Is(err, errDenied) {
			t.Fatalf("negative ttl %s: after the refusal %q, %v; want the refusal", ttl, v, err)
		}
		if v, err := get(t, c.Cache, &l, "", 0, errOutage); v != "" || err == nil {
			t.Fatalf("negative ttl %s: an outage after the refusal answered %q, %v; want a failure", ttl, v, err)
		}
	}
}

func TestStaleOffIsStrict(t *testing.T) {
	c, clk := newCache(8)
	var l loader
	get(t, c, &l, "v1", time.Minute, nil)
	clk.Advance(2 * time.Minute)
	if v, err := get(t, c, &l, "", 0, errOutage); !errors.Is(err, errOutage) || v != "" {
		t.Fatalf("without StaleIfError: %q, %v; want the failure", v, err)
	}
	if got := c.Stats().Stale; got != 0 {
		t.Errorf("Stats().Stale = %d, want 0", got)
	}
}

func TestStaleValueAnswersWhenTheDeadlinePassesFirst(t *testing.T) {
	c := newStaleCache(0)
	var l loader
	get(t, c.Cache, &l, "v1", time.Minute, nil)
	c.clk.Advance(2 * time.Minute)
	release := make(chan struct{})
	defer close(release)
	hung := func(ctx context.Context) (string, time.Duration, error) {
		select { // AWS accepts the call and never answers
		case <-release:
		case <-ctx.Done():
		}
		return "", 0, ctx.Err()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if v, err := c.Get(ctx, "k", hung); v != "v1" || err != nil {
		t.Fatalf("hung load: %q, %v; want v1 when the deadline passes", v, err)
	}
	// A caller that gave up (the pod was deleted) gets its cancellation.
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	c.clk.Advance(time.Second)
	if _, err := c.Get(cctx, "other", hung); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
}

func TestOutageLookupsDoNotWaitOnTheRetry(t *testing.T) {
	c := newStaleCache(10 * time.Second)
	var l loader
	get(t, c.Cache, &l, "v1", time.Minute, nil)
	c.clk.Advance(2 * time.Minute)
	get(t, c.Cache, &l, "", 0, errOutage) // the outage is found
	c.idle(t)
	calls := l.calls.Load()
	// Within StaleRetry: answered at once, no load.
	for range 5 {
		if v, _ := get(t, c.Cache, &l, "", 0, errOutage); v != "v1" {
			t.Fatalf("got %q, want v1", v)
		}
	}
	if got := l.calls.Load(); got != calls {
		t.Errorf("%d loads within StaleRetry, want 0", got-calls)
	}
	// After it, the stale value answers at once while one load tries
	// again in the background.
	c.clk.Advance(11 * time.Second)
	release := make(chan struct{})
	slow := func(ctx context.Context) (string, time.Duration, error) {
		<-release
		return "", 0, errOutage
	}
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		v, err := c.Get(ctx, "k", slow)
		cancel()
		if v != "v1" || err != nil {
			t.Fatalf("during the retry: %q, %v; want v1 at once", v, err)
		}
	}
	if s := c.Stats(); s.Coalesced < 2 {
		t.Errorf("stats %+v: want the retry shared", s)
	}
	close(release)
}

func TestJitterShortensFreshnessByABoundedFraction(t *testing.T) {
	clk := testclock.New(time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		rand  float64
		fresh time.Duration // how long the value is served
	}{
		{0, 100 * time.Second},
		{0.5, 95 * time.Second},
		{0.999, 90*time.Second + 10*time.Millisecond},
	} {
		c := NewWithOptions[string, string](8, Options[string]{Jitter: 0.1, Now: clk.Now, Rand: func() float64 { return tc.rand }})
		var l loader
		get(t, c, &l, "v1", 100*time.Second, nil)
		clk.Advance(tc.fresh - time.Millisecond)
		if v, _ := get(t, c, &l, "v2", 100*time.Second, nil); v != "v1" {
			t.Errorf("rand %v: %s after the load got %q, want the cached v1", tc.rand, tc.fresh-time.Millisecond, v)
		}
		clk.Advance(time.Millisecond)
		if v, _ := get(t, c, &l, "v2", 100*time.Second, nil); v != "v2" {
			t.Errorf("rand %v: %s after the load got %q, want a reload", tc.rand, tc.fresh, v)
		}
		// Failures are remembered for exactly their ttl.
		c.Forget("k")
		get(t, c, &l, "", 10*time.Second, errDenied)
		clk.Advance(10*time.Second - time.Millisecond)
		if _, err := get(t, c, &l, "v3", time.Minute, nil); !errors.Is(err, errDenied) {
			t.Errorf("rand %v: negative entry shortened: %v", tc.rand, err)
		}
		clk.Advance(time.Millisecond)
	}
}

func TestJitterSpreadsExpiries(t *testing.T) {
	// Many nodes load one secret in the same second: their copies expire
	// over the last tenth of the window, not together.
	clk := testclock.New(time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC))
	seconds := map[int64]bool{}
	for range 200 {
		c := NewWithOptions[string, string](8, Options[string]{Jitter: 0.1, Now: clk.Now})
		c.Get(context.Background(), "k", func(context.Context) (string, time.Duration, error) { return "v", 2 * time.Minute, nil })
		el := c.items["k"]
		exp := el.Value.(*entry[string, string]).expires.Sub(clk.Now())
		if exp > 2*time.Minute || exp <= 108*time.Second {
			t.Fatalf("expiry %s outside (108s, 120s]", exp)
		}
		seconds[int64(exp/time.Second)] = true
	}
	if len(seconds) < 8 {
		t.Errorf("200 copies expire in %d distinct seconds, want them spread over the last 12", len(seconds))
	}
}

// idle waits until no load runs.
func (sc *staleCache) idle(t *testing.T) {
	t.Helper()
	waitFor(t, func() bool {
		sc.Cache.mu.Lock()
		defer sc.Cache.mu.Unlock()
		return len(sc.loading) == 0
	})
}
