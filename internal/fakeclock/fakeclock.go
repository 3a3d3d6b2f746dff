// Package fakeclock provides a manually driven clock for tests.
//
// Code under test takes a func() time.Time (usually time.Now); tests pass
// (*Clock).Now instead and move time with Advance or Set, so that nothing
// has to sleep to observe an expiry.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a clock that only moves when told to. It is safe for concurrent
// use. The zero value reads as the zero time; use New to start elsewhere.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a Clock that reads t until it is advanced or set.
func New(t time.Time) *Clock {
	return &Clock{now: t}
}

// Now returns the clock's current time. Its signature matches time.Now, so
// the method value c.Now can be handed to code that expects one.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d. A negative d moves it back.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t, which may be before the current time.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
