package cookiestore_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/cookiestore"
	"github.com/typedsession/session/codec"
	"github.com/typedsession/session/guard"
	"github.com/typedsession/session/internal/envelope"
)

// TestLifecycle walks a session through login, update, renewal and logout
// in a browser with a cookie jar.
func TestLifecycle(t *testing.T) {
	a := newApp(t, cookiestore.New(keys(t, "a")), session.Config{})
	b := a.browser()
	if r := a.get(b, nil); r.body != "none" || r.cookie != nil {
		t.Fatalf("fresh visitor: %q, cookie %v", r.body, r.cookie)
	}
	r := a.do(b, http.MethodPost, "/login?user=ann", nil)
	if r.status != http.StatusOK || !r.sets() {
		t.Fatalf("login: %d, cookie %v", r.status, r.cookie)
	}
	if !r.cookie.HttpOnly || !r.cookie.Secure || r.cookie.SameSite != http.SameSiteLaxMode || r.cookie.Path != "/" {
		t.Errorf("cookie attributes: %+v", r.cookie)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q", got)
	}
	first := r.cookie.Value
	if strings.Contains(first, "ann") {
		t.Error("the cookie value shows the session data in clear")
	}
	if r := a.do(b, http.MethodPost, "/inc", nil); !r.sets() || r.cookie.Value == first {
		t.Fatalf("update: cookie %v, want a new value", r.cookie)
	}
	if r := a.get(b, nil); r.body != "ann 1 0" {
		t.Fatalf("after update: %q", r.body)
	}
	r = a.do(b, http.MethodPost, "/renew", nil)
	if !r.sets() {
		t.Fatalf("renew: cookie %v", r.cookie)
	}
	if r := a.get(b, nil); r.body != "ann 1 0" {
		t.Fatalf("after renew: %q", r.body)
	}
	if r := a.do(b, http.MethodPost, "/logout", nil); !r.clears() {
		t.Fatalf("logout: cookie %v, want it cleared", r.cookie)
	}
	if r := a.get(b, nil); r.body != "none" {
		t.Fatalf("after logout: %q", r.body)
	}
	if errs := a.commitErrors(); len(errs) > 0 {
		t.Fatalf("commit errors: %v", errs)
	}
}

// TestLazy checks that a handler that does not touch the session gets no
// session headers, and that a read-only request soon after a write sends
// no cookie.
func TestLazy(t *testing.T) {
	a := newApp(t, cookiestore.New(keys(t, "a")), session.Config{})
	c := a.login("ann")
	r := a.do(a.raw(), http.MethodGet, "/untouched", c)
	if r.cookie != nil || r.header.Get("Vary") != "" || r.header.Get("Cache-Control") != "" {
		t.Fatalf("untouched: cookie %v, Vary %q, Cache-Control %q", r.cookie, r.header.Get("Vary"), r.header.Get("Cache-Control"))
	}
	r = a.get(a.raw(), c)
	if r.body != "ann 0 0" || r.cookie != nil {
		t.Fatalf("read: %q, cookie %v; want the data and no cookie", r.body, r.cookie)
	}
	if r.header.Get("Vary") != "Cookie" {
		t.Errorf("read: Vary %q, want Cookie", r.header.Get("Vary"))
	}
}

// TestBadCookiesAreNoSession sends cookies that must not open: each gives
// an empty session and a 200, and the response clears the cookie.
func TestBadCookiesAreNoSession(t *testing.T) {
	a := newApp(t, cookiestore.New(keys(t, "a")), session.Config{})
	good := a.login("ann").Value

	other := newApp(t, cookiestore.New(keys(t, "b")), session.Config{})
	foreign := other.login("ann").Value

	renamed := newApp(t, cookiestore.New(keys(t, "a")), session.Config{Cookie: session.CookieConfig{Name: "other"}})
	otherName := renamed.login("ann").Value

	// flip changes byte i of the decoded value. (Changing a character of
	// the base64 text is not always a change: the padding bits of its last
	// character are ignored, so such a variant is the same cookie.)
	raw, err := base64.URLEncoding.DecodeString(good)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		return base64.URLEncoding.EncodeToString(b)
	}
	cases := map[string]string{
		"tampered first byte":  flip(0),
		"tampered middle byte": flip(len(raw) / 2),
		"tampered last byte":   flip(len(raw) - 1),
		"truncated":            good[:len(good)-10],
		"cut in half":          good[:len(good)/2],
		"doubled":              good + good,
		"other cookie name":    otherName,
		"other secret":         foreign,
		"10 KB":                strings.Repeat("A", 10<<10),
		"garbage":              "not-a-cookie",
		"base64 of nothing":    "AAAA",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			r := a.get(a.raw(), &http.Cookie{Name: a.cookieName(), Value: value})
			if r.body != "none" {
				t.Fatalf("got %q, want no session", r.body)
			}
			if !r.clears() {
				t.Fatalf("cookie %v, want it cleared", r.cookie)
			}
		})
	}
	if r := a.get(a.raw(), &http.Cookie{Name: a.cookieName(), Value: good}); r.body != "ann 0 0" {
		t.Fatalf("the untampered cookie: %q", r.body)
	}
	if errs := a.commitErrors(); len(errs) > 0 {
		t.Fatalf("commit errors: %v", errs)
	}
}

// TestRotation rotates keys: old cookies keep working and are re-sealed
// with the new key on their first response; once the old key is dropped,
// old cookies are empty sessions, with no error.
func TestRotation(t *testing.T) {
	oldKeys, newKeys := keys(t, "o"), keys(t, "n")
	before := newApp(t, cookiestore.New(oldKeys), session.Config{})
	old := before.login("ann")

	during := newApp(t, cookiestore.New(newKeys, oldKeys), session.Config{})
	r := during.get(during.raw(), old)
	if r.body != "ann 0 0" {
		t.Fatalf("old cookie after rotation: %q", r.body)
	}
	if !r.sets() {
		t.Fatal("a cookie opened with the old key was not re-sealed on a read")
	}
	resealed := r.cookie
	if r := during.get(during.raw(), resealed); r.body != "ann 0 0" || r.cookie != nil {
		t.Fatalf("re-sealed cookie: %q, cookie %v; want the data and no new cookie", r.body, r.cookie)
	}

	after := newApp(t, cookiestore.New(newKeys), session.Config{})
	if r := after.get(after.raw(), resealed); r.body != "ann 0 0" {
		t.Fatalf("re-sealed cookie with the new key alone: %q", r.body)
	}
	r = after.get(after.raw(), old)
	if r.body != "none" || !r.clears() {
		t.Fatalf("old cookie after dropping the old key: %q, cookie %v; want no session, cleared", r.body, r.cookie)
	}
	// A change on top of a dropped-key cookie starts a new session.
	r = after.do(after.raw(), http.MethodPost, "/inc", old)
	if r.status != http.StatusOK || !r.sets() {
		t.Fatalf("write with a dropped-key cookie: %d, cookie %v", r.status, r.cookie)
	}
	if got := after.get(after.raw(), r.cookie); got.body != "1 0" { // no user
		t.Fatalf("the new session: %q", got.body)
	}
	for _, a := range []*app{before, during, after} {
		if errs := a.commitErrors(); len(errs) > 0 {
			t.Fatalf("commit errors: %v", errs)
		}
	}
}

// TestIdleTimeout checks that the idle deadline inside the cookie ends an
// unused session, and that reads re-issue the cookie at most once per
// tenth of the idle timeout.
func TestIdleTimeout(t *testing.T) {
	const idle = 10 * time.Minute
	a := newApp(t, cookiestore.New(keys(t, "a")), session.Config{IdleTimeout: idle, Lifetime: 24 * time.Hour})
	b := a.browser()
	a.do(b, http.MethodPost, "/login?user=ann", nil)

	a.clock.Advance(idle/10 - time.Second)
	if r := a.get(b, nil); r.body != "ann 0 0" || r.cookie != nil {
		t.Fatalf("read before a tenth of the idle timeout: %q, cookie %v; want no cookie", r.body, r.cookie)
	}
	a.clock.Advance(2 * time.Second)
	if r := a.get(b, nil); !r.sets() {
		t.Fatalf("read after a tenth of the idle timeout: cookie %v, want a re-issued one", r.cookie)
	}
	if r := a.get(b, nil); r.cookie != nil {
		t.Fatalf("read right after a re-issue: cookie %v, want none", r.cookie)
	}
	// Reads keep the session alive well past one idle timeout...
	for range 5 {
		a.clock.Advance(idle - time.Second)
		if r := a.get(b, nil); r.body != "ann 0 0" {
			t.Fatalf("at %v: %q", a.clock.Now().Sub(epoch), r.body)
		}
	}
	// ...but an idle timeout without requests ends it, even though the
	// browser still holds the cookie.
	a.clock.Advance(idle)
	if r := a.get(b, nil); r.body != "none" || !r.clears() {
		t.Fatalf("after the idle timeout: %q, cookie %v", r.body, r.cookie)
	}
}

// TestLifetimeNeverExtended checks that neither reads nor writes extend the
// absolute lifetime, and that RenewID restarts it.
func TestLifetimeNeverExtended(t *testing.T) {
	const idle, life = 10 * time.Minute, 30 * time.Minute
	a := newApp(t, cookiestore.New(keys(t, "a")), session.Config{IdleTimeout: idle, Lifetime: life})
	b := a.browser()
	a.do(b, http.MethodPost, "/login?user=ann", nil)
	for i := range 5 {
		a.clock.Advance(5 * time.Minute)
		if i%2 == 0 {
			a.do(b, http.MethodPost, "/inc", nil)
		} else {
			a.get(b, nil)
		}
	}
	a.clock.Advance(5*time.Minute - time.Millisecond)
	if r := a.get(b, nil); r.body != "ann 3 0" {
		t.Fatalf("just before the lifetime: %q", r.body)
	}
	// Persisted cookies must not outlive the deadline either: the
	// re-issued cookie carries the same absolute deadline.
	a.clock.Advance(time.Millisecond)
	if r := a.get(b, nil); r.body != "none" {
		t.Fatalf("at the lifetime: %q, want no session", r.body)
	}

	// RenewID starts a new lifetime, which is not extended either.
	a.do(b, http.MethodPost, "/login?user=bob", nil)
	for range 3 {
		a.clock.Advance(8 * time.Minute)
		a.get(b, nil)
	}
	a.do(b, http.MethodPost, "/renew", nil) // 24 minutes after login
	for range 3 {
		a.clock.Advance(8 * time.Minute)
		if r := a.get(b, nil); r.body != "bob 0 0" {
			t.Fatalf("%v after the renewal: %q", a.clock.Now().Sub(epoch), r.body)
		}
	}
	a.clock.Advance(6 * time.Minute) // 30 minutes after the renewal
	if r := a.get(b, nil); r.body != "none" {
		t.Fatalf("a lifetime after the renewal: %q, want no session", r.body)
	}
}

// TestPersistExpiresAtDeadline checks that a persistent cookie's expiry is
// the session's absolute deadline, also when re-issued.
func TestPersistExpiresAtDeadline(t *testing.T) {
	const idle, life = 10 * time.Minute, time.Hour
	a := newApp(t, cookiestore.New(keys(t, "a")), session.Config{
		IdleTimeout: idle, Lifetime: life, Cookie: session.CookieConfig{Persist: true},
	})
	c := a.login("ann")
	if !c.Expires.Equal(epoch.Add(life)) {
		t.Fatalf("login cookie expires %v, want %v", c.Expires, epoch.Add(life))
	}
	a.clock.Advance(5 * time.Minute)
	r := a.get(a.raw(), c)
	if !r.sets() || !r.cookie.Expires.Equal(epoch.Add(life)) {
		t.Fatalf("re-issued cookie %v, want expiry %v", r.cookie, epoch.Add(life))
	}
}

// TestTooLarge checks that a session that does not fit in a cookie fails
// the commit with an error wrapping backend.ErrTooLarge that states the
// size, and leaves the visitor's cookie alone.
func TestTooLarge(t *testing.T) {
	a := newApp(t, cookiestore.New(keys(t, "a")), session.Config{})
	c := a.login("ann")
	r := a.do(a.raw(), http.MethodPost, "/blob?n=3000", c)
	if r.status != http.StatusInternalServerError || r.cookie != nil {
		t.Fatalf("oversized session: %d %q, cookie %v; want 500 and no cookie", r.status, r.body, r.cookie)
	}
	errs := a.commitErrors()
	if len(errs) != 1 || !errors.Is(errs[0], backend.ErrTooLarge) {
		t.Fatalf("commit errors %v, want one wrapping backend.ErrTooLarge", errs)
	}
	var se *cookiestore.SizeError
	if !errors.As(errs[0], &se) || se.Size <= cookiestore.MaxCookieSize || se.Limit != cookiestore.MaxCookieSize || se.Name != "session" {
		t.Fatalf("error %v: %+v, want a SizeError over the limit", errs[0], se)
	}
	if !strings.Contains(errs[0].Error(), strconv.Itoa(se.Size)) {
		t.Errorf("error %q does not state the size %d", errs[0], se.Size)
	}
	if r := a.get(a.raw(), c); r.body != "ann 0 0" {
		t.Fatalf("after the failed commit: %q, want the session as it was", r.body)
	}
	// The default error handler answers 500 too.
	mgr, err := session.New[visit](cookiestore.New(keys(t, "a")), session.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h := mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Set(visit{Blob: strings.Repeat("y", 5000)}); err != nil {
			t.Error(err)
		}
	}))
	rec := newRecorder(h, nil)
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Set-Cookie") != "" {
		t.Fatalf("default error handler: %d, Set-Cookie %q", rec.Code, rec.Header().Get("Set-Cookie"))
	}
}

// TestCapacity measures, per codec, the longest string a session of one
// string field can hold in a cookie named "session", and checks the
// figures the package documentation gives.
func TestCapacity(t *testing.T) {
	type blob struct{ S string }
	want := map[string]int{"msgpack": 2206, "json": 2207, "gob": 2182}
	for _, c := range []codec.Codec{codec.MsgPack, codec.JSON, codec.Gob} {
		mgr, err := session.New[blob](cookiestore.New(keys(t, "a")), session.Config{Codec: c, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		fits := func(n int) bool {
			h := mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := mgr.From(r).Set(blob{S: strings.Repeat("s", n)}); err != nil {
					t.Fatal(err)
				}
			}))
			rec := newRecorder(h, nil)
			switch rec.Code {
			case http.StatusOK:
				sc := rec.Header().Get("Set-Cookie")
				if v, _, _ := strings.Cut(sc, ";"); len(v)-1 > cookiestore.MaxCookieSize {
					t.Fatalf("%s: %d bytes: a cookie of %d bytes was sent", c.Name(), n, len(v)-1)
				}
				return true
			case http.StatusInternalServerError:
				return false
			}
			t.Fatalf("%s: %d bytes: status %d", c.Name(), n, rec.Code)
			return false
		}
		lo, hi := 0, cookiestore.MaxCookieSize // fits(lo), !fits(hi)
		for hi-lo > 1 {
			if mid := (lo + hi) / 2; fits(mid) {
				lo = mid
			} else {
				hi = mid
			}
		}
		t.Logf("%s: %d bytes of string fit", c.Name(), lo)
		if lo != want[c.Name()] {
			t.Errorf("%s: %d bytes fit, the documentation says %d", c.Name(), lo, want[c.Name()])
		}
	}
}

// TestCodecSwap checks that a cookie sealed with one codec opens in a
// manager writing another, and is rewritten with the new codec on change.
func TestCodecSwap(t *testing.T) {
	k := keys(t, "a")
	store := cookiestore.New(k)
	jsonApp := newApp(t, store, session.Config{Codec: codec.JSON})
	c := jsonApp.login("ann")
	if got := codecOf(t, store, c); got != "json" {
		t.Fatalf("sealed with %q, want json", got)
	}
	mp := newApp(t, store, session.Config{Codec: codec.MsgPack})
	if r := mp.get(mp.raw(), c); r.body != "ann 0 0" || r.cookie != nil {
		t.Fatalf("json cookie read by a msgpack manager: %q, cookie %v", r.body, r.cookie)
	}
	r := mp.do(mp.raw(), http.MethodPost, "/inc", c)
	if !r.sets() {
		t.Fatalf("update: cookie %v", r.cookie)
	}
	if got := codecOf(t, store, r.cookie); got != "msgpack" {
		t.Fatalf("rewritten with %q, want msgpack", got)
	}
	if got := jsonApp.get(jsonApp.raw(), r.cookie); got.body != "ann 1 0" {
		t.Fatalf("back on the json manager: %q", got.body)
	}
}

// codecOf opens c with store and returns the codec its envelope names.
func codecOf(t *testing.T, store *cookiestore.Store, c *http.Cookie) string {
	t.Helper()
	rec, _, err := store.Open(c.Name, c.Value)
	if err != nil {
		t.Fatal(err)
	}
	e, err := envelope.Parse(rec)
	if err != nil {
		t.Fatal(err)
	}
	return e.Codec
}

// TestGuard checks that guards see cookie sessions like any others.
func TestGuard(t *testing.T) {
	a := newApp(t, cookiestore.New(keys(t, "a")), session.Config{})
	h := a.mgr.Middleware(guard.Allow(a.mgr, func(v visit) bool { return v.User == "ann" },
		func(w http.ResponseWriter, r *http.Request, _ *session.Session[visit], v visit) {
			w.Write([]byte("hi " + v.User))
		}))
	if rec := newRecorder(h, nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("no session: %d, want 401", rec.Code)
	}
	if rec := newRecorder(h, a.login("bob")); rec.Code != http.StatusForbidden {
		t.Fatalf("bob: %d, want 403", rec.Code)
	}
	if rec := newRecorder(h, a.login("ann")); rec.Code != http.StatusOK || rec.Body.String() != "hi ann" {
		t.Fatalf("ann: %d %q", rec.Code, rec.Body)
	}
}

// TestLimits pins the limits the package documentation states, so that a
// change that lifts one also updates the documentation.
func TestLimits(t *testing.T) {
	a := newApp(t, cookiestore.New(keys(t, "a")), session.Config{})
	c := a.login("ann")
	t.Run("no revocation", func(t *testing.T) {
		if r := a.do(a.raw(), http.MethodPost, "/logout", c); !r.clears() {
			t.Fatalf("logout: cookie %v", r.cookie)
		}
		if r := a.get(a.raw(), c); r.body != "ann 0 0" {
			t.Fatalf("a copy of the cookie after logout: %q; the documentation says it stays valid", r.body)
		}
		r := a.do(a.raw(), http.MethodPost, "/renew", c)
		if r.sets() && r.cookie.Value == c.Value {
			t.Fatal("RenewID kept the cookie value")
		}
		if r := a.get(a.raw(), c); r.body != "ann 0 0" {
			t.Fatalf("the cookie from before RenewID: %q; the documentation says it stays valid", r.body)
		}
	})
	t.Run("last writer wins", func(t *testing.T) {
		first := a.do(a.raw(), http.MethodPost, "/inc", c)
		second := a.do(a.raw(), http.MethodPost, "/inc", c)
		if got := a.get(a.raw(), second.cookie); got.body != "ann 1 0" {
			t.Fatalf("two updates from one cookie: %q; the documentation says the last writer wins", got.body)
		}
		_ = first
	})
}

// TestStoreMethods checks that the server-side methods of a Store fail
// with ErrClientSide, and that New rejects zero key pairs.
func TestStoreMethods(t *testing.T) {
	s := cookiestore.New(keys(t, "a"))
	ctx := context.Background()
	_, errLoad := s.Load(ctx, "k")
	_, errCreate := s.Create(ctx, "k", []byte("x"), time.Minute)
	_, errUpdate := s.Update(ctx, "k", 1, []byte("x"), time.Minute)
	for name, err := range map[string]error{
		"Load": errLoad, "Create": errCreate, "Update": errUpdate,
		"Touch": s.Touch(ctx, "k", time.Minute), "Delete": s.Delete(ctx, "k"),
	} {
		if !errors.Is(err, cookiestore.ErrClientSide) {
			t.Errorf("%s: %v, want ErrClientSide", name, err)
		}
	}
	for name, f := range map[string]func(){
		"zero current":  func() { cookiestore.New(cookiestore.KeyPair{}) },
		"zero previous": func() { cookiestore.New(keys(t, "a"), cookiestore.KeyPair{}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New with a %s pair did not panic", name)
				}
			}()
			f()
		}()
	}
}

// TestKeys checks the key constructors.
func TestKeys(t *testing.T) {
	for _, n := range []int{0, 1, 31} {
		if _, err := cookiestore.KeyPairFromSecret(make([]byte, n)); !errors.Is(err, cookiestore.ErrWeakSecret) {
			t.Errorf("secret of %d bytes: %v, want ErrWeakSecret", n, err)
		}
	}
	k32 := bytes.Repeat([]byte{1}, 32)
	if _, err := cookiestore.KeyPairFromSecret(k32); err != nil {
		t.Errorf("secret of 32 bytes: %v", err)
	}
	for name, pair := range map[string][2][]byte{
		"short hash key":       {make([]byte, 31), k32},
		"short encryption key": {k32, make([]byte, 16)},
		"long encryption key":  {k32, make([]byte, 33)},
	} {
		if _, err := cookiestore.NewKeyPair(pair[0], pair[1]); !errors.Is(err, cookiestore.ErrBadKey) {
			t.Errorf("%s: %v, want ErrBadKey", name, err)
		}
	}
	hashKey, encKey := bytes.Repeat([]byte{2}, 64), bytes.Repeat([]byte{3}, 32)
	explicit, err := cookiestore.NewKeyPair(hashKey, encKey)
	if err != nil {
		t.Fatal(err)
	}
	// NewKeyPair copies: changing the caller's slices changes nothing.
	sealed, err := cookiestore.New(explicit).Seal("session", []byte("record"))
	if err != nil {
		t.Fatal(err)
	}
	hashKey[0], encKey[0] = 9, 9
	if rec, _, err := cookiestore.New(explicit).Open("session", sealed); err != nil || string(rec) != "record" {
		t.Fatalf("after changing the caller's key slices: %q, %v", rec, err)
	}

	// The same secret gives the same keys; another secret other keys.
	s1 := cookiestore.New(keys(t, "s"))
	v, err := s1.Seal("session", []byte("record"))
	if err != nil {
		t.Fatal(err)
	}
	if rec, stale, err := cookiestore.New(keys(t, "s")).Open("session", v); err != nil || stale || string(rec) != "record" {
		t.Fatalf("same secret: %q, %v, %v", rec, stale, err)
	}
	if _, _, err := cookiestore.New(keys(t, "t")).Open("session", v); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("other secret: %v, want ErrNotFound", err)
	}
}

// TestSealDoesNotModifyRecord checks that Seal leaves its argument alone:
// securecookie encrypts in place.
func TestSealDoesNotModifyRecord(t *testing.T) {
	s := cookiestore.New(keys(t, "a"))
	rec := []byte("the record as framed by the manager")
	want := string(rec)
	if _, err := s.Seal("session", rec); err != nil {
		t.Fatal(err)
	}
	if string(rec) != want {
		t.Fatalf("Seal changed its argument to %q", rec)
	}
}
