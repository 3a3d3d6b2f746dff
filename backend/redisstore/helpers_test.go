package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
)

// defaultRedisURL is the database the real-Redis tests use (and flush)
// unless SESSION_REDIS_URL names another.
const defaultRedisURL = "redis://127.0.0.1:6379/15"

// requireRedis reports whether SESSION_REQUIRE_REDIS=1 turns the skips of
// the tests that need a real Redis (or redis-server) into failures.
func requireRedis() bool { return os.Getenv("SESSION_REQUIRE_REDIS") == "1" }

// skipOrFail skips t, or fails it under SESSION_REQUIRE_REDIS=1.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if requireRedis() {
		t.Fatalf("%s (SESSION_REQUIRE_REDIS=1)", msg)
	}
	t.Skip(msg)
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

// Real redis-server processes, for the Cluster, Sentinel and
// fault-injection tests.

// redisBinaries returns the paths of redis-server and redis-cli, or skips
// (fails under SESSION_REQUIRE_REDIS=1) if they are not installed.
func redisBinaries(t testing.TB) (server, cli string) {
	t.Helper()
	server, err := exec.LookPath("redis-server")
	if err != nil {
		skipOrFail(t, "redis-server not installed (Debian: apt-get install redis-server redis-tools): %v", err)
	}
	cli, err = exec.LookPath("redis-cli")
	if err != nil {
		skipOrFail(t, "redis-cli not installed (Debian: apt-get install redis-tools): %v", err)
	}
	return server, cli
}

// freePorts returns n distinct loopback TCP ports that are free, each with
// port+10000 (a Cluster node's bus port) free as well.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	seen := make(map[int]bool)
	for range 500 {
		if len(ports) == n {
			return ports
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if seen[p] || p+10000 > 65535 {
			continue
		}
		seen[p] = true
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000))
		if err != nil {
			continue
		}
		_ = bus.Close()
		ports = append(ports, p)
	}
	t.Fatalf("found only %d of %d free port pairs (port, port+10000)", len(ports), n)
	return nil
}

// redisProc is a redis-server child process.
type redisProc struct {
	port int
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// startRedis starts redis-server on 127.0.0.1:port with nothing persisted,
// its files in dir, and waits until it answers PING. The process is
// killed at cleanup.
func startRedis(t testing.TB, bin, dir string, port int, extra ...string) *redisProc {
	t.Helper()
	return startRedisConf(t, bin, "", dir, port, extra...)
}

// startRedisConf is startRedis with a configuration file, which
// redis-server reads before the options (a Sentinel needs one, writable:
// it records its state there). conf "" means none.
func startRedisConf(t testing.TB, bin, conf, dir string, port int, extra ...string) *redisProc {
	t.Helper()
	p := &redisProc{
		port: port,
		log:  filepath.Join(dir, fmt.Sprintf("redis-%d.log", port)),
		done: make(chan struct{}),
	}
	var args []string
	if conf != "" {
		args = append(args, conf) // must come first
	}
	args = append(args,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--dbfilename", fmt.Sprintf("dump-%d.rdb", port), // a replica writes the one it syncs
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--logfile", p.log,
	)
	p.cmd = exec.Command(bin, append(args, extra...)...)
	killWithParent(p.cmd)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.kill)
	if err := p.waitReady(10 * time.Second); err != nil {
		p.kill()
		t.Fatalf("redis-server on port %d: %v\n%s", port, err, p.logTail())
	}
	return p
}

func (p *redisProc) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

// client returns a client of this process alone, with short timeouts and
// no retries, for the tests' own commands; it is closed at cleanup.
func (p *redisProc) client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr: p.addr(), DialTimeout: time.Second, ReadTimeout: time.Second,
		WriteTimeout: time.Second, MaxRetries: -1, DialerRetries: 1,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// kill kills the process (SIGKILL: no shutdown, no goodbye to clients) and
// waits for it to exit. It may be called more than once.
func (p *redisProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// waitReady waits until the server answers PING.
func (p *redisProc) waitReady(limit time.Duration) error {
	c := redis.NewClient(&redis.Options{
		Addr: p.addr(), DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, MaxRetries: -1,
	})
	defer c.Close()
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-p.done:
			return errors.New("exited before answering PING")
		default:
		}
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING within %v: %w", limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *redisProc) logTail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
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
