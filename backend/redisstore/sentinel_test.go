package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/redisstore"
	"github.com/typedsession/session/internal/testserver"
)

// masterName is the name the test Sentinel monitors its primary under.
const masterName = "mymaster"

// TestSentinelConformance runs the conformance suite through a Sentinel
// failover client (redis.NewFailoverClient) on a real primary, replica
// and Sentinel started on loopback ports for the test (redis-server must
// be installed). Run the Sentinel tests alone with:
// go test -run Sentinel ./backend/redisstore/
func TestSentinelConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and a Sentinel, and sleeps for several seconds")
	}
	s := startSentinelSet(t)
	c := s.failoverClient(t)
	if port, err := serverPort(c); port != s.primary.Port {
		t.Fatalf("the failover client reaches port %d (%v), want the primary's, %d", port, err, s.primary.Port)
	}
	runOnServer(t, c) // through the failover client: on the primary
}

// TestSentinelFailover serves requests through the session middleware over
// a Sentinel failover client, fails the primary over to the replica while
// requests keep coming, and checks that
//
//   - during the switch every request is answered 200 or 503 (handler
//     errors wrap backend.ErrUnavailable), never with a cleared or
//     replaced cookie, and every read finds the session;
//   - after it, the same manager and client reach the new primary, where
//     the session created before the failover (and replicated to the
//     replica) is still there and can be updated.
//
// Command asks the Sentinel for the failover (SENTINEL FAILOVER, the old
// primary keeps running); Kill kills the primary (SIGKILL) and lets the
// Sentinel notice.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and a Sentinel, and fails the primary over")
	}
	testserver.RedisBinaries(t) // skip here rather than in each subtest
	t.Run("Command", func(t *testing.T) {
		testSentinelFailover(t, false, func(s *sentinelSet) {
			// SENTINEL FAILOVER answers NOGOODSLAVE until the Sentinel
			// deems the replica fit; startSentinelSet waited for that, so
			// a retry is only a safety net.
			waitFor(t, 5*time.Second, "SENTINEL FAILOVER", func() (bool, string) {
				err := s.sentinelClient.Failover(context.Background(), masterName).Err()
				return err == nil, fmt.Sprint(err)
			})
		})
	})
	t.Run("Kill", func(t *testing.T) {
		testSentinelFailover(t, true, func(s *sentinelSet) { s.primary.Kill() })
	})
}

// testSentinelFailover is TestSentinelFailover with failover as the way to
// fail the primary over; outage says whether that makes the store
// unavailable for a while (which the background traffic must then see).
func testSentinelFailover(t *testing.T, outage bool, failover func(*sentinelSet)) {
	s := startSentinelSet(t)
	c := s.failoverClient(t)
	a := newApp(t, redisstore.New(c), session.Config{})
	ctx := context.Background()

	// A session with n = 5, replicated.
	w := a.do("POST", "/inc", "")
	cookie := sessionCookie(w)
	if w.Code != http.StatusOK || cookie == "" {
		t.Fatalf("POST /inc: %d %q, cookie %q", w.Code, w.Body, cookie)
	}
	for i := 2; i <= 5; i++ {
		if w := a.do("POST", "/inc", cookie); w.Code != http.StatusOK || w.Body.String() != strconv.Itoa(i) {
			t.Fatalf("POST /inc #%d: %d %q", i, w.Code, w.Body)
		}
	}
	if n, err := s.primary.Client(t).Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 on the primary: %d replicas acknowledged, %v", n, err)
	}

	tr := startTraffic(a, cookie)
	time.Sleep(50 * time.Millisecond)

	start := time.Now()
	failover(s)
	waitFor(t, 20*time.Second, "Sentinel reports the replica as master", func() (bool, string) {
		addr, err := s.masterAddr()
		return addr == s.replica.Addr(), fmt.Sprintf("%s %v", addr, err)
	})
	switched := time.Since(start)

	// Through the same manager and client, reads succeed again.
	waitFor(t, 10*time.Second, "GET /read succeeds after the failover", func() (bool, string) {
		w := a.do("GET", "/read", cookie)
		if msg := wrongAnswer(cookie, "/read", w); msg != "" {
			t.Errorf("GET /read during the failover: %s", msg)
		}
		return w.Code == http.StatusOK, fmt.Sprintf("%d %q", w.Code, w.Body)
	})
	recovered := time.Since(start)

	// The client drops its connections to the old primary when the
	// Sentinel announces the switch (+switch-master); until then, a
	// primary that is still running (Command) keeps serving it, and a
	// write it takes is lost. Wait for that, so that what follows runs on
	// the new primary alone.
	waitFor(t, 5*time.Second, "the failover client reaches the new primary", func() (bool, string) {
		port, err := serverPort(c)
		return port == s.replica.Port, fmt.Sprintf("port %d, %v", port, err)
	})
	moved := time.Since(start)
	n, n503 := tr.finish(t)
	t.Logf("after the trigger: Sentinel switched at %v, first successful read at %v, client on the new primary at %v; background: %d requests, %d answered 503",
		switched.Round(time.Millisecond), recovered.Round(time.Millisecond), moved.Round(time.Millisecond), n, n503)
	if outage && n503 == 0 {
		t.Errorf("no background request saw the outage (%d requests)", n)
	}
	for _, err := range a.takeErrs() {
		if !errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("handler error during the failover does not match ErrUnavailable: %v", err)
		}
	}

	// The session is there, with at least the replicated n = 5 (increments
	// sent during the switch may have landed on the old primary and been
	// lost), and is updated as usual.
	w = a.do("GET", "/read", cookie)
	var got int
	if _, err := fmt.Sscanf(w.Body.String(), "true %d", &got); w.Code != http.StatusOK || err != nil || got < 5 {
		t.Fatalf("GET /read after the failover: %d %q, want true and n >= 5", w.Code, w.Body)
	}
	for i := got + 1; i <= got+5; i++ {
		w := a.do("POST", "/inc", cookie)
		if w.Code != http.StatusOK || w.Body.String() != strconv.Itoa(i) {
			t.Fatalf("POST /inc after the failover: %d %q, want %d", w.Code, w.Body, i)
		}
		if clearsCookie(w) {
			t.Errorf("POST /inc after the failover clears the cookie")
		}
	}
	if w := a.do("GET", "/read", cookie); w.Code != http.StatusOK || w.Body.String() != "true "+strconv.Itoa(got+5) {
		t.Errorf("GET /read after the updates: %d %q, want %q", w.Code, w.Body, "true "+strconv.Itoa(got+5))
	}
	if errs := a.takeErrs(); len(errs) != 0 {
		t.Errorf("handler errors after the failover: %v", errs)
	}
}

// sentinelSet is a primary, one replica of it and one Sentinel monitoring
// them as masterName, each a redis-server child process on a loopback
// port, killed at cleanup.
type sentinelSet struct {
	primary, replica, sentinel *testserver.Redis
	sentinelClient             *redis.SentinelClient
}

// startSentinelSet starts a sentinelSet and waits until the replica is in
// sync and the Sentinel knows the primary and deems the replica fit to
// replace it.
func startSentinelSet(t *testing.T) *sentinelSet {
	t.Helper()
	server, _ := testserver.RedisBinaries(t)
	start := time.Now()
	dir := t.TempDir()
	ports := testserver.FreePorts(t, 3)
	// A primary waits 5 s (repl-diskless-sync-delay) for more replicas
	// before it starts a sync; there is only one.
	s := &sentinelSet{primary: testserver.StartRedis(t, server, dir, ports[0], "--repl-diskless-sync-delay", "0")}
	s.replica = testserver.StartRedis(t, server, dir, ports[1], "--replicaof", "127.0.0.1", strconv.Itoa(s.primary.Port))
	rc := s.replica.Client(t)
	waitFor(t, 10*time.Second, "replica in sync", func() (bool, string) {
		info, err := rc.Info(context.Background(), "replication").Result()
		return strings.Contains(info, "master_link_status:up"), fmt.Sprintf("%v\n%s\nlog:\n%s", err, info, s.replica.LogTail())
	})

	// The Sentinel rewrites its configuration file: it must be writable.
	conf := filepath.Join(dir, "sentinel.conf")
	lines := []string{
		"port " + strconv.Itoa(ports[2]),
		"bind 127.0.0.1",
		fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1", masterName, s.primary.Port),
		"sentinel down-after-milliseconds " + masterName + " 1000",
		"sentinel failover-timeout " + masterName + " 5000",
		"sentinel resolve-hostnames no",
	}
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.sentinel = testserver.StartRedisConf(t, server, conf, dir, ports[2], "--sentinel")
	s.sentinelClient = redis.NewSentinelClient(&redis.Options{
		Addr: s.sentinel.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second,
		WriteTimeout: time.Second, MaxRetries: -1, DialerRetries: 1,
	})
	t.Cleanup(func() { _ = s.sentinelClient.Close() })

	waitFor(t, 10*time.Second, "Sentinel knows the primary", func() (bool, string) {
		addr, err := s.masterAddr()
		return addr == s.primary.Addr(), fmt.Sprintf("%s %v\nlog:\n%s", addr, err, s.sentinel.LogTail())
	})
	// The Sentinel learns of the replica from the primary's INFO, then
	// asks the replica for its own: only then can it promote it.
	waitFor(t, 10*time.Second, "Sentinel knows the replica", func() (bool, string) {
		replicas, err := s.sentinelClient.Replicas(context.Background(), masterName).Result()
		for _, r := range replicas {
			if r["port"] == strconv.Itoa(s.replica.Port) && r["flags"] == "slave" &&
				r["master-link-status"] == "ok" && r["role-reported"] == "slave" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%v %v\nlog:\n%s", replicas, err, s.sentinel.LogTail())
	})
	t.Logf("primary %d, replica %d and Sentinel %d ready in %v", s.primary.Port, s.replica.Port, s.sentinel.Port, time.Since(start).Round(time.Millisecond))
	return s
}

// masterAddr returns the address the Sentinel reports for masterName.
func (s *sentinelSet) masterAddr() (string, error) {
	hp, err := s.sentinelClient.GetMasterAddrByName(context.Background(), masterName).Result()
	if err != nil {
		return "", err
	}
	if len(hp) != 2 {
		return "", fmt.Errorf("SENTINEL get-master-addr-by-name: %q", hp)
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}

// failoverClient returns a Sentinel failover client of the set's master,
// with short timeouts and few retries, closed at cleanup.
func (s *sentinelSet) failoverClient(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    masterName,
		SentinelAddrs: []string{s.sentinel.Addr()},
		DialTimeout:   200 * time.Millisecond,
		ReadTimeout:   200 * time.Millisecond,
		WriteTimeout:  200 * time.Millisecond,
		PoolTimeout:   300 * time.Millisecond,
		MaxRetries:    1,
		DialerRetries: 1,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// serverPort returns the port of the server c's next command reaches.
func serverPort(c *redis.Client) (int, error) {
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "tcp_port:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("INFO server without tcp_port")
}
