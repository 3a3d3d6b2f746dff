package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/typedsession/session/codec"
)

// redisURL returns the Redis server for the demo's Redis tests, skipping
// the test when none answers unless SESSION_REQUIRE_REDIS=1.
func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("SESSION_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/15"
	}
	_, closeStore, err := openRedis(u, discard())
	if err != nil {
		if os.Getenv("SESSION_REQUIRE_REDIS") == "1" {
			t.Fatalf("Redis required (SESSION_REQUIRE_REDIS=1): %v", err)
		}
		t.Skipf("no Redis at %s (%v); start redis-server or set SESSION_REDIS_URL to run this test", u, err)
	}
	_ = closeStore()
	return u
}

// startRedisDemo serves the demo app with -backend redis and the given
// codec, as a fresh process of the demo would.
func startRedisDemo(t *testing.T, redisURL string, c codec.Codec) *demo {
	t.Helper()
	store, closeStore, err := openRedis(redisURL, discard())
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

// TestRedisBackendSurvivesRestartsAcrossCodecs logs in under -codec json,
// then "restarts" the demo under msgpack and then gob on the same Redis:
// the session keeps working and keeps its data.
func TestRedisBackendSurvivesRestartsAcrossCodecs(t *testing.T) {
	u := redisURL(t)
	first := startRedisDemo(t, u, codec.JSON)
	visitor := first.client()
	visitor.login("ada")
	visitor.do("POST", "/cart", url.Values{"item": {"tea"}}, acceptJSON).want(t, http.StatusOK)

	for i, c := range []codec.Codec{codec.MsgPack, codec.Gob} {
		d := startRedisDemo(t, u, c)
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

// TestRedisParallelVisits: 64 concurrent POST /visit on one session, all
// through Redis, end at exactly 64.
func TestRedisParallelVisits(t *testing.T) {
	d := startRedisDemo(t, redisURL(t), codec.MsgPack)
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
		t.Errorf("visits %d after 64 parallel POST /visit on Redis, want 64", got.Visits)
	}
}

// TestRedisSessionsPerUser: listing and logging out everywhere on Redis.
func TestRedisSessionsPerUser(t *testing.T) {
	checkLogoutAllOn(t, startRedisDemo(t, redisURL(t), codec.MsgPack))
}
