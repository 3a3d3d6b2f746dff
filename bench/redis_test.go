package bench

import (
	"context"
	"net/http"
	"os"
	"sync/atomic"
	"testing"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session/backend/redisstore"
	"github.com/typedsession/session/codec"
)

// roundTrips counts the commands and pipelines a go-redis client sends.
type roundTrips struct{ n atomic.Int64 }

func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// redisClient connects to SESSION_REDIS_URL (default database 15 on the
// local server) or skips the benchmark.
func redisClient(b *testing.B) (*redis.Client, *roundTrips) {
	b.Helper()
	u := os.Getenv("SESSION_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/15"
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		b.Fatal(err)
	}
	opts.ContextTimeoutEnabled = true // as the README recommends
	client := redis.NewClient(opts)
	b.Cleanup(func() { _ = client.Close() })
	if err := client.Ping(context.Background()).Err(); err != nil {
		b.Skipf("no Redis at %s: %v", u, err)
	}
	counter := &roundTrips{}
	client.AddHook(counter)
	return client, counter
}

// runCounted is run, reporting Redis round trips per request.
func runCounted(b *testing.B, h http.Handler, cookie string, rt *roundTrips) {
	b.Helper()
	rt.n.Store(0)
	run(b, h, cookie)
	b.ReportMetric(float64(rt.n.Load())/float64(b.N), "roundtrips/op")
}

// BenchmarkRedisTypedSession: this library on Redis.
func BenchmarkRedisTypedSession(b *testing.B) {
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			client, rt := redisClient(b)
			h, cookie := typedSession(b, redisstore.New(client), codec.MsgPack, k.kind, user)
			runCounted(b, h, cookie, rt)
		})
	}
}

// BenchmarkRedisSCS: alexedwards/scs with its go-redis store and an idle
// timeout.
func BenchmarkRedisSCS(b *testing.B) {
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			client, rt := redisClient(b)
			h, cookie := scsSession(b, goredisstore.New(client), k.kind, user)
			runCounted(b, h, cookie, rt)
		})
	}
}
