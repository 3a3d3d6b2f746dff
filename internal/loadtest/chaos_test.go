package loadtest_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session/backend/pgstore"
	"github.com/typedsession/session/backend/redisstore"
	"github.com/typedsession/session/internal/testserver"
)

// Chaos: the load runs over HTTP on a private server that is killed
// (SIGKILL) in the middle of the run and started again on the same port
// and data, twice, with the same manager, store and client or pool.
//
//	go test -run TestChaos -v ./internal/loadtest/
//
// Every request that ran entirely while the server was dead got 503
// (never 401, a cleared cookie or 500); no request anywhere got a 401
// before its session had been renewed or destroyed; every increment
// answered 200 is in the final counter, which counts no more than those
// plus the failed increments whose outcome is unknown (data lost must be
// 0); no destroyed session answers again; once the server is back,
// requests succeed without restarting anything.

// chaosKills is how many times a run kills its server.
const chaosKills = 2

// killable is a private server: testserver.Redis or testserver.Postgres.
type killable interface {
	Kill()
	Start() error
	LogTail() string
}

// chaos runs the load on h, whose store lives on srv, while it kills srv
// chaosKills times, and checks and reports the run.
func chaos(t *testing.T, name string, h http.Handler, srv killable) {
	var (
		windows   []window
		recovered []time.Duration
		lastBack  int64 // the clock when the app answered again after the last restart
		kills     int
	)
	during := func(l *load) {
		time.Sleep(500 * time.Millisecond) // up, under load: before each kill, and after the last restart
		if kills == chaosKills {
			return
		}
		srv.Kill()
		w := window{from: l.tick()}
		time.Sleep(time.Second)
		w.to = l.tick()
		windows = append(windows, w)
		kills++
		begin := time.Now()
		if err := srv.Start(); err != nil {
			l.violate("restart %d: %v\n%s", kills, err, srv.LogTail())
			kills = chaosKills
			return
		}
		// The same app, manager and client or pool serve again: a
		// login (a write) succeeds.
		for {
			if res := l.do("POST", "/login?id=probe", ""); res.code == http.StatusOK {
				break
			}
			if time.Since(begin) > 15*time.Second {
				l.violate("restart %d: the app still fails 15s after the server is back", kills)
				kills = chaosKills
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		recovered = append(recovered, time.Since(begin).Round(time.Millisecond))
		lastBack = l.tick()
	}
	// One more cycle than kills: the load goes on after the last restart.
	cfg := config{goroutines: 100, sessions: 25, steps: 20, cycles: chaosKills + 1, overHTTP: true}
	l := run(t, name, h, cfg, during)

	l.checkOutages(t, windows)
	served := 0
	for _, a := range l.answers {
		if a.start > lastBack && a.code == http.StatusOK {
			served++
		}
	}
	if lastBack == 0 || served == 0 {
		t.Errorf("%s: no request answered 200 after the last restart", name)
	}
	t.Logf("%s: killed %d times (SIGKILL, restarted after 1s), the app answered again %v after each restart; %d requests answered 200 after the last",
		name, len(windows), recovered, served)
	l.verify(t, false)
}

// TestChaosRedis runs the chaos on a private redis-server that appends
// every write to its file and fsyncs it before it replies (appendonly
// yes, appendfsync always): what it acknowledged survives a kill.
func TestChaosRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a private redis-server")
	}
	bin, _ := testserver.RedisBinaries(t)
	srv := testserver.StartRedis(t, bin, t.TempDir(), testserver.FreePorts(t, 1)[0],
		"--appendonly", "yes", "--appendfsync", "always")
	ctx := context.Background()
	for param, want := range map[string]string{"appendonly": "yes", "appendfsync": "always"} {
		if got, err := srv.Client(t).ConfigGet(ctx, param).Result(); err != nil || got[param] != want {
			t.Fatalf("CONFIG GET %s: %v %v, want %s", param, got, err, want)
		}
	}
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 64, DialTimeout: 250 * time.Millisecond})
	defer client.Close()
	chaos(t, "redis chaos", app(t, redisstore.New(client)), srv)
}

// TestChaosPostgres runs the chaos on a private PostgreSQL server with
// durable commits (fsync and synchronous_commit on, the defaults),
// killed with its backends, which recovers from its write-ahead log.
func TestChaosPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a private PostgreSQL server")
	}
	srv := testserver.StartPostgres(t)
	cfg, err := pgxpool.ParseConfig(srv.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx := context.Background()
	for _, param := range []string{"fsync", "synchronous_commit"} {
		var got string
		if err := pool.QueryRow(ctx, "SHOW "+param).Scan(&got); err != nil || got != "on" {
			t.Fatalf("SHOW %s: %q %v, want on", param, got, err)
		}
	}
	if err := pgstore.CreateTable(ctx, pool); err != nil {
		t.Fatal(err)
	}
	store, err := pgstore.New(pool, pgstore.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	chaos(t, "postgres chaos", app(t, store), srv)
}
