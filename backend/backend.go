// Package backend defines the contract between the session manager and the
// places sessions are kept: the Store interface, the Record it returns, and
// the sentinel errors every implementation reports.
//
// A Store holds opaque, versioned records under string keys. It knows
// nothing about codecs, cookies or the shape of the session data: the
// manager derives the key (a hash of the session ID, never the ID itself),
// frames and encodes the data, and decides the time to live. Implementations
// live in sub-packages (memstore, redisstore, ...) and import this package
// only. Every implementation must pass the conformance suite in
// backend/backendtest.
package backend

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Implementations return them (possibly wrapped, so test
// with errors.Is) to report the outcomes the manager acts on.
var (
	// ErrNotFound reports that no live record exists under the key: it was
	// never created, it expired, or it was deleted.
	ErrNotFound = errors.New("backend: record not found")

	// ErrExists reports that Create found a live record under the key
	// already. The caller picks a new key; the existing record is untouched.
	ErrExists = errors.New("backend: record already exists")

	// ErrConflict reports that Update's expected version no longer matches
	// the stored one: another writer changed the record first. The stored
	// record is untouched.
	ErrConflict = errors.New("backend: version conflict")

	// ErrUnavailable reports that the store could not be reached or could
	// not serve the request (connection refused, timeout, loading, cluster
	// down). It is a transient condition: applications answer it with
	// 503 Service Unavailable, never by treating the visitor as logged out.
	ErrUnavailable = errors.New("backend: store unavailable")

	// ErrTooLarge reports that a record exceeds what the store can hold,
	// for example the size limit of a cookie.
	ErrTooLarge = errors.New("backend: record too large")

	// ErrCorrupt reports that Load found a value under the key that is not
	// a record the store wrote: a value of the wrong type or too short to
	// hold the store's framing. The manager logs it and treats the session
	// as absent, so the visitor can log in again; it never writes over the
	// value.
	ErrCorrupt = errors.New("backend: stored value is not a record")
)

// Record is one stored session as Load returns it.
type Record struct {
	// Data is the opaque record, exactly as given to Create or Update.
	// The caller must not modify it: a store may hand out its own copy.
	Data []byte

	// Version identifies this state of the record. It changes on every
	// successful Create or Update (never on Touch) and is what Update
	// compares against. The versions of a key never repeat, not even
	// across deletion, expiry and re-creation, so a request holding a
	// version of a deleted record can never overwrite a new one under the
	// same key. Zero is never a valid version.
	Version uint64

	// TTL is how long the record has left to live as of the Load. The
	// manager uses it to decide when an idle-timeout extension (Touch) is
	// due, so that most requests pay no write.
	TTL time.Duration
}

// Store keeps versioned session records.
//
// All methods must be safe for concurrent use. A ttl argument is always
// positive; the record expires ttl after the call that set it, and an
// expired record behaves exactly like one that never existed. No method
// except Create ever brings a record into existence: Update and Touch on a
// missing key fail with ErrNotFound, so a request that lost a race with a
// logout or an ID renewal can never resurrect the old session.
//
// Methods honour ctx: a cancelled or expired context yields an error that
// wraps ctx.Err(). Failures to reach the store wrap ErrUnavailable. Every
// call is bounded in time by the store itself, whatever the settings of
// the client it uses, so that a stalled server turns into ErrUnavailable
// quickly instead of holding requests.
//
// # Retries
//
// A write is applied at most once, whatever happens to its reply. A store
// whose client may send a write again after losing its reply (go-redis
// does, up to Options.MaxRetries times) must recognise the repeat: a
// repeated Create or Update whose first attempt was applied reports
// success, with the version that attempt wrote, and changes nothing more.
// It must do so even when other writes landed on the key between the
// attempt and its repeat, which means remembering the versions of the
// record's last few writes, not just the current one (redisstore keeps
// eight; a repeat that comes after more writes than a store remembers may
// fail with ErrConflict). Otherwise the repeat fails with ErrConflict or
// ErrExists, and the manager applies the request's changes a second time
// on top of their first application, or stores the session twice. A store that never sends
// a write again once it may have reached the server (memstore; pgx, which
// retries only what it knows was not sent) meets this by construction.
//
// When a store cannot tell whether a write was applied (the connection
// dropped and the store gave up), it reports ErrUnavailable: the write may
// or may not have happened, and the manager never assumes either.
type Store interface {
	// Load returns the live record stored under key, or ErrNotFound.
	Load(ctx context.Context, key string) (Record, error)

	// Create stores data under key if no live record is there, and returns
	// the new record's version. If one is, it returns ErrExists and changes
	// nothing. The store must not keep a reference to data.
	Create(ctx context.Context, key string, data []byte, ttl time.Duration) (version uint64, err error)

	// Update replaces the record under key if its version is still version
	// (compare-and-set), sets its time to live to ttl, and returns
	// the new version. Version zero matches no record. It returns
	// ErrConflict if the version moved and ErrNotFound if the record is
	// gone; in both cases it changes nothing. The store must not keep a
	// reference to data.
	Update(ctx context.Context, key string, version uint64, data []byte, ttl time.Duration) (newVersion uint64, err error)

	// Touch sets the time to live of the record under key without
	// changing its data or version. It returns ErrNotFound if the record
	// is gone.
	Touch(ctx context.Context, key string, ttl time.Duration) error

	// Delete removes the record under key. Deleting a missing record is
	// not an error.
	Delete(ctx context.Context, key string) error
}

// Sealer is implemented by client-side stores, which keep the whole
// session record in the cookie itself instead of on a server
// (backend/cookiestore). session.New detects a Store that also implements
// Sealer and then uses only Seal and Open: the manager never calls such a
// store's Store methods, and it keeps the session's lifecycle (laziness,
// one commit per request, the idle and absolute timeouts) exactly as for
// server stores, with the timestamps inside the sealed record.
//
// A Sealer only protects records; it knows nothing of their framing. Both
// methods must be safe for concurrent use, and neither may modify its
// arguments or keep a reference to them.
type Sealer interface {
	// Seal encrypts and authenticates record for the cookie called name,
	// and returns the cookie's value. A cookie that would not fit in a
	// browser is an error wrapping ErrTooLarge that states its size: the
	// value is never truncated.
	Seal(name string, record []byte) (value string, err error)

	// Open authenticates and decrypts value, the cookie called name, and
	// returns the record Seal was given. stale reports that value was
	// sealed with a key that is no longer the one Seal uses, so the
	// caller should seal the record again. A value that Seal did not
	// produce for name with one of the store's keys (forged, tampered,
	// truncated, renamed, or sealed with a dropped key) is an error
	// wrapping ErrNotFound, and the manager treats it as no session.
	Open(name, value string) (record []byte, stale bool, err error)
}

// GroupSeparator separates the two parts of a grouped key (see KeyGroup).
const GroupSeparator = "."

// KeyGroup returns the group of key: the part after the first
// GroupSeparator, or "" for a key without one.
//
// The manager stores a session that has an owner (session.Config.Owner)
// under a grouped key, H + "." + G, where H is the hash of the session's
// ID and G a digest of the owner: all the sessions of one owner share G,
// and G never reveals the owner. Stores that implement OwnerIndex keep an
// index of the keys of each group. A store that shards its keys (Redis
// Cluster) places the keys of one group, and the group's index, together,
// so that one atomic step can reach all of them.
func KeyGroup(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] == GroupSeparator[0] {
			return key[i+1:]
		}
	}
	return ""
}

// KeyedRecord is a record with the key it is stored under, as
// OwnerIndex.Group returns it.
type KeyedRecord struct {
	Key string
	Record
}

// OwnerIndex is implemented by stores that index their records by the
// group of their keys (see KeyGroup), so that the manager can list and
// revoke the sessions of one owner without scanning the store. The
// manager asks for it with a type assertion; without it, listing and
// revoking fail with an error.
//
// A store that implements it keeps the index in step with every Create,
// Update, Touch and Delete of a grouped key, and with expiry: the index
// of a group lives as long as its longest-lived record, and entries of
// records that expired or were deleted are removed as the store comes
// across them, so an index never grows beyond its group's live records
// by more than a bounded amount.
type OwnerIndex interface {
	// Group returns the live records whose key is in group, in no
	// particular order. It returns an empty slice, not an error, for a
	// group with no live records. The group must not be empty.
	Group(ctx context.Context, group string) ([]KeyedRecord, error)

	// DeleteGroup deletes every record whose key is in group, except the
	// one under keep ("" keeps none), and returns how many live records it
	// deleted. It is one atomic step: every record of the group whose
	// Create or Update returned before DeleteGroup was called is gone once
	// it returns, and no Update or Touch can bring one back. A record
	// created after it is not affected. The group must not be empty.
	DeleteGroup(ctx context.Context, group, keep string) (int, error)
}
