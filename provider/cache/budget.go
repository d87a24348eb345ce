package cache

import (
	"sync"
	"sync/atomic"
)

// Budget is a bound in bytes that several caches share (ShareBytes): the
// estimated bytes they hold together stay within it. One cache may use
// all of it while the others hold little; when an insertion takes the
// total over, a cache holding more than its share (the bound divided
// among the caches) gives back its least recently used entries first, so
// a cache that holds little is not emptied by another that holds much.
type Budget struct {
	max  int64
	used atomic.Int64

	mu      sync.Mutex
	members []trimmer
}

// trimmer is a cache sharing a Budget, of any key and value type.
type trimmer interface {
	// tryTrim gives back least recently used entries while the budget is
	// over and the cache holds more than its share, unless its lock is
	// held (by an insertion that trims it itself).
	tryTrim()
}

// NewBudget returns a budget of max bytes (at least 1).
func NewBudget(maxBytes int64) *Budget { return &Budget{max: max(maxBytes, 1)} }

// Used returns the estimated bytes the caches sharing b hold.
func (b *Budget) Used() int64 { return b.used.Load() }

func (b *Budget) over() bool { return b.used.Load() > b.max }

// share is what one member may keep while the budget is over.
func (b *Budget) share() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.max / int64(max(len(b.members), 1))
}

func (b *Budget) join(t trimmer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.members = append(b.members, t)
}

// others are b's members but self.
func (b *Budget) others(self trimmer) []trimmer {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]trimmer, 0, len(b.members))
	for _, m := range b.members {
		if m != self {
			out = append(out, m)
		}
	}
	return out
}

// LimitBytes bounds the cache in bytes as well as in entries, with a
// budget of maxBytes of its own (ShareBytes).
func (c *Cache[K, V]) LimitBytes(maxBytes int64, keySize func(key K) int64, valueSize func(value V) int64) {
	c.ShareBytes(NewBudget(maxBytes), keySize, valueSize)
}

// ShareBytes bounds the cache in bytes as well as in entries, within b,
// which other caches may share: keySize and valueSize estimate what an
// entry holds (negative entries count their key only). The least recently
// used entries go while b is over, the newest one of each cache always
// kept. Call it before the cache is used.
func (c *Cache[K, V]) ShareBytes(b *Budget, keySize func(key K) int64, valueSize func(value V) int64) {
	c.budget, c.keySize, c.valueSize = b, keySize, valueSize
	b.join(c)
}

// BoundsBytes reports whether the cache is bounded in bytes (LimitBytes,
// ShareBytes): its callers then have values sized before they are kept.
func (c *Cache[K, V]) BoundsBytes() bool { return c.budget != nil }

// trimLocked gives back c's least recently used entries while the budget
// is over and c holds more than share, keeping its newest.
func (c *Cache[K, V]) trimLocked(share int64) {
	for c.budget.over() && c.bytes > share && c.order.Len() > 1 {
		c.removeLocked(c.order.Back())
		c.evictions.Add(1)
	}
}

func (c *Cache[K, V]) tryTrim() {
	if !c.mu.TryLock() {
		return
	}
	defer c.mu.Unlock()
	c.trimLocked(c.budget.share())
}

// fitLocked brings the budget back within its bound after an insertion
// into c: c gives back what it holds over its share, then the others what
// they hold over theirs, then, if it is still over (another cache was
// busy: its lock is not waited for, so that two caches inserting at once
// cannot wait on each other), c gives back its own, down to its newest
// entry.
func (c *Cache[K, V]) fitLocked() {
	if c.budget == nil || !c.budget.over() {
		return
	}
	share := c.budget.share()
	c.trimLocked(share)
	for _, o := range c.budget.others(c) {
		if !c.budget.over() {
			return
		}
		o.tryTrim()
	}
	c.trimLocked(0)
}
