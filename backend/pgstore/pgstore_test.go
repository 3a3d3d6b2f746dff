package pgstore

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		s, _ := newStore(t, pool)
		return backendtest.Harness{Store: s, Advance: time.Sleep}
	})
}

// TestConformanceUnlogged runs the suite on an UNLOGGED table in a schema
// of its own, through an IndexedFaultStore, owner index included.
func TestConformanceUnlogged(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	schema := randomName("pgstore_schema_")
	execSQL(t, `CREATE SCHEMA `+schema)
	t.Cleanup(func() { execSQL(t, `DROP SCHEMA `+schema+` CASCADE`) })
	table := schema + ".Sessions"
	if err := CreateTable(context.Background(), pool, WithTable(table), WithUnlogged()); err != nil {
		t.Fatal(err)
	}
	var persistence string
	err := pool.QueryRow(context.Background(),
		`SELECT relpersistence::text FROM pg_class WHERE oid = $1::regclass`, ``+schema+`."Sessions"`).Scan(&persistence)
	if err != nil {
		t.Fatal(err)
	}
	if persistence != "u" {
		t.Errorf("WithUnlogged: relpersistence = %q, want \"u\" (unlogged)", persistence)
	}
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		s, err := New(pool, WithTable(table), WithSweepInterval(0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return backendtest.Harness{Store: backendtest.NewIndexedFaultStore(s), Advance: time.Sleep}
	})
}

func TestCreateTable(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	table := newTable(t, pool)

	// Idempotent, also when several processes run it at once.
	errs := make(chan error, 8)
	for range cap(errs) {
		go func() { errs <- CreateTable(ctx, pool, WithTable(table)) }()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Errorf("CreateTable of an existing table: %v", err)
		}
	}
	var persistence string
	if err := pool.QueryRow(ctx, `SELECT relpersistence::text FROM pg_class WHERE oid = $1::regclass`, table).Scan(&persistence); err != nil {
		t.Fatal(err)
	}
	if persistence != "p" {
		t.Errorf("default table: relpersistence = %q, want \"p\" (logged)", persistence)
	}
	var indexed bool
	err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%(expires_at)')`, table).Scan(&indexed)
	if err != nil {
		t.Fatal(err)
	}
	if !indexed {
		t.Errorf("CreateTable made no index on expires_at")
	}

	// Concurrent first creations of one table.
	fresh := randomName("pgstore_test_")
	t.Cleanup(func() { dropTable(t, fresh) })
	for range cap(errs) {
		go func() { errs <- CreateTable(ctx, pool, WithTable(fresh)) }()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Errorf("concurrent CreateTable of a new table: %v", err)
		}
	}
}

func TestTableNames(t *testing.T) {
	pool := testPool(t)
	for _, bad := range []string{
		"", "1sessions", "sessions;drop table x", `ses"sions`, "a.b.c", ".sessions", "sessions.",
		"ses sions", "sessions-x", "s\x00", "é", "a123456789012345678901234567890123456789012345678",
	} {
		if _, err := New(pool, WithTable(bad)); err == nil {
			t.Errorf("New with table name %q: no error", bad)
		}
		if err := CreateTable(context.Background(), pool, WithTable(bad)); err == nil {
			t.Errorf("CreateTable with table name %q: no error", bad)
		}
	}
	for _, good := range []string{"sessions", "_s", "Sessions", "public.sessions", "a12345678901234567890123456789012345678901234567"} {
		s, err := New(pool, WithTable(good), WithSweepInterval(0))
		if err != nil {
			t.Errorf("New with table name %q: %v", good, err)
			continue
		}
		_ = s.Close()
	}
	if _, err := New(nil); err == nil {
		t.Error("New(nil): no error")
	}
	if _, err := New(pool, WithTimeout(0)); err == nil {
		t.Error("New with WithTimeout(0): no error")
	}
	if _, err := New(pool, WithSweepBatch(0)); err == nil {
		t.Error("New with WithSweepBatch(0): no error")
	}
}

// TestMissingTable checks that a store on a table that does not exist
// reports a plain error that says what to do, not an outage.
func TestMissingTable(t *testing.T) {
	pool := testPool(t)
	s, err := New(pool, WithTable(randomName("pgstore_missing_")), WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Load(context.Background(), "k")
	if err == nil || errors.Is(err, backend.ErrUnavailable) || errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Load on a missing table: %v, want a plain error", err)
	} else if !strings.Contains(err.Error(), "CreateTable") {
		t.Errorf("Load on a missing table: %v, want a hint at CreateTable", err)
	}
}

// TestDatabaseClock checks that liveness and TTL follow the database's
// clock (expires_at against now()), not the application's: a row whose
// expires_at is in the database's past is gone whatever its TTL was.
func TestDatabaseClock(t *testing.T) {
	pool := testPool(t)
	s, table := newStore(t, pool)
	ctx := context.Background()
	live, dead := "live", "dead"
	for _, k := range []string{live, dead} {
		if _, err := s.Create(ctx, k, []byte(k), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	ident, _ := tableIdent(table)
	// Move both rows on the database's clock: one 10 minutes closer to
	// its end, one past it.
	if _, err := pool.Exec(ctx, `UPDATE `+ident.Sanitize()+` SET expires_at = now() + interval '50 minutes' WHERE key = $1`, live); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE `+ident.Sanitize()+` SET expires_at = now() - interval '1 millisecond' WHERE key = $1`, dead); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Load(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	if rec.TTL <= 49*time.Minute || rec.TTL > 50*time.Minute {
		t.Errorf("TTL = %v, want just under 50m (measured on the database's clock)", rec.TTL)
	}
	if _, err := s.Load(ctx, dead); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Load of a row past its expires_at: %v, want ErrNotFound", err)
	}
}

// TestRepeatedWrites plays a write that is sent again after its reply was
// lost: the same statement with the same new version. It must be applied
// once and report success with that version, even after other writes.
func TestRepeatedWrites(t *testing.T) {
	pool := testPool(t)
	s, _ := newStore(t, pool)
	ctx := context.Background()
	key := "k"

	const v1 = 0x1111_2222_3333_4444
	for i := range 2 {
		v, err := s.create(ctx, key, []byte("one"), time.Hour, v1)
		if err != nil || v != v1 {
			t.Fatalf("Create attempt %d: (%#x, %v), want (%#x, nil)", i+1, v, err, uint64(v1))
		}
	}
	// The repeat changed nothing, and a Create with another version
	// is still refused.
	if _, err := s.create(ctx, key, []byte("other"), time.Hour, v1+1); !errors.Is(err, backend.ErrExists) {
		t.Errorf("Create of a live key with a fresh version: %v, want ErrExists", err)
	}

	// An Update, repeated after another write landed: success, nothing
	// changed. Versions above 1<<63 are stored as negative bigints.
	const v2, v3 = 0xf000_0000_0000_0002, 0x3333
	if v, err := s.update(ctx, key, v1, []byte("two"), time.Hour, v2); err != nil || v != v2 {
		t.Fatalf("Update: (%#x, %v)", v, err)
	}
	if v, err := s.update(ctx, key, v2, []byte("three"), time.Minute, v3); err != nil || v != v3 {
		t.Fatalf("second Update: (%#x, %v)", v, err)
	}
	if v, err := s.update(ctx, key, v1, []byte("two"), time.Hour, v2); err != nil || v != v2 {
		t.Errorf("repeated first Update: (%#x, %v), want (%#x, nil)", v, err, uint64(v2))
	}
	rec, err := s.Load(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Data) != "three" || rec.Version != v3 || rec.TTL > time.Minute {
		t.Errorf("after the repeat: (%q, %#x, %v), want (\"three\", %#x, at most 1m): the repeat was applied again",
			rec.Data, rec.Version, rec.TTL, uint64(v3))
	}
	// The repeated Create too is recognised after other writes.
	if v, err := s.create(ctx, key, []byte("one"), time.Hour, v1); err != nil || v != v1 {
		t.Errorf("Create repeated after two Updates: (%#x, %v), want (%#x, nil)", v, err, uint64(v1))
	}
	if rec, _ := s.Load(ctx, key); string(rec.Data) != "three" {
		t.Errorf("after the repeated Create: data %q, want \"three\"", rec.Data)
	}

	// A version is remembered for keepWrites writes, then forgotten: a
	// stale Update is a conflict again.
	v := uint64(v3)
	for i := range keepWrites {
		next := uint64(0x5000 + i)
		if got, err := s.update(ctx, key, v, []byte("x"), time.Hour, next); err != nil || got != next {
			t.Fatalf("Update %d: (%#x, %v)", i, got, err)
		}
		v = next
	}
	if got, err := s.update(ctx, key, v1, []byte("two"), time.Hour, v2); !errors.Is(err, backend.ErrConflict) {
		t.Errorf("Update repeated after %d more writes: (%#x, %v), want ErrConflict", keepWrites, got, err)
	}

	// A repeat never brings a deleted record back through Update, and a
	// stale Update is a conflict, not a repeat.
	if got, err := s.update(ctx, key, v1, []byte("stale"), time.Hour, 0x9999); !errors.Is(err, backend.ErrConflict) {
		t.Errorf("stale Update: (%#x, %v), want ErrConflict", got, err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if got, err := s.update(ctx, key, v, []byte("ghost"), time.Hour, v); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Update after Delete: (%#x, %v), want ErrNotFound", got, err)
	}
}

// TestVersionsAfterRecreate checks that a request holding a version of a
// deleted record cannot overwrite the record created next under its key.
func TestVersionsAfterRecreate(t *testing.T) {
	pool := testPool(t)
	s, _ := newStore(t, pool)
	ctx := context.Background()
	seen := map[uint64]bool{}
	for range 50 {
		v, err := s.Create(ctx, "k", []byte("a"), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if seen[v] {
			t.Fatalf("version %#x repeated across re-creations", v)
		}
		seen[v] = true
		if err := s.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	v, err := s.Create(ctx, "k", []byte("new"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for old := range seen {
		if _, err := s.Update(ctx, "k", old, []byte("stale"), time.Hour); !errors.Is(err, backend.ErrConflict) {
			t.Fatalf("Update with the version of a deleted record: %v, want ErrConflict", err)
		}
	}
	if rec, err := s.Load(ctx, "k"); err != nil || rec.Version != v || string(rec.Data) != "new" {
		t.Errorf("Load: (%q, %#x, %v), want (\"new\", %#x)", rec.Data, rec.Version, err, v)
	}
}

// TestRoundTrips counts the statements (round trips) of requests through
// the session manager.
func TestRoundTrips(t *testing.T) {
	cfg := poolConfig(t)
	log := &queryLog{}
	cfg.ConnConfig.Tracer = log
	pool := newPool(t, cfg)
	store, table := newStore(t, pool)
	const idle = 30 * time.Minute
	do := newTestApp(t, store, idle)
	expect := func(what string, w *httptest.ResponseRecorder, want ...string) {
		t.Helper()
		if w.Code != http.StatusOK {
			t.Errorf("%s: status %d %s", what, w.Code, w.Body)
		}
		if got := log.take(); !slices.Equal(got, want) {
			t.Errorf("%s: statements %q, want %q", what, got, want)
		}
	}
	log.take()

	w := do("POST", "/inc", "")
	cookie := sessionCookie(w)
	if cookie == "" {
		t.Fatalf("POST /inc set no cookie: %d %s", w.Code, w.Body)
	}
	expect("new session", w, "WITH") // Create

	w = do("GET", "/none", cookie)
	expect("unused session", w)

	w = do("GET", "/read", cookie)
	expect("read-only request", w, "SELECT")
	if got := w.Body.String(); got != "true 1" {
		t.Errorf("read: %q, want \"true 1\"", got)
	}

	w = do("POST", "/inc", cookie)
	expect("modifying request", w, "SELECT", "WITH") // Load, Update

	// A touch is due once a tenth of the idle timeout has passed: move
	// the row's end on the database's clock.
	ident, _ := tableIdent(table)
	if _, err := pool.Exec(context.Background(), `UPDATE `+ident.Sanitize()+` SET expires_at = expires_at - $1::bigint * interval '1 second'`, int64((idle/10+time.Minute)/time.Second)); err != nil {
		t.Fatal(err)
	}
	log.take()
	w = do("GET", "/read", cookie)
	expect("read-only request with a touch due", w, "SELECT", "UPDATE")
	w = do("GET", "/read", cookie)
	expect("read-only request after the touch", w, "SELECT")

	// Logout: load, retire with compare-and-set (so that a concurrent
	// renewal cannot keep the session alive), delete.
	w = do("POST", "/logout", cookie)
	expect("logout", w, "SELECT", "WITH", "DELETE")
}

// TestCancelledMidStatement checks that a statement held up by a lock ends
// when the caller's context does (with the context's error) or when the
// store's time limit does (with ErrUnavailable), and changes nothing.
//
// The pool cancels statements on the server when their context ends, as
// the package documentation recommends; pgx's default only abandons the
// connection, and the statement may then still run once the lock is free.
func TestCancelledMidStatement(t *testing.T) {
	cfg := poolConfig(t)
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 2 * time.Second}
	}
	pool := newPool(t, cfg)
	s, table := newStore(t, pool, WithTimeout(300*time.Millisecond))
	ctx := context.Background()
	v, err := s.Create(ctx, "k", []byte("one"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Another transaction holds the row locked.
	unlock := lockRow(t, table, "k")

	start := time.Now()
	_, err = s.Update(ctx, "k", v, []byte("two"), time.Hour)
	if !errors.Is(err, backend.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Update blocked past the store's time limit: %v, want ErrUnavailable and no context error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Update blocked for %v with a 300ms time limit", d)
	}

	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, cancel)
	err = s.Touch(cctx, "k", time.Minute)
	if !errors.Is(err, context.Canceled) || errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Touch cancelled while blocked: %v, want context.Canceled and not ErrUnavailable", err)
	}
	dctx, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	err = s.Delete(dctx, "k")
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Delete past its deadline while blocked: %v, want context.DeadlineExceeded and not ErrUnavailable", err)
	}

	unlock()
	rec, err := s.Load(ctx, "k")
	if err != nil || string(rec.Data) != "one" || rec.Version != v || rec.TTL <= time.Minute {
		t.Errorf("after the ended writes: (%q, %#x, %v, %v), want (\"one\", %#x, about 1h)", rec.Data, rec.Version, rec.TTL, err, v)
	}
}

// TestUpdateWaitingForAnotherWrite runs an Update that has to wait for
// another transaction's write to the row, and checks that it judges the
// row by that write's outcome, not by the row as it was when the Update
// started: gone after a delete (ErrNotFound, never ErrConflict, so that a
// request racing a logout or a DeleteGroup sees the session end), a
// conflict after a change of version, a success after a touch.
func TestUpdateWaitingForAnotherWrite(t *testing.T) {
	pool := testPool(t)
	s, table := newStore(t, pool)
	ctx := context.Background()
	ident, _ := tableIdent(table)
	for _, tc := range []struct {
		name, sql string
		want      error
	}{
		{"delete", `DELETE FROM ` + ident.Sanitize() + ` WHERE key = $1`, backend.ErrNotFound},
		{"new version", `UPDATE ` + ident.Sanitize() + ` SET version = version + 1 WHERE key = $1`, backend.ErrConflict},
		{"touch", `UPDATE ` + ident.Sanitize() + ` SET expires_at = now() + interval '2 hours' WHERE key = $1`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := randomName("k")
			v, err := s.Create(ctx, key, []byte("one"), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := pgx.Connect(ctx, postgresURL())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, tc.sql, key); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := s.Update(ctx, key, v, []byte("two"), time.Hour)
				done <- err
			}()
			waitForLockWait(t, pool, table)
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-done; !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("Update that waited for a concurrent %s: %v, want %v", tc.name, err, tc.want)
			}
		})
	}
}

// waitForLockWait waits until a statement on table waits for a lock.
func waitForLockWait(t *testing.T, pool *pgxpool.Pool, table string) {
	t.Helper()
	for range 500 {
		var waiting bool
		err := pool.QueryRow(context.Background(),
			`SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND strpos(query, $1) > 0)`, table).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no statement on %s came to wait for a lock", table)
}
