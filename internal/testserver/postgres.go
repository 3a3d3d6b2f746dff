package testserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a PostgreSQL server of a test's own: a cluster initialised
// with trust authentication for the user postgres in a temporary
// directory, and the postgres process serving it on 127.0.0.1:Port (and
// a Unix socket in Dir).
type Postgres struct {
	process
	Port int
	Dir  string // the cluster's directory: data/, the socket and log
}

// StartPostgres initialises a cluster and starts a server on a free
// port, stopped and removed at cleanup. settings are "name=value" server
// settings (-c), such as "fsync=off" for a test that does not care about
// crashes; by default commits are durable (fsync on, synchronous_commit
// on). It skips t (fails it under SESSION_REQUIRE_POSTGRES=1) when the
// server's programs are missing or cannot be run.
func StartPostgres(t testing.TB, settings ...string) *Postgres {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		SkipOrFail(t, "SESSION_REQUIRE_POSTGRES", "no initdb and postgres on PATH or in /usr/lib/postgresql/*/bin: install PostgreSQL's server (Debian: apt-get install postgresql)")
	}
	cred, err := serverUser()
	if err != nil {
		SkipOrFail(t, "SESSION_REQUIRE_POSTGRES", "cannot run PostgreSQL: %v", err)
	}
	dir, err := os.MkdirTemp("", "testserver-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.uid), int(cred.gid)); err != nil {
			t.Fatal(err)
		}
	}
	p := &Postgres{Port: FreePorts(t, 1)[0], Dir: dir}
	p.cred = cred
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", p.data(), "-A", "trust", "-U", "postgres", "--no-sync")
	initdb.SysProcAttr = sysProcAttr(cred)
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.argv = []string{filepath.Join(bin, "postgres"), "-D", p.data(), "-p", strconv.Itoa(p.Port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1"}
	for _, s := range settings {
		p.argv = append(p.argv, "-c", s)
	}
	p.output = filepath.Join(dir, "log")
	p.tree = true
	p.ready = p.ping
	t.Cleanup(p.Stop)
	if err := p.Start(); err != nil {
		t.Fatalf("postgres on port %d: %v\n%s", p.Port, err, p.LogTail())
	}
	return p
}

// Start starts the server again, after Kill, Stop or Shutdown, on the
// same port and data, and waits until it takes connections (after a
// kill, once crash recovery is done).
func (p *Postgres) Start() error {
	return p.start(30 * time.Second)
}

func (p *Postgres) data() string { return filepath.Join(p.Dir, "data") }

// URL returns the URL of database on the server, as the user postgres,
// with a one-second connect timeout.
func (p *Postgres) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=1", p.Port, database)
}

func (p *Postgres) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

// LogTail returns the end of the server's log.
func (p *Postgres) LogTail() string { return tail(p.output) }

// postgresBin returns the directory holding initdb and postgres, or "".
func postgresBin() string {
	var dirs []string
	if p, err := exec.LookPath("postgres"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int { v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d))); return v }
	sort.Slice(debian, func(i, j int) bool { return version(debian[i]) > version(debian[j]) })
	for _, d := range append(dirs, debian...) {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
				return d
			}
		}
	}
	return ""
}

// serverUser returns the user to run PostgreSQL as: nil (the test's own)
// unless the test runs as root, which initdb and postgres refuse; then the
// user postgres.
func serverUser() (*credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	if !canRunAs {
		return nil, fmt.Errorf("running as root, which PostgreSQL refuses")
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, which PostgreSQL refuses, without a postgres user to run it as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user postgres: uid %q, gid %q", u.Uid, strings.TrimSpace(u.Gid))
	}
	return &credential{uid: uint32(uid), gid: uint32(gid)}, nil
}
