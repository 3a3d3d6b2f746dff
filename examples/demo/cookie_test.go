package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/typedsession/session/codec"
)

// cookieSecret is the -secret of the demo's cookie-backend tests.
var cookieSecret = strings.Repeat("demo secret 0123", 2)

// startCookieDemo serves the demo app with -backend cookie -secret secret
// and the given codec, as a fresh process of the demo would. Its store
// cannot be taken down: there is none.
func startCookieDemo(t *testing.T, secret string, c codec.Codec) *demo {
	t.Helper()
	store, closeStore, err := openStore(config{Backend: "cookie", Secret: secret}, discard())
	if err != nil {
		t.Fatal(err)
	}
	h, err := newApp(appConfig{Store: store, Codec: c, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		_ = closeStore()
	})
	return &demo{t: t, url: srv.URL}
}

// TestCookieBackendSurvivesRestartsAcrossCodecs logs in under -codec json,
// then "restarts" the demo under msgpack and then gob with the same
// secret: the session keeps working and keeps its data. A restart with
// another secret is an empty session, not an error.
func TestCookieBackendSurvivesRestartsAcrossCodecs(t *testing.T) {
	first := startCookieDemo(t, cookieSecret, codec.JSON)
	visitor := first.client()
	visitor.login("ada")
	visitor.do("POST", "/cart", url.Values{"item": {"tea"}}, acceptJSON).want(t, http.StatusOK)

	for i, c := range []codec.Codec{codec.MsgPack, codec.Gob} {
		visitor.d = startCookieDemo(t, cookieSecret, c)
		me := visitor.do("GET", "/me", nil, acceptJSON)
		me.want(t, http.StatusOK)
		if got := me.session(t); got.User != "ada" || len(got.Cart) != 1 || got.Visits != i {
			t.Fatalf("under %s after a restart: %+v", c.Name(), got)
		}
		visitor.do("POST", "/visit", nil, acceptJSON).want(t, http.StatusOK)
	}
	if got := visitor.do("GET", "/me", nil, acceptJSON).session(t); got.Visits != 2 || got.Cart[0] != "tea" {
		t.Errorf("final session %+v", got)
	}

	visitor.d = startCookieDemo(t, strings.Repeat("another secret!!", 2), codec.MsgPack)
	visitor.do("GET", "/me", nil, acceptJSON).want(t, http.StatusUnauthorized)
	if visitor.sessionCookie() != "" {
		t.Error("a cookie sealed with another secret was not cleared")
	}
}

// TestCookieBackendLifecycle runs the demo's login, cart, admin and logout
// on the cookie backend, and shows its documented limit: a copy of the
// cookie taken before logout still works.
func TestCookieBackendLifecycle(t *testing.T) {
	d := startCookieDemo(t, cookieSecret, codec.MsgPack)
	c := d.client()
	c.do("GET", "/me", nil, acceptJSON).want(t, http.StatusUnauthorized)
	c.login("ada")
	c.do("POST", "/cart", url.Values{"item": {"tea"}}, acceptJSON).want(t, http.StatusOK)
	c.do("GET", "/admin", nil, acceptJSON).want(t, http.StatusForbidden)
	if got := c.do("GET", "/me", nil, acceptJSON).session(t); got.User != "ada" || len(got.Cart) != 1 {
		t.Fatalf("/me: %+v", got)
	}
	copied := c.sessionCookie()
	c.do("POST", "/logout", nil, acceptJSON)
	if c.sessionCookie() != "" {
		t.Fatal("logout did not clear the cookie")
	}
	c.do("GET", "/me", nil, acceptJSON).want(t, http.StatusUnauthorized)

	replay := d.client()
	replay.setSessionCookie(copied)
	replay.do("GET", "/me", nil, acceptJSON).want(t, http.StatusOK)
}

// TestCookieBackendParallelVisits shows the other documented limit: with
// no server copy to compare-and-set against, parallel changes from one
// cookie are last-writer-wins, yet every request succeeds.
func TestCookieBackendParallelVisits(t *testing.T) {
	d := startCookieDemo(t, cookieSecret, codec.MsgPack)
	c := d.client()
	c.login("ada")
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if res := c.do("POST", "/visit", nil, acceptJSON); res.StatusCode != http.StatusOK {
				t.Errorf("status %d: %s", res.StatusCode, res.body)
			}
		})
	}
	wg.Wait()
	got := c.do("GET", "/me", nil, acceptJSON).session(t)
	if got.Visits < 1 || got.Visits > 16 {
		t.Errorf("visits %d after 16 parallel POST /visit", got.Visits)
	}
	t.Logf("%d of 16 parallel visits kept (last writer wins)", got.Visits)
}
