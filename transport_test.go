package session_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/memstore"
)

// apiClient is an API client that keeps the bearer token the server hands
// out in session.TokenHeader, as the docs tell clients to.
type apiClient struct {
	t     *testing.T
	url   string
	token string
	// bearer makes the client send "Authorization: Bearer new" when it
	// holds no token (TransportCookieOrHeader).
	bearer bool
}

func (c *apiClient) do(method, path string) *http.Response {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.url+path, nil)
	switch {
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	case c.bearer:
		req.Header.Set("Authorization", "Bearer new")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	res.Header.Set("X-Body", string(body))
	if tok, ok := res.Header[session.TokenHeader]; ok {
		c.token = tok[0]
	}
	return res
}

// transportApp is a login/visit/me/logout app on a manager with the given
// transport.
func transportApp(t *testing.T, tr session.Transport) (*httptest.Server, *session.Manager[UserSession]) {
	t.Helper()
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	mgr, err := session.New[UserSession](store, session.Config{Transport: tr, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Renew(UserSession{UserID: "ada"}); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("POST /visit", func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Update(func(u *UserSession) error { u.Visits++; return nil }); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		u, ok, err := mgr.From(r).Get()
		if err != nil || !ok {
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, u.UserID+" "+strings.Repeat("v", u.Visits))
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Destroy(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	srv := httptest.NewServer(mgr.Middleware(mux))
	t.Cleanup(srv.Close)
	return srv, mgr
}

// TestBearerTokenSessions walks an API client through login, a change, a
// read, a renewal and a logout under TransportHeader: the ID travels in
// the Authorization header and session.TokenHeader, never in a cookie.
func TestBearerTokenSessions(t *testing.T) {
	srv, _ := transportApp(t, session.TransportHeader)
	c := &apiClient{t: t, url: srv.URL}
	res := c.do("POST", "/login")
	if len(c.token) != 43 || res.Header.Get("Set-Cookie") != "" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("login: token %q, Set-Cookie %q, Cache-Control %q", c.token, res.Header.Get("Set-Cookie"), res.Header.Get("Cache-Control"))
	}
	if v := res.Header.Values("Vary"); strings.Join(v, ",") != "Authorization" {
		t.Errorf("Vary %q, want Authorization only", v)
	}
	first := c.token
	c.do("POST", "/visit")
	res = c.do("GET", "/me")
	if got := res.Header.Get("X-Body"); got != "ada v" {
		t.Errorf("/me: %q", got)
	}
	if _, sent := res.Header[session.TokenHeader]; sent {
		t.Error("a read-only request sent a token")
	}
	c.do("POST", "/login") // a renewal: a new token, the old one dead
	if c.token == first || len(c.token) != 43 {
		t.Fatalf("renewal token %q", c.token)
	}
	old := &apiClient{t: t, url: srv.URL, token: first}
	if res := old.do("GET", "/me"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the renewed-away token still opens the session: %d", res.StatusCode)
	}
	res = c.do("POST", "/logout")
	if got, ok := res.Header[session.TokenHeader]; !ok || got[0] != "" {
		t.Errorf("logout: %s %q, want an empty value", session.TokenHeader, got)
	}
	c.token = first // whatever the client still holds is dead
	if res := c.do("GET", "/me"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("after logout: %d", res.StatusCode)
	}
}

// TestEachTransportIgnoresTheOtherCarrier checks that a cookie-mode app
// never accepts a bearer token and a header-mode app never accepts the
// cookie, even one naming a live session.
func TestEachTransportIgnoresTheOtherCarrier(t *testing.T) {
	// A live session ID, obtained from a cookie-mode app.
	cookieSrv, _ := transportApp(t, session.TransportCookie)
	res, err := http.Post(cookieSrv.URL+"/login", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	id := res.Cookies()[0].Value
	if res.Header.Get(session.TokenHeader) != "" {
		t.Error("cookie mode sent a token header")
	}
	bearer := &apiClient{t: t, url: cookieSrv.URL, token: id}
	if res := bearer.do("GET", "/me"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("cookie mode accepted a bearer token: %d", res.StatusCode)
	}

	headerSrv, _ := transportApp(t, session.TransportHeader)
	c := &apiClient{t: t, url: headerSrv.URL}
	c.do("POST", "/login")
	req, _ := http.NewRequest("GET", headerSrv.URL+"/me", nil)
	req.AddCookie(&http.Cookie{Name: "session", Value: c.token})
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("header mode accepted the cookie: %d", res.StatusCode)
	}
}

// TestCookieOrHeaderAnswersOnTheCarrierUsed checks the mixed mode: a
// browser (no Authorization header) gets a cookie and never a readable
// token; an API client asking with a bearer header gets a token.
func TestCookieOrHeaderAnswersOnTheCarrierUsed(t *testing.T) {
	srv, _ := transportApp(t, session.TransportCookieOrHeader)
	res, err := http.Post(srv.URL+"/login", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if len(res.Cookies()) != 1 || res.Header.Get(session.TokenHeader) != "" {
		t.Errorf("browser login: cookies %v, token %q", res.Cookies(), res.Header.Get(session.TokenHeader))
	}
	if v := strings.Join(res.Header.Values("Vary"), ","); v != "Cookie,Authorization" {
		t.Errorf("Vary %q", v)
	}
	c := &apiClient{t: t, url: srv.URL, bearer: true}
	res = c.do("POST", "/login")
	if len(c.token) != 43 || len(res.Cookies()) != 0 {
		t.Fatalf("API login: token %q, cookies %v", c.token, res.Cookies())
	}
	c.do("POST", "/visit")
	if got := c.do("GET", "/me").Header.Get("X-Body"); got != "ada v" {
		t.Errorf("/me with the token: %q", got)
	}
}

func TestParseTransport(t *testing.T) {
	for _, tr := range []session.Transport{session.TransportCookie, session.TransportHeader, session.TransportCookieOrHeader} {
		if got, err := session.ParseTransport(tr.String()); err != nil || got != tr {
			t.Errorf("ParseTransport(%q) = %v, %v", tr, got, err)
		}
	}
	if _, err := session.ParseTransport("smoke"); err == nil {
		t.Error("ParseTransport accepted an unknown name")
	}
	if _, err := session.New[UserSession](memstore.New(), session.Config{Transport: 9}); err == nil {
		t.Error("New accepted an unknown transport")
	}
}

// FuzzBearerHeader sends arbitrary Authorization headers to a header-mode
// manager whose store holds one session the fuzzer cannot name: whatever
// the header, the handler sees no session, nothing panics, the response is
// never a 5xx, and no token or cookie is sent back for a read.
func FuzzBearerHeader(f *testing.F) {
	for _, seed := range []string{
		"", "Bearer", "Bearer ", "bearer " + strings.Repeat("A", 43), "Bearer  " + strings.Repeat("_", 43),
		"Basic dXNlcjpwYXNz", "Bearer \x00\xff", "Bearer " + strings.Repeat("A", 44), "Bearer new",
	} {
		f.Add(seed)
	}
	store := memstore.New()
	f.Cleanup(func() { _ = store.Close() })
	mgr, err := session.New[UserSession](store, session.Config{Transport: session.TransportHeader, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	login := httptest.NewRecorder()
	mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = mgr.From(r).Set(UserSession{UserID: "ada"})
	})).ServeHTTP(login, httptest.NewRequest("POST", "/", nil))
	known := login.Header().Get(session.TokenHeader)
	if len(known) != 43 {
		f.Fatalf("login token %q", known)
	}
	f.Fuzz(func(t *testing.T, header string) {
		if strings.Contains(header, known) {
			t.Skip("the fuzzer found the live token in the corpus")
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.Header["Authorization"] = []string{header}
		rec := httptest.NewRecorder()
		mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok, err := mgr.From(r).Get(); ok || err != nil {
				t.Errorf("Authorization %q: Get = ok %v, err %v", header, ok, err)
			}
		})).ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Errorf("Authorization %q: status %d", header, rec.Code)
		}
		if v := rec.Header().Get(session.TokenHeader); v != "" || rec.Header().Get("Set-Cookie") != "" {
			t.Errorf("Authorization %q: a read sent token %q, cookie %q", header, v, rec.Header().Get("Set-Cookie"))
		}
	})
}
