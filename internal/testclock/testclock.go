// Package testclock is a settable time source for tests: code under test
// reads Now where it would read time.Now, and the test moves the time on
// with Advance. It is safe for concurrent use.
package testclock

import (
	"sync"
	"time"
)

// Clock is a time that moves only when the test says so.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New is a clock that reads t until advanced.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
