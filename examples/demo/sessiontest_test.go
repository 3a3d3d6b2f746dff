package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/sessiontest"
)

// TestCartWithSessiontest tests the demo's handlers the way an app's own
// tests would, with sessiontest: a visitor logged in with a typed value,
// a change through the real routes, the stored data read back, and the
// idle timeout passed on the kit's clock.
func TestCartWithSessiontest(t *testing.T) {
	kit := sessiontest.New[UserSession](t, session.Config{})
	app, err := newApp(appConfig{Store: kit.Store, Now: kit.Clock.Now, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	ann := kit.Login(UserSession{User: "ann", Roles: []string{}, Cart: []string{}})

	req := ann.NewRequest(http.MethodPost, "/cart", strings.NewReader(url.Values{"item": {"tea"}}.Encode()))
	req.Header.Set("Accept", "application/json")
	if rec := ann.Do(app, req); rec.Code != http.StatusOK {
		t.Fatalf("POST /cart: %d %s", rec.Code, rec.Body)
	}
	if got, ok := ann.Data(); !ok || got.User != "ann" || strings.Join(got.Cart, ",") != "tea" {
		t.Errorf("stored after POST /cart: %+v, %v", got, ok)
	}

	me := func() (int, UserSession) {
		req := ann.NewRequest(http.MethodGet, "/me", nil)
		req.Header.Set("Accept", "application/json")
		rec := ann.Do(app, req)
		var u UserSession
		_ = json.Unmarshal(rec.Body.Bytes(), &u)
		return rec.Code, u
	}
	if code, u := me(); code != http.StatusOK || u.User != "ann" {
		t.Errorf("GET /me: %d %+v", code, u)
	}
	kit.Advance(session.DefaultIdleTimeout + time.Minute)
	if code, _ := me(); code != http.StatusUnauthorized {
		t.Errorf("GET /me after the idle timeout: %d, want 401", code)
	}
}
