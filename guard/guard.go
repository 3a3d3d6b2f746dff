// Package guard protects net/http handlers with typed sessions.
//
// A guard loads the visitor's session through a session.Manager and lets
// the request through only when the session satisfies it; the protected
// handler then receives the session, to change it, and the data the guard
// verified, as a typed value:
//
//	mux.Handle("GET /me", guard.Require(mgr, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession], u UserSession) {
//		fmt.Fprintln(w, "hello", u.User)
//	}))
//	mux.Handle("GET /admin", guard.Allow(mgr, isAdmin, adminHandler))
//	http.ListenAndServe(addr, mgr.Middleware(mux))
//
// The statuses follow HTTP's meaning:
//
//   - no session (never logged in, expired, logged out, forged cookie):
//     401 Unauthorized;
//   - a session that the predicate or check refuses: 403 Forbidden, or the
//     status of an error created with Deny;
//   - a session store that cannot be read: 503 Service Unavailable with
//     Retry-After. A guard never answers a store failure with 401: the
//     visitor may well be logged in, and a 401 would send them to log in
//     again for nothing.
//
// The response fits the client (see Respond): RFC 9457 problem details for
// JSON clients, a redirect to the login page for browsers when
// WithLoginRedirect is set, plain text otherwise. WithResponder replaces
// it altogether. Every refusal carries Cache-Control: no-store.
//
// Guards compose: any number of them on one route load the session once in
// total, because a session caches what it loaded for the whole request.
// Guards must run inside the manager's Middleware.
package guard

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/internal/httpheader"
)

// HandlerFunc is a handler that runs only behind a guard. It receives the
// request's session, to change it (Update, Set, RenewID, Destroy), and the
// session data the guard verified. The value shares slices and maps with
// the session: treat it as read-only and change the session through s.
type HandlerFunc[T any] func(w http.ResponseWriter, r *http.Request, s *session.Session[T], v T)

// Sentinel errors found (with errors.Is) in Denial.Err.
var (
	// ErrNoSession is the cause of a 401: the request has no session.
	ErrNoSession = errors.New("guard: no session")

	// ErrForbidden is the cause of a 403 from Allow: the predicate
	// refused the session.
	ErrForbidden = errors.New("guard: forbidden")
)

// DefaultRetryAfter is the Retry-After of a 503 unless WithRetryAfter
// says otherwise.
const DefaultRetryAfter = time.Second

// Require returns a handler that calls h with the session data when the
// request has a session, answers 401 Unauthorized when it has none and 503
// Service Unavailable when the store cannot be read. It panics if m or h
// is nil.
func Require[T any](m *session.Manager[T], h HandlerFunc[T], opts ...Option) http.Handler {
	return newGuard(m, nil, opts).handler(h)
}

// Allow returns a handler like Require that also asks pred about the
// session data: if pred returns false, the answer is 403 Forbidden (the
// visitor is known but may not do this), not 401. pred must not call
// methods of the session. It panics if m, pred or h is nil.
func Allow[T any](m *session.Manager[T], pred func(T) bool, h HandlerFunc[T], opts ...Option) http.Handler {
	return newGuard(m, predicate(pred), opts).handler(h)
}

// Check returns a handler like Require that also runs check on the request
// and the session data. If check returns nil, h runs. Otherwise the answer
// is:
//
//   - the status of the first error in the chain that has a method
//     Status() int returning a 4xx or 5xx code, such as the errors made by
//     Deny; if that error also has a method Detail() string, its result is
//     shown to the client;
//   - 503 Service Unavailable if the error wraps backend.ErrUnavailable
//     (check consulted the store and it failed);
//   - 403 Forbidden for any other error, whose text is logged at debug
//     level but not shown to the client.
//
// It panics if m, check or h is nil.
func Check[T any](m *session.Manager[T], check func(r *http.Request, v T) error, h HandlerFunc[T], opts ...Option) http.Handler {
	if check == nil {
		panic("guard: Check with a nil check")
	}
	return newGuard(m, check, opts).handler(h)
}

// RequireMiddleware returns Require as middleware, for routers and route
// groups: next runs only for requests with a session, and reaches the
// session data with Data. The result must itself run inside
// m.Middleware. It panics if m is nil.
func RequireMiddleware[T any](m *session.Manager[T], opts ...Option) func(http.Handler) http.Handler {
	return newGuard(m, nil, opts).middleware
}

// AllowMiddleware returns Allow as middleware; next reaches the session
// data with Data. It panics if m or pred is nil.
func AllowMiddleware[T any](m *session.Manager[T], pred func(T) bool, opts ...Option) func(http.Handler) http.Handler {
	return newGuard(m, predicate(pred), opts).middleware
}

// CheckMiddleware returns Check as middleware; next reaches the session
// data with Data. It panics if m or check is nil.
func CheckMiddleware[T any](m *session.Manager[T], check func(r *http.Request, v T) error, opts ...Option) func(http.Handler) http.Handler {
	if check == nil {
		panic("guard: CheckMiddleware with a nil check")
	}
	return newGuard(m, check, opts).middleware
}

// Data returns the session data that the innermost guard for type T let
// through on the way to r, and false if no such guard did. Sessions of
// different types do not clash; with two managers of the same type T, the
// innermost guard wins. Like the value a HandlerFunc receives, the data is
// read-only; use Session.Update to change it.
func Data[T any](r *http.Request) (T, bool) {
	v, ok := r.Context().Value(dataKey[T]{}).(T)
	return v, ok
}

// dataKey is the context key of the data of type T: a distinct type per T,
// private to this package.
type dataKey[T any] struct{}

// Deny returns an error that makes a Check guard answer with status (a 4xx
// or 5xx code; anything else is answered with 403) and show detail to the
// client. Wrap it to add context for the logs: the guard finds it with
// errors.As.
func Deny(status int, detail string) error {
	return &denied{status: status, detail: detail}
}

type denied struct {
	status int
	detail string
}

func (d *denied) Error() string {
	return "guard: denied with " + strconv.Itoa(d.status) + ": " + d.detail
}

// Status returns the HTTP status the guard answers with.
func (d *denied) Status() int { return d.status }

// Detail returns the explanation shown to the client.
func (d *denied) Detail() string { return d.detail }

// guard is the logic every constructor shares.
type guard[T any] struct {
	m     *session.Manager[T]
	check func(*http.Request, T) error // nil: a session is enough
	cfg   config
}

func newGuard[T any](m *session.Manager[T], check func(*http.Request, T) error, opts []Option) *guard[T] {
	if m == nil {
		panic("guard: nil *session.Manager")
	}
	g := &guard[T]{m: m, check: check, cfg: config{retryAfter: DefaultRetryAfter}}
	for _, o := range opts {
		o(&g.cfg)
	}
	if g.cfg.respond == nil {
		g.cfg.respond = Respond
	}
	if g.cfg.log == nil {
		g.cfg.log = slog.Default()
	}
	return g
}

func predicate[T any](pred func(T) bool) func(*http.Request, T) error {
	if pred == nil {
		panic("guard: nil predicate")
	}
	return func(_ *http.Request, v T) error {
		if pred(v) {
			return nil
		}
		return ErrForbidden
	}
}

func (g *guard[T]) handler(h HandlerFunc[T]) http.Handler {
	if h == nil {
		panic("guard: nil handler")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v, r, ok := g.admit(w, r); ok {
			h(w, r, g.m.From(r), v)
		}
	})
}

func (g *guard[T]) middleware(next http.Handler) http.Handler {
	if next == nil {
		panic("guard: nil next handler")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, r, ok := g.admit(w, r); ok {
			next.ServeHTTP(w, r)
		}
	})
}

// admit decides about r. If the request may go on, it returns the session
// data and the request carrying it for Data; otherwise it has written the
// refusal.
func (g *guard[T]) admit(w http.ResponseWriter, r *http.Request) (T, *http.Request, bool) {
	v, ok, err := g.m.From(r).Get()
	switch {
	case errors.Is(err, session.ErrNoMiddleware):
		g.cfg.log.ErrorContext(r.Context(), "guard used outside the session middleware",
			slog.String("method", r.Method), slog.String("path", r.URL.Path))
		g.deny(w, r, Denial{Status: http.StatusInternalServerError, Err: err,
			Detail: "The server is misconfigured."})
		return v, r, false
	case err != nil:
		g.unavailable(w, r, err)
		return v, r, false
	case !ok:
		g.deny(w, r, Denial{Status: http.StatusUnauthorized, Err: ErrNoSession,
			Detail: "You need to log in first."})
		return v, r, false
	}
	if g.check != nil {
		if err := g.check(r, v); err != nil {
			g.refuse(w, r, err)
			return v, r, false
		}
	}
	return v, r.WithContext(context.WithValue(r.Context(), dataKey[T]{}, v)), true
}

// unavailable answers a store failure.
func (g *guard[T]) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	level := slog.LevelError
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		level = slog.LevelDebug // the client went away; the store may be fine
	}
	g.cfg.log.Log(r.Context(), level, "guard: session store unavailable",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
	g.deny(w, r, Denial{Status: http.StatusServiceUnavailable, Err: err,
		Detail: "Sessions cannot be read right now; try again shortly."})
}

// refuse answers an error from a check.
func (g *guard[T]) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var se interface{ Status() int }
	if errors.As(err, &se) {
		if status := se.Status(); status >= 400 && status <= 599 {
			d := Denial{Status: status, Err: err}
			if dd, ok := se.(interface{ Detail() string }); ok {
				d.Detail = dd.Detail()
			}
			g.deny(w, r, d)
			return
		}
	}
	if errors.Is(err, backend.ErrUnavailable) {
		g.unavailable(w, r, err)
		return
	}
	if !errors.Is(err, ErrForbidden) {
		g.cfg.log.DebugContext(r.Context(), "guard: check refused the request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
	}
	g.deny(w, r, Denial{Status: http.StatusForbidden, Err: err, Detail: "You are not allowed to do this."})
}

// deny completes d, sets the headers every refusal carries and hands it
// to the responder.
func (g *guard[T]) deny(w http.ResponseWriter, r *http.Request, d Denial) {
	if d.Title == "" {
		d.Title = http.StatusText(d.Status)
	}
	if d.Status == http.StatusUnauthorized && g.cfg.login != nil {
		d.LoginURL = loginURL(g.cfg.login, r)
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	httpheader.AddVary(h, "Accept")
	if d.Status == http.StatusServiceUnavailable {
		h.Set("Retry-After", strconv.Itoa(retrySeconds(g.cfg.retryAfter)))
	}
	if d.Status == http.StatusUnauthorized && g.m.Transport() != session.TransportCookie {
		// RFC 6750: a resource that accepts bearer tokens says so in
		// every 401, also to a request that sent no credentials.
		h.Set("WWW-Authenticate", "Bearer")
	}
	g.cfg.respond(w, r, d)
}

// loginURL returns login with a next parameter naming the current request,
// when that is a local path worth coming back to: only GET and HEAD
// requests are, since following the redirect after the login is a GET.
func loginURL(login *url.URL, r *http.Request) string {
	u := *login
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return u.String()
	}
	next, ok := LocalPath(r.URL.RequestURI())
	if !ok {
		return u.String()
	}
	q := u.Query()
	q.Set("next", next)
	u.RawQuery = q.Encode()
	return u.String()
}

func retrySeconds(d time.Duration) int {
	return max(int((d+time.Second-1)/time.Second), 1)
}
