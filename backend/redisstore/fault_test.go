package redisstore_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/redisstore"
	"github.com/typedsession/session/internal/testserver"
)

// TestFaultInjection serves requests through the session middleware over
// a redis-server child process, kills the server in the middle of the run
// and restarts it on the same port:
//
//   - while it is down, every request that needs the session fails with
//     503 (handler errors wrap backend.ErrUnavailable; failed commits go
//     through the default ErrorHandler), requests that do not use the
//     session still succeed, nothing panics, and no response clears the
//     session cookie: the visitor is never reported as logged out;
//   - once it is back, requests succeed again with the same client and
//     manager. The restarted server is empty (nothing is persisted), so a
//     new session is created and used.
func TestFaultInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills redis-server")
	}
	server, _ := testserver.RedisBinaries(t)
	dir := t.TempDir()
	port := testserver.FreePorts(t, 1)[0]
	proc := testserver.StartRedis(t, server, dir, port)

	c := redis.NewClient(&redis.Options{
		Addr:          proc.Addr(),
		DialTimeout:   200 * time.Millisecond,
		ReadTimeout:   200 * time.Millisecond,
		WriteTimeout:  200 * time.Millisecond,
		PoolTimeout:   300 * time.Millisecond,
		MaxRetries:    1,
		DialerRetries: 1,
	})
	t.Cleanup(func() { _ = c.Close() })
	a := newApp(t, redisstore.New(c), session.Config{})

	// timed serves one request and fails the test if it takes too long.
	timed := func(method, path, cookie string) *httptest.ResponseRecorder {
		t.Helper()
		start := time.Now()
		w := a.do(method, path, cookie)
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s %s took %v", method, path, d)
		}
		return w
	}

	// Up: a session with n = 1.
	w := timed("POST", "/inc", "")
	cookie := sessionCookie(w)
	if w.Code != http.StatusOK || cookie == "" {
		t.Fatalf("POST /inc with Redis up: %d %q, cookie %q", w.Code, w.Body, cookie)
	}
	if w = timed("GET", "/read", cookie); w.Code != http.StatusOK || w.Body.String() != "true 1" {
		t.Fatalf("GET /read with Redis up: %d %q", w.Code, w.Body)
	}

	// Background traffic with the session's cookie, before, during and
	// after the kill: only 200 and 503, and never a cleared cookie.
	tr := startTraffic(a, cookie)
	time.Sleep(50 * time.Millisecond)

	// Kill the server between a request's load and its commit: the
	// commit fails and the default ErrorHandler answers 503.
	a.mu.Lock()
	a.midwayFn = proc.Kill
	a.mu.Unlock()
	w = timed("POST", "/inc-midway", cookie)
	a.mu.Lock()
	a.midwayFn = nil
	a.mu.Unlock()
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("POST /inc-midway, Redis killed after the load: %d %q, want 503", w.Code, w.Body)
	}
	if w.Header().Get("Retry-After") == "" {
		t.Errorf("POST /inc-midway: 503 without Retry-After")
	}
	if got := w.Header().Values("Set-Cookie"); len(got) != 0 {
		t.Errorf("POST /inc-midway: failed commit sets cookies %q", got)
	}
	a.takeErrs()

	// Down.
	time.Sleep(100 * time.Millisecond)
	for range 5 {
		for _, tc := range []struct {
			method, path, cookie string
			want                 int
			handlerErr           bool // the handler saw the error (else the commit did)
		}{
			{"GET", "/read", cookie, http.StatusServiceUnavailable, true},
			{"POST", "/inc", cookie, http.StatusServiceUnavailable, true},
			{"POST", "/new", "", http.StatusServiceUnavailable, false},
			{"POST", "/logout", cookie, http.StatusServiceUnavailable, false},
			{"GET", "/none", cookie, http.StatusOK, false},
		} {
			w := timed(tc.method, tc.path, tc.cookie)
			if w.Code != tc.want {
				t.Errorf("%s %s with Redis down: %d %q, want %d", tc.method, tc.path, w.Code, w.Body, tc.want)
			}
			if got := w.Header().Values("Set-Cookie"); len(got) != 0 {
				t.Errorf("%s %s with Redis down: sets cookies %q", tc.method, tc.path, got)
			}
			errs := a.takeErrs()
			if tc.handlerErr && len(errs) == 0 {
				t.Errorf("%s %s with Redis down: the handler got no error", tc.method, tc.path)
			}
			for _, err := range errs {
				if !tc.handlerErr {
					continue // background traffic's
				}
				if !errors.Is(err, backend.ErrUnavailable) {
					t.Errorf("%s %s with Redis down: handler error %v does not match ErrUnavailable", tc.method, tc.path, err)
				}
			}
		}
	}

	n, n503 := tr.finish(t)
	if n503 == 0 {
		t.Errorf("no background request saw the outage (%d requests)", n)
	}
	t.Logf("background: %d requests, %d answered 503", n, n503)

	// Back up on the same port, with the same client and manager.
	if err := proc.Start(); err != nil {
		t.Fatalf("restart redis-server: %v\n%s", err, proc.LogTail())
	}
	var fresh string
	deadline := time.Now().Add(10 * time.Second)
	for {
		w := timed("POST", "/new", "")
		if w.Code == http.StatusOK {
			fresh = sessionCookie(w)
			break
		}
		if w.Code != http.StatusServiceUnavailable {
			t.Fatalf("POST /new after the restart: %d %q", w.Code, w.Body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("POST /new still failing 10s after the restart: %d %q", w.Code, w.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.takeErrs()
	for i := 2; i <= 20; i++ {
		if w := timed("POST", "/inc", fresh); w.Code != http.StatusOK || w.Body.String() != strconv.Itoa(i) {
			t.Fatalf("POST /inc #%d after the restart: %d %q", i, w.Code, w.Body)
		}
	}
	if w := timed("GET", "/read", fresh); w.Code != http.StatusOK || w.Body.String() != "true 20" {
		t.Errorf("GET /read after the restart: %d %q", w.Code, w.Body)
	}
	// The old session died with the server's memory: now, and only now,
	// it reads as absent.
	if w := timed("GET", "/read", cookie); w.Code != http.StatusOK || w.Body.String() != "false 0" {
		t.Errorf("GET /read of the lost session after the restart: %d %q", w.Code, w.Body)
	}
	if errs := a.takeErrs(); len(errs) != 0 {
		t.Errorf("handler errors after the restart: %v", errs)
	}
}
