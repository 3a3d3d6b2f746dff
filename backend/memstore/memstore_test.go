package memstore_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/internal/fakeclock"
)

var epoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		clk := fakeclock.New(epoch)
		s := memstore.New(memstore.WithClock(clk.Now))
		t.Cleanup(func() { s.Close() })
		return backendtest.Harness{Store: s, Advance: clk.Advance}
	})
}

// TestConformanceOneShard runs the suite with every key in one shard, and
// through a FaultStore.
func TestConformanceOneShard(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		clk := fakeclock.New(epoch)
		s := memstore.New(memstore.WithClock(clk.Now), memstore.WithShards(1))
		t.Cleanup(func() { s.Close() })
		return backendtest.Harness{Store: backendtest.NewFaultStore(s), Advance: clk.Advance}
	})
}

// TestConformanceRealClock runs the suite on time.Now, with an Advance that
// sleeps, as a networked store's tests would.
func TestConformanceRealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps for several seconds")
	}
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		s := memstore.New()
		t.Cleanup(func() { s.Close() })
		return backendtest.Harness{Store: s, Advance: time.Sleep}
	})
}

func newStore(t *testing.T, opts ...memstore.Option) (*memstore.Store, *fakeclock.Clock) {
	t.Helper()
	clk := fakeclock.New(epoch)
	s := memstore.New(append([]memstore.Option{memstore.WithClock(clk.Now)}, opts...)...)
	t.Cleanup(func() { s.Close() })
	return s, clk
}

func TestInvalidArguments(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	v, err := s.Create(ctx, "k", []byte("data"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	sentinel := func(err error) bool {
		for _, s := range []error{backend.ErrNotFound, backend.ErrExists, backend.ErrConflict} {
			if errors.Is(err, s) {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Load empty key", func() error { _, err := s.Load(ctx, ""); return err }},
		{"Create empty key", func() error { _, err := s.Create(ctx, "", nil, time.Minute); return err }},
		{"Update empty key", func() error { _, err := s.Update(ctx, "", v, nil, time.Minute); return err }},
		{"Touch empty key", func() error { return s.Touch(ctx, "", time.Minute) }},
		{"Delete empty key", func() error { return s.Delete(ctx, "") }},
		{"Create zero ttl", func() error { _, err := s.Create(ctx, "new", nil, 0); return err }},
		{"Create negative ttl", func() error { _, err := s.Create(ctx, "new", nil, -time.Second); return err }},
		{"Update zero ttl", func() error { _, err := s.Update(ctx, "k", v, []byte("x"), 0); return err }},
		{"Update negative ttl", func() error { _, err := s.Update(ctx, "k", v, []byte("x"), -1); return err }},
		{"Touch zero ttl", func() error { return s.Touch(ctx, "k", 0) }},
		{"Touch negative ttl", func() error { return s.Touch(ctx, "k", -time.Hour) }},
	} {
		err := tc.call()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
		} else if sentinel(err) {
			t.Errorf("%s: error %v matches a backend sentinel", tc.name, err)
		}
	}

	if _, err := s.Load(ctx, "new"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Create with an invalid ttl stored a record (Load: %v)", err)
	}
	rec, err := s.Load(ctx, "k")
	if err != nil || string(rec.Data) != "data" || rec.Version != v || rec.TTL != time.Minute {
		t.Errorf("record changed by invalid calls: %+v, %v", rec, err)
	}
}

func TestLen(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	if n := s.Len(); n != 0 {
		t.Fatalf("Len of a new store = %d", n)
	}
	for i, ttl := range []time.Duration{time.Second, time.Second, time.Minute} {
		if _, err := s.Create(ctx, string(rune('a'+i)), nil, ttl); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Len(); n != 3 {
		t.Errorf("Len = %d, want 3", n)
	}
	clk.Advance(2 * time.Second)
	if n := s.Len(); n != 1 {
		t.Errorf("Len after two records expired (not yet swept) = %d, want 1", n)
	}
	if err := s.Delete(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if n := s.Len(); n != 0 {
		t.Errorf("Len after Delete = %d, want 0", n)
	}
}

// TestLoadedDataStable checks that data handed out by Load survives later
// writes to the key: the store never reuses a stored buffer.
func TestLoadedDataStable(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	v, err := s.Create(ctx, "k", []byte("first"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Load(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "k", v, []byte("other"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "k", []byte("third"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if string(rec.Data) != "first" {
		t.Errorf("earlier Load's data changed to %q", rec.Data)
	}
}

func TestSweepRemovesExpired(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	if _, err := s.Create(ctx, "short", []byte("x"), time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "long", []byte("y"), time.Hour); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	s.Sweep()
	// Turning the clock back would revive an expired record that was
	// still stored; a swept one stays gone.
	clk.Set(epoch)
	if _, err := s.Load(ctx, "short"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("expired record still stored after Sweep (Load: %v)", err)
	}
	if _, err := s.Load(ctx, "long"); err != nil {
		t.Errorf("live record removed by Sweep: %v", err)
	}
	if n := s.Len(); n != 1 {
		t.Errorf("Len = %d, want 1", n)
	}
}

// waitGoroutines polls until at most want goroutines are running,
// collecting garbage each time so that cleanups can run.
func waitGoroutines(t *testing.T, want int, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		n := runtime.NumGoroutine()
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%s: %d goroutines after 5s, want at most %d\n%s", what, n, want, buf)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseStopsSweeper(t *testing.T) {
	base := runtime.NumGoroutine()
	s := memstore.New()
	if n := runtime.NumGoroutine(); n != base+1 {
		t.Logf("New started %d goroutines, expected 1", n-base)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	waitGoroutines(t, base, "after Close")
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// The store keeps working after Close.
	ctx := context.Background()
	v, err := s.Create(ctx, "k", []byte("a"), time.Minute)
	if err != nil {
		t.Fatalf("Create after Close: %v", err)
	}
	if _, err := s.Update(ctx, "k", v, []byte("b"), time.Minute); err != nil {
		t.Fatalf("Update after Close: %v", err)
	}
	if rec, err := s.Load(ctx, "k"); err != nil || string(rec.Data) != "b" {
		t.Fatalf("Load after Close: %q, %v", rec.Data, err)
	}
	s.Sweep()
	runtime.KeepAlive(s)
}

func TestConcurrentClose(t *testing.T) {
	base := runtime.NumGoroutine()
	s := memstore.New(memstore.WithSweepInterval(time.Millisecond))
	done := make(chan struct{})
	for range 4 {
		go func() {
			s.Close()
			done <- struct{}{}
		}()
	}
	for range 4 {
		<-done
	}
	waitGoroutines(t, base, "after concurrent Close")
}

func TestUnreachableStoreStopsSweeper(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		s := memstore.New(memstore.WithSweepInterval(time.Millisecond))
		if _, err := s.Create(context.Background(), "k", []byte("v"), time.Minute); err != nil {
			t.Error(err)
		}
	}()
	if n := runtime.NumGoroutine(); n <= base {
		t.Fatalf("no sweeper goroutine running (%d goroutines, %d before New)", n, base)
	}
	waitGoroutines(t, base, "after the store became unreachable")
}

func TestBackgroundSweeperRuns(t *testing.T) {
	clk := fakeclock.New(epoch)
	s := memstore.New(memstore.WithClock(clk.Now), memstore.WithSweepInterval(time.Millisecond))
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Create(ctx, "short", []byte("x"), time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "long", []byte("y"), time.Hour); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	// Poll: once the sweeper has run, turning the clock back no longer
	// revives the short-lived record.
	deadline := time.Now().Add(5 * time.Second)
	for {
		clk.Set(epoch)
		_, err := s.Load(ctx, "short")
		if errors.Is(err, backend.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background sweeper did not remove an expired record within 5s")
		}
		clk.Advance(2 * time.Second)
		time.Sleep(time.Millisecond)
	}
	if _, err := s.Load(ctx, "long"); err != nil {
		t.Errorf("live record removed by the sweeper: %v", err)
	}
}

func TestLoadDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := memstore.New()
	defer s.Close()
	ctx := context.Background()
	key := "WBmtM8fIqSjdI7AgrCg6Yu5SWf58rP6HuVTDB2lkm4Y"
	if _, err := s.Create(ctx, key, make([]byte, 512), time.Hour); err != nil {
		t.Fatal(err)
	}
	hit := testing.AllocsPerRun(1000, func() {
		if _, err := s.Load(ctx, key); err != nil {
			t.Fatal(err)
		}
	})
	miss := testing.AllocsPerRun(1000, func() {
		if _, err := s.Load(ctx, "missing"); !errors.Is(err, backend.ErrNotFound) {
			t.Fatal(err)
		}
	})
	if hit != 0 || miss != 0 {
		t.Errorf("Load allocates: %v per hit, %v per miss; want 0", hit, miss)
	}
}
