package cookiestore_test

import (
	"net/http"
	"testing"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/cookiestore"
)

// TestHeaderTransport checks that a sealed session travels as a bearer
// token like an ID does: the value comes back in TokenHeader, opens from
// "Authorization: Bearer", and a tampered or ended one is dropped.
func TestHeaderTransport(t *testing.T) {
	a := newApp(t, cookiestore.New(keys(t, "a")), session.Config{Transport: session.TransportHeader})
	do := func(method, path, bearer string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, a.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := a.raw().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body [64]byte
		n, _ := resp.Body.Read(body[:])
		if len(resp.Cookies()) > 0 {
			t.Errorf("%s %s set a cookie with TransportHeader", method, path)
		}
		return resp, string(body[:n])
	}
	resp, _ := do(http.MethodPost, "/login?user=ann", "")
	tok := resp.Header.Get(session.TokenHeader)
	if tok == "" {
		t.Fatal("login sent no token")
	}
	if resp, body := do(http.MethodGet, "/get", tok); body != "ann 0 0" || resp.Header.Get("Vary") != "Authorization" {
		t.Fatalf("with the token: %q, Vary %q", body, resp.Header.Get("Vary"))
	}
	resp, body := do(http.MethodGet, "/get", tok[:len(tok)-8])
	if _, sent := resp.Header[http.CanonicalHeaderKey(session.TokenHeader)]; body != "none" || !sent || resp.Header.Get(session.TokenHeader) != "" {
		t.Fatalf("with a truncated token: %q, %s %q; want no session and an empty token", body, session.TokenHeader, resp.Header.Get(session.TokenHeader))
	}
	resp, _ = do(http.MethodPost, "/logout", tok)
	if _, sent := resp.Header[http.CanonicalHeaderKey(session.TokenHeader)]; !sent || resp.Header.Get(session.TokenHeader) != "" {
		t.Fatal("logout did not tell the client to drop its token")
	}
}

// TestFlashes checks flash messages on a cookie session: kept beside the
// data, shown once, and a session of flashes only is no session.
func TestFlashes(t *testing.T) {
	a := newApp(t, cookiestore.New(keys(t, "a")), session.Config{})
	b := a.browser()
	r := a.do(b, http.MethodPost, "/flash?text=hello", nil)
	if !r.sets() {
		t.Fatalf("a flash without a session: cookie %v, want one", r.cookie)
	}
	r = a.do(b, http.MethodGet, "/flashes", nil)
	if r.body != `{"flashes":[{"Level":"info","Text":"hello"}],"session":false}` || !r.clears() {
		t.Fatalf("flashes: %s, cookie %v; want the flash, no session, and the cookie cleared", r.body, r.cookie)
	}
	if r := a.do(b, http.MethodGet, "/flashes", nil); r.body != `{"flashes":null,"session":false}` {
		t.Fatalf("flashes again: %s, want none", r.body)
	}

	a.do(b, http.MethodPost, "/login?user=ann", nil)
	a.do(b, http.MethodPost, "/flash?text=welcome", nil)
	if r := a.do(b, http.MethodGet, "/flashes", nil); r.body != `{"flashes":[{"Level":"info","Text":"welcome"}],"session":true}` || !r.sets() {
		t.Fatalf("flashes beside data: %s, cookie %v", r.body, r.cookie)
	}
	if r := a.get(b, nil); r.body != "ann 0 0" {
		t.Fatalf("the data after the flashes were shown: %q", r.body)
	}
	if r := a.do(b, http.MethodGet, "/flashes", nil); r.body != `{"flashes":null,"session":true}` {
		t.Fatalf("flashes shown twice: %s", r.body)
	}
}
