package session_test

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
)

// longID matches what a leaked secret would look like in a log line: a
// run of base64url or hex characters as long as an ID (43) or a store key.
// logKey's 12-character prefixes are far shorter.
var longID = regexp.MustCompile(`[A-Za-z0-9_-]{32,}`)

// checkNoSecretsInLogs fails t if logs holds a string that looks like an
// ID or a full store key. Every harness runs it when its test ends, so it
// scans the log output of all the root package's HTTP flows.
func checkNoSecretsInLogs(t testing.TB, logs string) {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		if m := longID.FindString(line); m != "" {
			t.Errorf("a log line holds %q, which looks like a session ID or store key:\n%s", m, line)
		}
	}
}

// TestLifecycleEvents drives a session through its life and checks that
// each lifecycle event is logged with its stable message.
func TestLifecycleEvents(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ann"})

	// A conflict: a second manager commits between this request's load
	// and its write.
	other := h.manager(session.Config{})
	h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if _, _, err := s.Get(); err != nil {
			t.Fatal(err)
		}
		serve(other, http.MethodPost, cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			_ = s.Update(func(u *UserSession) error { u.Visits++; return nil })
		})
		_ = s.Update(func(u *UserSession) error { u.Visits++; return nil })
	})

	res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.RenewID(); err != nil {
			t.Fatal(err)
		}
	})
	renewed := sessionCookie(t, res, "session")
	h.get(cookie) // the retired ID
	// A change through the retired ID fails to commit.
	h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.Update(func(u *UserSession) error { return nil }); !errors.Is(err, session.ErrGone) {
			t.Errorf("Update through a retired ID: %v", err)
		}
	})
	h.do(renewed.Name+"="+renewed.Value, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.Destroy(); err != nil {
			t.Fatal(err)
		}
	})
	h.get(renewed.Name + "=" + renewed.Value) // now unknown

	// A commit that fails: the store is down for writes.
	h.store.Always(backendtest.OpWrite, backendtest.Fault{Err: backend.ErrUnavailable})
	h.do("", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Set(UserSession{UserID: "bob"})
	})
	h.store.Clear()

	// Past the absolute lifetime, on a store whose clock lags behind the
	// manager's, so that it still returns the record.
	late := h.login(UserSession{UserID: "cy"})
	ahead := h.manager(session.Config{Now: func() time.Time { return h.clock.Now().Add(session.DefaultLifetime) }})
	serve(ahead, http.MethodGet, late, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if _, ok, err := s.Get(); ok || err != nil {
			t.Errorf("Get past the lifetime: %v %v", ok, err)
		}
	})

	logs := h.logs.String()
	for _, msg := range []string{
		session.EventCreated, session.EventConflictRetried, session.EventRenewed,
		session.EventRetiredID, session.EventDestroyed, session.EventUnknownID,
		session.EventCommitFailed, session.EventExpired,
	} {
		if !strings.Contains(logs, `msg="`+msg+`"`) {
			t.Errorf("no %q event in the logs:\n%s", msg, logs)
		}
	}
	tok := strings.TrimPrefix(cookie, "session=")
	if strings.Contains(logs, tok) || strings.Contains(logs, renewed.Value) {
		t.Error("a raw session ID is in the logs")
	}
}
