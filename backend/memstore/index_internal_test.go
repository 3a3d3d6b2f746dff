package memstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/typedsession/session/internal/fakeclock"
)

// TestGroupIndexForgetsExpiredKeys: the index of a group never holds
// more than its live keys once the store comes across the dead ones, by
// listing, expiry on access or a sweep.
func TestGroupIndexForgetsExpiredKeys(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	s := New(WithClock(clock.Now), WithShards(1))
	defer s.Close()
	ctx := context.Background()
	const group = "AAAAAAAAAAAAAAAAAAAAAA"
	indexed := func() int {
		sh := &s.shards[0]
		sh.mu.RLock()
		defer sh.mu.RUnlock()
		return len(sh.groups[group])
	}
	for i := range 1000 {
		if _, err := s.Create(ctx, fmt.Sprintf("k%04d.%s", i, group), []byte("x"), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if n := indexed(); n != 1000 {
		t.Fatalf("%d keys indexed, want 1000", n)
	}
	clock.Advance(2 * time.Second)
	live := "live." + group
	if _, err := s.Create(ctx, live, []byte("x"), time.Hour); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Group(ctx, group)
	if err != nil || len(recs) != 1 || recs[0].Key != live {
		t.Fatalf("Group = %v, %v; want only the live key", recs, err)
	}
	if n := indexed(); n != 1 {
		t.Errorf("%d keys indexed after listing, want 1", n)
	}
	clock.Advance(2 * time.Hour)
	s.Sweep()
	s.shards[0].mu.RLock()
	groups := len(s.shards[0].groups)
	s.shards[0].mu.RUnlock()
	if groups != 0 {
		t.Errorf("%d groups indexed after every record expired and a sweep, want 0", groups)
	}
}
