package pgstore

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/typedsession/session/internal/testserver"
)

// TestFault serves requests through the session middleware over a private
// server, stops it in the middle of the traffic (a fast shutdown, then a
// crash) and starts it again on the same port and data:
//
//   - while it is down, requests that need the session get 503, requests
//     that do not still get 200, nothing panics and no response clears
//     the cookie or finds the session missing;
//   - once it is back, the same pool, store and manager serve the same
//     session again: no restart of the application.
func TestFault(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops a PostgreSQL server")
	}
	srv := testserver.StartPostgres(t, "fsync=off")
	cfg, err := pgxpool.ParseConfig(srv.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 200 * time.Millisecond}
	}
	pool := newPool(t, cfg)
	if err := CreateTable(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	store, err := New(pool, WithTimeout(time.Second), WithSweepInterval(100*time.Millisecond),
		WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	do := newTestApp(t, store, 0)

	w := do("POST", "/inc", "")
	cookie := sessionCookie(w)
	if w.Code != http.StatusOK || cookie == "" {
		t.Fatalf("POST /inc with the server up: %d %q", w.Code, w.Body)
	}

	var (
		stop            = make(chan struct{})
		wg              sync.WaitGroup
		incOK, incTried atomic.Int64
		n503, n200      atomic.Int64
		mu              sync.Mutex
		wrong           []string
	)
	incOK.Store(1)
	incTried.Store(1)
	bad := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(wrong) < 20 {
			wrong = append(wrong, fmt.Sprintf(format, args...))
		}
	}
	for _, route := range []struct{ method, path string }{
		{"GET", "/read"}, {"POST", "/inc"}, {"GET", "/read"}, {"GET", "/none"},
	} {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				if route.path == "/inc" {
					incTried.Add(1)
				}
				w := do(route.method, route.path, cookie)
				if d := time.Since(start); d > 3*time.Second {
					bad("%s %s took %v", route.method, route.path, d)
				}
				for _, c := range w.Result().Cookies() {
					if c.MaxAge < 0 || c.Value == "" {
						bad("%s %s cleared the cookie", route.method, route.path)
					}
				}
				switch {
				case w.Code == http.StatusOK:
					n200.Add(1)
					if route.path == "/inc" {
						incOK.Add(1)
					}
					if route.path == "/read" && !strings.HasPrefix(w.Body.String(), "true ") {
						bad("GET /read found no session: %q", w.Body)
					}
				case w.Code == http.StatusServiceUnavailable && route.path != "/none":
					n503.Add(1)
				default:
					bad("%s %s: %d %q", route.method, route.path, w.Code, w.Body)
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The postmaster's signals for a fast shutdown (clients get 57P01)
	// and an immediate one (a crash).
	for _, stop := range []struct {
		mode string
		sig  syscall.Signal
	}{{"fast", syscall.SIGINT}, {"immediate", syscall.SIGQUIT}} {
		mode := stop.mode
		before200 := n200.Load()
		waitFor("traffic with the server up", func() bool { return n200.Load() > before200+20 })
		if err := srv.Shutdown(stop.sig, 30*time.Second); err != nil {
			t.Fatalf("%s shutdown: %v", mode, err)
		}
		before503 := n503.Load()
		waitFor("503s with the server down ("+mode+")", func() bool { return n503.Load() > before503+20 })
		if err := srv.Start(); err != nil {
			t.Fatalf("restart after the %s shutdown: %v\n%s", mode, err, srv.LogTail())
		}
		// Back: reads of the same session succeed again.
		waitFor("success after the restart ("+mode+")", func() bool {
			w := do("GET", "/read", cookie)
			return w.Code == http.StatusOK && strings.HasPrefix(w.Body.String(), "true ")
		})
	}
	before200 := n200.Load()
	waitFor("traffic after the restarts", func() bool { return n200.Load() > before200+20 })
	close(stop)
	wg.Wait()

	for _, s := range wrong {
		t.Error(s)
	}
	w = do("GET", "/read", cookie)
	var n int64
	if _, err := fmt.Sscanf(w.Body.String(), "true %d", &n); err != nil || w.Code != http.StatusOK {
		t.Fatalf("GET /read at the end: %d %q", w.Code, w.Body)
	}
	// A failed increment may or may not have been applied; a successful
	// one was applied exactly once.
	if n < incOK.Load() || n > incTried.Load() {
		t.Errorf("counter %d, want between the %d successful and the %d tried increments", n, incOK.Load(), incTried.Load())
	}
	t.Logf("%d answers 200, %d answers 503; counter %d after %d successful and %d tried increments",
		n200.Load(), n503.Load(), n, incOK.Load(), incTried.Load())
}
