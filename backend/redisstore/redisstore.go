// Package redisstore is a backend.Store on Redis, through a go-redis v9
// client: a single node (*redis.Client), a Sentinel failover client
// (redis.NewFailoverClient or redis.NewFailoverClusterClient) or a Redis
// Cluster (*redis.ClusterClient), all through redis.UniversalClient. It
// also implements backend.OwnerIndex, listing and deleting the records of
// one group (see Grouped keys).
//
// # Record layout
//
// Each record is one Redis string under the key prefix+key (prefix "s:"
// unless WithPrefix says otherwise): an 8-byte big-endian version followed
// by the caller's data, with the record's time to live as the key's
// expiry. Data and version live in one key, so reads, creates, touches and
// the compare-and-set itself each concern a single key. Do not put a hash
// tag ("{...}") in the prefix: it would send every session to one Cluster
// slot.
//
// A record that has been updated also has a history key, "{" + prefix+key
// + "}:w" (for example "{s:abc}:w"): the versions of the record's last
// seven states before the current one, newest first, 8 bytes each (at most
// 56 bytes). Its Cluster hash tag is the record's key, so both keys are in
// the same slot and the update script may touch both. Update writes it
// with a time to live of one minute (or the record's, if shorter, or the
// store's timeout, if longer): a repeated write matters only if its reply
// comes within the call's timeout, so the history only has to outlive
// that, and an idle session does not keep one (about 100 to 170 bytes of
// server memory). Touch leaves it alone and Delete removes it with the
// record. Create writes none. A key
// containing a brace gets no history (the session manager's keys never
// do): its retried Update is recognised only if no other write came
// between.
//
// The record's own layout is the one earlier releases wrote, so a rolling
// deploy mixes freely: this release reads and updates records an earlier
// one wrote (they have no history yet; the first Update here starts one),
// and an earlier release reads, updates, touches and deletes records this
// one wrote, ignoring the history key. An earlier release's Update does not
// record the version it replaces, so a retry of this release's write
// across it is not recognised (a conflict, as before); its Delete leaves
// the history key to expire with its time to live.
//
// # Grouped keys
//
// A key with a group (see backend.KeyGroup), H + "." + G, where the
// manager's H is the hash of a session ID and G a digest of its owner, is
// stored in the grouped layout instead, which adds an index of each
// group. Every key of a group starts with the group's tag,
// prefix + "{" + G + "}":
//
//	prefix{G}.H     the record, framed as above
//	prefix{G}:w.H   its write history, as above
//	prefix{G}:i     the group's index: a sorted set of the H of the
//	                group's records, each scored with its record's
//	                expiry (server time, milliseconds since the epoch)
//
// for example "s:{Z3JvdXAtb2YtYW4tb3duZX}.3q2-7w..." and
// "s:{Z3JvdXAtb2YtYW4tb3duZX}:i". Redis Cluster hashes the part of a key
// between its first "{" and the first "}" after it, so all the keys of a
// group, and its index, are in one slot, and one script may reach them
// all; different groups spread over the cluster. The three kinds of key
// differ right after the tag, so their names never clash, nor do they
// clash with the record or history of an ungrouped key that has no brace.
// Keys without a group keep the layout of earlier releases, which write
// no grouped keys.
//
// Braces in the prefix: the slot of a group's keys is chosen by the part
// of prefix + "{" + G + "}" between its first "{" and the next "}", the
// same for every key of the group, so a prefix with a "{" (and no "}"
// after it) or with a "}" still keeps each group in one slot, and one with
// a whole hash tag ("{x}") puts every group, like every session, in one
// slot. The exception is a prefix whose first "{" is followed at once by
// "}": Redis hashes such keys whole, which would scatter a group. Under
// such a prefix, and for a key that contains a brace itself (the manager's
// never do), grouped keys are stored in the plain layout and indexed
// nowhere, and Group and DeleteGroup return an error.
//
// The scripts that write a grouped key keep its group's index in step,
// in the same atomic step: Create stores the record and adds its member
// (so a DeleteGroup called after Create returned finds it), Update and
// Touch score the member with the record's new expiry, Delete removes it.
// Scores are read from the server's clock (TIME) after the record's
// write, so a member's score is never before its record's expiry; the
// record's own expiry stays what decides whether it lives. Every such
// write also removes the members whose score has passed
// (ZREMRANGEBYSCORE), and Group drops the members whose record is gone, so
// an index holds at most its group's live records and those that expired
// since the group's last write or listing. The index's time to live is
// extended to that of every record written, never shortened, so it
// outlives its records; Redis deletes it with its last member. A server
// that evicts keys under memory pressure (a maxmemory-policy other than
// noeviction) may evict an index before its records, which then go
// unlisted until their next write.
//
// Group and DeleteGroup take two round trips each: a script prunes the
// index and returns its members, and a second one, given the keys of
// their records (and histories), reads them, or deletes them and removes
// them from the index, atomically. Scripts touch only the keys they are
// given, as Redis requires: while Cluster migrates the slot, a script
// whose keys have partly moved is refused with TRYAGAIN before it runs,
// rather than seeing some records as missing. A record whose Create
// returned before DeleteGroup was called is in the index when its first
// script runs, so the second deletes it; a record created during
// DeleteGroup may survive it, and stays indexed.
//
// # Versions
//
// Every Create and Update stores a fresh random, nonzero 64-bit version
// drawn from math/rand/v2 (a ChaCha8 generator per thread, seeded from the
// operating system), never the version it replaces. Versions are not
// counted per key, because a counter kept in the record would restart when
// a key is deleted or expires and is created again, and a request still
// holding a version of the old record could then overwrite the new one.
// Random versions rely on nothing surviving: a stale compare-and-set can
// succeed only if the current version of the key happens to equal the stale
// one, which has probability 2^-64 per attempt whatever the history of the
// key, the number of processes or their clocks. At a million stale writes a
// second for a century (3*10^15 attempts) the chance of a single wrong match
// is below 2*10^-4. A version built from the clock (milliseconds plus a few
// random bits) would have fewer random bits per millisecond and would trust
// the clocks of every application server to agree and never step back.
//
// # Commands and round trips
//
// Every method but Group and DeleteGroup is one round trip:
//
//	Load    GET key and PTTL key in one pipeline; the time to live only
//	        steers when the manager touches, so it need not be read
//	        atomically with the data
//	Create  SET key value NX PX ttl; if SET NX declines, a second round
//	        trip (EVALSHA) checks whether the record there is this very
//	        create, re-sent after a lost reply (else ErrExists)
//	Update  EVALSHA of a script: GETRANGE key 0 7 compares the version,
//	        then SET key value PX ttl and prepends the replaced version to
//	        the history; a missing key is never recreated
//	Touch   PEXPIRE key ttl (0 for a missing key: ErrNotFound)
//	Delete  UNLINK key history
//
// A grouped key's Create, Update, Touch and Delete are each one EVALSHA
// of a script that does the same and updates the group's index; Create's
// script also does the check of a re-sent create. Group and DeleteGroup
// are two EVALSHAs each (see Grouped keys).
//
// Scripts run on the primary that owns the key. Through a cluster client
// that sends read-only commands to replicas (ReadOnly, RouteByLatency,
// RouteRandomly), Load runs a script doing GET and PTTL instead of the
// pipeline, so that it always sees the latest write, as compare-and-set
// needs. The pipeline costs the server about a seventh of the script's
// CPU time (BenchmarkLoadServerCPU).
//
// Through the session manager, a request that never touches its session
// costs no round trip, a read-only request one (Load; plus a PEXPIRE at
// most once per IdleTimeout/10 per session, when the idle timeout is due
// for an extension), a modifying request two (Load, then Update), a new
// session one (Create) and a logout one (Delete).
//
// The scripts are run with redis.Script.Run: EVALSHA, falling back to EVAL
// (a second round trip) the first time a server has not cached a script,
// for example after it restarted or failed over. Times to live are sent in
// whole milliseconds, rounded up; the shortest is 1 ms. The server needs
// Redis 4.0 or later (UNLINK) with scripting; Valkey and other servers
// speaking the same commands work too. The scripts that read the server's
// clock and then write ask for effects replication
// (redis.replicate_commands), which Redis 4 needs and later releases do
// anyway.
//
// # Retries
//
// go-redis sends a command again when its connection failed before the
// reply came (Options.MaxRetries, 3 by default), even if the server ran
// it. The store meets the backend.Store contract on retries: a repeated
// Update whose first attempt was applied finds its new version as the
// current one or in the history, and reports success with that version,
// changing nothing, even if up to seven other writes landed in between.
// A repeated Create finds its own version under the key when SET NX
// declines, and reports success rather than backend.ErrExists. Load,
// Touch and Delete are idempotent. The same holds for grouped keys, whose
// scripts recognise repeats the same way and leave the index alone on a
// repeat. A repeated DeleteGroup script finds nothing left to delete, so
// the count DeleteGroup returns after one may be too low.
//
// # Errors
//
// Load, Update and Touch of a missing or expired record return
// backend.ErrNotFound, Create of a live one backend.ErrExists, Update with a
// different version backend.ErrConflict; redis.Nil never leaves the
// package. Group and DeleteGroup of an empty group, of a group with a
// brace, or under a prefix that cannot keep a group in one slot (see
// Grouped keys) return a plain error. Other failures, of every method, are
// classified as follows:
//
//   - The caller's context ended (cancelled or past its deadline) before
//     a reply came: the error wraps ctx.Err(), and not
//     backend.ErrUnavailable.
//   - No reply (connection refused or reset, EOF, dial or I/O timeout,
//     no pooled connection within PoolTimeout, client closed, none within
//     the store's timeout): the error wraps backend.ErrUnavailable.
//   - A server error reply that means "not now": LOADING, BUSY,
//     CLUSTERDOWN, TRYAGAIN, MASTERDOWN, READONLY, OOM, MISCONF,
//     NOREPLICAS and "ERR max number of clients reached". The error wraps
//     backend.ErrUnavailable and the go-redis error (redis.Error).
//   - Any other server error reply (WRONGTYPE, NOAUTH, WRONGPASS, NOPERM,
//     MOVED to a client that is not a cluster client, unknown command...)
//     and a value under the prefix that is not a record: a plain error,
//     because retrying will not help; these are misconfigurations.
//
// Unavailable errors are transient: the server is down, unreachable,
// starting, failing over or out of memory, and the application should
// answer 503 rather than treat the visitor as logged out. Errors from a
// context that ended are the caller's own doing and are not reported as
// the store being unavailable (a handler that wants 503 for a missed
// deadline tests for context.DeadlineExceeded as well). A context error
// appears in an error's chain only if the caller's context has ended: when
// go-redis reports its own dial timeout as a context error while the
// caller's context is live, the error wraps backend.ErrUnavailable and
// carries the cause as text only.
//
// # Contexts and timeouts
//
// Every method checks its context before sending anything, so an ended
// context costs no round trip. Every call is then bounded by the store's
// timeout (WithTimeout, DefaultTimeout unless set) as well as by the
// caller's context: a call still waiting when the timeout passes returns
// an error wrapping backend.ErrUnavailable, and one whose context ends
// first returns the context's error, whatever the client's settings.
//
// go-redis applies a context's deadline to the socket only if the client
// was created with ContextTimeoutEnabled; otherwise a command in flight
// waits for the client's ReadTimeout (3 s by default) and is then retried
// (up to MaxRetries), so a black-holed server held a plain client's
// request for seconds. The store therefore runs each call's commands in a
// goroutine and stops waiting for it when the bound is reached. That
// goroutine finishes by itself, when the reply comes or the client's
// ReadTimeout expires (go-redis sends no retry once the call's context has
// ended), holding one pooled connection until then. A *redis.Client or
// *redis.ClusterClient created with ContextTimeoutEnabled gives up at the
// bound by itself, and the store then runs the call in the caller's
// goroutine, without the hand-over to another goroutine and back; prefer
// it. A write that fails with ErrUnavailable or a context error may or may
// not have been applied.
//
// The Store does not own the client: closing it is the caller's business.
package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/typedsession/session/backend"
	"github.com/typedsession/session/internal/deadline"
)

// DefaultPrefix is prepended to every key unless WithPrefix says otherwise.
const DefaultPrefix = "s:"

// DefaultTimeout bounds every store call unless WithTimeout says otherwise.
const DefaultTimeout = 1 * time.Second

// versionLen is the size of the version at the start of a stored value.
const versionLen = 8

// loadSrc returns 0 for a missing key, else the stored value and its
// remaining time to live in milliseconds (-1: no expiry), read atomically.
const loadSrc = `local v = redis.call('GET', KEYS[1])
if not v then return 0 end
return {v, redis.call('PTTL', KEYS[1])}`

// updateSrc replaces the value of KEYS[1] with ARGV[2] and sets its time to
// live to ARGV[3] milliseconds if the value starts with the version
// ARGV[1] (8 bytes). It returns 1 on success, 0 if the key is missing and
// -1 if the version differs, and writes nothing unless the version
// matched. GETRANGE reads only the version, whatever the size of the
// record, and returns "" for a missing key (stored values are never
// empty).
//
// KEYS[2], when given, is the record's history key: the versions the
// record held before its last historyLen-1 writes, newest first, 8 bytes
// each. A successful write prepends the version it replaces and gives the
// history a time to live of ARGV[4] milliseconds, so the current version
// and the history are the versions of the record's last historyLen writes
// (or of those made within that time).
//
// If the new version (the first 8 bytes of ARGV[2]) is the current one or
// is in the history, this very write was applied by an earlier attempt
// whose reply was lost and go-redis is retrying it, possibly after other
// writes: that is reported as success, not as a conflict that would make
// the manager replay the change twice. A fresh random version matches
// another write's by chance with probability 2^-64 per version compared.
const updateSrc = inHistorySrc + updateHeadSrc + updateTailSrc

// updateHeadSrc and updateTailSrc are the update script's body, split
// where the grouped update script (groupUpdateSrc) indexes the write.
const (
	updateHeadSrc = `local cur = redis.call('GETRANGE', KEYS[1], 0, 7)
if cur == '' then return 0 end
if cur == ARGV[1] then
	redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
	if KEYS[2] then
		local h = redis.call('GET', KEYS[2]) or ''
		redis.call('SET', KEYS[2], cur .. string.sub(h, 1, ` + historyKeep + `), 'PX', ARGV[4])
	end
`
	updateTailSrc = `	return 1
end
local new = string.sub(ARGV[2], 1, 8)
if cur == new or inHistory(new) then return 1 end
return -1`
)

// ownsSrc reports whether the version ARGV[1] is the current version of
// KEYS[1] (1), one of the versions in its history KEYS[2] (1), or neither
// (0): whether a Create that SET NX declined had in fact been applied by
// an earlier attempt whose reply was lost. It runs as a script so that it
// reads the primary, as the SET did.
const ownsSrc = inHistorySrc + `if redis.call('GETRANGE', KEYS[1], 0, 7) == ARGV[1] or inHistory(ARGV[1]) then
	return 1
end
return 0`

// inHistorySrc defines, for the scripts that start with it, inHistory(v):
// whether the 8-byte version v is in the history KEYS[2] (false if there is
// no history key, or no history).
const inHistorySrc = `local function inHistory(v)
	if not KEYS[2] then return false end
	local h = redis.call('GET', KEYS[2])
	if not h then return false end
	for i = 1, #h - 7, 8 do
		if string.sub(h, i, i + 7) == v then return true end
	end
	return false
end
`

// historyLen is the number of writes whose versions a record remembers:
// its current version and historyLen-1 earlier ones in its history key.
const historyLen = 8

// historyKeep is the number of bytes of the old history that a write keeps
// (historyLen-2 versions), as a Lua literal; the write prepends one.
const historyKeep = "48"

// historyTTL is how long a record's history outlives its last write, unless
// the record's time to live or the store's timeout is longer. A repeat
// matters only if its reply comes before the call's timeout, so the
// versions a write replaces need to be remembered only that long after the
// write: an instance whose store has a longer timeout than the writer's
// and than historyTTL could miss its repeat.
const historyTTL = time.Minute

// historySuffix ends the name of a record's history key.
const historySuffix = ":w"

// Operation names used in error messages.
const (
	opLoad   = "load"
	opCreate = "create"
	opUpdate = "update"
	opTouch  = "touch"
	opDelete = "delete"
)

var (
	errEmptyKey = errors.New("redisstore: empty key")
	// errMalformed is a value too short to be a record: not something the
	// store wrote, so the manager treats it as no session.
	errMalformed = fmt.Errorf("not a record written by redisstore: %w", backend.ErrCorrupt)
)

// Option configures a Store created by New.
type Option func(*config)

type config struct {
	prefix  string
	timeout time.Duration
}

// WithPrefix sets the string prepended to every key (DefaultPrefix if not
// given), which keeps the sessions apart from other data in the same
// database. An empty prefix stores the keys as they are. A prefix must not
// contain a Cluster hash tag ("{...}"), which would put every session in
// the same slot, and grouped keys are indexed only if the prefix's first
// "{", if any, is not followed at once by "}" (see the package
// documentation).
func WithPrefix(p string) Option {
	return func(c *config) {
		c.prefix = p
	}
}

// WithTimeout sets how long a store call may take in all (DefaultTimeout
// if not given, or if d is not positive): waiting for a pooled connection,
// dialling, go-redis's own retries and the reply. A call still running
// when d has passed returns an error wrapping backend.ErrUnavailable,
// whatever the client's DialTimeout, ReadTimeout, MaxRetries and
// ContextTimeoutEnabled say. The caller's context still ends a call
// earlier if it ends first.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		c.timeout = d
	}
}

// Store is a backend.Store and a backend.OwnerIndex on Redis. It is safe
// for concurrent use. Create one with New; the zero value is not usable.
type Store struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
	// loadScript: Load with the load script rather than GET and PTTL,
	// because the client would send a read-only pipeline to a replica.
	loadScript bool
	// deadlines: the client applies a context's deadline to its sockets
	// (ContextTimeoutEnabled), so calls need no goroutine of their own.
	deadlines bool
	load      *redis.Script
	update    *redis.Script
	owns      *redis.Script
	// grouping: grouped keys get the grouped layout, which the prefix
	// allows (see prefixCarriesGroupTag).
	grouping bool
	groups   groupScripts
}

var _ backend.Store = (*Store)(nil)

// New returns a Store that keeps its records through client, which may be
// a *redis.Client, a Sentinel failover client or a *redis.ClusterClient.
// New sends nothing to the server. It panics if client is nil.
func New(client redis.UniversalClient, opts ...Option) *Store {
	if client == nil {
		panic("redisstore: New with a nil client")
	}
	cfg := config{prefix: DefaultPrefix, timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.timeout <= 0 {
		cfg.timeout = DefaultTimeout
	}
	loadScript, deadlines := false, false
	switch c := client.(type) {
	case *redis.Client:
		deadlines = c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		o := c.Options()
		loadScript = o.ReadOnly || o.RouteByLatency || o.RouteRandomly
		deadlines = o.ContextTimeoutEnabled
	}
	return &Store{
		client:     client,
		prefix:     cfg.prefix,
		timeout:    cfg.timeout,
		loadScript: loadScript,
		deadlines:  deadlines,
		load:       redis.NewScript(loadSrc),
		update:     redis.NewScript(updateSrc),
		owns:       redis.NewScript(ownsSrc),
		grouping:   prefixCarriesGroupTag(cfg.prefix),
		groups:     newGroupScripts(),
	}
}

// Load returns the live record stored under key, or backend.ErrNotFound.
// Record.Data is a fresh copy. Record.TTL is the key's remaining time to
// live as Redis reports it; a key that has lost its expiry (only something
// other than this package can do that) reports a TTL of zero, which makes
// the session manager restore one with Touch.
func (s *Store) Load(ctx context.Context, key string) (backend.Record, error) {
	if err := check(ctx, opLoad, key); err != nil {
		return backend.Record{}, err
	}
	if s.loadScript {
		return s.loadByScript(ctx, key)
	}
	k := s.recordKey(key)
	var get *redis.StringCmd
	var pttl *redis.DurationCmd
	err := s.bounded(ctx, opLoad, func(ctx context.Context) error {
		pipe := s.client.Pipeline()
		get = pipe.Get(ctx, k)
		pttl = pipe.PTTL(ctx, k)
		_, err := pipe.Exec(ctx)
		if errors.Is(err, redis.Nil) && errors.Is(get.Err(), redis.Nil) && pttl.Err() == nil {
			return nil // no record: GET's nil reply, handled below
		}
		return err
	})
	switch {
	case err != nil:
		return backend.Record{}, err
	case errors.Is(get.Err(), redis.Nil):
		return backend.Record{}, backend.ErrNotFound
	}
	// PTTL ran just after GET: -2 if the record expired or was deleted in
	// between, -1 if it has no expiry; both report a TTL of zero.
	return record(get.Val(), pttl.Val())
}

// loadByScript is Load through the load script, which runs on the primary
// whatever the client's routing of read-only commands.
func (s *Store) loadByScript(ctx context.Context, key string) (backend.Record, error) {
	var res any
	err := s.bounded(ctx, opLoad, func(ctx context.Context) (err error) {
		res, err = s.load.Run(ctx, s.client, []string{s.recordKey(key)}).Result()
		return err
	})
	if err != nil {
		return backend.Record{}, err
	}
	switch r := res.(type) {
	case int64:
		if r == 0 {
			return backend.Record{}, backend.ErrNotFound
		}
	case []any:
		if len(r) != 2 {
			break
		}
		val, ok := r[0].(string)
		if !ok {
			break
		}
		pttl, ok := r[1].(int64)
		if !ok {
			break
		}
		return record(val, time.Duration(pttl)*time.Millisecond)
	}
	return backend.Record{}, fmt.Errorf("redisstore: load: unexpected script reply %T", res)
}

// record decodes a stored value val with the remaining time to live ttl
// (not positive: none).
func record(val string, ttl time.Duration) (backend.Record, error) {
	if len(val) < versionLen {
		return backend.Record{}, fmt.Errorf("redisstore: load: %w: a %d-byte value", errMalformed, len(val))
	}
	rec := backend.Record{
		Data:    []byte(val[versionLen:]),
		Version: parseVersion(val),
	}
	if ttl > 0 {
		rec.TTL = ttl
	}
	return rec, nil
}

// Create stores data under key, to expire after ttl, unless a live record
// is there already, in which case it returns backend.ErrExists and changes
// nothing.
func (s *Store) Create(ctx context.Context, key string, data []byte, ttl time.Duration) (uint64, error) {
	if err := check(ctx, opCreate, key); err != nil {
		return 0, err
	}
	ms, err := millis(opCreate, ttl)
	if err != nil {
		return 0, err
	}
	v := newVersion(0)
	val := make([]byte, versionLen+len(data))
	binary.BigEndian.PutUint64(val, v)
	copy(val[versionLen:], data)
	member, group, grouped := s.split(key)
	k := s.prefix + key
	var ok bool
	err = s.bounded(ctx, opCreate, func(ctx context.Context) (err error) {
		if grouped {
			ok, err = s.createGrouped(ctx, member, group, val, ms)
			return err
		}
		ok, err = s.client.SetNX(ctx, k, val, time.Duration(ms)*time.Millisecond).Result()
		if err != nil || ok {
			return err
		}
		// SET NX declined. If the value there is this very create,
		// applied by an attempt whose reply was lost, it is ours.
		ok, err = s.owns.Run(ctx, s.client, s.keys(k), val[:versionLen]).Bool()
		return err
	})
	switch {
	case err != nil:
		return 0, err
	case !ok:
		return 0, backend.ErrExists
	}
	return v, nil
}

// Update replaces the record under key with data and sets its time to live
// to ttl, provided the record is live and its version is version. It
// returns backend.ErrNotFound if there is no live record (it never creates
// one) and backend.ErrConflict if the version differs; either way nothing
// changes.
func (s *Store) Update(ctx context.Context, key string, version uint64, data []byte, ttl time.Duration) (uint64, error) {
	if err := check(ctx, opUpdate, key); err != nil {
		return 0, err
	}
	ms, err := millis(opUpdate, ttl)
	if err != nil {
		return 0, err
	}
	// One buffer: the expected version, then the new value (its version
	// and data).
	v := newVersion(version)
	buf := make([]byte, 2*versionLen+len(data))
	binary.BigEndian.PutUint64(buf, version)
	binary.BigEndian.PutUint64(buf[versionLen:], v)
	copy(buf[2*versionLen:], data)
	histMs, _ := millis(opUpdate, max(historyTTL, s.timeout))
	histMs = min(histMs, ms)
	var res int64
	err = s.bounded(ctx, opUpdate, func(ctx context.Context) (err error) {
		if member, group, ok := s.split(key); ok {
			res, err = s.groups.update.Run(ctx, s.client, s.groupKeys(member, group),
				buf[:versionLen], buf[versionLen:], ms, histMs, member).Int64()
			return err
		}
		res, err = s.update.Run(ctx, s.client, s.keys(s.prefix+key),
			buf[:versionLen], buf[versionLen:], ms, histMs).Int64()
		return err
	})
	if err != nil {
		return 0, err
	}
	switch res {
	case 1:
		return v, nil
	case 0:
		return 0, backend.ErrNotFound
	case -1:
		return 0, backend.ErrConflict
	}
	return 0, fmt.Errorf("redisstore: update: unexpected script reply %d", res)
}

// Touch sets the time to live of the live record under key to ttl without
// changing its data or version, or returns backend.ErrNotFound.
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) error {
	if err := check(ctx, opTouch, key); err != nil {
		return err
	}
	ms, err := millis(opTouch, ttl)
	if err != nil {
		return err
	}
	var ok bool
	err = s.bounded(ctx, opTouch, func(ctx context.Context) (err error) {
		if member, group, grouped := s.split(key); grouped {
			keys := s.groupKeys(member, group)
			ok, err = s.groups.touch.Run(ctx, s.client, []string{keys[0], keys[2]}, ms, member).Bool()
			return err
		}
		ok, err = s.client.PExpire(ctx, s.prefix+key, time.Duration(ms)*time.Millisecond).Result()
		return err
	})
	switch {
	case err != nil:
		return err
	case !ok:
		return backend.ErrNotFound
	}
	return nil
}

// Delete removes the record under key with UNLINK, which frees its memory
// in the background. Deleting a missing record is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := check(ctx, opDelete, key); err != nil {
		return err
	}
	return s.bounded(ctx, opDelete, func(ctx context.Context) error {
		if member, group, ok := s.split(key); ok {
			return s.groups.del.Run(ctx, s.client, s.groupKeys(member, group), member).Err()
		}
		return s.client.Unlink(ctx, s.keys(s.prefix+key)...).Err()
	})
}

// keys returns the record key k and, unless k contains a brace, the key
// of its history: "{" + k + "}" + historySuffix, whose Cluster hash tag
// is k itself, so that both keys are in k's hash slot. A key with a brace
// may have a hash tag of its own, or a brace that no tag can carry; it
// gets no history (the manager's keys never contain one).
func (s *Store) keys(k string) []string {
	if strings.ContainsAny(k, "{}") {
		return []string{k}
	}
	return []string{k, "{" + k + "}" + historySuffix}
}

// bounded runs fn, which sends one or more commands through the client,
// and returns its error classified, or returns at once when s.timeout has
// passed or ctx has ended, whichever comes first: with ctx's error if ctx
// ended, else with an error wrapping backend.ErrUnavailable.
//
// A *redis.Client or *redis.ClusterClient created with
// ContextTimeoutEnabled applies a context's deadline to its sockets, dials
// and waits for a pooled connection, and sends no retry once the context
// has ended: fn then runs in the caller's goroutine with a context bounded
// by s.timeout.
//
// Otherwise a command in flight waits for the client's ReadTimeout (3 s by
// default), and go-redis retries it up to MaxRetries times, whatever the
// context says. So fn runs in a goroutine of its own, which the call stops
// waiting for at the bound, cancelling fn's context. The goroutine
// finishes by itself: when the reply comes, when the ReadTimeout or
// WriteTimeout of the command in flight expires (go-redis checks the
// context before every retry, so none follows), or when the client is
// closed. Until then it holds one pooled connection.
func (s *Store) bounded(ctx context.Context, op string, fn func(context.Context) error) error {
	if s.deadlines {
		cctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		err := fn(cctx)
		if err != nil && cctx.Err() != nil && deadline.Err(ctx) == nil {
			return fmt.Errorf("redisstore: %s: %w: no reply within %v (%v)", op, backend.ErrUnavailable, s.timeout, err)
		}
		return classifyNil(ctx, op, err)
	}
	// The client ignores deadlines: a cancellable context (cheaper than
	// one with a deadline) stops go-redis's retries and its waits for a
	// pooled connection once the call is over, and a pooled timer bounds
	// the wait here.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := donePool.Get().(chan error)
	go func() { done <- fn(cctx) }()
	t := timerPool.Get().(*time.Timer)
	t.Reset(s.timeout)
	var (
		err      error
		returned bool
	)
	select {
	case err = <-done:
		returned = true
	case <-ctx.Done():
	case <-t.C:
	}
	if !returned {
		select {
		case err = <-done: // fn returned just in time
			returned = true
		default:
		}
	}
	t.Stop() // since Go 1.23, no stale tick survives Stop
	timerPool.Put(t)
	if returned {
		donePool.Put(done)
		return classifyNil(ctx, op, err)
	}
	// fn's goroutine goes on and sends to done, which is buffered and
	// not reused.
	if cerr := deadline.Err(ctx); cerr != nil {
		return fmt.Errorf("redisstore: %s: %w", op, cerr)
	}
	return fmt.Errorf("redisstore: %s: %w: no reply within %v", op, backend.ErrUnavailable, s.timeout)
}

// newVersion returns a random version that is neither zero nor prev.
func newVersion(prev uint64) uint64 {
	for {
		if v := rand.Uint64(); v != 0 && v != prev {
			return v
		}
	}
}

// parseVersion decodes the big-endian version at the start of a stored
// value of at least versionLen bytes.
func parseVersion(val string) uint64 {
	var v uint64
	for i := range versionLen {
		v = v<<8 | uint64(val[i])
	}
	return v
}

// check validates the arguments every method shares; ctx comes first so
// that an ended context fails the same way whatever else is wrong.
func check(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if key == "" {
		return fmt.Errorf("redisstore: %s: %w", op, errEmptyKey)
	}
	return nil
}

// maxMillis is the longest time to live in milliseconds that converts back
// to a time.Duration (about 292 years).
const maxMillis = int64(math.MaxInt64 / time.Millisecond)

// millis converts a time to live to whole milliseconds, rounding up.
func millis(op string, ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("redisstore: %s: ttl %v is not positive", op, ttl)
	}
	ms := int64(ttl / time.Millisecond)
	if ttl%time.Millisecond != 0 && ms < maxMillis {
		ms++
	}
	return ms, nil
}

// donePool holds the channels, buffered for one error, through which a
// call's goroutine reports to bounded; a channel goes back only when
// drained.
var donePool = sync.Pool{New: func() any { return make(chan error, 1) }}

// timerPool holds the stopped timers with which bounded waits.
var timerPool = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// classifyNil is classify that maps a nil error to nil.
func classifyNil(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	return classify(ctx, op, err)
}

// classify turns an error from go-redis into the error a method returns;
// the package documentation has the table.
func classify(ctx context.Context, op string, err error) error {
	if errors.Is(err, redis.Nil) {
		// Every method handles nil replies; never let one out as
		// redis.Nil, but keep the text: go-redis also wraps redis.Nil
		// in other failures, such as a Sentinel that does not know
		// the master name.
		return fmt.Errorf("redisstore: %s: unexpected nil reply (%v)", op, err)
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		// The server answered: its verdict stands whatever ctx says.
		if unavailableReply(reply.Error()) {
			return fmt.Errorf("redisstore: %s: %w: %w", op, backend.ErrUnavailable, err)
		}
		if op == opLoad && strings.HasPrefix(reply.Error(), "WRONGTYPE ") {
			// A key of another type under a session's name is not a
			// record: no session, rather than a 503 on every request.
			return fmt.Errorf("redisstore: %s: %w: %w", op, backend.ErrCorrupt, err)
		}
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if cerr := deadline.Err(ctx); cerr != nil {
		if errors.Is(err, cerr) {
			return fmt.Errorf("redisstore: %s: %w", op, err)
		}
		return fmt.Errorf("redisstore: %s: %w (%v)", op, cerr, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// go-redis's own timeout (a dial, say), not the caller's context:
		// keep the context error out of the chain.
		return fmt.Errorf("redisstore: %s: %w: %v", op, backend.ErrUnavailable, err)
	}
	// No reply: the connection failed, timed out or could not be had.
	return fmt.Errorf("redisstore: %s: %w: %w", op, backend.ErrUnavailable, err)
}

// unavailableReply reports whether a server error reply means that the
// server cannot serve the command for now, rather than that the command
// or the configuration is wrong.
func unavailableReply(msg string) bool {
	code, _, _ := strings.Cut(msg, " ")
	switch code {
	case "LOADING", // starting: loading the dataset
		"BUSY",        // running a long script or function
		"CLUSTERDOWN", // slots not covered or cluster failing
		"TRYAGAIN",    // slot being migrated or rehashed
		"MASTERDOWN",  // replica lost its master (replica-serve-stale-data no)
		"READONLY",    // a write reached a replica, typically during a failover
		"OOM",         // maxmemory reached without a way to evict
		"MISCONF",     // writes stopped because snapshots fail
		"NOREPLICAS":  // min-replicas-to-write not met
		return true
	case "ERR":
		return strings.HasPrefix(msg, "ERR max number of clients reached")
	}
	return false
}
