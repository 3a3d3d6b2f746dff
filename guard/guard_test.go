package guard_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/guard"
)

// guardKinds builds every kind of guard around hello, each admitting any
// logged-in user, so that tests can check what they have in common.
func guardKinds(mgr *session.Manager[User], opts ...guard.Option) map[string]http.Handler {
	anyone := func(User) bool { return true }
	pass := func(*http.Request, User) error { return nil }
	data := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := guard.Data[User](r)
		hello(w, r, mgr.From(r), u)
	})
	return map[string]http.Handler{
		"Require":           guard.Require(mgr, hello, opts...),
		"Allow":             guard.Allow(mgr, anyone, hello, opts...),
		"Check":             guard.Check(mgr, pass, hello, opts...),
		"RequireMiddleware": guard.RequireMiddleware(mgr, opts...)(data),
		"AllowMiddleware":   guard.AllowMiddleware(mgr, anyone, opts...)(data),
		"CheckMiddleware":   guard.CheckMiddleware(mgr, pass, opts...)(data),
	}
}

func TestEveryGuardLetsASessionThroughWithItsData(t *testing.T) {
	e := newEnv(t)
	cookie := e.login(User{Name: "ada"})
	for name, h := range guardKinds(e.mgr) {
		t.Run(name, func(t *testing.T) {
			rec := e.serve(h, http.MethodGet, "/me", cookie, "")
			wantStatus(t, rec, http.StatusOK)
			if got := rec.Body.String(); got != "hello ada" {
				t.Errorf("body %q, want the handler to see the typed data", got)
			}
		})
	}
}

func TestEveryGuardAnswersNoSessionWith401(t *testing.T) {
	e := newEnv(t)
	for name, h := range guardKinds(e.mgr) {
		for cookieName, cookie := range map[string]string{
			"no cookie":      "",
			"forged cookie":  "session=" + strings.Repeat("A", 43),
			"garbage cookie": "session=<script>",
		} {
			t.Run(name+"/"+cookieName, func(t *testing.T) {
				rec := e.serve(h, http.MethodGet, "/me", cookie, "")
				wantStatus(t, rec, http.StatusUnauthorized)
				wantHeader(t, rec, "Content-Type", "text/plain; charset=utf-8")
				wantHeader(t, rec, "Cache-Control", "no-store")
				wantBodyContains(t, rec, "Unauthorized: You need to log in first.")
				if strings.Contains(rec.Body.String(), "hello") {
					t.Error("the guarded handler ran")
				}
			})
		}
	}
}

// TestStoreOutageIs503NeverA401 is the guards' central promise: a visitor
// whose session cannot be read is not told to log in.
func TestStoreOutageIs503NeverA401(t *testing.T) {
	e := newEnv(t)
	cookie := e.login(User{Name: "ada"})
	e.down()
	for name, h := range guardKinds(e.mgr, guard.WithLoginRedirect("/login")) {
		for _, accept := range []string{"", acceptBrowser, acceptJSON, "*/*"} {
			t.Run(name+"/"+accept, func(t *testing.T) {
				rec := e.serve(h, http.MethodGet, "/me", cookie, accept)
				wantStatus(t, rec, http.StatusServiceUnavailable)
				wantHeader(t, rec, "Retry-After", "1")
				wantHeader(t, rec, "Cache-Control", "no-store")
				if strings.Contains(rec.Body.String(), "connection refused") {
					t.Errorf("body %q leaks the store's error", rec.Body.String())
				}
			})
		}
	}
}

func TestAllow(t *testing.T) {
	e := newEnv(t)
	h := guard.Allow(e.mgr, isAdmin, hello)
	t.Run("anonymous is 401", func(t *testing.T) {
		wantStatus(t, e.serve(h, http.MethodGet, "/admin", "", ""), http.StatusUnauthorized)
	})
	t.Run("refused is 403", func(t *testing.T) {
		rec := e.serve(h, http.MethodGet, "/admin", e.login(User{Name: "bob"}), "")
		wantStatus(t, rec, http.StatusForbidden)
		wantHeader(t, rec, "Cache-Control", "no-store")
		wantBodyContains(t, rec, "Forbidden: ")
	})
	t.Run("allowed is 200", func(t *testing.T) {
		rec := e.serve(h, http.MethodGet, "/admin", e.login(User{Name: "root", Roles: []string{"admin"}}), "")
		wantStatus(t, rec, http.StatusOK)
	})
}

// statusErr is an application error type that carries its own status.
type statusErr struct{ code int }

func (e statusErr) Error() string { return fmt.Sprintf("internal: code %d", e.code) }
func (e statusErr) Status() int   { return e.code }

func TestCheckStatuses(t *testing.T) {
	e := newEnv(t)
	cookie := e.login(User{Name: "ada"})
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		detail     string // in the body
		hiddenText string // must not be in the body
	}{
		{"nil lets through", nil, http.StatusOK, "hello ada", ""},
		{"plain error is 403", errors.New("db says: secret row 42"), http.StatusForbidden, "You are not allowed", "secret row 42"},
		{"Deny sets status and detail", guard.Deny(http.StatusPaymentRequired, "Upgrade your plan."), http.StatusPaymentRequired, "Payment Required: Upgrade your plan.", ""},
		{"wrapped Deny", fmt.Errorf("plan check for ada: %w", guard.Deny(http.StatusTooManyRequests, "Slow down.")), http.StatusTooManyRequests, "Slow down.", "plan check"},
		{"Deny 404 hides the resource", guard.Deny(http.StatusNotFound, "No such thing."), http.StatusNotFound, "No such thing.", ""},
		{"Deny out of range is 403", guard.Deny(http.StatusOK, "fine?"), http.StatusForbidden, "Forbidden", "fine?"},
		{"Deny 3xx is 403", guard.Deny(http.StatusFound, "go away"), http.StatusForbidden, "Forbidden", "go away"},
		{"Status() error without Detail", statusErr{http.StatusConflict}, http.StatusConflict, "Conflict", "internal"},
		{"Status() error wrapped", fmt.Errorf("x: %w", statusErr{http.StatusGone}), http.StatusGone, "Gone", "internal"},
		{"store failure in the check is 503", fmt.Errorf("lookup: %w", backend.ErrUnavailable), http.StatusServiceUnavailable, "try again", "lookup"},
		{"ErrForbidden is 403", guard.ErrForbidden, http.StatusForbidden, "Forbidden", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen User
			h := guard.Check(e.mgr, func(r *http.Request, u User) error {
				seen = u
				return tc.err
			}, hello)
			rec := e.serve(h, http.MethodGet, "/thing", cookie, "")
			wantStatus(t, rec, tc.status)
			wantBodyContains(t, rec, tc.detail)
			if tc.hiddenText != "" && strings.Contains(rec.Body.String(), tc.hiddenText) {
				t.Errorf("body %q shows %q", rec.Body.String(), tc.hiddenText)
			}
			if seen.Name != "ada" {
				t.Errorf("check saw %+v", seen)
			}
			if tc.status != http.StatusOK {
				wantHeader(t, rec, "Cache-Control", "no-store")
			}
			if tc.status == http.StatusServiceUnavailable {
				wantHeader(t, rec, "Retry-After", "1")
			}
		})
	}
}

func TestCheckDenyRetryAfterOn503(t *testing.T) {
	e := newEnv(t)
	h := guard.Check(e.mgr, func(*http.Request, User) error {
		return guard.Deny(http.StatusServiceUnavailable, "Maintenance.")
	}, hello, guard.WithRetryAfter(90*time.Second))
	rec := e.serve(h, http.MethodGet, "/", e.login(User{Name: "ada"}), "")
	wantStatus(t, rec, http.StatusServiceUnavailable)
	wantHeader(t, rec, "Retry-After", "90")
}

func TestRetryAfterRoundsUp(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "1",
		-time.Second:            "1",
		time.Millisecond:        "1",
		1500 * time.Millisecond: "2",
		time.Minute:             "60",
	} {
		e := newEnv(t)
		cookie := e.login(User{Name: "ada"})
		e.down()
		rec := e.serve(guard.Require(e.mgr, hello, guard.WithRetryAfter(d)), http.MethodGet, "/", cookie, "")
		wantStatus(t, rec, http.StatusServiceUnavailable)
		wantHeader(t, rec, "Retry-After", want)
	}
}

// TestProblemJSON parses the RFC 9457 body of every status a guard gives.
func TestProblemJSON(t *testing.T) {
	e := newEnv(t)
	user := e.login(User{Name: "bob"})
	outage := newEnv(t)
	outageCookie := outage.login(User{Name: "bob"})
	outage.down()
	teapot := guard.Check(e.mgr, func(*http.Request, User) error {
		return guard.Deny(http.StatusTeapot, "Short and stout.")
	}, hello)

	for _, tc := range []struct {
		name   string
		env    *env
		h      http.Handler
		cookie string
		status int
		detail string
	}{
		{"401", e, guard.Require(e.mgr, hello, guard.WithLoginRedirect("/login")), "", 401, "You need to log in first."},
		{"403", e, guard.Allow(e.mgr, isAdmin, hello), user, 403, "You are not allowed to do this."},
		{"418 from Deny", e, teapot, user, 418, "Short and stout."},
		{"503", outage, guard.Require(outage.mgr, hello), outageCookie, 503, "Sessions cannot be read right now; try again shortly."},
	} {
		for _, accept := range []string{
			acceptJSON, acceptProblem,
			"application/json, text/html;q=0.5",
			"text/html;q=0.8, application/problem+json",
			"application/vnd.api+json",
		} {
			t.Run(tc.name+"/"+accept, func(t *testing.T) {
				rec := tc.env.serve(tc.h, http.MethodGet, "/x", tc.cookie, accept)
				wantStatus(t, rec, tc.status)
				wantHeader(t, rec, "Content-Type", "application/problem+json")
				wantHeader(t, rec, "Cache-Control", "no-store")
				if !slices.Contains(rec.Header().Values("Vary"), "Accept") {
					t.Errorf("Vary %q lacks Accept", rec.Header().Values("Vary"))
				}
				var p map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
					t.Fatalf("body %q: %v", rec.Body.String(), err)
				}
				want := map[string]any{
					"type":   "about:blank",
					"title":  http.StatusText(tc.status),
					"status": float64(tc.status),
					"detail": tc.detail,
				}
				if fmt.Sprint(p) != fmt.Sprint(want) {
					t.Errorf("problem %v, want %v", p, want)
				}
			})
		}
	}
}

func TestContentNegotiation(t *testing.T) {
	e := newEnv(t)
	withLogin := guard.Require(e.mgr, hello, guard.WithLoginRedirect("/login"))
	without := guard.Require(e.mgr, hello)
	const (
		text     = "text/plain; charset=utf-8"
		problem  = "application/problem+json"
		redirect = "redirect"
	)
	for _, tc := range []struct {
		accept       string
		withLogin    string // the answer with WithLoginRedirect
		withoutLogin string // and without
	}{
		{"", text, text},
		{"*/*", text, text},
		{"text/*", text, text},
		{"text/plain", text, text},
		{acceptBrowser, redirect, text},
		{"text/html", redirect, text},
		{"application/xhtml+xml", redirect, text},
		{acceptJSON, problem, problem},
		{acceptProblem, problem, problem},
		{"application/json;q=0", text, text},
		{"application/json;q=0, text/html", redirect, text},
		{"text/html, application/json;q=0.5", redirect, text},
		{"application/json;q=0.5, text/html;q=0.5", problem, problem},
		{"text/html;q=0.9, application/json", problem, problem},
		{"application/json;q=bogus, text/html", redirect, text},
		{"garbage;;;", text, text},
	} {
		t.Run(tc.accept, func(t *testing.T) {
			for _, c := range []struct {
				h    http.Handler
				want string
			}{{withLogin, tc.withLogin}, {without, tc.withoutLogin}} {
				rec := e.serve(c.h, http.MethodGet, "/me", "", tc.accept)
				wantHeader(t, rec, "Cache-Control", "no-store")
				if c.want == redirect {
					wantStatus(t, rec, http.StatusSeeOther)
					wantHeader(t, rec, "Location", "/login?next=%2Fme")
					continue
				}
				wantStatus(t, rec, http.StatusUnauthorized)
				wantHeader(t, rec, "Content-Type", c.want)
			}
		})
	}
}

func TestLoginRedirect(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, login, method, target, want string
	}{
		{"path and query kept in next", "/login", "GET", "/orders?page=2&sort=new", "/login?next=%2Forders%3Fpage%3D2%26sort%3Dnew"},
		{"HEAD is like GET", "/login", "HEAD", "/me", "/login?next=%2Fme"},
		{"login query kept", "/login?lang=en", "GET", "/me", "/login?lang=en&next=%2Fme"},
		{"absolute login URL", "https://auth.example/login", "GET", "/me", "https://auth.example/login?next=%2Fme"},
		{"POST gets no next", "/login", "POST", "/cart", "/login"},
		{"DELETE gets no next", "/login", "DELETE", "/cart/1", "/login"},
		{"encoded slashes get no next", "/login", "GET", "/%2F%2Fevil.example", "/login"},
		{"a next of the request's own is replaced", "/login", "GET", "/me?next=//evil.example", "/login?next=%2Fme%3Fnext%3D%2F%2Fevil.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := guard.Require(e.mgr, hello, guard.WithLoginRedirect(tc.login))
			rec := e.serve(h, tc.method, tc.target, "", "text/html")
			wantStatus(t, rec, http.StatusSeeOther)
			wantHeader(t, rec, "Location", tc.want)
			wantHeader(t, rec, "Cache-Control", "no-store")
		})
	}

	// A request path that is not a local path (it cannot come from
	// httptest.NewRequest, but a raw client can send it) gets no next.
	h := e.mgr.Middleware(guard.Require(e.mgr, hello, guard.WithLoginRedirect("/login")))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.URL = &url.URL{Path: "//evil.example/x"}
	req.Header.Set("Accept", "text/html")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	wantStatus(t, rec, http.StatusSeeOther)
	wantHeader(t, rec, "Location", "/login")

	// Only 401s redirect: a logged-in user refused by Allow sees the 403.
	rec = e.serve(guard.Allow(e.mgr, isAdmin, hello, guard.WithLoginRedirect("/login")),
		http.MethodGet, "/admin", e.login(User{Name: "bob"}), acceptBrowser)
	wantStatus(t, rec, http.StatusForbidden)
}

func TestWithLoginRedirectPanicsOnBadURL(t *testing.T) {
	for _, bad := range []string{"", "http://[::1", "%zz"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("WithLoginRedirect(%q) did not panic", bad)
				}
			}()
			guard.WithLoginRedirect(bad)
		}()
	}
}

func TestWithResponder(t *testing.T) {
	e := newEnv(t)
	var got []guard.Denial
	respond := func(w http.ResponseWriter, r *http.Request, d guard.Denial) {
		got = append(got, d)
		if d.Status == http.StatusForbidden {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(d.Status)
			fmt.Fprint(w, "<h1>Nope</h1>")
			return
		}
		guard.Respond(w, r, d) // the default for the rest
	}
	opts := []guard.Option{guard.WithResponder(respond), guard.WithLoginRedirect("/login")}
	h := guard.Allow(e.mgr, isAdmin, hello, opts...)

	rec := e.serve(h, http.MethodGet, "/admin", e.login(User{Name: "bob"}), "")
	wantStatus(t, rec, http.StatusForbidden)
	wantHeader(t, rec, "Cache-Control", "no-store")
	if rec.Body.String() != "<h1>Nope</h1>" {
		t.Errorf("body %q", rec.Body.String())
	}

	rec = e.serve(h, http.MethodGet, "/admin?x=1", "", acceptBrowser)
	wantStatus(t, rec, http.StatusSeeOther)
	wantHeader(t, rec, "Location", "/login?next=%2Fadmin%3Fx%3D1")

	cookie := e.login(User{Name: "bob"})
	e.down()
	rec = e.serve(h, http.MethodGet, "/admin", cookie, "")
	wantStatus(t, rec, http.StatusServiceUnavailable)
	wantHeader(t, rec, "Retry-After", "1")

	if len(got) != 3 {
		t.Fatalf("responder called %d times, want 3", len(got))
	}
	if d := got[0]; d.Status != 403 || d.Title != "Forbidden" || !errors.Is(d.Err, guard.ErrForbidden) || d.LoginURL != "" {
		t.Errorf("403 denial %+v", d)
	}
	if d := got[1]; d.Status != 401 || !errors.Is(d.Err, guard.ErrNoSession) || d.LoginURL != "/login?next=%2Fadmin%3Fx%3D1" {
		t.Errorf("401 denial %+v", d)
	}
	if d := got[2]; d.Status != 503 || !errors.Is(d.Err, backend.ErrUnavailable) {
		t.Errorf("503 denial %+v", d)
	}
}

func TestWithResponderNilKeepsDefault(t *testing.T) {
	e := newEnv(t)
	rec := e.serve(guard.Require(e.mgr, hello, guard.WithResponder(nil), guard.WithLogger(nil)), http.MethodGet, "/", "", "")
	wantStatus(t, rec, http.StatusUnauthorized)
}

func TestRespondDirectly(t *testing.T) {
	for _, tc := range []struct {
		d      guard.Denial
		status int
		body   string
	}{
		{guard.Denial{Status: http.StatusBadRequest, Detail: "Name too long."}, 400, "Bad Request: Name too long.\n"},
		{guard.Denial{Status: http.StatusBadRequest, Title: "Invalid name"}, 400, "Invalid name\n"},
		{guard.Denial{}, 500, "Internal Server Error\n"},
	} {
		rec := httptest.NewRecorder()
		guard.Respond(rec, httptest.NewRequest(http.MethodGet, "/", nil), tc.d)
		wantStatus(t, rec, tc.status)
		if rec.Body.String() != tc.body {
			t.Errorf("body %q, want %q", rec.Body.String(), tc.body)
		}
		wantHeader(t, rec, "X-Content-Type-Options", "nosniff")
	}
}

func TestMiddlewareFormsAndData(t *testing.T) {
	e := newEnv(t)
	admin := e.login(User{Name: "root", Roles: []string{"admin"}})
	bob := e.login(User{Name: "bob"})

	// A route group: every route under /admin/ is for admins.
	group := http.NewServeMux()
	group.HandleFunc("GET /admin/users", func(w http.ResponseWriter, r *http.Request) {
		u, ok := guard.Data[User](r)
		if !ok {
			t.Error("Data found nothing behind the guard")
		}
		fmt.Fprintf(w, "users, for %s", u.Name)
	})
	mux := http.NewServeMux()
	mux.Handle("/admin/", guard.RequireMiddleware(e.mgr)(guard.AllowMiddleware(e.mgr, isAdmin)(group)))
	mux.HandleFunc("GET /public", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := guard.Data[User](r); ok {
			t.Error("Data found something without a guard")
		}
	})

	rec := e.serve(mux, http.MethodGet, "/admin/users", admin, "")
	wantStatus(t, rec, http.StatusOK)
	if rec.Body.String() != "users, for root" {
		t.Errorf("body %q", rec.Body.String())
	}
	wantStatus(t, e.serve(mux, http.MethodGet, "/admin/users", bob, ""), http.StatusForbidden)
	wantStatus(t, e.serve(mux, http.MethodGet, "/admin/users", "", ""), http.StatusUnauthorized)
	wantStatus(t, e.serve(mux, http.MethodGet, "/public", "", ""), http.StatusOK)

	check := guard.CheckMiddleware(e.mgr, func(r *http.Request, u User) error {
		if r.URL.Query().Get("owner") != u.Name {
			return guard.Deny(http.StatusNotFound, "No such document.")
		}
		return nil
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := guard.Data[User](r)
		fmt.Fprintf(w, "document of %s", u.Name)
	}))
	wantStatus(t, e.serve(check, http.MethodGet, "/doc?owner=bob", bob, ""), http.StatusOK)
	wantStatus(t, e.serve(check, http.MethodGet, "/doc?owner=root", bob, ""), http.StatusNotFound)
}

// Cart is a second session type, kept by a second manager, to check that
// Data keys do not clash across types.
type Cart struct {
	Items []string `json:"items"`
}

func TestDataOfTwoManagersDoNotClash(t *testing.T) {
	e := newEnv(t)
	mem := memstore.New()
	t.Cleanup(func() { _ = mem.Close() })
	carts, err := session.New[Cart](mem, session.Config{
		Cookie: session.CookieConfig{Name: "cart"},
		Logger: discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	cartLogin := carts.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = carts.From(r).Set(Cart{Items: []string{"tea"}})
	}))
	rec := httptest.NewRecorder()
	cartLogin.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	cartCookie := rec.Result().Cookies()[0]

	h := guard.RequireMiddleware(e.mgr)(guard.RequireMiddleware(carts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, okU := guard.Data[User](r)
		c, okC := guard.Data[Cart](r)
		fmt.Fprintf(w, "%v %s %v %v", okU, u.Name, okC, c.Items)
	})))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Cookie", e.login(User{Name: "ada"})+"; cart="+cartCookie.Value)
	rec = httptest.NewRecorder()
	e.mgr.Middleware(carts.Middleware(h)).ServeHTTP(rec, req)
	wantStatus(t, rec, http.StatusOK)
	if rec.Body.String() != "true ada true [tea]" {
		t.Errorf("body %q", rec.Body.String())
	}
}

// TestGuardsComposeWithOneLoad stacks guards and a handler that reads the
// session itself: the store sees a single Load and no write.
func TestGuardsComposeWithOneLoad(t *testing.T) {
	e := newEnv(t)
	cookie := e.login(User{Name: "root", Roles: []string{"admin"}})
	inner := guard.Check(e.mgr, func(*http.Request, User) error { return nil },
		func(w http.ResponseWriter, r *http.Request, s *session.Session[User], u User) {
			if s != e.mgr.From(r) {
				t.Error("the handler's session is not the request's session")
			}
			again, ok, err := s.Get()
			if err != nil || !ok || again.Name != u.Name {
				t.Errorf("Get in the handler: %v %v %v", again, ok, err)
			}
			hello(w, r, s, u)
		})
	h := guard.RequireMiddleware(e.mgr)(guard.AllowMiddleware(e.mgr, isAdmin)(guard.Allow(e.mgr, isAdmin, func(w http.ResponseWriter, r *http.Request, _ *session.Session[User], _ User) {
		inner.ServeHTTP(w, r)
	})))
	rec := e.serve(h, http.MethodGet, "/admin", cookie, "")
	wantStatus(t, rec, http.StatusOK)
	if got := e.store.Count(backendtest.OpLoad); got != 1 {
		t.Errorf("%d loads for four guards and a Get, want 1", got)
	}
	if got := e.store.Count(backendtest.OpWrite); got != 0 {
		t.Errorf("%d writes for a read-only request, want 0", got)
	}

	// Refused at the innermost guard: still one load.
	e.store.ResetCalls()
	bob := e.login(User{Name: "bob"})
	h = guard.RequireMiddleware(e.mgr)(guard.Require(e.mgr, func(w http.ResponseWriter, r *http.Request, _ *session.Session[User], _ User) {
		guard.Allow(e.mgr, isAdmin, hello).ServeHTTP(w, r)
	}))
	wantStatus(t, e.serve(h, http.MethodGet, "/admin", bob, ""), http.StatusForbidden)
	if got := e.store.Count(backendtest.OpLoad); got != 1 {
		t.Errorf("%d loads, want 1", got)
	}

	// Anonymous (no cookie): no load at all.
	e.store.ResetCalls()
	wantStatus(t, e.serve(h, http.MethodGet, "/admin", "", ""), http.StatusUnauthorized)
	if got := e.store.Count(backendtest.OpAll); got != 0 {
		t.Errorf("%d store calls without a cookie, want 0", got)
	}
}

func TestGuardOutsideMiddlewareIs500(t *testing.T) {
	e := newEnv(t)
	rec := httptest.NewRecorder()
	guard.Require(e.mgr, hello, guard.WithLogger(discard())).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	wantStatus(t, rec, http.StatusInternalServerError)
	wantHeader(t, rec, "Cache-Control", "no-store")
}

func TestConstructorsPanicOnNil(t *testing.T) {
	e := newEnv(t)
	for name, f := range map[string]func(){
		"Require nil manager":     func() { guard.Require[User](nil, hello) },
		"Require nil handler":     func() { guard.Require(e.mgr, nil) },
		"Allow nil predicate":     func() { guard.Allow(e.mgr, nil, hello) },
		"Check nil check":         func() { guard.Check(e.mgr, nil, hello) },
		"AllowMiddleware nil":     func() { guard.AllowMiddleware(e.mgr, nil) },
		"CheckMiddleware nil":     func() { guard.CheckMiddleware(e.mgr, nil) },
		"RequireMiddleware nil h": func() { guard.RequireMiddleware(e.mgr)(nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}

// TestPrefersHTML checks the negotiation the guards use, as handlers see it.
func TestPrefersHTML(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                                    false,
		"*/*":                                 false,
		acceptJSON:                            false,
		acceptBrowser:                         true,
		"text/html":                           true,
		"text/html;q=0.5, application/json":   false,
		"text/html, application/json;q=0.5":   true,
		"text/html, application/json":         false,
		"text/html;q=bogus":                   false,
		"application/xhtml+xml":               true,
		"text/html, application/problem+json": false,
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set("Accept", accept)
		if got := guard.PrefersHTML(r); got != want {
			t.Errorf("PrefersHTML(%q) = %v, want %v", accept, got, want)
		}
	}
}

// TestGuardedHandlerChangesTheSession: the session a guarded handler
// receives is the request's, so what the handler writes through it is
// committed once and is what the next request's guard verifies.
func TestGuardedHandlerChangesTheSession(t *testing.T) {
	e := newEnv(t)
	cookie := e.login(User{Name: "ann"})
	rename := guard.Require(e.mgr, func(w http.ResponseWriter, r *http.Request, s *session.Session[User], u User) {
		if err := s.Update(func(v *User) error {
			v.Name = u.Name + "-renamed"
			return nil
		}); err != nil {
			t.Errorf("Update: %v", err)
		}
	})
	wantStatus(t, e.serve(rename, http.MethodPost, "/rename", cookie, ""), http.StatusOK)
	if got := e.store.Count(backendtest.OpWrite); got != 1 {
		t.Errorf("%d writes, want 1", got)
	}
	rec := e.serve(guard.Require(e.mgr, hello), http.MethodGet, "/", cookie, "")
	wantStatus(t, rec, http.StatusOK)
	if got, want := rec.Body.String(), "hello ann-renamed"; got != want {
		t.Errorf("next request sees %q, want %q", got, want)
	}
}

// TestBearer401sCarryWWWAuthenticate checks that while bearer tokens are
// accepted every 401 says so (RFC 6750), also to a request with no
// credentials, and that cookie-only managers never send the header.
func TestBearer401sCarryWWWAuthenticate(t *testing.T) {
	for _, tr := range []session.Transport{session.TransportCookie, session.TransportHeader, session.TransportCookieOrHeader} {
		mem := memstore.New()
		t.Cleanup(func() { _ = mem.Close() })
		mgr, err := session.New[User](mem, session.Config{Transport: tr, Logger: discard()})
		if err != nil {
			t.Fatal(err)
		}
		want := "Bearer"
		if tr == session.TransportCookie {
			want = ""
		}
		for name, h := range guardKinds(mgr) {
			for _, auth := range []string{"", "Bearer " + strings.Repeat("A", 43)} {
				req := httptest.NewRequest(http.MethodGet, "/me", nil)
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				rec := httptest.NewRecorder()
				mgr.Middleware(h).ServeHTTP(rec, req)
				if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != want {
					t.Errorf("%v/%s/auth %q: %d, WWW-Authenticate %q, want 401 and %q",
						tr, name, auth, rec.Code, rec.Header().Get("WWW-Authenticate"), want)
				}
			}
		}
	}
}
