package memstore

import (
	"context"
	"testing"
	"time"
)

// stored counts the entries held, expired or not.
func stored(s *Store) int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

func TestWithShards(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{0, DefaultShards}, {-3, DefaultShards}, {1, 1}, {2, 2}, {3, 4},
		{64, 64}, {100, 128}, {1 << 20, 1 << 16},
	} {
		s := New(WithShards(tc.in))
		if got := len(s.shards); got != tc.want {
			t.Errorf("WithShards(%d): %d shards, want %d", tc.in, got, tc.want)
		}
		if s.mask != uint64(tc.want-1) {
			t.Errorf("WithShards(%d): mask %#x", tc.in, s.mask)
		}
		s.Close()
	}
}

func TestOptionDefaults(t *testing.T) {
	s := New(WithClock(nil), WithSweepInterval(0), WithSweepInterval(-time.Second))
	defer s.Close()
	if s.interval != DefaultSweepInterval {
		t.Errorf("interval = %v, want %v", s.interval, DefaultSweepInterval)
	}
	if s.now == nil {
		t.Error("WithClock(nil) removed the clock")
	}
}

// TestSweepFreesMemory checks with the store's internals what the external
// tests infer: Sweep removes expired entries and only those, in every shard.
func TestSweepFreesMemory(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(WithClock(func() time.Time { return now }), WithShards(8))
	defer s.Close()
	ctx := context.Background()
	const n = 200
	for i := range n {
		ttl := time.Second
		if i%4 == 0 {
			ttl = time.Hour
		}
		if _, err := s.Create(ctx, string(rune(0x4e00+i)), nil, ttl); err != nil {
			t.Fatal(err)
		}
	}
	used := 0
	for i := range s.shards {
		if len(s.shards[i].m) > 0 {
			used++
		}
	}
	if used < 2 {
		t.Errorf("%d keys landed in %d of 8 shards", n, used)
	}

	now = now.Add(2 * time.Second) // no sweeper runs: the interval is a minute
	if got := stored(s); got != n {
		t.Fatalf("%d entries stored before Sweep, want %d", got, n)
	}
	s.Sweep()
	if got, want := stored(s), n/4; got != want {
		t.Errorf("%d entries stored after Sweep, want %d", got, want)
	}
	if got := s.Len(); got != n/4 {
		t.Errorf("Len = %d, want %d", got, n/4)
	}
}

// TestExpiredEntryDroppedOnWrite checks that Update and Touch drop an
// expired entry they find, since they hold the shard's write lock anyway.
func TestExpiredEntryDroppedOnWrite(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(WithClock(func() time.Time { return now }))
	defer s.Close()
	ctx := context.Background()
	v, _ := s.Create(ctx, "u", nil, time.Second)
	_, _ = s.Create(ctx, "t", nil, time.Second)
	now = now.Add(time.Second) // expiry is exclusive: gone at exactly ttl
	if _, err := s.Update(ctx, "u", v, nil, time.Hour); err == nil {
		t.Error("Update of an expired record succeeded")
	}
	if err := s.Touch(ctx, "t", time.Hour); err == nil {
		t.Error("Touch of an expired record succeeded")
	}
	if got := stored(s); got != 0 {
		t.Errorf("%d entries stored, want 0", got)
	}
}
