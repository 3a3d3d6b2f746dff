package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/typedsession/session/codec"
)

// postgresTable returns the PostgreSQL database for the demo's PostgreSQL
// tests and a table name of the test's own, dropped at cleanup, skipping
// the test when no server answers unless SESSION_REQUIRE_POSTGRES=1.
func postgresTable(t *testing.T) (dbURL, table string) {
	t.Helper()
	dbURL = os.Getenv("SESSION_POSTGRES_URL")
	if dbURL == "" {
		dbURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		if os.Getenv("SESSION_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL required (SESSION_REQUIRE_POSTGRES=1): %v", err)
		}
		t.Skipf("no PostgreSQL at %s (%v); start one or set SESSION_POSTGRES_URL to run this test", dbURL, err)
	}
	_ = conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	table = "demo_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Errorf("drop %s: %v", table, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS `+table); err != nil {
			t.Errorf("drop %s: %v", table, err)
		}
	})
	return dbURL, table
}

// startPostgresDemo serves the demo app with -backend postgres and the
// given codec, as a fresh process of the demo would (creating the table if
// it is missing).
func startPostgresDemo(t *testing.T, dbURL, table string, c codec.Codec) *demo {
	t.Helper()
	store, closeStore, err := openPostgres(dbURL, table, discard())
	if err != nil {
		t.Fatal(err)
	}
	d := &demo{t: t}
	faulty, appStore := withFaults(store)
	d.store = faulty
	h, err := newApp(appConfig{Store: appStore, Codec: c, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	d.url = srv.URL
	t.Cleanup(func() {
		srv.Close()
		_ = closeStore()
	})
	return d
}

// TestPostgresBackendSurvivesRestartsAcrossCodecs logs in under -codec
// json, then "restarts" the demo under msgpack and then gob on the same
// table: the session keeps working and keeps its data.
func TestPostgresBackendSurvivesRestartsAcrossCodecs(t *testing.T) {
	dbURL, table := postgresTable(t)
	first := startPostgresDemo(t, dbURL, table, codec.JSON)
	visitor := first.client()
	visitor.login("ada")
	visitor.do("POST", "/cart", url.Values{"item": {"tea"}}, acceptJSON).want(t, http.StatusOK)

	for i, c := range []codec.Codec{codec.MsgPack, codec.Gob} {
		d := startPostgresDemo(t, dbURL, table, c)
		visitor.d = d
		me := visitor.do("GET", "/me", nil, acceptJSON)
		me.want(t, http.StatusOK)
		if got := me.session(t); got.User != "ada" || len(got.Cart) != 1 || got.Visits != i {
			t.Fatalf("under %s after a restart: %+v", c.Name(), got)
		}
		visitor.do("POST", "/visit", nil, acceptJSON).want(t, http.StatusOK)
	}
	if got := visitor.do("GET", "/me", nil, acceptJSON).session(t); got.Visits != 2 || got.Cart[0] != "tea" {
		t.Errorf("final session %+v", got)
	}
}

// TestPostgresParallelVisits: 64 concurrent POST /visit on one session,
// all through PostgreSQL, end at exactly 64.
func TestPostgresParallelVisits(t *testing.T) {
	dbURL, table := postgresTable(t)
	d := startPostgresDemo(t, dbURL, table, codec.MsgPack)
	c := d.client()
	c.login("ada")
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if res := c.do("POST", "/visit", nil, acceptJSON); res.StatusCode != http.StatusOK {
				t.Errorf("status %d: %s", res.StatusCode, res.body)
			}
		})
	}
	wg.Wait()
	if got := c.do("GET", "/me", nil, acceptJSON).session(t); got.Visits != 64 {
		t.Errorf("visits %d after 64 parallel POST /visit on PostgreSQL, want 64", got.Visits)
	}
}

// TestPostgresSessionsPerUser: listing and logging out everywhere on
// PostgreSQL.
func TestPostgresSessionsPerUser(t *testing.T) {
	dbURL, table := postgresTable(t)
	checkLogoutAllOn(t, startPostgresDemo(t, dbURL, table, codec.MsgPack))
}
