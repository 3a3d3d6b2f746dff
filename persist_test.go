package session_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/backendtest"
)

// TestRememberMePerSession checks that SetPersist decides the cookie's
// lifetime for one session only, that the choice is stored with it (a
// renewal on another instance keeps it), and that changing it sends the
// cookie again under the same ID.
func TestRememberMePerSession(t *testing.T) {
	h := newHarness(t, session.Config{Lifetime: 6 * time.Hour, IdleTimeout: 2 * time.Hour})
	other := h.manager(session.Config{Lifetime: 6 * time.Hour, IdleTimeout: 2 * time.Hour})
	login := func(remember bool) *http.Cookie {
		res := h.do("", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			if err := s.Renew(UserSession{UserID: "ada"}); err != nil {
				t.Fatal(err)
			}
			if err := s.SetPersist(remember); err != nil {
				t.Fatal(err)
			}
		})
		return sessionCookie(t, res, "session")
	}
	remembered, forgotten := login(true), login(false)
	if remembered.MaxAge != 6*3600 || !remembered.Expires.Equal(epoch.Add(6*time.Hour)) {
		t.Errorf("remember me: Max-Age %d, Expires %v; want the absolute deadline", remembered.MaxAge, remembered.Expires)
	}
	if forgotten.MaxAge != 0 || !forgotten.Expires.IsZero() {
		t.Errorf("no remember me: Max-Age %d, Expires %v; want a browser-session cookie", forgotten.MaxAge, forgotten.Expires)
	}

	// Another instance renews the remembered session's ID: the new
	// cookie is persistent too.
	h.clock.Advance(time.Hour)
	res := serve(other, http.MethodPost, "session="+remembered.Value, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.RenewID(); err != nil {
			t.Fatal(err)
		}
	})
	renewed := sessionCookie(t, res, "session")
	if renewed == nil || renewed.Value == remembered.Value || renewed.MaxAge != 6*3600 {
		t.Fatalf("renewal of a remembered session: %+v", renewed)
	}

	// Unticking the box later sends the same ID as a browser-session
	// cookie.
	res = h.do("session="+renewed.Value, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.SetPersist(false); err != nil {
			t.Fatal(err)
		}
	})
	c := sessionCookie(t, res, "session")
	if c == nil || c.Value != renewed.Value || c.MaxAge != 0 || !c.Expires.IsZero() {
		t.Errorf("SetPersist(false): cookie %+v; want the same ID without an expiry", c)
	}
	// A request that does not change the choice sends no cookie.
	res = h.do("session="+renewed.Value, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.SetPersist(false); err != nil {
			t.Fatal(err)
		}
	})
	if c := sessionCookie(t, res, "session"); c != nil {
		t.Errorf("an unchanged choice sent the cookie again: %+v", c)
	}
}

// TestSetPersistWithoutSessionCreatesNothing checks that the choice alone
// does not start a session.
func TestSetPersistWithoutSessionCreatesNothing(t *testing.T) {
	h := newHarness(t, session.Config{})
	res := h.do("", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.SetPersist(true); err != nil {
			t.Fatal(err)
		}
	})
	if c := sessionCookie(t, res, "session"); c != nil {
		t.Errorf("SetPersist alone set a cookie: %+v", c)
	}
	if n := h.store.Count(backendtest.OpWrite); n != 0 {
		t.Errorf("SetPersist alone made %d store writes", n)
	}
}
