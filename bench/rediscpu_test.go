package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session/backend/redisstore"
	"github.com/typedsession/session/codec"
)

// BenchmarkRedisServerCPU measures the Redis server's work per request,
// this library's redisstore beside scs's goredisstore, for every request
// kind of BenchmarkRedisTypedSession and BenchmarkRedisSCS (the same
// handlers). The figures come from INFO cpu and INFO commandstats, read
// before and after the benchmark loop, per request:
//
//	redis-cpu-usec/op  the CPU time of the server's main thread (user and
//	                   system, from getrusage): reading requests, running
//	                   commands, writing replies, and the server's own
//	                   periodic tasks; time the thread waits for a CPU
//	                   does not count
//	redis-usec/op      the time the server spent executing the commands
//	                   the request sent (commandstats usec, by the
//	                   server's clock, so including any time it was
//	                   descheduled; a script's includes the commands it
//	                   runs), without reading and replying
//	redis-calls/op     the commands the server executed, including those
//	                   a script runs (commandstats calls)
//
// The counters are the whole server's, not a database's, so the benchmark
// starts a redis-server of its own (the first on PATH) that no other
// client uses; it skips without one.
func BenchmarkRedisServerCPU(b *testing.B) {
	addr := privateRedis(b)
	for _, k := range kinds {
		for _, lib := range []string{"scs", "typed-msgpack"} {
			b.Run(fmt.Sprintf("kind=%s/lib=%s", k.name, lib), func(b *testing.B) {
				cmds := &commandCounter{}
				client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
				b.Cleanup(func() { _ = client.Close() })
				client.AddHook(cmds)
				h, cookie := scsRedisOrTyped(b, client, lib, k.kind)
				serve(b, h, cookie) // loads the scripts a request runs
				before := readStats(b, client)
				cmds.reset()
				run(b, h, cookie)
				sent := cmds.counts()
				after := readStats(b, client)
				usec, calls, err := serverWork(before.cmds, after.cmds, sent)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric((after.cpu-before.cpu)*1e6/float64(b.N), "redis-cpu-usec/op")
				b.ReportMetric(usec/float64(b.N), "redis-usec/op")
				b.ReportMetric(calls/float64(b.N), "redis-calls/op")
			})
		}
	}
}

func scsRedisOrTyped(b *testing.B, client *redis.Client, lib string, k kind) (http.Handler, string) {
	if lib == "scs" {
		return scsSession(b, goredisstore.New(client), k, user)
	}
	return typedSession(b, redisstore.New(client), codec.MsgPack, k, user)
}

// serve runs one request carrying cookie through h, outside the benchmark
// loop.
func serve(b *testing.B, h http.Handler, cookie string) {
	b.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
	req.Header.Set("Cookie", cookie)
	w := &writer{h: make(http.Header)}
	h.ServeHTTP(w, req)
	if w.code >= 400 {
		b.Fatalf("status %d", w.code)
	}
}

// commandCounter counts the commands a go-redis client sends, by the name
// INFO commandstats gives them, those in pipelines included.
type commandCounter struct {
	mu sync.Mutex
	n  map[string]int64
}

func (c *commandCounter) add(cmds ...redis.Cmder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[string]int64)
	}
	for _, cmd := range cmds {
		c.n[strings.ToLower(cmd.Name())]++
	}
}

func (c *commandCounter) reset() {
	c.mu.Lock()
	c.n = nil
	c.mu.Unlock()
}

func (c *commandCounter) counts() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.add(cmd)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.add(cmds...)
		return next(ctx, cmds)
	}
}

// serverStats is what INFO cpu and INFO commandstats report.
type serverStats struct {
	cpu  float64            // the main thread's CPU time, user and system, in seconds
	cmds map[string]cmdStat // by command name
}

// cmdStat is one line of INFO commandstats.
type cmdStat struct{ calls, usec int64 }

// readStats runs INFO cpu commandstats.
func readStats(b *testing.B, client *redis.Client) serverStats {
	b.Helper()
	info, err := client.Info(context.Background(), "cpu", "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	stats, err := parseInfo(info)
	if err != nil {
		b.Fatal(err)
	}
	return stats
}

// parseInfo parses the reply of INFO cpu commandstats: the lines
// used_cpu_user_main_thread and used_cpu_sys_main_thread (seconds), and
// lines such as
// "cmdstat_get:calls=3,usec=12,usec_per_call=4.00,rejected_calls=0,failed_calls=0".
func parseInfo(info string) (serverStats, error) {
	out := serverStats{cmds: make(map[string]cmdStat)}
	cpu := 0
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		name, fields, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if name == "used_cpu_user_main_thread" || name == "used_cpu_sys_main_thread" {
			f, err := strconv.ParseFloat(fields, 64)
			if err != nil {
				return serverStats{}, fmt.Errorf("INFO cpu: %s: %w", name, err)
			}
			out.cpu += f
			cpu++
			continue
		}
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var s cmdStat
		for field := range strings.SplitSeq(fields, ",") {
			k, v, _ := strings.Cut(field, "=")
			var dst *int64
			switch k {
			case "calls":
				dst = &s.calls
			case "usec":
				dst = &s.usec
			default:
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return serverStats{}, fmt.Errorf("INFO commandstats: %s: %w", name, err)
			}
			*dst = n
		}
		out.cmds[strings.TrimPrefix(name, "cmdstat_")] = s
	}
	if cpu != 2 {
		return serverStats{}, errors.New("INFO cpu: no used_cpu_user_main_thread and used_cpu_sys_main_thread (Redis 6.2 or later has them)")
	}
	return out, sc.Err()
}

// serverWork returns the server's work between two commandstats readings
// for the commands counted in sent: the usec of the commands sent, and the
// calls of every command but INFO (which the readings ran). A command a
// script runs is counted under its own name as well as in the script's
// usec; where a name was both sent and run by a script (GET), only the
// sent calls' share of its usec is taken, at the mean usec per call.
func serverWork(before, after map[string]cmdStat, sent map[string]int64) (usec, calls float64, err error) {
	for name, n := range sent {
		if dc := after[name].calls - before[name].calls; dc < n {
			return 0, 0, fmt.Errorf("the client sent %d %s, the server counted %d", n, name, dc)
		}
	}
	for name, a := range after {
		if name == "info" {
			continue
		}
		dc, du := a.calls-before[name].calls, a.usec-before[name].usec
		calls += float64(dc)
		if n := sent[name]; n > 0 {
			usec += float64(du) * float64(n) / float64(dc)
		}
	}
	return usec, calls, nil
}

// privateRedis starts redis-server on a free loopback port, with nothing
// persisted, and returns its address; it is killed at cleanup. It skips b
// if there is no redis-server on PATH.
func privateRedis(b *testing.B) string {
	b.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		b.Skipf("redis-server not installed (Debian: apt-get install redis-server): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	dir := b.TempDir()
	logFile := filepath.Join(dir, "redis.log")
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", logFile)
	killWithParent(cmd)
	if err := cmd.Start(); err != nil {
		b.Fatalf("start redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return addr
		}
		select {
		case <-done:
			err = errors.New("exited")
		default:
			if time.Now().Before(deadline) {
				continue
			}
		}
		log, _ := os.ReadFile(logFile)
		b.Fatalf("redis-server on %s does not answer PING: %v\n%s", addr, err, log)
	}
}

func TestParseInfo(t *testing.T) {
	const cpu = "# CPU\r\nused_cpu_sys:8.98\r\nused_cpu_user:8.06\r\n" +
		"used_cpu_sys_main_thread:1.500000\r\nused_cpu_user_main_thread:0.250000\r\n\r\n"
	got, err := parseInfo(cpu + "# Commandstats\r\n" +
		"cmdstat_get:calls=3,usec=12,usec_per_call=4.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_config|resetstat:calls=1,usec=68,usec_per_call=68.00,rejected_calls=0,failed_calls=0\r\n")
	if err != nil {
		t.Fatal(err)
	}
	want := serverStats{cpu: 1.75, cmds: map[string]cmdStat{"get": {3, 12}, "config|resetstat": {1, 68}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{
		cpu + "cmdstat_get:calls=x,usec=1\r\n",
		"cmdstat_get:calls=1,usec=1\r\n",
		"used_cpu_sys_main_thread:1\r\nused_cpu_user_main_thread:x\r\n",
	} {
		if _, err := parseInfo(bad); err == nil {
			t.Errorf("parseInfo(%q) accepted it", bad)
		}
	}
}

func TestServerWork(t *testing.T) {
	before := map[string]cmdStat{"get": {10, 100}, "info": {1, 20}, "set": {5, 50}}
	// Two requests, each sending GET and EVALSHA; the script runs GET and
	// SET. INFO ran once more, for the reading before.
	after := map[string]cmdStat{"get": {14, 108}, "info": {2, 45}, "set": {7, 56}, "evalsha": {2, 40}}
	usec, calls, err := serverWork(before, after, map[string]int64{"get": 2, "evalsha": 2})
	if err != nil {
		t.Fatal(err)
	}
	// GET: 2 of its 4 calls were sent, so half its 8 usec; EVALSHA: 40.
	if usec != 44 || calls != 8 {
		t.Errorf("usec %v, calls %v; want 44, 8", usec, calls)
	}
	if _, _, err := serverWork(before, after, map[string]int64{"get": 5}); err == nil {
		t.Error("5 GETs sent and 4 counted: no error")
	}
}
