package backendtest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
)

// mapStore is a minimal store for exercising FaultStore from outside the
// package.
type mapStore struct {
	mu sync.Mutex
	m  map[string]backend.Record
	v  uint64
}

func newMapStore() *mapStore { return &mapStore{m: make(map[string]backend.Record)} }

func (s *mapStore) Load(_ context.Context, key string) (backend.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[key]
	if !ok {
		return backend.Record{}, backend.ErrNotFound
	}
	return r, nil
}

func (s *mapStore) Create(_ context.Context, key string, data []byte, ttl time.Duration) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; ok {
		return 0, backend.ErrExists
	}
	s.v++
	s.m[key] = backend.Record{Data: append([]byte(nil), data...), Version: s.v, TTL: ttl}
	return s.v, nil
}

func (s *mapStore) Update(_ context.Context, key string, version uint64, data []byte, ttl time.Duration) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[key]
	if !ok {
		return 0, backend.ErrNotFound
	}
	if r.Version != version {
		return 0, backend.ErrConflict
	}
	s.v++
	s.m[key] = backend.Record{Data: append([]byte(nil), data...), Version: s.v, TTL: ttl}
	return s.v, nil
}

func (s *mapStore) Touch(_ context.Context, key string, _ time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; !ok {
		return backend.ErrNotFound
	}
	return nil
}

func (s *mapStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// data returns the data stored under key, or "" if there is none.
func (s *mapStore) data(key string) string {
	r, err := s.Load(context.Background(), key)
	if err != nil {
		return ""
	}
	return string(r.Data)
}

var errDown = errors.New("down")

func TestFaultStoreCounts(t *testing.T) {
	ctx := context.Background()
	f := backendtest.NewFaultStore(newMapStore())

	type counts struct{ loads, creates, updates, touches, deletes, writes, total int64 }
	want := func(when string, w counts) {
		t.Helper()
		got := counts{f.Count(backendtest.OpLoad), f.Count(backendtest.OpCreate), f.Count(backendtest.OpUpdate),
			f.Count(backendtest.OpTouch), f.Count(backendtest.OpDelete), f.Count(backendtest.OpWrite), f.Count(backendtest.OpAll)}
		if got != w {
			t.Errorf("%s: counts = %+v, want %+v", when, got, w)
		}
	}
	want("initially", counts{})

	if _, err := f.Load(ctx, "k"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Load: %v, want ErrNotFound passed through", err)
	}
	want("after a failed Load", counts{loads: 1, total: 1})

	v, err := f.Create(ctx, "k", []byte("a"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Create(ctx, "k", []byte("b"), time.Minute); !errors.Is(err, backend.ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists passed through", err)
	}
	rec, err := f.Load(ctx, "k")
	if err != nil || string(rec.Data) != "a" || rec.Version != v {
		t.Fatalf("Load = %+v, %v; want the created record", rec, err)
	}
	if _, err := f.Update(ctx, "k", v, []byte("c"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := f.Touch(ctx, "k", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := f.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	want("after one of each and a refused Create", counts{2, 2, 1, 1, 1, 5, 7})
	if n := f.Count(backendtest.OpLoad | backendtest.OpCreate); n != 4 {
		t.Errorf("Count(OpLoad|OpCreate) = %d, want 4", n)
	}

	f.ResetCalls()
	want("after ResetCalls", counts{})
	if c := f.Calls(); len(c) != 0 {
		t.Errorf("Calls after ResetCalls: %v", c)
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = f.Load(ctx, "x")
				_ = f.Touch(ctx, "x", time.Minute)
			}
		})
	}
	wg.Wait()
	want("after concurrent calls", counts{loads: 800, touches: 800, writes: 800, total: 1600})
	if n := len(f.Calls()); n != 1600 {
		t.Errorf("%d calls logged, want 1600", n)
	}
}

func TestFaultStoreCallLog(t *testing.T) {
	ctx := context.Background()
	f := backendtest.NewFaultStore(newMapStore())
	key := strings.Repeat("k", 43)
	f.Next(backendtest.OpUpdate, backendtest.Fault{Err: errDown})
	_, _ = f.Load(ctx, key)
	_, _ = f.Create(ctx, key, []byte("a"), time.Minute)
	_, _ = f.Update(ctx, key, 1, []byte("b"), time.Minute)
	_ = f.Delete(ctx, "short")
	got := f.Calls()
	want := []backendtest.Call{
		{Op: backendtest.OpLoad, Key: key[:12], Err: backend.ErrNotFound},
		{Op: backendtest.OpCreate, Key: key[:12]},
		{Op: backendtest.OpUpdate, Key: key[:12], Err: errDown},
		{Op: backendtest.OpDelete, Key: "short"},
	}
	if len(got) != len(want) {
		t.Fatalf("Calls = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Op != want[i].Op || got[i].Key != want[i].Key || !errors.Is(got[i].Err, want[i].Err) || (got[i].Err == nil) != (want[i].Err == nil) {
			t.Errorf("call %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestFaultStoreNext(t *testing.T) {
	ctx := context.Background()
	m := newMapStore()
	f := backendtest.NewFaultStore(m)
	v, _ := f.Create(ctx, "k", []byte("a"), time.Minute)
	f.Next(backendtest.OpUpdate, backendtest.Fault{Err: errDown})
	if n := f.Pending(); n != 1 {
		t.Fatalf("Pending = %d, want 1", n)
	}
	if _, err := f.Load(ctx, "k"); err != nil {
		t.Fatalf("Load took the Update's fault: %v", err)
	}
	if _, err := f.Update(ctx, "k", v, []byte("b"), time.Minute); !errors.Is(err, errDown) {
		t.Fatalf("Update: %v, want the injected error", err)
	}
	if got := m.data("k"); got != "a" {
		t.Fatalf("a failed (not lost-reply) Update reached the store: %q", got)
	}
	if n := f.Pending(); n != 0 {
		t.Errorf("Pending = %d after the fault applied, want 0", n)
	}
	if _, err := f.Update(ctx, "k", v, []byte("b"), time.Minute); err != nil {
		t.Fatalf("the fault applied twice: %v", err)
	}
	if got := m.data("k"); got != "b" {
		t.Errorf("stored %q after the second Update", got)
	}
}

func TestFaultStoreNth(t *testing.T) {
	ctx := context.Background()
	f := backendtest.NewFaultStore(newMapStore())
	f.Nth(3, backendtest.OpWrite, backendtest.Fault{Err: errDown})
	f.Nth(3, backendtest.OpWrite, backendtest.Fault{Err: backend.ErrConflict}) // due on the same call: applies after
	var errs []error
	for range 5 {
		_, _ = f.Load(ctx, "k") // loads do not count
		errs = append(errs, f.Touch(ctx, "k", time.Minute))
	}
	for i, err := range errs {
		var want error = backend.ErrNotFound
		switch i {
		case 2:
			want = errDown
		case 3:
			want = backend.ErrConflict
		}
		if !errors.Is(err, want) {
			t.Errorf("write %d: %v, want %v", i+1, err, want)
		}
	}
	if n := f.Pending(); n != 0 {
		t.Errorf("Pending = %d, want 0", n)
	}

	defer func() {
		if recover() == nil {
			t.Error("Nth(0, ...) did not panic")
		}
	}()
	f.Nth(0, backendtest.OpAll, backendtest.Fault{})
}

func TestFaultStoreAlways(t *testing.T) {
	ctx := context.Background()
	f := backendtest.NewFaultStore(newMapStore())
	f.Always(backendtest.OpLoad|backendtest.OpDelete, backendtest.Fault{Err: errDown})
	f.Next(backendtest.OpLoad, backendtest.Fault{Err: backend.ErrCorrupt})
	if _, err := f.Load(ctx, "k"); !errors.Is(err, backend.ErrCorrupt) {
		t.Errorf("one-shot fault did not take precedence: %v", err)
	}
	for range 3 {
		if _, err := f.Load(ctx, "k"); !errors.Is(err, errDown) {
			t.Errorf("Load: %v, want the Always fault", err)
		}
	}
	if _, err := f.Create(ctx, "k", nil, time.Minute); err != nil {
		t.Errorf("Create, not among the ops: %v", err)
	}
	if err := f.Delete(ctx, "k"); !errors.Is(err, errDown) {
		t.Errorf("Delete: %v, want the Always fault", err)
	}
	f.Always(backendtest.OpDelete, backendtest.Fault{})
	if err := f.Delete(ctx, "k"); err != nil {
		t.Errorf("Delete after Always(OpDelete, Fault{}): %v", err)
	}
	if _, err := f.Load(ctx, "k"); !errors.Is(err, errDown) {
		t.Errorf("Load lost its Always fault to another op's change: %v", err)
	}
	f.Next(backendtest.OpTouch, backendtest.Fault{Err: errDown})
	f.Clear()
	if _, err := f.Load(ctx, "k"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Load after Clear: %v", err)
	}
	if err := f.Touch(ctx, "k", time.Minute); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Touch after Clear: %v", err)
	}
	if n := f.Pending(); n != 0 {
		t.Errorf("Pending = %d after Clear", n)
	}
}

func TestFaultStoreLostReply(t *testing.T) {
	ctx := context.Background()
	m := newMapStore()
	f := backendtest.NewFaultStore(m)

	f.Next(backendtest.OpCreate, backendtest.Fault{LostReply: true})
	if _, err := f.Create(ctx, "k", []byte("a"), time.Minute); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Create with a lost reply: %v, want ErrUnavailable", err)
	}
	if got := m.data("k"); got != "a" {
		t.Fatalf("the Create whose reply was lost was not applied: %q", got)
	}

	f.Next(backendtest.OpUpdate, backendtest.Fault{LostReply: true, Err: errDown})
	if _, err := f.Update(ctx, "k", 1, []byte("b"), time.Minute); !errors.Is(err, errDown) {
		t.Fatalf("Update with a lost reply and Err: %v, want Err", err)
	}
	if got := m.data("k"); got != "b" {
		t.Fatalf("the Update whose reply was lost was not applied: %q", got)
	}

	// The store's own answer is lost too: the caller cannot tell it.
	f.Next(backendtest.OpUpdate, backendtest.Fault{LostReply: true})
	_, err := f.Update(ctx, "k", 1, []byte("c"), time.Minute)
	if !errors.Is(err, backend.ErrUnavailable) || errors.Is(err, backend.ErrConflict) {
		t.Fatalf("lost reply of a conflicting Update: %v, want ErrUnavailable only", err)
	}

	f.Next(backendtest.OpLoad, backendtest.Fault{LostReply: true})
	if rec, err := f.Load(ctx, "k"); !errors.Is(err, backend.ErrUnavailable) || rec.Data != nil {
		t.Fatalf("Load with a lost reply = %+v, %v", rec, err)
	}
	f.Next(backendtest.OpTouch, backendtest.Fault{LostReply: true})
	if err := f.Touch(ctx, "k", time.Minute); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Touch with a lost reply: %v", err)
	}
	f.Next(backendtest.OpDelete, backendtest.Fault{LostReply: true})
	if err := f.Delete(ctx, "k"); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Delete with a lost reply: %v", err)
	}
	if got := m.data("k"); got != "" {
		t.Fatalf("the Delete whose reply was lost was not applied: %q", got)
	}
}

func TestFaultStoreDelay(t *testing.T) {
	m := newMapStore()
	f := backendtest.NewFaultStore(m)

	f.Next(backendtest.OpCreate, backendtest.Fault{Delay: 20 * time.Millisecond})
	start := time.Now()
	if _, err := f.Create(context.Background(), "k", []byte("a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("Create returned after %v, before its delay", d)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	f.Next(backendtest.OpDelete, backendtest.Fault{Delay: time.Hour})
	start = time.Now()
	err := f.Delete(ctx, "k")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Delete delayed past its deadline: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the delay ignored the context: %v", d)
	}
	if got := m.data("k"); got != "a" {
		t.Error("a Delete cut off during its delay reached the store")
	}
}

func TestFaultStoreBefore(t *testing.T) {
	ctx := context.Background()
	m := newMapStore()
	f := backendtest.NewFaultStore(m)
	var seen []string
	var gotCtx atomic.Bool
	type ctxKey struct{}
	f.Always(backendtest.OpCreate, backendtest.Fault{Before: func(c context.Context) {
		gotCtx.Store(c.Value(ctxKey{}) == "mine")
		// The hook may use the FaultStore itself: no lock is held.
		_, err := f.Load(c, "k")
		seen = append(seen, fmt.Sprint(err))
	}})
	if _, err := f.Create(context.WithValue(ctx, ctxKey{}, "mine"), "k", []byte("a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if !gotCtx.Load() {
		t.Error("Before did not get the call's context")
	}
	if len(seen) != 1 || !strings.Contains(seen[0], "not found") {
		t.Errorf("Before saw %q, want the record not yet created", seen)
	}

	f.Next(backendtest.OpUpdate, backendtest.Fault{Err: errDown, Before: func(context.Context) { seen = append(seen, "update") }})
	if _, err := f.Update(ctx, "k", 1, nil, time.Minute); !errors.Is(err, errDown) {
		t.Errorf("Update: %v", err)
	}
	if len(seen) != 2 {
		t.Errorf("Before of a failing call did not run: %q", seen)
	}
}

// TestFaultStoreConcurrent schedules one-shot faults while goroutines call
// the store: each applies exactly once.
func TestFaultStoreConcurrent(t *testing.T) {
	ctx := context.Background()
	f := backendtest.NewFaultStore(newMapStore())
	f.Nth(400, backendtest.OpLoad, backendtest.Fault{Err: errDown})
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if _, err := f.Load(ctx, "k"); errors.Is(err, errDown) {
					failed.Add(1)
				}
				if f.Pending() == 0 {
					f.Next(backendtest.OpTouch, backendtest.Fault{Err: errDown})
				}
				if err := f.Touch(ctx, "k", time.Minute); errors.Is(err, errDown) {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	injected := failed.Load()
	var logged int64
	for _, c := range f.Calls() {
		if errors.Is(c.Err, errDown) {
			logged++
		}
	}
	if logged != injected || injected < 2 {
		t.Errorf("%d injected errors seen by callers, %d in the log", injected, logged)
	}
	if f.Count(backendtest.OpAll) != 1600 {
		t.Errorf("Count = %d, want 1600", f.Count(backendtest.OpAll))
	}
}

func TestOpString(t *testing.T) {
	for op, want := range map[backendtest.Op]string{
		0:                  "none",
		backendtest.OpLoad: "Load",
		backendtest.OpCreate | backendtest.OpUpdate: "Create|Update",
		backendtest.OpAll:           "Load|Create|Update|Touch|Delete|Group|DeleteGroup",
		backendtest.OpDelete | 1<<7: "Delete|Op(0x80)",
	} {
		if got := op.String(); got != want {
			t.Errorf("%08b.String() = %q, want %q", uint8(op), got, want)
		}
	}
}

// TestFaultStoreLogBounds: the log keeps the first 10,000 calls while the
// counts go on, and a call in flight across ResetCalls leaves the new log
// alone.
func TestFaultStoreLogBounds(t *testing.T) {
	ctx := context.Background()
	f := backendtest.NewFaultStore(newMapStore())
	for range 10005 {
		_ = f.Touch(ctx, "k", time.Minute)
	}
	if n, c := len(f.Calls()), f.Count(backendtest.OpTouch); n != 10000 || c != 10005 {
		t.Errorf("%d calls logged, %d counted; want 10000 and 10005", n, c)
	}

	f.ResetCalls()
	started, proceed := make(chan struct{}), make(chan struct{})
	f.Next(backendtest.OpLoad, backendtest.Fault{Err: errDown, Before: func(context.Context) {
		close(started)
		<-proceed
	}})
	done := make(chan error)
	go func() {
		_, err := f.Load(ctx, "k")
		done <- err
	}()
	<-started
	f.ResetCalls()
	if _, err := f.Create(ctx, "k", nil, time.Minute); err != nil {
		t.Fatal(err)
	}
	close(proceed)
	if err := <-done; !errors.Is(err, errDown) {
		t.Fatalf("Load: %v", err)
	}
	got := f.Calls()
	if len(got) != 1 || got[0].Op != backendtest.OpCreate || got[0].Err != nil {
		t.Errorf("Calls after a ResetCalls during a Load = %+v, want only the Create, without error", got)
	}
}
