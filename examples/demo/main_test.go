package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/cookiestore"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := parseConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{Addr: "127.0.0.1:8080", Backend: "memory", Codec: "msgpack", Transport: "cookie", Idle: 30 * time.Minute, Lifetime: 12 * time.Hour}
	if cfg != want {
		t.Errorf("%+v, want %+v", cfg, want)
	}
}

func TestParseConfigEnvAndFlags(t *testing.T) {
	vars := map[string]string{
		"ADDR": "127.0.0.1:9000", "SESSION_BACKEND": "redis", "SESSION_CODEC": "json", "SESSION_TRANSPORT": "header",
		"REDIS_URL": "redis://db:6379/1", "DATABASE_URL": "postgres://db/s", "SESSION_SECRET": "s3cret", "SESSION_IDLE": "5m", "SESSION_LIFETIME": "1h",
	}
	cfg, err := parseConfig(nil, env(vars), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{Addr: "127.0.0.1:9000", Backend: "redis", Codec: "json", Transport: "header", RedisURL: "redis://db:6379/1",
		DatabaseURL: "postgres://db/s", Secret: "s3cret", Idle: 5 * time.Minute, Lifetime: time.Hour}
	if cfg != want {
		t.Errorf("from the environment: %+v, want %+v", cfg, want)
	}

	// Flags win over the environment.
	cfg, err = parseConfig([]string{"-addr", ":0", "-backend", "memory", "-codec", "gob", "-transport", "cookie-or-header", "-redis-url", "redis://x",
		"-database-url", "postgres://x", "-secret", "flag", "-idle", "1m", "-lifetime", "2h"}, env(vars), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want = config{Addr: ":0", Backend: "memory", Codec: "gob", Transport: "cookie-or-header", RedisURL: "redis://x", DatabaseURL: "postgres://x", Secret: "flag", Idle: time.Minute, Lifetime: 2 * time.Hour}
	if cfg != want {
		t.Errorf("flags over the environment: %+v, want %+v", cfg, want)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-nope"}, nil, "flag provided but not defined"},
		{[]string{"extra"}, nil, "unexpected arguments"},
		{[]string{"-idle", "soon"}, nil, "invalid value"},
		{[]string{"-idle", "0s"}, nil, "must be positive"},
		{[]string{"-lifetime", "-1h"}, nil, "must be positive"},
		{nil, map[string]string{"SESSION_IDLE": "soon"}, `SESSION_IDLE="soon" is not a valid -idle`},
	} {
		_, err := parseConfig(tc.args, env(tc.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConfig(%q, %v): %v, want an error with %q", tc.args, tc.env, err, tc.want)
		}
	}
	if _, err := parseConfig([]string{"-h"}, env(nil), io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestParseConfigHelpHidesSecrets(t *testing.T) {
	const secret = "hunter2hunter2hunter2hunter2hunter2"
	vars := map[string]string{"SESSION_SECRET": secret, "REDIS_URL": "redis://:" + secret + "@db"}
	var usage bytes.Buffer
	if _, err := parseConfig([]string{"-h"}, env(vars), &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	if !strings.Contains(usage.String(), "-secret") {
		t.Fatalf("usage %q", usage.String())
	}
	if strings.Contains(usage.String(), "hunter2") {
		t.Errorf("usage shows the secret:\n%s", usage.String())
	}
}

func TestOpenStore(t *testing.T) {
	s, closeStore, err := openStore(config{Backend: "memory"}, discard())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(context.Background(), "k"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Load on a new store: %v", err)
	}
	if err := closeStore(); err != nil {
		t.Error(err)
	}
	cs, closeCookies, err := openStore(config{Backend: "cookie", Secret: strings.Repeat("s", 32)}, discard())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cs.(backend.Sealer); !ok {
		t.Errorf("-backend cookie opened a %T, not a client-side store", cs)
	}
	if err := closeCookies(); err != nil {
		t.Error(err)
	}
	if _, _, err := openStore(config{Backend: "cookie", Secret: "short"}, discard()); !errors.Is(err, cookiestore.ErrWeakSecret) {
		t.Errorf("-backend cookie -secret short: %v, want ErrWeakSecret", err)
	}
	for url, want := range map[string]string{
		"redis://127.0.0.1:1/0":  "cannot reach 127.0.0.1:1",
		"postgres://db/sessions": "-redis-url",
	} {
		if _, _, err := openStore(config{Backend: "redis", RedisURL: url}, discard()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("-backend redis -redis-url %s: %v, want an error with %q", url, err, want)
		}
	}
	for url, want := range map[string]string{
		"postgres://postgres@127.0.0.1:1/test?connect_timeout=2": "cannot reach 127.0.0.1:1 database test",
		"postgres://u:hunter2@db:x/test":                         "-database-url",
	} {
		_, _, err := openStore(config{Backend: "postgres", DatabaseURL: url}, discard())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("-backend postgres -database-url %s: %v, want an error with %q", url, err, want)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("-backend postgres -database-url %s: %v shows the password", url, err)
		}
	}
	if _, _, err := openStore(config{Backend: "sqlite"}, discard()); err == nil || !strings.Contains(err.Error(), "unknown backend") {
		t.Errorf("-backend sqlite: %v", err)
	}
}

func TestCookieKeys(t *testing.T) {
	// Keys are opaque: compare them by what they seal and open.
	opens := func(sealWith, openWith cookiestore.KeyPair) bool {
		v, err := cookiestore.New(sealWith).Seal("session", []byte("record"))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = cookiestore.New(openWith).Open("session", v)
		return err == nil
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	r1, err := cookieKeys("", log)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := cookieKeys("", log)
	if opens(r1, r2) || !opens(r1, r1) {
		t.Error("random keys: not random, or not working")
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "sessions end when the demo restarts") {
		t.Errorf("no warning about random keys: %q", logs.String())
	}

	secret := strings.Repeat("k", cookiestore.MinSecretLen)
	k1, err := cookieKeys(secret, discard())
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := cookieKeys(secret, discard())
	k3, _ := cookieKeys(strings.Repeat("j", cookiestore.MinSecretLen), discard())
	if !opens(k1, k2) || opens(k1, k3) {
		t.Error("keys from a secret: not deterministic, or the same for another secret")
	}
	if _, err := cookieKeys("short", discard()); !errors.Is(err, cookiestore.ErrWeakSecret) || !strings.Contains(err.Error(), "-secret") {
		t.Errorf("a short secret: %v, want ErrWeakSecret naming -secret", err)
	}
}

func TestListenURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080",
		"0.0.0.0:8080":   "http://localhost:8080",
		"[::]:8080":      "http://localhost:8080",
		"[::1]:8080":     "http://[::1]:8080",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := listenURL(a); got != want {
			t.Errorf("listenURL(%s) = %s, want %s", addr, got, want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunServesAndShutsDown starts the demo as main does, serves a request
// and stops it as a signal would.
func TestRunServesAndShutsDown(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, env(nil), log, func(url string) { urls <- url })
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not start listening")
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("URL %q", url)
	}
	res, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", res.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not shut down")
	}
	for _, want := range []string{"demo listening", "url=" + url, "shutting down", "path=/healthz status=200"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("the server still answers after shutdown")
	}
}

func TestRunRefusesBadSetups(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-backend", "redis", "-redis-url", "redis://127.0.0.1:1/0"}, "cannot reach"},
		{[]string{"-backend", "postgres", "-database-url", "postgres://postgres@127.0.0.1:1/test"}, "cannot reach"},
		{[]string{"-backend", "cookie", "-secret", "short"}, "secret too short"},
		{[]string{"-codec", "yaml"}, "unknown codec"},
		{[]string{"-addr", "256.0.0.1:1"}, "256.0.0.1"},
	} {
		err := run(context.Background(), tc.args, env(nil), discard(), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run %q: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}
