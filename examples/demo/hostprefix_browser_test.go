//go:build unix

package main

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/memstore"
)

// TestBrowserKeepsHostPrefixedCookie answers, in a real Chromium, whether
// the __Host- prefix that OWASP recommends works for an app served over
// plain http://127.0.0.1 in development: the prefix requires Secure, and
// Chromium treats loopback as a secure context. The README's opt-in
// (Cookie.Name "__Host-session") relies on it.
func TestBrowserKeepsHostPrefixedCookie(t *testing.T) {
	ctx := needBrowser(t)
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	const name = "__Host-session"
	mgr, err := session.New[string](store, session.Config{Cookie: session.CookieConfig{Name: name}, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Renew("ada"); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `<!doctype html><title>in</title><p id="state">logged in</p>`)
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		user, ok, err := mgr.From(r).Get()
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if !ok {
			user = "nobody"
		}
		fmt.Fprintf(w, `<!doctype html><title>me</title><p id="user">%s</p>`, user)
	})
	base := serve(t, mgr.Middleware(mux))

	b := startBrowser(ctx, t)
	b.navigate(base + "/login")
	b.waitText("#state", "logged in")
	c, ok := b.cookie(name)
	if !ok {
		t.Fatalf("Chromium refused the %s cookie over %s", name, base)
	}
	if !c.Secure || c.Path != "/" || c.Domain != "127.0.0.1" {
		t.Errorf("%s cookie as the browser holds it: %+v", name, c)
	}
	b.navigate(base + "/me")
	b.waitText("#user", "ada")
}
