package testserver_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/typedsession/session/internal/testserver"
)

// TestRedisKillRestart kills a redis-server that appends every write to
// its file with an fsync, starts it again, and finds the write.
func TestRedisKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	bin, _ := testserver.RedisBinaries(t)
	p := testserver.StartRedis(t, bin, t.TempDir(), testserver.FreePorts(t, 1)[0],
		"--appendonly", "yes", "--appendfsync", "always")
	c := p.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	pid := p.PID()
	p.Kill()
	if p.PID() != 0 {
		t.Fatal("still running after Kill")
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered after Kill")
	}
	if err := p.Start(); err != nil {
		t.Fatalf("Start: %v\n%s", err, p.LogTail())
	}
	if p.PID() == pid || p.PID() == 0 {
		t.Errorf("PID %d after the restart, %d before", p.PID(), pid)
	}
	if v, err := c.Get(ctx, "k").Result(); v != "v" || err != nil {
		t.Errorf("GET after the restart: %q, %v", v, err)
	}
	p.Stop()
	if p.PID() != 0 {
		t.Error("still running after Stop")
	}
}

// TestPostgresKillRestart kills a private PostgreSQL server (with its
// backends) in the middle of an open connection, starts it again on the
// same port and data, and finds the committed row.
func TestPostgresKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	p := testserver.StartPostgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("the connection still works after Kill")
	}
	if err := p.Start(); err != nil {
		t.Fatalf("Start: %v\n%s", err, p.LogTail())
	}
	conn2, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(ctx)
	var v int
	if err := conn2.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 42 {
		t.Errorf("SELECT after the restart: %d, %v", v, err)
	}
}
