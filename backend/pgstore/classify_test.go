package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/typedsession/session/backend"
)

// calls calls every method of s once, by name, on key (Update with
// version; Group and DeleteGroup on the group of key, or on key itself
// for an ungrouped key), for tests that check what each method returns in
// one situation.
func calls(s *Store, key string, version uint64) map[string]func(context.Context) error {
	group := backend.KeyGroup(key)
	if group == "" {
		group = key
	}
	return map[string]func(context.Context) error{
		"Load":        func(ctx context.Context) error { _, err := s.Load(ctx, key); return err },
		"Create":      func(ctx context.Context) error { _, err := s.Create(ctx, key, nil, time.Minute); return err },
		"Update":      func(ctx context.Context) error { _, err := s.Update(ctx, key, version, nil, time.Minute); return err },
		"Touch":       func(ctx context.Context) error { return s.Touch(ctx, key, time.Minute) },
		"Delete":      func(ctx context.Context) error { return s.Delete(ctx, key) },
		"Group":       func(ctx context.Context) error { _, err := s.Group(ctx, group); return err },
		"DeleteGroup": func(ctx context.Context) error { _, err := s.DeleteGroup(ctx, group, ""); return err },
	}
}

func TestClassify(t *testing.T) {
	live := context.Background()
	opErr := func(op string, err error) error { return &net.OpError{Op: op, Net: "tcp", Err: err} }
	pg := func(code string) error { return &pgconn.PgError{Severity: "ERROR", Code: code, Message: "m"} }
	for _, tc := range []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"connection refused", opErr("dial", &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}), true},
		{"connection reset", opErr("read", &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}), true},
		{"i/o timeout", opErr("read", os.ErrDeadlineExceeded), true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"pool closed", errors.New("closed pool"), true},
		{"the store's own time limit", fmt.Errorf("timeout: %w", context.DeadlineExceeded), true},
		{"57014 from the store's own time limit", pg("57014"), true},
		{"57P01 admin shutdown", pg("57P01"), true},
		{"57P02 crash shutdown", pg("57P02"), true},
		{"57P03 cannot connect now", pg("57P03"), true},
		{"53300 too many connections", pg("53300"), true},
		{"53100 disk full", pg("53100"), true},
		{"53200 out of memory", pg("53200"), true},
		{"25006 read-only transaction", pg("25006"), true},
		{"08006 connection failure", pg("08006"), true},
		{"08001 unable to connect", pg("08001"), true},
		{"55P03 lock not available", pg("55P03"), true},
		{"40001 serialization failure", pg("40001"), true},
		{"40P01 deadlock", pg("40P01"), true},
		{"58030 I/O error", pg("58030"), true},
		{"42P01 undefined table", pg("42P01"), false},
		{"42703 undefined column", pg("42703"), false},
		{"42501 insufficient privilege", pg("42501"), false},
		{"28000 invalid authorization", pg("28000"), false},
		{"28P01 invalid password", pg("28P01"), false},
		{"3D000 invalid catalog name", pg("3D000"), false},
		{"23505 unique violation", pg("23505"), false},
		{"22P02 invalid text representation", pg("22P02"), false},
		{"XX000 internal error", pg("XX000"), false},
	} {
		err := classify(live, "load", tc.err)
		if got := errors.Is(err, backend.ErrUnavailable); got != tc.unavailable {
			t.Errorf("%s: %v: unavailable = %t, want %t", tc.name, err, got, tc.unavailable)
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v matches a context error while the caller's context is live", tc.name, err)
		}
		var pgErr *pgconn.PgError
		if errors.As(tc.err, &pgErr) && !errors.As(err, &pgErr) {
			t.Errorf("%s: %v does not wrap the *pgconn.PgError", tc.name, err)
		}
	}

	// The caller's context ended: its error, not an outage; but a deadline
	// reached waiting for a pooled connection is both.
	cancelled, cancel := context.WithCancel(live)
	cancel()
	past, cancel2 := context.WithDeadline(live, time.Now().Add(-time.Second))
	defer cancel2()
	for _, tc := range []struct {
		name        string
		ctx         context.Context
		err         error
		want        error
		unavailable bool
	}{
		{"cancelled", cancelled, fmt.Errorf("timeout: %w", context.Canceled), context.Canceled, false},
		{"cancelled on the server", cancelled, pg("57014"), context.Canceled, false},
		{"past the deadline", past, fmt.Errorf("timeout: %w", context.DeadlineExceeded), context.DeadlineExceeded, false},
		{"past the deadline, I/O error", past, io.ErrUnexpectedEOF, context.DeadlineExceeded, false},
		{"cancelled waiting for a connection", cancelled, &acquireError{context.Canceled}, context.Canceled, false},
		{"deadline waiting for a connection", past, &acquireError{context.DeadlineExceeded}, context.DeadlineExceeded, true},
		{"server verdict after the deadline", past, pg("25006"), nil, true},
	} {
		err := classify(tc.ctx, "update", tc.err)
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want an error matching %v", tc.name, err, tc.want)
		}
		if got := errors.Is(err, backend.ErrUnavailable); got != tc.unavailable {
			t.Errorf("%s: %v: unavailable = %t, want %t", tc.name, err, got, tc.unavailable)
		}
	}
}

// closedPort returns a local TCP address that refuses connections.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestConnectionRefused needs no server: every method against a closed
// port fails at once with ErrUnavailable, and no context error.
func TestConnectionRefused(t *testing.T) {
	host, port, _ := net.SplitHostPort(closedPort(t))
	cfg, err := pgxpool.ParseConfig("postgres://postgres@" + host + ":" + port + "/test?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	pool := newPool(t, cfg)
	s, err := New(pool, WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, call := range calls(s, "k", 1) {
		start := time.Now()
		err := call(context.Background())
		if !errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("%s against a closed port: %v, want ErrUnavailable", name, err)
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s against a closed port: %v matches a context error", name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s against a closed port took %v", name, d)
		}
	}
	if _, err := s.Sweep(context.Background()); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Sweep against a closed port: %v, want ErrUnavailable", err)
	}
	if err := CreateTable(context.Background(), pool); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("CreateTable against a closed port: %v, want ErrUnavailable", err)
	}
}

// TestReadOnly checks 25006: a server that takes no writes (a standby, or
// a primary being demoted) makes writes unavailable; reads go on.
func TestReadOnly(t *testing.T) {
	pool := testPool(t)
	table := newTable(t, pool)
	rw, err := New(pool, WithTable(table), WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	v, err := rw.Create(context.Background(), "k", []byte("data"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	cfg := poolConfig(t)
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `SET default_transaction_read_only = on`)
		return err
	}
	ro, err := New(newPool(t, cfg), WithTable(table), WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range calls(ro, "k", v) {
		err := call(context.Background())
		if name == "Load" || name == "Group" {
			if err != nil {
				t.Errorf("%s from a read-only server: %v", name, err)
			}
			continue
		}
		var pgErr *pgconn.PgError
		if !errors.Is(err, backend.ErrUnavailable) || !errors.As(err, &pgErr) || pgErr.Code != "25006" {
			t.Errorf("%s on a read-only server: %v, want ErrUnavailable wrapping SQLSTATE 25006", name, err)
		}
	}
	if _, err := ro.Sweep(context.Background()); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Sweep on a read-only server: %v, want ErrUnavailable", err)
	}
	if rec, err := rw.Load(context.Background(), "k"); err != nil || rec.Version != v || string(rec.Data) != "data" {
		t.Errorf("after the refused writes: (%q, %#x, %v), want the record unchanged", rec.Data, rec.Version, err)
	}
}

// TestTooManyConnections checks 53300 with a role allowed no connections.
func TestTooManyConnections(t *testing.T) {
	cfg := poolConfig(t)
	role := randomName("pgstore_role_")
	execSQL(t, `CREATE ROLE `+role+` LOGIN CONNECTION LIMIT 0`)
	t.Cleanup(func() { execSQL(t, `DROP ROLE `+role) })
	cfg.ConnConfig.User = role
	s, err := New(newPool(t, cfg), WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range calls(s, "k", 1) {
		err := call(context.Background())
		var pgErr *pgconn.PgError
		if !errors.Is(err, backend.ErrUnavailable) || !errors.As(err, &pgErr) || pgErr.Code != "53300" {
			t.Errorf("%s with too many connections: %v, want ErrUnavailable wrapping SQLSTATE 53300", name, err)
		}
	}
}

// TestAdminShutdown checks 57P01: connections the server terminates fail
// the statement that finds them dead with ErrUnavailable, and the next
// statements succeed on fresh connections without a restart.
func TestAdminShutdown(t *testing.T) {
	cfg := poolConfig(t)
	app := randomName("pgstore_app_")
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	cfg.MinConns, cfg.MaxConns = 1, 1
	pool := newPool(t, cfg)
	s, _ := newStore(t, pool)
	ctx := context.Background()
	v, err := s.Create(ctx, "k", []byte("one"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	execSQL(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, app)

	_, err = s.Update(ctx, "k", v, []byte("two"), time.Hour)
	if !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Update on a terminated connection: %v, want ErrUnavailable", err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code != "57P01" {
		t.Errorf("Update on a terminated connection: SQLSTATE %s, want 57P01", pgErr.Code)
	}
	t.Logf("Update on a terminated connection: %v", err)

	// The pool replaces the dead connection: the session is intact.
	rec, err := s.Load(ctx, "k")
	if err != nil || rec.Version != v || string(rec.Data) != "one" {
		t.Fatalf("Load after the termination: (%q, %#x, %v), want the record unchanged", rec.Data, rec.Version, err)
	}
	if _, err := s.Update(ctx, "k", v, []byte("two"), time.Hour); err != nil {
		t.Errorf("Update after the termination: %v", err)
	}
}

// TestPoolExhausted checks a pool whose connections are all in use: a
// caller whose deadline passes while waiting gets ErrUnavailable and
// context.DeadlineExceeded, a cancelled caller context.Canceled only, and
// a caller without a deadline the store's own time limit as
// ErrUnavailable.
func TestPoolExhausted(t *testing.T) {
	cfg := poolConfig(t)
	cfg.MaxConns = 1
	pool := newPool(t, cfg)
	s, _ := newStore(t, pool, WithTimeout(300*time.Millisecond))
	held, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()

	for name, call := range calls(s, "k", 1) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := call(ctx)
		cancel()
		if !errors.Is(err, backend.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s past its deadline on an exhausted pool: %v, want ErrUnavailable and DeadlineExceeded", name, err)
		}

		ctx, cancel = context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		err = call(ctx)
		if !errors.Is(err, context.Canceled) || errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("%s cancelled on an exhausted pool: %v, want context.Canceled only", name, err)
		}

		start := time.Now()
		err = call(context.Background())
		if !errors.Is(err, backend.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s on an exhausted pool: %v, want ErrUnavailable and no context error", name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s on an exhausted pool took %v with a 300ms time limit", name, d)
		}
	}
	if _, err := s.Sweep(context.Background()); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Sweep on an exhausted pool: %v, want ErrUnavailable", err)
	}
}

func TestMicros(t *testing.T) {
	for _, tc := range []struct {
		ttl  time.Duration
		want int64
	}{
		{time.Nanosecond, 1}, {time.Microsecond, 1}, {time.Microsecond + 1, 2}, {time.Hour, 3_600_000_000},
	} {
		if got, err := micros("x", tc.ttl); err != nil || got != tc.want {
			t.Errorf("micros(%v) = (%d, %v), want %d", tc.ttl, got, err, tc.want)
		}
	}
	for _, bad := range []time.Duration{0, -time.Second} {
		if _, err := micros("x", bad); err == nil {
			t.Errorf("micros(%v): no error", bad)
		}
	}
}
