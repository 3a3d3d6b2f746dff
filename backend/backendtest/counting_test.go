package backendtest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
)

func TestCountingStore(t *testing.T) {
	ctx := context.Background()
	c := backendtest.NewCountingStore(&mapStore{m: make(map[string]backend.Record)})

	type counts struct{ loads, creates, updates, touches, deletes, writes, total int64 }
	want := func(when string, w counts) {
		t.Helper()
		got := counts{c.Loads(), c.Creates(), c.Updates(), c.Touches(), c.Deletes(), c.Writes(), c.Total()}
		if got != w {
			t.Errorf("%s: counts = %+v, want %+v", when, got, w)
		}
	}
	want("initially", counts{})

	if _, err := c.Load(ctx, "k"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("Load: %v, want ErrNotFound passed through", err)
	}
	want("after a failed Load", counts{loads: 1, total: 1})

	v, err := c.Create(ctx, "k", []byte("a"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "k", []byte("b"), time.Minute); !errors.Is(err, backend.ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists passed through", err)
	}
	rec, err := c.Load(ctx, "k")
	if err != nil || string(rec.Data) != "a" || rec.Version != v {
		t.Fatalf("Load = %+v, %v; want the created record", rec, err)
	}
	if _, err := c.Update(ctx, "k", v, []byte("c"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := c.Touch(ctx, "k", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	want("after one of each and a refused Create", counts{2, 2, 1, 1, 1, 5, 7})

	c.Reset()
	want("after Reset", counts{})

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = c.Load(ctx, "x")
				_ = c.Touch(ctx, "x", time.Minute)
			}
		})
	}
	wg.Wait()
	want("after concurrent calls", counts{loads: 800, touches: 800, writes: 800, total: 1600})
}

func TestCountingStoreZeroValue(t *testing.T) {
	c := &backendtest.CountingStore{Store: &mapStore{m: make(map[string]backend.Record)}}
	if err := c.Delete(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	if c.Deletes() != 1 || c.Total() != 1 {
		t.Errorf("Deletes() = %d, Total() = %d, want 1, 1", c.Deletes(), c.Total())
	}
}
