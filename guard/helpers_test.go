package guard_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
	"github.com/typedsession/session/backend/memstore"
)

// User is the session type of the tests.
type User struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

func isAdmin(u User) bool {
	for _, r := range u.Roles {
		if r == "admin" {
			return true
		}
	}
	return false
}

// env is a manager over a store that counts calls and can be taken down
// (down), plus a way to log in.
type env struct {
	t     *testing.T
	mgr   *session.Manager[User]
	store *backendtest.FaultStore
}

// down makes every Load fail as an unreachable store does.
func (e *env) down() {
	e.store.Always(backendtest.OpLoad, backendtest.Fault{
		Err: fmt.Errorf("outage: dial tcp: connection refused: %w", backend.ErrUnavailable),
	})
}

func newEnv(t *testing.T) *env {
	t.Helper()
	mem := memstore.New()
	t.Cleanup(func() { _ = mem.Close() })
	e := &env{t: t, store: backendtest.NewFaultStore(mem)}
	mgr, err := session.New[User](e.store, session.Config{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	e.mgr = mgr
	return e
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// login creates a session holding u and returns the Cookie header value
// that carries it.
func (e *env) login(u User) string {
	e.t.Helper()
	h := e.mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := e.mgr.From(r).Set(u); err != nil {
			e.t.Errorf("Set: %v", err)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/login", nil))
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Value == "" {
		e.t.Fatalf("login set cookies %v", cookies)
	}
	e.store.ResetCalls()
	return cookies[0].Name + "=" + cookies[0].Value
}

// serve runs one request through the manager's middleware and h.
func (e *env) serve(h http.Handler, method, target, cookie, accept string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	e.mgr.Middleware(h).ServeHTTP(rec, req)
	return rec
}

// hello answers "hello <name>" to the guarded user.
func hello(w http.ResponseWriter, _ *http.Request, _ *session.Session[User], u User) {
	fmt.Fprintf(w, "hello %s", u.Name)
}

const (
	acceptBrowser = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
	acceptJSON    = "application/json"
	acceptProblem = "application/problem+json"
)

func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %q", rec.Code, status, rec.Body.String())
	}
}

func wantHeader(t *testing.T, rec *httptest.ResponseRecorder, name, want string) {
	t.Helper()
	if got := rec.Header().Get(name); got != want {
		t.Errorf("%s: %q, want %q", name, got, want)
	}
}

func wantBodyContains(t *testing.T, rec *httptest.ResponseRecorder, want string) {
	t.Helper()
	if !strings.Contains(rec.Body.String(), want) {
		t.Errorf("body %q does not contain %q", rec.Body.String(), want)
	}
}
