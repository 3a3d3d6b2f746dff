// Package testserver starts private redis-server and PostgreSQL processes
// for the module's tests: on free loopback ports, in directories of their
// own, so that killing one disturbs nobody else's server. A test can kill
// a server (SIGKILL), restart it on the same port and data, and stop it
// (SIGTERM); everything still running is stopped at the test's cleanup.
//
// The servers' programs are looked up on PATH (and, for PostgreSQL, in
// Debian's /usr/lib/postgresql/*/bin). When one is missing the test is
// skipped, or fails when SESSION_REQUIRE_REDIS=1 or
// SESSION_REQUIRE_POSTGRES=1 says that the service is required (CI sets
// both).
package testserver

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
)

// SkipOrFail skips t, or fails it when the environment variable env
// (SESSION_REQUIRE_REDIS, SESSION_REQUIRE_POSTGRES) is "1": CI sets those,
// so that a missing service cannot pass for a green run.
func SkipOrFail(t testing.TB, env, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(env) == "1" {
		t.Fatalf("%s (%s=1)", msg, env)
	}
	t.Skip(msg)
}

// FreePorts returns n distinct loopback TCP ports that are free, each with
// port+10000 (a Redis Cluster node's bus port) free as well.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	seen := make(map[int]bool)
	for range 500 {
		if len(ports) == n {
			return ports
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if seen[p] || p+10000 > 65535 {
			continue
		}
		seen[p] = true
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000))
		if err != nil {
			continue
		}
		_ = bus.Close()
		ports = append(ports, p)
	}
	t.Fatalf("found only %d of %d free port pairs (port, port+10000)", len(ports), n)
	return nil
}
