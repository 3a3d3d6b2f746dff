package session_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
	"github.com/typedsession/session/backend/cookiestore"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/internal/token"
)

// byUser is the Owner of a UserSession.
var byUser = session.OwnerOf(func(u UserSession) string { return u.UserID })

// device is one browser: a client with its own cookie jar.
type device struct {
	t      *testing.T
	srv    *httptest.Server
	client *http.Client
}

// ownerApp serves the routes the owner tests use through mgr:
//
//	POST /login?user=U   Renew to a session of U
//	POST /set?user=U     Set (no explicit renewal) to a session of U
//	GET  /me             200 with the user, 401 without a session
//	POST /visit          Update: Visits++
//	GET  /sessions       the current user's sessions, one per line: handle current
//	POST /others         RevokeOtherSessions of the current user
//	POST /revoke?h=H     RevokeSession of the current user's session H
func ownerApp(t *testing.T, mgr *session.Manager[UserSession]) *httptest.Server {
	mux := http.NewServeMux()
	user := func(w http.ResponseWriter, r *http.Request) (string, bool) {
		u, ok, err := mgr.From(r).Get()
		switch {
		case err != nil:
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return "", false
		case !ok:
			http.Error(w, "no session", http.StatusUnauthorized)
			return "", false
		}
		return u.UserID, true
	}
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Renew(UserSession{UserID: r.URL.Query().Get("user")}); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Set(UserSession{UserID: r.URL.Query().Get("user")}); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		if u, ok := user(w, r); ok {
			io.WriteString(w, u)
		}
	})
	mux.HandleFunc("POST /visit", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := user(w, r); !ok {
			return
		}
		if err := mgr.From(r).Update(func(u *UserSession) error { u.Visits++; return nil }); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /sessions", func(w http.ResponseWriter, r *http.Request) {
		u, ok := user(w, r)
		if !ok {
			return
		}
		list, err := mgr.Sessions(r.Context(), u)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		for _, s := range list {
			fmt.Fprintf(w, "%s %v\n", s.Handle, s.Current)
		}
	})
	mux.HandleFunc("POST /others", func(w http.ResponseWriter, r *http.Request) {
		u, ok := user(w, r)
		if !ok {
			return
		}
		n, err := mgr.RevokeOtherSessions(r.Context(), u)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {
		u, ok := user(w, r)
		if !ok {
			return
		}
		if err := mgr.RevokeSession(r.Context(), u, r.URL.Query().Get("h")); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
		}
	})
	srv := httptest.NewUnstartedServer(mgr.Middleware(mux))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshakes cut short at Close
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func newDevice(t *testing.T, srv *httptest.Server) *device {
	c := *srv.Client() // the server's client is shared: copy it for a jar of its own
	c.Jar = newJar(t)
	return &device{t: t, srv: srv, client: &c}
}

// call sends a request and returns the status and body.
func (d *device) call(method, path string) (int, string) {
	d.t.Helper()
	req, err := http.NewRequest(method, d.srv.URL+path, nil)
	if err != nil {
		d.t.Fatal(err)
	}
	res, err := d.client.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(b))
}

func (d *device) must(method, path string) string {
	d.t.Helper()
	code, body := d.call(method, path)
	if code != http.StatusOK {
		d.t.Fatalf("%s %s: %d %s", method, path, code, body)
	}
	return body
}

// me returns the user /me answers with, or "" for a 401.
func (d *device) me() string {
	d.t.Helper()
	code, body := d.call("GET", "/me")
	switch code {
	case http.StatusOK:
		return body
	case http.StatusUnauthorized:
		return ""
	}
	d.t.Fatalf("GET /me: %d %s", code, body)
	return ""
}

// sessions returns the handles /sessions lists and the current one.
func (d *device) sessions() (handles []string, current string) {
	d.t.Helper()
	for _, line := range strings.Split(d.must("GET", "/sessions"), "\n") {
		h, cur, _ := strings.Cut(line, " ")
		handles = append(handles, h)
		if cur == "true" {
			if current != "" {
				d.t.Errorf("two sessions marked current: %q", line)
			}
			current = h
		}
	}
	return handles, current
}

func TestOwnerSessionsListRevokeOthersAndOne(t *testing.T) {
	h := newHarness(t, session.Config{})
	mgr := h.manager(session.Config{Owner: byUser})
	srv := ownerApp(t, mgr)
	laptop, phone, tablet, bob := newDevice(t, srv), newDevice(t, srv), newDevice(t, srv), newDevice(t, srv)
	for _, d := range []*device{laptop, phone, tablet} {
		d.must("POST", "/login?user=alice")
	}
	bob.must("POST", "/login?user=bob")

	handles, current := laptop.sessions()
	if len(handles) != 3 || current == "" {
		t.Fatalf("alice's laptop lists %q with current %q; want her three sessions, one current", handles, current)
	}
	for _, hd := range handles {
		for _, d := range []*device{laptop, phone, tablet} {
			for _, c := range d.cookies() {
				if strings.Contains(c.Value, hd) || strings.Contains(hd, c.Value[:8]) {
					t.Errorf("handle %q shares characters with an ID %q", hd, c.Value)
				}
			}
		}
	}
	if _, phoneCurrent := phone.sessions(); phoneCurrent == current || phoneCurrent == "" {
		t.Errorf("the phone's current session %q, the laptop's %q: want two different ones", phoneCurrent, current)
	}
	if bobs, _ := bob.sessions(); len(bobs) != 1 {
		t.Errorf("bob lists %d sessions, want 1", len(bobs))
	}

	// Sign out the tablet from the laptop.
	_, tabletHandle := tablet.sessions()
	laptop.must("POST", "/revoke?h="+tabletHandle)
	if u := tablet.me(); u != "" {
		t.Errorf("the revoked tablet is still logged in as %q", u)
	}
	if code, _ := laptop.call("POST", "/revoke?h="+tabletHandle); code != http.StatusNotFound {
		t.Errorf("revoking the same handle again: %d, want the app's 404 for ErrNotFound", code)
	}

	// Log out the other devices: the phone goes, the laptop and bob stay.
	if n := laptop.must("POST", "/others"); n != "1" {
		t.Errorf("RevokeOtherSessions ended %s sessions, want 1 (the phone)", n)
	}
	if u := phone.me(); u != "" {
		t.Errorf("the phone is still logged in as %q", u)
	}
	if u := laptop.me(); u != "alice" {
		t.Errorf("the laptop reads %q after logging out the others, want alice", u)
	}
	if u := bob.me(); u != "bob" {
		t.Errorf("bob reads %q after alice's revocations, want bob", u)
	}
	if handles, _ := laptop.sessions(); len(handles) != 1 {
		t.Errorf("alice lists %d sessions after logging out the others, want 1", len(handles))
	}

	// Revoke everything of alice: the laptop too, and its next write
	// fails instead of re-creating the session.
	if n, err := mgr.RevokeOwner(context.Background(), "alice"); err != nil || n != 1 {
		t.Errorf("RevokeOwner = (%d, %v), want (1, nil)", n, err)
	}
	if u := laptop.me(); u != "" {
		t.Errorf("the laptop is still logged in as %q after RevokeOwner", u)
	}
	if u := bob.me(); u != "bob" {
		t.Errorf("bob reads %q after RevokeOwner(alice)", u)
	}
	if !strings.Contains(h.logs.String(), session.EventRevoked) {
		t.Error("no revocation was logged")
	}
}

// cookies returns the cookies d's jar holds for its server.
func (d *device) cookies() []*http.Cookie {
	u, err := url.Parse(d.srv.URL)
	if err != nil {
		d.t.Fatal(err)
	}
	return d.client.Jar.Cookies(u)
}

func TestSessionsDescribesEachSession(t *testing.T) {
	h := newHarness(t, session.Config{})
	mgr := h.manager(session.Config{Owner: byUser, IdleTimeout: time.Hour, Lifetime: 3 * time.Hour})
	cookie := ""
	res := serve(mgr, "POST", "", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Renew(UserSession{UserID: "carol"})
	})
	cookie = "session=" + sessionCookie(t, res, "session").Value
	login := epoch
	h.clock.Advance(40 * time.Minute)
	serve(mgr, "POST", cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Update(func(u *UserSession) error { u.Visits++; return nil })
	})
	var list []session.SessionInfo
	serve(mgr, "GET", cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		var err error
		if list, err = mgr.Sessions(r.Context(), "carol"); err != nil {
			t.Fatal(err)
		}
	})
	if len(list) != 1 {
		t.Fatalf("Sessions = %+v, want one", list)
	}
	got := list[0]
	if !got.Current || !got.Created.Equal(login) || !got.LastWrite.Equal(login.Add(40*time.Minute)) ||
		!got.Expires.Equal(login.Add(100*time.Minute)) {
		t.Errorf("Sessions = %+v; want current, created %v, last write %v, expiring at the idle timeout %v",
			got, login, login.Add(40*time.Minute), login.Add(100*time.Minute))
	}
	// Near the end of its lifetime, the lifetime is when it expires.
	for range 2 {
		h.clock.Advance(50 * time.Minute)
		serve(mgr, "POST", cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			_ = s.Update(func(u *UserSession) error { u.Visits++; return nil })
		})
	}
	if list, _ := mgr.Sessions(context.Background(), "carol"); len(list) != 1 || !list[0].Expires.Equal(login.Add(3*time.Hour)) {
		t.Errorf("Sessions near the lifetime = %+v, want it to expire at %v", list, login.Add(3*time.Hour))
	}
	// Outside a request nothing is current.
	list, _ = mgr.Sessions(context.Background(), "carol")
	if len(list) != 1 || list[0].Current || list[0].Handle != got.Handle {
		t.Errorf("Sessions outside a request = %+v; want the same handle, not current", list)
	}
}

// TestOwnerChangeMovesTheSessionToANewID: a Set that changes the owner,
// without Renew, still moves the session to a new ID in the new owner's
// index, so the anonymous ID stops working and the owner can revoke it.
func TestOwnerChangeMovesTheSessionToANewID(t *testing.T) {
	h := newHarness(t, session.Config{})
	mgr := h.manager(session.Config{Owner: byUser})
	srv := ownerApp(t, mgr)
	d := newDevice(t, srv)
	d.must("POST", "/set?user=") // an anonymous session (a cart)
	anon := d.cookies()[0].Value
	d.must("POST", "/set?user=dave")
	dave := d.cookies()[0].Value
	if dave == anon {
		t.Fatal("the owner changed without a new ID")
	}
	if got, ok := h.get("session=" + anon); ok {
		t.Errorf("the anonymous ID still reads %+v", got)
	}
	if handles, cur := d.sessions(); len(handles) != 1 || cur == "" {
		t.Errorf("dave lists %q (current %q), want his one session", handles, cur)
	}
	// A switch of user moves it again; the old owner's list empties.
	d.must("POST", "/set?user=erin")
	if list, err := mgr.Sessions(context.Background(), "dave"); err != nil || len(list) != 0 {
		t.Errorf("dave's sessions after the switch to erin: %+v, %v", list, err)
	}
	if list, err := mgr.Sessions(context.Background(), "erin"); err != nil || len(list) != 1 {
		t.Errorf("erin's sessions: %+v, %v", list, err)
	}
}

// TestSessionsFromBeforeOwnerJoinTheIndex: a rolling deploy that turns
// Config.Owner on. Sessions created by the old build are moved into their
// owner's index on their next request, even a read-only one, so that
// RevokeOwner reaches them.
func TestSessionsFromBeforeOwnerJoinTheIndex(t *testing.T) {
	h := newHarness(t, session.Config{})
	old := h.manager(session.Config{})
	srvOld := ownerApp(t, old)
	d := newDevice(t, srvOld)
	d.must("POST", "/login?user=fay")

	mgr := h.manager(session.Config{Owner: byUser})
	if list, _ := mgr.Sessions(context.Background(), "fay"); len(list) != 0 {
		t.Fatalf("a session of the old build is listed before its next request: %+v", list)
	}
	srv := ownerApp(t, mgr)
	d.srv = srv // the same jar: cookies are per host, and both serve 127.0.0.1
	if u := d.me(); u != "fay" {
		t.Fatalf("the new build reads %q", u)
	}
	if list, _ := mgr.Sessions(context.Background(), "fay"); len(list) != 1 {
		t.Fatalf("after one read-only request fay lists %d sessions, want 1", len(list))
	}
	if _, err := mgr.RevokeOwner(context.Background(), "fay"); err != nil {
		t.Fatal(err)
	}
	if u := d.me(); u != "" {
		t.Errorf("fay reads %q after RevokeOwner", u)
	}
}

// TestRevokeRacingLoginsAndWrites: two app instances on one store. While
// logins and writes of one user pour in through both, RevokeOwner runs.
// Every session whose login completed before the call is dead once it
// returns, on both instances; no write brings one back.
func TestRevokeRacingLoginsAndWrites(t *testing.T) {
	h := newHarness(t, session.Config{})
	mgrs := []*session.Manager[UserSession]{
		h.manager(session.Config{Owner: byUser}),
		h.manager(session.Config{Owner: byUser}),
	}
	srvs := []*httptest.Server{ownerApp(t, mgrs[0]), ownerApp(t, mgrs[1])}
	const workers = 8
	var (
		revoking atomic.Bool
		stop     atomic.Bool
		mu       sync.Mutex
		before   []*device // logged in before RevokeOwner was called
		wg       sync.WaitGroup
		ready    sync.WaitGroup
	)
	ready.Add(workers)
	for w := range workers {
		wg.Go(func() {
			first := true
			for !stop.Load() {
				d := newDevice(t, srvs[w%2])
				if code, body := d.call("POST", "/login?user=gus"); code != http.StatusOK {
					t.Errorf("login: %d %s", code, body)
					return
				}
				if !revoking.Load() {
					mu.Lock()
					before = append(before, d)
					mu.Unlock()
				}
				if first {
					ready.Done()
					first = false
				}
				// Writes through the other instance, until revoked.
				d.srv = srvs[(w+1)%2]
				for range 3 {
					code, _ := d.call("POST", "/visit")
					if code == http.StatusUnauthorized || code == http.StatusConflict {
						break
					}
				}
			}
		})
	}
	ready.Wait()
	revoking.Store(true)
	if _, err := mgrs[0].RevokeOwner(context.Background(), "gus"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // writes go on after the revocation
	stop.Store(true)
	wg.Wait()
	survivors := 0
	for i, d := range before {
		d.srv = srvs[i%2]
		if d.me() != "" {
			survivors++
		}
	}
	if survivors > 0 {
		t.Errorf("%d of %d sessions logged in before RevokeOwner survived it", survivors, len(before))
	}
	t.Logf("%d sessions logged in before the revocation", len(before))
}

func TestOwnerIndexErrors(t *testing.T) {
	ctx := context.Background()
	// No Owner in the Config.
	h := newHarness(t, session.Config{})
	if _, err := h.mgr.Sessions(ctx, "x"); !errors.Is(err, session.ErrUnsupported) {
		t.Errorf("Sessions without Config.Owner: %v, want ErrUnsupported", err)
	}
	// A store without an index: a plain FaultStore, and a cookie store.
	plain, err := session.New[UserSession](backendtest.NewFaultStore(memstore.New()), session.Config{Owner: byUser})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.RevokeOwner(ctx, "x"); !errors.Is(err, session.ErrUnsupported) {
		t.Errorf("RevokeOwner on a store without an index: %v, want ErrUnsupported", err)
	}
	keys, err := cookiestore.KeyPairFromSecret([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := session.New[UserSession](cookiestore.New(keys), session.Config{Owner: byUser})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.RevokeSession(ctx, "x", "h"); !errors.Is(err, session.ErrUnsupported) {
		t.Errorf("RevokeSession on a cookie store: %v, want ErrUnsupported", err)
	}
	// An Owner of another type.
	if _, err := session.New[UserSession](memstore.New(), session.Config{
		Owner: session.OwnerOf(func(s struct{ ID string }) string { return s.ID }),
	}); err == nil || !strings.Contains(err.Error(), "Config.Owner") {
		t.Errorf("New with an Owner of another type: %v", err)
	}
	// An outage during a revocation is an error, and changes nothing.
	mgr := h.manager(session.Config{Owner: byUser})
	res := serve(mgr, "POST", "", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Renew(UserSession{UserID: "hal"})
	})
	cookie := "session=" + sessionCookie(t, res, "session").Value
	h.store.Next(backendtest.OpDeleteGroup, backendtest.Fault{Err: fmt.Errorf("down: %w", backend.ErrUnavailable)})
	if _, err := mgr.RevokeOwner(ctx, "hal"); !errors.Is(err, session.ErrUnavailable) {
		t.Errorf("RevokeOwner during an outage: %v, want ErrUnavailable", err)
	}
	if u, ok := h.get(cookie); !ok || u.UserID != "hal" {
		t.Errorf("after a failed revocation the session reads %+v, %v", u, ok)
	}
	h.store.Next(backendtest.OpGroup, backendtest.Fault{Err: fmt.Errorf("down: %w", backend.ErrUnavailable)})
	if _, err := mgr.Sessions(ctx, "hal"); !errors.Is(err, session.ErrUnavailable) {
		t.Errorf("Sessions during an outage: %v, want ErrUnavailable", err)
	}
}

// TestGroupedSessionsReadWithoutOwner: the deploy that turns Owner on
// goes in two steps, and so does a rollback: every instance first runs
// this release without Owner, which reads and writes the grouped sessions
// of instances with Owner like any other; then Owner is turned on (or, to
// roll back, off first). A grouped session stays grouped, and listable,
// when an instance without Owner writes it.
func TestGroupedSessionsReadWithoutOwner(t *testing.T) {
	h := newHarness(t, session.Config{})
	withOwner := h.manager(session.Config{Owner: byUser})
	res := serve(withOwner, "POST", "", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Renew(UserSession{UserID: "lee"})
	})
	cookie := "session=" + sessionCookie(t, res, "session").Value
	without := h.manager(session.Config{})
	res = serve(without, "POST", cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if u, ok, err := s.Get(); err != nil || !ok || u.UserID != "lee" {
			t.Errorf("a manager without Owner reads %+v, %v, %v", u, ok, err)
		}
		_ = s.Update(func(u *UserSession) error { u.Visits++; return nil })
	})
	if res.StatusCode != http.StatusOK || sessionCookie(t, res, "session") != nil {
		t.Errorf("a write without Owner: %d, Set-Cookie %q; want 200 and the cookie left alone", res.StatusCode, res.Header.Get("Set-Cookie"))
	}
	if u, ok := h.get(cookie); !ok || u.Visits != 1 {
		t.Errorf("the grouped session reads %+v, %v", u, ok)
	}
	if list, err := withOwner.Sessions(context.Background(), "lee"); err != nil || len(list) != 1 {
		t.Errorf("after a write without Owner, lee lists %+v, %v; want his session", list, err)
	}
}

// TestRevocationLogsNoOwner: revocations are logged without the owner or
// its group digest, which someone who can guess owners (numeric IDs,
// e-mail addresses) could test guesses against.
func TestRevocationLogsNoOwner(t *testing.T) {
	h := newHarness(t, session.Config{})
	mgr := h.manager(session.Config{Owner: byUser})
	serve(mgr, "POST", "", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Renew(UserSession{UserID: "48213"})
	})
	if n, err := mgr.RevokeOwner(context.Background(), "48213"); err != nil || n != 1 {
		t.Fatalf("RevokeOwner = %d, %v", n, err)
	}
	logs := h.logs.String()
	g := token.Group("48213")
	for _, bad := range []string{"48213", g[:8]} {
		if strings.Contains(logs, bad) {
			t.Errorf("the logs hold %q:\n%s", bad, logs)
		}
	}
	if !strings.Contains(logs, session.EventRevoked) {
		t.Error("the revocation was not logged")
	}
}
