package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/typedsession/session"
	"github.com/typedsession/session/sessiontest"
)

// TestQuickstart walks the README's quickstart as a visitor: visits are
// counted, /me answers 401 without a session and 403 without a name, and
// giving a name renews the ID and lets the visitor in.
func TestQuickstart(t *testing.T) {
	kit := sessiontest.New[Visitor](t, session.Config{})
	h := routes(kit.Manager)
	v := kit.Visitor()

	if rec := v.Do(h, v.NewRequest(http.MethodGet, "/me", nil)); rec.Code != http.StatusUnauthorized {
		t.Errorf("GET /me without a session: %d", rec.Code)
	}
	for want := 1; want <= 2; want++ {
		rec := v.Do(h, v.NewRequest(http.MethodGet, "/", nil))
		if got := rec.Body.String(); !strings.Contains(got, fmt.Sprintf("visit number %d", want)) {
			t.Errorf("visit %d: %q", want, got)
		}
	}
	if rec := v.Do(h, v.NewRequest(http.MethodGet, "/me", nil)); rec.Code != http.StatusForbidden {
		t.Errorf("GET /me without a name: %d", rec.Code)
	}

	anonymous := v.Cookie()
	rec := v.Do(h, v.NewRequest(http.MethodPost, "/name", strings.NewReader("name=ann")))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("POST /name: %d %s", rec.Code, rec.Body)
	}
	if c := v.Cookie(); c == nil || c.Value == anonymous.Value {
		t.Errorf("naming oneself did not renew the session ID")
	}
	rec = v.Do(h, v.NewRequest(http.MethodGet, "/me", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "you are \"ann\", with 2 visits\n" {
		t.Errorf("GET /me: %d %q", rec.Code, rec.Body)
	}
	if got, ok := v.Data(); !ok || got != (Visitor{Name: "ann", Visits: 2}) {
		t.Errorf("stored %+v %v", got, ok)
	}
}
