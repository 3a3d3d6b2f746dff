// Package sessiontest helps applications test their own handlers with
// typed sessions: a Manager on a memory store with a clock the test
// controls, visitors that log in with a given value and carry their cookie
// from response to response as a browser would, and a look at what a
// visitor's session holds after a response.
//
//	kit := sessiontest.New[UserSession](t, session.Config{})
//	ann := kit.Login(UserSession{UserID: "ann"})
//	rec := ann.Do(app, ann.NewRequest(http.MethodPost, "/cart", strings.NewReader("item=tea")))
//	got, ok := ann.Data() // what the next request of ann will see
//	kit.Advance(31 * time.Minute) // past the idle timeout: ann's session is gone
//
// Everything runs in process, through the manager's Middleware, exactly as
// in production apart from the store and the clock.
package sessiontest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/memstore"
)

// Clock is a clock that moves only when told to. It is safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the time the clock shows.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Kit is a Manager on a memory store, both reading the time from one
// Clock, for tests of handlers that use sessions of type T.
type Kit[T any] struct {
	// Manager is the manager under test. Wrap the handlers under test
	// in nothing: Visitor.Do runs them through Manager.Middleware.
	Manager *session.Manager[T]

	// Store is the memory store behind Manager.
	Store *memstore.Store

	// Clock is the time source of Manager and Store. It starts at noon
	// UTC on 1 January 2026.
	Clock *Clock

	t          testing.TB
	cookieName string
}

// New returns a Kit whose manager is configured by cfg, except that its
// clock (cfg.Now) is the kit's. It fails the test at once if session.New
// refuses cfg or T. The store is closed when the test ends.
func New[T any](t testing.TB, cfg session.Config) *Kit[T] {
	t.Helper()
	clock := NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	store := memstore.New(memstore.WithClock(clock.Now))
	t.Cleanup(func() { _ = store.Close() })
	cfg.Now = clock.Now
	mgr, err := session.New[T](store, cfg)
	if err != nil {
		t.Fatalf("sessiontest: session.New: %v", err)
	}
	name := cfg.Cookie.Name
	if name == "" {
		name = session.DefaultCookieName
	}
	return &Kit[T]{Manager: mgr, Store: store, Clock: clock, t: t, cookieName: name}
}

// Advance moves the kit's clock forward by d, expiring the sessions whose
// idle timeout or lifetime it passes.
func (k *Kit[T]) Advance(d time.Duration) { k.Clock.Advance(d) }

// Visitor returns a visitor without a session, like a browser on its first
// visit.
func (k *Kit[T]) Visitor() *Visitor[T] { return &Visitor[T]{kit: k} }

// Login returns a visitor whose session holds v, logged in as an app's
// login handler would: with Session.Renew, so the visitor holds a fresh
// ID. It fails the test if the session cannot be written.
func (k *Kit[T]) Login(v T) *Visitor[T] {
	k.t.Helper()
	vis := k.Visitor()
	vis.Do(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := k.Manager.From(r).Renew(v); err != nil {
			k.t.Errorf("sessiontest: Login: %v", err)
		}
	}), vis.NewRequest(http.MethodPost, "/", nil))
	if vis.cookie == nil {
		k.t.Fatalf("sessiontest: Login set no session cookie")
	}
	return vis
}

// Visitor is one browser: it sends its session cookie with each request it
// makes and keeps the cookie each response sets, renewed or cleared. A
// Visitor is not safe for concurrent use; for parallel requests, take the
// request from NewRequest first and run them with the Manager's Middleware
// yourself.
type Visitor[T any] struct {
	kit    *Kit[T]
	cookie *http.Cookie
}

// Cookie returns the session cookie the visitor holds, or nil if it holds
// none (never logged in, or logged out).
func (v *Visitor[T]) Cookie() *http.Cookie {
	if v.cookie == nil {
		return nil
	}
	c := *v.cookie
	return &c
}

// NewRequest returns a request as httptest.NewRequest does, carrying the
// visitor's session cookie if it holds one. A body is sent as a form
// (Content-Type application/x-www-form-urlencoded).
func (v *Visitor[T]) NewRequest(method, target string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, target, body)
	if body != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if v.cookie != nil {
		r.AddCookie(&http.Cookie{Name: v.cookie.Name, Value: v.cookie.Value})
	}
	return r
}

// Do serves r with h behind the kit's Manager.Middleware, keeps the session
// cookie the response sets (a renewal replaces the visitor's cookie, a
// logout clears it) and returns the recorded response.
func (v *Visitor[T]) Do(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	v.kit.Manager.Middleware(h).ServeHTTP(rec, r)
	for _, c := range rec.Result().Cookies() {
		if c.Name != v.kit.cookieName {
			continue
		}
		if c.MaxAge < 0 || c.Value == "" {
			v.cookie = nil
		} else {
			v.cookie = c
		}
	}
	return rec
}

// Data returns what the visitor's next request would find in its session:
// the stored value and true, or the zero value and false if the visitor
// has no live session. It reads through the Manager, so a session past its
// idle timeout or lifetime on the kit's clock is not found. It fails the
// test if the store cannot be read.
func (v *Visitor[T]) Data() (T, bool) {
	v.kit.t.Helper()
	var (
		got T
		ok  bool
		err error
	)
	v.Do(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok, err = v.kit.Manager.From(r).Get()
	}), v.NewRequest(http.MethodGet, "/", nil))
	if err != nil {
		v.kit.t.Fatalf("sessiontest: reading the session: %v", err)
	}
	return got, ok
}
