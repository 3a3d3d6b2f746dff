// Command demo is the reference application of
// github.com/typedsession/session: a login, a cart and a visit counter
// kept in a typed session, with guarded routes that answer browsers with
// pages and API clients with JSON.
//
// Run it with no setup (sessions in memory):
//
//	go run ./examples/demo
//
// and open the URL it prints. Every flag has an environment variable as a
// fallback; a flag given on the command line wins:
//
//	-addr      ADDR              listen address (default 127.0.0.1:8080)
//	-backend      SESSION_BACKEND   memory, redis, postgres or cookie (default memory)
//	-codec        SESSION_CODEC     json, msgpack or gob (default msgpack)
//	-transport    SESSION_TRANSPORT cookie, header or cookie-or-header (default cookie)
//	-redis-url    REDIS_URL         Redis URL for -backend redis
//	-database-url DATABASE_URL      PostgreSQL URL for -backend postgres
//	-secret       SESSION_SECRET    key material for -backend cookie
//	-idle         SESSION_IDLE      idle timeout (default 30m)
//	-lifetime     SESSION_LIFETIME  absolute lifetime (default 12h)
//
// With -backend postgres the demo creates its table ("sessions") at start
// if it does not exist, so it runs against an empty database.
//
// The HTTP routes: GET / (the page), POST /login (form fields user and
// remember), GET /me, POST /visit, POST /cart (form field item), GET
// /admin (admins only), POST /logout, POST /logout-all (every session of
// the user), GET /sessions (the user's sessions), POST /sessions/revoke
// (form field handle, from GET /sessions) and GET /healthz. Send Accept:
// application/json to get JSON instead of pages and redirects. Listing
// and ending a user's sessions needs a backend that indexes them by user
// (memory, redis, postgres); on the cookie backend those routes answer
// 501.
//
// The session cookie is Secure: browsers send it to http://localhost and
// http://127.0.0.1, and elsewhere only over HTTPS, so serve the demo behind
// a TLS proxy when it listens on another address.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/typedsession/session"
	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/backend/cookiestore"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/backend/pgstore"
	"github.com/typedsession/session/backend/redisstore"
	"github.com/typedsession/session/codec"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once
	}()
	err := run(ctx, os.Args[1:], os.Getenv, log, nil)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		log.Error("demo stopped", slog.Any("error", err))
		os.Exit(1)
	}
}

// errUsage marks command-line errors; the flag package has printed them.
var errUsage = errors.New("usage")

// config is the demo's configuration, from flags and the environment.
type config struct {
	Addr        string
	Backend     string
	Codec       string
	Transport   string
	RedisURL    string
	DatabaseURL string
	Secret      string
	Idle        time.Duration
	Lifetime    time.Duration
}

// parseConfig reads the flags in args, then the environment (through
// getenv) for the flags not given. Usage and flag errors go to out.
// Environment values are not flag defaults, so -h never prints a secret.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "listen `address` (env ADDR)")
	fs.StringVar(&cfg.Backend, "backend", "memory", "session store: memory, redis, postgres or cookie (env SESSION_BACKEND)")
	fs.StringVar(&cfg.Codec, "codec", "msgpack", "session encoding: "+strings.Join(codec.Names(), ", ")+" (env SESSION_CODEC)")
	fs.StringVar(&cfg.Transport, "transport", "cookie", "how session IDs travel: cookie, header (Authorization: Bearer) or cookie-or-header (env SESSION_TRANSPORT)")
	fs.StringVar(&cfg.RedisURL, "redis-url", "", "Redis `URL` for -backend redis (env REDIS_URL)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL `URL` for -backend postgres (env DATABASE_URL)")
	fs.StringVar(&cfg.Secret, "secret", "", "key material for -backend cookie, at least 32 bytes; prefer the env SESSION_SECRET, flags show in ps")
	fs.DurationVar(&cfg.Idle, "idle", session.DefaultIdleTimeout, "idle timeout (env SESSION_IDLE)")
	fs.DurationVar(&cfg.Lifetime, "lifetime", session.DefaultLifetime, "absolute session lifetime (env SESSION_LIFETIME)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %q\n", fs.Args())
		fs.Usage()
		return cfg, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	// The environment variable read for each flag not on the command line.
	envFallbacks := []struct{ flag, env string }{
		{"addr", "ADDR"},
		{"backend", "SESSION_BACKEND"},
		{"codec", "SESSION_CODEC"},
		{"transport", "SESSION_TRANSPORT"},
		{"redis-url", "REDIS_URL"},
		{"database-url", "DATABASE_URL"},
		{"secret", "SESSION_SECRET"},
		{"idle", "SESSION_IDLE"},
		{"lifetime", "SESSION_LIFETIME"},
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, fb := range envFallbacks {
		if v := getenv(fb.env); v != "" && !given[fb.flag] {
			if err := fs.Set(fb.flag, v); err != nil {
				return cfg, fmt.Errorf("environment %s=%q is not a valid -%s: %w", fb.env, v, fb.flag, err)
			}
		}
	}
	if cfg.Idle <= 0 || cfg.Lifetime <= 0 {
		return cfg, fmt.Errorf("-idle %v and -lifetime %v must be positive", cfg.Idle, cfg.Lifetime)
	}
	return cfg, nil
}

// run starts the demo and serves until ctx is done, then shuts down
// gracefully: in-flight requests finish (for up to 10 seconds), then the
// store is closed. ready, if not nil, is called with the URL once the
// server listens.
func run(ctx context.Context, args []string, getenv func(string) string, log *slog.Logger, ready func(url string)) error {
	cfg, err := parseConfig(args, getenv, os.Stderr)
	if err != nil {
		return err
	}
	c, err := codec.Lookup(cfg.Codec)
	if err != nil {
		return fmt.Errorf("-codec: %w", err)
	}
	tr, err := session.ParseTransport(cfg.Transport)
	if err != nil {
		return fmt.Errorf("-transport: %w", err)
	}
	store, closeStore, err := openStore(cfg, log)
	if err != nil {
		return err
	}
	h, err := newApp(appConfig{Store: store, Codec: c, Transport: tr, IdleTimeout: cfg.Idle, Lifetime: cfg.Lifetime, Logger: log})
	if err != nil {
		return errors.Join(err, closeStore())
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return errors.Join(err, closeStore())
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	url := listenURL(ln.Addr())
	log.Info("demo listening", slog.String("url", url),
		slog.String("backend", cfg.Backend), slog.String("codec", c.Name()),
		slog.Duration("idle", cfg.Idle), slog.Duration("lifetime", cfg.Lifetime))
	if !isLoopback(ln.Addr()) {
		log.Warn("the session cookie is Secure: browsers send it over plain HTTP only to localhost; put a TLS proxy in front")
	}
	if ready != nil {
		ready(url)
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return errors.Join(err, closeStore())
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return errors.Join(err, closeStore())
}

// openStore opens the session store named by cfg.Backend and returns it
// with the function that closes it. Adding a backend is one case here.
func openStore(cfg config, log *slog.Logger) (backend.Store, func() error, error) {
	switch cfg.Backend {
	case "memory":
		s := memstore.New()
		log.Info("sessions are kept in memory and end when the demo stops")
		return s, s.Close, nil
	case "redis":
		return openRedis(cfg.RedisURL, log)
	case "postgres":
		return openPostgres(cfg.DatabaseURL, pgstore.DefaultTable, log)
	case "cookie":
		keys, err := cookieKeys(cfg.Secret, log)
		if err != nil {
			return nil, nil, err
		}
		log.Info("sessions are sealed into the cookie (AES-256 + HMAC-SHA256); the server keeps none")
		return cookiestore.New(keys), func() error { return nil }, nil
	default:
		return nil, nil, fmt.Errorf("-backend %q: unknown backend (want memory, redis, postgres or cookie)", cfg.Backend)
	}
}

// defaultRedisURL is the Redis server used when neither -redis-url nor
// REDIS_URL names one.
const defaultRedisURL = "redis://127.0.0.1:6379/0"

// openRedis connects to the Redis server at rawURL and checks that it
// answers, so a wrong URL fails at start rather than on the first visitor.
// Later outages are not fatal: requests get 503 until Redis is back.
func openRedis(rawURL string, log *slog.Logger) (backend.Store, func() error, error) {
	if rawURL == "" {
		rawURL = defaultRedisURL
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("-redis-url: %w", err)
	}
	// Socket deadlines follow the request's context: redisstore then bounds
	// each call without a goroutine of its own.
	opts.ContextTimeoutEnabled = true
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("-backend redis: cannot reach %s: %w", redactURL(opts), err), client.Close())
	}
	log.Info("sessions are kept in Redis", slog.String("redis", redactURL(opts)))
	return redisstore.New(client), client.Close, nil
}

// redactURL names a Redis server without its password.
func redactURL(o *redis.Options) string {
	return fmt.Sprintf("%s db %d", o.Addr, o.DB)
}

// defaultDatabaseURL is the PostgreSQL database used when neither
// -database-url nor DATABASE_URL names one.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// openPostgres connects to the PostgreSQL database at rawURL, checks that
// it answers and creates the session table if it does not exist, so a
// wrong URL fails at start rather than on the first visitor. Later outages
// are not fatal: requests get 503 until the database is back.
func openPostgres(rawURL, table string, log *slog.Logger) (backend.Store, func() error, error) {
	if rawURL == "" {
		rawURL = defaultDatabaseURL
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, nil, errors.New("-database-url: not a PostgreSQL URL or connection string") // the error may quote a password
	}
	// A request whose context ends cancels its statement on the server
	// instead of leaving it to run (pgstore's documentation).
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: time.Second}
	}
	where := fmt.Sprintf("%s:%d database %s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("-backend postgres: %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("-backend postgres: cannot reach %s: %w", where, err)
	}
	if err := pgstore.CreateTable(ctx, pool, pgstore.WithTable(table)); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("-backend postgres: %s: %w", where, err)
	}
	store, err := pgstore.New(pool, pgstore.WithTable(table), pgstore.WithLogger(log))
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	log.Info("sessions are kept in PostgreSQL", slog.String("postgres", where), slog.String("table", table))
	return store, func() error {
		err := store.Close()
		pool.Close()
		return err
	}, nil
}

// cookieKeys derives the cookie store's key pair from secret with
// cookiestore.KeyPairFromSecret (HKDF-SHA256). With an empty secret it
// derives them from random bytes and warns that sessions will not survive
// a restart, since nothing else can open them then.
func cookieKeys(secret string, log *slog.Logger) (cookiestore.KeyPair, error) {
	ikm := []byte(secret)
	if secret == "" {
		log.Warn("no -secret or SESSION_SECRET: using random cookie keys; sessions end when the demo restarts")
		ikm = make([]byte, cookiestore.MinSecretLen)
		if _, err := rand.Read(ikm); err != nil {
			return cookiestore.KeyPair{}, err
		}
	}
	keys, err := cookiestore.KeyPairFromSecret(ikm)
	if err != nil {
		return cookiestore.KeyPair{}, fmt.Errorf("-secret: %w; use at least %d random bytes", err, cookiestore.MinSecretLen)
	}
	return keys, nil
}

// listenURL is the URL to open for a server listening on addr. An
// unspecified address (all interfaces) is shown as localhost.
func listenURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	host := tcp.IP.String()
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}

func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
