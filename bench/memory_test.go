package bench

import (
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	scsmem "github.com/alexedwards/scs/v2/memstore"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/codec"
)

// storedUser returns the data of the i-th stored session: a distinct user
// ID, two roles and a cart of five items, about 200 bytes in msgpack
// (TestStoredUserSize).
func storedUser(i int) UserSession {
	id := strconv.Itoa(1000000 + i)
	return UserSession{
		UserID: "user-" + id,
		Roles:  []string{"customer", "beta"},
		Cart: []string{
			"sku-" + id + "-a: hiking boots 42",
			"sku-" + id + "-b: rain jacket, M",
			"sku-" + id + "-c: wool socks x3",
			"sku-" + id + "-d: tent pegs",
			"sku-" + id + "-e: water bottle",
		},
		Visits: i % 100,
	}
}

// storedLibs are the libraries BenchmarkStoredSessions compares, each with
// its in-process store. gorilla/sessions has none (its server-side store,
// FilesystemStore, keeps sessions in files), so it is not among them.
var storedLibs = []struct {
	name string
	// setup returns a login handler, which stores the session of the user
	// its request names, and a function that reports how many sessions
	// the store holds. Both keep the store reachable.
	setup func(b *testing.B) (login http.Handler, stored func() int)
}{
	{"scs", scsLogin},
	{"typed-msgpack", func(b *testing.B) (http.Handler, func() int) { return typedLogin(b, codec.MsgPack) }},
	{"typed-json", func(b *testing.B) (http.Handler, func() int) { return typedLogin(b, codec.JSON) }},
}

// BenchmarkStoredSessions measures the memory a stored session holds in
// each library's in-process store. One operation is one login request
// without a cookie through the library's middleware, which stores a new
// session of about 200 B (storedUser). B/session is the growth of the live
// heap (runtime.MemStats.HeapAlloc after runtime.GC) from before the first
// login to after the last, with the store still reachable, divided by the
// number of sessions stored: store, index and encoded data together. It
// depends on the number of sessions (maps grow in steps), so the report
// runs it with -benchtime 100000x: 100,000 sessions.
func BenchmarkStoredSessions(b *testing.B) {
	for _, lib := range storedLibs {
		b.Run("lib="+lib.name, func(b *testing.B) {
			login, stored := lib.setup(b)
			tmpl, _ := http.NewRequest(http.MethodPost, "http://example.com/login", nil)
			w := &writer{h: make(http.Header)}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				clear(w.h)
				w.code = 0
				req := new(http.Request)
				*req = *tmpl
				req.Form = map[string][]string{"user": {strconv.Itoa(i)}}
				login.ServeHTTP(w, req)
				if w.code != http.StatusOK || w.h.Get("Set-Cookie") == "" {
					b.Fatalf("login %d: status %d, Set-Cookie %q", i, w.code, w.h.Get("Set-Cookie"))
				}
				i++
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			if n := stored(); n != b.N { // also keeps the store reachable until here
				b.Fatalf("the store holds %d sessions after %d logins", n, b.N)
			}
			b.ReportMetric((float64(after.HeapAlloc)-float64(before.HeapAlloc))/float64(b.N), "B/session")
		})
	}
}

// loginUser returns the stored session data of the user a login request
// names.
func loginUser(b *testing.B, r *http.Request) UserSession {
	i, err := strconv.Atoi(r.Form.Get("user"))
	if err != nil {
		b.Fatal(err)
	}
	return storedUser(i)
}

// typedLogin: this library with its memory store and codec c; the login
// is Renew (new data and a fresh ID).
func typedLogin(b *testing.B, c codec.Codec) (http.Handler, func() int) {
	store := memstore.New()
	b.Cleanup(func() { _ = store.Close() })
	mgr, err := session.New[UserSession](store, session.Config{Codec: c, IdleTimeout: idle, Lifetime: lifetime,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	h := mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Renew(loginUser(b, r)); err != nil {
			b.Fatal(err)
		}
		w.WriteHeader(http.StatusOK)
	}))
	return h, func() int {
		runtime.KeepAlive(mgr)
		return store.Len()
	}
}

// scsLogin: scs with its memory store and an idle timeout; the login is
// RenewToken and a Put of every field, as scs's documentation shows.
func scsLogin(b *testing.B) (http.Handler, func() int) {
	store := scsmem.NewWithCleanupInterval(time.Hour)
	b.Cleanup(store.StopCleanup)
	sm := scs.New()
	sm.Store = store
	sm.IdleTimeout = idle
	sm.Lifetime = lifetime
	h := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if err := sm.RenewToken(ctx); err != nil {
			b.Fatal(err)
		}
		scsPut(ctx, sm, loginUser(b, r))
		w.WriteHeader(http.StatusOK)
	}))
	return h, func() int {
		all, err := store.All()
		if err != nil {
			b.Fatal(err)
		}
		runtime.KeepAlive(sm)
		return len(all)
	}
}

// TestStoredUserSize checks that a stored session holds about 200 bytes
// of data, as BenchmarkStoredSessions says.
func TestStoredUserSize(t *testing.T) {
	for _, i := range []int{0, 99999} {
		u := storedUser(i)
		enc, err := codec.MsgPack.Marshal(&u)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(enc); n < 180 || n > 220 {
			t.Errorf("storedUser(%d) is %d bytes in msgpack, want about 200", i, n)
		}
	}
	if a, b := storedUser(1), storedUser(2); a.UserID == b.UserID || a.Cart[0] == b.Cart[0] {
		t.Error("two users' sessions are equal")
	}
}
