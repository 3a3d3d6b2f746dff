package session_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/memstore"
)

// server runs mgr's middleware around h on a real HTTP server.
func server(t *testing.T, mgr *session.Manager[UserSession], h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(mgr.Middleware(h))
	t.Cleanup(srv.Close)
	return srv
}

func TestStreamingWithFlush(t *testing.T) {
	h := newHarness(t, session.Config{})
	second := make(chan struct{})
	srv := server(t, h.mgr, func(w http.ResponseWriter, r *http.Request) {
		s := h.mgr.From(r)
		_ = s.Set(UserSession{UserID: "streamer"})
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-second
		_, _ = io.WriteString(w, "second\n")
	})
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if sessionCookie(t, res, "session") == nil {
		t.Error("no cookie on a streamed response")
	}
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first chunk %q, %v", line, err)
	}
	close(second) // the first chunk arrived before the handler went on
	rest, _ := io.ReadAll(br)
	if string(rest) != "second\n" {
		t.Errorf("rest %q", rest)
	}
}

func TestResponseControllerThroughWrapper(t *testing.T) {
	h := newHarness(t, session.Config{})
	srv := server(t, h.mgr, func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetWriteDeadline through the wrapper: %v", err)
		}
		if err := rc.EnableFullDuplex(); err != nil {
			t.Errorf("EnableFullDuplex through the wrapper: %v", err)
		}
		_ = h.mgr.From(r).Set(UserSession{UserID: "ada"})
		if err := rc.Flush(); err != nil {
			t.Errorf("Flush through the controller: %v", err)
		}
	})
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if sessionCookie(t, res, "session") == nil {
		t.Error("no cookie")
	}
}

func TestInformationalHeaderDoesNotCommit(t *testing.T) {
	h := newHarness(t, session.Config{})
	srv := server(t, h.mgr, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		if err := h.mgr.From(r).Set(UserSession{UserID: "ada"}); err != nil {
			t.Errorf("Set after 103 Early Hints: %v", err)
		}
	})
	var informational int
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
		informational = code
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, srv.URL, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if informational != http.StatusEarlyHints {
		t.Errorf("client saw 1xx %d, want 103", informational)
	}
	if sessionCookie(t, res, "session") == nil {
		t.Error("no session cookie on the final response after a 103")
	}
}

func TestHijackCommitsFirst(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	srv := server(t, h.mgr, func(w http.ResponseWriter, r *http.Request) {
		_ = h.mgr.From(r).Update(func(u *UserSession) error { u.Visits = 7; return nil })
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		_ = buf.Flush()
	})
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Cookie", cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "ok" {
		t.Errorf("hijacked body %q", body)
	}
	if u, _ := h.get(cookie); u.Visits != 7 {
		t.Errorf("visits = %d: the change was not committed before the hijack", u.Visits)
	}
}

func TestReadFromCommitsAndCopies(t *testing.T) {
	h := newHarness(t, session.Config{})
	srv := server(t, h.mgr, func(w http.ResponseWriter, r *http.Request) {
		_ = h.mgr.From(r).Set(UserSession{UserID: "ada"})
		n, err := w.(io.ReaderFrom).ReadFrom(strings.NewReader(strings.Repeat("x", 100000)))
		if err != nil || n != 100000 {
			t.Errorf("ReadFrom = %d, %v", n, err)
		}
	})
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if len(body) != 100000 || sessionCookie(t, res, "session") == nil {
		t.Errorf("body %d bytes, cookies %v", len(body), res.Header.Values("Set-Cookie"))
	}
}

func TestSetCookieVisibleToBrowserClient(t *testing.T) {
	// A real client with a cookie jar, over plain HTTP on loopback:
	// Secure cookies are still sent back to 127.0.0.1 only by browsers,
	// so this manager is Insecure for the Go client's jar.
	h := newHarness(t, session.Config{Cookie: session.CookieConfig{Insecure: true}})
	srv := server(t, h.mgr, func(w http.ResponseWriter, r *http.Request) {
		s := h.mgr.From(r)
		_ = s.Update(func(u *UserSession) error { u.Visits++; return nil })
		u, _, _ := s.Get()
		_, _ = io.WriteString(w, strings.Repeat("v", u.Visits))
	})
	client := srv.Client()
	client.Jar = newJar(t)
	for want := 1; want <= 3; want++ {
		res, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if len(body) != want {
			t.Errorf("visit %d: body %q", want, body)
		}
	}
}

type ctxKey struct{}

// TestRequestContextKeepsParentValuesAndCancellation checks the context
// the middleware attaches: values and cancellation of the parent come
// through, also into contexts derived from it.
func TestRequestContextKeepsParentValuesAndCancellation(t *testing.T) {
	h := newHarness(t, session.Config{})
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(parent)
	var derived context.Context
	h.mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(ctxKey{}) != "v" {
			t.Error("the parent's value is lost")
		}
		if _, _, err := h.mgr.From(r).Get(); err != nil {
			t.Errorf("no session: %v", err)
		}
		var stop context.CancelFunc
		derived, stop = context.WithTimeout(r.Context(), time.Hour)
		t.Cleanup(stop)
		cancel()
	})).ServeHTTP(httptest.NewRecorder(), req)
	select {
	case <-derived.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling the request's parent context did not reach a context derived in the handler")
	}
}

// TestUnusedSessionAllocations bounds what the middleware costs a request
// that never touches the session: the Session (holding the request's
// context) and the request copy WithContext makes.
func TestUnusedSessionAllocations(t *testing.T) {
	h := newHarness(t, session.Config{})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	mw := h.mgr.Middleware(next)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	w := &benchWriter{h: make(http.Header)}
	bare := testing.AllocsPerRun(100, func() { next.ServeHTTP(w, req) })
	with := testing.AllocsPerRun(100, func() { mw.ServeHTTP(w, req) })
	if with-bare > 2 {
		t.Errorf("the middleware costs %v allocations per unused session, want at most 2", with-bare)
	}
}

// bigSession is a session type whose value takes 8 KiB inline.
type bigSession struct {
	Blob [8 << 10]byte `json:"blob"`
}

// unusedBytes returns the bytes the middleware of a manager for T
// allocates per request whose handler takes the session but never uses it.
func unusedBytes[T any](t *testing.T) uint64 {
	t.Helper()
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	mgr, err := session.New[T](store, session.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mw := mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = mgr.From(r)
		w.WriteHeader(http.StatusOK)
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	w := &benchWriter{h: make(http.Header)}
	const n = 1000
	mw.ServeHTTP(w, req) // warm up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		w.reset()
		mw.ServeHTTP(w, req)
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / n
}

// TestUnusedSessionCostDoesNotGrowWithT checks that a request whose
// handler never uses its session does not allocate room for the data: an
// app with a large session type pays for it only on requests that load it.
func TestUnusedSessionCostDoesNotGrowWithT(t *testing.T) {
	small, big := unusedBytes[UserSession](t), unusedBytes[bigSession](t)
	// The margin absorbs what other goroutines of the test binary allocate
	// meanwhile; an inline T would add 8 KiB.
	if big > small+256 {
		t.Errorf("an unused session allocates %d bytes with an 8 KiB session type, %d with a small one; want no more", big, small)
	}
	if small > 512+64 {
		t.Errorf("an unused session allocates %d bytes, want at most 512 (the Session and the request copy)", small)
	}
}

// TestFirstUseRacingTheCommit has a goroutine of the request make the
// session's first call (which allocates its state) while the handler
// writes the response (which commits it): either the call fails with
// ErrCommitted and nothing is sent, or it succeeds and its session is
// committed, cookie included; under -race, neither side may touch the
// state unlocked.
func TestFirstUseRacingTheCommit(t *testing.T) {
	h := newHarness(t, session.Config{})
	for range 300 {
		var setErr error
		var wg sync.WaitGroup
		res := h.do("", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				setErr = s.Set(UserSession{UserID: "race"})
			}()
			w.WriteHeader(http.StatusOK)
			wg.Wait()
		})
		c := sessionCookie(t, res, "session")
		switch {
		case setErr == nil && c == nil:
			t.Fatal("a Set that succeeded was never committed")
		case setErr != nil && !errors.Is(setErr, session.ErrCommitted):
			t.Fatalf("Set: %v", setErr)
		case setErr != nil && c != nil:
			t.Fatal("a cookie went out for a Set that failed")
		}
	}
}
