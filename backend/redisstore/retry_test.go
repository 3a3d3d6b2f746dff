package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/redisstore"
)

// lossyProxy forwards TCP connections to a Redis server. Armed with a
// matcher and a hook, it loses one reply: it forwards the first request
// the matcher accepts, waits until the server answers it (so the command
// has run), discards the answer, calls the hook and closes the
// connection. go-redis then sends the command again on a new connection.
type lossyProxy struct {
	l      net.Listener
	target string
	wg     sync.WaitGroup

	mu      sync.Mutex
	conns   []net.Conn
	match   func([]byte) bool
	hook    func()
	dropped int
}

// newLossyProxy starts a proxy to target, stopped at cleanup.
func newLossyProxy(t *testing.T, target string) *lossyProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{l: l, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = l.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *lossyProxy) addr() string { return p.l.Addr().String() }

// arm makes the proxy lose the reply to the next request match accepts,
// calling hook after the command ran and before the connection closes.
func (p *lossyProxy) arm(match func([]byte) bool, hook func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.match, p.hook = match, hook
}

// take disarms the proxy and returns its hook if req is the request to
// lose, else nil.
func (p *lossyProxy) take(req []byte) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.match == nil || !p.match(req) {
		return nil
	}
	hook := p.hook
	p.match, p.hook = nil, nil
	p.dropped++
	return hook
}

func (p *lossyProxy) drops() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

func (p *lossyProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.l.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.serve(client, server)
	}
}

// serve forwards one connection in both directions.
func (p *lossyProxy) serve(client, server net.Conn) {
	defer p.wg.Done()
	var swallow sync.Once
	lose := make(chan struct{})  // closed: discard the server's replies
	reply := make(chan struct{}) // closed when a discarded reply came
	go func() {
		defer p.wg.Done()
		defer client.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				select {
				case <-lose:
					swallow.Do(func() { close(reply) })
					continue
				default:
				}
				if _, err := client.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	defer server.Close()
	defer client.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			if hook := p.take(buf[:n]); hook != nil {
				close(lose)
				if _, err := server.Write(buf[:n]); err != nil {
					return
				}
				select {
				case <-reply:
				case <-time.After(5 * time.Second):
				}
				hook()
				return
			}
			if _, err := server.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// proxiedApp flushes the real Redis test database and returns a client of
// it, a lossy proxy in front of it, and an app whose store reaches Redis
// through the proxy with go-redis's default retries (MaxRetries 3).
func proxiedApp(t *testing.T) (*redis.Client, *lossyProxy, *app) {
	t.Helper()
	c, p, pc := proxiedClient(t)
	return c, p, newApp(t, redisstore.New(pc), session.Config{})
}

// proxiedClient returns a client of the real Redis, its database flushed,
// a lossy proxy in front of that server, and a client that goes through
// the proxy.
func proxiedClient(t *testing.T) (direct *redis.Client, p *lossyProxy, proxied *redis.Client) {
	t.Helper()
	direct = realRedis(t)
	if err := direct.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	p = newLossyProxy(t, direct.Options().Addr)
	opt := *direct.Options()
	opt.Addr = p.addr()
	proxied = redis.NewClient(&opt)
	t.Cleanup(func() { _ = proxied.Close() })
	return direct, p, proxied
}

// TestRetriedUpdateAppliesOnce: instance A's compare-and-set is applied,
// its reply is lost, instance B commits a change of the same session, and
// go-redis sends A's write again. The retry must be recognised as applied:
// A's click counts once, B's once.
func TestRetriedUpdateAppliesOnce(t *testing.T) {
	c, p, a := proxiedApp(t)
	b := newApp(t, redisstore.New(c), session.Config{})

	w := b.do("POST", "/new", "")
	cookie := sessionCookie(w)
	if cookie == "" {
		t.Fatalf("POST /new: %d %s", w.Code, w.Body)
	}
	// A first click through A, which also gets the scripts cached on the
	// server, so that A's next write is an EVALSHA.
	if w := a.do("POST", "/inc", cookie); w.Code != 200 || w.Body.String() != "2" {
		t.Fatalf("first click through A: %d %q", w.Code, w.Body)
	}

	sha := []byte(redisstore.UpdateScriptSHA())
	bClick := make(chan string, 1)
	p.arm(func(req []byte) bool { return bytes.Contains(req, sha) }, func() {
		bClick <- b.do("POST", "/inc", cookie).Body.String()
	})
	w = a.do("POST", "/inc", cookie)
	if p.drops() != 1 {
		t.Fatalf("the proxy lost %d replies, want 1", p.drops())
	}
	if w.Code != 200 || w.Body.String() != "3" {
		t.Errorf("click through A whose reply was lost: %d %q, want 200 \"3\" (errors %v)", w.Code, w.Body, a.takeErrs())
	}
	if got := <-bClick; got != "4" {
		t.Errorf("click through B in between: %q, want \"4\"", got)
	}
	if got := b.do("GET", "/read", cookie).Body.String(); got != "true 4" {
		t.Errorf("after 4 clicks: %q, want \"true 4\" (one application each)", got)
	}
}

// TestRetriedCreateIsNotAClash: a new session's SET NX is applied and its
// reply lost; go-redis sends it again. The repeat must not be reported as
// a clash (ErrExists), which would make the manager store the session a
// second time under a new ID.
func TestRetriedCreateIsNotAClash(t *testing.T) {
	c, p, a := proxiedApp(t)
	p.arm(func(req []byte) bool {
		r := strings.ToLower(string(req))
		return strings.Contains(r, "\r\nset\r\n") && strings.Contains(r, "\r\nnx\r\n")
	}, func() {})
	w := a.do("POST", "/new", "")
	if p.drops() != 1 {
		t.Fatalf("the proxy lost %d replies, want 1", p.drops())
	}
	cookie := sessionCookie(w)
	if w.Code != 200 || cookie == "" {
		t.Fatalf("POST /new whose reply was lost: %d %q (errors %v)", w.Code, w.Body, a.takeErrs())
	}
	keys, err := c.Keys(context.Background(), "s:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Errorf("records stored: %q, want exactly one", keys)
	}
	if got := a.do("GET", "/read", cookie).Body.String(); got != "true 1" {
		t.Errorf("the new session reads %q, want \"true 1\"", got)
	}
}

// TestTimeoutBlackHole: with the README's plain client, a server that
// accepts connections and never answers fails every call with
// ErrUnavailable within the store's timeout (3x as a margin), not after
// the client's ReadTimeout and retries; and the goroutines the calls left
// behind finish by themselves. The same holds for a client with
// ContextTimeoutEnabled, which the store lets bound its own calls.
func TestTimeoutBlackHole(t *testing.T) {
	for _, ctxTimeout := range []bool{false, true} {
		t.Run(fmt.Sprintf("ContextTimeoutEnabled=%t", ctxTimeout), func(t *testing.T) {
			addr := stalledServer(t)
			c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: ctxTimeout})
			t.Cleanup(func() { _ = c.Close() })
			// The client runs a goroutine of its own until it is closed.
			before := runtime.NumGoroutine()
			const timeout = 200 * time.Millisecond
			s := redisstore.New(c, redisstore.WithTimeout(timeout))
			for op, call := range redisstore.StoreCalls(s, "k", 1) {
				start := time.Now()
				err := call(context.Background())
				elapsed := time.Since(start)
				if !errors.Is(err, backend.ErrUnavailable) {
					t.Errorf("%s on a black hole: got %v, want ErrUnavailable", op, err)
				}
				if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
					t.Errorf("%s on a black hole with a live context: %v matches a context error", op, err)
				}
				if elapsed > 3*timeout {
					t.Errorf("%s on a black hole returned after %v, want about %v", op, elapsed, timeout)
				}
			}

			// The caller's own shorter deadline still wins, as a context
			// error.
			ctx, cancel := context.WithTimeout(context.Background(), timeout/4)
			defer cancel()
			_, err := s.Load(ctx, "k")
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, backend.ErrUnavailable) {
				t.Errorf("Load with a shorter deadline: got %v, want DeadlineExceeded only", err)
			}

			// Goroutines still waiting for go-redis end when the client's
			// ReadTimeout (3 s by default) expires: go-redis sends no retry
			// once the store's context has ended. The stalled server's own
			// goroutines end as the client closes its failed connections.
			start := time.Now()
			waitFor(t, 10*time.Second, "goroutines to finish", func() (bool, string) {
				n := runtime.NumGoroutine()
				if n <= before {
					t.Logf("goroutines back to %d after %v", n, time.Since(start))
					return true, ""
				}
				buf := make([]byte, 1<<16)
				return false, fmt.Sprintf("%d goroutines, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
			})
		})
	}
}
