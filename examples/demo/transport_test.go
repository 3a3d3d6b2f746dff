package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/memstore"
)

// TestBearerTransportWalkthrough runs the README's curl walk-through of
// -transport header: log in, take the token from the Session-Token
// header, use it as a bearer token, and get 401 with WWW-Authenticate
// without it.
func TestBearerTransportWalkthrough(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	h, err := newApp(appConfig{Store: store, Transport: session.TransportHeader, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	do := func(method, path, token string, form url.Values) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Accept", "application/json")
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, string(body)
	}
	res, _ := do("POST", "/login", "", url.Values{"user": {"ada"}})
	token := res.Header.Get(session.TokenHeader)
	// The demo indexes sessions by user (Config.Owner), so a logged-in
	// token is a grouped ID: 43 random characters, a dot, 22 of group.
	random, group, _ := strings.Cut(token, ".")
	if res.StatusCode != http.StatusOK || len(random) != 43 || len(group) != 22 || len(res.Cookies()) != 0 {
		t.Fatalf("login: %d, token %q, cookies %v", res.StatusCode, token, res.Cookies())
	}
	if res, body := do("POST", "/visit", token, nil); res.StatusCode != http.StatusOK || !strings.Contains(body, `"visits":1`) {
		t.Errorf("visit: %d %s", res.StatusCode, body)
	}
	if res, body := do("GET", "/me", token, nil); res.StatusCode != http.StatusOK || !strings.Contains(body, `"user":"ada"`) {
		t.Errorf("me: %d %s", res.StatusCode, body)
	}
	res, _ = do("GET", "/me", "", nil)
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("me without a token: %d, WWW-Authenticate %q", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
}
