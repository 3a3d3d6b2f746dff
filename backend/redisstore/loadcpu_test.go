package redisstore_test

import (
	"bufio"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/redisstore"
	"github.com/typedsession/session/internal/testserver"
)

// TestLoadRouting: Load reads with a pipelined GET and PTTL, except through
// a cluster client that sends read-only commands to replicas, where it
// runs the load script so as to read the primary.
func TestLoadRouting(t *testing.T) {
	mr := miniredisServer(t)
	for _, tc := range []struct {
		name   string
		client redis.UniversalClient
		script bool
	}{
		{"Client", redis.NewClient(&redis.Options{Addr: mr.Addr()}), false},
		{"ClusterClient", redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{mr.Addr()}}), false},
		{"ClusterClient ReadOnly", redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{mr.Addr()}, ReadOnly: true}), true},
		{"ClusterClient RouteByLatency", redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{mr.Addr()}, RouteByLatency: true}), true},
		{"ClusterClient RouteRandomly", redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{mr.Addr()}, RouteRandomly: true}), true},
	} {
		if got := redisstore.LoadsByScript(redisstore.New(tc.client)); got != tc.script {
			t.Errorf("%s: Load by script %t, want %t", tc.name, got, tc.script)
		}
		_ = tc.client.Close()
	}
}

// BenchmarkLoadServerCPU measures the Redis server's CPU time per Load,
// pipelined (GET, PTTL) and by script (EVALSHA), from INFO commandstats
// (usec per call of the commands each sends) on a private redis-server, so
// that no other client's commands count. The metric is redis-µs/op.
//
//	go test -run '^$' -bench LoadServerCPU ./backend/redisstore/
func BenchmarkLoadServerCPU(b *testing.B) {
	server, _ := testserver.RedisBinaries(b)
	proc := testserver.StartRedis(b, server, b.TempDir(), testserver.FreePorts(b, 1)[0])
	c := proc.Client(b)
	s := redisstore.New(c)
	ctx := context.Background()
	const key = "bench-key-0123456789012345678901234567890"
	if _, err := s.Create(ctx, key, make([]byte, 512), time.Hour); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cmds []string // the commands one Load sends, as commandstats names them
		load func() (backend.Record, error)
	}{
		{"pipeline", []string{"get", "pttl"}, func() (backend.Record, error) { return s.Load(ctx, key) }},
		{"script", []string{"evalsha"}, func() (backend.Record, error) { return redisstore.LoadByScript(s, ctx, key) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if _, err := tc.load(); err != nil { // caches the script
				b.Fatal(err)
			}
			if err := c.ConfigResetStat(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := tc.load(); err != nil {
					b.Fatal(err)
				}
			}
			usec := 0.0
			for _, cmd := range tc.cmds {
				usec += commandUsec(b, c, cmd)
			}
			b.ReportMetric(usec/float64(b.N), "redis-µs/op")
		})
	}
}

// commandUsec returns the total usec INFO commandstats reports for cmd.
func commandUsec(b *testing.B, c *redis.Client, cmd string) float64 {
	b.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		stats, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "cmdstat_"+cmd+":")
		if !ok {
			continue
		}
		for field := range strings.SplitSeq(stats, ",") {
			if v, ok := strings.CutPrefix(field, "usec="); ok {
				n, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatal(err)
				}
				return n
			}
		}
	}
	b.Fatalf("no cmdstat_%s in INFO commandstats", cmd)
	return 0
}
