package fakeclock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/typedsession/session/internal/fakeclock"
)

func TestNowAdvanceSet(t *testing.T) {
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	c := fakeclock.New(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now() = %v, want %v", got, start)
	}
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now() moved by itself: %v, want %v", got, start)
	}
	c.Advance(90 * time.Second)
	if got, want := c.Now(), start.Add(90*time.Second); !got.Equal(want) {
		t.Fatalf("after Advance: Now() = %v, want %v", got, want)
	}
	c.Advance(-30 * time.Second)
	if got, want := c.Now(), start.Add(60*time.Second); !got.Equal(want) {
		t.Fatalf("after negative Advance: Now() = %v, want %v", got, want)
	}
	earlier := start.Add(-time.Hour)
	c.Set(earlier)
	if got := c.Now(); !got.Equal(earlier) {
		t.Fatalf("after Set: Now() = %v, want %v", got, earlier)
	}
}

func TestZeroValue(t *testing.T) {
	var c fakeclock.Clock
	if got := c.Now(); !got.IsZero() {
		t.Fatalf("zero Clock: Now() = %v, want the zero time", got)
	}
	c.Advance(time.Second)
	if got, want := c.Now(), (time.Time{}).Add(time.Second); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
}

func TestConcurrentUse(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	c := fakeclock.New(start)
	var now func() time.Time = c.Now // usable where time.Now is expected
	const workers, steps = 8, 1000
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range steps {
				c.Advance(time.Millisecond)
				_ = now()
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(workers*steps*time.Millisecond); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
}
