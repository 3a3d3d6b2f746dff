//go:build unix

package main

// The end-to-end test of the demo in a real browser.
//
// It drives headless Chromium through chromedriver and the W3C WebDriver
// protocol, which is plain JSON over HTTP: net/http and encoding/json are
// the whole client, so the module gains no dependency (chromedp and the
// DevTools protocol would need a WebSocket library; Playwright would need
// Node). Debian packages chromedriver next to Chromium, at the same
// version. What only a real browser can show, and this test checks:
//
//   - the browser's own cookie jar accepts and sends the Secure session
//     cookie over plain http://127.0.0.1, which Chromium treats as a
//     secure context;
//   - the cookie is HttpOnly and SameSite=Lax as the browser understood
//     it: WebDriver's Get All Cookies reports the browser's view, HttpOnly
//     cookies included, while the page's own JavaScript (document.cookie)
//     must not see the cookie at all;
//   - a form on another site (http://localhost is another site than
//     http://127.0.0.1) that posts to the demo does not get the
//     SameSite=Lax cookie sent along, and does not log the user out;
//   - forms, 303 redirects and the guard's login redirect with next work
//     as a visitor experiences them, and fetch() from the page carries the
//     cookie (200 from /me) until logout, after which /me is 401;
//   - all of this on the memory and the cookie backends alike;
//   - and, in two browsers with cookie jars of their own logged in as the
//     same user, that the sessions page of one lists both and its button
//     ends the other's session: the other browser's next fetch('/me') is
//     401 (TestBrowserRevokeOtherSession).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	chromiumPath     = "/usr/bin/chromium"
	chromedriverPath = "/usr/bin/chromedriver"

	// browserTestTimeout bounds the whole test, browser start included.
	browserTestTimeout = 50 * time.Second
	// waitTimeout bounds each wait for the page to show something.
	waitTimeout = 10 * time.Second
)

func TestBrowser(t *testing.T) {
	for _, b := range []string{"memory", "cookie"} {
		t.Run(b, func(t *testing.T) { testBrowser(t, b) })
	}
}

// testBrowser is TestBrowser on the demo's -backend name.
func testBrowser(t *testing.T, name string) {
	ctx := needBrowser(t)

	// The demo on a real listener, over plain HTTP, as `go run` serves it.
	store, closeStore, err := openStore(config{Backend: name, Secret: cookieSecret}, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeStore() })
	h, err := newApp(appConfig{Store: store, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	// Requests with a probe parameter report whether they carried the
	// cookie.
	probes := make(chan probe, 1)
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("probe") {
			_, err := r.Cookie("session")
			select {
			case probes <- probe{site: r.Header.Get("Sec-Fetch-Site"), cookie: err == nil}:
			default:
			}
		}
		h.ServeHTTP(w, r)
	})
	base := serve(t, app)

	// Another site (http://localhost is not the same site as
	// http://127.0.0.1) with a form that posts to the demo's logout: a
	// cross-site request forgery.
	other := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>other site</title>`+
			`<form method="post" action="%s/logout?probe=1"><button id="forge">Win a prize</button></form>`, base)
	}))
	other = strings.Replace(other, "127.0.0.1", "localhost", 1)

	b := startBrowser(ctx, t)

	// Load the page and log in through the form.
	b.navigate(base + "/")
	b.typeInto("#login-form input[name=user]", "ada")
	b.click("#login-form button[type=submit]")
	b.waitText("#user", "ada")
	// The login's flash shows on the page it redirected to, once.
	if got := b.text(".flash"); got != "Logged in as ada." {
		t.Errorf("flash after login: %q", got)
	}
	b.navigate(base + "/")
	b.waitText("#user", "ada")
	b.noFlash("after a reload following the login")

	// Add to the cart through the form.
	b.typeInto("#cart-form input[name=item]", "tea")
	b.click("#cart-form button[type=submit]")
	b.waitText("#cart li", "tea")

	// The browser holds the cookie with the attributes the server set...
	c, ok := b.cookie("session")
	if !ok {
		t.Fatal("the browser holds no session cookie after login (was the Secure cookie refused over http://127.0.0.1?)")
	}
	if !c.HTTPOnly || !c.Secure || c.SameSite != "Lax" || c.Path != "/" || c.Value == "" {
		t.Errorf("session cookie as the browser sees it: %+v; want httpOnly, secure, sameSite Lax, path /", c)
	}
	// ...and the page's scripts cannot read it. A cookie the script sets
	// itself shows that document.cookie works at all.
	var docCookie string
	b.script(`document.cookie = "probe=1; SameSite=Lax"; return document.cookie`, &docCookie)
	if !strings.Contains(docCookie, "probe=1") {
		t.Errorf("document.cookie %q lacks the script's own cookie", docCookie)
	}
	if strings.Contains(docCookie, "session") || strings.Contains(docCookie, c.Value) {
		t.Errorf("document.cookie %q exposes the HttpOnly session cookie", docCookie)
	}

	// fetch() from the page sends the cookie.
	res := b.fetch("/me", "application/json")
	if res.Status != http.StatusOK {
		t.Fatalf("fetch /me while logged in: %d %s", res.Status, res.Body)
	}
	var me UserSession
	if err := json.Unmarshal([]byte(res.Body), &me); err != nil || me.User != "ada" || len(me.Cart) != 1 || me.Cart[0] != "tea" {
		t.Errorf("fetch /me: %s (%v)", res.Body, err)
	}

	// A form on another site that posts to the demo: the browser does not
	// send the SameSite=Lax cookie with a cross-site POST (it would with
	// SameSite=None, third-party cookie blocking notwithstanding, since
	// this is a top-level navigation), and the demo refuses the request
	// anyway; the user stays logged in.
	b.navigate(other + "/")
	b.click("#forge")
	select {
	case p := <-probes:
		if p.site != "cross-site" {
			t.Errorf("the forged POST from %s came with Sec-Fetch-Site %q, want cross-site", other, p.site)
		}
		if p.cookie {
			t.Error("a cross-site POST carried the SameSite=Lax session cookie")
		}
	case <-time.After(waitTimeout):
		t.Fatal("the other site's form did not reach the demo")
	}
	b.navigate(base + "/")
	b.waitText("#user", "ada")

	// Log out: the form is back, the cookie gone, and /me is 401.
	b.click("#logout-form button[type=submit]")
	b.waitFor("#login-form input[name=user]")
	if got := b.text(".flash"); got != "Logged out." {
		t.Errorf("flash after logout: %q", got)
	}
	if _, ok := b.cookie("session"); ok {
		t.Error("the session cookie survived logout in the browser")
	}
	b.navigate(base + "/")
	b.waitFor("#login-form input[name=user]")
	b.noFlash("after a reload following the logout")
	for _, accept := range []string{"", "application/json"} {
		if res := b.fetch("/me", accept); res.Status != http.StatusUnauthorized {
			t.Errorf("fetch /me (Accept %q) after logout: %d %s", accept, res.Status, res.Body)
		}
	}

	// A guarded page sends the browser to the login form, which sends it
	// back after the login.
	b.navigate(base + "/admin")
	b.waitFor("#login-form input[name=user]")
	if u := b.currentURL(); u != base+"/?next=%2Fadmin" {
		t.Errorf("GET /admin logged out ended at %s, want the login page with next", u)
	}
	b.typeInto("#login-form input[name=user]", "admin")
	b.click("#login-form button[type=submit]")
	b.waitURL(base + "/admin")
	if body := b.text("body"); !strings.Contains(body, `"roles":["admin"]`) {
		t.Errorf("/admin after login shows %q", body)
	}
}

// TestBrowserRevokeOtherSession logs ada in from two browsers, each a
// Chromium of its own with its own profile and so its own cookie jar, and
// ends B's session from A's sessions page, then every session with A's
// "Log out everywhere".
func TestBrowserRevokeOtherSession(t *testing.T) {
	ctx := needBrowser(t)
	store, closeStore, err := openStore(config{Backend: "memory"}, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeStore() })
	h, err := newApp(appConfig{Store: store, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, h)

	a, b := startBrowser(ctx, t), startBrowser(ctx, t)
	login := func(br *browser) {
		t.Helper()
		br.navigate(base + "/")
		br.typeInto("#login-form input[name=user]", "ada")
		br.click("#login-form button[type=submit]")
		br.waitText("#user", "ada")
	}
	count := func(br *browser, css string) int {
		t.Helper()
		sel, err := json.Marshal(css)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		br.script(`return document.querySelectorAll(`+string(sel)+`).length`, &n)
		return n
	}
	login(a)
	login(b)
	if res := b.fetch("/me", "application/json"); res.Status != http.StatusOK {
		t.Fatalf("B's fetch /me after login: %d %s", res.Status, res.Body)
	}

	// A's sessions page lists both, A's own marked current, with one
	// button: for B's.
	a.click("#sessions-link")
	a.waitFor("#session-list")
	if n, cur := count(a, "#session-list li"), count(a, "#session-list li.current"); n != 2 || cur != 1 {
		t.Fatalf("A's sessions page lists %d sessions, %d current; want 2 and 1%s", n, cur, a.pageForFailure())
	}
	if n := count(a, "#session-list li.current form.revoke"); n != 0 {
		t.Errorf("the current session has %d revoke buttons", n)
	}
	a.click("#session-list li:not(.current) form.revoke button[type=submit]")
	a.waitText(".flash", "Signed out the other session.")
	if n, cur := count(a, "#session-list li"), count(a, "#session-list li.current"); n != 1 || cur != 1 {
		t.Errorf("after the revocation A lists %d sessions, %d current; want only its own", n, cur)
	}

	// B's next request has no session; A's still has.
	if res := b.fetch("/me", "application/json"); res.Status != http.StatusUnauthorized {
		t.Errorf("B's fetch /me after A ended its session: %d %s, want 401", res.Status, res.Body)
	}
	if res := a.fetch("/me", "application/json"); res.Status != http.StatusOK {
		t.Errorf("A's fetch /me after ending B's session: %d %s, want 200", res.Status, res.Body)
	}

	// "Log out everywhere" from A ends both, and A's page says so.
	login(b)
	a.click("#logout-all-form button[type=submit]")
	a.waitFor("#login-form input[name=user]")
	if got := a.text(".flash"); got != "Logged out everywhere: 2 sessions ended." {
		t.Errorf("flash after logging out everywhere: %q", got)
	}
	for name, br := range map[string]*browser{"A": a, "B": b} {
		if res := br.fetch("/me", "application/json"); res.Status != http.StatusUnauthorized {
			t.Errorf("%s's fetch /me after logging out everywhere: %d %s, want 401", name, res.Status, res.Body)
		}
	}
}

// needBrowser skips t when Chromium or chromedriver is missing, unless
// SESSION_REQUIRE_BROWSER=1 makes them mandatory, and returns the context
// that bounds the test.
func needBrowser(t *testing.T) context.Context {
	t.Helper()
	required := os.Getenv("SESSION_REQUIRE_BROWSER") == "1"
	for _, bin := range []string{chromiumPath, chromedriverPath} {
		if _, err := os.Stat(bin); err != nil {
			msg := fmt.Sprintf("%s is missing; install Chromium and its WebDriver with "+
				"'apt-get install -y chromium chromium-driver' (Debian packages) to run the browser test", bin)
			if required {
				t.Fatal(msg + " (SESSION_REQUIRE_BROWSER=1 makes it mandatory)")
			}
			t.Skip(msg)
		}
	}
	if testing.Short() && !required {
		t.Skip("browser test skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
	t.Cleanup(cancel) // after the cleanups registered later, which use ctx
	return ctx
}

// probe is what a probe request to the demo carried.
type probe struct {
	site   string // Sec-Fetch-Site
	cookie bool   // the session cookie was sent
}

// serve serves h on a fresh port of 127.0.0.1 until the test ends and
// returns its URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// browser is a WebDriver session with the test's helpers. Its methods
// fail the test on errors.
type browser struct {
	ctx     context.Context
	t       *testing.T
	client  *http.Client
	base    string // chromedriver's URL
	session string // WebDriver session URL: base + "/session/" + id
	logPath string // chromedriver's output
}

// driverLog returns the end of chromedriver's output, for messages.
func (b *browser) driverLog() string {
	out, err := os.ReadFile(b.logPath)
	if err != nil {
		return err.Error()
	}
	return tail(string(out), 4000)
}

// startBrowser starts chromedriver and a headless Chromium session, and
// registers their shutdown with t.Cleanup.
func startBrowser(ctx context.Context, t *testing.T) *browser {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "chromedriver.log")
	b := &browser{ctx: ctx, t: t, client: &http.Client{Timeout: 30 * time.Second},
		base: "http://127.0.0.1:" + strconv.Itoa(port), logPath: logPath}
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(chromedriverPath, "--port="+strconv.Itoa(port))
	// A file, not a pipe: Chromium inherits the descriptors, and Wait
	// would wait for it to close a pipe.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A process group of its own, so that stopping it also stops every
	// Chromium process it started, whatever state the test ended in.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting chromedriver: %v", err)
	}
	// Cleanups run last-in first-out: the session is deleted (which quits
	// Chromium) before chromedriver is stopped.
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("chromedriver output:\n%s", b.driverLog())
		}
	})

	// Wait for chromedriver to answer.
	deadline := time.Now().Add(waitTimeout)
	for {
		var status struct {
			Ready bool `json:"ready"`
		}
		if err := b.call("GET", b.base+"/status", nil, &status); err == nil && status.Ready {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("chromedriver not ready after %v: %v\n%s", waitTimeout, err, b.driverLog())
		}
		time.Sleep(50 * time.Millisecond)
	}

	caps := map[string]any{
		"capabilities": map[string]any{
			"alwaysMatch": map[string]any{
				"goog:chromeOptions": map[string]any{
					"binary": chromiumPath,
					"args": []string{
						"--headless", "--no-sandbox", "--disable-gpu",
						"--disable-background-networking", "--disable-component-update",
						"--disable-sync", "--no-first-run", "--disable-quic",
						"--disable-dev-shm-usage",
						"--user-data-dir=" + t.TempDir(),
					},
				},
				"timeouts": map[string]int{"implicit": 0, "pageLoad": 20000, "script": 10000},
			},
		},
	}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call("POST", b.base+"/session", caps, &created); err != nil {
		t.Fatalf("starting Chromium: %v\n%s", err, b.driverLog())
	}
	b.session = b.base + "/session/" + created.SessionID
	t.Cleanup(func() {
		if err := b.call("DELETE", b.session, nil, nil); err != nil {
			t.Logf("deleting the WebDriver session: %v", err)
		}
	})
	return b
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// webDriverError is the error object of a failed WebDriver command.
type webDriverError struct {
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *webDriverError) Error() string { return e.Code + ": " + e.Message }

// call sends a WebDriver command and decodes the value of its answer into
// out (if not nil). A WebDriver error comes back as *webDriverError.
func (b *browser) call(method, url string, body, out any) error {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(b.ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	var envelope struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &envelope); err != nil {
		return fmt.Errorf("%s %s: %d %q: %w", method, url, res.StatusCode, raw, err)
	}
	if res.StatusCode != http.StatusOK {
		var we webDriverError
		if err := json.Unmarshal(envelope.Value, &we); err != nil || we.Code == "" {
			return fmt.Errorf("%s %s: status %d: %s", method, url, res.StatusCode, raw)
		}
		return &we
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(envelope.Value, out)
}

// do runs a command of the session and fails the test on error.
func (b *browser) do(method, path string, body, out any) {
	b.t.Helper()
	if err := b.call(method, b.session+path, body, out); err != nil {
		b.t.Fatalf("WebDriver %s %s: %v%s", method, path, err, b.pageForFailure())
	}
}

// pageForFailure returns the current URL and page text, for messages.
func (b *browser) pageForFailure() string {
	var url, text string
	_ = b.call("GET", b.session+"/url", nil, &url)
	_ = b.call("POST", b.session+"/execute/sync",
		map[string]any{"script": "return document.body ? document.body.innerText : ''", "args": []any{}}, &text)
	return fmt.Sprintf("\npage %s:\n%s", url, tail(text, 2000))
}

func (b *browser) navigate(url string) {
	b.t.Helper()
	b.do("POST", "/url", map[string]string{"url": url}, nil)
}

func (b *browser) currentURL() string {
	b.t.Helper()
	var url string
	b.do("GET", "/url", nil, &url)
	return url
}

// elementKey is the W3C WebDriver key of an element reference.
const elementKey = "element-6066-11e4-a52e-4f735466cecf"

// find returns the first element matching the CSS selector, or "" if none
// does now.
func (b *browser) find(css string) (string, error) {
	var el map[string]string
	err := b.call("POST", b.session+"/element", map[string]string{"using": "css selector", "value": css}, &el)
	var we *webDriverError
	if errors.As(err, &we) && we.Code == "no such element" {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return el[elementKey], nil
}

// poll calls f until it reports done, failing the test after waitTimeout.
func (b *browser) poll(what string, f func() (bool, error)) {
	b.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		done, err := f()
		if err != nil {
			b.t.Fatalf("waiting for %s: %v%s", what, err, b.pageForFailure())
		}
		if done {
			return
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			b.t.Fatalf("timed out waiting for %s%s", what, b.pageForFailure())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor waits until an element matches css and returns it.
func (b *browser) waitFor(css string) string {
	b.t.Helper()
	var id string
	b.poll(css, func() (bool, error) {
		var err error
		id, err = b.find(css)
		return id != "", err
	})
	return id
}

// waitText waits until the first element matching css has the text want.
func (b *browser) waitText(css, want string) {
	b.t.Helper()
	b.poll(fmt.Sprintf("%s with text %q", css, want), func() (bool, error) {
		id, err := b.find(css)
		if err != nil || id == "" {
			return false, err
		}
		var text string
		err = b.call("GET", b.session+"/element/"+id+"/text", nil, &text)
		var we *webDriverError
		if errors.As(err, &we) && we.Code == "stale element reference" {
			return false, nil // the page changed under us; look again
		}
		return text == want, err
	})
}

// waitURL waits until the browser shows url.
func (b *browser) waitURL(url string) {
	b.t.Helper()
	b.poll("URL "+url, func() (bool, error) {
		var got string
		err := b.call("GET", b.session+"/url", nil, &got)
		return got == url, err
	})
}

// noFlash fails the test if the page shows a flash message.
func (b *browser) noFlash(when string) {
	b.t.Helper()
	id, err := b.find(".flash")
	if err != nil {
		b.t.Fatal(err)
	}
	if id != "" {
		b.t.Errorf("a flash shows %s: %q", when, b.text(".flash"))
	}
}

func (b *browser) text(css string) string {
	b.t.Helper()
	var text string
	b.do("GET", "/element/"+b.waitFor(css)+"/text", nil, &text)
	return text
}

func (b *browser) typeInto(css, text string) {
	b.t.Helper()
	b.do("POST", "/element/"+b.waitFor(css)+"/value", map[string]string{"text": text}, nil)
}

func (b *browser) click(css string) {
	b.t.Helper()
	b.do("POST", "/element/"+b.waitFor(css)+"/click", map[string]any{}, nil)
}

// script runs JavaScript in the page (W3C Execute Script, which awaits a
// returned promise) and decodes its result into out.
func (b *browser) script(js string, out any) {
	b.t.Helper()
	b.do("POST", "/execute/sync", map[string]any{"script": js, "args": []any{}}, out)
}

// fetchResult is what fetch reports.
type fetchResult struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

// fetch runs fetch(path) in the page, as the page's own scripts would,
// with the given Accept header ("" for the browser's default).
func (b *browser) fetch(path, accept string) fetchResult {
	b.t.Helper()
	var res fetchResult
	b.do("POST", "/execute/sync", map[string]any{
		"script": `const [path, accept] = arguments;
			const headers = accept ? {Accept: accept} : {};
			return fetch(path, {headers}).then(async r => ({status: r.status, body: await r.text()}));`,
		"args": []any{path, accept},
	}, &res)
	return res
}

// webCookie is a cookie as WebDriver reports it.
type webCookie struct {
	Name     string `json:"name"`
	Value    string `json:"value"`
	Path     string `json:"path"`
	Domain   string `json:"domain"`
	Secure   bool   `json:"secure"`
	HTTPOnly bool   `json:"httpOnly"`
	SameSite string `json:"sameSite"`
}

// cookie returns the browser's cookie called name for the current page
// (W3C Get All Cookies, which includes HttpOnly cookies).
func (b *browser) cookie(name string) (webCookie, bool) {
	b.t.Helper()
	var all []webCookie
	b.do("GET", "/cookie", nil, &all)
	for _, c := range all {
		if c.Name == name {
			return c, true
		}
	}
	return webCookie{}, false
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
