// The review's adversarial cases for flashes and Destroy: each once lost a
// change or left a session live, and each pins the fix.

package session_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
)

// flashOnly creates a session holding only a flash and returns its cookie.
func flashOnly(t *testing.T, h *harness) string {
	t.Helper()
	res := h.do("", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.AddFlash(session.Flash{Text: "logged out"}); err != nil {
			t.Fatal(err)
		}
	})
	c := sessionCookie(t, res, "session")
	if c == nil {
		t.Fatal("no cookie for the flash-only session")
	}
	return c.Name + "=" + c.Value
}

// A page reads the last flash of a flash-only session while another request
// (another instance) logs in on the same ID. The reader's commit turns into
// a Destroy (commit.go, "Nothing left to store"), and end() retries its
// tombstone over the conflict, so it logs the new user out.
func TestReviewShowingLastFlashEndsAConcurrentLogin(t *testing.T) {
	h := newHarness(t, session.Config{})
	other := h.manager(session.Config{})
	cookie := flashOnly(t, h)
	h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if fs, err := s.Flashes(); err != nil || len(fs) != 1 {
			t.Fatalf("Flashes = %v, %v", fs, err)
		}
		serve(other, "POST", cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			if err := s.Set(UserSession{UserID: "ada"}); err != nil {
				t.Error(err)
			}
		})
	})
	if u, ok := h.get(cookie); !ok || u.UserID != "ada" {
		t.Errorf("after showing a flash, the concurrent login is gone: %+v, %v", u, ok)
	}
}

// The same race with a flash added meanwhile: the new flash is lost.
func TestReviewShowingLastFlashLosesAConcurrentFlash(t *testing.T) {
	h := newHarness(t, session.Config{})
	other := h.manager(session.Config{})
	cookie := flashOnly(t, h)
	h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if fs, err := s.Flashes(); err != nil || len(fs) != 1 {
			t.Fatalf("Flashes = %v, %v", fs, err)
		}
		serve(other, "POST", cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			if err := s.AddFlash(session.Flash{Text: "new"}); err != nil {
				t.Error(err)
			}
		})
	})
	var got []session.Flash
	h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		got, _ = s.Flashes()
	})
	if len(got) != 1 || got[0].Text != "new" {
		t.Errorf("flashes after the race: %v, want the new one", got)
	}
}

// A logout races a RenewID of another request, and the store fails while
// end() follows the tombstone: end() has already deleted the old record,
// which named the successor, so a retried logout with the old cookie finds
// nothing, answers 200, and the renewed session stays live.
func TestReviewRetriedLogoutAfterARenewalLeavesTheSessionLive(t *testing.T) {
	h := newHarness(t, session.Config{})
	other := h.manager(session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	var renewed string
	res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if _, _, err := s.Get(); err != nil {
			t.Fatal(err)
		}
		res := serve(other, "POST", cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			if err := s.RenewID(); err != nil {
				t.Error(err)
			}
		})
		c := sessionCookie(t, res, "session")
		if c == nil {
			t.Fatal("RenewID sent no cookie")
		}
		renewed = c.Name + "=" + c.Value
		// end(): Update(old) conflicts, Load(old) finds the tombstone,
		// Delete(old), then Load(new) fails.
		h.store.Nth(2, backendtest.OpLoad, backendtest.Fault{Err: fmt.Errorf("down: %w", backend.ErrUnavailable)})
		if err := s.Destroy(); err != nil {
			t.Error(err)
		}
	})
	if res.StatusCode == http.StatusOK {
		t.Fatalf("the first logout answered 200; the premise of the test fails")
	}
	res = h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.Destroy(); err != nil {
			t.Error(err)
		}
	})
	if _, ok := h.get(renewed); ok {
		t.Errorf("the retried logout answered %d, and the renewed session is still live", res.StatusCode)
	}
}
