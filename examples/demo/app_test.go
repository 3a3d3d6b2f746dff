package main

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/backendtest"
	"github.com/typedsession/session/codec"
)

func TestHealthz(t *testing.T) {
	d := startDemo(t, nil)
	res := d.client().do("GET", "/healthz", nil, "")
	res.want(t, http.StatusOK)
	if res.body != "ok\n" {
		t.Errorf("body %q", res.body)
	}
	if d.store.Count(backendtest.OpAll) != 0 {
		t.Errorf("%d store calls for /healthz", d.store.Count(backendtest.OpAll))
	}
}

func TestLoginJSON(t *testing.T) {
	d := startDemo(t, nil)
	for _, tc := range []struct {
		user string
		want UserSession
	}{
		{"ada", UserSession{User: "ada", Roles: []string{}, Cart: []string{}}},
		{"admin", UserSession{User: "admin", Roles: []string{"admin"}, Cart: []string{}}},
		{"Admin", UserSession{User: "Admin", Roles: []string{}, Cart: []string{}}},
		{"a.b_c-D9", UserSession{User: "a.b_c-D9", Roles: []string{}, Cart: []string{}}},
		{strings.Repeat("x", 64), UserSession{User: strings.Repeat("x", 64), Roles: []string{}, Cart: []string{}}},
	} {
		c := d.client()
		res := c.do("POST", "/login", url.Values{"user": {tc.user}}, acceptJSON)
		res.want(t, http.StatusOK)
		if got := res.session(t); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("login %q: %+v, want %+v", tc.user, got, tc.want)
		}
		if got := c.do("GET", "/me", nil, acceptJSON).session(t); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("/me after login %q: %+v, want %+v", tc.user, got, tc.want)
		}
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	d := startDemo(t, nil)
	res := d.client().do("POST", "/login", url.Values{"user": {"ada"}}, acceptJSON)
	res.want(t, http.StatusOK)
	cookies := res.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if c.Name != "session" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != 0 || !c.Expires.IsZero() {
		t.Errorf("session cookie %s: want HttpOnly, Secure, SameSite=Lax, Path=/, no expiry", res.Header.Get("Set-Cookie"))
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", res.Header.Get("Cache-Control"))
	}
}

// TestRememberMe checks the login form's "remember me" box: ticked, the
// session's cookie lasts until the absolute deadline; unticked, it is a
// browser-session cookie.
func TestRememberMe(t *testing.T) {
	d := startDemo(t, nil)
	res := d.client().do("POST", "/login", url.Values{"user": {"ada"}, "remember": {"on"}}, acceptJSON)
	res.want(t, http.StatusOK)
	if c := res.Cookies(); len(c) != 1 || c[0].MaxAge < int((session.DefaultLifetime-time.Minute)/time.Second) || c[0].Expires.IsZero() {
		t.Errorf("remembered login: %s; want an expiry at the lifetime", res.Header.Get("Set-Cookie"))
	}
}

func TestLoginBrowserRedirects(t *testing.T) {
	d := startDemo(t, nil)
	for _, tc := range []struct{ next, want string }{
		{"", "/"},
		{"/admin", "/admin"},
		{"/me?x=1", "/me?x=1"},
		{"//evil.example", "/"},
		{"/\\evil.example", "/"},
		{"https://evil.example/", "/"},
		{"/%2F%2Fevil.example", "/"},
		{"javascript:alert(1)", "/"},
	} {
		c := d.client()
		form := url.Values{"user": {"ada"}}
		if tc.next != "" {
			form.Set("next", tc.next)
		}
		res := c.do("POST", "/login", form, acceptBrowser)
		res.want(t, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); loc != tc.want {
			t.Errorf("next %q: Location %q, want %q", tc.next, loc, tc.want)
		}
		if c.sessionCookie() == "" {
			t.Errorf("next %q: no session cookie", tc.next)
		}
	}
}

func TestLoginValidation(t *testing.T) {
	d := startDemo(t, nil)
	for _, user := range []string{
		"", strings.Repeat("x", 65), "a b", "café", "a/b", "<script>", "a;b", "a\x00", " ada", "ada\n",
	} {
		c := d.client()
		res := c.do("POST", "/login", url.Values{"user": {user}}, acceptJSON)
		res.want(t, http.StatusBadRequest)
		if p := res.problem(t); !strings.Contains(fmt.Sprint(p["detail"]), "1 to 64 characters") {
			t.Errorf("user %q: detail %v", user, p["detail"])
		}
		if c.sessionCookie() != "" {
			t.Errorf("user %q: a refused login set a session", user)
		}

		res = c.do("POST", "/login", url.Values{"user": {user}}, "")
		res.want(t, http.StatusBadRequest)
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("Content-Type %q", res.Header.Get("Content-Type"))
		}

		res = c.do("POST", "/login", url.Values{"user": {user}, "next": {"/admin"}}, acceptBrowser)
		res.want(t, http.StatusBadRequest)
		for _, want := range []string{`id="error"`, "1 to 64 characters", `id="login-form"`, `name="next" value="/admin"`} {
			if !strings.Contains(res.body, want) {
				t.Errorf("user %q: page lacks %q", user, want)
			}
		}
	}
	// No user field at all, and a body too large to be a form.
	d.client().do("POST", "/login", url.Values{}, acceptJSON).want(t, http.StatusBadRequest)
	d.client().do("POST", "/login", url.Values{"user": {strings.Repeat("x", 5000)}}, acceptJSON).want(t, http.StatusBadRequest)
	if n := d.store.Count(backendtest.OpWrite); n != 0 {
		t.Errorf("%d store writes for refused logins", n)
	}
}

// TestLoginRenewsID: a login never keeps the ID of the session the visitor
// had, and never its data.
func TestLoginRenewsID(t *testing.T) {
	d := startDemo(t, nil)
	c := d.client()
	c.login("ada")
	c.do("POST", "/cart", url.Values{"item": {"tea"}}, acceptJSON).want(t, http.StatusOK)
	before := c.sessionCookie()

	got := c.login("bob")
	after := c.sessionCookie()
	if after == before {
		t.Fatal("the session ID survived the login")
	}
	if want := (UserSession{User: "bob", Roles: []string{}, Cart: []string{}}); !reflect.DeepEqual(got, want) {
		t.Errorf("after login %+v, want fresh data %+v", got, want)
	}
	old := d.client()
	old.setSessionCookie(before)
	old.do("GET", "/me", nil, acceptJSON).want(t, http.StatusUnauthorized)
	if got := c.do("GET", "/me", nil, acceptJSON).session(t); got.User != "bob" || len(got.Cart) != 0 {
		t.Errorf("/me %+v", got)
	}

	// A login on top of a forged or stale cookie gets a fresh ID too.
	f := d.client()
	f.setSessionCookie(strings.Repeat("A", 43))
	f.login("eve")
	if f.sessionCookie() == strings.Repeat("A", 43) {
		t.Error("a planted session ID was adopted")
	}
}

func TestMe(t *testing.T) {
	d := startDemo(t, nil)
	c := d.client()

	res := c.do("GET", "/me", nil, acceptJSON)
	res.want(t, http.StatusUnauthorized)
	res.problem(t)
	c.do("GET", "/me", nil, "").want(t, http.StatusUnauthorized)

	c.login("ada")
	d.store.ResetCalls()
	for range 3 {
		if got := c.do("GET", "/me", nil, acceptJSON).session(t); got.User != "ada" {
			t.Errorf("/me %+v", got)
		}
	}
	if n := d.store.Count(backendtest.OpWrite); n != 0 {
		t.Errorf("GET /me made %d store writes, want none", n)
	}
	if n := d.store.Count(backendtest.OpLoad); n != 3 {
		t.Errorf("3 GET /me made %d loads, want 3", n)
	}

	// A read-only page view writes nothing either.
	d.store.ResetCalls()
	c.do("GET", "/", nil, acceptBrowser).want(t, http.StatusOK)
	if n := d.store.Count(backendtest.OpWrite); n != 0 {
		t.Errorf("GET / made %d store writes", n)
	}
}

func TestVisit(t *testing.T) {
	d := startDemo(t, nil)
	c := d.client()
	c.do("POST", "/visit", nil, acceptJSON).want(t, http.StatusUnauthorized)
	c.login("ada")
	for i := 1; i <= 3; i++ {
		res := c.do("POST", "/visit", nil, acceptJSON)
		res.want(t, http.StatusOK)
		if got := res.session(t); got.Visits != i || got.User != "ada" {
			t.Errorf("visit %d: %+v", i, got)
		}
	}
	res := c.do("POST", "/visit", nil, acceptBrowser)
	res.want(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/" {
		t.Errorf("Location %q", loc)
	}
	if got := c.do("GET", "/me", nil, acceptJSON).session(t); got.Visits != 4 {
		t.Errorf("visits %d, want 4", got.Visits)
	}
}

func TestCart(t *testing.T) {
	d := startDemo(t, nil)
	c := d.client()
	c.do("POST", "/cart", url.Values{"item": {"tea"}}, acceptJSON).want(t, http.StatusUnauthorized)
	c.login("ada")

	long := strings.Repeat("é", 64) // 64 characters, 128 bytes
	for i, item := range []string{"tea", long, "two words"} {
		res := c.do("POST", "/cart", url.Values{"item": {item}}, acceptJSON)
		res.want(t, http.StatusOK)
		if got := res.session(t); len(got.Cart) != i+1 || got.Cart[i] != item {
			t.Errorf("cart %q after adding %q", got.Cart, item)
		}
	}
	for _, bad := range []string{"", strings.Repeat("é", 65), "a\nb", "\x00", "tab\there", "\xff\xfe"} {
		res := c.do("POST", "/cart", url.Values{"item": {bad}}, acceptJSON)
		res.want(t, http.StatusBadRequest)
		res.problem(t)
	}
	res := c.do("POST", "/cart", url.Values{"item": {"jam"}}, acceptBrowser)
	res.want(t, http.StatusSeeOther)
	page := c.do("GET", "/", nil, acceptBrowser)
	for _, want := range []string{"<li>tea</li>", "<li>jam</li>", "<li>two words</li>"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	// The cart has a limit.
	for range maxCart - 4 {
		c.do("POST", "/cart", url.Values{"item": {"x"}}, acceptJSON).want(t, http.StatusOK)
	}
	res = c.do("POST", "/cart", url.Values{"item": {"one too many"}}, acceptJSON)
	res.want(t, http.StatusBadRequest)
	if p := res.problem(t); p["detail"] != "The cart is full." {
		t.Errorf("detail %v", p["detail"])
	}
}

func TestAdmin(t *testing.T) {
	d := startDemo(t, nil)
	anon := d.client()
	res := anon.do("GET", "/admin", nil, acceptJSON)
	res.want(t, http.StatusUnauthorized)
	res.problem(t)
	res = anon.do("GET", "/admin", nil, acceptBrowser)
	res.want(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/?next=%2Fadmin" {
		t.Errorf("Location %q", loc)
	}
	page := anon.do("GET", res.Header.Get("Location"), nil, acceptBrowser)
	if !strings.Contains(page.body, `<input type="hidden" name="next" value="/admin">`) {
		t.Error("the login form does not carry next")
	}

	bob := d.client()
	bob.login("bob")
	res = bob.do("GET", "/admin", nil, acceptJSON)
	res.want(t, http.StatusForbidden)
	res.problem(t)
	bob.do("GET", "/admin", nil, acceptBrowser).want(t, http.StatusForbidden)

	admin := d.client()
	admin.login("admin")
	if got := admin.do("GET", "/admin", nil, acceptJSON).session(t); got.User != "admin" {
		t.Errorf("/admin %+v", got)
	}
}

func TestLogout(t *testing.T) {
	d := startDemo(t, nil)
	c := d.client()
	c.login("ada")
	old := c.sessionCookie()

	res := c.do("POST", "/logout", nil, acceptJSON)
	res.want(t, http.StatusNoContent)
	if res.body != "" {
		t.Errorf("204 with body %q", res.body)
	}
	if c.sessionCookie() != "" {
		t.Error("logout did not clear the cookie")
	}
	// The old cookie is dead on the server, not just in this client.
	replay := d.client()
	replay.setSessionCookie(old)
	replay.do("GET", "/me", nil, acceptJSON).want(t, http.StatusUnauthorized)
	replay.do("POST", "/visit", nil, acceptJSON).want(t, http.StatusUnauthorized)

	// Logging out without a session is fine; browsers go back to the page.
	d.client().do("POST", "/logout", nil, acceptJSON).want(t, http.StatusNoContent)
	b := d.client()
	b.login("bob")
	res = b.do("POST", "/logout", nil, acceptBrowser)
	res.want(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/" {
		t.Errorf("Location %q", loc)
	}
	if !strings.Contains(b.do("GET", "/", nil, acceptBrowser).body, `id="login-form"`) {
		t.Error("no login form after logout")
	}
}

func TestHomePage(t *testing.T) {
	d := startDemo(t, nil)
	c := d.client()
	res := c.do("GET", "/", nil, acceptBrowser)
	res.want(t, http.StatusOK)
	if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "style-src 'nonce-") {
		t.Errorf("CSP %q", csp)
	}
	for _, want := range []string{`id="login-form"`, `action="/login"`, `name="user"`} {
		if !strings.Contains(res.body, want) {
			t.Errorf("anonymous page lacks %q", want)
		}
	}
	if strings.Contains(res.body, `name="next"`) {
		t.Error("a next field without a next parameter")
	}
	if strings.Contains(c.do("GET", "/?next=//evil.example", nil, acceptBrowser).body, "evil") {
		t.Error("the page carries a non-local next")
	}

	c.login("ada")
	c.do("POST", "/cart", url.Values{"item": {"<b>tea</b>"}}, acceptJSON).want(t, http.StatusOK)
	res = c.do("GET", "/", nil, acceptBrowser)
	for _, want := range []string{`<strong id="user">ada</strong>`, `<li>&lt;b&gt;tea&lt;/b&gt;</li>`,
		`action="/cart"`, `action="/visit"`, `action="/logout"`} {
		if !strings.Contains(res.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(res.body, `id="login-form"`) {
		t.Error("logged-in page shows the login form")
	}
	d.client().do("GET", "/nope", nil, "").want(t, http.StatusNotFound)
	d.client().do("GET", "/login", nil, "").want(t, http.StatusMethodNotAllowed)
}

// TestParallelVisits: 64 concurrent changes of one session all count.
func TestParallelVisits(t *testing.T) {
	d := startDemo(t, nil)
	c := d.client()
	c.login("ada")
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			res := c.do("POST", "/visit", nil, acceptJSON)
			if res.StatusCode != http.StatusOK {
				t.Errorf("status %d: %s", res.StatusCode, res.body)
			}
		})
	}
	wg.Wait()
	if got := c.do("GET", "/me", nil, acceptJSON).session(t); got.Visits != 64 {
		t.Errorf("visits %d after 64 parallel POST /visit, want 64", got.Visits)
	}
}

func TestParallelCart(t *testing.T) {
	d := startDemo(t, nil)
	c := d.client()
	c.login("ada")
	var wg sync.WaitGroup
	var want []string
	for i := range 64 {
		item := fmt.Sprintf("item-%02d", i)
		want = append(want, item)
		wg.Go(func() {
			res := c.do("POST", "/cart", url.Values{"item": {item}}, acceptJSON)
			if res.StatusCode != http.StatusOK {
				t.Errorf("status %d: %s", res.StatusCode, res.body)
			}
		})
	}
	wg.Wait()
	got := c.do("GET", "/me", nil, acceptJSON).session(t).Cart
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("cart after 64 parallel POST /cart: %d items %q", len(got), got)
	}
}

// TestStoreOutage: a store that cannot be reached is 503, never a logout.
func TestStoreOutage(t *testing.T) {
	d := startDemo(t, nil)
	c := d.client()
	c.login("ada")
	d.down(true)
	for _, r := range []struct{ method, path string }{
		{"GET", "/me"}, {"POST", "/visit"}, {"POST", "/cart"}, {"GET", "/admin"}, {"GET", "/"}, {"POST", "/login"},
		{"GET", "/sessions"}, {"POST", "/sessions/revoke"}, {"POST", "/logout-all"},
	} {
		for _, accept := range []string{acceptJSON, acceptBrowser} {
			form := url.Values{"item": {"tea"}, "user": {"bob"}, "handle": {"x"}}
			res := c.do(r.method, r.path, form, accept)
			if res.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("%s %s (%s): status %d, want 503", r.method, r.path, accept, res.StatusCode)
			}
			if res.Header.Get("Retry-After") == "" {
				t.Errorf("%s %s: no Retry-After", r.method, r.path)
			}
			if accept == acceptJSON {
				res.problem(t)
			}
		}
	}
	d.down(false)
	if got := c.do("GET", "/me", nil, acceptJSON).session(t); got.User != "ada" {
		t.Errorf("after the outage: %+v", got)
	}
}

func TestCrossOriginPostsRefused(t *testing.T) {
	d := startDemo(t, nil)
	c := d.client()
	c.login("ada")
	other := d.client()
	other.login("ada")
	_, _, others := c.sessions()
	for _, path := range []string{"/logout", "/logout-all", "/sessions/revoke"} {
		form := url.Values{"handle": {others[0]}}.Encode()
		req, _ := http.NewRequest("POST", d.url+path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "session", Value: c.sessionCookie()})
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %s: status %d, want 403", path, res.StatusCode)
		}
	}
	if got := c.do("GET", "/me", nil, acceptJSON).session(t); got.User != "ada" {
		t.Error("a cross-site POST logged the user out")
	}
	if other.status() != http.StatusOK {
		t.Error("a cross-site POST ended another session of the user")
	}
}

// TestEveryCodec runs a session's life with each codec: lists come back
// as arrays even from gob, which drops empty slices.
func TestEveryCodec(t *testing.T) {
	for _, name := range codec.Names() {
		t.Run(name, func(t *testing.T) {
			cd, err := codec.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			d := startDemo(t, cd)
			c := d.client()
			c.login("admin")
			c.do("POST", "/visit", nil, acceptJSON).want(t, http.StatusOK)
			c.do("POST", "/cart", url.Values{"item": {"tea"}}, acceptJSON).want(t, http.StatusOK)
			want := UserSession{User: "admin", Roles: []string{"admin"}, Cart: []string{"tea"}, Visits: 1}
			if got := c.do("GET", "/me", nil, acceptJSON).session(t); !reflect.DeepEqual(got, want) {
				t.Errorf("%+v, want %+v", got, want)
			}
			c.login("bob")
			c.do("GET", "/me", nil, acceptJSON).session(t) // checks [] for empty lists
		})
	}
}

func TestNewAppNeedsAStore(t *testing.T) {
	if _, err := newApp(appConfig{}); err == nil {
		t.Error("newApp without a store succeeded")
	}
}
