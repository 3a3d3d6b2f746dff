// The review's adversarial cases for sessions per owner (Config.Owner,
// Sessions, RevokeOwner, RevokeOtherSessions, RevokeSession). Each states
// a promise of README.md "Users and their devices" or DESIGN.md and a way
// it broke.

package session_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
	"github.com/typedsession/session/backend/pgstore"
	"github.com/typedsession/session/backend/redisstore"
)

// A device listed by alice is taken over by bob (a switch of user: Set,
// which moves the session to a new ID in bob's index and leaves a
// tombstone naming it in alice's). Alice then signs out the entry she had
// listed. Group returns the tombstone, RevokeSession does not skip it, and
// end() follows its successor into bob's group: alice ends bob's session,
// and RevokeSession reports success for a handle that names no live
// session of hers (the docs promise ErrNotFound).
func TestReviewRevokeSessionStaleHandleEndsAnotherOwnersSession(t *testing.T) {
	h := newHarness(t, session.Config{})
	mgr := h.manager(session.Config{Owner: byUser})
	srv := ownerApp(t, mgr)
	shared, laptop := newDevice(t, srv), newDevice(t, srv)
	shared.must("POST", "/login?user=alice")
	laptop.must("POST", "/login?user=alice")
	_, sharedHandle := shared.sessions()

	shared.must("POST", "/set?user=bob")
	if u := shared.me(); u != "bob" {
		t.Fatalf("the shared device reads %q after the switch, want bob", u)
	}
	code, body := laptop.call("POST", "/revoke?h="+sharedHandle)
	if u := shared.me(); u != "bob" {
		t.Errorf("alice's RevokeSession with the handle of her former session ended bob's session (shared device reads %q)", u)
	}
	if code != http.StatusNotFound {
		t.Errorf("RevokeSession of a handle naming no live session of alice: %d %q, want the app's 404 for ErrNotFound", code, body)
	}
}

// A tab's write loses the compare-and-set to a concurrent renewal of the
// same session (another tab logs in again, on another instance). Its
// reload finds the tombstone, which empties the session's data, and the
// commit then sees "the owner changed" (no data, so no owner, against a
// grouped ID) and renews the emptied session instead of returning ErrGone:
// it creates an empty record and tries to retire the old ID. If the store
// then fails in a way that leaves the retirement unknown, the 503 carries
// a cookie for that empty session, which replaces the renewed cookie: the
// visitor is logged out. Without the spurious renewal the answer is 409
// and the cookie is left alone.
func TestReviewGoneWriteDoesNotRenewTheEmptiedSession(t *testing.T) {
	h := newHarness(t, session.Config{})
	mgr := h.manager(session.Config{Owner: byUser})
	other := h.manager(session.Config{Owner: byUser})
	res := serve(mgr, "POST", "", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Renew(UserSession{UserID: "ivy"})
	})
	cookie := "session=" + sessionCookie(t, res, "session").Value
	down := backendtest.Fault{Err: fmt.Errorf("down: %w", backend.ErrUnavailable)}
	var renewed string
	res = serve(mgr, "POST", cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if _, _, err := s.Get(); err != nil {
			t.Fatal(err)
		}
		r2 := serve(other, "POST", cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			if err := s.RenewID(); err != nil {
				t.Error(err)
			}
		})
		renewed = "session=" + sessionCookie(t, r2, "session").Value
		if err := s.Update(func(u *UserSession) error { u.Visits++; return nil }); err != nil {
			t.Fatal(err)
		}
		// From here the commit's first Update (its write) and first Load
		// (the reload) work; a second of each fails.
		h.store.ResetCalls()
		h.store.Nth(2, backendtest.OpUpdate, down)
		h.store.Nth(2, backendtest.OpLoad, down)
	})
	creates := h.store.Count(backendtest.OpCreate)
	h.store.Clear()
	if c := sessionCookie(t, res, "session"); c != nil {
		t.Errorf("a write that lost to a renewal sent Set-Cookie %q (status %d): it replaces the renewed session's cookie", c.Value, res.StatusCode)
		if u, ok := h.get("session=" + c.Value); !ok || u.UserID != "ivy" {
			t.Errorf("the cookie it sent reads %+v, %v: the visitor is logged out", u, ok)
		}
	}
	if res.StatusCode != http.StatusConflict {
		t.Errorf("a write that lost to a renewal: %d, want 409", res.StatusCode)
	}
	if creates != 0 {
		t.Errorf("a write that lost to a renewal created %d records", creates)
	}
	if u, ok := h.get(renewed); !ok || u.UserID != "ivy" {
		t.Errorf("the renewed session reads %+v, %v", u, ok)
	}
}

// An anonymous visitor logs in (Renew) while another tab adds to the cart
// (on another instance), so the login's retirement of the anonymous ID
// conflicts; and RevokeOwner of that user runs just before the login
// carries the cart over to its new record. The new record is gone, the
// login must fail, and the visitor keeps the anonymous session, but the
// store's ErrNotFound on the new record is returned as it is: the default
// error handler answers 500, not the 409 of ErrGone.
func TestReviewLoginRacingRevokeOwnerAndAWriteIsAConflict(t *testing.T) {
	h := newHarness(t, session.Config{})
	mgr := h.manager(session.Config{Owner: byUser})
	other := h.manager(session.Config{Owner: byUser})
	res := serve(mgr, "POST", "", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Set(UserSession{Cart: []string{"tea"}})
	})
	cart := "session=" + sessionCookie(t, res, "session").Value
	h.store.Next(backendtest.OpUpdate, backendtest.Fault{Before: func(ctx context.Context) {
		// The retirement of the anonymous ID is about to run: another tab
		// writes first, and RevokeOwner comes before the next write.
		serve(other, "POST", cart, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			_ = s.Update(func(u *UserSession) error { u.Cart = append(u.Cart, "jam"); return nil })
		})
		h.store.Next(backendtest.OpUpdate, backendtest.Fault{Before: func(ctx context.Context) {
			if _, err := other.RevokeOwner(ctx, "jo"); err != nil {
				t.Error(err)
			}
		}})
	}})
	res = serve(mgr, "POST", cart, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.Renew(UserSession{UserID: "jo"}); err != nil {
			t.Fatal(err)
		}
	})
	h.store.Clear()
	if res.StatusCode != http.StatusConflict {
		t.Errorf("a login whose new record RevokeOwner deleted: %d, want 409 (ErrGone)", res.StatusCode)
	}
	if c := sessionCookie(t, res, "session"); c != nil {
		t.Errorf("the failed login sent Set-Cookie %q", c.Value)
	}
	if u, ok := h.get(cart); !ok || len(u.Cart) != 2 || u.UserID != "" {
		t.Errorf("the anonymous session reads %+v, %v; want it unchanged, with both items", u, ok)
	}
}

// README and Manager.Sessions: "memstore, redisstore and pgstore keep the
// index (backend.OwnerIndex, checked by backendtest)". On Redis or
// Postgres, Sessions and every Revoke call return ErrUnsupported, and
// Config.Owner silently indexes nothing.
func TestReviewDocumentedStoresKeepTheOwnerIndex(t *testing.T) {
	for name, s := range map[string]any{
		"redisstore": (*redisstore.Store)(nil),
		"pgstore":    (*pgstore.Store)(nil),
	} {
		if _, ok := s.(backend.OwnerIndex); !ok {
			t.Errorf("%s.Store does not implement backend.OwnerIndex, which the README and the docs of Manager.Sessions promise", name)
		}
	}
}
