package backendtest

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/typedsession/session/backend"
)

// CountingStore wraps a backend.Store and counts the calls made to each of
// its methods, so that tests of code using a Store can assert how many
// round trips it makes ("no store call for a request that never reads the
// session", "one Load and no write").
//
// Every call is counted when it is made, whatever its outcome, and then
// forwarded unchanged. A CountingStore is safe for concurrent use if the
// wrapped store is. Set Store before the first call and do not change it
// afterwards; the counters need no initialisation.
type CountingStore struct {
	// Store is the wrapped store every call is forwarded to.
	Store backend.Store

	loads, creates, updates, touches, deletes atomic.Int64
}

var _ backend.Store = (*CountingStore)(nil)

// NewCountingStore returns a CountingStore that forwards to s, with every
// counter at zero.
func NewCountingStore(s backend.Store) *CountingStore {
	return &CountingStore{Store: s}
}

// Load counts the call and forwards it to the wrapped store.
func (c *CountingStore) Load(ctx context.Context, key string) (backend.Record, error) {
	c.loads.Add(1)
	return c.Store.Load(ctx, key)
}

// Create counts the call and forwards it to the wrapped store.
func (c *CountingStore) Create(ctx context.Context, key string, data []byte, ttl time.Duration) (uint64, error) {
	c.creates.Add(1)
	return c.Store.Create(ctx, key, data, ttl)
}

// Update counts the call and forwards it to the wrapped store.
func (c *CountingStore) Update(ctx context.Context, key string, version uint64, data []byte, ttl time.Duration) (uint64, error) {
	c.updates.Add(1)
	return c.Store.Update(ctx, key, version, data, ttl)
}

// Touch counts the call and forwards it to the wrapped store.
func (c *CountingStore) Touch(ctx context.Context, key string, ttl time.Duration) error {
	c.touches.Add(1)
	return c.Store.Touch(ctx, key, ttl)
}

// Delete counts the call and forwards it to the wrapped store.
func (c *CountingStore) Delete(ctx context.Context, key string) error {
	c.deletes.Add(1)
	return c.Store.Delete(ctx, key)
}

// Loads returns the number of Load calls since creation or the last Reset.
func (c *CountingStore) Loads() int64 { return c.loads.Load() }

// Creates returns the number of Create calls since creation or the last
// Reset.
func (c *CountingStore) Creates() int64 { return c.creates.Load() }

// Updates returns the number of Update calls since creation or the last
// Reset.
func (c *CountingStore) Updates() int64 { return c.updates.Load() }

// Touches returns the number of Touch calls since creation or the last
// Reset.
func (c *CountingStore) Touches() int64 { return c.touches.Load() }

// Deletes returns the number of Delete calls since creation or the last
// Reset.
func (c *CountingStore) Deletes() int64 { return c.deletes.Load() }

// Writes returns the number of calls that may change the store: Create,
// Update, Touch and Delete.
func (c *CountingStore) Writes() int64 {
	return c.Creates() + c.Updates() + c.Touches() + c.Deletes()
}

// Total returns the number of calls of every method.
func (c *CountingStore) Total() int64 {
	return c.Loads() + c.Writes()
}

// Reset sets every counter to zero. Calls in flight during Reset may be
// counted before or after it.
func (c *CountingStore) Reset() {
	c.loads.Store(0)
	c.creates.Store(0)
	c.updates.Store(0)
	c.touches.Store(0)
	c.deletes.Store(0)
}
