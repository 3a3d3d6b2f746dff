package redisstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session/backend"
)

// replyErr is a server error reply, as go-redis types them (redis.Error).
type replyErr string

func (e replyErr) Error() string { return string(e) }
func (replyErr) RedisError()     {}

var _ redis.Error = replyErr("")

// unavailableReplies are server replies that mean "not now".
var unavailableReplies = []string{
	"LOADING Redis is loading the dataset in memory",
	"BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
	"CLUSTERDOWN The cluster is down",
	"CLUSTERDOWN Hash slot not served",
	"TRYAGAIN Multiple keys request during rehashing of slot",
	"TRYAGAIN",
	"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
	"READONLY You can't write against a read only replica.",
	"OOM command not allowed when used memory > 'maxmemory'.",
	"MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.",
	"NOREPLICAS Not enough good replicas to write.",
	"ERR max number of clients reached",
}

// otherReplies are server replies that mean a misconfiguration or a bug:
// retrying will not help, and they must not pass for an outage.
var otherReplies = []string{
	"WRONGTYPE Operation against a key holding the wrong kind of value",
	"NOAUTH Authentication required.",
	"WRONGPASS invalid username-password pair or user is disabled.",
	"NOPERM User default has no permissions to run the 'evalsha' command",
	"MOVED 3999 127.0.0.1:6381",
	"ERR unknown command 'UNLINK', with args beginning with: ",
	"ERR Error running script (call to f_0123): @user_script:1: Script attempted to access a non local key",
	"BUSYKEY Target key name already exists.",
}

func TestClassify(t *testing.T) {
	live := context.Background()
	opErr := func(op string, err error) error { return &net.OpError{Op: op, Net: "tcp", Err: err} }
	for _, tc := range []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"connection refused", opErr("dial", &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}), true},
		{"connection reset", opErr("read", &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}), true},
		{"broken pipe", opErr("write", &os.SyscallError{Syscall: "write", Err: syscall.EPIPE}), true},
		{"i/o timeout", opErr("read", os.ErrDeadlineExceeded), true},
		{"dial i/o timeout", opErr("dial", os.ErrDeadlineExceeded), true},
		{"EOF", io.EOF, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"closed connection", net.ErrClosed, true},
		{"pool timeout", redis.ErrPoolTimeout, true},
		{"pool exhausted", redis.ErrPoolExhausted, true},
		{"client closed", redis.ErrClosed, true},
		{"go-redis dial timeout as a context error", fmt.Errorf("dial: %w", context.DeadlineExceeded), true},
	} {
		err := classify(live, "load", tc.err)
		if got := errors.Is(err, backend.ErrUnavailable); got != tc.unavailable {
			t.Errorf("%s: %v: matches ErrUnavailable = %t, want %t", tc.name, err, got, tc.unavailable)
		}
		wantNoOtherSentinel(t, tc.name, err)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			t.Errorf("%s with a live context: %v matches a context error", tc.name, err)
		}
		if !strings.HasPrefix(err.Error(), "redisstore: load: ") {
			t.Errorf("%s: message %q does not start with the package and operation", tc.name, err)
		}
	}
	for _, msg := range unavailableReplies {
		err := classify(live, "update", replyErr(msg))
		if !errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("reply %q: %v does not match ErrUnavailable", msg, err)
		}
		var re redis.Error
		if !errors.As(err, &re) {
			t.Errorf("reply %q: %v does not keep the redis.Error", msg, err)
		}
		wantNoOtherSentinel(t, msg, err)
	}
	for _, msg := range otherReplies {
		err := classify(live, "update", replyErr(msg))
		if errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("reply %q: %v matches ErrUnavailable", msg, err)
		}
		wantNoOtherSentinel(t, msg, err)
	}

	// redis.Nil never leaks, even if a method failed to handle it.
	if err := classify(live, "load", redis.Nil); errors.Is(err, redis.Nil) || errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("redis.Nil: got %v", err)
	}
}

func wantNoOtherSentinel(t *testing.T, what string, err error) {
	t.Helper()
	for _, s := range []error{backend.ErrNotFound, backend.ErrExists, backend.ErrConflict, backend.ErrTooLarge} {
		if errors.Is(err, s) {
			t.Errorf("%s: %v matches %v", what, err, s)
		}
	}
}

// TestClassifyEndedContext checks that once the caller's context has ended,
// a failure without a server reply is reported as the context's error
// (not ErrUnavailable), while a server reply keeps its meaning.
func TestClassifyEndedContext(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithTimeout(context.Background(), -time.Second)
	defer cancel2()
	// A deadline that has passed although its timer has not fired yet.
	justExpired := deadlineOnly{deadline: time.Now().Add(-time.Millisecond)}

	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want error
	}{
		{"cancelled, refused", cancelled, refused, context.Canceled},
		{"cancelled, timeout", cancelled, timeout, context.Canceled},
		{"cancelled, go-redis returned ctx.Err()", cancelled, context.Canceled, context.Canceled},
		{"deadline, timeout", expired, timeout, context.DeadlineExceeded},
		{"deadline, go-redis returned ctx.Err()", expired, fmt.Errorf("pool: %w", context.DeadlineExceeded), context.DeadlineExceeded},
		{"deadline passed, timer not fired", justExpired, timeout, context.DeadlineExceeded},
	} {
		err := classify(tc.ctx, "touch", tc.err)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v does not match %v", tc.name, err, tc.want)
		}
		if errors.Is(err, backend.ErrUnavailable) {
			t.Errorf("%s: %v matches ErrUnavailable", tc.name, err)
		}
		wantNoOtherSentinel(t, tc.name, err)
	}

	// The server's answer stands even if the context ended meanwhile.
	err := classify(cancelled, "touch", replyErr("LOADING Redis is loading the dataset in memory"))
	if !errors.Is(err, backend.ErrUnavailable) || errors.Is(err, context.Canceled) {
		t.Errorf("LOADING with a cancelled context: got %v, want ErrUnavailable only", err)
	}
}

// deadlineOnly is a context whose deadline has passed but whose Err is
// still nil, as a context is for a moment after its deadline.
type deadlineOnly struct {
	context.Context
	deadline time.Time
}

func (c deadlineOnly) Deadline() (time.Time, bool) { return c.deadline, true }
func (deadlineOnly) Done() <-chan struct{}         { return nil }
func (deadlineOnly) Err() error                    { return nil }
func (deadlineOnly) Value(any) any                 { return nil }

// TestClassifyFromServer sends real commands to a fake server that answers
// every command with one error reply, so the errors are the ones go-redis
// itself builds from the wire.
func TestClassifyFromServer(t *testing.T) {
	for _, tc := range []struct {
		replies     []string
		unavailable bool
	}{
		{unavailableReplies, true},
		{otherReplies, false},
	} {
		for _, msg := range tc.replies {
			addr := errorServer(t, msg)
			c := redis.NewClient(&redis.Options{
				Addr: addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1,
				ReadTimeout: 2 * time.Second,
			})
			s := New(c)
			ctx := context.Background()
			for op, call := range StoreCalls(s, "k", 1) {
				err := call(ctx)
				if err == nil {
					t.Errorf("%s answered %q: no error", op, msg)
					continue
				}
				if got := errors.Is(err, backend.ErrUnavailable); got != tc.unavailable {
					t.Errorf("%s answered %q: %v matches ErrUnavailable = %t, want %t", op, msg, err, got, tc.unavailable)
				}
				wantNoOtherSentinel(t, op+" answered "+msg, err)
			}
			_ = c.Close()
		}
	}
}

// errorServer starts a fake Redis on a loopback port that answers every
// command with the error reply msg. It is stopped at cleanup.
func errorServer(t *testing.T, msg string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Go(func() { serveErrors(conn, msg) })
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// serveErrors reads RESP commands (arrays of bulk strings) from conn and
// answers each with -msg.
func serveErrors(conn net.Conn, msg string) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	reply := []byte("-" + msg + "\r\n")
	for {
		n, err := readLen(r, '*')
		if err != nil {
			return
		}
		for range n {
			size, err := readLen(r, '$')
			if err != nil {
				return
			}
			if _, err := r.Discard(size + 2); err != nil {
				return
			}
		}
		if _, err := conn.Write(reply); err != nil {
			return
		}
	}
}

// readLen reads a "<prefix><n>\r\n" line.
func readLen(r *bufio.Reader, prefix byte) (int, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 3 || line[0] != prefix {
		return 0, fmt.Errorf("unexpected line %q", line)
	}
	return strconv.Atoi(strings.TrimSuffix(line[1:], "\r\n"))
}

func TestNewVersion(t *testing.T) {
	seen := make(map[uint64]bool)
	for range 10000 {
		v := newVersion(0)
		if v == 0 || seen[v] {
			t.Fatalf("newVersion returned %d twice or zero", v)
		}
		seen[v] = true
		if w := newVersion(v); w == v || w == 0 {
			t.Fatalf("newVersion(%d) = %d", v, w)
		}
	}
}

func TestMillis(t *testing.T) {
	for _, tc := range []struct {
		ttl  time.Duration
		want int64
	}{
		{time.Nanosecond, 1},
		{time.Millisecond, 1},
		{time.Millisecond + 1, 2},
		{1500 * time.Microsecond, 2},
		{time.Hour, 3_600_000},
		{1<<63 - 1, 9_223_372_036_854},
	} {
		if got, err := millis("op", tc.ttl); err != nil || got != tc.want {
			t.Errorf("millis(%v) = %d, %v; want %d", tc.ttl, got, err, tc.want)
		}
	}
	for _, ttl := range []time.Duration{0, -1, -time.Hour} {
		if _, err := millis("op", ttl); err == nil {
			t.Errorf("millis(%v): no error", ttl)
		}
	}
}
