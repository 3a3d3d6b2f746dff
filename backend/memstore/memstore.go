// Package memstore is an in-process backend.Store, the session manager's
// embedded default.
//
// Records live in memory, in a fixed number of shards, each a map guarded by
// its own lock; a record's shard is chosen by hashing its key with a seed
// private to the Store. Expired records behave as absent in every method the
// moment they expire, and a background goroutine removes them shard by shard
// every sweep interval, so no request ever pays for a scan.
//
// Records are lost when the process exits and are not shared between
// processes: use a networked store when more than one instance serves the
// same sessions.
//
// Call Close when a Store is no longer needed to stop its sweeper. A Store
// that is dropped without Close does not leak the goroutine: it is stopped
// once the Store has been garbage collected.
package memstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/typedsession/session/backend"
)

// Defaults used when the corresponding option is not given.
const (
	// DefaultSweepInterval is how often expired records are removed unless
	// WithSweepInterval says otherwise.
	DefaultSweepInterval = time.Minute

	// DefaultShards is the number of shards unless WithShards says
	// otherwise.
	DefaultShards = 64

	// maxShards bounds WithShards; more shards than this only cost memory.
	maxShards = 1 << 16
)

var errEmptyKey = errors.New("memstore: empty key")

// Option configures a Store created by New.
type Option func(*config)

type config struct {
	now           func() time.Time
	sweepInterval time.Duration
	shards        int
}

// WithClock makes the Store read the time from now instead of time.Now.
// Every expiry decision uses it, including the sweeper's, so tests can
// drive expiry with a fake clock. A nil now keeps time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithSweepInterval sets how often the background sweeper removes expired
// records (DefaultSweepInterval if not given). It affects memory use only:
// an expired record is never returned, swept or not. A non-positive d keeps
// the default.
func WithSweepInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.sweepInterval = d
		}
	}
}

// WithShards sets the number of shards (DefaultShards if not given). More
// shards mean less lock contention between concurrent requests. n is rounded
// up to a power of two and capped at 65536; a non-positive n keeps the
// default.
func WithShards(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.shards = min(nextPowerOfTwo(n), maxShards)
		}
	}
}

func nextPowerOfTwo(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// Store is an in-memory backend.Store. It is safe for concurrent use. Create
// one with New; the zero value is not usable.
type Store struct {
	*inner
	cleanup runtime.Cleanup
}

// inner holds everything the sweeper goroutine needs. The goroutine
// references only inner, never the outer *Store, so the outer value can
// become unreachable while the sweeper runs; its cleanup then stops the
// sweeper.
type inner struct {
	now     func() time.Time
	base    time.Time // the clock's reading at New: expiries count from it
	seed    maphash.Seed
	mask    uint64
	shards  []shard
	version atomic.Uint64

	interval time.Duration
	stopOnce sync.Once
	stop     chan struct{} // closed to ask the sweeper to exit
	done     chan struct{} // closed by the sweeper when it exits
}

type shard struct {
	mu     sync.RWMutex
	m      map[string]entry
	groups map[string]map[string]struct{} // the keys of each group with a record here (see backend.KeyGroup)
	_      [64]byte                       // keep neighbouring shards' locks off one cache line
}

type entry struct {
	data    []byte // private copy, never mutated after it is stored
	version uint64
	expiry  time.Duration // since the store's base time, in its clock; the record is live while now < expiry
}

var (
	_ backend.Store      = (*Store)(nil)
	_ backend.OwnerIndex = (*Store)(nil)
)

// New returns an empty Store and starts its background sweeper.
func New(opts ...Option) *Store {
	cfg := config{
		now:           time.Now,
		sweepInterval: DefaultSweepInterval,
		shards:        DefaultShards,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	in := &inner{
		now:      cfg.now,
		base:     cfg.now(),
		seed:     maphash.MakeSeed(),
		mask:     uint64(cfg.shards - 1),
		shards:   make([]shard, cfg.shards),
		interval: cfg.sweepInterval,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	for i := range in.shards {
		in.shards[i].m = make(map[string]entry)
		in.shards[i].groups = make(map[string]map[string]struct{})
	}
	go in.sweepLoop()
	s := &Store{inner: in}
	s.cleanup = runtime.AddCleanup(s, (*inner).stopSweeper, in)
	return s
}

// Close stops the background sweeper and waits for it to exit. It always
// returns nil and may be called more than once. The Store stays usable after
// Close: expired records still behave as absent, but are removed only by
// Sweep or when overwritten.
func (s *Store) Close() error {
	s.cleanup.Stop()
	s.stopSweeper()
	<-s.done
	return nil
}

func (in *inner) stopSweeper() {
	in.stopOnce.Do(func() { close(in.stop) })
}

func (in *inner) sweepLoop() {
	defer close(in.done)
	ticker := time.NewTicker(in.interval)
	defer ticker.Stop()
	for {
		select {
		case <-in.stop:
			return
		case <-ticker.C:
			in.sweep()
		}
	}
}

// Sweep removes every expired record now, one shard at a time, and returns
// when it is done. The background sweeper does the same every sweep
// interval; Sweep is for tests and for callers that want memory back
// immediately.
func (s *Store) Sweep() {
	s.sweep()
}

func (in *inner) sweep() {
	for i := range in.shards {
		sh := &in.shards[i]
		sh.mu.Lock()
		now := in.clock()
		for k, e := range sh.m {
			if now >= e.expiry {
				sh.remove(k)
			}
		}
		sh.mu.Unlock()
	}
}

// Len returns the number of live (unexpired) records. It visits every
// record, locking one shard at a time, so it is meant for tests and
// occasional metrics; with concurrent writers the result is approximate.
func (s *Store) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		now := s.clock()
		for _, e := range sh.m {
			if now < e.expiry {
				n++
			}
		}
		sh.mu.RUnlock()
	}
	return n
}

// clock returns the time since the store's base time. An entry keeps its
// expiry in this form, 8 bytes instead of a time.Time's 24, which makes
// every stored session smaller; with the real clock the difference uses
// the monotonic reading, so wall-clock jumps do not move expiries.
func (in *inner) clock() time.Duration {
	return in.now().Sub(in.base)
}

// shardFor returns the shard of key: the shard of its group for a grouped
// key, so that the records of one group share a lock and DeleteGroup is
// one atomic step.
func (in *inner) shardFor(key string) *shard {
	if g := backend.KeyGroup(key); g != "" {
		return in.shardOfGroup(g)
	}
	return &in.shards[maphash.String(in.seed, key)&in.mask]
}

func (in *inner) shardOfGroup(group string) *shard {
	return &in.shards[maphash.String(in.seed, group)&in.mask]
}

// put stores e under key and indexes a grouped key. The caller holds
// sh.mu for writing.
func (sh *shard) put(key string, e entry) {
	sh.m[key] = e
	if g := backend.KeyGroup(key); g != "" {
		keys := sh.groups[g]
		if keys == nil {
			keys = make(map[string]struct{})
			sh.groups[g] = keys
		}
		keys[key] = struct{}{}
	}
}

// remove deletes the record under key and its index entry. The caller
// holds sh.mu for writing.
func (sh *shard) remove(key string) {
	delete(sh.m, key)
	if g := backend.KeyGroup(key); g != "" {
		if keys := sh.groups[g]; keys != nil {
			delete(keys, key)
			if len(keys) == 0 {
				delete(sh.groups, g)
			}
		}
	}
}

// check validates the arguments every method shares; ctx comes first so
// that a cancelled request fails the same way whatever else it got wrong.
func check(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: %s: %w", op, err)
	}
	if key == "" {
		return fmt.Errorf("memstore: %s: %w", op, errEmptyKey)
	}
	return nil
}

func checkTTL(op string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("memstore: %s: ttl %v is not positive", op, ttl)
	}
	return nil
}

// Load returns the live record stored under key, or backend.ErrNotFound.
//
// Record.Data is the Store's own copy, returned without copying (Load does
// not allocate). The Store never modifies it after storing it, so it stays
// valid after later writes to the key, but the caller must not modify it.
func (s *Store) Load(ctx context.Context, key string) (backend.Record, error) {
	if err := check(ctx, "load", key); err != nil {
		return backend.Record{}, err
	}
	now := s.clock()
	sh := s.shardFor(key)
	sh.mu.RLock()
	e, ok := sh.m[key]
	sh.mu.RUnlock()
	if !ok || now >= e.expiry {
		return backend.Record{}, backend.ErrNotFound
	}
	return backend.Record{Data: e.data, Version: e.version, TTL: e.expiry - now}, nil
}

// Create stores a copy of data under key, to expire after ttl, unless a live
// record is there already, in which case it returns backend.ErrExists and
// changes nothing. An expired record is replaced as if it were absent.
func (s *Store) Create(ctx context.Context, key string, data []byte, ttl time.Duration) (uint64, error) {
	if err := check(ctx, "create", key); err != nil {
		return 0, err
	}
	if err := checkTTL("create", ttl); err != nil {
		return 0, err
	}
	data = clone(data) // outside the lock
	now := s.clock()
	sh := s.shardFor(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[key]; ok && now < e.expiry {
		return 0, backend.ErrExists
	}
	v := s.version.Add(1)
	sh.put(key, entry{data: data, version: v, expiry: now + ttl})
	return v, nil
}

// Update replaces the record under key with a copy of data and resets its
// time to live, provided the record is live and its version is version. It
// returns backend.ErrNotFound if there is no live record (it never creates
// one) and backend.ErrConflict if the version differs; either way nothing
// changes.
func (s *Store) Update(ctx context.Context, key string, version uint64, data []byte, ttl time.Duration) (uint64, error) {
	if err := check(ctx, "update", key); err != nil {
		return 0, err
	}
	if err := checkTTL("update", ttl); err != nil {
		return 0, err
	}
	data = clone(data) // outside the lock; wasted only on failure
	now := s.clock()
	sh := s.shardFor(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[key]
	if !ok {
		return 0, backend.ErrNotFound
	}
	if now >= e.expiry {
		sh.remove(key)
		return 0, backend.ErrNotFound
	}
	if e.version != version {
		return 0, backend.ErrConflict
	}
	v := s.version.Add(1)
	sh.m[key] = entry{data: data, version: v, expiry: now + ttl}
	return v, nil
}

// Touch resets the time to live of the live record under key to ttl without
// changing its data or version, or returns backend.ErrNotFound.
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) error {
	if err := check(ctx, "touch", key); err != nil {
		return err
	}
	if err := checkTTL("touch", ttl); err != nil {
		return err
	}
	now := s.clock()
	sh := s.shardFor(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[key]
	if !ok {
		return backend.ErrNotFound
	}
	if now >= e.expiry {
		sh.remove(key)
		return backend.ErrNotFound
	}
	e.expiry = now + ttl
	sh.m[key] = e
	return nil
}

// Delete removes the record under key. Deleting a missing or expired record
// is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := check(ctx, "delete", key); err != nil {
		return err
	}
	sh := s.shardFor(key)
	sh.mu.Lock()
	sh.remove(key)
	sh.mu.Unlock()
	return nil
}

// Group returns the live records whose key is in group (see
// backend.KeyGroup), removing the index entries of expired ones. Like
// Load, it returns the Store's own copies of the data.
func (s *Store) Group(ctx context.Context, group string) ([]backend.KeyedRecord, error) {
	if err := check(ctx, "group", group); err != nil {
		return nil, err
	}
	now := s.clock()
	sh := s.shardOfGroup(group)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	out := []backend.KeyedRecord{}
	for k := range sh.groups[group] {
		e := sh.m[k]
		if now >= e.expiry {
			sh.remove(k)
			continue
		}
		out = append(out, backend.KeyedRecord{Key: k, Record: backend.Record{Data: e.data, Version: e.version, TTL: e.expiry - now}})
	}
	return out, nil
}

// DeleteGroup deletes every record whose key is in group except the one
// under keep, under the lock of the group's shard, and returns how many
// live records it deleted.
func (s *Store) DeleteGroup(ctx context.Context, group, keep string) (int, error) {
	if err := check(ctx, "delete group", group); err != nil {
		return 0, err
	}
	now := s.clock()
	sh := s.shardOfGroup(group)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n := 0
	for k := range sh.groups[group] {
		if k == keep {
			continue
		}
		if now < sh.m[k].expiry {
			n++
		}
		sh.remove(k)
	}
	return n, nil
}

// clone returns a private copy of b; empty input gives a non-nil empty slice
// so that stored records never alias the caller's memory.
func clone(b []byte) []byte {
	if len(b) == 0 {
		return []byte{}
	}
	return bytes.Clone(b)
}
