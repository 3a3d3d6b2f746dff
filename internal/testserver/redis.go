package testserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisBinaries returns the paths of redis-server and redis-cli, or skips
// t (fails it under SESSION_REQUIRE_REDIS=1) if they are not installed.
func RedisBinaries(t testing.TB) (server, cli string) {
	t.Helper()
	server, err := exec.LookPath("redis-server")
	if err != nil {
		SkipOrFail(t, "SESSION_REQUIRE_REDIS", "redis-server not installed (Debian: apt-get install redis-server redis-tools): %v", err)
	}
	cli, err = exec.LookPath("redis-cli")
	if err != nil {
		SkipOrFail(t, "SESSION_REQUIRE_REDIS", "redis-cli not installed (Debian: apt-get install redis-tools): %v", err)
	}
	return server, cli
}

// Redis is a redis-server child process on 127.0.0.1:Port.
type Redis struct {
	process
	Port int
	Log  string // the server's log file
}

// StartRedis starts redis-server (bin) on 127.0.0.1:port with its files
// in dir and, unless extra says otherwise, nothing persisted, and waits
// until it answers PING. Later options override earlier ones: extra may
// turn persistence on ("--appendonly", "yes"). The process is stopped at
// cleanup.
func StartRedis(t testing.TB, bin, dir string, port int, extra ...string) *Redis {
	t.Helper()
	return StartRedisConf(t, bin, "", dir, port, extra...)
}

// StartRedisConf is StartRedis with a configuration file, which
// redis-server reads before the options (a Sentinel needs one, writable:
// it records its state there). conf "" means none.
func StartRedisConf(t testing.TB, bin, conf, dir string, port int, extra ...string) *Redis {
	t.Helper()
	p := &Redis{Port: port, Log: filepath.Join(dir, fmt.Sprintf("redis-%d.log", port))}
	argv := []string{bin}
	if conf != "" {
		argv = append(argv, conf) // must come first
	}
	argv = append(argv,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--dbfilename", fmt.Sprintf("dump-%d.rdb", port), // a replica writes the one it syncs
		"--appendfilename", fmt.Sprintf("appendonly-%d.aof", port),
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--logfile", p.Log,
	)
	p.argv = append(argv, extra...)
	p.ready = p.ping
	t.Cleanup(p.Stop)
	if err := p.Start(); err != nil {
		t.Fatalf("redis-server on port %d: %v\n%s", port, err, p.LogTail())
	}
	return p
}

// Start starts the server again, after Kill or Stop, on the same port
// with the same files and options, and waits until it answers PING
// (a server that replays its append-only file answers LOADING until it
// is done).
func (p *Redis) Start() error {
	return p.start(10 * time.Second)
}

// Addr returns the server's host:port.
func (p *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.Port) }

// Client returns a client of this server alone, with short timeouts and
// no retries, for a test's own commands; it is closed at cleanup.
func (p *Redis) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr: p.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second,
		WriteTimeout: time.Second, MaxRetries: -1, DialerRetries: 1,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (p *Redis) ping() error {
	c := redis.NewClient(&redis.Options{
		Addr: p.Addr(), DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, MaxRetries: -1, DialerRetries: 1,
	})
	defer c.Close()
	return c.Ping(context.Background()).Err()
}

// LogTail returns the end of the server's log.
func (p *Redis) LogTail() string { return tail(p.Log) }

func tail(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
