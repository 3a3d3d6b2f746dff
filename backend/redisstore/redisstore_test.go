package redisstore_test

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/backendtest"
	"github.com/typedsession/session/backend/redisstore"
)

// TestConformanceMiniredis runs the conformance suite on miniredis, whose
// clock the suite moves with FastForward.
func TestConformanceMiniredis(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		mr, c := newMiniredis(t)
		return backendtest.Harness{Store: redisstore.New(c), Advance: mr.FastForward}
	})
}

// TestConformanceRedis runs the suite on a real Redis (SESSION_REDIS_URL,
// default redis://127.0.0.1:6379, database 14), flushing the database before every
// check and letting real time pass.
func TestConformanceRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps for several seconds")
	}
	runOnServer(t, realRedis(t))
}

// runOnServer runs the conformance suite through c on a real server, in
// real time, flushing c's database before every check.
func runOnServer(t *testing.T, c redis.UniversalClient) {
	t.Helper()
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		if err := c.FlushDB(context.Background()).Err(); err != nil {
			t.Fatalf("FLUSHDB: %v", err)
		}
		return backendtest.Harness{Store: redisstore.New(c), Advance: time.Sleep}
	})
}

// TestConformanceRedisRESP2NoPrefix runs the suite on a real Redis over a
// RESP2 connection (script replies decode differently from RESP3), with
// no key prefix, through a FaultStore.
func TestConformanceRedisRESP2NoPrefix(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps for several seconds")
	}
	c := realRedis(t)
	opt := *c.Options()
	opt.Protocol = 2
	c2 := redis.NewClient(&opt)
	t.Cleanup(func() { _ = c2.Close() })
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		if err := c2.FlushDB(context.Background()).Err(); err != nil {
			t.Fatalf("FLUSHDB: %v", err)
		}
		s := backendtest.NewIndexedFaultStore(redisstore.New(c2, redisstore.WithPrefix("")))
		return backendtest.Harness{Store: s, Advance: time.Sleep}
	})
}

// TestLayout pins the stored format: one string per record under
// prefix+key, an 8-byte big-endian version, then the data, with the TTL as
// the key's expiry.
func TestLayout(t *testing.T) {
	mr, c := newMiniredis(t)
	s := redisstore.New(c, redisstore.WithPrefix("sess:"))
	ctx := context.Background()
	v, err := s.Create(ctx, "k", []byte("data"), 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if keys := mr.Keys(); !slices.Equal(keys, []string{"sess:k"}) {
		t.Fatalf("keys = %q, want [sess:k]", keys)
	}
	raw, err := mr.Get("sess:k")
	if err != nil {
		t.Fatal(err)
	}
	var want [8]byte
	for i := range 8 {
		want[i] = byte(v >> (56 - 8*i))
	}
	if raw != string(want[:])+"data" {
		t.Errorf("stored value = %q, want version %d (%q) + %q", raw, v, want, "data")
	}
	if ttl := mr.TTL("sess:k"); ttl != 90*time.Second {
		t.Errorf("TTL = %v, want 90s", ttl)
	}

	// TTLs are whole milliseconds, rounded up, at least 1 ms.
	if err := s.Touch(ctx, "k", 1500*time.Microsecond); err != nil {
		t.Fatal(err)
	}
	if ttl := mr.TTL("sess:k"); ttl != 2*time.Millisecond {
		t.Errorf("TTL after Touch(1.5ms) = %v, want 2ms", ttl)
	}
	if err := s.Touch(ctx, "k", time.Nanosecond); err != nil {
		t.Fatal(err)
	}
	if ttl := mr.TTL("sess:k"); ttl != time.Millisecond {
		t.Errorf("TTL after Touch(1ns) = %v, want 1ms", ttl)
	}

	// An Update leaves the record in the same layout (what builds before
	// the write history read and write), and keeps the version it replaced
	// in the history key, in the record's slot, with the record's TTL.
	v2, err := s.Update(ctx, "k", v, []byte("more"), 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if keys := mr.Keys(); !slices.Equal(keys, []string{"sess:k", "{sess:k}:w"}) {
		t.Fatalf("keys after Update = %q, want [sess:k {sess:k}:w]", keys)
	}
	if raw, _ := mr.Get("sess:k"); raw != string(binary.BigEndian.AppendUint64(nil, v2))+"more" {
		t.Errorf("stored value after Update = %q, want version %d + %q", raw, v2, "more")
	}
	if hist, _ := mr.Get("{sess:k}:w"); hist != string(want[:]) {
		t.Errorf("history = %q, want the replaced version %q", hist, want)
	}
	if ttl := mr.TTL("sess:k"); ttl != 90*time.Second {
		t.Errorf("TTL after Update = %v, want 90s", ttl)
	}
	if ttl := mr.TTL("{sess:k}:w"); ttl != time.Minute {
		t.Errorf("history TTL = %v, want 1m (a minute after the write, shorter than the record's)", ttl)
	}
	v3, err := s.Update(ctx, "k", v2, []byte("again"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if hist, _ := mr.Get("{sess:k}:w"); hist != string(binary.BigEndian.AppendUint64(nil, v2))+string(want[:]) {
		t.Errorf("history = %q, want the replaced versions newest first", hist)
	}
	// A record with a shorter time to live gives its history that one.
	if _, err := s.Update(ctx, "k", v3, []byte("short"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if ttl := mr.TTL("{sess:k}:w"); ttl != 10*time.Second {
		t.Errorf("history TTL = %v, want 10s (the record's)", ttl)
	}

	// A store whose calls may take longer than the history's minute
	// keeps the history for as long as its timeout.
	slow := redisstore.New(c, redisstore.WithPrefix("sess:"), redisstore.WithTimeout(2*time.Minute))
	rec, err := slow.Load(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slow.Update(ctx, "k", rec.Version, []byte("slow"), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if ttl := mr.TTL("{sess:k}:w"); ttl != 2*time.Minute {
		t.Errorf("history TTL = %v, want 2m (the store's timeout)", ttl)
	}

	// Delete removes both keys.
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if keys := mr.Keys(); len(keys) != 0 {
		t.Errorf("keys after Delete = %q, want none", keys)
	}
}

// TestPreviousLayout: records and writes of builds without the write
// history (a rolling deploy) mix with this build's. A record with no
// history key reads and updates; a write by such a build (record only)
// keeps the version compare-and-set working.
func TestPreviousLayout(t *testing.T) {
	mr, c := newMiniredis(t)
	s := redisstore.New(c)
	ctx := context.Background()
	old := func(v uint64, data string) {
		t.Helper()
		if err := mr.Set("s:k", string(binary.BigEndian.AppendUint64(nil, v))+data); err != nil {
			t.Fatal(err)
		}
		mr.SetTTL("s:k", time.Minute)
	}
	old(41, "old")
	rec, err := s.Load(ctx, "k")
	if err != nil || rec.Version != 41 || string(rec.Data) != "old" {
		t.Fatalf("Load of a previous-layout record: got (%q, %d, %v)", rec.Data, rec.Version, err)
	}
	v, err := s.Update(ctx, "k", 41, []byte("new"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// The previous build writes over it, as it did (no history).
	old(42, "old again")
	if _, err := s.Update(ctx, "k", v, []byte("stale"), time.Minute); !errors.Is(err, backend.ErrConflict) {
		t.Errorf("Update with the version the previous build replaced: got %v, want ErrConflict", err)
	}
	if _, err := s.Update(ctx, "k", 42, []byte("newest"), time.Minute); err != nil {
		t.Errorf("Update of the previous build's write: %v", err)
	}
}

// TestForeignValues checks how the store treats values under its prefix
// that it did not write.
func TestForeignValues(t *testing.T) {
	mr, c := newMiniredis(t)
	s := redisstore.New(c)
	ctx := context.Background()
	sentinels := []error{backend.ErrNotFound, backend.ErrExists, backend.ErrConflict, backend.ErrUnavailable}

	// Too short to hold a version: corrupt, never a record or "missing".
	if err := mr.Set("s:short", "abc"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Load(ctx, "short")
	if !errors.Is(err, backend.ErrCorrupt) {
		t.Fatalf("Load of a 3-byte value: %v, want ErrCorrupt", err)
	}
	for _, sentinel := range sentinels {
		if errors.Is(err, sentinel) {
			t.Errorf("Load of a 3-byte value: %v matches %v", err, sentinel)
		}
	}

	// Wrong type: the server's WRONGTYPE, corrupt, not "unavailable".
	mr.HSet("s:hash", "f", "v")
	_, err = s.Load(ctx, "hash")
	if !errors.Is(err, backend.ErrCorrupt) || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("Load of a hash: got %v, want ErrCorrupt with WRONGTYPE", err)
	}
	for _, sentinel := range sentinels {
		if errors.Is(err, sentinel) {
			t.Errorf("Load of a hash: %v matches %v", err, sentinel)
		}
	}

	// A record whose expiry was removed reports TTL 0, so the manager
	// touches it and restores one.
	v, err := s.Create(ctx, "persisted", []byte("x"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Persist(ctx, "s:persisted").Err(); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Load(ctx, "persisted")
	if err != nil || rec.Version != v || rec.TTL != 0 {
		t.Errorf("Load of a record without expiry: got (%v, %d, %v), want (TTL 0, version %d, nil)", rec.TTL, rec.Version, err, v)
	}
}

// TestInvalidArguments checks that bad arguments fail without a round trip
// and without matching a sentinel.
func TestInvalidArguments(t *testing.T) {
	rt := &roundTrips{}
	_, c := newMiniredis(t, rt)
	s := redisstore.New(c)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"Load empty key":   func() error { _, err := s.Load(ctx, ""); return err },
		"Create empty key": func() error { _, err := s.Create(ctx, "", nil, time.Minute); return err },
		"Update empty key": func() error { _, err := s.Update(ctx, "", 1, nil, time.Minute); return err },
		"Touch empty key":  func() error { return s.Touch(ctx, "", time.Minute) },
		"Delete empty key": func() error { return s.Delete(ctx, "") },
		"Create zero ttl":  func() error { _, err := s.Create(ctx, "k", nil, 0); return err },
		"Update minus ttl": func() error { _, err := s.Update(ctx, "k", 1, nil, -time.Second); return err },
		"Touch zero ttl":   func() error { return s.Touch(ctx, "k", 0) },
		"Create minus ttl": func() error { _, err := s.Create(ctx, "k", nil, -1); return err },
		"Touch minus ttl":  func() error { return s.Touch(ctx, "k", -time.Hour) },
		"Update zero ttl":  func() error { _, err := s.Update(ctx, "k", 1, nil, 0); return err },
	} {
		err := call()
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for _, sentinel := range []error{backend.ErrNotFound, backend.ErrExists, backend.ErrConflict, backend.ErrUnavailable} {
			if errors.Is(err, sentinel) {
				t.Errorf("%s: %v matches %v", name, err, sentinel)
			}
		}
	}
	if n, names := rt.take(); n != 0 {
		t.Errorf("invalid arguments cost %d round trips (%v), want 0", n, names)
	}
}

// TestNilNeverLeaks checks that no method returns redis.Nil, whatever the
// state of the key.
func TestNilNeverLeaks(t *testing.T) {
	_, c := newMiniredis(t)
	s := redisstore.New(c)
	ctx := context.Background()
	check := func(op string, err error) {
		t.Helper()
		if errors.Is(err, redis.Nil) {
			t.Errorf("%s: error %v matches redis.Nil", op, err)
		}
	}
	_, err := s.Load(ctx, "missing")
	check("Load missing", err)
	_, err = s.Update(ctx, "missing", 1, []byte("x"), time.Minute)
	check("Update missing", err)
	check("Touch missing", s.Touch(ctx, "missing", time.Minute))
	check("Delete missing", s.Delete(ctx, "missing"))
	_, err = s.Create(ctx, "k", nil, time.Minute)
	check("Create", err)
	_, err = s.Create(ctx, "k", nil, time.Minute)
	check("Create existing", err)
	if !errors.Is(err, backend.ErrExists) {
		t.Errorf("Create existing: got %v, want ErrExists", err)
	}
}

// TestRoundTrips counts the Redis round trips requests make through the
// session middleware: none for a request that does not use the session,
// one to read, two to change (load and compare-and-set), one to create.
func TestRoundTrips(t *testing.T) {
	rt := &roundTrips{}
	mr, c := newMiniredis(t, rt)
	const idle = 30 * time.Minute
	a := newApp(t, redisstore.New(c), session.Config{IdleTimeout: idle})

	expect := func(what string, status, n int, names ...string) {
		t.Helper()
		got, gotNames := rt.take()
		if status != 200 {
			t.Errorf("%s: status %d", what, status)
		}
		if got != n || !slices.Equal(gotNames, names) {
			t.Errorf("%s: %d round trips %q, want %d %q", what, got, gotNames, n, names)
		}
	}

	// Opening a connection runs its own commands (HELLO, CLIENT SETINFO)
	// through the hooks: get them out of the way.
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	rt.take()

	// A load is one pipeline (GET, PTTL). The first EVALSHA of the update
	// script on a server gets NOSCRIPT and costs an extra EVAL, once.
	w := a.do("POST", "/new", "")
	cookie := sessionCookie(w)
	if cookie == "" {
		t.Fatalf("POST /new set no cookie: %d %s", w.Code, w.Body)
	}
	expect("first session", w.Code, 1, "set")
	w = a.do("GET", "/read", cookie)
	expect("first read", w.Code, 1, "pipeline(get,pttl)")
	w = a.do("POST", "/inc", cookie)
	expect("first modifying request", w.Code, 3, "pipeline(get,pttl)", "evalsha", "eval")

	w = a.do("GET", "/none", cookie)
	expect("unused session", w.Code, 0)

	w = a.do("GET", "/read", cookie)
	expect("read-only request", w.Code, 1, "pipeline(get,pttl)")
	if got := w.Body.String(); got != "true 2" {
		t.Errorf("read: body %q, want %q", got, "true 2")
	}

	w = a.do("POST", "/inc", cookie)
	expect("modifying request", w.Code, 2, "pipeline(get,pttl)", "evalsha")

	w = a.do("POST", "/new", "")
	expect("new session", w.Code, 1, "set")

	// A touch is due once a tenth of the idle timeout has passed: the
	// read then pays one PEXPIRE, and the next one does not.
	mr.FastForward(idle/10 + time.Second)
	w = a.do("GET", "/read", cookie)
	expect("read-only request with a touch due", w.Code, 2, "pipeline(get,pttl)", "pexpire")
	w = a.do("GET", "/read", cookie)
	expect("read-only request after the touch", w.Code, 1, "pipeline(get,pttl)")

	w = a.do("POST", "/renew", cookie)
	// RenewID: load, create the new record, replace the old one with a
	// tombstone (compare-and-set).
	expect("RenewID", w.Code, 3, "pipeline(get,pttl)", "set", "evalsha")
	renewed := sessionCookie(w)
	if renewed == "" || renewed == cookie {
		t.Fatalf("RenewID set cookie %q", renewed)
	}

	// Logout: load, retire with compare-and-set (so that a concurrent
	// renewal cannot keep the session alive), delete.
	w = a.do("POST", "/logout", renewed)
	expect("logout", w.Code, 3, "pipeline(get,pttl)", "evalsha", "unlink")
}

// TestContextEnded checks that an ended context fails every method at once,
// with an error matching the context's, without a round trip.
func TestContextEnded(t *testing.T) {
	rt := &roundTrips{}
	_, c := newMiniredis(t, rt)
	s := redisstore.New(c)
	v, err := s.Create(context.Background(), "k", []byte("x"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rt.take()

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithTimeout(context.Background(), -time.Second)
	defer cancel2()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"deadline", expired, context.DeadlineExceeded},
	} {
		for op, call := range redisstore.StoreCalls(s, "k", v) {
			err := call(tc.ctx)
			wantCtxErr(t, tc.name+" "+op, err, tc.want)
		}
	}
	if n, names := rt.take(); n != 0 {
		t.Errorf("ended contexts cost %d round trips (%q), want 0", n, names)
	}
}

// wantCtxErr reports an error that does not match want or that matches a
// sentinel (ErrUnavailable included: an ended context is the caller's
// doing).
func wantCtxErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want an error matching %v", what, err, want)
	}
	for _, s := range []error{backend.ErrNotFound, backend.ErrExists, backend.ErrConflict, backend.ErrUnavailable} {
		if errors.Is(err, s) {
			t.Errorf("%s: error %v matches %v", what, err, s)
		}
	}
}

// TestContextWhileWaitingForConnection checks that a context ending while
// the request waits for a pooled connection ends the wait promptly: the
// pool's only connection is busy with a 5-second BLPOP.
func TestContextWhileWaitingForConnection(t *testing.T) {
	mr := miniredisServer(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), PoolSize: 1, MaxRetries: -1, PoolTimeout: 10 * time.Second})
	t.Cleanup(func() { _ = c.Close() })
	s := redisstore.New(c)
	if _, err := s.Create(context.Background(), "k", []byte("x"), time.Minute); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan struct{})
	go func() {
		defer close(blocked)
		_ = c.BLPop(context.Background(), 5*time.Second, "nothing").Err()
	}()
	time.Sleep(100 * time.Millisecond) // let BLPOP take the connection
	t.Cleanup(func() {
		_, _ = mr.Lpush("nothing", "wake up")
		<-blocked
	})

	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, context.DeadlineExceeded},
	} {
		ctx, cancel := tc.ctx()
		start := time.Now()
		_, err := s.Load(ctx, "k")
		elapsed := time.Since(start)
		cancel()
		wantCtxErr(t, "Load waiting for a connection, "+tc.name, err, tc.want)
		if elapsed > 2*time.Second {
			t.Errorf("Load waiting for a connection, %s: returned after %v", tc.name, elapsed)
		}
	}
}

// TestContextStalledServer checks a command in flight to a server that
// never answers. With ContextTimeoutEnabled the context's deadline bounds
// the wait; otherwise the client's ReadTimeout does, and the error wraps
// the context's error if it ended meanwhile.
func TestContextStalledServer(t *testing.T) {
	addr := stalledServer(t)
	newClient := func(ctxTimeout bool, readTimeout time.Duration) *redis.Client {
		c := redis.NewClient(&redis.Options{
			Addr: addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1,
			ReadTimeout: readTimeout, ContextTimeoutEnabled: ctxTimeout,
		})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}

	t.Run("deadline/ContextTimeoutEnabled", func(t *testing.T) {
		s := redisstore.New(newClient(true, 10*time.Second))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := s.Load(ctx, "k")
		wantCtxErr(t, "Load", err, context.DeadlineExceeded)
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("Load returned %v after the start, want about 100ms (the deadline, not the 10s ReadTimeout)", elapsed)
		}
	})
	t.Run("cancel/ReadTimeout", func(t *testing.T) {
		s := redisstore.New(newClient(false, 500*time.Millisecond))
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		err := s.Touch(ctx, "k", time.Minute)
		wantCtxErr(t, "Touch", err, context.Canceled)
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("Touch returned %v after the start, want about 500ms (ReadTimeout)", elapsed)
		}
	})
	t.Run("no context/ReadTimeout", func(t *testing.T) {
		s := redisstore.New(newClient(false, 500*time.Millisecond))
		_, err := s.Update(context.Background(), "k", 1, nil, time.Minute)
		if !errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("Update timing out: got %v, want ErrUnavailable", err)
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			t.Errorf("Update timing out with a live context: %v matches a context error", err)
		}
	})
}

// stalledServer listens on a loopback port, accepts connections and reads
// from them, but never answers.
func stalledServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			conn, err := l.Accept()
			if err != nil {
				for _, c := range conns {
					_ = c.Close()
				}
				return
			}
			conns = append(conns, conn)
			go func() {
				buf := make([]byte, 4096)
				for {
					if _, err := conn.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
	})
	return l.Addr().String()
}

// TestConnectionRefused checks that a server that is not there is
// ErrUnavailable, for every method, promptly.
func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	s := redisstore.New(c)
	ctx := context.Background()
	start := time.Now()
	for op, call := range redisstore.StoreCalls(s, "k", 1) {
		err := call(ctx)
		if !errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("%s with no server: got %v, want ErrUnavailable", op, err)
		}
		for _, s := range []error{backend.ErrNotFound, backend.ErrExists, backend.ErrConflict, context.Canceled, context.DeadlineExceeded} {
			if errors.Is(err, s) {
				t.Errorf("%s with no server: %v matches %v", op, err, s)
			}
		}
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("%d refused connections took %v", len(redisstore.StoreCalls(s, "k", 1)), elapsed)
	}
}

// TestForeignValueUnderASessionIsNoSession plants, under a visitor's
// session key, a value redisstore never writes (too short, or a hash):
// the visitor has no session rather than a 503 on every request, and can
// log in again.
func TestForeignValueUnderASessionIsNoSession(t *testing.T) {
	mr, c := newMiniredis(t)
	mgr, err := session.New[string](redisstore.New(c), session.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(cookie string, h func(s *session.Session[string])) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/", nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		rec := httptest.NewRecorder()
		mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(mgr.From(r)) })).ServeHTTP(rec, req)
		return rec
	}
	for _, plant := range []func(key string){
		func(key string) { _ = mr.Set(key, "abc") },
		func(key string) { mr.HSet(key, "f", "v") },
	} {
		login := serve("", func(s *session.Session[string]) { _ = s.Set("ada") })
		cookie := strings.Split(login.Header().Get("Set-Cookie"), ";")[0]
		keys := mr.Keys()
		if len(keys) == 0 {
			t.Fatal("no key stored")
		}
		for _, k := range keys {
			mr.Del(k)
			plant(k)
		}
		rec := serve(cookie, func(s *session.Session[string]) {
			if v, ok, err := s.Get(); ok || err != nil {
				t.Errorf("a foreign value reads as %q, %v, %v; want no session", v, ok, err)
			}
			if err := s.Set("ada again"); err != nil {
				t.Errorf("login over a foreign value: %v", err)
			}
		})
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Set-Cookie"), "session=") {
			t.Errorf("login over a foreign value: %d, Set-Cookie %q", rec.Code, rec.Header().Get("Set-Cookie"))
		}
		mr.FlushAll()
	}
}
