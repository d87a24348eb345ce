// Package cache is a bounded, locked LRU whose entries expire, with
// coalescing of concurrent loads of the same key: many pods asking for the
// same thing at once cost one load. It counts hits, misses, coalesced waits
// and evictions for metrics.
//
// Keys are built by callers from non-secret data only (role ARN, namespace,
// service account, region, secret id, version): never a token or a value.
package cache

import (
	"container/list"
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"
)

// Stats are a cache's counters since it was made.
type Stats struct {
	Hits, Misses, Coalesced, Evictions, Entries int64
	// Bytes is the entries' estimated size, with LimitBytes.
	Bytes int64
}

// Cache maps keys to values of type V, each with its own expiry.
type Cache[V any] struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	order   *list.List // front = most recently used
	items   map[string]*list.Element
	loading map[string]*call[V]

	hits, misses, coalesced, evictions atomic.Int64

	// Bytes bound (LimitBytes): zero maxBytes is none.
	maxBytes int64
	sizeOf   func(key string, value V) int64
	bytes    int64
}

type entry[V any] struct {
	key     string
	value   V
	err     error
	expires time.Time
	size    int64
}

type call[V any] struct {
	done  chan struct{}
	value V
	err   error
}

// New returns a cache holding at most max entries (at least 1).
func New[V any](max int) *Cache[V] {
	if max < 1 {
		max = 1
	}
	return &Cache[V]{
		max:     max,
		now:     time.Now,
		order:   list.New(),
		items:   map[string]*list.Element{},
		loading: map[string]*call[V]{},
	}
}

// LimitBytes bounds the cache in bytes as well as in entries: sizeOf
// estimates what an entry holds (negative entries count their key only),
// and the least recently used entries go while the total is over
// maxBytes, the newest one always kept. Call it before the cache is used.
func (c *Cache[V]) LimitBytes(maxBytes int64, sizeOf func(key string, value V) int64) {
	c.maxBytes, c.sizeOf = maxBytes, sizeOf
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
func (c *Cache[V]) Get(ctx context.Context, key string, load Loader[V]) (V, error) {
	c.mu.Lock()
	if el, ok := c.items[key]; ok {
		e := el.Value.(*entry[V])
		if c.now().Before(e.expires) {
			c.order.MoveToFront(el)
			c.mu.Unlock()
			c.hits.Add(1)
			return e.value, e.err
		}
		c.removeLocked(el)
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
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl.value, cl.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

func (c *Cache[V]) run(ctx context.Context, key string, cl *call[V], load Loader[V]) {
	lctx := context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		lctx, cancel = context.WithDeadline(lctx, d)
		defer cancel()
	}
	value, ttl, err := c.load(lctx, load)
	c.mu.Lock()
	cl.value, cl.err = value, err
	delete(c.loading, key)
	if ttl > 0 {
		c.addLocked(key, value, err, c.now().Add(ttl))
	}
	c.mu.Unlock()
	close(cl.done)
}

// load runs the loader, turning a panic into a *PanicError for every
// caller: the load runs on a goroutine of its own, where a panic would
// end the whole process, every pod's Mounts with it. Nothing is cached.
func (c *Cache[V]) load(ctx context.Context, load Loader[V]) (value V, ttl time.Duration, err error) {
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
func (c *Cache[V]) Peek(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		e := el.Value.(*entry[V])
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
func (c *Cache[V]) ForgetIf(key string, stale func(V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		if e := el.Value.(*entry[V]); e.err == nil && stale(e.value) {
			c.removeLocked(el)
		}
	}
}

// Forget drops key.
func (c *Cache[V]) Forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.removeLocked(el)
	}
}

// Stats returns the counters.
func (c *Cache[V]) Stats() Stats {
	c.mu.Lock()
	n, b := int64(c.order.Len()), c.bytes
	c.mu.Unlock()
	return Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Coalesced: c.coalesced.Load(),
		Evictions: c.evictions.Load(), Entries: n, Bytes: b,
	}
}

func (c *Cache[V]) addLocked(key string, value V, err error, expires time.Time) {
	if el, ok := c.items[key]; ok {
		c.removeLocked(el)
	}
	e := &entry[V]{key: key, value: value, err: err, expires: expires}
	if c.sizeOf != nil {
		e.size = int64(len(key))
		if err == nil {
			e.size = c.sizeOf(key, value)
		}
		c.bytes += e.size
	}
	c.items[key] = c.order.PushFront(e)
	for c.order.Len() > c.max || (c.maxBytes > 0 && c.bytes > c.maxBytes && c.order.Len() > 1) {
		c.removeLocked(c.order.Back())
		c.evictions.Add(1)
	}
}

func (c *Cache[V]) removeLocked(el *list.Element) {
	e := el.Value.(*entry[V])
	c.bytes -= e.size
	delete(c.items, e.key)
	c.order.Remove(el)
}
