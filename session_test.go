package session_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
	"github.com/typedsession/session/codec"
	"github.com/typedsession/session/internal/token"
)

func TestUnusedSessionCostsNoStoreCall(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	for _, c := range []string{"", cookie, "session=garbage"} {
		h.store.ResetCalls()
		res := h.do(c, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			_, _ = w.Write([]byte("hello"))
		})
		if n := h.store.Count(backendtest.OpAll); n != 0 {
			t.Errorf("cookie %q: %d store calls for a handler that never touched the session", c, n)
		}
		if len(res.Header.Values("Set-Cookie")) != 0 {
			t.Errorf("cookie %q: unused session set a cookie: %v", c, res.Header.Values("Set-Cookie"))
		}
	}
}

func TestReadOnlyRequestLoadsOnceAndNeverWrites(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada", Visits: 3})
	h.store.ResetCalls()
	res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		for range 3 {
			u, ok, err := s.Get()
			if err != nil || !ok || u.UserID != "ada" || u.Visits != 3 {
				t.Errorf("Get = %+v, %v, %v", u, ok, err)
			}
		}
	})
	if l, wr := h.store.Count(backendtest.OpLoad), h.store.Count(backendtest.OpWrite); l != 1 || wr != 0 {
		t.Errorf("read-only request: %d loads, %d writes; want 1 and 0", l, wr)
	}
	if v := res.Header.Values("Set-Cookie"); len(v) != 0 {
		t.Errorf("read-only request set a cookie: %v", v)
	}
	if v := res.Header.Get("Vary"); v != "Cookie" {
		t.Errorf("a response that read the session has Vary %q, want Cookie", v)
	}
}

func TestAnonymousGetMakesNoStoreCall(t *testing.T) {
	h := newHarness(t, session.Config{})
	h.do("", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if _, ok, err := s.Get(); ok || err != nil {
			t.Errorf("Get without cookie = ok %v, err %v", ok, err)
		}
	})
	if n := h.store.Count(backendtest.OpAll); n != 0 {
		t.Errorf("%d store calls for a visitor without a cookie", n)
	}
}

func TestModifyingRequestWritesOnce(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	h.store.ResetCalls()
	res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		for i := range 5 {
			if err := s.Update(func(u *UserSession) error { u.Cart = append(u.Cart, fmt.Sprint(i)); return nil }); err != nil {
				t.Errorf("Update: %v", err)
			}
		}
	})
	if l, u, wr := h.store.Count(backendtest.OpLoad), h.store.Count(backendtest.OpUpdate), h.store.Count(backendtest.OpWrite); l != 1 || u != 1 || wr != 1 {
		t.Errorf("modifying request: %d loads, %d updates, %d writes; want 1, 1, 1", l, u, wr)
	}
	if v := res.Header.Values("Set-Cookie"); len(v) != 0 {
		t.Errorf("update of an existing session re-sent the cookie: %v", v)
	}
	u, _ := h.get(cookie)
	if got := strings.Join(u.Cart, ","); got != "0,1,2,3,4" {
		t.Errorf("cart = %q", got)
	}
}

func TestNewSessionCookieAttributes(t *testing.T) {
	h := newHarness(t, session.Config{})
	res := h.do("", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Set(UserSession{UserID: "ada"})
	})
	c := sessionCookie(t, res, "session")
	if c == nil {
		t.Fatal("no cookie")
	}
	if !token.Valid(c.Value) {
		t.Errorf("cookie value %q is not a session ID", c.Value)
	}
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("cookie attributes: %s", c.String())
	}
	if c.MaxAge != 0 || !c.Expires.IsZero() {
		t.Errorf("browser-session cookie carries an expiry: %s", res.Header.Get("Set-Cookie"))
	}
	if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Vary") != "Cookie" {
		t.Errorf("cache headers: Cache-Control %q, Vary %q", res.Header.Get("Cache-Control"), res.Header.Get("Vary"))
	}
}

func TestPersistentCookieExpiresAtDeadline(t *testing.T) {
	h := newHarness(t, session.Config{Lifetime: 6 * time.Hour, Cookie: session.CookieConfig{Persist: true}})
	res := h.do("", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Set(UserSession{UserID: "ada"})
	})
	c := sessionCookie(t, res, "session")
	if c == nil {
		t.Fatal("no cookie")
	}
	if c.MaxAge != 6*3600 || !c.Expires.Equal(epoch.Add(6*time.Hour)) {
		t.Errorf("persistent cookie: Max-Age %d, Expires %v", c.MaxAge, c.Expires)
	}
}

func TestCookieConfigValidation(t *testing.T) {
	bad := []session.CookieConfig{
		{Name: "__Host-s", Domain: "example.com"},
		{Name: "__Host-s", Path: "/app"},
		{Name: "__Host-s", Insecure: true},
		{Name: "__Secure-s", Insecure: true},
		{Name: "bad name"},
		{Name: "bad;name"},
		{SameSite: http.SameSiteNoneMode, Insecure: true},
		{Path: "relative"},
		{Path: "/a;b"},
	}
	for _, c := range bad {
		if _, err := session.New[UserSession](backendtest.NewFaultStore(nil), session.Config{Cookie: c}); err == nil {
			t.Errorf("New accepted cookie config %+v", c)
		}
	}
	good := []session.CookieConfig{{Name: "__Host-sid"}, {Name: "__Secure-sid", Domain: "example.com", Path: "/app"}, {Insecure: true}}
	for _, c := range good {
		if _, err := session.New[UserSession](backendtest.NewFaultStore(nil), session.Config{Cookie: c}); err != nil {
			t.Errorf("New rejected cookie config %+v: %v", c, err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	if _, err := session.New[UserSession](nil, session.Config{}); err == nil {
		t.Error("New accepted a nil store")
	}
	for _, cfg := range []session.Config{{IdleTimeout: -1}, {Lifetime: -1}, {MaxRetries: -1}} {
		if _, err := session.New[UserSession](backendtest.NewFaultStore(nil), cfg); err == nil {
			t.Errorf("New accepted %+v", cfg)
		}
	}
	//lint:ignore U1000 the field exists to be invisible to gob
	type noFields struct{ hidden int }
	if _, err := session.New[noFields](backendtest.NewFaultStore(nil), session.Config{Codec: codec.Gob}); err == nil {
		t.Error("New accepted a type gob cannot encode")
	}
}

func TestHostPrefixedCookieRoundTrip(t *testing.T) {
	h := newHarness(t, session.Config{Cookie: session.CookieConfig{Name: "__Host-sid"}})
	res := h.do("", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Set(UserSession{UserID: "ada"})
	})
	c := sessionCookie(t, res, "__Host-sid")
	if c == nil {
		t.Fatal("no __Host- cookie")
	}
	u, ok := h.get("other=1; __Host-sid=" + c.Value + "; x=y")
	if !ok || u.UserID != "ada" {
		t.Errorf("session not found through __Host- cookie: %+v %v", u, ok)
	}
}

func TestBadCookiesAreEmptySessionsAndNeverAdopted(t *testing.T) {
	h := newHarness(t, session.Config{})
	real := h.login(UserSession{UserID: "ada"})
	realTok := strings.TrimPrefix(real, "session=")
	unknown, _ := token.New()
	cases := map[string]string{
		"forged":           "session=" + strings.Repeat("A", 43),
		"malformed":        "session=not-a-session-id!",
		"truncated":        "session=" + realTok[:30],
		"extended":         "session=" + realTok + "A",
		"huge":             "session=" + strings.Repeat("x", 10<<10),
		"unknown":          "session=" + unknown,
		"non-canonical":    "session=" + realTok[:42] + "B",
		"empty":            "session=",
		"quoted-unknown":   `session="` + unknown + `"`,
		"control-chars":    "session=\x00\x01\x02",
		"wrong-name-real":  "sessionx=" + realTok,
		"semicolons-only":  ";;;",
		"unicode":          "session=ünïcødé",
		"duplicate-broken": "session=bad; session=" + unknown,
	}
	for name, cookie := range cases {
		t.Run(name, func(t *testing.T) {
			var got UserSession
			res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
				u, ok, err := s.Get()
				if ok || err != nil {
					t.Errorf("Get = %+v, ok %v, err %v; want empty session", u, ok, err)
				}
				if err := s.Update(func(u *UserSession) error { u.Visits++; return nil }); err != nil {
					t.Errorf("Update: %v", err)
				}
				got, _, _ = s.Get()
			})
			if res.StatusCode != http.StatusOK {
				t.Errorf("status %d", res.StatusCode)
			}
			if got.Visits != 1 || got.UserID != "" {
				t.Errorf("new session data %+v", got)
			}
			c := sessionCookie(t, res, "session")
			if c == nil || !token.Valid(c.Value) {
				t.Fatalf("no fresh session cookie: %v", res.Header.Values("Set-Cookie"))
			}
			if strings.Contains(cookie, c.Value) {
				t.Errorf("the presented ID %q was adopted", c.Value)
			}
		})
	}
	if u, ok := h.get(real); !ok || u.UserID != "ada" {
		t.Errorf("the real session was disturbed: %+v %v", u, ok)
	}
}

func TestUnknownCookieIsClearedOnReadOnlyRequest(t *testing.T) {
	h := newHarness(t, session.Config{})
	unknown, _ := token.New()
	res := h.do("session="+unknown, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_, _, _ = s.Get()
	})
	c := sessionCookie(t, res, "session")
	if c == nil || c.MaxAge != -1 || c.Value != "" {
		t.Errorf("stale cookie not cleared: %v", res.Header.Values("Set-Cookie"))
	}
	if n := h.store.Count(backendtest.OpWrite); n != 0 {
		t.Errorf("%d store writes for an unknown cookie", n)
	}
}

func TestCodecSwapReadsOldSessionsAndRewritesWithNewCodec(t *testing.T) {
	h := newHarness(t, session.Config{Codec: codec.JSON})
	cookie := h.login(UserSession{UserID: "ada", Roles: []string{"admin"}, Visits: 7})
	if e, _, err := h.storedEnvelope(cookie); err != nil || e.Codec != "json" {
		t.Fatalf("stored with codec %q (%v), want json", e.Codec, err)
	}
	for _, next := range []codec.Codec{codec.MsgPack, codec.Gob, codec.JSON} {
		h.mgr = h.manager(session.Config{Codec: next})
		u, ok := h.get(cookie)
		if !ok || u.UserID != "ada" || u.Visits != 7 || len(u.Roles) != 1 {
			t.Fatalf("after switching to %s the session reads %+v, %v", next.Name(), u, ok)
		}
		h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			if err := s.Update(func(u *UserSession) error { u.Cart = append(u.Cart, next.Name()); return nil }); err != nil {
				t.Errorf("Update: %v", err)
			}
		})
		e, _, err := h.storedEnvelope(cookie)
		if err != nil || e.Codec != next.Name() {
			t.Errorf("after a change under %s the record is in %q (%v)", next.Name(), e.Codec, err)
		}
	}
	u, _ := h.get(cookie)
	if got := strings.Join(u.Cart, ","); got != "msgpack,gob,json" || u.Visits != 7 {
		t.Errorf("data after three codec swaps: %+v", u)
	}
}

func TestCorruptRecordIsEmptyAndLogged(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	key := token.Key(strings.TrimPrefix(cookie, "session="))
	_, rec, _ := h.storedEnvelope(cookie)
	for name, data := range map[string][]byte{
		"garbage":   []byte("definitely not an envelope"),
		"truncated": rec.Data[:10],
		"bad-data":  append(bytes.Clone(rec.Data[:len(rec.Data)-4]), 0xc1, 0xc1, 0xc1, 0xc1),
	} {
		t.Run(name, func(t *testing.T) {
			cur, err := h.mem.Load(t.Context(), key)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.mem.Update(t.Context(), key, cur.Version, data, time.Hour); err != nil {
				t.Fatal(err)
			}
			if u, ok := h.get(cookie); ok {
				t.Errorf("corrupt record read as %+v", u)
			}
			if !strings.Contains(h.logs.String(), "unreadable; treating the session as empty") {
				t.Errorf("corrupt record not logged; logs:\n%s", h.logs.String())
			}
			// A fresh login works: the corrupt record is not in the way.
			res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
				if err := s.Renew(UserSession{UserID: "ada"}); err != nil {
					t.Errorf("Renew: %v", err)
				}
			})
			c := sessionCookie(t, res, "session")
			if res.StatusCode != http.StatusOK || c == nil || "session="+c.Value == cookie {
				t.Fatalf("login over a corrupt record: status %d, cookie %v", res.StatusCode, c)
			}
			if u, ok := h.get("session=" + c.Value); !ok || u.UserID != "ada" {
				t.Errorf("fresh login reads %+v, %v", u, ok)
			}
		})
	}
}

func TestRenewIDRetiresOldIDEvenAgainstInFlightRequests(t *testing.T) {
	h := newHarness(t, session.Config{})
	old := h.login(UserSession{UserID: "ada", Visits: 1})

	// An in-flight request loads the session with the old ID and is held
	// before it commits its change.
	loaded, release := make(chan struct{}), make(chan struct{})
	var inflight *http.Response
	var wg sync.WaitGroup
	wg.Go(func() {
		inflight = h.do(old, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			if err := s.Update(func(u *UserSession) error { u.Visits = 99; return nil }); err != nil {
				t.Errorf("Update: %v", err)
			}
			close(loaded)
			<-release
		})
	})
	<-loaded

	res := h.do(old, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.RenewID(); err != nil {
			t.Errorf("RenewID: %v", err)
		}
	})
	c := sessionCookie(t, res, "session")
	if c == nil || "session="+c.Value == old {
		t.Fatalf("RenewID did not issue a new cookie: %v", res.Header.Values("Set-Cookie"))
	}
	renewed := "session=" + c.Value

	close(release)
	wg.Wait()
	if inflight.StatusCode != http.StatusConflict {
		t.Errorf("in-flight commit on the retired ID answered %d, want 409", inflight.StatusCode)
	}
	if v := inflight.Header.Values("Set-Cookie"); len(v) != 0 {
		t.Errorf("in-flight commit on the retired ID sent Set-Cookie %q", v)
	}
	if e, _, err := h.storedEnvelope(old); err != nil || !e.Retired {
		t.Errorf("the old ID's record after the in-flight commit: %+v, %v; want a tombstone", e, err)
	}
	if _, ok := h.get(old); ok {
		t.Error("the old ID still reads a session")
	}
	if u, ok := h.get(renewed); !ok || u.UserID != "ada" || u.Visits != 1 {
		t.Errorf("renewed session = %+v, %v", u, ok)
	}
	if !strings.Contains(h.logs.String(), "session commit failed") {
		t.Errorf("the failed commit was not logged:\n%s", h.logs.String())
	}
}

func TestRenewIDCarriesOverConcurrentChanges(t *testing.T) {
	h := newHarness(t, session.Config{})
	other := h.manager(session.Config{})
	old := h.login(UserSession{UserID: "ada"})
	res := h.do(old, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Update(func(u *UserSession) error { u.Roles = []string{"admin"}; return nil })
		_ = s.RenewID()
		// Another process adds to the cart under the old ID before this
		// request commits its renewal.
		serve(other, http.MethodPost, old, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			_ = s.Update(func(u *UserSession) error { u.Cart = append(u.Cart, "book"); return nil })
		})
	})
	c := sessionCookie(t, res, "session")
	if res.StatusCode != http.StatusOK || c == nil {
		t.Fatalf("status %d, cookie %v", res.StatusCode, c)
	}
	u, ok := h.get("session=" + c.Value)
	if !ok || len(u.Roles) != 1 || len(u.Cart) != 1 {
		t.Errorf("renewed session lost a concurrent change: %+v", u)
	}
	if _, ok := h.get(old); ok {
		t.Error("old ID alive after renewal")
	}
}

func TestRenewIDNeverShowsNewDataUnderOldID(t *testing.T) {
	// Session fixation: an attacker planted old in the victim's browser
	// and polls it while the victim logs in. The old ID must never read
	// the logged-in data, not even between the steps of the renewal.
	h := newHarness(t, session.Config{})
	planted := h.login(UserSession{UserID: "anonymous"})
	var seen []UserSession
	peek := func() {
		if u, ok := h.get(planted); ok && u.UserID != "anonymous" {
			seen = append(seen, u)
		}
	}
	h.store.Always(backendtest.OpCreate|backendtest.OpUpdate, backendtest.Fault{Before: func(context.Context) { peek() }})
	res := h.do(planted, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Set(UserSession{UserID: "victim", Roles: []string{"admin"}})
		_ = s.RenewID()
	})
	h.store.Clear()
	if len(seen) != 0 {
		t.Errorf("the planted ID read %+v during the renewal", seen)
	}
	if c := sessionCookie(t, res, "session"); c == nil || "session="+c.Value == planted {
		t.Fatalf("no new ID: %v", res.Header.Values("Set-Cookie"))
	}
	if _, ok := h.get(planted); ok {
		t.Error("the planted ID reads a session after the renewal")
	}
}

func TestRenewIDWhenRetiredRecordCannotBeDeleted(t *testing.T) {
	h := newHarness(t, session.Config{})
	old := h.login(UserSession{UserID: "ada"})
	h.store.Always(backendtest.OpDelete, backendtest.Fault{Err: fmt.Errorf("delete refused: %w", backend.ErrUnavailable)})
	res := h.do(old, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.RenewID()
	})
	c := sessionCookie(t, res, "session")
	if res.StatusCode != http.StatusOK || c == nil {
		t.Fatalf("status %d, cookie %v", res.StatusCode, c)
	}
	if _, ok := h.get(old); ok {
		t.Error("old ID alive although its record was replaced by a tombstone")
	}
	if u, ok := h.get("session=" + c.Value); !ok || u.UserID != "ada" {
		t.Errorf("renewed session = %+v, %v", u, ok)
	}
}

func TestRenewIDRestartsLifetime(t *testing.T) {
	h := newHarness(t, session.Config{IdleTimeout: time.Hour, Lifetime: 2 * time.Hour})
	cookie := h.login(UserSession{UserID: "ada"})
	h.clock.Advance(50 * time.Minute)
	h.get(cookie) // keeps it from idling out
	h.clock.Advance(50 * time.Minute)
	res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.RenewID()
	})
	renewed := "session=" + sessionCookie(t, res, "session").Value
	h.clock.Advance(30 * time.Minute) // past the first deadline
	if _, ok := h.get(cookie); ok {
		t.Error("the old ID survived RenewID")
	}
	if _, ok := h.get(renewed); !ok {
		t.Error("renewed session ended at the old deadline")
	}
}

func TestDestroyDeletesRecordAndClearsCookie(t *testing.T) {
	h := newHarness(t, session.Config{Cookie: session.CookieConfig{Name: "__Secure-sid", Domain: "example.com", Path: "/app", SameSite: http.SameSiteStrictMode}})
	res := h.do("", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Set(UserSession{UserID: "ada"})
	})
	set := sessionCookie(t, res, "__Secure-sid")
	cookie := "__Secure-sid=" + set.Value
	res = h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
		if _, ok, _ := s.Get(); ok {
			t.Error("Get after Destroy found data")
		}
	})
	cl := sessionCookie(t, res, "__Secure-sid")
	if cl == nil {
		t.Fatal("Destroy did not clear the cookie")
	}
	if cl.Value != "" || cl.MaxAge != -1 || cl.Path != set.Path || cl.Domain != set.Domain ||
		cl.Secure != set.Secure || cl.HttpOnly != set.HttpOnly || cl.SameSite != set.SameSite {
		t.Errorf("clearing cookie %q does not match the one set %q", cl.String(), set.String())
	}
	if _, err := h.mem.Load(t.Context(), token.Key(set.Value)); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("record still stored after Destroy: %v", err)
	}
}

func TestDestroyThenSetStartsNewSession(t *testing.T) {
	h := newHarness(t, session.Config{})
	old := h.login(UserSession{UserID: "ada"})
	res := h.do(old, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Destroy()
		_ = s.Set(UserSession{UserID: "guest"})
	})
	c := sessionCookie(t, res, "session")
	if c == nil || "session="+c.Value == old {
		t.Fatalf("no new ID after Destroy+Set: %v", res.Header.Values("Set-Cookie"))
	}
	if _, ok := h.get(old); ok {
		t.Error("old session survived Destroy")
	}
	if u, ok := h.get("session=" + c.Value); !ok || u.UserID != "guest" {
		t.Errorf("new session = %+v, %v", u, ok)
	}
}

func TestIdleTimeout(t *testing.T) {
	h := newHarness(t, session.Config{IdleTimeout: 10 * time.Minute, Lifetime: 24 * time.Hour})
	cookie := h.login(UserSession{UserID: "ada"})
	// Used every 9 minutes, the session lives far beyond one idle timeout.
	for range 10 {
		h.clock.Advance(9 * time.Minute)
		if _, ok := h.get(cookie); !ok {
			t.Fatalf("session idled out while in use, at %v", h.clock.Now().Sub(epoch))
		}
	}
	h.clock.Advance(10*time.Minute + time.Second)
	if _, ok := h.get(cookie); ok {
		t.Error("session survived its idle timeout")
	}
}

func TestAbsoluteLifetime(t *testing.T) {
	h := newHarness(t, session.Config{IdleTimeout: 10 * time.Minute, Lifetime: time.Hour})
	cookie := h.login(UserSession{UserID: "ada"})
	for range 6 {
		h.clock.Advance(9 * time.Minute)
		h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			_ = s.Update(func(u *UserSession) error { u.Visits++; return nil })
		})
	}
	if u, ok := h.get(cookie); !ok || u.Visits != 6 {
		t.Fatalf("at 54 minutes: %+v, %v", u, ok)
	}
	h.clock.Advance(6*time.Minute + time.Second) // past the lifetime, within the idle timeout
	if _, ok := h.get(cookie); ok {
		t.Error("session outlived its absolute lifetime despite constant use")
	}
}

func TestTouchIsThrottledAndExtendsIdleTimeout(t *testing.T) {
	h := newHarness(t, session.Config{IdleTimeout: 100 * time.Minute})
	cookie := h.login(UserSession{UserID: "ada"})
	h.store.ResetCalls()
	for range 9 {
		h.clock.Advance(time.Minute)
		h.get(cookie)
	}
	if n := h.store.Count(backendtest.OpTouch); n != 0 {
		t.Errorf("%d touches within the first tenth of the idle timeout", n)
	}
	h.clock.Advance(2 * time.Minute)
	h.get(cookie)
	if n := h.store.Count(backendtest.OpTouch); n != 1 {
		t.Errorf("%d touches after a tenth of the idle timeout, want 1", n)
	}
	if _, rec, _ := h.storedEnvelope(cookie); rec.TTL != 100*time.Minute {
		t.Errorf("TTL after touch = %v", rec.TTL)
	}
	if n := h.store.Count(backendtest.OpUpdate) + h.store.Count(backendtest.OpCreate); n != 0 {
		t.Errorf("%d rewrites for read-only requests", n)
	}
}

func TestTouchNeverExtendsBeyondLifetime(t *testing.T) {
	h := newHarness(t, session.Config{IdleTimeout: time.Hour, Lifetime: 90 * time.Minute})
	cookie := h.login(UserSession{UserID: "ada"})
	h.clock.Advance(59 * time.Minute)
	h.get(cookie)
	if _, rec, _ := h.storedEnvelope(cookie); rec.TTL != 31*time.Minute {
		t.Errorf("TTL after touch near the deadline = %v, want 31m", rec.TTL)
	}
}

func TestConcurrentUpdatesAreNotLost(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	const n = 100
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
				if err := s.Update(func(u *UserSession) error {
					u.Visits++
					u.Cart = append(u.Cart, fmt.Sprint(i))
					return nil
				}); err != nil {
					t.Errorf("Update: %v", err)
				}
			})
			if res.StatusCode != http.StatusOK {
				t.Errorf("status %d", res.StatusCode)
			}
		})
	}
	close(start)
	wg.Wait()
	u, _ := h.get(cookie)
	if u.Visits != n || len(u.Cart) != n {
		t.Errorf("after %d concurrent increments: visits %d, cart %d", n, u.Visits, len(u.Cart))
	}
}

func TestConflictsAcrossManagersReplayUpdates(t *testing.T) {
	// Two managers on one store stand for two processes: their commits
	// are not serialised by a shared lock, so conflicts reach the store.
	h := newHarness(t, session.Config{})
	other := h.manager(session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		m := h.mgr
		if i%2 == 1 {
			m = other
		}
		wg.Go(func() {
			res := serve(m, http.MethodPost, cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
				_ = s.Update(func(u *UserSession) error { u.Visits++; return nil })
			})
			if res.StatusCode != http.StatusOK {
				t.Errorf("status %d", res.StatusCode)
			}
		})
	}
	wg.Wait()
	if u, _ := h.get(cookie); u.Visits != n {
		t.Errorf("visits = %d, want %d", u.Visits, n)
	}
}

func TestReplayAfterConflictSeesFreshData(t *testing.T) {
	h := newHarness(t, session.Config{})
	other := h.manager(session.Config{})
	cookie := h.login(UserSession{UserID: "ada", Cart: []string{"a"}})
	res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Update(func(u *UserSession) error { u.Cart = append(u.Cart, "mine"); return nil })
		// Another process commits first.
		serve(other, http.MethodPost, cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			_ = s.Update(func(u *UserSession) error { u.Cart = append(u.Cart, "theirs"); return nil })
		})
	})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	u, _ := h.get(cookie)
	if got := strings.Join(u.Cart, ","); got != "a,theirs,mine" {
		t.Errorf("cart = %q, want a,theirs,mine", got)
	}
}

func TestSetIsBlindAndWins(t *testing.T) {
	h := newHarness(t, session.Config{})
	other := h.manager(session.Config{})
	cookie := h.login(UserSession{UserID: "ada", Visits: 1})
	h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Set(UserSession{UserID: "bob"})
		_ = s.Update(func(u *UserSession) error { u.Visits += 10; return nil })
		serve(other, http.MethodPost, cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			_ = s.Update(func(u *UserSession) error { u.Visits = 500; return nil })
		})
	})
	if u, _ := h.get(cookie); u.UserID != "bob" || u.Visits != 10 {
		t.Errorf("after Set+Update racing another write: %+v", u)
	}
}

func TestPersistentConflictsGiveUp(t *testing.T) {
	h := newHarness(t, session.Config{MaxRetries: 3})
	cookie := h.login(UserSession{UserID: "ada"})
	h.store.Always(backendtest.OpUpdate, backendtest.Fault{Err: backend.ErrConflict})
	var caught error
	h.mgr = h.manager(session.Config{MaxRetries: 3, ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		caught = err
		w.WriteHeader(http.StatusConflict)
	}})
	res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Update(func(u *UserSession) error { u.Visits++; return nil })
	})
	if res.StatusCode != http.StatusConflict || !errors.Is(caught, backend.ErrConflict) {
		t.Errorf("status %d, error %v", res.StatusCode, caught)
	}
	if n := h.store.Count(backendtest.OpUpdate); n != 4 {
		t.Errorf("%d update attempts with MaxRetries 3, want 4", n)
	}
}

func TestUpdateErrorRollsBack(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada", Cart: []string{"a"}, Visits: 1})
	h.store.ResetCalls()
	boom := errors.New("out of stock")
	h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Update(func(u *UserSession) error { u.Visits++; return nil })
		err := s.Update(func(u *UserSession) error {
			u.UserID = "mallory"
			u.Cart[0] = "changed in place"
			u.Visits = 1000
			return boom
		})
		if !errors.Is(err, boom) {
			t.Errorf("Update error = %v", err)
		}
		u, _, _ := s.Get()
		if u.UserID != "ada" || u.Visits != 2 || u.Cart[0] != "a" {
			t.Errorf("after a failed Update the data is %+v", u)
		}
	})
	if u, _ := h.get(cookie); u.UserID != "ada" || u.Visits != 2 || u.Cart[0] != "a" {
		t.Errorf("stored after failed Update: %+v", u)
	}
}

func TestChangeAfterCommitFails(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_, _, _ = s.Get()
		w.WriteHeader(http.StatusAccepted)
		for name, err := range map[string]error{
			"Set":     s.Set(UserSession{}),
			"Update":  s.Update(func(*UserSession) error { return nil }),
			"RenewID": s.RenewID(),
			"Destroy": s.Destroy(),
		} {
			if !errors.Is(err, session.ErrCommitted) {
				t.Errorf("%s after commit: %v", name, err)
			}
		}
		if u, ok, err := s.Get(); !ok || err != nil || u.UserID != "ada" {
			t.Errorf("Get after commit = %+v %v %v", u, ok, err)
		}
	})
	if !strings.Contains(h.logs.String(), "session change after commit") {
		t.Error("change after commit not logged")
	}
}

func TestCommitHappensBeforeHeaders(t *testing.T) {
	h := newHarness(t, session.Config{})
	res := h.do("", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Set(UserSession{UserID: "ada"})
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("body"))
	})
	if sessionCookie(t, res, "session") == nil {
		t.Error("cookie missing when the handler wrote a body")
	}
}

func TestPanickingHandlerCommitsNothing(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	h.store.ResetCalls()
	func() {
		defer func() { _ = recover() }()
		h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			_ = s.Update(func(u *UserSession) error { u.Visits = 42; return nil })
			panic("handler bug")
		})
	}()
	if n := h.store.Count(backendtest.OpWrite); n != 0 {
		t.Errorf("%d writes after a panic", n)
	}
}

func TestStoreOutageIsAnErrorNotALogout(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	outage := fmt.Errorf("dial tcp: connection refused: %w", backend.ErrUnavailable)
	h.store.Always(backendtest.OpAll, backendtest.Fault{Err: outage})
	res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_, ok, err := s.Get()
		if !errors.Is(err, backend.ErrUnavailable) || ok {
			t.Errorf("Get during outage = ok %v, err %v", ok, err)
		}
		if err := s.Update(func(u *UserSession) error { return nil }); !errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("Update during outage: %v", err)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	if v := res.Header.Values("Set-Cookie"); len(v) != 0 {
		t.Errorf("outage changed the cookie: %v", v)
	}
	h.store.Clear()
	if u, ok := h.get(cookie); !ok || u.UserID != "ada" {
		t.Errorf("after the outage: %+v %v", u, ok)
	}
}

func TestCommitFailureReplacesResponse(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	outage := fmt.Errorf("i/o timeout: %w", backend.ErrUnavailable)
	for _, writes := range []bool{false, true} {
		h.store.Always(backendtest.OpWrite, backendtest.Fault{Err: outage})
		res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			_ = s.Update(func(u *UserSession) error { u.Visits++; return nil })
			w.Header().Set("Location", "/done")
			if writes {
				if _, err := w.Write([]byte("secret handler body")); err == nil {
					t.Error("Write after a failed commit succeeded")
				}
			}
		})
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
			t.Errorf("writes=%v: status %d, Retry-After %q", writes, res.StatusCode, res.Header.Get("Retry-After"))
		}
		if res.Header.Get("Location") != "" {
			t.Error("handler headers leaked into the error response")
		}
	}
	h.store.Clear()
	if u, _ := h.get(cookie); u.Visits != 0 {
		t.Errorf("visits = %d after failed commits", u.Visits)
	}
}

func TestDestroyDuringOutageFails(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	h.store.Always(backendtest.OpWrite, backendtest.Fault{Err: fmt.Errorf("down: %w", backend.ErrUnavailable)})
	res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("logout during outage answered %d, want 503", res.StatusCode)
	}
	if c := sessionCookie(t, res, "session"); c != nil {
		t.Error("cookie cleared although the server-side session could not be deleted")
	}
}

func TestFromWithoutMiddleware(t *testing.T) {
	h := newHarness(t, session.Config{})
	s := h.mgr.From(httpRequest())
	if _, _, err := s.Get(); !errors.Is(err, session.ErrNoMiddleware) {
		t.Errorf("Get: %v", err)
	}
	if err := s.Set(UserSession{}); !errors.Is(err, session.ErrNoMiddleware) {
		t.Errorf("Set: %v", err)
	}
	if err := s.Destroy(); !errors.Is(err, session.ErrNoMiddleware) {
		t.Errorf("Destroy: %v", err)
	}
}

func httpRequest() *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
	return r
}

func TestTwoManagersOnOneRequest(t *testing.T) {
	h := newHarness(t, session.Config{})
	type Prefs struct{ Theme string }
	prefs, err := session.New[Prefs](h.store, session.Config{Cookie: session.CookieConfig{Name: "prefs"}, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	handler := h.mgr.Middleware(prefs.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = h.mgr.From(r).Set(UserSession{UserID: "ada"})
		_ = prefs.From(r).Set(Prefs{Theme: "dark"})
	})))
	rec := newRecorder()
	handler.ServeHTTP(rec, httpRequest())
	res := rec.Result()
	if sessionCookie(t, res, "session") == nil || sessionCookie(t, res, "prefs") == nil {
		t.Errorf("cookies: %v", res.Header.Values("Set-Cookie"))
	}
}
