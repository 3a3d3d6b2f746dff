package pgstore

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
)

// privateServer is a PostgreSQL server of the test's own, in a temporary
// directory on a free port, so that stopping it disturbs no one else.
type privateServer struct {
	t      testing.TB
	bin    string // directory of initdb and pg_ctl
	dir    string
	port   int
	asUser []string // command prefix to run as the postgres user, when root
}

// startPrivateServer initialises and starts a private server, stopped and
// removed at cleanup. It skips (fails under SESSION_REQUIRE_POSTGRES=1)
// when the server binaries are missing.
func startPrivateServer(t testing.TB) *privateServer {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	bin := ""
	if len(bins) > 0 {
		bin = filepath.Dir(bins[len(bins)-1])
	} else if p, err := exec.LookPath("pg_ctl"); err == nil {
		bin = filepath.Dir(p)
	} else {
		skipOrFail(t, "no pg_ctl: install PostgreSQL's server (Debian: apt-get install postgresql) to run the fault test")
	}
	dir, err := os.MkdirTemp("", "pgstore-fault-")
	if err != nil {
		t.Fatal(err)
	}
	s := &privateServer{t: t, bin: bin, dir: dir}
	t.Cleanup(func() {
		_ = s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop")
		_ = os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		// initdb refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			skipOrFail(t, "running as root without a postgres user to run initdb as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		s.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	if err := s.run("initdb", "-D", s.data(), "-A", "trust", "-U", "postgres", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v", err)
	}
	s.start()
	return s
}

func (s *privateServer) data() string { return filepath.Join(s.dir, "data") }

func (s *privateServer) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=1", s.port)
}

// run runs one of the server's programs as the server's user.
func (s *privateServer) run(prog string, args ...string) error {
	argv := append(append(append([]string{}, s.asUser...), filepath.Join(s.bin, prog)), args...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", prog, err, out)
	}
	return nil
}

func (s *privateServer) start() {
	s.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", s.port, s.dir)
	if err := s.run("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-o", opts, "-w", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		s.t.Fatalf("start: %v\n%s", err, log)
	}
}

// stop shuts the server down in mode ("fast": clients get 57P01;
// "immediate": a crash).
func (s *privateServer) stop(mode string) {
	s.t.Helper()
	if err := s.run("pg_ctl", "-D", s.data(), "-m", mode, "-w", "stop"); err != nil {
		s.t.Fatalf("stop: %v", err)
	}
}

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
	srv := startPrivateServer(t)
	cfg, err := pgxpool.ParseConfig(srv.url())
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
	for _, mode := range []string{"fast", "immediate"} {
		before200 := n200.Load()
		waitFor("traffic with the server up", func() bool { return n200.Load() > before200+20 })
		srv.stop(mode)
		before503 := n503.Load()
		waitFor("503s with the server down ("+mode+")", func() bool { return n503.Load() > before503+20 })
		srv.start()
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
