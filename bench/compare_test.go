package bench

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	scsmem "github.com/alexedwards/scs/v2/memstore"
	"github.com/gorilla/sessions"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/codec"
	"github.com/typedsession/session/codec/goccyjson"
)

// UserSession is the data every library keeps: an ID, two roles, three
// cart items and a counter.
type UserSession struct {
	UserID string   `json:"user_id"`
	Roles  []string `json:"roles"`
	Cart   []string `json:"cart"`
	Visits int      `json:"visits"`
}

var user = UserSession{
	UserID: "user-4711",
	Roles:  []string{"customer", "beta"},
	Cart:   []string{"sku-1", "sku-2", "sku-3"},
	Visits: 12,
}

const (
	idle     = 30 * time.Minute
	lifetime = 12 * time.Hour
)

// writer is a minimal reusable ResponseWriter, so that the figures measure
// the session libraries rather than httptest.ResponseRecorder.
type writer struct {
	h    http.Header
	code int
}

func (w *writer) Header() http.Header         { return w.h }
func (w *writer) WriteHeader(code int)        { w.code = code }
func (w *writer) Write(p []byte) (int, error) { return len(p), nil }

// cookieOf runs one request through h and returns the "name=value" of the
// cookie it sets.
func cookieOf(tb testing.TB, h http.Handler) string {
	tb.Helper()
	w := &writer{h: make(http.Header)}
	req, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
	h.ServeHTTP(w, req)
	cookie, _, _ := strings.Cut(w.h.Get("Set-Cookie"), ";")
	if cookie == "" {
		tb.Fatalf("no cookie set (status %d)", w.code)
	}
	return cookie
}

// run serves b.N requests carrying cookie through h. Each request is a
// fresh shallow copy of one template (one allocation, in every benchmark
// alike), because gorilla/sessions caches its decoded session in the
// *http.Request it is given and would otherwise decode only once.
func run(b *testing.B, h http.Handler, cookie string) {
	b.Helper()
	tmpl, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
	if cookie != "" {
		tmpl.Header.Set("Cookie", cookie)
	}
	w := &writer{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.code = 0
		req := new(http.Request)
		*req = *tmpl
		h.ServeHTTP(w, req)
	}
	if w.code >= 400 {
		b.Fatalf("status %d", w.code)
	}
}

// The request kinds every library is measured on.
type kind int

const (
	readOnly   kind = iota // read the session, change nothing
	write                  // increment the counter
	unused                 // the visitor has a session, the handler ignores it
	newSession             // no cookie in: the handler stores a session (a login)
)

var kinds = []struct {
	name string
	kind kind
}{{"ReadOnly", readOnly}, {"Write", write}, {"Unused", unused}, {"New", newSession}}

func BenchmarkBaseline(b *testing.B) {
	run(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}), "")
}

// typedCodecs are the codecs this library is measured with, under the
// names their figures carry (lib=typed-NAME): the built-in msgpack and
// JSON, and JSON on goccy/go-json from the codec/goccyjson module.
var typedCodecs = []struct {
	name  string
	codec codec.Codec
}{{"msgpack", codec.MsgPack}, {"json", codec.JSON}, {"goccyjson", goccyjson.JSON}}

func BenchmarkTypedSession(b *testing.B) {
	for _, c := range typedCodecs {
		for _, k := range kinds {
			b.Run(c.name+"/"+k.name, func(b *testing.B) {
				store := memstore.New()
				defer store.Close()
				h, cookie := typedSession(b, store, c.codec, k.kind, user)
				run(b, h, cookie)
			})
		}
	}
}

// typedSession returns a handler serving requests of kind k through this
// library on store, and the cookie of a session holding data ("" for
// newSession, whose requests carry none).
func typedSession(b *testing.B, store backend.Store, c codec.Codec, k kind, data UserSession) (http.Handler, string) {
	b.Helper()
	// Lifecycle events (a line per new session) are logged to nowhere, as
	// the other libraries log nothing.
	mgr, err := session.New[UserSession](store, session.Config{Codec: c, IdleTimeout: idle, Lifetime: lifetime,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	login := mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Set(data); err != nil {
			b.Fatal(err)
		}
		w.WriteHeader(http.StatusOK)
	}))
	if k == newSession {
		return login, ""
	}
	cookie := cookieOf(b, login)
	return mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := mgr.From(r)
		switch k {
		case readOnly:
			u, ok, err := s.Get()
			if err != nil || !ok || u.UserID == "" || len(u.Cart) != len(data.Cart) {
				b.Fatalf("Get = %v %v", ok, err)
			}
		case write:
			if err := s.Update(func(u *UserSession) error { u.Visits++; return nil }); err != nil {
				b.Fatal(err)
			}
		}
		w.WriteHeader(http.StatusOK)
	})), cookie
}

// BenchmarkSCS measures alexedwards/scs v2 with its memory store and an
// idle timeout, the configuration that matches ours.
func BenchmarkSCS(b *testing.B) {
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			store := scsmem.NewWithCleanupInterval(time.Hour)
			defer store.StopCleanup()
			h, cookie := scsSession(b, store, k.kind, user)
			run(b, h, cookie)
		})
	}
}

// scsSession returns a handler serving requests of kind k through scs on
// store, with an idle timeout, and the cookie of a session holding data
// ("" for newSession, whose requests carry none).
func scsSession(b *testing.B, store scs.Store, k kind, data UserSession) (http.Handler, string) {
	b.Helper()
	sm := scs.New()
	sm.Store = store
	sm.IdleTimeout = idle
	sm.Lifetime = lifetime
	login := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scsPut(r.Context(), sm, data)
		w.WriteHeader(http.StatusOK)
	}))
	if k == newSession {
		return login, ""
	}
	cookie := cookieOf(b, login)
	return sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		switch k {
		case readOnly:
			u := UserSession{
				UserID: sm.GetString(ctx, "user_id"),
				Visits: sm.GetInt(ctx, "visits"),
			}
			u.Roles, _ = sm.Get(ctx, "roles").([]string)
			u.Cart, _ = sm.Get(ctx, "cart").([]string)
			if u.UserID == "" || len(u.Cart) != len(data.Cart) {
				b.Fatalf("scs read %+v", u)
			}
		case write:
			sm.Put(ctx, "visits", sm.GetInt(ctx, "visits")+1)
		}
		w.WriteHeader(http.StatusOK)
	})), cookie
}

// BenchmarkGorilla measures gorilla/sessions with its signed cookie store
// (the whole session in the cookie, so no server-side store at all).
func BenchmarkGorilla(b *testing.B) {
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			store := sessions.NewCookieStore([]byte("0123456789abcdef0123456789abcdef"))
			store.Options.HttpOnly = true
			store.Options.Secure = true
			store.Options.SameSite = http.SameSiteLaxMode
			login := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s, _ := store.Get(r, "session")
				putValues(s.Values, user)
				if err := s.Save(r, w); err != nil {
					b.Fatal(err)
				}
				w.WriteHeader(http.StatusOK)
			})
			if k.kind == newSession {
				run(b, login, "")
				return
			}
			run(b, gorillaHandler(b, store, k.kind), cookieOf(b, login))
		})
	}
}

// gorillaHandler serves requests of kind k, carrying a session cookie,
// through gorilla/sessions' store.
func gorillaHandler(b *testing.B, store sessions.Store, k kind) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k == unused {
			w.WriteHeader(http.StatusOK)
			return
		}
		s, err := store.Get(r, "session")
		if err != nil {
			b.Fatal(err)
		}
		switch k {
		case readOnly:
			if u := valuesUser(s.Values); u.UserID == "" || len(u.Cart) != len(user.Cart) {
				b.Fatalf("gorilla read %+v", u)
			}
		case write:
			v, _ := s.Values["visits"].(int)
			s.Values["visits"] = v + 1
			if err := s.Save(r, w); err != nil {
				b.Fatal(err)
			}
		}
		w.WriteHeader(http.StatusOK)
	})
}

// The untyped libraries keep a UserSession as a value per field, under
// these keys.

// scsPut stores u in the scs session of ctx.
func scsPut(ctx context.Context, sm *scs.SessionManager, u UserSession) {
	sm.Put(ctx, "user_id", u.UserID)
	sm.Put(ctx, "roles", u.Roles)
	sm.Put(ctx, "cart", u.Cart)
	sm.Put(ctx, "visits", u.Visits)
}

// putValues stores u in a gorilla/sessions session's values.
func putValues(values map[any]any, u UserSession) {
	values["user_id"] = u.UserID
	values["roles"] = u.Roles
	values["cart"] = u.Cart
	values["visits"] = u.Visits
}

// valuesUser reads a UserSession from a gorilla/sessions session's values.
func valuesUser(values map[any]any) UserSession {
	var u UserSession
	u.UserID, _ = values["user_id"].(string)
	u.Roles, _ = values["roles"].([]string)
	u.Cart, _ = values["cart"].([]string)
	u.Visits, _ = values["visits"].(int)
	return u
}
