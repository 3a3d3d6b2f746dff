// Package pgstore is a backend.Store on PostgreSQL, through a pgx v5
// connection pool (*pgxpool.Pool) that the application creates, configures
// and closes.
//
// # Table
//
// Records live in one table, "sessions" unless WithTable names another.
// CreateTable creates it, or upgrades a table of an earlier release
// (idempotently; call it at start or from a migration). The SQL, for those
// who manage their schema themselves:
//
//	CREATE TABLE IF NOT EXISTS sessions (
//		key         text COLLATE "C" PRIMARY KEY,
//		version     bigint      NOT NULL,
//		data        bytea       NOT NULL,
//		expires_at  timestamptz NOT NULL,
//		writes      bigint[]    NOT NULL,
//		owner_group text COLLATE "C"
//	);
//	CREATE INDEX IF NOT EXISTS sessions_expires_at_idx ON sessions (expires_at);
//	CREATE INDEX IF NOT EXISTS sessions_group_idx ON sessions (owner_group) WHERE owner_group IS NOT NULL;
//
// key is the manager's store key (a hash of the session ID, never the ID),
// version the record's current version, data the opaque record, expires_at
// the end of its time to live, writes the versions of the record's last
// eight writes, newest first (see Retries), and owner_group the group of
// the key (backend.KeyGroup), NULL for a key without one. The index on
// expires_at serves the sweeper, the one on owner_group the owner index
// (Group and DeleteGroup). Index names are the table's name (without its
// schema) followed by _expires_at_idx and _group_idx.
//
// With WithUnlogged, CreateTable makes the table UNLOGGED ("CREATE
// UNLOGGED TABLE"): its writes skip the write-ahead log, which makes every
// Create, Update and Touch cheaper (no WAL record, no fsync wait at
// commit), but the table is emptied after a crash or an unclean shutdown of
// the server (every visitor is logged out) and it is not replicated, so a
// standby promoted by a failover has an empty table too. A clean restart
// keeps it. Choose it when sessions are cheap to lose; keep the default
// when a crash must not log everyone out. An existing table is left as it
// is: CreateTable never changes a table's kind (ALTER TABLE ... SET LOGGED
// or SET UNLOGGED does, rewriting it).
//
// # Upgrading a table of an earlier release
//
// Tables created before the owner index lack owner_group and its index.
// CreateTable adds them; by hand, the upgrade is
//
//	ALTER TABLE sessions ADD COLUMN IF NOT EXISTS owner_group text COLLATE "C";
//	CREATE INDEX IF NOT EXISTS sessions_group_idx ON sessions (owner_group) WHERE owner_group IS NOT NULL;
//
// The ALTER TABLE rewrites nothing (a nullable column without a default),
// but waits for, and then briefly blocks, every statement on the table.
// The CREATE INDEX reads the whole table and blocks writes to it while it
// does; on a large table, run CREATE INDEX CONCURRENTLY IF NOT EXISTS
// (outside a transaction) with the same definition instead, before
// CreateTable, which then finds the index (should CONCURRENTLY fail, drop
// the invalid index it leaves and run it again). Existing rows keep a NULL
// owner_group, which is right: earlier releases never stored grouped keys.
//
// Upgrade the table before deploying this release. Until then Create,
// Group and DeleteGroup fail with a plain error (not
// backend.ErrUnavailable: retrying will not help) that names this upgrade,
// while Load, Update, Touch and Delete keep serving the existing sessions.
// Earlier releases run unchanged on an upgraded table, since none of their
// statements names owner_group.
//
// # Semantics
//
// Time is the database server's: a record is live while expires_at >
// now(), whatever the application servers' clocks say. Load returns only
// live rows. Create inserts, with the key's group in owner_group, or
// replaces an expired row under the key
// (INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE expires_at <= now()),
// and never overwrites a live one. Update is a compare-and-set (UPDATE ...
// WHERE key = $1 AND version = $2 AND expires_at > now()) that never
// creates a row; an Update that has to wait for another transaction's
// write to the row judges the row as that write left it, so one that
// waited for a Delete reports backend.ErrNotFound. Touch moves expires_at only. Delete deletes the row.
// Expired rows stay in the table, invisible, until the sweeper deletes
// them or a Create replaces them.
//
// The Store implements backend.OwnerIndex on owner_group, which is
// written by the INSERT that creates the row and never changes after, as
// the key does not. Group selects the live rows of a group. DeleteGroup is
// one DELETE ... WHERE owner_group = $1 AND key <> $2, atomic like every
// statement; it deletes the group's expired rows too, but counts only the
// live ones. Under READ COMMITTED it deletes every row that its snapshot
// shows, that is every row whose Create or Update returned before the
// DELETE began; a row that a concurrent Update or Touch changes
// meanwhile, it deletes in the state that write left (the DELETE waits
// for the write, then checks the row again), and an Update or Touch that
// comes to the row after it finds no row and fails with
// backend.ErrNotFound. A row created after the DELETE began is not
// affected. (A server whose default isolation level is REPEATABLE READ or
// SERIALIZABLE reports such a collision of a DeleteGroup or an Update with
// a concurrent write as a serialization failure instead, which is
// backend.ErrUnavailable; nothing is changed.)
//
// Every Create and Update stores a fresh random, nonzero 64-bit version
// (math/rand/v2), stored as a bigint with the same bits, never the version
// it replaces. Random versions need nothing to survive a deletion: a stale
// compare-and-set can succeed only if the current version of the key
// happens to equal the stale one, which has probability 2^-64 per attempt,
// whatever the history of the key. A per-key counter would restart after
// a deletion or expiry; a sequence would do, at the cost of one more
// schema object to create, grant and migrate.
//
// # Round trips
//
// Every method is one statement, that is one round trip (pgx prepares a
// statement the first time a pooled connection runs it, which costs one
// more round trip once per connection and statement):
//
//	Load         SELECT version, data, expires_at, now() ... WHERE key = $1 AND expires_at > now()
//	Create       WITH ... INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE expired
//	Update       WITH ... UPDATE ... WHERE key = $1 AND version = $2 AND live
//	Touch        UPDATE ... SET expires_at = ... WHERE key = $1 AND live
//	Delete       DELETE ... WHERE key = $1
//	Group        SELECT key, version, data, expires_at, now() ... WHERE owner_group = $1 AND live
//	DeleteGroup  WITH del AS (DELETE ... WHERE owner_group = $1 AND key <> $2 RETURNING live) SELECT count(*) ...
//
// The statements type their own parameters, so they also run over pgx's
// simple protocol (pgx.QueryExecModeSimpleProtocol), which a pooler in
// transaction mode such as PgBouncer before 1.21 needs.
//
// Through the session manager, a request that never touches its session
// costs no query, a read-only request one (Load; plus a Touch at most once
// per IdleTimeout/10 per session), a modifying request two (Load, then
// Update), a new session one (Create) and a logout one (Delete).
//
// # Retries
//
// pgx never sends a statement again once it may have reached the server,
// and neither does this package, so a write is applied at most once by
// construction. The writes are idempotent all the same, for whatever may
// repeat a statement below or above the store: Create and Update write a
// version chosen by the client, and the row keeps the versions of its last
// eight writes in writes. A repeated Update whose version is among them
// reports success with that version and changes nothing, even if other
// writes landed in between; a repeated Create whose version is among them,
// on a live row, does the same instead of reporting backend.ErrExists.
//
// # Sweeper
//
// Unless WithSweepInterval(0) turns it off, New starts a background
// sweeper that calls Sweep every five minutes (or the interval given), and
// Close stops it. Sweep deletes expired rows in batches of 1000 (or
// WithSweepBatch's size), one short statement per batch that skips rows
// other transactions hold locked (FOR UPDATE SKIP LOCKED), so it never
// waits for a session write nor makes one wait long. Only one Sweep runs
// on a table at a time across every process: it holds a session-level
// advisory lock (pg_try_advisory_lock, keyed by the table name) on a
// connection of its own for the duration of the pass, and a Sweep that
// finds the lock taken returns ErrSweepBusy at once without deleting
// anything. Sweeping only keeps the table small: expired rows are already
// invisible to every method.
//
// # Errors
//
// Load, Update and Touch of a missing or expired record return
// backend.ErrNotFound, Create of a live one backend.ErrExists, Update with a
// different version backend.ErrConflict. Other failures are classified as
// follows:
//
//   - The caller's context ended before a reply came: the error wraps
//     ctx.Err() (and, if no pooled connection could be had before the
//     context's deadline, backend.ErrUnavailable as well: the pool is
//     exhausted or the server does not accept connections).
//   - No reply (connection refused or reset, dial or I/O timeout, the
//     store's own time limit of WithTimeout, the pool closed): the error
//     wraps backend.ErrUnavailable.
//   - A server error whose SQLSTATE means "not now": class 08
//     (connection exception), 53 (insufficient resources, such as 53300
//     too many connections), 57P01 admin shutdown, 57P02 crash shutdown,
//     57P03 cannot connect now, 57014 statement timeout, 55P03 lock not
//     available, 40001 and 40P01 (serialization failure, deadlock), 58000
//     and 58030 (system and I/O errors) and 25006 read-only transaction (a
//     standby, or a primary made read-only during a failover). The error
//     wraps backend.ErrUnavailable and the *pgconn.PgError.
//   - Any other server error (undefined table, a table of an earlier
//     release that lacks owner_group, permission denied, ...): a plain
//     error wrapping the *pgconn.PgError, because retrying will not help;
//     these are misconfigurations. The errors of a missing table and of a
//     missing column say how to create or upgrade the table.
//
// # Contexts and time limits
//
// Every method checks its context before sending anything, so an ended
// context costs no round trip. Every call is also bounded by the store's
// own time limit (WithTimeout, five seconds by default), whatever the
// pool's settings: pgx cancels a statement whose context ends, and the
// error wraps backend.ErrUnavailable if the limit, not the caller's
// context, ran out. A write that fails that way may or may not have been
// applied.
//
// By default pgx does not cancel a statement on the server when its context
// ends: it abandons the connection, and the statement runs on until the
// server notices, for example once a lock it waits for is released. Have
// the pool send a cancel request instead, so that a write that failed with
// a context error has most likely not been applied and holds no server
// resources:
//
//	cfg, err := pgxpool.ParseConfig(url)
//	...
//	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
//		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: time.Second}
//	}
//	pool, err := pgxpool.NewWithConfig(ctx, cfg)
//
// The Store does not own the pool: closing it is the caller's business,
// after Close.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/internal/deadline"
)

// Defaults of the options.
const (
	// DefaultTable is the table name unless WithTable says otherwise.
	DefaultTable = "sessions"
	// DefaultTimeout bounds every call unless WithTimeout says otherwise.
	DefaultTimeout = 5 * time.Second
	// DefaultSweepInterval is the time between two background sweeps
	// unless WithSweepInterval says otherwise.
	DefaultSweepInterval = 5 * time.Minute
	// DefaultSweepBatch is the number of expired rows one sweep statement
	// deletes at most unless WithSweepBatch says otherwise.
	DefaultSweepBatch = 1000
)

// keepWrites is how many versions of its last writes a row remembers.
const keepWrites = 8

// ErrSweepBusy reports that Sweep did nothing because another Sweep, in
// this process or another, holds the table's sweep lock.
var ErrSweepBusy = errors.New("pgstore: another sweep of the table is running")

var (
	errEmptyKey   = errors.New("pgstore: empty key")
	errEmptyGroup = errors.New("pgstore: empty group")
)

// Operation names used in error messages.
const (
	opLoad   = "load"
	opCreate = "create"
	opUpdate = "update"
	opTouch  = "touch"
	opDelete = "delete"
	opGroup  = "group"
	opDelGrp = "delete group"
	opSweep  = "sweep"
	opTable  = "create table"
)

// Option configures a Store created by New, and the table CreateTable
// creates.
type Option func(*config)

type config struct {
	table         string
	unlogged      bool
	timeout       time.Duration
	sweepInterval time.Duration
	sweepBatch    int
	logger        *slog.Logger
}

// WithTable sets the table's name (DefaultTable if not given): a plain
// identifier of letters, digits and underscores that does not start with a
// digit, optionally qualified by a schema ("auth.sessions"), at most 48
// bytes per part so that the index name derived from it fits. The name is
// quoted in SQL, so it is case-sensitive: "Sessions" and "sessions" are two
// tables. New and CreateTable reject any other name.
func WithTable(name string) Option {
	return func(c *config) { c.table = name }
}

// WithUnlogged makes CreateTable create an UNLOGGED table: cheaper writes,
// but emptied by a crash and not replicated to standbys (the package
// documentation has the trade-off). It has no effect on New or on a table
// that exists already.
func WithUnlogged() Option {
	return func(c *config) { c.unlogged = true }
}

// WithTimeout bounds every call of the Store, and each statement of a
// sweep, to d (DefaultTimeout if not given), whatever the caller's context
// and the pool's settings allow. A call that runs out of it fails with an
// error wrapping backend.ErrUnavailable. A d of zero or less is refused by
// New.
func WithTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout = d }
}

// WithSweepInterval sets the time between two passes of the background
// sweeper that New starts (DefaultSweepInterval if not given). Zero or less
// starts no sweeper; expired rows then stay until Sweep is called or a
// Create replaces them.
func WithSweepInterval(d time.Duration) Option {
	return func(c *config) { c.sweepInterval = d }
}

// WithSweepBatch sets how many expired rows one sweep statement deletes at
// most (DefaultSweepBatch if not given). Smaller batches mean shorter
// statements and more of them. A size below 1 is refused by New.
func WithSweepBatch(n int) Option {
	return func(c *config) { c.sweepBatch = n }
}

// WithLogger sets where the background sweeper reports failed passes
// (level Warn) and rows it deleted (level Debug); slog.Default() if not
// given.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// identPart is one part of a table name WithTable accepts.
var identPart = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,47}$`)

func newConfig(opts []Option) (config, error) {
	cfg := config{
		table:         DefaultTable,
		timeout:       DefaultTimeout,
		sweepInterval: DefaultSweepInterval,
		sweepBatch:    DefaultSweepBatch,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if cfg.timeout <= 0 {
		return cfg, fmt.Errorf("pgstore: timeout %v is not positive", cfg.timeout)
	}
	if cfg.sweepBatch < 1 {
		return cfg, fmt.Errorf("pgstore: sweep batch %d is below 1", cfg.sweepBatch)
	}
	if _, err := tableIdent(cfg.table); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// tableIdent splits and checks a table name.
func tableIdent(name string) (pgx.Identifier, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return nil, fmt.Errorf("pgstore: table name %q: at most one dot (schema.table)", name)
	}
	for _, p := range parts {
		if !identPart.MatchString(p) {
			return nil, fmt.Errorf("pgstore: table name %q: each part must be 1 to 48 letters, digits or underscores, not starting with a digit", name)
		}
	}
	return pgx.Identifier(parts), nil
}

// statements holds the SQL of every method, with the table name quoted in.
type statements struct {
	load, create, update, touch, delete, sweep, group, deleteGroup string
}

func newStatements(t string) statements {
	return statements{
		load: `SELECT version, data, expires_at, now() FROM ` + t + ` WHERE key = $1 AND expires_at > now()`,

		// prev is the row as the statement's snapshot has it: a live row
		// that remembers this Create's version means this very Create
		// was applied before and is repeated.
		create: `WITH prev AS (
	SELECT expires_at > now() AND $2::bigint = ANY(writes) AS repeat FROM ` + t + ` WHERE key = $1
), ins AS (
	INSERT INTO ` + t + ` AS s (key, version, data, expires_at, writes, owner_group)
	VALUES ($1, $2, $3, now() + $4::bigint * interval '1 microsecond', ARRAY[$2::bigint], NULLIF($5::text, ''))
	ON CONFLICT (key) DO UPDATE SET version = EXCLUDED.version, data = EXCLUDED.data,
		expires_at = EXCLUDED.expires_at, writes = EXCLUDED.writes, owner_group = EXCLUDED.owner_group
	WHERE s.expires_at <= now()
	RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM ins), coalesce((SELECT repeat FROM prev), false)`,

		// The UPDATE is the compare-and-set; cur tells a missing or
		// expired row from a version conflict, and recognises a repeat
		// of this very Update. cur locks the row (FOR NO KEY UPDATE, the
		// lock the UPDATE takes anyway) so that it reads the row's
		// latest committed state, not the statement's snapshot: an
		// Update that waited for a concurrent Delete or DeleteGroup
		// finds no row and reports ErrNotFound, not ErrConflict.
		update: `WITH cur AS (
	SELECT expires_at > now() AS live, $3::bigint = ANY(writes) AS repeat FROM ` + t + ` WHERE key = $1 FOR NO KEY UPDATE
), upd AS (
	UPDATE ` + t + ` SET version = $3, data = $4,
		expires_at = now() + $5::bigint * interval '1 microsecond',
		writes = $3::bigint || writes[1:` + fmt.Sprint(keepWrites-1) + `]
	WHERE key = $1 AND version = $2 AND expires_at > now()
	RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM upd), coalesce((SELECT live FROM cur), false), coalesce((SELECT repeat FROM cur), false)`,

		touch: `UPDATE ` + t + ` SET expires_at = now() + $2::bigint * interval '1 microsecond' WHERE key = $1 AND expires_at > now()`,

		delete: `DELETE FROM ` + t + ` WHERE key = $1`,

		sweep: `DELETE FROM ` + t + ` WHERE key IN (
	SELECT key FROM ` + t + ` WHERE expires_at <= now() LIMIT $1 FOR UPDATE SKIP LOCKED
) AND expires_at <= now()`,

		group: `SELECT key, version, data, expires_at, now() FROM ` + t + ` WHERE owner_group = $1 AND expires_at > now()`,

		// One DELETE, so one atomic step whose snapshot holds every row
		// committed before it began; see "Semantics" in the package
		// documentation for why no earlier write survives it. now() is
		// the statement's (its transaction's) time, as in every other
		// statement.
		deleteGroup: `WITH del AS (
	DELETE FROM ` + t + ` WHERE owner_group = $1 AND key <> $2 RETURNING expires_at > now() AS live
)
SELECT count(*) FROM del WHERE live`,
	}
}

// CreateTable creates the store's table and its indexes if they do not
// exist yet, and upgrades a table of an earlier release by adding the
// owner_group column and its index (the package documentation has the SQL
// and what the upgrade locks). It is idempotent and safe to run from
// several processes at once: it serialises on a transaction-level
// advisory lock. On a table that is up to date it changes nothing and
// takes no lock on the table. Only WithTable and WithUnlogged matter to
// it; WithUnlogged has no effect on a table that exists already.
func CreateTable(ctx context.Context, pool *pgxpool.Pool, opts ...Option) error {
	cfg, err := newConfig(opts)
	if err != nil {
		return err
	}
	ident, _ := tableIdent(cfg.table)
	kind := "TABLE"
	if cfg.unlogged {
		kind = "UNLOGGED TABLE"
	}
	t := ident.Sanitize()
	name := ident[len(ident)-1]
	expiresIdx, groupIdx := name+"_expires_at_idx", name+"_group_idx"
	ddl := `CREATE ` + kind + ` IF NOT EXISTS ` + t + ` (
	key         text COLLATE "C" PRIMARY KEY,
	version     bigint      NOT NULL,
	data        bytea       NOT NULL,
	expires_at  timestamptz NOT NULL,
	writes      bigint[]    NOT NULL,
	owner_group text COLLATE "C"
)`
	// The upgrade of a table of an earlier release. ALTER TABLE and
	// CREATE INDEX lock the table even when IF NOT EXISTS makes them do
	// nothing (ALTER TABLE so that no statement on the table runs
	// meanwhile), so they run only when the catalog says they are needed.
	addColumn := `ALTER TABLE ` + t + ` ADD COLUMN IF NOT EXISTS owner_group text COLLATE "C"`
	createExpiresIdx := `CREATE INDEX IF NOT EXISTS ` + pgx.Identifier{expiresIdx}.Sanitize() + ` ON ` + t + ` (expires_at)`
	createGroupIdx := `CREATE INDEX IF NOT EXISTS ` + pgx.Identifier{groupIdx}.Sanitize() + ` ON ` + t + ` (owner_group) WHERE owner_group IS NOT NULL`
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Concurrent CREATE ... IF NOT EXISTS of one name can fail with
		// a unique violation in the catalog; the lock makes them queue.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("create", cfg.table)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, ddl); err != nil {
			return err
		}
		var hasColumn, hasExpiresIdx, hasGroupIdx bool
		err := tx.QueryRow(ctx, `SELECT
	EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = $1::text::regclass AND attname = 'owner_group' AND NOT attisdropped),
	EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::text::regclass AND c.relname = $2::text),
	EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::text::regclass AND c.relname = $3::text)`,
			t, expiresIdx, groupIdx).Scan(&hasColumn, &hasExpiresIdx, &hasGroupIdx)
		if err != nil {
			return err
		}
		for _, step := range []struct {
			done bool
			sql  string
		}{{hasColumn, addColumn}, {hasExpiresIdx, createExpiresIdx}, {hasGroupIdx, createGroupIdx}} {
			if !step.done {
				if _, err := tx.Exec(ctx, step.sql); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return classify(ctx, opTable, err)
	}
	return nil
}

// lockKey returns the advisory lock key of purpose on table.
func lockKey(purpose, table string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("github.com/typedsession/session/backend/pgstore " + purpose + " " + table))
	return int64(h.Sum64())
}

// Store is a backend.Store on PostgreSQL. It is safe for concurrent use.
// Create one with New and stop its sweeper with Close; the zero value is
// not usable.
type Store struct {
	pool    *pgxpool.Pool
	sql     statements
	timeout time.Duration
	batch   int
	lock    int64
	logger  *slog.Logger

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

var (
	_ backend.Store      = (*Store)(nil)
	_ backend.OwnerIndex = (*Store)(nil)
)

// New returns a Store that keeps its records in the table (see WithTable)
// through pool, and starts its background sweeper (see WithSweepInterval).
// It sends nothing to the server and does not create the table: call
// CreateTable for that. It fails on a nil pool or an invalid option.
func New(pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: New with a nil pool")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	ident, _ := tableIdent(cfg.table)
	s := &Store{
		pool:    pool,
		sql:     newStatements(ident.Sanitize()),
		timeout: cfg.timeout,
		batch:   cfg.sweepBatch,
		lock:    lockKey("sweep", cfg.table),
		logger:  cfg.logger,
		done:    make(chan struct{}),
	}
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	if cfg.sweepInterval > 0 {
		go s.sweepLoop(ctx, cfg.sweepInterval)
	} else {
		close(s.done)
	}
	return s, nil
}

// Close stops the background sweeper, cancelling a pass in progress, and
// waits for it to return. It does not close the pool. Close is idempotent
// and always returns nil; the Store's methods keep working after it.
func (s *Store) Close() error {
	s.closeOnce.Do(s.stop)
	<-s.done
	return nil
}

// Load returns the live record stored under key, or backend.ErrNotFound.
// Record.TTL is measured on the database's clock.
func (s *Store) Load(ctx context.Context, key string) (backend.Record, error) {
	if err := check(ctx, opLoad, key); err != nil {
		return backend.Record{}, err
	}
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var (
		version        int64
		data           []byte
		expires, dbNow time.Time
	)
	err := s.queryRow(qctx, s.sql.load, []any{key}, &version, &data, &expires, &dbNow)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return backend.Record{}, backend.ErrNotFound
	case err != nil:
		return backend.Record{}, classify(ctx, opLoad, err)
	}
	return backend.Record{Data: data, Version: uint64(version), TTL: expires.Sub(dbNow)}, nil
}

// Create stores data under key, to expire after ttl, unless a live record
// is there already, in which case it returns backend.ErrExists and changes
// nothing. An expired row under key is replaced.
func (s *Store) Create(ctx context.Context, key string, data []byte, ttl time.Duration) (uint64, error) {
	return s.create(ctx, key, data, ttl, newVersion(0))
}

// create is Create with the new version chosen by the caller.
func (s *Store) create(ctx context.Context, key string, data []byte, ttl time.Duration, v uint64) (uint64, error) {
	if err := check(ctx, opCreate, key); err != nil {
		return 0, err
	}
	us, err := micros(opCreate, ttl)
	if err != nil {
		return 0, err
	}
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var created, repeat bool
	err = s.queryRow(qctx, s.sql.create, []any{key, int64(v), nonNil(data), us, backend.KeyGroup(key)}, &created, &repeat)
	switch {
	case err != nil:
		return 0, classify(ctx, opCreate, err)
	case created, repeat:
		return v, nil
	}
	return 0, backend.ErrExists
}

// Update replaces the record under key with data and sets its time to live
// to ttl, provided the record is live and its version is version. It
// returns backend.ErrNotFound if there is no live record (it never creates
// one) and backend.ErrConflict if the version differs; either way nothing
// changes.
func (s *Store) Update(ctx context.Context, key string, version uint64, data []byte, ttl time.Duration) (uint64, error) {
	return s.update(ctx, key, version, data, ttl, newVersion(version))
}

// update is Update with the new version chosen by the caller.
func (s *Store) update(ctx context.Context, key string, version uint64, data []byte, ttl time.Duration, v uint64) (uint64, error) {
	if err := check(ctx, opUpdate, key); err != nil {
		return 0, err
	}
	us, err := micros(opUpdate, ttl)
	if err != nil {
		return 0, err
	}
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var updated, live, repeat bool
	err = s.queryRow(qctx, s.sql.update,
		[]any{key, int64(version), int64(v), nonNil(data), us}, &updated, &live, &repeat)
	switch {
	case err != nil:
		return 0, classify(ctx, opUpdate, err)
	case updated:
		return v, nil
	case !live:
		return 0, backend.ErrNotFound
	case repeat:
		return v, nil
	}
	return 0, backend.ErrConflict
}

// Touch sets the time to live of the live record under key to ttl without
// changing its data or version, or returns backend.ErrNotFound.
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) error {
	if err := check(ctx, opTouch, key); err != nil {
		return err
	}
	us, err := micros(opTouch, ttl)
	if err != nil {
		return err
	}
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := s.exec(qctx, s.sql.touch, key, us)
	switch {
	case err != nil:
		return classify(ctx, opTouch, err)
	case n == 0:
		return backend.ErrNotFound
	}
	return nil
}

// Delete removes the record under key. Deleting a missing record is not an
// error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := check(ctx, opDelete, key); err != nil {
		return err
	}
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if _, err := s.exec(qctx, s.sql.delete, key); err != nil {
		return classify(ctx, opDelete, err)
	}
	return nil
}

// Group returns the live records whose key is in group (see
// backend.KeyGroup), in no particular order, with one query on the
// owner_group index. Record.TTL is measured on the database's clock. A
// group with no live record gives an empty slice; an empty group is an
// error.
func (s *Store) Group(ctx context.Context, group string) ([]backend.KeyedRecord, error) {
	if err := checkGroup(ctx, opGroup, group); err != nil {
		return nil, err
	}
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	conn, err := s.pool.Acquire(qctx)
	if err != nil {
		return nil, classify(ctx, opGroup, &acquireError{err})
	}
	defer conn.Release()
	rows, err := conn.Query(qctx, s.sql.group, group)
	if err != nil {
		return nil, classify(ctx, opGroup, err)
	}
	out := []backend.KeyedRecord{}
	var (
		key            string
		version        int64
		data           []byte
		expires, dbNow time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&key, &version, &data, &expires, &dbNow}, func() error {
		out = append(out, backend.KeyedRecord{Key: key, Record: backend.Record{
			Data: data, Version: uint64(version), TTL: expires.Sub(dbNow),
		}})
		return nil
	})
	if err != nil {
		return nil, classify(ctx, opGroup, err)
	}
	return out, nil
}

// DeleteGroup deletes every record whose key is in group except the one
// under keep ("" keeps none), in one statement, and returns how many live
// records it deleted; the group's expired rows go too, uncounted. Every
// record of the group whose Create or Update returned before DeleteGroup
// was called is gone when it returns, and an Update or Touch of one fails
// with backend.ErrNotFound (the package documentation explains why under
// READ COMMITTED). An empty group is an error.
func (s *Store) DeleteGroup(ctx context.Context, group, keep string) (int, error) {
	if err := checkGroup(ctx, opDelGrp, group); err != nil {
		return 0, err
	}
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var n int64
	if err := s.queryRow(qctx, s.sql.deleteGroup, []any{group, keep}, &n); err != nil {
		return 0, classify(ctx, opDelGrp, err)
	}
	return int(n), nil
}

// acquireError marks a failure to get a pooled connection.
type acquireError struct{ err error }

func (e *acquireError) Error() string { return "no pooled connection: " + e.err.Error() }
func (e *acquireError) Unwrap() error { return e.err }

// queryRow runs sql on a pooled connection and scans its one row.
func (s *Store) queryRow(ctx context.Context, sql string, args []any, dest ...any) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return &acquireError{err}
	}
	defer conn.Release()
	return conn.QueryRow(ctx, sql, args...).Scan(dest...)
}

// exec runs sql on a pooled connection and returns the rows it affected.
func (s *Store) exec(ctx context.Context, sql string, args ...any) (int64, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, &acquireError{err}
	}
	defer conn.Release()
	tag, err := conn.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

// Sweep deletes the expired rows of the table in batches, one short
// statement per batch, until a batch finds fewer rows than its size, and
// returns how many it deleted. It returns ErrSweepBusy at once if another
// Sweep of the table holds the sweep lock, and stops between batches when
// ctx ends (returning what it deleted so far and an error wrapping
// ctx.Err()). Each statement is bounded by the store's time limit.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("pgstore: %s: %w", opSweep, err)
	}
	actx, cancel := context.WithTimeout(ctx, s.timeout)
	conn, err := s.pool.Acquire(actx)
	cancel()
	if err != nil {
		return 0, classify(ctx, opSweep, &acquireError{err})
	}
	defer conn.Release()

	var locked bool
	lctx, cancel := context.WithTimeout(ctx, s.timeout)
	err = conn.QueryRow(lctx, `SELECT pg_try_advisory_lock($1)`, s.lock).Scan(&locked)
	cancel()
	if err != nil {
		return 0, classify(ctx, opSweep, err)
	}
	if !locked {
		return 0, ErrSweepBusy
	}
	defer func() {
		// The lock belongs to the connection's session: release it before
		// the connection goes back to the pool, or close the connection
		// (which releases it) if that fails, for example because ctx
		// ended mid-statement.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, s.lock); err != nil {
			_ = conn.Conn().Close(uctx)
		}
	}()

	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("pgstore: %s: %w", opSweep, err)
		}
		dctx, cancel := context.WithTimeout(ctx, s.timeout)
		tag, err := conn.Exec(dctx, s.sql.sweep, s.batch)
		cancel()
		if err != nil {
			return total, classify(ctx, opSweep, err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(s.batch) {
			return total, nil
		}
	}
}

// sweepLoop calls Sweep every interval until ctx ends.
func (s *Store) sweepLoop(ctx context.Context, interval time.Duration) {
	defer close(s.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n, err := s.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrSweepBusy):
		case err != nil:
			s.logger.LogAttrs(ctx, slog.LevelWarn, "pgstore: sweep failed", slog.Any("error", err))
		case n > 0:
			s.logger.LogAttrs(ctx, slog.LevelDebug, "pgstore: swept expired sessions", slog.Int64("rows", n))
		}
	}
}

// newVersion returns a random version that is neither zero nor prev.
func newVersion(prev uint64) uint64 {
	for {
		if v := rand.Uint64(); v != 0 && v != prev {
			return v
		}
	}
}

// nonNil returns data, or an empty slice for nil (which pgx would send as
// NULL).
func nonNil(data []byte) []byte {
	if data == nil {
		return []byte{}
	}
	return data
}

// check validates the arguments every method shares; ctx comes first so
// that an ended context fails the same way whatever else is wrong.
func check(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: %s: %w", op, err)
	}
	if key == "" {
		return fmt.Errorf("pgstore: %s: %w", op, errEmptyKey)
	}
	return nil
}

// checkGroup is check for the methods of the owner index.
func checkGroup(ctx context.Context, op, group string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: %s: %w", op, err)
	}
	if group == "" {
		return fmt.Errorf("pgstore: %s: %w", op, errEmptyGroup)
	}
	return nil
}

// micros converts a time to live to whole microseconds, rounding up.
func micros(op string, ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("pgstore: %s: ttl %v is not positive", op, ttl)
	}
	us := int64(ttl / time.Microsecond)
	if ttl%time.Microsecond != 0 {
		us++
	}
	return us, nil
}

// classify turns an error from pgx into the error a method returns, given
// the caller's context; the package documentation has the table.
func classify(ctx context.Context, op string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code != "57014" {
		// The server answered: its verdict stands whatever ctx says.
		// (57014 is a cancelled statement: the caller's context or the
		// store's time limit, told apart below.)
		if unavailableCode(pgErr.Code) {
			return fmt.Errorf("pgstore: %s: %w: %w", op, backend.ErrUnavailable, err)
		}
		if pgErr.Code == "42P01" {
			return fmt.Errorf("pgstore: %s: %w (create the table with CreateTable or the SQL in the package documentation)", op, err)
		}
		if pgErr.Code == "42703" {
			return fmt.Errorf("pgstore: %s: %w (the table is an earlier release's: upgrade it with CreateTable or the ALTER TABLE and CREATE INDEX in the package documentation)", op, err)
		}
		return fmt.Errorf("pgstore: %s: %w", op, err)
	}
	var acq *acquireError
	isAcquire := errors.As(err, &acq)
	if cerr := deadline.Err(ctx); cerr != nil {
		if isAcquire && errors.Is(cerr, context.DeadlineExceeded) {
			// The deadline passed waiting for a connection: the pool is
			// exhausted or the server does not accept connections.
			return fmt.Errorf("pgstore: %s: %w: %w (%v)", op, backend.ErrUnavailable, cerr, err)
		}
		return fmt.Errorf("pgstore: %s: %w (%v)", op, cerr, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The store's own time limit, not the caller's context: keep
		// the context error out of the chain.
		return fmt.Errorf("pgstore: %s: %w: time limit reached: %v", op, backend.ErrUnavailable, err)
	}
	if pgErr != nil {
		// 57014: the statement was cancelled at the store's time limit.
		return fmt.Errorf("pgstore: %s: %w: time limit reached: %w", op, backend.ErrUnavailable, err)
	}
	// No reply: the connection failed, or could not be had.
	return fmt.Errorf("pgstore: %s: %w: %w", op, backend.ErrUnavailable, err)
}

// unavailableCode reports whether a SQLSTATE means that the server cannot
// serve the statement for now, rather than that the statement or the
// configuration is wrong.
func unavailableCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "53"): // insufficient resources: 53300 too many connections, disk full, out of memory
		return true
	}
	switch code {
	case "57P01", // admin shutdown
		"57P02", // crash shutdown
		"57P03", // cannot connect now (starting up, shutting down, recovering)
		"55P03", // lock not available (lock_timeout)
		"40001", // serialization failure
		"40P01", // deadlock detected
		"58000", // system error
		"58030", // I/O error
		"25006": // read-only SQL transaction: a standby, or a primary being demoted
		return true
	}
	return false
}
