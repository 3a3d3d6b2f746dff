package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/typedsession/session/backend/pgstore"
	"github.com/typedsession/session/codec"
)

// queries counts the statements a pgx pool runs: one round trip each.
type queries struct{ n atomic.Int64 }

func (q *queries) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	return ctx
}

func (q *queries) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// postgresPool connects to SESSION_POSTGRES_URL (default database test on
// the local server) in a schema of the benchmark's own, which holds scs's
// fixed "sessions" table and pgstore's, and is dropped afterwards; or
// skips the benchmark.
func postgresPool(b *testing.B) (*pgxpool.Pool, *queries) {
	b.Helper()
	u := os.Getenv("SESSION_POSTGRES_URL")
	if u == "" {
		u = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, u)
	if err != nil {
		b.Skipf("no PostgreSQL at %s: %v", u, err)
	}
	defer admin.Close(ctx)
	var r [6]byte
	_, _ = rand.Read(r[:])
	schema := "bench_" + hex.EncodeToString(r[:])
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+schema+`;
CREATE TABLE `+schema+`.sessions (token text PRIMARY KEY, data bytea NOT NULL, expiry timestamptz NOT NULL);
CREATE INDEX ON `+schema+`.sessions (expiry)`); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			b.Error(err)
		}
	})
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		b.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	counter := &queries{}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if err := pgstore.CreateTable(ctx, pool, pgstore.WithTable(schema+".typed_sessions")); err != nil {
		b.Fatal(err)
	}
	return pool, counter
}

// runQueries is run, reporting PostgreSQL round trips per request.
func runQueries(b *testing.B, h http.Handler, cookie string, q *queries) {
	b.Helper()
	q.n.Store(0)
	run(b, h, cookie)
	b.ReportMetric(float64(q.n.Load())/float64(b.N), "roundtrips/op")
}

// BenchmarkPostgresTypedSession: this library on PostgreSQL (pgstore).
func BenchmarkPostgresTypedSession(b *testing.B) {
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			pool, q := postgresPool(b)
			store, err := pgstore.New(pool, pgstore.WithTable("typed_sessions"), pgstore.WithSweepInterval(0))
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			h, cookie := typedSession(b, store, codec.MsgPack, k.kind, user)
			runQueries(b, h, cookie, q)
		})
	}
}

// BenchmarkPostgresSCS: alexedwards/scs with its pgx store and an idle
// timeout.
func BenchmarkPostgresSCS(b *testing.B) {
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			pool, q := postgresPool(b)
			h, cookie := scsSession(b, pgxstore.NewWithCleanupInterval(pool, time.Duration(0)), k.kind, user)
			runQueries(b, h, cookie, q)
		})
	}
}
