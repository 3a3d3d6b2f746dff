package session_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
)

// errOutage is the fault the tests inject: a store that cannot be reached.
var errOutage = fmt.Errorf("dial tcp: connection refused: %w", backend.ErrUnavailable)

// browser is a visitor with a cookie jar, on a TLS test server (so that
// the jar keeps the Secure cookie on every Go release) running h.mgr's
// middleware around the app's routes:
//
//	POST /login  starts an anonymous session: {UserID: "anon", Cart: [tea]}
//	POST /renew  logs in: UserID "ada", Roles [admin], and a new ID, with
//	             RenewID after an Update that adds a visit, or with Renew
//	             (renew), which sets Visits to 1
//	POST /visit  Visits+1
//	POST /logout Destroy
//	GET  /me     the session as JSON ({} if there is none)
//
// A handler whose session call fails answers 503.
type browser struct {
	t      *testing.T
	h      *harness
	srv    *httptest.Server
	client *http.Client
	u      *url.URL
}

func newBrowser(t *testing.T, h *harness, renew string) *browser {
	t.Helper()
	fail := func(w http.ResponseWriter, err error) bool {
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
		return err != nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		fail(w, h.mgr.From(r).Set(UserSession{UserID: "anon", Cart: []string{"tea"}}))
	})
	mux.HandleFunc("POST /renew", func(w http.ResponseWriter, r *http.Request) {
		s := h.mgr.From(r)
		switch renew {
		case "RenewID":
			if !fail(w, s.Update(func(u *UserSession) error {
				u.UserID, u.Roles = "ada", []string{"admin"}
				u.Visits++
				return nil
			})) {
				fail(w, s.RenewID())
			}
		case "Renew":
			// Blind, as a login replaces the data: no Get.
			fail(w, s.Renew(UserSession{UserID: "ada", Roles: []string{"admin"}, Cart: []string{"tea"}, Visits: 1}))
		default:
			panic(renew)
		}
	})
	mux.HandleFunc("POST /visit", func(w http.ResponseWriter, r *http.Request) {
		fail(w, h.mgr.From(r).Update(func(u *UserSession) error { u.Visits++; return nil }))
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		fail(w, h.mgr.From(r).Destroy())
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		u, ok, err := h.mgr.From(r).Get()
		if fail(w, err) {
			return
		}
		if !ok {
			_, _ = io.WriteString(w, "{}")
			return
		}
		_ = json.NewEncoder(w).Encode(u)
	})
	srv := httptest.NewTLSServer(h.mgr.Middleware(mux))
	t.Cleanup(srv.Close)
	client := srv.Client()
	client.Jar = newJar(t)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, h: h, srv: srv, client: client, u: u}
}

// do sends a request and returns the response, its body read.
func (b *browser) do(method, path string) *http.Response {
	b.t.Helper()
	req, err := http.NewRequest(method, b.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// login starts the anonymous session and returns its cookie.
func (b *browser) login() string {
	b.t.Helper()
	if res := b.do(http.MethodPost, "/login"); res.StatusCode != http.StatusOK {
		b.t.Fatalf("login: status %d", res.StatusCode)
	}
	return b.cookie()
}

// cookie returns the session cookie the jar holds, as a Cookie header
// value, or "" if it holds none.
func (b *browser) cookie() string {
	b.t.Helper()
	var found []string
	for _, c := range b.client.Jar.Cookies(b.u) {
		if c.Name == "session" {
			found = append(found, "session="+c.Value)
		}
	}
	if len(found) > 1 {
		b.t.Fatalf("the jar holds %d session cookies", len(found))
	}
	if len(found) == 0 {
		return ""
	}
	return found[0]
}

// me returns the session the jar's cookie opens, the way the browser's
// next page would see it.
func (b *browser) me() (UserSession, bool) {
	b.t.Helper()
	res, err := b.client.Get(b.srv.URL + "/me")
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b.t.Fatalf("GET /me: status %d", res.StatusCode)
	}
	var raw map[string]json.RawMessage
	body, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(body, &raw); err != nil {
		b.t.Fatalf("GET /me: %q: %v", body, err)
	}
	if len(raw) == 0 {
		return UserSession{}, false
	}
	var u UserSession
	if err := json.Unmarshal(body, &u); err != nil {
		b.t.Fatal(err)
	}
	return u, true
}

// retired reports whether a cookie's ID was retired by a renewal.
func (h *harness) retired(cookie string) bool {
	e, _, err := h.storedEnvelope(cookie)
	return err == nil && e.Retired
}

// peeker reads a session through the memory store directly, bypassing
// the FaultStore and its schedule. It is the attacker of a fixation
// attack polling the ID it planted.
func (h *harness) peeker() func(cookie string) (UserSession, bool) {
	m, err := session.New[UserSession](h.mem, session.Config{Now: h.clock.Now, Logger: h.logger()})
	if err != nil {
		h.t.Fatal(err)
	}
	return func(cookie string) (UserSession, bool) {
		var (
			u  UserSession
			ok bool
		)
		serve(m, http.MethodGet, cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			u, ok, _ = s.Get()
		})
		return u, ok
	}
}

// renewalFault is one way of failing the store during a renewal, given the
// position i (from 1) of a call among the renewal's calls.
type renewalFault struct {
	name     string
	schedule func(f *backendtest.FaultStore, i int)
	// unknown is true for faults that may leave the manager unable to
	// tell whether the old ID was retired.
	unknown bool
}

var renewalFaults = []renewalFault{
	{name: "fails", schedule: func(f *backendtest.FaultStore, i int) {
		f.Nth(i, backendtest.OpAll, backendtest.Fault{Err: errOutage})
	}},
	{name: "reply lost", schedule: func(f *backendtest.FaultStore, i int) {
		f.Nth(i, backendtest.OpAll, backendtest.Fault{LostReply: true})
	}},
	{name: "reply lost, next call fails", unknown: true, schedule: func(f *backendtest.FaultStore, i int) {
		f.Nth(i, backendtest.OpAll, backendtest.Fault{LostReply: true})
		f.Nth(i+1, backendtest.OpAll, backendtest.Fault{Err: errOutage})
	}},
	{name: "outage from here on", unknown: true, schedule: func(f *backendtest.FaultStore, i int) {
		f.Nth(i, backendtest.OpAll, backendtest.Fault{Err: errOutage, Before: func(context.Context) {
			f.Always(backendtest.OpAll, backendtest.Fault{Err: errOutage})
		}})
	}},
}

// renewalCalls returns the store calls a successful renewal makes.
func renewalCalls(t *testing.T, renew string) []backendtest.Call {
	t.Helper()
	h := newHarness(t, session.Config{})
	b := newBrowser(t, h, renew)
	b.login()
	h.store.ResetCalls()
	if res := b.do(http.MethodPost, "/renew"); res.StatusCode != http.StatusOK {
		t.Fatalf("renewal without faults: status %d", res.StatusCode)
	}
	calls := h.store.Calls()
	if len(calls) < 2 {
		t.Fatalf("a renewal made %d store calls: %v", len(calls), calls)
	}
	return calls
}

// TestRenewalFailingAtEachStoreCall fails each store call of a renewal in
// turn, in each of the ways a store can fail (an error, a reply lost after
// the call was applied, a lost reply followed by an error, an outage that
// lasts), for both ways of renewing (RenewID after an Update, Renew). It
// holds the renewal to issue 7's promise:
//
//   - Before the renewal is complete (the new record created and the old
//     ID retired), the response is 503, the old record is unchanged and
//     the old cookie still opens it.
//   - Once it is complete, the response carries the new cookie and the
//     new ID holds the data.
//   - Either way the browser, with a real cookie jar, keeps a working
//     session holding the data of exactly the requests that succeeded,
//     and a retry of the request succeeds.
//   - The old ID never shows data written by this request, at any point
//     during the renewal (session fixation).
func TestRenewalFailingAtEachStoreCall(t *testing.T) {
	for _, renew := range []string{"RenewID", "Renew"} {
		calls := renewalCalls(t, renew)
		t.Logf("%s: a successful renewal makes %d store calls: %v", renew, len(calls), calls)
		for i := range calls {
			for _, fault := range renewalFaults {
				name := fmt.Sprintf("%s/call %d (%s)/%s", renew, i+1, calls[i].Op, fault.name)
				t.Run(name, func(t *testing.T) {
					testRenewalFault(t, renew, i+1, fault)
				})
			}
		}
	}
}

func testRenewalFault(t *testing.T, renew string, i int, fault renewalFault) {
	h := newHarness(t, session.Config{})
	b := newBrowser(t, h, renew)
	old := b.login()
	_, before, err := h.storedEnvelope(old)
	if err != nil {
		t.Fatalf("no record after the login: %v", err)
	}

	// The attacker polls the old ID before every store call of the
	// renewal and after the response.
	peek := h.peeker()
	var mu sync.Mutex
	var leaked []UserSession
	check := func(context.Context) {
		if u, ok := peek(old); ok && u.UserID != "anon" {
			mu.Lock()
			leaked = append(leaked, u)
			mu.Unlock()
		}
	}
	h.store.Always(backendtest.OpAll, backendtest.Fault{Before: check})
	h.store.ResetCalls()
	fault.schedule(h.store.FaultStore, i)
	res := b.do(http.MethodPost, "/renew")
	h.store.Clear()
	check(context.Background())
	if len(leaked) != 0 {
		t.Errorf("the old ID showed this request's data: %+v", leaked)
	}
	if h.store.Count(backendtest.OpAll) < int64(i) {
		t.Fatalf("the renewal made %d store calls, fewer than the faulted call's position %d", h.store.Count(backendtest.OpAll), i)
	}

	newCookie := sessionCookie(t, res, "session")
	complete := h.retired(old)
	t.Logf("status %d, old ID retired %v, new cookie %v, calls %v", res.StatusCode, complete, newCookie != nil, h.store.Calls())
	if !complete {
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("the renewal did not complete, and answered %d, want 503", res.StatusCode)
		}
		if _, after, _ := h.storedEnvelope(old); after.Version != before.Version || string(after.Data) != string(before.Data) {
			t.Error("the renewal did not complete, and changed the old record")
		}
		if u, ok := h.get(old); !ok || u.UserID != "anon" || u.Visits != 0 {
			t.Errorf("the renewal did not complete, and the old cookie opens %+v, %v; want the old session", u, ok)
		}
		if newCookie != nil && !fault.unknown {
			t.Errorf("a single fault that leaves no doubt about the outcome sent the new cookie %v", newCookie)
		}
	} else {
		if newCookie == nil || "session="+newCookie.Value == old {
			t.Fatalf("the renewal completed (the old ID is retired) and the response carries no new cookie: %q",
				res.Header.Values("Set-Cookie"))
		}
		if res.StatusCode != http.StatusOK && !fault.unknown {
			t.Errorf("the renewal completed, with no doubt about it, and answered %d, want 200", res.StatusCode)
		}
		if _, ok := h.get(old); ok {
			t.Error("the old ID still opens a session after the renewal completed")
		}
	}
	if newCookie != nil {
		if u, ok := h.get("session=" + newCookie.Value); !ok || u.UserID != "ada" || u.Visits != 1 {
			t.Errorf("the new cookie opens %+v, %v; want the renewed data", u, ok)
		}
	}

	// The browser's next page sees a session: the renewed one if the
	// response carried its cookie, the old one otherwise.
	u, ok := b.me()
	switch {
	case !ok:
		t.Fatal("the visitor lost their session")
	case newCookie != nil && (u.UserID != "ada" || u.Visits != 1 || !slices.Equal(u.Cart, []string{"tea"})):
		t.Errorf("after the renewal the browser sees %+v, want the renewed data", u)
	case newCookie == nil && (u.UserID != "anon" || u.Visits != 0):
		t.Errorf("after the failed renewal the browser sees %+v, want the old session", u)
	}

	// The visitor clicks again: the renewal succeeds, on the session the
	// browser holds, and each completed request counted once.
	held := b.cookie()
	if res := b.do(http.MethodPost, "/renew"); res.StatusCode != http.StatusOK {
		t.Fatalf("the retried renewal answered %d", res.StatusCode)
	}
	if b.cookie() == held {
		t.Error("the retried renewal kept the ID")
	}
	wantVisits := 1
	if newCookie != nil && renew == "RenewID" {
		wantVisits = 2
	}
	if u, ok := b.me(); !ok || u.UserID != "ada" || u.Visits != wantVisits {
		t.Errorf("after the retry the browser sees %+v, %v; want ada with %d visits", u, ok, wantVisits)
	}
}

// TestLostRepliesAreUnavailableNeverALogout loses the reply to each kind
// of write after the store applied it. The request gets 503 (the commit
// fails with ErrUnavailable), never a logout, and never a second
// application of its changes; the visitor's retry ends in the state of
// each click applied exactly once.
func TestLostRepliesAreUnavailableNeverALogout(t *testing.T) {
	lost := backendtest.Fault{LostReply: true}

	t.Run("Create", func(t *testing.T) {
		h := newHarness(t, session.Config{})
		b := newBrowser(t, h, "RenewID")
		h.store.Next(backendtest.OpCreate, lost)
		res := b.do(http.MethodPost, "/login")
		if res.StatusCode != http.StatusServiceUnavailable || sessionCookie(t, res, "session") != nil {
			t.Errorf("lost Create reply: status %d, Set-Cookie %q; want 503 and no cookie",
				res.StatusCode, res.Header.Values("Set-Cookie"))
		}
		if n := h.store.Count(backendtest.OpCreate); n != 1 {
			t.Errorf("%d Creates for one login", n)
		}
		if res := b.do(http.MethodPost, "/login"); res.StatusCode != http.StatusOK {
			t.Fatalf("retried login: %d", res.StatusCode)
		}
		if u, ok := b.me(); !ok || u.UserID != "anon" {
			t.Errorf("after the retry: %+v, %v", u, ok)
		}
	})

	t.Run("Update", func(t *testing.T) {
		h := newHarness(t, session.Config{})
		b := newBrowser(t, h, "RenewID")
		cookie := b.login()
		h.store.ResetCalls()
		h.store.Next(backendtest.OpUpdate, lost)
		res := b.do(http.MethodPost, "/visit")
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("lost Update reply: status %d, want 503", res.StatusCode)
		}
		if v := res.Header.Values("Set-Cookie"); len(v) != 0 {
			t.Errorf("lost Update reply: Set-Cookie %q", v)
		}
		// The manager must not send the write again: on a store that
		// applied it, the repeat conflicts, and a replay of the Update on
		// the fresh data would count the click twice.
		if n := h.store.Count(backendtest.OpUpdate); n != 1 {
			t.Errorf("%d Updates for one click", n)
		}
		if u, ok := h.get(cookie); !ok || u.Visits != 1 {
			t.Errorf("after the click whose reply was lost: %+v, %v; want 1 visit, applied once", u, ok)
		}
		if res := b.do(http.MethodPost, "/visit"); res.StatusCode != http.StatusOK {
			t.Fatalf("retried click: %d", res.StatusCode)
		}
		if u, ok := b.me(); !ok || u.Visits != 2 || b.cookie() != cookie {
			t.Errorf("after two clicks: %+v, %v; want 2 visits under the same ID", u, ok)
		}
	})

	t.Run("Touch", func(t *testing.T) {
		// A touch only extends the idle timeout; its failure is logged and
		// the read-only request is answered as usual.
		h := newHarness(t, session.Config{IdleTimeout: time.Hour})
		b := newBrowser(t, h, "RenewID")
		cookie := b.login()
		h.clock.Advance(50 * time.Minute)
		h.store.ResetCalls()
		h.store.Next(backendtest.OpTouch, lost)
		u, ok := b.me()
		if !ok || u.UserID != "anon" {
			t.Errorf("read with a lost Touch reply: %+v, %v", u, ok)
		}
		if n := h.store.Count(backendtest.OpTouch); n != 1 || h.store.Pending() != 0 {
			t.Fatalf("%d Touches, %d faults pending; the test needs the read to touch", n, h.store.Pending())
		}
		if b.cookie() != cookie {
			t.Error("a lost Touch reply changed the cookie")
		}
		if !strings.Contains(h.logs.String(), "session touch failed") {
			t.Error("the failed touch was not logged")
		}
		// The touch was applied: the session outlives its first idle hour.
		h.clock.Advance(30 * time.Minute)
		if u, ok := b.me(); !ok || u.UserID != "anon" {
			t.Errorf("after the applied touch: %+v, %v", u, ok)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		h := newHarness(t, session.Config{})
		b := newBrowser(t, h, "RenewID")
		cookie := b.login()
		h.store.Next(backendtest.OpDelete, lost)
		res := b.do(http.MethodPost, "/logout")
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("lost Delete reply: status %d, want 503", res.StatusCode)
		}
		if c := sessionCookie(t, res, "session"); c != nil {
			t.Errorf("lost Delete reply: the cookie was changed (%v) although the logout failed", c)
		}
		if _, ok := h.get(cookie); ok {
			t.Error("the Delete whose reply was lost was not applied")
		}
		// The visitor clicks "log out" again, and is logged out.
		if res := b.do(http.MethodPost, "/logout"); res.StatusCode != http.StatusOK {
			t.Fatalf("retried logout: %d", res.StatusCode)
		}
		if b.cookie() != "" {
			t.Errorf("the jar still holds %q after the logout", b.cookie())
		}
		if _, ok := b.me(); ok {
			t.Error("a session after the logout")
		}
	})
}
