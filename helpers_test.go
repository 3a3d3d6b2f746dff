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
	"sync/atomic"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
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

// probeStore wraps a store, counts calls per method and injects faults.
type probeStore struct {
	backend.Store
	loads, creates, updates, touches, deletes atomic.Int64

	mu        sync.Mutex
	failLoad  error // returned by Load when set
	failWrite error // returned by Create, Update, Touch and Delete when set
	onUpdate  func() error
	onCreate  func()
}

type faults struct {
	load, write error
	onUpdate    func() error
}

func (p *probeStore) faults() faults {
	p.mu.Lock()
	defer p.mu.Unlock()
	return faults{p.failLoad, p.failWrite, p.onUpdate}
}

func (p *probeStore) setFaults(load, write error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failLoad, p.failWrite = load, write
}

func (p *probeStore) Load(ctx context.Context, key string) (backend.Record, error) {
	p.loads.Add(1)
	if err := p.faults().load; err != nil {
		return backend.Record{}, err
	}
	return p.Store.Load(ctx, key)
}

func (p *probeStore) Create(ctx context.Context, key string, data []byte, ttl time.Duration) (uint64, error) {
	p.creates.Add(1)
	if err := p.faults().write; err != nil {
		return 0, err
	}
	p.mu.Lock()
	hook := p.onCreate
	p.mu.Unlock()
	if hook != nil {
		hook()
	}
	return p.Store.Create(ctx, key, data, ttl)
}

func (p *probeStore) Update(ctx context.Context, key string, version uint64, data []byte, ttl time.Duration) (uint64, error) {
	p.updates.Add(1)
	f := p.faults()
	if f.write != nil {
		return 0, f.write
	}
	if f.onUpdate != nil {
		if err := f.onUpdate(); err != nil {
			return 0, err
		}
	}
	return p.Store.Update(ctx, key, version, data, ttl)
}

func (p *probeStore) Touch(ctx context.Context, key string, ttl time.Duration) error {
	p.touches.Add(1)
	if err := p.faults().write; err != nil {
		return err
	}
	return p.Store.Touch(ctx, key, ttl)
}

func (p *probeStore) Delete(ctx context.Context, key string) error {
	p.deletes.Add(1)
	if err := p.faults().write; err != nil {
		return err
	}
	return p.Store.Delete(ctx, key)
}

func (p *probeStore) writes() int64 {
	return p.creates.Load() + p.updates.Load() + p.touches.Load() + p.deletes.Load()
}

func (p *probeStore) total() int64 { return p.loads.Load() + p.writes() }

func (p *probeStore) reset() {
	for _, c := range []*atomic.Int64{&p.loads, &p.creates, &p.updates, &p.touches, &p.deletes} {
		c.Store(0)
	}
}

// harness is a manager on a memory store with a fake clock shared by both.
type harness struct {
	t     testing.TB
	clock *fakeclock.Clock
	mem   *memstore.Store
	store *probeStore
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
	h.store = &probeStore{Store: h.mem}
	h.mgr = h.manager(cfg)
	return h
}

// manager returns another manager on the same store and clock.
func (h *harness) manager(cfg session.Config) *session.Manager[UserSession] {
	h.t.Helper()
	if cfg.Now == nil {
		cfg.Now = h.clock.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
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
