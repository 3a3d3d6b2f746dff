package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/typedsession/session/backend/backendtest"
	"github.com/typedsession/session/codec"
)

// listed is one session in the JSON answer of GET /sessions.
type listed struct {
	Handle    string    `json:"handle"`
	Created   time.Time `json:"created"`
	LastWrite time.Time `json:"last_write"`
	Expires   time.Time `json:"expires"`
	Current   bool      `json:"current"`
}

// sessions returns what GET /sessions lists for c, and the handles of the
// current session and of the others. It fails the test unless exactly one
// session is current.
func (c *client) sessions() (list []listed, current string, others []string) {
	c.d.t.Helper()
	res := c.do("GET", "/sessions", nil, acceptJSON)
	res.want(c.d.t, http.StatusOK)
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		c.d.t.Fatalf("Content-Type %q", ct)
	}
	var body struct {
		Sessions []listed `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(res.body), &body); err != nil {
		c.d.t.Fatalf("GET /sessions: %q: %v", res.body, err)
	}
	for _, s := range body.Sessions {
		if s.Handle == "" || s.Created.IsZero() || s.LastWrite.Before(s.Created) || !s.Expires.After(time.Now()) {
			c.d.t.Errorf("listed session %+v", s)
		}
		if !s.Current {
			others = append(others, s.Handle)
			continue
		}
		if current != "" {
			c.d.t.Errorf("two sessions are current: %s", res.body)
		}
		current = s.Handle
	}
	if current == "" {
		c.d.t.Errorf("no session is current: %s", res.body)
	}
	return body.Sessions, current, others
}

// status returns the status of GET /me for c.
func (c *client) status() int {
	c.d.t.Helper()
	return c.do("GET", "/me", nil, acceptJSON).StatusCode
}

// TestSessionsListAndRevoke: alice on two clients and bob on one. Each of
// alice's clients lists her two sessions, its own marked current; ending
// the other one from the first client logs the second out and nobody
// else.
func TestSessionsListAndRevoke(t *testing.T) {
	d := startDemo(t, nil)
	laptop, phone, bob := d.client(), d.client(), d.client()
	laptop.login("alice")
	phone.login("alice")
	bob.login("bob")

	list, laptopHandle, others := laptop.sessions()
	if len(list) != 2 || len(others) != 1 {
		t.Fatalf("alice's laptop lists %+v; want her two sessions", list)
	}
	phoneHandle := others[0]
	if _, cur, others := phone.sessions(); cur != phoneHandle || len(others) != 1 || others[0] != laptopHandle {
		t.Fatalf("alice's phone lists current %q and others %q; want %q and [%q]", cur, others, phoneHandle, laptopHandle)
	}
	bobList, bobHandle, _ := bob.sessions()
	if len(bobList) != 1 {
		t.Fatalf("bob lists %+v; want his one session", bobList)
	}

	// Another user's handle is no session of alice's: 404, and bob stays.
	res := laptop.do("POST", "/sessions/revoke", url.Values{"handle": {bobHandle}}, acceptJSON)
	res.want(t, http.StatusNotFound)
	res.problem(t)
	if bob.status() != http.StatusOK {
		t.Fatal("alice ended bob's session with his handle")
	}
	laptop.do("POST", "/sessions/revoke", url.Values{"handle": {"no-such-handle"}}, acceptJSON).want(t, http.StatusNotFound)
	laptop.do("POST", "/sessions/revoke", url.Values{}, acceptJSON).want(t, http.StatusBadRequest)

	// The laptop ends the phone's session.
	res = laptop.do("POST", "/sessions/revoke", url.Values{"handle": {phoneHandle}}, acceptJSON)
	res.want(t, http.StatusNoContent)
	if res.body != "" {
		t.Errorf("204 with body %q", res.body)
	}
	if got := phone.status(); got != http.StatusUnauthorized {
		t.Errorf("the revoked phone's GET /me: %d, want 401", got)
	}
	if laptop.status() != http.StatusOK || bob.status() != http.StatusOK {
		t.Error("revoking the phone ended another session")
	}
	if list, cur, _ := laptop.sessions(); len(list) != 1 || cur != laptopHandle {
		t.Errorf("after revoking the phone the laptop lists %+v", list)
	}
	// Ended is ended: the same handle again is 404.
	laptop.do("POST", "/sessions/revoke", url.Values{"handle": {phoneHandle}}, acceptJSON).want(t, http.StatusNotFound)

	// Anonymous visitors have no sessions to list or end.
	anon := d.client()
	anon.do("GET", "/sessions", nil, acceptJSON).want(t, http.StatusUnauthorized)
	anon.do("POST", "/sessions/revoke", url.Values{"handle": {laptopHandle}}, acceptJSON).want(t, http.StatusUnauthorized)
	if laptop.status() != http.StatusOK {
		t.Error("an anonymous POST /sessions/revoke ended alice's session")
	}
}

// TestSessionsPage: the page lists the sessions, marks the current one,
// has a button for each other one only, and its button ends that session
// and comes back to the page with a flash.
func TestSessionsPage(t *testing.T) {
	d := startDemo(t, nil)
	laptop, phone := d.client(), d.client()
	laptop.login("alice")
	phone.login("alice")
	_, _, others := laptop.sessions()

	res := laptop.do("GET", "/sessions", nil, acceptBrowser)
	res.want(t, http.StatusOK)
	for _, want := range []string{`id="session-list"`, `class="session current"`, "<strong>This browser</strong>",
		`action="/sessions/revoke"`, `name="handle" value="` + others[0] + `"`, `action="/logout-all"`} {
		if !strings.Contains(res.body, want) {
			t.Errorf("sessions page lacks %q", want)
		}
	}
	if n := strings.Count(res.body, `action="/sessions/revoke"`); n != 1 {
		t.Errorf("%d revoke buttons for one other session", n)
	}
	if !strings.Contains(laptop.do("GET", "/", nil, acceptBrowser).body, `href="/sessions"`) {
		t.Error("the home page has no link to the sessions page")
	}

	res = laptop.do("POST", "/sessions/revoke", url.Values{"handle": {others[0]}}, acceptBrowser)
	res.want(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/sessions" {
		t.Errorf("Location %q", loc)
	}
	if phone.status() != http.StatusUnauthorized {
		t.Error("the page's button did not end the other session")
	}
	page := laptop.do("GET", "/sessions", nil, acceptBrowser).body
	if !strings.Contains(page, "Signed out the other session.") || strings.Contains(page, `action="/sessions/revoke"`) {
		t.Errorf("sessions page after the revocation:\n%s", page)
	}

	// Logged out, the page sends the browser to log in and come back.
	res = d.client().do("GET", "/sessions", nil, acceptBrowser)
	res.want(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/?next=%2Fsessions" {
		t.Errorf("Location %q", loc)
	}
}

// TestRevokeCurrentSessionLogsOut: ending the current session by its
// handle is a logout, cookie cleared, and leaves the others.
func TestRevokeCurrentSessionLogsOut(t *testing.T) {
	d := startDemo(t, nil)
	laptop, phone := d.client(), d.client()
	laptop.login("alice")
	phone.login("alice")
	_, cur, _ := laptop.sessions()
	old := laptop.sessionCookie()
	laptop.do("POST", "/sessions/revoke", url.Values{"handle": {cur}}, acceptJSON).want(t, http.StatusNoContent)
	if laptop.sessionCookie() != "" {
		t.Error("ending the current session did not clear its cookie")
	}
	replay := d.client()
	replay.setSessionCookie(old)
	if replay.status() != http.StatusUnauthorized {
		t.Error("the current session survived its revocation")
	}
	if phone.status() != http.StatusOK {
		t.Error("ending the laptop's own session ended the phone's")
	}
}

// TestLogoutAll: POST /logout-all ends every session of the user, the
// current one with its cookie, and no other user's.
func TestLogoutAll(t *testing.T) {
	d := startDemo(t, nil)
	laptop, phone, bob := d.client(), d.client(), d.client()
	laptop.login("alice")
	phone.login("alice")
	bob.login("bob")
	old := laptop.sessionCookie()

	res := laptop.do("POST", "/logout-all", nil, acceptJSON)
	res.want(t, http.StatusNoContent)
	if res.body != "" {
		t.Errorf("204 with body %q", res.body)
	}
	if laptop.sessionCookie() != "" {
		t.Error("POST /logout-all did not clear the cookie")
	}
	replay := d.client()
	replay.setSessionCookie(old)
	for name, c := range map[string]*client{"laptop": laptop, "phone": phone, "laptop's old cookie": replay} {
		if got := c.status(); got != http.StatusUnauthorized {
			t.Errorf("alice's %s after POST /logout-all: GET /me %d, want 401", name, got)
		}
	}
	if got := bob.status(); got != http.StatusOK {
		t.Errorf("bob after alice's POST /logout-all: GET /me %d, want 200", got)
	}
	if list, _, _ := bob.sessions(); len(list) != 1 {
		t.Errorf("bob lists %+v", list)
	}

	// Without a session there is nothing to end.
	d.client().do("POST", "/logout-all", nil, acceptJSON).want(t, http.StatusUnauthorized)

	// Browsers go back to the page, with a flash that counts.
	laptop.login("alice")
	phone.login("alice")
	res = laptop.do("POST", "/logout-all", nil, acceptBrowser)
	res.want(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/" {
		t.Errorf("Location %q", loc)
	}
	page := laptop.do("GET", "/", nil, acceptBrowser).body
	if !strings.Contains(page, "Logged out everywhere: 2 sessions ended.") || !strings.Contains(page, `id="login-form"`) {
		t.Errorf("page after POST /logout-all:\n%s", page)
	}
	if phone.status() != http.StatusUnauthorized {
		t.Error("the browser's POST /logout-all left the phone logged in")
	}
}

// TestSessionsCookieBackend: the cookie backend keeps no list of a user's
// sessions, so the routes that need one answer 501 and say why, and
// change nothing.
func TestSessionsCookieBackend(t *testing.T) {
	d := startCookieDemo(t, cookieSecret, codec.MsgPack)
	c := d.client()
	c.login("alice")
	for _, r := range []struct {
		method, path string
		form         url.Values
	}{
		{"GET", "/sessions", nil},
		{"POST", "/logout-all", nil},
		{"POST", "/sessions/revoke", url.Values{"handle": {"x"}}},
	} {
		res := c.do(r.method, r.path, r.form, acceptJSON)
		res.want(t, http.StatusNotImplemented)
		if p := res.problem(t); !strings.Contains(p["detail"].(string), "not available with this session backend") {
			t.Errorf("%s %s: detail %v", r.method, r.path, p["detail"])
		}
		res = c.do(r.method, r.path, r.form, acceptBrowser)
		res.want(t, http.StatusNotImplemented)
		if !strings.Contains(res.body, "not available with this session backend") {
			t.Errorf("%s %s: the page does not say why:\n%s", r.method, r.path, res.body)
		}
	}
	page := c.do("GET", "/sessions", nil, acceptBrowser).body
	if !strings.Contains(page, `id="sessions-unsupported"`) || strings.Contains(page, `id="session-list"`) {
		t.Errorf("sessions page on the cookie backend:\n%s", page)
	}
	if c.sessionCookie() == "" || c.status() != http.StatusOK {
		t.Error("a refused POST /logout-all logged the user out")
	}
}

// TestSessionsIndexOutage: a store whose index calls fail is 503, never a
// logout, and the sessions survive it.
func TestSessionsIndexOutage(t *testing.T) {
	d := startDemo(t, nil)
	laptop, phone := d.client(), d.client()
	laptop.login("alice")
	phone.login("alice")
	_, _, others := laptop.sessions()
	d.store.Always(backendtest.OpGroup|backendtest.OpDeleteGroup, backendtest.Fault{Err: errOutage})
	for _, r := range []struct {
		method, path string
		form         url.Values
	}{
		{"GET", "/sessions", nil},
		{"POST", "/logout-all", nil},
		{"POST", "/sessions/revoke", url.Values{"handle": {others[0]}}},
	} {
		res := laptop.do(r.method, r.path, r.form, acceptJSON)
		res.want(t, http.StatusServiceUnavailable)
		res.problem(t)
	}
	d.down(false)
	if laptop.status() != http.StatusOK || phone.status() != http.StatusOK {
		t.Error("a failed index call ended a session")
	}
}

// checkLogoutAllOn logs one user in twice and another once on d, lists
// the first user's sessions, logs them out everywhere, and checks that
// only the other user stays. Names are unique per run, since networked
// stores are shared between test runs.
func checkLogoutAllOn(t *testing.T, d *demo) {
	t.Helper()
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	user, other := "ada-"+suffix, "bob-"+suffix
	laptop, phone, bob := d.client(), d.client(), d.client()
	laptop.login(user)
	phone.login(user)
	bob.login(other)
	if list, current, _ := laptop.sessions(); len(list) != 2 || current == "" {
		t.Fatalf("%s lists %+v (current %q), want her two sessions", user, list, current)
	}
	laptop.do("POST", "/logout-all", nil, acceptJSON).want(t, http.StatusNoContent)
	if laptop.status() != http.StatusUnauthorized || phone.status() != http.StatusUnauthorized {
		t.Errorf("after POST /logout-all: laptop %d, phone %d, want 401 both", laptop.status(), phone.status())
	}
	if got := bob.status(); got != http.StatusOK {
		t.Errorf("the other user after POST /logout-all: %d, want 200", got)
	}
}
