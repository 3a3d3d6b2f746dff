package main

import (
	"cmp"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/codec"
	"github.com/typedsession/session/guard"
)

// UserSession is what the demo keeps per visitor. The json tags serve
// every codec: msgpack honours them too.
type UserSession struct {
	User   string   `json:"user"`
	Roles  []string `json:"roles"`
	Cart   []string `json:"cart"`
	Visits int      `json:"visits"`
}

// isAdmin is the predicate of GET /admin.
func isAdmin(u UserSession) bool { return slices.Contains(u.Roles, "admin") }

// forJSON returns u with empty lists as [] rather than null: gob and
// msgpack give nil slices back for empty ones.
func (u UserSession) forJSON() UserSession {
	if u.Roles == nil {
		u.Roles = []string{}
	}
	if u.Cart == nil {
		u.Cart = []string{}
	}
	return u
}

// Limits of the demo's input.
const (
	maxUserLen = 64   // bytes of [A-Za-z0-9_.-]
	maxItemLen = 64   // characters
	maxCart    = 100  // items in a cart
	maxForm    = 4096 // bytes of a form body
)

// errCartFull is returned by the cart's Update function. It reaches the
// session's ErrorHandler if the cart fills up between this request's
// Update and its commit (the function is then replayed on fresher data).
var errCartFull = fmt.Errorf("the cart holds at most %d items", maxCart)

// appConfig is what newApp needs. Store is required; zero values of the
// other fields select the session package's defaults.
type appConfig struct {
	Store       backend.Store
	Codec       codec.Codec
	Transport   session.Transport
	Now         func() time.Time // the clock; default time.Now (tests pass sessiontest's)
	IdleTimeout time.Duration
	Lifetime    time.Duration
	Logger      *slog.Logger
}

// app holds the demo's handlers and what they share.
type app struct {
	mgr  *session.Manager[UserSession]
	page *template.Template
	log  *slog.Logger
}

//go:embed page.html
var pageHTML string

// newApp returns the demo's HTTP handler: every route of the demo's
// contract behind the session middleware, CSRF protection and an access
// log.
func newApp(cfg appConfig) (http.Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("demo: no session store")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	page, err := template.New("page").Parse(pageHTML)
	if err != nil {
		return nil, fmt.Errorf("demo: page template: %w", err)
	}
	a := &app{page: page, log: log}
	a.mgr, err = session.New[UserSession](cfg.Store, session.Config{
		Codec:        cfg.Codec,
		Transport:    cfg.Transport,
		Now:          cfg.Now,
		IdleTimeout:  cfg.IdleTimeout,
		Lifetime:     cfg.Lifetime,
		Logger:       log,
		ErrorHandler: a.commitFailed,
		// Each session is indexed under its user, so that the user can
		// list their sessions and end them (GET /sessions, POST
		// /sessions/revoke, POST /logout-all). A login moves the session
		// into its user's index; a visitor's session has no owner.
		Owner: session.OwnerOf(func(u UserSession) string { return u.User }),
	})
	if err != nil {
		return nil, err
	}

	// Browsers without a session are sent to the page with the login
	// form, which takes them back to where they were going.
	opts := []guard.Option{guard.WithLoginRedirect("/"), guard.WithLogger(log)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("POST /login", a.login)
	mux.Handle("GET /me", guard.Require(a.mgr, a.me, opts...))
	mux.Handle("POST /visit", guard.Require(a.mgr, a.visit, opts...))
	mux.Handle("POST /cart", guard.Require(a.mgr, a.addToCart, opts...))
	mux.Handle("GET /admin", guard.Allow(a.mgr, isAdmin, a.admin, opts...))
	mux.HandleFunc("POST /logout", a.logout)
	mux.Handle("POST /logout-all", guard.Require(a.mgr, a.logoutAll, opts...))
	mux.Handle("GET /sessions", guard.Require(a.mgr, a.sessions, opts...))
	mux.Handle("POST /sessions/revoke", guard.Require(a.mgr, a.revokeSession, opts...))
	mux.HandleFunc("GET /healthz", healthz)

	// Cross-origin POSTs are refused before they reach the session, so
	// the forms need no CSRF tokens: the browser's Sec-Fetch-Site and
	// Origin headers say where a request comes from. The SameSite=Lax
	// cookie alone would not stop a forged login, which needs no cookie.
	var h http.Handler = a.mgr.Middleware(mux)
	h = http.NewCrossOriginProtection().Handler(h)
	return a.accessLog(commonHeaders(h)), nil
}

// home renders the page: the flash messages of the last redirect, the
// login form for visitors, the user, their cart and the forms for everyone
// logged in. It changes the session only by consuming the flashes.
func (a *app) home(w http.ResponseWriter, r *http.Request) {
	s := a.mgr.From(r)
	u, ok, err := s.Get()
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	flashes, err := s.Flashes()
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	next, _ := guard.LocalPath(r.URL.Query().Get("next"))
	a.render(w, http.StatusOK, pageData{LoggedIn: ok, User: u, Admin: isAdmin(u), Next: next, Flashes: flashes})
}

// pageData is what page.html shows.
type pageData struct {
	LoggedIn bool
	User     UserSession
	Admin    bool
	Next     string // where to go after logging in
	Error    string // a message about the last form sent
	Nonce    string // the Content-Security-Policy nonce of the style sheet
	Flashes  []session.Flash

	// The GET /sessions page: the user's sessions, or why the store
	// cannot list them.
	SessionsPage        bool
	Sessions            []session.SessionInfo
	SessionsUnsupported string
}

func (a *app) render(w http.ResponseWriter, status int, d pageData) {
	nonce, err := newNonce()
	if err != nil {
		a.log.Error("demo: CSP nonce", slog.Any("error", err))
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	d.Nonce = nonce
	var b strings.Builder
	if err := a.page.Execute(&b, d); err != nil {
		a.log.Error("demo: rendering the page", slog.Any("error", err))
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+nonce+"'; "+
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

func newNonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// login starts a fresh session for the user named in the form.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	user := r.PostFormValue("user")
	if !validUser(user) {
		a.badRequest(w, r, "The user name must be 1 to 64 characters from A-Z, a-z, 0-9, '_', '.' and '-'.",
			pageData{Next: r.PostFormValue("next")})
		return
	}
	roles := []string{}
	if user == "admin" {
		roles = []string{"admin"}
	}
	data := UserSession{User: user, Roles: roles, Cart: []string{}}

	// Destroy, then Set: the session that existed before the login (if
	// any) is deleted and the new data goes to a new ID, so no ID and no
	// data survive a login. Renewing the ID of the old session instead
	// (Set, then RenewID) would get there too, but would first write the
	// new user's data under the old ID for a moment; if that ID had been
	// planted by an attacker (session fixation), the attacker could read
	// the new session in that moment.
	s := a.mgr.From(r)
	if err := s.Destroy(); err != nil {
		a.sessionFailed(w, r, err)
		return
	}
	if err := s.Set(data); err != nil {
		a.sessionFailed(w, r, err)
		return
	}
	// "Remember me": this session's cookie outlives the browser session.
	if err := s.SetPersist(r.PostFormValue("remember") == "on"); err != nil {
		a.sessionFailed(w, r, err)
		return
	}
	if guard.PrefersHTML(r) {
		if err := s.AddFlash(session.Flash{Level: session.FlashSuccess, Text: "Logged in as " + user + "."}); err != nil {
			a.sessionFailed(w, r, err)
			return
		}
		next, ok := guard.LocalPath(r.PostFormValue("next"))
		if !ok {
			next = "/"
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	a.writeJSON(w, http.StatusOK, data)
}

// validUser reports whether name is 1 to maxUserLen characters from
// [A-Za-z0-9_.-].
func validUser(name string) bool {
	if name == "" || len(name) > maxUserLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// me answers the session data. It only reads: no store write.
func (a *app) me(w http.ResponseWriter, _ *http.Request, _ *session.Session[UserSession], u UserSession) {
	a.writeJSON(w, http.StatusOK, u)
}

// admin is for users with the admin role.
func (a *app) admin(w http.ResponseWriter, _ *http.Request, _ *session.Session[UserSession], u UserSession) {
	a.writeJSON(w, http.StatusOK, u)
}

// visit counts a visit.
func (a *app) visit(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession], _ UserSession) {
	err := s.Update(func(u *UserSession) error {
		u.Visits++
		return nil
	})
	if err != nil {
		a.sessionFailed(w, r, err)
		return
	}
	a.changed(w, r)
}

// addToCart appends the form's item to the cart.
func (a *app) addToCart(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession], _ UserSession) {
	if !a.parseForm(w, r) {
		return
	}
	item := r.PostFormValue("item")
	if !validItem(item) {
		a.badRequest(w, r, "An item must be 1 to 64 characters of text.", pageData{})
		return
	}
	err := s.Update(func(u *UserSession) error {
		if len(u.Cart) >= maxCart {
			return errCartFull
		}
		u.Cart = append(u.Cart, item)
		return nil
	})
	switch {
	case errors.Is(err, errCartFull):
		a.badRequest(w, r, "The cart is full.", pageData{})
		return
	case err != nil:
		a.sessionFailed(w, r, err)
		return
	}
	a.changed(w, r)
}

// validItem reports whether item is 1 to maxItemLen characters of valid
// UTF-8 without control characters.
func validItem(item string) bool {
	if item == "" || !utf8.ValidString(item) || utf8.RuneCountInString(item) > maxItemLen {
		return false
	}
	return !strings.ContainsFunc(item, unicode.IsControl)
}

// logout ends the session. The old cookie is then worthless: its record
// is deleted from the store. Browsers get a "logged out" flash on the page
// they are sent to: a session of flashes only, which lets nobody in.
func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	s := a.mgr.From(r)
	if err := s.Destroy(); err != nil {
		a.sessionFailed(w, r, err)
		return
	}
	if guard.PrefersHTML(r) {
		if err := s.AddFlash(session.Flash{Level: session.FlashInfo, Text: "Logged out."}); err != nil {
			a.sessionFailed(w, r, err)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// logoutAll ends every session of the user, on every device and every
// instance of the demo, this one included: "log out everywhere". Other
// users' sessions are untouched.
func (a *app) logoutAll(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession], u UserSession) {
	n, err := a.mgr.RevokeOwner(r.Context(), u.User)
	if err != nil {
		a.ownerFailed(w, r, err)
		return
	}
	// The store record of this session is gone already; Destroy also
	// clears the cookie, so the browser stops sending a dead ID.
	if err := s.Destroy(); err != nil {
		a.sessionFailed(w, r, err)
		return
	}
	if guard.PrefersHTML(r) {
		text := fmt.Sprintf("Logged out everywhere: %d session%s ended.", n, plural(n))
		if err := s.AddFlash(session.Flash{Level: session.FlashInfo, Text: text}); err != nil {
			a.sessionFailed(w, r, err)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// sessionJSON is one session in the JSON answer of GET /sessions.
type sessionJSON struct {
	Handle    string    `json:"handle"` // for POST /sessions/revoke
	Created   time.Time `json:"created"`
	LastWrite time.Time `json:"last_write"`
	Expires   time.Time `json:"expires"`
	Current   bool      `json:"current"` // the session of this request
}

// sessions lists the user's sessions, the current one first, then the
// newest: as JSON, or on the page with a button to end each other one.
func (a *app) sessions(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession], u UserSession) {
	// r.Context() carries this request's session: Sessions marks it
	// Current.
	list, err := a.mgr.Sessions(r.Context(), u.User)
	if errors.Is(err, session.ErrUnsupported) && guard.PrefersHTML(r) {
		a.sessionsPage(w, r, s, u, nil, false)
		return
	}
	if err != nil {
		a.ownerFailed(w, r, err)
		return
	}
	slices.SortFunc(list, func(x, y session.SessionInfo) int {
		switch {
		case x.Current != y.Current:
			if x.Current {
				return -1
			}
			return 1
		case !x.Created.Equal(y.Created):
			return y.Created.Compare(x.Created)
		}
		return strings.Compare(x.Handle, y.Handle)
	})
	if guard.PrefersHTML(r) {
		a.sessionsPage(w, r, s, u, list, true)
		return
	}
	out := struct {
		Sessions []sessionJSON `json:"sessions"`
	}{Sessions: make([]sessionJSON, 0, len(list))}
	for _, si := range list {
		out.Sessions = append(out.Sessions, sessionJSON{Handle: si.Handle, Created: si.Created,
			LastWrite: si.LastWrite, Expires: si.Expires, Current: si.Current})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if err := json.NewEncoder(w).Encode(out); err != nil {
		a.log.Debug("demo: writing the response", slog.Any("error", err))
	}
}

// sessionsPage renders the page with the user's sessions, or with the
// notice that this store cannot list them.
func (a *app) sessionsPage(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession], u UserSession,
	list []session.SessionInfo, supported bool) {
	flashes, err := s.Flashes()
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	d := pageData{LoggedIn: true, User: u, Admin: isAdmin(u), Flashes: flashes, SessionsPage: true, Sessions: list}
	status := http.StatusOK
	if !supported {
		status, d.SessionsUnsupported = http.StatusNotImplemented, msgUnsupported
	}
	a.render(w, status, d)
}

// revokeSession ends the user's session named by the form's handle (from
// GET /sessions): "sign out that laptop". Naming the current session is
// a logout. A handle that names none of the user's live sessions, another
// user's included, is 404.
func (a *app) revokeSession(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession], u UserSession) {
	if !a.parseForm(w, r) {
		return
	}
	h := r.PostFormValue("handle")
	if h == "" {
		a.badRequest(w, r, "No session named: the form needs a handle from GET /sessions.", pageData{})
		return
	}
	list, err := a.mgr.Sessions(r.Context(), u.User)
	if err != nil {
		a.ownerFailed(w, r, err)
		return
	}
	if i := slices.IndexFunc(list, func(si session.SessionInfo) bool { return si.Handle == h }); i >= 0 && list[i].Current {
		a.logout(w, r)
		return
	}
	if err := a.mgr.RevokeSession(r.Context(), u.User, h); err != nil {
		a.ownerFailed(w, r, err)
		return
	}
	if guard.PrefersHTML(r) {
		if err := s.AddFlash(session.Flash{Level: session.FlashInfo, Text: "Signed out the other session."}); err != nil {
			a.sessionFailed(w, r, err)
			return
		}
		http.Redirect(w, r, "/sessions", http.StatusSeeOther)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// msgUnsupported explains a 501 from the routes that list or end a
// user's sessions.
const msgUnsupported = "Listing and ending your sessions is not available with this session backend: " +
	"it keeps no index of sessions by user. The cookie backend keeps each session in its browser's cookie, " +
	"so the server has no list of them."

// ownerFailed answers an error from Sessions, RevokeOwner or
// RevokeSession: 501 for a store without an owner index, 404 for an
// unknown handle, 503 for a store that cannot be reached.
func (a *app) ownerFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, session.ErrUnsupported):
		a.refuse(w, r, http.StatusNotImplemented, msgUnsupported, pageData{})
	case errors.Is(err, backend.ErrNotFound):
		a.refuse(w, r, http.StatusNotFound, "None of your sessions has that handle; it may have ended already.", pageData{})
	default:
		a.sessionFailed(w, r, err)
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// changed answers a request that changed the session: browsers go back to
// the page, API clients get the session data as stored.
func (a *app) changed(w http.ResponseWriter, r *http.Request) {
	if guard.PrefersHTML(r) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	// Writing the header commits the session. If a parallel request of
	// the same visitor committed first, the commit replays this request's
	// Update on the fresh data, so read the data after it: the answer
	// then shows what the store holds, every parallel change included.
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	u, _, err := a.mgr.From(r).Get()
	if err != nil {
		return // cannot happen after a commit; the response is out anyway
	}
	a.encode(w, u)
}

func (a *app) writeJSON(w http.ResponseWriter, status int, u UserSession) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	a.encode(w, u)
}

func (a *app) encode(w http.ResponseWriter, u UserSession) {
	if err := json.NewEncoder(w).Encode(u.forJSON()); err != nil {
		a.log.Debug("demo: writing the response", slog.Any("error", err))
	}
}

// parseForm reads a form body of at most maxForm bytes; on failure it has
// answered 400.
func (a *app) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		a.badRequest(w, r, "The form could not be read.", pageData{})
		return false
	}
	return true
}

// badRequest answers 400: browsers see the page again with the message,
// other clients get it as problem details or text.
func (a *app) badRequest(w http.ResponseWriter, r *http.Request, msg string, d pageData) {
	a.refuse(w, r, http.StatusBadRequest, msg, d)
}

// refuse answers a 4xx or 5xx status with msg for the client: browsers
// see the page again with the message, other clients get it as problem
// details or text.
func (a *app) refuse(w http.ResponseWriter, r *http.Request, status int, msg string, d pageData) {
	if guard.PrefersHTML(r) {
		u, ok, err := a.mgr.From(r).Get()
		if err != nil {
			a.unavailable(w, r, err)
			return
		}
		d.LoggedIn, d.User, d.Admin, d.Error = ok, u, isAdmin(u), msg
		d.Next, _ = guard.LocalPath(d.Next)
		a.render(w, status, d)
		return
	}
	guard.Respond(w, r, guard.Denial{Status: status, Detail: msg})
}

// sessionFailed answers an error from a session method: the store is
// unavailable, or (a bug) the session was changed after its commit.
func (a *app) sessionFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, backend.ErrUnavailable) || r.Context().Err() != nil {
		a.unavailable(w, r, err)
		return
	}
	a.log.ErrorContext(r.Context(), "demo: session", slog.String("path", r.URL.Path), slog.Any("error", err))
	guard.Respond(w, r, guard.Denial{Status: http.StatusInternalServerError, Err: err})
}

// unavailable answers 503 for a store that cannot be reached.
func (a *app) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	a.log.ErrorContext(r.Context(), "demo: session store unavailable",
		slog.String("path", r.URL.Path), slog.Any("error", err))
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Cache-Control", "no-store")
	guard.Respond(w, r, guard.Denial{Status: http.StatusServiceUnavailable, Err: err,
		Detail: "Sessions cannot be read right now; try again shortly."})
}

// commitFailed is the session ErrorHandler: it answers a failed commit in
// the same forms as every other error.
func (a *app) commitFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, backend.ErrUnavailable):
		a.unavailable(w, r, err)
	case errors.Is(err, errCartFull):
		guard.Respond(w, r, guard.Denial{Status: http.StatusBadRequest, Err: err, Detail: "The cart is full."})
	case errors.Is(err, session.ErrGone):
		// Logged out (or logged in again) in another tab meanwhile.
		guard.Respond(w, r, guard.Denial{Status: http.StatusConflict, Err: err,
			Detail: "The session ended while this request was running."})
	default:
		a.log.ErrorContext(r.Context(), "demo: session commit failed",
			slog.String("path", r.URL.Path), slog.Any("error", err))
		guard.Respond(w, r, guard.Denial{Status: http.StatusInternalServerError, Err: err})
	}
}

// commonHeaders sets the headers every response carries.
func commonHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// accessLog logs each request at info level.
func (a *app) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		a.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", cmp.Or(sw.status, http.StatusOK)), slog.Duration("duration", time.Since(start)))
	})
}

// statusWriter records the status of a response. Unwrap keeps
// http.ResponseController working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
