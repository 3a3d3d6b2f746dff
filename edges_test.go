package session_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/codec"
	"github.com/typedsession/session/internal/envelope"
	"github.com/typedsession/session/internal/token"
)

// TestStaleParallelRequestsNeverClobberTheRenewedCookie is a browser that
// fires many requests with its old cookie while one of them logs in (a
// RenewID): whatever order the responses come back in, the jar ends up
// holding the renewed session. Requests answered after the renewal must
// neither clear the cookie nor start an anonymous session in its place.
func TestStaleParallelRequestsNeverClobberTheRenewedCookie(t *testing.T) {
	const parallel = 200
	for round := range 5 {
		t.Run(strconv.Itoa(round), func(t *testing.T) {
			h := newHarness(t, session.Config{})
			// Every stale request loads the session with the old ID,
			// then waits until the renewal has committed.
			var loaded sync.WaitGroup
			renewed := make(chan struct{})
			mux := http.NewServeMux()
			mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
				if err := h.mgr.From(r).Set(UserSession{UserID: "anon", Visits: 1}); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
				}
			})
			mux.HandleFunc("POST /renew", func(w http.ResponseWriter, r *http.Request) {
				s := h.mgr.From(r)
				if err := s.Update(func(u *UserSession) error { u.UserID = "ada"; return nil }); err != nil {
					http.Error(w, err.Error(), http.StatusServiceUnavailable)
					return
				}
				if err := s.RenewID(); err != nil {
					http.Error(w, err.Error(), http.StatusServiceUnavailable)
				}
			})
			mux.HandleFunc("/stale", func(w http.ResponseWriter, r *http.Request) {
				s := h.mgr.From(r)
				_, _, err := s.Get()
				loaded.Done()
				<-renewed
				if err == nil && r.Method == http.MethodPost {
					err = s.Update(func(u *UserSession) error { u.Visits++; return nil })
				}
				if err == nil && r.URL.Query().Has("set") {
					err = s.Set(UserSession{UserID: "stranger"})
				}
				if errors.Is(err, session.ErrGone) {
					http.Error(w, err.Error(), http.StatusConflict)
				}
			})
			// TLS, so that the jar keeps the Secure cookie on every
			// Go release (before Go 1.26 it dropped Secure cookies on
			// http://127.0.0.1).
			srv := httptest.NewTLSServer(h.mgr.Middleware(mux))
			defer srv.Close()
			client := srv.Client()
			client.Jar = newJar(t)
			post := func(path string) *http.Response {
				res, err := client.Post(srv.URL+path, "text/plain", nil)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				return res
			}
			post("/login")
			u, _ := url.Parse(srv.URL)
			old := client.Jar.Cookies(u)[0].Value

			loaded.Add(parallel)
			var wg sync.WaitGroup
			var conflicts atomic.Int32
			for i := range parallel {
				wg.Go(func() {
					var res *http.Response
					var err error
					switch i % 3 {
					case 0:
						res, err = client.Get(srv.URL + "/stale")
					case 1:
						res, err = client.Post(srv.URL+"/stale", "text/plain", nil)
					default:
						res, err = client.Post(srv.URL+"/stale?set", "text/plain", nil)
					}
					if err != nil {
						t.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode == http.StatusConflict {
						conflicts.Add(1)
					}
				})
			}
			loaded.Wait()
			res := post("/renew")
			if res.StatusCode != http.StatusOK {
				t.Fatalf("renew: %d", res.StatusCode)
			}
			close(renewed)
			wg.Wait()

			jar := client.Jar.Cookies(u)
			if len(jar) != 1 || jar[0].Value == old {
				t.Fatalf("the jar holds %v after the stale responses; want the renewed cookie", jar)
			}
			got, ok := h.get("session=" + jar[0].Value)
			if !ok || got.UserID != "ada" || got.Visits != 1 {
				t.Errorf("the renewed session reads %+v, %v", got, ok)
			}
			if _, ok := h.get("session=" + old); ok {
				t.Error("the old ID still reads a session")
			}
			if n := conflicts.Load(); n != 2*parallel/3 {
				t.Errorf("%d of the stale writes answered 409, want %d", n, 2*parallel/3)
			}
		})
	}
}

// TestRetiredIDReadsNothingAndWritesFail pins what a request carrying a
// just-retired ID sees, at the level of the session's methods.
func TestRetiredIDReadsNothingAndWritesFail(t *testing.T) {
	h := newHarness(t, session.Config{})
	old := h.login(UserSession{UserID: "ada"})
	res := h.do(old, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.RenewID()
	})
	renewed := sessionCookie(t, res, "session")
	writes := h.store.Count(backendtest.OpWrite)
	res = h.do(old, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if _, ok, err := s.Get(); ok || err != nil {
			t.Errorf("Get under the retired ID = %v, %v", ok, err)
		}
		for name, err := range map[string]error{
			"Set":     s.Set(UserSession{UserID: "mallory"}),
			"Update":  s.Update(func(u *UserSession) error { u.Visits++; return nil }),
			"Renew":   s.Renew(UserSession{UserID: "mallory"}),
			"RenewID": s.RenewID(),
		} {
			if !errors.Is(err, session.ErrGone) || !errors.Is(err, backend.ErrNotFound) {
				t.Errorf("%s under the retired ID: %v, want ErrGone and backend.ErrNotFound", name, err)
			}
		}
	})
	if v := res.Header.Values("Set-Cookie"); len(v) != 0 {
		t.Errorf("a request with the retired ID sent Set-Cookie %q", v)
	}
	if h.store.Count(backendtest.OpWrite) != writes {
		t.Error("a request with the retired ID wrote to the store")
	}
	if u, ok := h.get("session=" + renewed.Value); !ok || u.UserID != "ada" {
		t.Errorf("renewed session = %+v, %v", u, ok)
	}
	// The store still says "not found" for code that only knows that.
	if _, err := h.mem.Load(t.Context(), token.Key(renewed.Value+"x")); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Load of an unknown key: %v", err)
	}
}

// TestDefaultErrorHandlerStatuses pins the default answers to commit
// failures: 409 for ErrGone, 503 for an outage, 500 for the rest.
func TestDefaultErrorHandlerStatuses(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("x: %w", backend.ErrUnavailable), http.StatusServiceUnavailable},
		{fmt.Errorf("x: %w", backend.ErrNotFound), http.StatusConflict},
		{errors.New("disk on fire"), http.StatusInternalServerError},
	} {
		h := newHarness(t, session.Config{})
		cookie := h.login(UserSession{UserID: "ada"})
		h.store.Always(backendtest.OpUpdate, backendtest.Fault{Err: tc.err})
		res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			_ = s.Update(func(u *UserSession) error { u.Visits++; return nil })
		})
		if res.StatusCode != tc.want {
			t.Errorf("commit failing with %v answered %d, want %d", tc.err, res.StatusCode, tc.want)
		}
	}
}

// plant stores data under a fresh ID and returns its Cookie header value.
func (h *harness) plant(data []byte) string {
	h.t.Helper()
	tok, _ := token.New()
	if _, err := h.mem.Create(context.Background(), token.Key(tok), data, time.Hour); err != nil {
		h.t.Fatal(err)
	}
	return "session=" + tok
}

// stored returns the raw record under a cookie's ID.
func (h *harness) stored(cookie string) []byte {
	h.t.Helper()
	rec, err := h.mem.Load(context.Background(), token.Key(strings.TrimPrefix(cookie, "session=")))
	if err != nil {
		h.t.Fatalf("load: %v", err)
	}
	return rec.Data
}

// TestRecordsThisBuildCannotReadAreLeftAlone is a rolling deploy or a
// rollback: a newer release wrote a record in a format this build does not
// know, or with a codec it lacks. The record is not garbage: it is never
// overwritten, deleted or read as empty, its cookie is never cleared, and
// the request gets ErrUnreadable, which guards and the default error
// handler answer with 503.
func TestRecordsThisBuildCannotReadAreLeftAlone(t *testing.T) {
	h := newHarness(t, session.Config{})
	now := h.clock.Now()
	good, err := envelope.Append(nil, envelope.Envelope{Codec: "msgpack", Created: now, Deadline: now.Add(time.Hour), Payload: []byte{0x80}})
	if err != nil {
		t.Fatal(err)
	}
	newerFormat := append([]byte{good[0], 3}, good[2:]...)
	// good ends with an empty extension area (0) and the payload; put one
	// unknown critical extension (tag 0x90, empty) in the area instead.
	criticalExt := slices.Concat(good[:len(good)-2], []byte{2, 0x90, 0, 0x80})
	unknownCodec, err := envelope.Append(nil, envelope.Envelope{Codec: "cbor", Created: now, Deadline: now.Add(time.Hour), Payload: []byte{0xa0}})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"newer format":      newerFormat,
		"critical ext":      criticalExt,
		"codec not in list": unknownCodec,
	} {
		t.Run(name, func(t *testing.T) {
			cookie := h.plant(data)
			writes := h.store.Count(backendtest.OpWrite)
			res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
				_, ok, err := s.Get()
				if ok || !errors.Is(err, session.ErrUnreadable) || !errors.Is(err, session.ErrUnavailable) {
					t.Errorf("Get = ok %v, err %v; want ErrUnreadable and ErrUnavailable", ok, err)
				}
				if err := s.Set(UserSession{UserID: "x"}); !errors.Is(err, session.ErrUnreadable) {
					t.Errorf("Set: %v", err)
				}
				if err := s.Update(func(u *UserSession) error { u.Visits++; return nil }); !errors.Is(err, session.ErrUnreadable) {
					t.Errorf("Update: %v", err)
				}
			})
			if v := res.Header.Values("Set-Cookie"); len(v) != 0 {
				t.Errorf("Set-Cookie %q on an unreadable record", v)
			}
			if h.store.Count(backendtest.OpWrite) != writes {
				t.Error("the store was written")
			}
			if got := h.stored(cookie); string(got) != string(data) {
				t.Errorf("the record changed:\n got %x\nwant %x", got, data)
			}
			if !strings.Contains(h.logs.String(), "leaving it alone") {
				t.Error("not logged")
			}
		})
	}
}

// TestCodecDeployOrder walks the documented deploy order for a custom
// codec across two instances: add it to Codecs everywhere first, switch
// the write codec after. An instance that lacks it answers 503 and leaves
// the session alone; once it has it, the session reads and keeps its data.
func TestCodecDeployOrder(t *testing.T) {
	h := newHarness(t, session.Config{})
	custom := renamed{codec.JSON, "json-v2"}
	newBuild := h.manager(session.Config{Codec: custom})
	oldBuild := h.mgr // not upgraded yet: no "json-v2"
	res := serve(newBuild, http.MethodPost, "", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Set(UserSession{UserID: "ada", Visits: 7})
	})
	cookie := "session=" + sessionCookie(t, res, "session").Value
	res = serve(oldBuild, http.MethodPost, cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if _, _, err := s.Get(); !errors.Is(err, session.ErrUnreadable) {
			t.Errorf("old build: Get err %v", err)
		}
	})
	if len(res.Header.Values("Set-Cookie")) != 0 {
		t.Error("old build touched the cookie")
	}
	upgraded := h.manager(session.Config{Codecs: []codec.Codec{custom}})
	serve(upgraded, http.MethodPost, cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.Update(func(u *UserSession) error { u.Visits++; return nil }); err != nil {
			t.Errorf("upgraded build: %v", err)
		}
	})
	serve(newBuild, http.MethodGet, cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if u, ok, err := s.Get(); !ok || err != nil || u.Visits != 8 {
			t.Errorf("new build reads %+v, %v, %v; want 8 visits", u, ok, err)
		}
	})
}

// renamed is a codec under another name. It holds a func, so it is not
// comparable: New must never compare codecs.
type renamed struct {
	codec.Codec
	name string
}

func (r renamed) Name() string { return r.name }

// TestUnknownExtensionsSurviveARewrite is the other half of a rolling
// deploy: a newer release stored a per-session field this build does not
// know. This build reads the session and, when it changes it, keeps the
// field.
func TestUnknownExtensionsSurviveARewrite(t *testing.T) {
	h := newHarness(t, session.Config{})
	now := h.clock.Now()
	payload, _ := codec.MsgPack.Marshal(&UserSession{UserID: "ada"})
	newer := envelope.Envelope{Codec: "msgpack", Created: now, Deadline: now.Add(time.Hour),
		Ext: []byte{0x02, 3, 'b', 'o', 'b'}, Payload: payload}
	data, err := envelope.Append(nil, newer)
	if err != nil {
		t.Fatal(err)
	}
	cookie := h.plant(data)
	h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.Update(func(u *UserSession) error { u.Visits = 5; return nil }); err != nil {
			t.Fatal(err)
		}
	})
	e, err := envelope.Parse(h.stored(cookie))
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Ext) != string(newer.Ext) {
		t.Errorf("the unknown extension was lost: %x", e.Ext)
	}
	if u, _ := h.get(cookie); u.Visits != 5 || u.UserID != "ada" {
		t.Errorf("data %+v", u)
	}
}

// TestStoreCorruptValueIsNoSession: a value the store did not write (a
// Redis key of the wrong type, say) is logged and read as no session, so
// a fresh login works, instead of a 503 for that visitor forever.
func TestStoreCorruptValueIsNoSession(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	// Every Load reports a value the store did not write.
	h.store.Always(backendtest.OpLoad, backendtest.Fault{Err: fmt.Errorf("redisstore: load: WRONGTYPE: %w", backend.ErrCorrupt)})
	res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if _, ok, err := s.Get(); ok || err != nil {
			t.Errorf("Get = %v, %v", ok, err)
		}
		if err := s.Renew(UserSession{UserID: "ada"}); err != nil {
			t.Errorf("login: %v", err)
		}
	})
	if c := sessionCookie(t, res, "session"); res.StatusCode != http.StatusOK || c == nil || "session="+c.Value == cookie {
		t.Errorf("login over a corrupt value: %d, %v", res.StatusCode, c)
	}
	if !strings.Contains(h.logs.String(), "unreadable; treating the session as empty") {
		t.Error("not logged")
	}
}

// TestOversizeRecordIsCorrupt: decoders never see more than MaxRecordSize.
func TestOversizeRecordIsCorrupt(t *testing.T) {
	h := newHarness(t, session.Config{MaxRecordSize: 4096})
	now := h.clock.Now()
	payload, _ := codec.MsgPack.Marshal(&UserSession{UserID: strings.Repeat("a", 5000)})
	data, _ := envelope.Append(nil, envelope.Envelope{Codec: "msgpack", Created: now, Deadline: now.Add(time.Hour), Payload: payload})
	cookie := h.plant(data)
	if _, ok := h.get(cookie); ok {
		t.Error("an oversize record was decoded")
	}
	if !strings.Contains(h.logs.String(), "above MaxRecordSize") {
		t.Errorf("not logged:\n%s", h.logs.String())
	}
}

// TestWritesAboveMaxRecordSizeFail: the error surfaces at the call, wraps
// backend.ErrTooLarge, and the session is left as it was.
func TestWritesAboveMaxRecordSizeFail(t *testing.T) {
	h := newHarness(t, session.Config{MaxRecordSize: 1024})
	cookie := h.login(UserSession{UserID: "ada", Cart: []string{"tea"}})
	big := strings.Repeat("x", 2000)
	res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		err := s.Update(func(u *UserSession) error { u.Cart = append(u.Cart, big); return nil })
		if !errors.Is(err, backend.ErrTooLarge) || !strings.Contains(err.Error(), "MaxRecordSize") {
			t.Errorf("Update: %v", err)
		}
		if u, _, _ := s.Get(); len(u.Cart) != 1 {
			t.Errorf("the failed Update left %d cart items", len(u.Cart))
		}
		if err := s.Set(UserSession{UserID: big}); !errors.Is(err, backend.ErrTooLarge) {
			t.Errorf("Set: %v", err)
		}
	})
	if res.StatusCode != http.StatusOK {
		t.Errorf("status %d", res.StatusCode)
	}
	if u, _ := h.get(cookie); u.UserID != "ada" || len(u.Cart) != 1 {
		t.Errorf("stored %+v", u)
	}
}

// recoverer is a recover middleware, as many apps put inside the session
// middleware: it turns a panic into a 500 and returns normally, so the
// session middleware goes on to commit.
func recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if recover() != nil {
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// TestPanickingUpdateChangesNothing: a panic inside an Update function
// undoes that function's half-done change, keeps the earlier Update, and
// goes on up to the recover middleware.
func TestPanickingUpdateChangesNothing(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	handler := h.mgr.Middleware(recoverer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := h.mgr.From(r)
		_ = s.Update(func(u *UserSession) error { u.Visits++; return nil })
		_ = s.Update(func(u *UserSession) error {
			u.Cart = append(u.Cart, "half-done")
			panic("bug in the update")
		})
	})))
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Header.Set("Cookie", cookie)
	handler.ServeHTTP(httptest.NewRecorder(), req)
	u, _ := h.get(cookie)
	if u.Visits != 1 || len(u.Cart) != 0 {
		t.Errorf("stored %+v; want the first Update only", u)
	}
}

// TestFailedUpdateDoesNotRerunEarlierFunctions: rolling back a failed
// Update restores from a snapshot; earlier functions run again only after
// a real conflict.
func TestFailedUpdateDoesNotRerunEarlierFunctions(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	var calls atomic.Int32
	h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Update(func(u *UserSession) error { calls.Add(1); u.Visits++; return nil })
		err := s.Update(func(u *UserSession) error { u.Visits = 100; return errors.New("refused") })
		if err == nil || err.Error() != "refused" {
			t.Errorf("Update: %v", err)
		}
		if u, _, _ := s.Get(); u.Visits != 1 {
			t.Errorf("after the rollback: %d visits", u.Visits)
		}
	})
	if n := calls.Load(); n != 1 {
		t.Errorf("the first function ran %d times", n)
	}
	if u, _ := h.get(cookie); u.Visits != 1 {
		t.Errorf("stored %d visits", u.Visits)
	}
}

// TestFailedCommitKeepsOuterHeaders: headers set before the session
// middleware (security headers, CORS) stay on the error response; those
// the handler set go.
func TestFailedCommitKeepsOuterHeaders(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	h.store.Always(backendtest.OpWrite, backendtest.Fault{Err: fmt.Errorf("down: %w", backend.ErrUnavailable)})
	outer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Frame-Options", "DENY")
			w.Header().Set("Access-Control-Allow-Origin", "https://app.example")
			w.Header().Add("Vary", "Origin")
			next.ServeHTTP(w, r)
		})
	}
	handler := outer(h.mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = h.mgr.From(r).Update(func(u *UserSession) error { u.Visits++; return nil })
		w.Header().Set("X-Handler", "secret")
		w.Header().Set("X-Frame-Options", "SAMEORIGIN")
		w.Header().Add("Vary", "Accept")
		_, _ = w.Write([]byte("handler body"))
	})))
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Header.Set("Cookie", cookie)
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	res := rec.Result()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d", res.StatusCode)
	}
	if got := res.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options %q, want the outer DENY", got)
	}
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("CORS header %q lost", got)
	}
	if res.Header.Get("X-Handler") != "" || strings.Contains(strings.Join(res.Header.Values("Vary"), ","), "Accept") {
		t.Errorf("handler headers leaked: %v", res.Header)
	}
	if strings.Contains(rec.Body.String(), "handler body") {
		t.Error("handler body leaked")
	}
}

// TestMiddlewareTwiceActsOnce: one session and at most one Set-Cookie,
// whichever layer touches it.
func TestMiddlewareTwiceActsOnce(t *testing.T) {
	h := newHarness(t, session.Config{})
	inner := h.mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = h.mgr.From(r).Update(func(u *UserSession) error { u.Cart = append(u.Cart, "tea"); return nil })
	}))
	outer := h.mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = h.mgr.From(r).Update(func(u *UserSession) error { u.UserID = "ada"; return nil })
		inner.ServeHTTP(w, r)
	}))
	rec := httptest.NewRecorder()
	outer.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	res := rec.Result()
	if n := len(res.Header.Values("Set-Cookie")); n != 1 {
		t.Fatalf("%d Set-Cookie headers: %v", n, res.Header.Values("Set-Cookie"))
	}
	u, ok := h.get("session=" + sessionCookie(t, res, "session").Value)
	if !ok || u.UserID != "ada" || len(u.Cart) != 1 {
		t.Errorf("session %+v, %v; want both halves", u, ok)
	}
}

// TestSlowCommitDoesNotDelayOtherVisitors: commits of different sessions
// never wait for each other, even when their keys would have shared one
// of a fixed number of lock stripes.
func TestSlowCommitDoesNotDelayOtherVisitors(t *testing.T) {
	h := newHarness(t, session.Config{})
	// Find two sessions whose keys fall in the same one of 64 FNV-1a
	// stripes, as the commit locks were laid out before.
	stripe := func(key string) uint32 {
		var x uint32 = 2166136261
		for i := 0; i < len(key); i++ {
			x = (x ^ uint32(key[i])) * 16777619
		}
		return x % 64
	}
	seen := map[uint32]string{}
	var a, b string
	for a == "" {
		c := h.login(UserSession{UserID: "v"})
		k := token.Key(strings.TrimPrefix(c, "session="))
		if other, ok := seen[stripe(k)]; ok {
			a, b = other, c
		}
		seen[stripe(k)] = c
	}
	// The first Update, a's, stalls until released.
	stalled, release := make(chan struct{}), make(chan struct{})
	h.store.Next(backendtest.OpUpdate, backendtest.Fault{Before: func(context.Context) {
		close(stalled)
		<-release
	}})
	inc := func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		_ = s.Update(func(u *UserSession) error { u.Visits++; return nil })
	}
	go h.do(a, inc)
	<-stalled
	done := make(chan *http.Response)
	go func() { done <- h.do(b, inc) }()
	select {
	case res := <-done:
		if res.StatusCode != http.StatusOK {
			t.Errorf("status %d", res.StatusCode)
		}
	case <-time.After(5 * time.Second):
		t.Error("another visitor's commit waited behind a stalled one")
	}
	close(release)
}

// TestSessionMethodInsideUpdateFails: a call that would deadlock fails.
func TestSessionMethodInsideUpdateFails(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			err := s.Update(func(u *UserSession) error {
				if _, _, err := s.Get(); !errors.Is(err, session.ErrInUpdate) {
					t.Errorf("Get inside Update: %v", err)
				}
				if err := s.Set(UserSession{}); !errors.Is(err, session.ErrInUpdate) {
					t.Errorf("Set inside Update: %v", err)
				}
				if err := s.Destroy(); !errors.Is(err, session.ErrInUpdate) {
					t.Errorf("Destroy inside Update: %v", err)
				}
				u.Visits++
				return nil
			})
			if err != nil {
				t.Errorf("Update: %v", err)
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a session method called inside Update deadlocked")
	}
	if u, _ := h.get(cookie); u.Visits != 1 {
		t.Errorf("visits %d", u.Visits)
	}
}

func TestNewRejectsTypedNilStore(t *testing.T) {
	var s *memstore.Store
	if _, err := session.New[UserSession](s, session.Config{}); err == nil {
		t.Error("New accepted a typed-nil store")
	}
}

func TestErrUnavailableIsTheBackendSentinel(t *testing.T) {
	if session.ErrUnavailable != backend.ErrUnavailable {
		t.Error("session.ErrUnavailable is not backend.ErrUnavailable")
	}
}

// TestCodecsList: a plain list, never modified, never compared, with
// clear errors for what cannot work.
func TestCodecsList(t *testing.T) {
	store := memstore.New()
	defer store.Close()
	custom := renamed{codec.JSON, "json-v2"}
	list := []codec.Codec{custom}
	// The same uncomparable codec in both fields.
	if _, err := session.New[UserSession](store, session.Config{Codec: custom, Codecs: list}); err != nil {
		t.Errorf("New: %v", err)
	}
	if len(list) != 1 || list[0].Name() != "json-v2" {
		t.Errorf("New changed the caller's list: %v", list)
	}
	for name, cfg := range map[string]session.Config{
		"duplicate names": {Codecs: []codec.Codec{custom, renamed{codec.Gob, "json-v2"}}},
		"nil codec":       {Codecs: []codec.Codec{nil}},
		"bad name":        {Codecs: []codec.Codec{renamed{codec.JSON, "Bad Name"}}},
		"bad write name":  {Codec: renamed{codec.JSON, ""}},
	} {
		if _, err := session.New[UserSession](store, cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// TestRenewLogsInWithOneCall: new data, new ID, the old ID retired.
func TestRenewLogsInWithOneCall(t *testing.T) {
	h := newHarness(t, session.Config{})
	anon := h.login(UserSession{Cart: []string{"tea"}})
	res := h.do(anon, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.Renew(UserSession{UserID: "ada", Roles: []string{"admin"}}); err != nil {
			t.Errorf("Renew: %v", err)
		}
	})
	c := sessionCookie(t, res, "session")
	if c == nil || "session="+c.Value == anon {
		t.Fatalf("no new ID: %v", res.Header.Values("Set-Cookie"))
	}
	if u, ok := h.get("session=" + c.Value); !ok || u.UserID != "ada" || len(u.Cart) != 0 {
		t.Errorf("new session %+v, %v", u, ok)
	}
	if _, ok := h.get(anon); ok {
		t.Error("old ID alive")
	}
	// A visitor without a session gets a new one.
	res = h.do("", func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.Renew(UserSession{UserID: "bob"}); err != nil {
			t.Errorf("Renew: %v", err)
		}
	})
	if c := sessionCookie(t, res, "session"); c == nil {
		t.Error("no cookie for a new visitor's Renew")
	}
}

// TestClearSiteCookiesOnLogout: a logout that also asks the browser to
// clear the site's cookies sends both the expired session cookie and
// Clear-Site-Data, and the old cookie opens nothing afterwards.
func TestClearSiteCookiesOnLogout(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ann"})
	res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
		session.ClearSiteCookies(w)
	})
	if got := res.Header.Get("Clear-Site-Data"); got != `"cookies"` {
		t.Errorf("Clear-Site-Data: %q", got)
	}
	if c := sessionCookie(t, res, session.DefaultCookieName); c == nil || c.MaxAge >= 0 {
		t.Errorf("session cookie not cleared: %v", c)
	}
	if _, ok := h.get(cookie); ok {
		t.Error("the session survived the logout")
	}
}

// TestDestroyRacingRenewIDLeavesNothingLive logs out while another request
// of the visitor renews the ID: whichever commits first, once the logout
// answers 200 neither the old nor the new ID opens the session.
func TestDestroyRacingRenewIDLeavesNothingLive(t *testing.T) {
	for _, loadFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("logout loaded the session first: %v", loadFirst), func(t *testing.T) {
			h := newHarness(t, session.Config{})
			cookie := h.login(UserSession{UserID: "ada"})
			var renewed string
			res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
				if loadFirst {
					if _, ok, err := s.Get(); !ok || err != nil {
						t.Fatalf("Get: %v %v", ok, err)
					}
				}
				// The renewal commits while the logout is still running.
				res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
					if err := s.RenewID(); err != nil {
						t.Error(err)
					}
				})
				if c := sessionCookie(t, res, "session"); c != nil {
					renewed = "session=" + c.Value
				}
				if err := s.Destroy(); err != nil {
					t.Error(err)
				}
			})
			if res.StatusCode != http.StatusOK || renewed == "" {
				t.Fatalf("logout %d, renewed cookie %q", res.StatusCode, renewed)
			}
			for name, c := range map[string]string{"old": cookie, "renewed": renewed} {
				if u, ok := h.get(c); ok {
					t.Errorf("after the logout the %s ID still opens %+v", name, u)
				}
			}
		})
	}
}

// TestDestroyWithARetiredIDEndsTheRenewedSession logs out from a tab that
// still holds the ID a renewal retired: the logout ends the session the ID
// moved to, instead of clearing the browser's cookie and leaving it live.
func TestDestroyWithARetiredIDEndsTheRenewedSession(t *testing.T) {
	h := newHarness(t, session.Config{})
	old := h.login(UserSession{UserID: "ada"})
	res := h.do(old, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.RenewID(); err != nil {
			t.Error(err)
		}
	})
	renewed := "session=" + sessionCookie(t, res, "session").Value
	res = h.do(old, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if err := s.Destroy(); err != nil {
			t.Error(err)
		}
	})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if u, ok := h.get(renewed); ok {
		t.Errorf("the renewed session survived the logout: %+v", u)
	}
}

// TestRenewIDAfterAConcurrentLogoutFails renews the ID in a request that
// loaded the session before another request logged out: the renewal must
// not bring the session back under a new ID.
func TestRenewIDAfterAConcurrentLogoutFails(t *testing.T) {
	h := newHarness(t, session.Config{})
	cookie := h.login(UserSession{UserID: "ada"})
	res := h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
		if _, ok, err := s.Get(); !ok || err != nil {
			t.Fatalf("Get: %v %v", ok, err)
		}
		h.do(cookie, func(w http.ResponseWriter, r *http.Request, s *session.Session[UserSession]) {
			if err := s.Destroy(); err != nil {
				t.Error(err)
			}
		})
		if err := s.RenewID(); err != nil {
			t.Error(err)
		}
	})
	if c := sessionCookie(t, res, "session"); c != nil && c.Value != "" {
		if u, ok := h.get("session=" + c.Value); ok {
			t.Errorf("the renewal after the logout revived the session: %+v", u)
		}
	}
	if res.StatusCode == http.StatusOK {
		t.Errorf("the renewal after the logout answered 200")
	}
}
