// Package cache is a bounded, locked LRU whose entries expire, with
// coalescing of concurrent loads of the same key: many pods asking for the
// same thing at once cost one load. It counts hits, misses, coalesced waits,
// evictions and stale answers for metrics.
//
// With Options.StaleIfError, a value past its freshness is kept a while
// longer and answers instead of a load that failed transiently (an AWS or
// API server outage); any other failure drops it at once. With
// Options.Jitter, each value's freshness is shortened by a random fraction,
// so the entries of one secret on many nodes do not all expire together.
//
// With Options.Throttled, a refresh that AWS throttles backs off: the value
// keeps answering (for a bounded time, whatever StaleIfError says) and the
// entry waits longer before each next try, so a fleet of nodes that
// outgrows an AWS quota slows its refreshes down instead of retrying into
// it (Backoff, HoldFor).
//
// Keys are comparable values (structs) that callers build from non-secret
// data only (role ARN, namespace, service account, region, secret id,
// version): never a token or a value. A key type that says what its
// fields are for a log line (Logged) gets its stale line from StaleLog.
package cache

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

// Stats are a cache's counters since it was made.
type Stats struct {
	Hits, Misses, Coalesced, Evictions, Entries int64
	// Stale are lookups answered with a value past its freshness because
	// loading it again failed transiently (Options.StaleIfError).
	Stale int64
	// Bytes is the entries' estimated size, with LimitBytes.
	Bytes int64
	// Throttled are refreshes that failed with throttling
	// (Options.Throttled): each held its entry back for a longer wait.
	Throttled int64
	// HeldBack are the entries whose last refresh was throttled: they
	// answer with the value they hold and wait out a back-off (a gauge).
	HeldBack int64
}

// Options tune a cache beyond its size. The zero value is a plain cache.
type Options[K comparable] struct {
	// Jitter shortens each value's freshness window by a random fraction
	// of it, up to Jitter (0.1: up to 10% shorter), so copies of one value
	// loaded at the same moment on many nodes expire spread out. At most
	// 0.5. Failures (negative entries) are not jittered.
	Jitter float64
	// StaleIfError is how long past its freshness a value is kept to answer
	// when loading it again fails with an error StaleIf accepts, or the
	// caller's deadline passes while the load is still trying. Zero: never.
	StaleIfError time.Duration
	// StaleIf says which load failures a stale value may answer: transient
	// ones only. Any other failure drops the stale value at once.
	StaleIf func(error) bool
	// StaleRetry is how long, once a stale value has answered, it goes on
	// answering at once before a load tries again (in the background, one
	// at a time), within StaleIfError. Zero: a load on every lookup.
	StaleRetry time.Duration
	// OnStale is called, outside the cache's lock, when a value starts
	// answering stale: once per outage and key, with the failure and how
	// long ago the value's freshness ended. Not for every stale answer.
	OnStale func(key K, err error, late time.Duration)
	// Throttled says which load failures are the service throttling the
	// caller (retry.Throttled): a refresh that fails so keeps the
	// value answering, for up to HoldFor of its window past its freshness
	// even with StaleIfError zero (or StaleIfError, when longer), and the
	// entry tries again only after Backoff of its window, growing with
	// each throttled refresh in a row and back to the window once one
	// succeeds. Throttling is the service asking every client to slow
	// down: the value already held is the safe answer meanwhile. The load
	// of such a refresh has its context marked retry.WithValueHeld, so
	// it is not retried through the throttling either. Nil: a throttled
	// refresh is any other failure.
	Throttled func(error) bool
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
	// Rand returns a number in [0, 1) for the jitter (tests); nil:
	// math/rand/v2.
	Rand func() float64
}

// Cache maps keys of type K to values of type V, each with its own expiry.
type Cache[K comparable, V any] struct {
	max  int
	now  func() time.Time
	opts Options[K]

	mu    sync.Mutex
	order *list.List // front = most recently used
	// items (values, negative entries, stale answers and the log said
	// once per outage) and loading (coalesced loads, whose result every
	// waiter gets): keyed by identity as far as the caller's key is; every
	// user's key holds the reading identity (secrets, ssm,
	// identity.Credentials, identity.Kube's roles).
	items   map[K]*list.Element
	loading map[K]*call[V]

	// Counters: hold nothing identity-specific (numbers, for metrics).
	hits, misses, coalesced, evictions, stale, throttled atomic.Int64
	// heldBack counts the entries whose throttles is not zero (c.mu).
	heldBack int64

	// Bytes bound (LimitBytes, ShareBytes): nil budget is none.
	budget    *Budget
	keySize   func(key K) int64
	valueSize func(value V) int64
	bytes     int64
}

type entry[K comparable, V any] struct {
	key     K
	value   V
	err     error
	expires time.Time
	// window is the freshness the load gave the value (before jitter),
	// the unit of the throttling back-off.
	window time.Duration
	// staleUntil ends the time a value may answer stale; zero: never.
	staleUntil time.Time
	// holdUntil ends the time a value may answer for throttled
	// refreshes (Options.Throttled); zero: never.
	holdUntil time.Time
	// throttles counts the refreshes in a row that were throttled: the
	// entry is held back while it is not zero.
	throttles int
	// fresh is when the value's freshness ended, for OnStale.
	fresh time.Time
	// staling says the value answers stale: loading it failed since its
	// freshness ended.
	staling bool
	size    int64
}

type call[V any] struct {
	done  chan struct{}
	value V
	err   error
	// stale says value is a stale entry's, answering for err.
	stale bool
}

// New returns a cache holding at most max entries (at least 1).
func New[K comparable, V any](max int) *Cache[K, V] {
	return NewWithOptions[K, V](max, Options[K]{})
}

// NewWithOptions returns a cache holding at most max entries (at least 1),
// tuned by o.
func NewWithOptions[K comparable, V any](size int, o Options[K]) *Cache[K, V] {
	size = max(size, 1)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	o.Jitter = min(max(o.Jitter, 0), 0.5)
	if o.StaleIf == nil {
		o.StaleIfError = 0
	}
	return &Cache[K, V]{
		max:     size,
		now:     o.Now,
		opts:    o,
		order:   list.New(),
		items:   map[K]*list.Element{},
		loading: map[K]*call[V]{},
	}
}

// Loader loads the value for a key. It returns the value, or an error, and
// how long the result may be served from the cache: zero or less caches
// nothing. Returning a ttl with an error caches the error (a negative entry).
type Loader[V any] func(ctx context.Context) (value V, ttl time.Duration, err error)

// Get returns the cached result for key when it has not expired; otherwise
// it runs load once for all concurrent callers of the same key and caches
// its result for the ttl load returns. Every caller, the one that started
// the load included, stops waiting when its own ctx ends and gets
// ctx.Err(); the load goes on for the others. The load keeps the starting
// caller's deadline but not its cancellation, so a pod deleted mid-mount
// does not fail the other pods waiting on the same secret.
//
// With StaleIfError, an expired value still within it answers for a load
// that fails transiently, and for a caller whose deadline passes while the
// load is still trying; while it answers stale (an outage), lookups get it
// at once and one load in the background tries again.
func (c *Cache[K, V]) Get(ctx context.Context, key K, load Loader[V]) (V, error) {
	c.mu.Lock()
	now := c.now()
	var staling *entry[K, V]
	if el, ok := c.items[key]; ok {
		e := el.Value.(*entry[K, V])
		if now.Before(e.expires) {
			c.order.MoveToFront(el)
			c.mu.Unlock()
			c.hits.Add(1)
			if e.staling {
				c.stale.Add(1)
			}
			return e.value, e.err
		}
		switch {
		case e.err == nil && now.Before(laterTime(e.staleUntil, e.holdUntil)):
			// Kept: it answers if the load fails transiently.
			if e.staling {
				staling = e
			}
		default:
			c.removeLocked(el)
		}
	}
	cl, ok := c.loading[key]
	if ok {
		c.coalesced.Add(1)
	} else {
		cl = &call[V]{done: make(chan struct{})}
		c.loading[key] = cl
		c.misses.Add(1)
		go c.run(ctx, key, cl, load)
	}
	if staling != nil {
		// An outage goes on: answer at once, the load tries in the
		// background.
		c.mu.Unlock()
		c.stale.Add(1)
		return staling.value, nil
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
		if cl.stale {
			c.stale.Add(1)
		}
		return cl.value, cl.err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The load is still trying: AWS does not answer in time.
			if v, ok := c.serveStale(key, ctx.Err()); ok {
				c.stale.Add(1)
				return v, nil
			}
		}
		var zero V
		return zero, ctx.Err()
	}
}

// holds reports whether key has a value that would answer for a
// throttled refresh (Options.Throttled).
func (c *Cache[K, V]) holds(key K) bool {
	if c.opts.Throttled == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return false
	}
	e := el.Value.(*entry[K, V])
	return e.err == nil && c.now().Before(laterTime(e.staleUntil, e.holdUntil))
}

// serveStale returns the stale value of key, if one may answer for err,
// and marks it as answering stale.
func (c *Cache[K, V]) serveStale(key K, err error) (V, bool) {
	c.mu.Lock()
	v, first, late, ok := c.staleLocked(key, err, false)
	c.mu.Unlock()
	if first && c.opts.OnStale != nil {
		c.opts.OnStale(key, err, late)
	}
	return v, ok
}

// staleLocked finds the expired value of key that may answer for err. It
// marks it as answering stale (first: it was not yet), and holds it for
// StaleRetry before the next load, within StaleIfError; for a throttled
// refresh, for the entry's back-off, within its hold.
func (c *Cache[K, V]) staleLocked(key K, err error, throttled bool) (value V, first bool, late time.Duration, ok bool) {
	el, found := c.items[key]
	if !found {
		return value, false, 0, false
	}
	e := el.Value.(*entry[K, V])
	now := c.now()
	until := e.staleUntil
	if throttled {
		until = laterTime(until, e.holdUntil)
	}
	if e.err != nil || !now.Before(until) || (!e.staling && now.Before(e.expires)) {
		return value, false, 0, false
	}
	first = !e.staling
	e.staling = true
	switch {
	case throttled:
		if e.throttles == 0 {
			c.heldBack++
		}
		e.throttles++
		c.throttled.Add(1)
		wait := Backoff(e.window, e.throttles)
		wait -= time.Duration(float64(wait) / 2 * c.opts.Rand())
		e.expires = minTime(now.Add(wait), until)
	default:
		c.releaseLocked(e)
		if c.opts.StaleRetry > 0 && !now.Before(e.expires) {
			e.expires = minTime(now.Add(c.opts.StaleRetry), e.staleUntil)
		}
	}
	return e.value, first, now.Sub(e.fresh), true
}

// The throttling back-off, in windows of the entry (its freshness).
const (
	// backoffMax caps the wait before the next try of a throttled refresh.
	backoffMax = 8
	// holdWindows is how long past its freshness a value answers for
	// throttled refreshes, when StaleIfError is shorter: long enough for
	// the back-off's first waits (2+4+8 windows), within holdMax.
	holdWindows = 16
	holdMax     = time.Hour
)

// Backoff is how long an entry with a freshness window of window waits
// before it tries again after its n-th throttled refresh in a row (n >= 1):
// twice the window, then four times, up to eight; the cache jitters it down
// by up to half, so the entries throttled in one second do not all try
// again in another.
func Backoff(window time.Duration, n int) time.Duration {
	return window * min(time.Duration(1)<<min(max(n, 1), 10), backoffMax)
}

// HoldFor is how long past its freshness a value with a window of window
// keeps answering while its refreshes are throttled, with staleIfError:
// sixteen windows, at most an hour, or staleIfError when longer.
func HoldFor(window, staleIfError time.Duration) time.Duration {
	return max(staleIfError, min(holdWindows*window, holdMax))
}

// releaseLocked ends e's back-off: a refresh got an answer other than
// throttling, or e leaves the cache.
func (c *Cache[K, V]) releaseLocked(e *entry[K, V]) {
	if e.throttles > 0 {
		e.throttles = 0
		c.heldBack--
	}
}

func (c *Cache[K, V]) run(ctx context.Context, key K, cl *call[V], load Loader[V]) {
	lctx := context.WithoutCancel(ctx)
	if c.holds(key) {
		// A throttled call is not retried: the value answers for it.
		lctx = retry.WithValueHeld(lctx)
	}
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		lctx, cancel = context.WithDeadline(lctx, d)
		defer cancel()
	}
	value, ttl, err := c.load(lctx, load)
	c.mu.Lock()
	cl.value, cl.err = value, err
	delete(c.loading, key)
	var first bool
	var late time.Duration
	throttled := err != nil && ttl <= 0 && c.opts.Throttled != nil && c.opts.Throttled(err)
	switch {
	// A load that ran out of its caller's deadline is AWS not answering in
	// time, whatever StaleIf says: the same as a caller whose deadline
	// passes while it waits (Get), which this can race with.
	case throttled || err != nil && c.opts.StaleIfError > 0 && ttl <= 0 && (c.opts.StaleIf(err) || errors.Is(err, context.DeadlineExceeded)):
		var ok bool
		if cl.value, first, late, ok = c.staleLocked(key, err, throttled); ok {
			cl.err, cl.stale = nil, true
		} else {
			// Past what the value may answer for this failure (an
			// outage past StaleIfError while throttling held it): it
			// answers no more.
			cl.value = value
			c.dropExpiredLocked(key)
		}
	case err != nil:
		// A refusal or a bug: a stale value must not answer for it.
		c.dropExpiredLocked(key)
	}
	if ttl > 0 {
		window := ttl
		if err == nil {
			ttl -= time.Duration(float64(ttl) * c.opts.Jitter * c.opts.Rand())
		}
		c.addLocked(key, value, err, c.now().Add(ttl), window)
	}
	c.mu.Unlock()
	// Before the waiting callers go on: a Mount answered stale has been
	// logged as such when it returns.
	if first && c.opts.OnStale != nil {
		c.opts.OnStale(key, err, late)
	}
	close(cl.done)
}

// dropExpiredLocked removes key's value if it is past its freshness or
// answering stale; a fresh one (loaded meanwhile) stays.
func (c *Cache[K, V]) dropExpiredLocked(key K) {
	if el, ok := c.items[key]; ok {
		if e := el.Value.(*entry[K, V]); e.staling || !c.now().Before(e.expires) {
			c.removeLocked(el)
		}
	}
}

// load runs the loader, turning a panic into a *PanicError for every
// caller: the load runs on a goroutine of its own, where a panic would
// end the whole process, every pod's Mounts with it. Nothing is cached.
func (c *Cache[K, V]) load(ctx context.Context, load Loader[V]) (value V, ttl time.Duration, err error) {
	defer func() {
		if r := recover(); r != nil {
			perr := &PanicError{Value: r, Stack: debug.Stack()}
			klog.ErrorS(fmt.Errorf("panic: %v", r), "internal error in a cache load", "stack", string(perr.Stack))
			var zero V
			value, ttl, err = zero, 0, perr
		}
	}()
	return load(ctx)
}

// PanicError is a load that panicked: a bug. Its text, which a user reads
// in the pod's events, holds neither the value nor the stack (logged).
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return "the provider failed with an internal error (a bug; its log has the details): the kubelet retries the mount"
}

// Peek returns the cached value for key, expired or not, without loading.
func (c *Cache[K, V]) Peek(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		e := el.Value.(*entry[K, V])
		if e.err == nil {
			return e.value, true
		}
	}
	var zero V
	return zero, false
}

// ForgetIf drops key when its cached value satisfies stale, checked under
// the cache's lock: of many callers that found one value wanting, only the
// first drops it, and a newer value is kept.
func (c *Cache[K, V]) ForgetIf(key K, stale func(V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		if e := el.Value.(*entry[K, V]); e.err == nil && stale(e.value) {
			c.removeLocked(el)
		}
	}
}

// Forget drops key.
func (c *Cache[K, V]) Forget(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.removeLocked(el)
	}
}

// Stats returns the counters.
func (c *Cache[K, V]) Stats() Stats {
	c.mu.Lock()
	n, b, held := int64(c.order.Len()), c.bytes, c.heldBack
	c.mu.Unlock()
	return Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Coalesced: c.coalesced.Load(),
		Evictions: c.evictions.Load(), Entries: n, Stale: c.stale.Load(), Bytes: b,
		Throttled: c.throttled.Load(), HeldBack: held,
	}
}

func (c *Cache[K, V]) addLocked(key K, value V, err error, expires time.Time, window time.Duration) {
	if el, ok := c.items[key]; ok {
		c.removeLocked(el)
	}
	e := &entry[K, V]{key: key, value: value, err: err, expires: expires, fresh: expires, window: window}
	if err == nil && c.opts.StaleIfError > 0 {
		e.staleUntil = expires.Add(c.opts.StaleIfError)
	}
	if err == nil && c.opts.Throttled != nil {
		e.holdUntil = expires.Add(HoldFor(window, c.opts.StaleIfError))
	}
	if c.keySize != nil {
		e.size = c.keySize(key)
		if err == nil {
			e.size += c.valueSize(value)
		}
		c.bytes += e.size
		c.budget.used.Add(e.size)
	}
	c.items[key] = c.order.PushFront(e)
	for c.order.Len() > c.max {
		c.removeLocked(c.order.Back())
		c.evictions.Add(1)
	}
	c.fitLocked()
}

func (c *Cache[K, V]) removeLocked(el *list.Element) {
	e := el.Value.(*entry[K, V])
	c.releaseLocked(e)
	c.bytes -= e.size
	if c.budget != nil {
		c.budget.used.Add(-e.size)
	}
	delete(c.items, e.key)
	c.order.Remove(el)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func laterTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Logged is a key that says what it is for a log line: key/values from its
// own fields (the object, the region, the reading identity), never a token
// or a value.
type Logged interface {
	comparable
	LogFields() []any
}

// StaleLog is the OnStale of a cache whose keys are Logged: it says msg,
// once per outage and key, with the key's fields, how long ago the value's
// freshness ended and why the load failed (the error text names the call
// and its reason, never a value or token).
func StaleLog[K Logged](msg string) func(key K, err error, late time.Duration) {
	return func(key K, err error, late time.Duration) {
		kv := append(key.LogFields(), "pastFreshness", late.Round(time.Second), "reason", mounterr.Bound(err.Error()))
		klog.InfoS(msg, kv...)
	}
}
