package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/codec"
)

const (
	acceptJSON    = "application/json"
	acceptBrowser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// errOutage is what the store answers while it is down.
var errOutage = fmt.Errorf("dial tcp 10.0.0.1:6379: connect: connection refused: %w", backend.ErrUnavailable)

// demo is the app on a test server, over a store that counts calls and
// can be taken down (down).
type demo struct {
	t     *testing.T
	url   string
	store *backendtest.FaultStore
}

// withFaults wraps s in a FaultStore for demo.store, and returns the store
// to give the app: the FaultStore itself, or for a store with an owner
// index an IndexedFaultStore, which keeps the index reachable (and counts
// and faults its calls too).
func withFaults(s backend.Store) (*backendtest.FaultStore, backend.Store) {
	if ix, ok := s.(interface {
		backend.Store
		backend.OwnerIndex
	}); ok {
		f := backendtest.NewIndexedFaultStore(ix)
		return f.FaultStore, f
	}
	f := backendtest.NewFaultStore(s)
	return f, f
}

// down makes every store call fail as an unreachable store does, or
// brings the store back.
func (d *demo) down(down bool) {
	if down {
		d.store.Always(backendtest.OpAll, backendtest.Fault{Err: errOutage})
	} else {
		d.store.Clear()
	}
}

func startDemo(t *testing.T, c codec.Codec) *demo {
	t.Helper()
	mem := memstore.New()
	t.Cleanup(func() { _ = mem.Close() })
	d := &demo{t: t}
	faulty, appStore := withFaults(mem)
	d.store = faulty
	h, err := newApp(appConfig{Store: appStore, Codec: c, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	d.url = srv.URL
	return d
}

// client is one visitor: it keeps the session cookie the way a browser
// does, by hand, so tests can also replay old cookies. (net/http's cookie
// jar would not send a Secure cookie over plain HTTP.)
type client struct {
	d      *demo
	http   *http.Client
	mu     sync.Mutex
	cookie string // the session cookie's value
}

func (d *demo) client() *client {
	return &client{d: d, http: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (c *client) sessionCookie() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cookie
}

func (c *client) setSessionCookie(v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cookie = v
}

// response is a response with its body read.
type response struct {
	*http.Response
	body string
}

// do sends a request, with form as a urlencoded body if not nil, and
// keeps any session cookie the response sets. It is safe for concurrent
// use.
func (c *client) do(method, path string, form url.Values, accept string) response {
	c.d.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.d.url+path, body)
	if err != nil {
		c.d.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if v := c.sessionCookie(); v != "" {
		req.AddCookie(&http.Cookie{Name: "session", Value: v})
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.d.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.d.t.Fatal(err)
	}
	for _, ck := range res.Cookies() {
		if ck.Name == "session" {
			if ck.MaxAge < 0 {
				c.setSessionCookie("")
			} else {
				c.setSessionCookie(ck.Value)
			}
		}
	}
	return response{res, string(b)}
}

func (c *client) login(user string) UserSession {
	c.d.t.Helper()
	res := c.do("POST", "/login", url.Values{"user": {user}}, acceptJSON)
	res.want(c.d.t, http.StatusOK)
	if c.sessionCookie() == "" {
		c.d.t.Fatal("login set no session cookie")
	}
	return res.session(c.d.t)
}

func (r response) want(t *testing.T, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %q", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
	}
}

// session decodes a JSON body and checks that it has exactly the four
// fields of the contract, lists as arrays (never null).
func (r response) session(t *testing.T) UserSession {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json; body %q", ct, r.body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.body), &raw); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	if len(raw) != 4 {
		t.Errorf("body %q: want exactly user, roles, cart, visits", r.body)
	}
	for _, f := range []string{"roles", "cart"} {
		if !strings.HasPrefix(string(raw[f]), "[") {
			t.Errorf("body %q: %s is %s, want an array", r.body, f, raw[f])
		}
	}
	var u UserSession
	if err := json.Unmarshal([]byte(r.body), &u); err != nil {
		t.Fatal(err)
	}
	return u
}

// problem decodes an RFC 9457 body.
func (r response) problem(t *testing.T) map[string]any {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %q", ct, r.body)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	if p["status"] != float64(r.StatusCode) || p["type"] != "about:blank" || p["title"] != http.StatusText(r.StatusCode) {
		t.Errorf("problem %v for status %d", p, r.StatusCode)
	}
	return p
}
