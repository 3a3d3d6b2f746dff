package session_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/internal/envelope"
	"github.com/typedsession/session/internal/fakeclock"
	"github.com/typedsession/session/internal/token"
)

// UserSession is the session type the tests use.
type UserSession struct {
	UserID string   `json:"user_id"`
	Roles  []string `json:"roles,omitempty"`
	Cart   []string `json:"cart,omitempty"`
	Visits int      `json:"visits"`
}

// harness is a manager on a memory store with a fake clock shared by both.
// The manager's store (store) counts every call and injects faults before
// reaching the memory store.
type harness struct {
	t     testing.TB
	clock *fakeclock.Clock
	mem   *memstore.Store
	store *backendtest.IndexedFaultStore
	mgr   *session.Manager[UserSession]
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

var epoch = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func newHarness(t testing.TB, cfg session.Config) *harness {
	t.Helper()
	h := &harness{t: t, clock: fakeclock.New(epoch), logs: &syncBuffer{}}
	h.mem = memstore.New(memstore.WithClock(h.clock.Now))
	t.Cleanup(func() { h.mem.Close() })
	h.store = backendtest.NewIndexedFaultStore(h.mem)
	h.mgr = h.manager(cfg)
	t.Cleanup(func() { checkNoSecretsInLogs(t, h.logs.String()) })
	return h
}

// logger returns a logger writing to h.logs.
func (h *harness) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// manager returns another manager on the same store and clock.
func (h *harness) manager(cfg session.Config) *session.Manager[UserSession] {
	h.t.Helper()
	if cfg.Now == nil {
		cfg.Now = h.clock.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = h.logger()
	}
	m, err := session.New[UserSession](h.store, cfg)
	if err != nil {
		h.t.Fatalf("session.New: %v", err)
	}
	return m
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession])

// serve runs one request through mgr's middleware. cookie is the raw
// Cookie header value ("" for none).
func serve(mgr *session.Manager[UserSession], method, cookie string, h handlerFunc) *http.Response {
	req := httptest.NewRequest(method, "/", nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	rec := httptest.NewRecorder()
	mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(w, r, mgr.From(r))
	})).ServeHTTP(rec, req)
	return rec.Result()
}

func (h *harness) do(cookie string, fn handlerFunc) *http.Response {
	return serve(h.mgr, http.MethodPost, cookie, fn)
}

// login creates a session holding u and returns its Cookie header value.
func (h *harness) login(u UserSession) string {
	h.t.Helper()
	res := h.do("", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.Set(u); err != nil {
			h.t.Errorf("Set: %v", err)
		}
	})
	c := sessionCookie(h.t, res, "session")
	if c == nil || c.Value == "" {
		h.t.Fatalf("login set no session cookie; headers %v", res.Header)
	}
	return c.Name + "=" + c.Value
}

// get reads the session with the given cookie.
func (h *harness) get(cookie string) (UserSession, bool) {
	h.t.Helper()
	var (
		u  UserSession
		ok bool
	)
	h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		var err error
		if u, ok, err = s.Get(); err != nil {
			h.t.Errorf("Get: %v", err)
		}
	})
	return u, ok
}

// sessionCookie returns the response's Set-Cookie for name, or nil.
func sessionCookie(t testing.TB, res *http.Response, name string) *http.Cookie {
	t.Helper()
	var found *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == name {
			if found != nil {
				t.Errorf("two Set-Cookie headers for %q", name)
			}
			found = c
		}
	}
	return found
}

// storedEnvelope returns the envelope stored for a cookie header value.
func (h *harness) storedEnvelope(cookie string) (envelope.Envelope, backend.Record, error) {
	h.t.Helper()
	tok := strings.TrimPrefix(cookie, "session=")
	rec, err := h.mem.Load(context.Background(), token.Key(tok))
	if err != nil {
		return envelope.Envelope{}, rec, err
	}
	e, err := envelope.Parse(rec.Data)
	if err != nil {
		h.t.Fatalf("stored record is not an envelope: %v", err)
	}
	return e, rec, nil
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func newJar(t *testing.T) *cookiejar.Jar {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return jar
}
