package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
)

// defaultPostgresURL is the database the real-PostgreSQL tests use unless
// SESSION_POSTGRES_URL names another. Every test works in tables of its
// own, dropped afterwards.
const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// requirePostgres reports whether SESSION_REQUIRE_POSTGRES=1 turns the
// skips of the tests that need a real PostgreSQL into failures.
func requirePostgres() bool { return os.Getenv("SESSION_REQUIRE_POSTGRES") == "1" }

// skipOrFail skips t, or fails it under SESSION_REQUIRE_POSTGRES=1.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if requirePostgres() {
		t.Fatalf("%s (SESSION_REQUIRE_POSTGRES=1)", msg)
	}
	t.Skip(msg)
}

// postgresURL returns the test database's URL.
func postgresURL() string {
	if u := os.Getenv("SESSION_POSTGRES_URL"); u != "" {
		return u
	}
	return defaultPostgresURL
}

// poolConfig returns a pool configuration for the test database, or skips
// (fails under SESSION_REQUIRE_POSTGRES=1) if no server answers there.
func poolConfig(t testing.TB) *pgxpool.Config {
	t.Helper()
	url := postgresURL()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("SESSION_POSTGRES_URL=%q: %v", url, err)
	}
	probeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
		if err != nil {
			probeErr = err
			return
		}
		probeErr = conn.Close(ctx)
	})
	if probeErr != nil {
		skipOrFail(t, "no PostgreSQL at %s (%v): start one on 127.0.0.1:5432 (user postgres, database test, trust auth) or set SESSION_POSTGRES_URL", url, probeErr)
	}
	return cfg
}

var (
	probeOnce sync.Once
	probeErr  error
)

// newPool returns a pool from cfg, closed at cleanup.
func newPool(t testing.TB, cfg *pgxpool.Config) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// testPool returns a pool of the test database, closed at cleanup.
func testPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return newPool(t, poolConfig(t))
}

// randomName returns prefix followed by 12 random hex digits.
func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// newTable creates a table of its own for t with CreateTable (plus opts),
// dropped at cleanup, and returns its name.
func newTable(t testing.TB, pool *pgxpool.Pool, opts ...Option) string {
	t.Helper()
	name := randomName("pgstore_test_")
	if err := CreateTable(context.Background(), pool, append(opts, WithTable(name))...); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	t.Cleanup(func() { dropTable(t, name) })
	return name
}

// dropTable drops a test table through a connection of its own, so that it
// works whatever state the test left its pool in.
func dropTable(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, postgresURL())
	if err != nil {
		t.Errorf("drop table %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	ident, err := tableIdent(name)
	if err != nil {
		t.Errorf("drop table %s: %v", name, err)
		return
	}
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS `+ident.Sanitize()); err != nil {
		t.Errorf("drop table %s: %v", name, err)
	}
}

// newStore returns a Store on a fresh table of the test database, without
// a background sweeper unless opts start one; the Store is closed at
// cleanup.
func newStore(t testing.TB, pool *pgxpool.Pool, opts ...Option) (*Store, string) {
	t.Helper()
	table := newTable(t, pool)
	s, err := New(pool, append([]Option{WithSweepInterval(0), WithTable(table)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, table
}

// queryLog is a pgx.QueryTracer that records the statements a pool runs:
// each is one round trip.
type queryLog struct {
	mu   sync.Mutex
	sqls []string
}

func (q *queryLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sqls = append(q.sqls, data.SQL)
	return ctx
}

func (q *queryLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// take returns the first words of the statements run since the last take
// ("SELECT", "WITH", "UPDATE", "DELETE"), and starts over.
func (q *queryLog) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var words []string
	for _, s := range q.sqls {
		w, _, _ := strings.Cut(strings.TrimSpace(s), " ")
		words = append(words, w)
	}
	q.sqls = nil
	return words
}

// execSQL runs sql on the test database through a connection of its own.
func execSQL(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, postgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// visit is the session type of the manager tests.
type visit struct {
	N int `json:"n"`
}

// newTestApp serves a session-backed handler over store and returns a
// function that serves one request to it (cookie is "name=value" or "").
// Routes: GET /none never touches the session; GET /read answers "<ok>
// <n>"; POST /inc increments n; POST /logout destroys the session. A
// session error is answered with 503 if it wraps backend.ErrUnavailable,
// else 500.
func newTestApp(t testing.TB, store backend.Store, idle time.Duration) func(method, path, cookie string) *httptest.ResponseRecorder {
	t.Helper()
	mgr, err := session.New[visit](store, session.Config{IdleTimeout: idle, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	fail := func(w http.ResponseWriter, err error) bool {
		if err == nil {
			return false
		}
		status := http.StatusInternalServerError
		if errors.Is(err, backend.ErrUnavailable) {
			status = http.StatusServiceUnavailable
		}
		http.Error(w, err.Error(), status)
		return true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /none", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		v, ok, err := mgr.From(r).Get()
		if !fail(w, err) {
			fmt.Fprintf(w, "%t %d", ok, v.N)
		}
	})
	mux.HandleFunc("POST /inc", func(w http.ResponseWriter, r *http.Request) {
		fail(w, mgr.From(r).Update(func(v *visit) error { v.N++; return nil }))
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		fail(w, mgr.From(r).Destroy())
	})
	h := mgr.Middleware(mux)
	return func(method, path, cookie string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "https://example.com"+path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
}

// sessionCookie returns the "name=value" of the session cookie a response
// sets, or "" if it sets none (or clears it).
func sessionCookie(w *httptest.ResponseRecorder) string {
	for _, c := range w.Result().Cookies() {
		if c.Name == session.DefaultCookieName && c.Value != "" && c.MaxAge >= 0 {
			return c.Name + "=" + c.Value
		}
	}
	return ""
}

// lockRow locks the row of key in table from another connection, in a
// transaction that stays open until the returned function (or the test's
// end) rolls it back.
func lockRow(t *testing.T, table, key string) (unlock func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, postgresURL())
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	unlock = func() {
		once.Do(func() {
			_ = tx.Rollback(ctx)
			_ = conn.Close(ctx)
		})
	}
	t.Cleanup(unlock)
	ident, _ := tableIdent(table)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM `+ident.Sanitize()+` WHERE key = $1 FOR UPDATE`, key); err != nil {
		t.Fatal(err)
	}
	return unlock
}
