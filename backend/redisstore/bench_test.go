package redisstore_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/redisstore"
)

// The benchmarks run on a real Redis (SESSION_REDIS_URL, default
// redis://127.0.0.1:6379, database 14, flushed) and report round trips per
// operation next to ns/op and allocs/op:
//
//	go test -run '^$' -bench . -benchmem ./backend/redisstore/

// counter is a go-redis hook that counts round trips without allocating.
type counter struct{ n atomic.Int64 }

func (h *counter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// benchRedis returns a counted client of the flushed test database.
func benchRedis(b *testing.B) (*redis.Client, *counter) {
	b.Helper()
	rt := &counter{}
	c := realRedis(b, rt)
	flush := func() {
		if err := c.FlushDB(context.Background()).Err(); err != nil {
			b.Fatalf("FLUSHDB: %v", err)
		}
	}
	flush()
	b.Cleanup(flush)
	return c, rt
}

// benchWriter is a minimal reusable ResponseWriter, so the benchmarks
// measure the middleware and the store rather than httptest.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkMiddleware serves requests through the session middleware on
// a real Redis: a handler that never touches the session, one that reads
// it, one that changes it, and one that creates a new session.
func BenchmarkMiddleware(b *testing.B) {
	c, rt := benchRedis(b)
	mgr, err := session.New[visit](redisstore.New(c), session.Config{})
	if err != nil {
		b.Fatal(err)
	}
	routes := map[string]http.HandlerFunc{
		"unused": func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("hello"))
		},
		"read": func(w http.ResponseWriter, r *http.Request) {
			if _, ok, err := mgr.From(r).Get(); err != nil || !ok {
				http.Error(w, "no session", http.StatusInternalServerError)
			}
		},
		"write": func(w http.ResponseWriter, r *http.Request) {
			if err := mgr.From(r).Update(incr); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		},
		"new": func(w http.ResponseWriter, r *http.Request) {
			if err := mgr.From(r).Set(visit{Name: "visitor", N: 1}); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		},
	}
	serve := func(route, cookie string) *benchWriter {
		req, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		w := &benchWriter{h: make(http.Header)}
		mgr.Middleware(routes[route]).ServeHTTP(w, req)
		return w
	}
	// A session to use, and warm scripts.
	w := serve("new", "")
	cookie, _, _ := strings.Cut(w.h.Get("Set-Cookie"), ";")
	if cookie == "" {
		b.Fatal("no cookie")
	}
	serve("read", cookie)
	serve("write", cookie)

	for _, bc := range []struct {
		name, route, cookie string
	}{
		{"unused", "unused", cookie},
		{"read", "read", cookie},
		{"write", "write", cookie},
		{"new", "new", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			handler := mgr.Middleware(routes[bc.route])
			req, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
			if bc.cookie != "" {
				req.Header.Set("Cookie", bc.cookie)
			}
			w := &benchWriter{h: make(http.Header)}
			rt.n.Store(0)
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.code = 0
				handler.ServeHTTP(w, req)
			}
			b.ReportMetric(float64(rt.n.Load())/float64(b.N), "roundtrips/op")
			if w.code >= 400 {
				b.Fatalf("status %d", w.code)
			}
		})
	}
}

// BenchmarkStore measures the bare store methods on a real Redis, with
// 512-byte records (a typical session envelope), through a plain client
// (the store bounds each call in a goroutine of its own) and through one
// with ContextTimeoutEnabled (the client bounds the call itself).
func BenchmarkStore(b *testing.B) {
	plain, rt := benchRedis(b)
	opt := *plain.Options()
	opt.ContextTimeoutEnabled = true
	withDeadlines := redis.NewClient(&opt)
	b.Cleanup(func() { _ = withDeadlines.Close() })
	withDeadlines.AddHook(rt)
	for _, client := range []struct {
		name string
		c    *redis.Client
	}{{"plain", plain}, {"ContextTimeoutEnabled", withDeadlines}} {
		b.Run(client.name, func(b *testing.B) { benchStore(b, client.c, rt) })
	}
}

func benchStore(b *testing.B, c *redis.Client, rt *counter) {
	s := redisstore.New(c)
	ctx := context.Background()
	data := make([]byte, 512)
	key := "bench-key-0123456789012345678901234567890-" + b.Name()
	v, err := s.Create(ctx, key, data, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Load(ctx, key); err != nil { // warm the script
		b.Fatal(err)
	}
	if v, err = s.Update(ctx, key, v, data, time.Hour); err != nil {
		b.Fatal(err)
	}

	run := func(name string, op func() error) {
		b.Run(name, func(b *testing.B) {
			rt.n.Store(0)
			b.ReportAllocs()
			for b.Loop() {
				if err := op(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rt.n.Load())/float64(b.N), "roundtrips/op")
		})
	}
	run("Load", func() error { _, err := s.Load(ctx, key); return err })
	run("Update", func() (err error) { v, err = s.Update(ctx, key, v, data, time.Hour); return err })
	run("Touch", func() error { return s.Touch(ctx, key, time.Hour) })
	i := 0
	run("Create", func() error {
		i++
		_, err := s.Create(ctx, key+"-"+strconv.Itoa(i), data, time.Minute)
		return err
	})
	run("Delete", func() error { return s.Delete(ctx, key+"-gone") })
}
