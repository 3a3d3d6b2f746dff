package cookiestore_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/cookiestore"
	"github.com/typedsession/session/sessiontest"
)

// visit is the session type of the tests.
type visit struct {
	User string `json:"user"`
	N    int    `json:"n"`
	Blob string `json:"blob"`
}

// keys derives a key pair from a secret made of seed.
func keys(t testing.TB, seed string) cookiestore.KeyPair {
	t.Helper()
	k, err := cookiestore.KeyPairFromSecret([]byte(strings.Repeat(seed, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// app is a test server with a cookie-store manager, a fake clock and the
// last commit error the ErrorHandler saw.
type app struct {
	t     testing.TB
	srv   *httptest.Server
	mgr   *session.Manager[visit]
	clock *sessiontest.Clock
	name  string // the session cookie's name

	mu     sync.Mutex
	errors []error
}

// quiet discards logs.
var quiet = slog.New(slog.DiscardHandler)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// newApp starts a TLS test server keeping visits in store. cfg.Now and
// cfg.ErrorHandler are set by newApp.
func newApp(t testing.TB, store *cookiestore.Store, cfg session.Config) *app {
	t.Helper()
	a := &app{t: t, clock: sessiontest.NewClock(epoch), name: cfg.Cookie.Name}
	if a.name == "" {
		a.name = session.DefaultCookieName
	}
	cfg.Now = a.clock.Now
	cfg.Logger = quiet
	cfg.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		a.mu.Lock()
		a.errors = append(a.errors, err)
		a.mu.Unlock()
		http.Error(w, "commit failed", http.StatusInternalServerError)
	}
	mgr, err := session.New[visit](store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.mgr = mgr
	a.srv = httptest.NewTLSServer(mgr.Middleware(a.routes()))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, err error) {
		http.Error(w, err.Error(), http.StatusTeapot)
	}
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		v, ok, err := a.mgr.From(r).Get()
		if err != nil {
			fail(w, err)
			return
		}
		if !ok {
			io.WriteString(w, "none")
			return
		}
		fmt.Fprintf(w, "%s %d %d", v.User, v.N, len(v.Blob))
	})
	mux.HandleFunc("GET /untouched", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := a.mgr.From(r).Renew(visit{User: r.FormValue("user")}); err != nil {
			fail(w, err)
		}
	})
	mux.HandleFunc("POST /inc", func(w http.ResponseWriter, r *http.Request) {
		if err := a.mgr.From(r).Update(func(v *visit) error { v.N++; return nil }); err != nil {
			fail(w, err)
		}
	})
	mux.HandleFunc("POST /blob", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.FormValue("n"))
		blob := strings.Repeat("x", n)
		if err := a.mgr.From(r).Update(func(v *visit) error { v.Blob = blob; return nil }); err != nil {
			fail(w, err)
		}
	})
	mux.HandleFunc("POST /renew", func(w http.ResponseWriter, r *http.Request) {
		if err := a.mgr.From(r).RenewID(); err != nil {
			fail(w, err)
		}
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := a.mgr.From(r).Destroy(); err != nil {
			fail(w, err)
		}
	})
	mux.HandleFunc("POST /flash", func(w http.ResponseWriter, r *http.Request) {
		if err := a.mgr.From(r).AddFlash(session.Flash{Level: session.FlashInfo, Text: r.FormValue("text")}); err != nil {
			fail(w, err)
		}
	})
	mux.HandleFunc("GET /flashes", func(w http.ResponseWriter, r *http.Request) {
		fs, err := a.mgr.From(r).Flashes()
		if err != nil {
			fail(w, err)
			return
		}
		_, ok, _ := a.mgr.From(r).Get()
		json.NewEncoder(w).Encode(map[string]any{"flashes": fs, "session": ok})
	})
	return mux
}

// commitErrors returns the errors the ErrorHandler saw so far.
func (a *app) commitErrors() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]error(nil), a.errors...)
}

// browser returns a client of a's server with a cookie jar.
func (a *app) browser() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		a.t.Fatal(err)
	}
	c := *a.srv.Client()
	c.Jar = jar
	return &c
}

// result is one response, read.
type result struct {
	status int
	body   string
	header http.Header
	cookie *http.Cookie // the session cookie the response set or cleared
}

// sets reports whether the response sets a live session cookie.
func (r result) sets() bool { return r.cookie != nil && r.cookie.MaxAge >= 0 && r.cookie.Value != "" }

// clears reports whether the response clears the session cookie.
func (r result) clears() bool { return r.cookie != nil && r.cookie.MaxAge < 0 }

// do sends a request with client c; cookie, if not nil, is sent as the
// only cookie (use a client without a jar for that).
func (a *app) do(c *http.Client, method, path string, cookie *http.Cookie) result {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	if cookie != nil {
		req.Header.Set("Cookie", cookie.Name+"="+cookie.Value)
	}
	resp, err := c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	res := result{status: resp.StatusCode, body: string(bytes.TrimSpace(body)), header: resp.Header}
	for _, ck := range resp.Cookies() {
		if ck.Name == a.cookieName() {
			res.cookie = ck
		}
	}
	return res
}

// raw returns a client of a's server without a cookie jar.
func (a *app) raw() *http.Client { return a.srv.Client() }

// cookieName is the name of the session cookie.
func (a *app) cookieName() string { return a.name }

// get is a GET /get with c, failing the test unless it answers 200.
func (a *app) get(c *http.Client, cookie *http.Cookie) result {
	a.t.Helper()
	r := a.do(c, http.MethodGet, "/get", cookie)
	if r.status != http.StatusOK {
		a.t.Fatalf("GET /get = %d %q, want 200", r.status, r.body)
	}
	return r
}

// login logs a new visitor in as user and returns their session cookie.
func (a *app) login(user string) *http.Cookie {
	a.t.Helper()
	r := a.do(a.raw(), http.MethodPost, "/login?user="+user, nil)
	if r.status != http.StatusOK || !r.sets() {
		a.t.Fatalf("POST /login = %d %q, cookie %v", r.status, r.body, r.cookie)
	}
	return r.cookie
}

// newRecorder serves one GET request to h, with cookie if not nil.
func newRecorder(h http.Handler, cookie *http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "https://example.com/", nil)
	if cookie != nil {
		req.Header.Set("Cookie", cookie.Name+"="+cookie.Value)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
