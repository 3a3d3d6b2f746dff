package backendtest

import (
	"context"
	"fmt"
	"math/bits"
	"strings"
	"sync"
	"time"

	"github.com/typedsession/session/backend"
)

// Op names one or more methods of a backend.Store, as a bit set: a fault
// scheduled for OpCreate|OpUpdate applies to whichever of the two is
// called.
type Op uint8

// The Store methods, and combinations of them.
const (
	OpLoad Op = 1 << iota
	OpCreate
	OpUpdate
	OpTouch
	OpDelete
	OpGroup       // backend.OwnerIndex.Group
	OpDeleteGroup // backend.OwnerIndex.DeleteGroup

	// OpWrite is every method that may change the store.
	OpWrite = OpCreate | OpUpdate | OpTouch | OpDelete | OpDeleteGroup
	// OpAll is every method.
	OpAll = OpLoad | OpGroup | OpWrite
)

// opNames are the method names in bit order.
var opNames = [...]string{"Load", "Create", "Update", "Touch", "Delete", "Group", "DeleteGroup"}

// String returns the names of the methods in o joined by "|", such as
// "Create|Update".
func (o Op) String() string {
	if o == 0 {
		return "none"
	}
	var names []string
	for i, n := range opNames {
		if o&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if rest := o &^ OpAll; rest != 0 {
		names = append(names, fmt.Sprintf("Op(%#x)", uint8(rest)))
	}
	return strings.Join(names, "|")
}

// Fault is what happens to a call it applies to, in this order: the call
// waits Delay (or until its context is done, and then fails with an error
// wrapping the context's error), runs Before, and then fails with Err
// without reaching the wrapped store. With LostReply the call reaches the
// wrapped store first and its result is thrown away. A zero Fault lets the
// call through unchanged.
type Fault struct {
	// Err is the error the call returns. Use an error wrapping
	// backend.ErrUnavailable to simulate an outage, or a backend sentinel
	// such as backend.ErrConflict to simulate a store's answer.
	Err error

	// LostReply forwards the call to the wrapped store and then returns
	// Err, or if Err is nil an error wrapping backend.ErrUnavailable, as
	// when a store's reply is lost after the server applied the call.
	LostReply bool

	// Delay holds the call this long before anything else happens.
	Delay time.Duration

	// Before, if set, runs after Delay and before the call goes on. It
	// runs without any lock of the FaultStore held, so it may call the
	// FaultStore, for example to look at the store mid-operation.
	Before func(ctx context.Context)
}

// Call is one call a FaultStore received, as Calls reports it.
type Call struct {
	// Op is the method called: exactly one bit.
	Op Op
	// Key is the first 12 characters of the key, the short form the
	// session package's logs use. The manager's keys are hashes of the
	// session IDs, so a Call never holds an ID.
	Key string
	// Err is the error the caller received, nil on success. It is nil
	// too while the call is still running.
	Err error
}

// maxLog bounds the call log, so that a long load test through a
// FaultStore does not keep every call in memory. Counts are not bounded.
const maxLog = 10000

// FaultStore wraps a backend.Store, counts and logs the calls made to it,
// and injects faults into chosen calls: errors, latency, and lost replies
// (the call is applied, the caller sees an error). Tests use it to check
// how code on top of a Store behaves when the store fails, at any step of
// an operation, and how many store round trips it makes.
//
// A fault is scheduled for a set of methods (Op): once for the next
// matching call (Next) or the n-th (Nth), or for every matching call
// (Always). A one-shot fault takes precedence over an Always fault. If two
// one-shot faults fall due on the same call, the one scheduled first
// applies and the other applies to the next matching call.
//
// NewIndexedFaultStore wraps a store that also implements
// backend.OwnerIndex, and injects faults into its index calls too.
//
// A FaultStore is safe for concurrent use if the wrapped store is.
type FaultStore struct {
	inner backend.Store

	mu      sync.Mutex
	pending []*scheduled
	always  [len(opNames)]Fault
	counts  [len(opNames)]int64
	log     []Call
	gen     uint64 // incremented by ResetCalls, so late results skip the new log
}

// scheduled is a one-shot fault: it applies to the left-th matching call.
type scheduled struct {
	ops   Op
	left  int
	fault Fault
}

var _ backend.Store = (*FaultStore)(nil)

// NewFaultStore returns a FaultStore that forwards every call to s, with no
// fault scheduled and every count at zero. s may be nil for a store that is
// never called, only handed to code that checks its configuration; a call
// reaching a nil s panics.
func NewFaultStore(s backend.Store) *FaultStore {
	return &FaultStore{inner: s}
}

// Next applies fault to the next call of any method in ops, once.
func (f *FaultStore) Next(ops Op, fault Fault) { f.Nth(1, ops, fault) }

// Nth applies fault to the n-th call from now of any method in ops, once;
// n counts from 1, and calls of other methods do not count. It panics if
// n is below 1.
func (f *FaultStore) Nth(n int, ops Op, fault Fault) {
	if n < 1 {
		panic(fmt.Sprintf("backendtest: FaultStore.Nth(%d, ...): n counts from 1", n))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = append(f.pending, &scheduled{ops: ops, left: n, fault: fault})
}

// Always applies fault to every call of any method in ops, until Clear or
// another Always for the same method; Always(ops, Fault{}) ends it.
func (f *FaultStore) Always(ops Op, fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.always {
		if ops&(1<<i) != 0 {
			f.always[i] = fault
		}
	}
}

// Clear removes every scheduled fault, one-shot and Always. Calls already
// past the point where their fault was chosen are not affected.
func (f *FaultStore) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = nil
	f.always = [len(opNames)]Fault{}
}

// Pending returns the number of one-shot faults (Next, Nth) that have not
// applied yet.
func (f *FaultStore) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending)
}

// Count returns the number of calls of the methods in ops made since
// NewFaultStore or the last ResetCalls, whatever their outcome:
// Count(OpLoad) is the number of loads, Count(OpWrite) the number of calls
// that may change the store, Count(OpAll) every call.
func (f *FaultStore) Count(ops Op) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for i, c := range f.counts {
		if ops&(1<<i) != 0 {
			n += c
		}
	}
	return n
}

// Calls returns the calls made since NewFaultStore or the last ResetCalls,
// in the order they were made: the first 10,000 of them.
func (f *FaultStore) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.log...)
}

// ResetCalls sets every count to zero and empties the call log. It leaves
// the scheduled faults alone. Calls in flight during ResetCalls may be
// counted before or after it.
func (f *FaultStore) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts = [len(opNames)]int64{}
	f.log = nil
	f.gen++
}

// begin counts and logs a call of op on key and returns the fault that
// applies to it (the zero Fault if none) and where to log its result.
func (f *FaultStore) begin(op Op, key string) (fault Fault, done func(error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	bit := bits.TrailingZeros8(uint8(op))
	f.counts[bit]++
	fault = f.always[bit]
	chosen := false
	for i := 0; i < len(f.pending); i++ {
		s := f.pending[i]
		switch {
		case s.ops&op == 0:
		case s.left > 1:
			s.left--
		case !chosen:
			fault, chosen = s.fault, true
			f.pending = append(f.pending[:i], f.pending[i+1:]...)
			i--
		}
	}
	if len(f.log) >= maxLog {
		return fault, func(error) {}
	}
	idx, gen := len(f.log), f.gen
	f.log = append(f.log, Call{Op: op, Key: key[:min(len(key), 12)]})
	return fault, func(err error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.gen == gen {
			f.log[idx].Err = err
		}
	}
}

// before applies the part of fault that comes before the call reaches the
// wrapped store. It returns a non-nil error if the call must end there.
func (fault Fault) before(ctx context.Context, op Op) error {
	if fault.Delay > 0 {
		t := time.NewTimer(fault.Delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("backendtest: injected delay of %s interrupted: %w", op, ctx.Err())
		}
	}
	if fault.Before != nil {
		fault.Before(ctx)
	}
	if fault.Err != nil && !fault.LostReply {
		return fault.Err
	}
	return nil
}

// after returns the error the caller gets once the wrapped store answered
// err.
func (fault Fault) after(op Op, err error) error {
	if !fault.LostReply {
		return err
	}
	switch {
	case fault.Err != nil:
		return fault.Err
	case err != nil:
		return fmt.Errorf("backendtest: reply to %s lost (the store answered %v): %w", op, err, backend.ErrUnavailable)
	}
	return fmt.Errorf("backendtest: reply to %s lost after it was applied: %w", op, backend.ErrUnavailable)
}

// Load forwards the call to the wrapped store, subject to the faults
// scheduled for OpLoad.
func (f *FaultStore) Load(ctx context.Context, key string) (rec backend.Record, err error) {
	fault, done := f.begin(OpLoad, key)
	defer func() { done(err) }()
	if err := fault.before(ctx, OpLoad); err != nil {
		return backend.Record{}, err
	}
	rec, err = f.inner.Load(ctx, key)
	if err = fault.after(OpLoad, err); err != nil {
		return backend.Record{}, err
	}
	return rec, nil
}

// Create forwards the call to the wrapped store, subject to the faults
// scheduled for OpCreate.
func (f *FaultStore) Create(ctx context.Context, key string, data []byte, ttl time.Duration) (v uint64, err error) {
	fault, done := f.begin(OpCreate, key)
	defer func() { done(err) }()
	if err := fault.before(ctx, OpCreate); err != nil {
		return 0, err
	}
	v, err = f.inner.Create(ctx, key, data, ttl)
	if err = fault.after(OpCreate, err); err != nil {
		return 0, err
	}
	return v, nil
}

// Update forwards the call to the wrapped store, subject to the faults
// scheduled for OpUpdate.
func (f *FaultStore) Update(ctx context.Context, key string, version uint64, data []byte, ttl time.Duration) (v uint64, err error) {
	fault, done := f.begin(OpUpdate, key)
	defer func() { done(err) }()
	if err := fault.before(ctx, OpUpdate); err != nil {
		return 0, err
	}
	v, err = f.inner.Update(ctx, key, version, data, ttl)
	if err = fault.after(OpUpdate, err); err != nil {
		return 0, err
	}
	return v, nil
}

// Touch forwards the call to the wrapped store, subject to the faults
// scheduled for OpTouch.
func (f *FaultStore) Touch(ctx context.Context, key string, ttl time.Duration) (err error) {
	fault, done := f.begin(OpTouch, key)
	defer func() { done(err) }()
	if err := fault.before(ctx, OpTouch); err != nil {
		return err
	}
	return fault.after(OpTouch, f.inner.Touch(ctx, key, ttl))
}

// Delete forwards the call to the wrapped store, subject to the faults
// scheduled for OpDelete.
func (f *FaultStore) Delete(ctx context.Context, key string) (err error) {
	fault, done := f.begin(OpDelete, key)
	defer func() { done(err) }()
	if err := fault.before(ctx, OpDelete); err != nil {
		return err
	}
	return fault.after(OpDelete, f.inner.Delete(ctx, key))
}

// IndexedFaultStore is a FaultStore over a store that implements
// backend.OwnerIndex, and implements it too: its Group and DeleteGroup
// are counted, logged and subject to faults like the Store methods.
type IndexedFaultStore struct {
	*FaultStore
	index backend.OwnerIndex
}

var _ backend.OwnerIndex = (*IndexedFaultStore)(nil)

// NewIndexedFaultStore returns an IndexedFaultStore wrapping s, with no
// faults scheduled.
func NewIndexedFaultStore[S interface {
	backend.Store
	backend.OwnerIndex
}](s S) *IndexedFaultStore {
	return &IndexedFaultStore{FaultStore: NewFaultStore(s), index: s}
}

// Group forwards the call to the wrapped store, subject to the faults
// scheduled for OpGroup. The call log shows the group as the key.
func (f *IndexedFaultStore) Group(ctx context.Context, group string) (recs []backend.KeyedRecord, err error) {
	fault, done := f.begin(OpGroup, group)
	defer func() { done(err) }()
	if err := fault.before(ctx, OpGroup); err != nil {
		return nil, err
	}
	recs, err = f.index.Group(ctx, group)
	if err = fault.after(OpGroup, err); err != nil {
		return nil, err
	}
	return recs, nil
}

// DeleteGroup forwards the call to the wrapped store, subject to the
// faults scheduled for OpDeleteGroup. The call log shows the group as the
// key.
func (f *IndexedFaultStore) DeleteGroup(ctx context.Context, group, keep string) (n int, err error) {
	fault, done := f.begin(OpDeleteGroup, group)
	defer func() { done(err) }()
	if err := fault.before(ctx, OpDeleteGroup); err != nil {
		return 0, err
	}
	n, err = f.index.DeleteGroup(ctx, group, keep)
	if err = fault.after(OpDeleteGroup, err); err != nil {
		return 0, err
	}
	return n, nil
}
