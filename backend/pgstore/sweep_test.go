package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/typedsession/session/backend"
)

// fill creates live and expired rows through s: live ones with a 1h TTL,
// expired ones created live and then moved into the database's past.
func fill(t *testing.T, s *Store, pool *pgxpool.Pool, table string, live, expired int) (liveKeys []string) {
	t.Helper()
	ctx := context.Background()
	for i := range live + expired {
		key := fmt.Sprintf("k%03d", i)
		if _, err := s.Create(ctx, key, []byte(key), time.Hour); err != nil {
			t.Fatal(err)
		}
		if i < live {
			liveKeys = append(liveKeys, key)
		}
	}
	ident, _ := tableIdent(table)
	_, err := pool.Exec(ctx, `UPDATE `+ident.Sanitize()+` SET expires_at = now() - interval '1 second' WHERE NOT (key = ANY($1))`, liveKeys)
	if err != nil {
		t.Fatal(err)
	}
	return liveKeys
}

// rows returns the number of rows in table, live or not.
func rows(t *testing.T, pool *pgxpool.Pool, table string) int {
	t.Helper()
	ident, _ := tableIdent(table)
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM `+ident.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// wantLive checks that every key still loads with its own data.
func wantLive(t *testing.T, s *Store, keys []string) {
	t.Helper()
	for _, k := range keys {
		rec, err := s.Load(context.Background(), k)
		if err != nil || string(rec.Data) != k {
			t.Errorf("Load %s after the sweep: (%q, %v), want the live record", k, rec.Data, err)
		}
	}
}

func TestSweep(t *testing.T) {
	cfg := poolConfig(t)
	log := &queryLog{}
	cfg.ConnConfig.Tracer = log
	pool := newPool(t, cfg)
	s, table := newStore(t, pool, WithSweepBatch(10))
	live := fill(t, s, pool, table, 5, 25)
	log.take()

	n, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 25 {
		t.Errorf("Sweep deleted %d rows, want the 25 expired ones", n)
	}
	// One lock, three batches of at most 10 (10, 10, 5), one unlock.
	want := []string{"SELECT", "DELETE", "DELETE", "DELETE", "SELECT"}
	if got := log.take(); !slices.Equal(got, want) {
		t.Errorf("Sweep ran %q, want %q", got, want)
	}
	if got := rows(t, pool, table); got != len(live) {
		t.Errorf("%d rows after the sweep, want the %d live ones", got, len(live))
	}
	wantLive(t, s, live)

	// Nothing left to sweep: one empty batch.
	log.take()
	if n, err := s.Sweep(context.Background()); n != 0 || err != nil {
		t.Errorf("second Sweep: (%d, %v), want (0, nil)", n, err)
	}
	if got := log.take(); !slices.Equal(got, []string{"SELECT", "DELETE", "SELECT"}) {
		t.Errorf("second Sweep ran %q", got)
	}

	// An expired row replaced by Create is live again and stays.
	ctx := context.Background()
	if _, err := s.Create(ctx, "again", []byte("again"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	wantLive(t, s, append(live, "again"))

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Sweep(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Sweep with a cancelled context: %v, want context.Canceled", err)
	}
}

// TestSweepOneAtATime checks that a Sweep does nothing while another
// holds the table's sweep lock, and that a finished Sweep releases it.
func TestSweepOneAtATime(t *testing.T) {
	pool := testPool(t)
	s, table := newStore(t, pool)
	live := fill(t, s, pool, table, 2, 3)
	ctx := context.Background()

	other, err := pgx.Connect(ctx, postgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if _, err := other.Exec(ctx, `SELECT pg_advisory_lock($1)`, s.lock); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Sweep(ctx); n != 0 || !errors.Is(err, ErrSweepBusy) {
		t.Errorf("Sweep while another holds the lock: (%d, %v), want (0, ErrSweepBusy)", n, err)
	}
	if got := rows(t, pool, table); got != 5 {
		t.Errorf("%d rows after a refused Sweep, want 5", got)
	}
	if _, err := other.Exec(ctx, `SELECT pg_advisory_unlock($1)`, s.lock); err != nil {
		t.Fatal(err)
	}

	if n, err := s.Sweep(ctx); n != 3 || err != nil {
		t.Errorf("Sweep: (%d, %v), want (3, nil)", n, err)
	}
	wantLive(t, s, live)
	var free bool
	if err := other.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, s.lock).Scan(&free); err != nil {
		t.Fatal(err)
	}
	if !free {
		t.Error("the sweep lock is still held after Sweep returned")
	}

	// Stores of other tables sweep under other locks.
	s2, _ := newStore(t, pool)
	if s2.lock == s.lock {
		t.Error("two tables share a sweep lock")
	}
	if _, err := s2.Sweep(ctx); err != nil {
		t.Errorf("Sweep of another table while this one's lock is held: %v", err)
	}
}

// TestSweeper checks the background sweeper: expired rows go, live rows
// stay, and Close stops it.
func TestSweeper(t *testing.T) {
	pool := testPool(t)
	table := newTable(t, pool)
	s, err := New(pool, WithTable(table), WithSweepInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	live := fill(t, s, pool, table, 3, 20)
	deadline := time.Now().Add(10 * time.Second)
	for rows(t, pool, table) != len(live) {
		if time.Now().After(deadline) {
			t.Fatalf("%d rows 10s after expiry with a 50ms sweep interval, want %d", rows(t, pool, table), len(live))
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantLive(t, s, live)

	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	_ = s.Close() // idempotent
	ctx := context.Background()
	ident, _ := tableIdent(table)
	if _, err := pool.Exec(ctx, `UPDATE `+ident.Sanitize()+` SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if got := rows(t, pool, table); got != len(live) {
		t.Errorf("%d rows 300ms after Close, want %d: the sweeper still runs", got, len(live))
	}
	// The store itself still works after Close.
	if _, err := s.Load(ctx, live[0]); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Load of an expired row after Close: %v, want ErrNotFound", err)
	}
}

// cancelOnDelete is a pgx.QueryTracer that cancels a context when a DELETE
// statement starts.
type cancelOnDelete struct {
	cancel atomic.Pointer[context.CancelFunc]
}

func (c *cancelOnDelete) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if strings.HasPrefix(data.SQL, "DELETE") {
		if f := c.cancel.Load(); f != nil {
			(*f)()
		}
	}
	return ctx
}

func (c *cancelOnDelete) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestSweepCancelled checks that a Sweep whose context ends in the middle
// of a batch stops with the context's error and leaves the sweep lock
// free for the next one.
func TestSweepCancelled(t *testing.T) {
	cfg := poolConfig(t)
	tracer := &cancelOnDelete{}
	cfg.ConnConfig.Tracer = tracer
	pool := newPool(t, cfg)
	s, table := newStore(t, pool, WithSweepBatch(2))
	live := fill(t, s, pool, table, 1, 6)

	ctx, cancel := context.WithCancel(context.Background())
	tracer.cancel.Store(&cancel)
	n, err := s.Sweep(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Sweep cancelled during its first batch: (%d, %v), want context.Canceled", n, err)
	}
	tracer.cancel.Store(nil)

	// The lock is free: the next Sweep runs and finishes the job.
	n2, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatalf("Sweep after a cancelled one: %v", err)
	}
	if n+n2 != 6 {
		t.Errorf("the two sweeps deleted %d + %d rows, want 6 in all", n, n2)
	}
	wantLive(t, s, live)
}
