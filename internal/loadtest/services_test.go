package loadtest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session/backend/pgstore"
	"github.com/typedsession/session/backend/redisstore"
	"github.com/typedsession/session/internal/testserver"
)

func TestLoadRedis(t *testing.T) {
	url := os.Getenv("SESSION_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/15"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("SESSION_REDIS_URL=%q: %v", url, err)
	}
	opt.PoolSize = 64
	client := redis.NewClient(opt)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		testserver.SkipOrFail(t, "SESSION_REQUIRE_REDIS", "no Redis at %s (%v): start redis-server on 127.0.0.1:6379 or set SESSION_REDIS_URL", url, err)
	}
	// A private prefix: the run neither sees nor touches other keys, and
	// removes its own at the end.
	prefix := "loadtest:" + randomName() + ":"
	defer func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("removing the run's keys: %v", err)
		}
	}()
	l := run(t, "redis", app(t, redisstore.New(client, redisstore.WithPrefix(prefix))), sizes(), nil)
	l.verify(t, true)
}

func TestLoadPostgres(t *testing.T) {
	url := os.Getenv("SESSION_POSTGRES_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("SESSION_POSTGRES_URL=%q: %v", url, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		testserver.SkipOrFail(t, "SESSION_REQUIRE_POSTGRES", "no PostgreSQL at %s (%v): start one on 127.0.0.1:5432 (user postgres, database test, trust auth) or set SESSION_POSTGRES_URL", url, err)
	}
	_ = conn.Close(ctx)
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// A private table, dropped at the end.
	table := "loadtest_" + randomName()
	if err := pgstore.CreateTable(context.Background(), pool, pgstore.WithTable(table)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := pool.Exec(context.Background(), "DROP TABLE "+pgx.Identifier{table}.Sanitize()); err != nil {
			t.Errorf("dropping %s: %v", table, err)
		}
	}()
	store, err := pgstore.New(pool, pgstore.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	l := run(t, "postgres", app(t, store), sizes(), nil)
	l.verify(t, true)
}

// TestLoadRedisCluster runs the load on a three-node Redis Cluster the
// test starts on loopback ports (redis-server and redis-cli must be
// installed): every command of the store must stay within one hash slot
// while sessions spread over all of them.
func TestLoadRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	c, _ := testserver.StartCluster(t, 3)
	l := run(t, "redis-cluster", app(t, redisstore.New(c)), sizes(), nil)
	l.verify(t, true)
}
