package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/internal/testserver"
)

// defaultRedisURL is the server the real-Redis tests use unless
// SESSION_REDIS_URL names another.
const defaultRedisURL = "redis://127.0.0.1:6379"

// flushedDB is the database of that server these tests use. They flush it,
// so it is not the one the other packages' tests share (15, the default of
// SESSION_REDIS_URL), which may run at the same time under go test ./...
const flushedDB = 14

// skipOrFail skips t, or fails it under SESSION_REQUIRE_REDIS=1.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	testserver.SkipOrFail(t, "SESSION_REQUIRE_REDIS", format, args...)
}

// realRedis returns a client of the test database on a real Redis, closed
// at cleanup, or skips (fails under SESSION_REQUIRE_REDIS=1) if none
// answers.
func realRedis(t testing.TB, hooks ...redis.Hook) *redis.Client {
	t.Helper()
	url := os.Getenv("SESSION_REDIS_URL")
	if url == "" {
		url = defaultRedisURL
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("SESSION_REDIS_URL=%q: %v", url, err)
	}
	opt.DB = flushedDB
	probeOpt := *opt
	probeOpt.DialerRetries, probeOpt.MaxRetries = 1, -1
	probe := redis.NewClient(&probeOpt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = probe.Ping(ctx).Err()
	_ = probe.Close()
	if err != nil {
		skipOrFail(t, "no Redis at %s (%v): start redis-server on 127.0.0.1:6379 or set SESSION_REDIS_URL to a Redis whose database may be flushed", url, err)
	}
	c := redis.NewClient(opt)
	for _, h := range hooks {
		c.AddHook(h)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newMiniredis returns a client of a fresh miniredis server; both are closed
// at cleanup.
func newMiniredis(t testing.TB, hooks ...redis.Hook) (*miniredis.Miniredis, *redis.Client) {
	t.Helper()
	mr := miniredisServer(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	for _, h := range hooks {
		c.AddHook(h)
	}
	t.Cleanup(func() { _ = c.Close() })
	return mr, c
}

// miniredisServer starts a miniredis server, closed at cleanup.
func miniredisServer(t testing.TB) *miniredis.Miniredis {
	t.Helper()
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mr.Close)
	return mr
}

// roundTrips is a go-redis hook that counts round trips: one per command
// and one per pipeline. It also remembers the names of the commands.
type roundTrips struct {
	mu    sync.Mutex
	n     int
	names []string
}

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		h.n++
		h.names = append(h.names, cmd.Name())
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		names := make([]string, len(cmds))
		for i, c := range cmds {
			names[i] = c.Name()
		}
		h.mu.Lock()
		h.n++
		h.names = append(h.names, "pipeline("+strings.Join(names, ",")+")")
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

// take returns the count and the command names since the last take, and
// starts over.
func (h *roundTrips) take() (int, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, names := h.n, h.names
	h.n, h.names = 0, nil
	return n, names
}

// visit is the session type of the middleware tests.
type visit struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

func incr(v *visit) error {
	v.N++
	return nil
}

// app is a session-backed handler for the middleware tests.
type app struct {
	mgr     *session.Manager[visit]
	handler http.Handler

	mu       sync.Mutex
	errs     []error // errors the handlers got from the session
	midwayFn func()  // called by /inc-midway between the load and the change
}

// Routes:
//
//	GET  /none          never touches the session
//	GET  /read          Get; answers "<ok> <n>"
//	POST /inc           Update(n++); answers the new n
//	POST /new           Set{N: 1} (no load without a cookie)
//	POST /inc-midway    Get, then midwayFn, then Update(n++)
//	POST /logout        Destroy
//	POST /renew         RenewID
//
// A session error in a handler is recorded and answered with 503 if it
// wraps backend.ErrUnavailable (500 otherwise). Commit errors go to the
// manager's default ErrorHandler.
func newApp(t testing.TB, store backend.Store, cfg session.Config) *app {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	mgr, err := session.New[visit](store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := &app{mgr: mgr}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /none", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("none"))
	})
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		v, ok, err := mgr.From(r).Get()
		if a.failed(w, err) {
			return
		}
		fmt.Fprintf(w, "%t %d", ok, v.N)
	})
	mux.HandleFunc("POST /inc", func(w http.ResponseWriter, r *http.Request) {
		s := mgr.From(r)
		if a.failed(w, s.Update(incr)) {
			return
		}
		v, _, _ := s.Get()
		fmt.Fprint(w, v.N)
	})
	mux.HandleFunc("POST /new", func(w http.ResponseWriter, r *http.Request) {
		if a.failed(w, mgr.From(r).Set(visit{N: 1})) {
			return
		}
		fmt.Fprint(w, 1)
	})
	mux.HandleFunc("POST /inc-midway", func(w http.ResponseWriter, r *http.Request) {
		s := mgr.From(r)
		if _, _, err := s.Get(); a.failed(w, err) {
			return
		}
		a.mu.Lock()
		fn := a.midwayFn
		a.mu.Unlock()
		if fn != nil {
			fn()
		}
		if a.failed(w, s.Update(incr)) {
			return
		}
		v, _, _ := s.Get()
		fmt.Fprint(w, v.N)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if a.failed(w, mgr.From(r).Destroy()) {
			return
		}
		fmt.Fprint(w, "bye")
	})
	mux.HandleFunc("POST /renew", func(w http.ResponseWriter, r *http.Request) {
		if a.failed(w, mgr.From(r).RenewID()) {
			return
		}
		fmt.Fprint(w, "renewed")
	})
	a.handler = mgr.Middleware(mux)
	return a
}

func (a *app) failed(w http.ResponseWriter, err error) bool {
	if err == nil {
		return false
	}
	a.mu.Lock()
	a.errs = append(a.errs, err)
	a.mu.Unlock()
	status := http.StatusInternalServerError
	if errors.Is(err, backend.ErrUnavailable) {
		status = http.StatusServiceUnavailable
	}
	http.Error(w, err.Error(), status)
	return true
}

// takeErrs returns the handler errors recorded since the last call.
func (a *app) takeErrs() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	errs := a.errs
	a.errs = nil
	return errs
}

// do serves one request; cookie is "name=value" or "".
func (a *app) do(method, path, cookie string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://example.com"+path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	w := httptest.NewRecorder()
	a.handler.ServeHTTP(w, req)
	return w
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

// clearsCookie reports whether a response expires the session cookie.
func clearsCookie(w *httptest.ResponseRecorder) bool {
	for _, c := range w.Result().Cookies() {
		if c.Name == session.DefaultCookieName && (c.MaxAge < 0 || c.Value == "" ||
			(!c.Expires.IsZero() && c.Expires.Before(time.Now()))) {
			return true
		}
	}
	return false
}

// traffic is background requests carrying one session's cookie, sent
// while a test takes the store away and brings it back: GET /read, POST
// /inc, GET /read and GET /none, each in a loop of its own. The only
// acceptable answers are 200 and 503; a cleared or replaced cookie, or a
// read that does not find the session, means the visitor was logged out.
type traffic struct {
	stop chan struct{}
	wg   sync.WaitGroup
	n    atomic.Int64 // requests answered
	n503 atomic.Int64 // of which 503

	mu    sync.Mutex
	wrong []string // unacceptable answers
}

func startTraffic(a *app, cookie string) *traffic {
	tr := &traffic{stop: make(chan struct{})}
	for _, route := range []struct{ method, path string }{
		{"GET", "/read"}, {"POST", "/inc"}, {"GET", "/read"}, {"GET", "/none"},
	} {
		tr.wg.Go(func() {
			for {
				select {
				case <-tr.stop:
					return
				default:
				}
				w := a.do(route.method, route.path, cookie)
				tr.n.Add(1)
				if w.Code == http.StatusServiceUnavailable {
					tr.n503.Add(1)
				}
				if msg := wrongAnswer(cookie, route.path, w); msg != "" {
					tr.mu.Lock()
					tr.wrong = append(tr.wrong, route.method+" "+route.path+": "+msg)
					tr.mu.Unlock()
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	return tr
}

// wrongAnswer says what is wrong with an answer to a request to path with
// the session cookie cookie while the store may be unavailable, or "".
func wrongAnswer(cookie, path string, w *httptest.ResponseRecorder) string {
	switch c := sessionCookie(w); {
	case clearsCookie(w):
		return "cleared the cookie"
	case c != "" && c != cookie:
		return "replaced the cookie"
	case w.Code == http.StatusServiceUnavailable:
		return ""
	case w.Code != http.StatusOK:
		return fmt.Sprintf("%d %q", w.Code, w.Body)
	case path == "/read" && !strings.HasPrefix(w.Body.String(), "true "):
		return fmt.Sprintf("session not found: %q", w.Body)
	}
	return ""
}

// finish stops the traffic, reports its unacceptable answers as errors of
// t, and returns how many requests it sent and how many were answered 503.
func (tr *traffic) finish(t testing.TB) (n, n503 int64) {
	t.Helper()
	close(tr.stop)
	tr.wg.Wait()
	if len(tr.wrong) > 0 {
		t.Errorf("background requests: %d of %d answered wrongly: %q", len(tr.wrong), tr.n.Load(), tr.wrong[:min(len(tr.wrong), 10)])
	}
	return tr.n.Load(), tr.n503.Load()
}

// waitFor calls cond every 20 ms until it reports done, and fails t if
// that takes longer than limit, with what cond last reported.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() (done bool, state string)) {
	t.Helper()
	start := time.Now()
	for {
		done, state := cond()
		if done {
			return
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v (last: %s)", what, limit, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
