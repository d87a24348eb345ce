package cache

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/testclock"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

var errThrottled = errors.New("ThrottlingException: Rate exceeded")

// newThrottleCache is a cache that backs off on errThrottled and serves
// stale for errOutage (for staleIfError), with no jitter: the back-off's
// waits are their full length.
func newThrottleCache(staleIfError time.Duration) (*staleCache, *testclock.Clock) {
	clk := testclock.New(time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC))
	sc := &staleCache{clk: clk}
	sc.Cache = NewWithOptions[string, string](8, Options[string]{
		StaleIfError: staleIfError,
		StaleIf:      func(err error) bool { return errors.Is(err, errOutage) || errors.Is(err, errThrottled) },
		StaleRetry:   10 * time.Second,
		Throttled:    func(err error) bool { return errors.Is(err, errThrottled) },
		Now:          clk.Now,
		Rand:         func() float64 { return 0 },
	})
	return sc, clk
}

// TestThrottledRefreshBacksOff: while AWS throttles a value's refresh, the
// value keeps answering and the entry tries AWS again after 2, 4, then 8
// windows instead of every StaleRetry; once a refresh succeeds, the entry
// refreshes every window again. A fleet whose refreshes outgrow an AWS
// quota so slows itself down to an eighth.
func TestThrottledRefreshBacksOff(t *testing.T) {
	c, clk := newThrottleCache(time.Hour)
	var l loader
	get(t, c.Cache, &l, "v1", time.Minute, nil)
	clk.Advance(time.Minute) // freshness ends
	// Lookups every 5 s for 30 minutes of throttling: each answers v1.
	var tries []time.Duration
	start := clk.Now()
	for range 30 * 60 / 5 {
		before := l.calls.Load()
		if v, err := get(t, c.Cache, &l, "", 0, errThrottled); v != "v1" || err != nil {
			t.Fatalf("%s into the throttling: %q, %v; want v1", clk.Now().Sub(start), v, err)
		}
		c.idle(t)
		if l.calls.Load() > before {
			tries = append(tries, clk.Now().Sub(start))
		}
		clk.Advance(5 * time.Second)
	}
	want := []time.Duration{0, 2 * time.Minute, 6 * time.Minute, 14 * time.Minute, 22 * time.Minute}
	if !equalDurations(tries, want) {
		t.Errorf("throttled refreshes tried AWS at %v, want %v (2, 4, then 8 windows apart)", tries, want)
	}
	if s := c.Stats(); s.Throttled != int64(len(want)) || s.HeldBack != 1 {
		t.Errorf("Stats() Throttled %d, HeldBack %d; want %d, 1", s.Throttled, s.HeldBack, len(want))
	}

	// AWS answers again at the next try (8 windows after the last): v2,
	// then the entry refreshes every window.
	clk.Advance(30*time.Minute - clk.Now().Sub(start))
	get(t, c.Cache, &l, "v2", time.Minute, nil)
	c.idle(t)
	if v, _ := get(t, c.Cache, &l, "v3", time.Minute, nil); v != "v2" {
		t.Fatalf("after the throttling: %q, want v2", v)
	}
	if s := c.Stats(); s.HeldBack != 0 {
		t.Errorf("Stats().HeldBack = %d after a refresh succeeded, want 0", s.HeldBack)
	}
	calls := l.calls.Load()
	clk.Advance(time.Minute)
	if v, _ := get(t, c.Cache, &l, "v3", time.Minute, nil); v != "v3" || l.calls.Load() != calls+1 {
		t.Errorf("a window after the throttling: %q after %d loads, want v3 after one: the window is back to normal", v, l.calls.Load()-calls)
	}
}

// TestThrottledRefreshServesWithoutStaleIfError: throttling is AWS asking
// the fleet to slow down, not failing: the value held answers it even with
// --stale-if-error=0, for HoldFor (16 windows) past its freshness, then the
// Mount fails with the throttling.
func TestThrottledRefreshServesWithoutStaleIfError(t *testing.T) {
	c, clk := newThrottleCache(0)
	var l loader
	get(t, c.Cache, &l, "v1", time.Minute, nil)
	clk.Advance(time.Minute)
	if v, err := get(t, c.Cache, &l, "", 0, errThrottled); v != "v1" || err != nil {
		t.Fatalf("throttled refresh with stale-if-error 0: %q, %v; want v1", v, err)
	}
	// Within the back-off, lookups get v1 without a load.
	calls := l.calls.Load()
	if v, err := get(t, c.Cache, &l, "", 0, errOutage); v != "v1" || err != nil || l.calls.Load() != calls {
		t.Fatalf("within the back-off: %q, %v after %d loads; want v1 without a load", v, err, l.calls.Load()-calls)
	}
	if got := HoldFor(time.Minute, 0); got != 16*time.Minute {
		t.Fatalf("HoldFor(1m, 0) = %s, want 16m", got)
	}
	clk.Advance(16*time.Minute - time.Second)
	if v, _ := get(t, c.Cache, &l, "", 0, errThrottled); v != "v1" {
		t.Fatalf("just within the hold: %q, want v1", v)
	}
	c.idle(t)
	clk.Advance(time.Second)
	if v, err := get(t, c.Cache, &l, "", 0, errThrottled); v != "" || !errors.Is(err, errThrottled) {
		t.Fatalf("at the end of the hold: %q, %v; want the throttling", v, err)
	}
	if s := c.Stats(); s.HeldBack != 0 {
		t.Errorf("Stats().HeldBack = %d with the value dropped, want 0", s.HeldBack)
	}

	// An outage that is not throttling drops the value at once (strict).
	get(t, c.Cache, &l, "v1", time.Minute, nil)
	clk.Advance(time.Minute)
	if v, err := get(t, c.Cache, &l, "", 0, errOutage); v != "" || !errors.Is(err, errOutage) {
		t.Fatalf("outage with stale-if-error 0: %q, %v; want the failure", v, err)
	}
}

// TestRefreshIsMarkedValueHeld: the load of a refresh whose value would
// answer for throttling runs with retry.WithValueHeld (so its calls do
// not retry the throttling); a first load, with nothing to serve, does not.
func TestRefreshIsMarkedValueHeld(t *testing.T) {
	c, clk := newThrottleCache(0)
	var held []bool
	load := func(ctx context.Context) (string, time.Duration, error) {
		held = append(held, retry.ValueHeld(ctx))
		return "v", time.Minute, nil
	}
	c.Get(context.Background(), "k", load)
	clk.Advance(time.Minute)
	c.Get(context.Background(), "k", load)
	if !slices.Equal(held, []bool{false, true}) {
		t.Errorf("loads marked value-held: %v, want [false true] (first load, refresh)", held)
	}
}

// TestOutageAfterThrottlingKeepsStaleIfErrorsBound: a value held by
// throttling past --stale-if-error does not answer for an outage that is
// not throttling: that failure drops it, and it answers no more.
func TestOutageAfterThrottlingKeepsStaleIfErrorsBound(t *testing.T) {
	c, clk := newThrottleCache(2 * time.Minute) // the hold, 16 windows, is longer
	var l loader
	get(t, c.Cache, &l, "v1", time.Minute, nil)
	clk.Advance(time.Minute)
	if v, _ := get(t, c.Cache, &l, "", 0, errThrottled); v != "v1" {
		t.Fatalf("throttled: %q, want v1", v)
	}
	clk.Advance(4 * time.Minute) // past the back-off and past stale-if-error
	get(t, c.Cache, &l, "", 0, errOutage)
	c.idle(t)
	if v, err := get(t, c.Cache, &l, "", 0, errOutage); v != "" || !errors.Is(err, errOutage) {
		t.Fatalf("an outage 3 minutes past stale-if-error: %q, %v; want the failure", v, err)
	}
	if s := c.Stats(); s.HeldBack != 0 {
		t.Errorf("Stats().HeldBack = %d, want 0", s.HeldBack)
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 60 * time.Second, 2: 120 * time.Second, 3: 240 * time.Second, 4: 240 * time.Second, 100: 240 * time.Second} {
		if got := Backoff(30*time.Second, n); got != want {
			t.Errorf("Backoff(30s, %d) = %s, want %s", n, got, want)
		}
	}
	for _, tc := range []struct{ window, staleIfError, want time.Duration }{
		{30 * time.Second, 0, 8 * time.Minute},
		{30 * time.Second, time.Hour, time.Hour},
		{time.Hour, 0, time.Hour},
		{10 * time.Minute, 2 * time.Hour, 2 * time.Hour},
	} {
		if got := HoldFor(tc.window, tc.staleIfError); got != tc.want {
			t.Errorf("HoldFor(%s, %s) = %s, want %s", tc.window, tc.staleIfError, got, tc.want)
		}
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
