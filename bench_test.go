package session_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/codec"
)

// benchWriter is a minimal reusable ResponseWriter, so the benchmarks
// measure the middleware rather than httptest.ResponseRecorder.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }

func (w *benchWriter) reset() {
	clear(w.h)
	w.code = 0
}

var benchUser = UserSession{
	UserID: "user-4711",
	Roles:  []string{"customer", "beta"},
	Cart:   []string{"sku-1", "sku-2", "sku-3"},
	Visits: 12,
}

// benchRequest runs b.N requests through handler, with the given cookie.
func benchRequest(b *testing.B, handler http.Handler, cookie string) {
	b.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	w := &benchWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		handler.ServeHTTP(w, req)
	}
	if w.code >= 400 {
		b.Fatalf("status %d", w.code)
	}
}

func benchManager(b *testing.B, c codec.Codec) (*session.Manager[UserSession], string) {
	b.Helper()
	store := memstore.New()
	b.Cleanup(func() { store.Close() })
	mgr, err := session.New[UserSession](store, session.Config{Codec: c})
	if err != nil {
		b.Fatal(err)
	}
	w := &benchWriter{h: make(http.Header)}
	req, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
	mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := mgr.From(r).Set(benchUser); err != nil {
			b.Fatal(err)
		}
	})).ServeHTTP(w, req)
	set := w.h.Get("Set-Cookie")
	cookie, _, _ := strings.Cut(set, ";")
	if cookie == "" {
		b.Fatal("no cookie")
	}
	return mgr, cookie
}

// BenchmarkBareHandler is the baseline: the read-only handler's own work
// with no session middleware.
func BenchmarkBareHandler(b *testing.B) {
	benchRequest(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}), "")
}

func benchCodecs(b *testing.B, run func(b *testing.B, c codec.Codec)) {
	for _, c := range []codec.Codec{codec.MsgPack, codec.JSON, codec.Gob} {
		b.Run(c.Name(), func(b *testing.B) { run(b, c) })
	}
}

// BenchmarkMiddlewareReadOnly: an existing session is read, not changed.
func BenchmarkMiddlewareReadOnly(b *testing.B) {
	benchCodecs(b, func(b *testing.B, c codec.Codec) {
		mgr, cookie := benchManager(b, c)
		benchRequest(b, mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, ok, err := mgr.From(r).Get()
			if err != nil || !ok || u.UserID == "" {
				b.Fatalf("Get = %v, %v", ok, err)
			}
			w.WriteHeader(http.StatusOK)
		})), cookie)
	})
}

// BenchmarkMiddlewareWrite: an existing session is changed with Update.
func BenchmarkMiddlewareWrite(b *testing.B) {
	benchCodecs(b, func(b *testing.B, c codec.Codec) {
		mgr, cookie := benchManager(b, c)
		benchRequest(b, mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := mgr.From(r).Update(func(u *UserSession) error { u.Visits++; return nil }); err != nil {
				b.Fatal(err)
			}
			w.WriteHeader(http.StatusOK)
		})), cookie)
	})
}

// BenchmarkMiddlewareUnused: the visitor has a session the handler never
// touches.
func BenchmarkMiddlewareUnused(b *testing.B) {
	benchCodecs(b, func(b *testing.B, c codec.Codec) {
		mgr, cookie := benchManager(b, c)
		benchRequest(b, mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
		})), cookie)
	})
}

// BenchmarkMiddlewareNewSession: a visitor without a session gets one.
func BenchmarkMiddlewareNewSession(b *testing.B) {
	benchCodecs(b, func(b *testing.B, c codec.Codec) {
		mgr, _ := benchManager(b, c)
		benchRequest(b, mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := mgr.From(r).Set(benchUser); err != nil {
				b.Fatal(err)
			}
			w.WriteHeader(http.StatusOK)
		})), "")
	})
}
