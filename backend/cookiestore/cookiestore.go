// Package cookiestore keeps sessions on the client: the whole session
// record (codec name, encoded data, creation time, absolute deadline and
// idle deadline) is encrypted and authenticated into the cookie value, so
// the server keeps no session state at all.
//
// It is selected like any other store:
//
//	keys, err := cookiestore.KeyPairFromSecret(secret) // 32+ random bytes
//	mgr, err := session.New[UserSession](cookiestore.New(keys), session.Config{})
//
// The sessions behave as with a server store: nothing is opened until a
// handler asks, a changed session is sealed once per request, guards,
// RenewID, Destroy, codec changes and New's type checks work the same,
// and the idle and absolute timeouts hold, with Config.Now as the clock.
// A read-only request re-issues the cookie (to push its idle deadline on)
// at most about once every IdleTimeout/10, so most reads send no
// Set-Cookie. A cookie that does not open (tampered, truncated, forged,
// renamed, sealed with a key that was dropped) or that has expired is no
// session, never an error. Flash messages are sealed beside the data. With
// Config.Transport set to carry sessions in a header, the sealed value is
// the bearer token, still bound to the cookie name.
//
// # Cryptography
//
// Values are sealed by github.com/gorilla/securecookie: AES-256 in CTR mode
// with a random IV, then HMAC-SHA256 over the cookie's name, a timestamp
// and the ciphertext (encrypt-then-MAC). The cookie name is bound into the
// MAC, so a value cannot be replayed under another cookie name. The record
// is sealed as bytes (securecookie.NopEncoder), never with gob.
//
// Keys are explicit pairs of a hash key (HMAC-SHA256, at least 32 bytes)
// and an encryption key (AES-256, exactly 32 bytes): build them with
// NewKeyPair, or derive both from one secret with KeyPairFromSecret (HKDF
// with SHA-256).
//
// # Key rotation
//
// New takes the current key pair first and older ones after it. The
// current pair seals; all of them open. A cookie opened with an older pair
// is sealed again with the current one on the same response, so active
// visitors move to the new key within one request. Rotate in two deploys:
// first add the new pair in front (every instance opening the old one),
// then, once the old cookies have expired or stopped mattering, drop the
// old pair. A cookie sealed with a dropped pair is an empty session (its
// visitor logs in again), never a 500.
//
// # Size
//
// Browsers drop cookies whose name and value exceed 4096 bytes
// (MaxCookieSize). A commit whose cookie would be larger fails with a
// *SizeError, which wraps backend.ErrTooLarge and states the size: the
// ErrorHandler answers it (500 by default), and the cookie is never
// truncated or silently dropped. Sealing roughly multiplies the record by
// 16/9 (two rounds of base64 around the ciphertext) and adds about 90
// bytes, so with the cookie name "session" an encoded session of up to
// about 2,200 bytes fits: measured for a struct holding one string, 2,206
// bytes of string with msgpack (the default), 2,207 with json and 2,182
// with gob, which writes its type description into every value. Data that
// json escapes or base64-encodes ([]byte) takes more room in json. Keep
// large or growing data (carts, histories) on the server, and only
// identifiers and small flags in a cookie session.
//
// # Limits
//
// A client-side store cannot do what needs a server:
//
//   - No revocation. Destroy clears the cookie in the visitor's browser, and
//     RenewID gives them a new value, but a copy of an older cookie (stolen,
//     or replayed by the visitor) stays valid until its own idle or
//     absolute deadline. The same holds for flashes: a replayed older
//     cookie shows them again. Keep IdleTimeout and Lifetime short, and
//     rotate the keys to end every session at once.
//   - Last writer wins. Concurrent requests of one visitor that change the
//     session do not see each other's changes: the cookie of the response
//     the browser processes last wins, and Update functions are never
//     replayed, since there is no server copy to compare-and-set against.
//   - No listing. Sessions cannot be listed, counted or revoked per user.
//   - Size. The session must fit in a 4096-byte cookie, and travels with
//     every request to the cookie's path.
//
// Lifecycle events (see the session package) carry an empty "key": a
// client-side session has no ID.
package cookiestore

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/typedsession/session/backend"
)

const (
	// MaxCookieSize is the largest cookie, name and value together, that
	// Seal produces and Open accepts: what browsers keep.
	MaxCookieSize = 4096

	// MinSecretLen is the shortest secret KeyPairFromSecret accepts.
	MinSecretLen = 32

	// HashKeyLen is the length of the hash keys KeyPairFromSecret derives,
	// and the shortest NewKeyPair accepts: HMAC-SHA256's output size.
	HashKeyLen = 32

	// EncryptionKeyLen is the length of an encryption key: AES-256.
	EncryptionKeyLen = 32
)

var (
	// ErrWeakSecret reports a secret shorter than MinSecretLen bytes given
	// to KeyPairFromSecret.
	ErrWeakSecret = errors.New("cookiestore: secret too short")

	// ErrBadKey reports a key of the wrong length given to NewKeyPair.
	ErrBadKey = errors.New("cookiestore: bad key")

	// ErrClientSide is returned by the backend.Store methods of a Store:
	// a client-side store holds no records on the server. Only code that
	// calls them directly sees it; session.New uses Seal and Open.
	ErrClientSide = errors.New("cookiestore: a client-side store holds no server records; use it through session.New")

	// errUnopened reports a cookie value that none of the keys opens.
	errUnopened = fmt.Errorf("cookiestore: the cookie does not open with any key: %w", backend.ErrNotFound)
)

// KeyPair is a hash key and an encryption key, one generation of a
// Store's keys. The zero KeyPair is invalid; build one with NewKeyPair or
// KeyPairFromSecret.
type KeyPair struct {
	hash, enc []byte
}

// NewKeyPair returns the pair of hashKey, for HMAC-SHA256 (at least
// HashKeyLen bytes), and encryptionKey, for AES-256 (exactly
// EncryptionKeyLen bytes). Both must be random, and distinct. It copies
// both keys; a wrong length is an error wrapping ErrBadKey.
func NewKeyPair(hashKey, encryptionKey []byte) (KeyPair, error) {
	if len(hashKey) < HashKeyLen {
		return KeyPair{}, fmt.Errorf("%w: the hash key has %d bytes, want at least %d", ErrBadKey, len(hashKey), HashKeyLen)
	}
	if len(encryptionKey) != EncryptionKeyLen {
		return KeyPair{}, fmt.Errorf("%w: the encryption key has %d bytes, want %d (AES-256)", ErrBadKey, len(encryptionKey), EncryptionKeyLen)
	}
	return KeyPair{hash: clone(hashKey), enc: clone(encryptionKey)}, nil
}

// KeyPairFromSecret derives a key pair from secret with HKDF-SHA256, one
// key per purpose. The secret must be high-entropy (random bytes, not a
// password: HKDF does not slow down guessing) and at least MinSecretLen
// bytes long; a shorter one is an error wrapping ErrWeakSecret. The same
// secret always gives the same pair, so instances sharing it open each
// other's cookies, and cookies survive restarts.
func KeyPairFromSecret(secret []byte) (KeyPair, error) {
	if len(secret) < MinSecretLen {
		return KeyPair{}, fmt.Errorf("%w: %d bytes, want at least %d random bytes", ErrWeakSecret, len(secret), MinSecretLen)
	}
	hash, err := hkdf.Key(sha256.New, secret, nil, "typedsession cookiestore v1 hash key", HashKeyLen)
	if err != nil {
		return KeyPair{}, fmt.Errorf("cookiestore: derive the hash key: %w", err)
	}
	enc, err := hkdf.Key(sha256.New, secret, nil, "typedsession cookiestore v1 encryption key", EncryptionKeyLen)
	if err != nil {
		return KeyPair{}, fmt.Errorf("cookiestore: derive the encryption key: %w", err)
	}
	return KeyPair{hash: hash, enc: enc}, nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// Store seals session records into cookie values. It implements
// backend.Sealer, which session.New detects, and backend.Store, only so
// that it can be passed to session.New: its Store methods fail with
// ErrClientSide. It is safe for concurrent use.
type Store struct {
	codecs []*securecookie.SecureCookie // the current key's first
}

var (
	_ backend.Store  = (*Store)(nil)
	_ backend.Sealer = (*Store)(nil)
)

// New returns a Store that seals with current and opens with current and
// every pair in previous, tried in order. It panics if a pair is the zero
// KeyPair, a programming error: pairs come from NewKeyPair or
// KeyPairFromSecret, which report bad keys as errors.
func New(current KeyPair, previous ...KeyPair) *Store {
	pairs := append([]KeyPair{current}, previous...)
	s := &Store{codecs: make([]*securecookie.SecureCookie, len(pairs))}
	for i, p := range pairs {
		if p.hash == nil || p.enc == nil {
			panic(fmt.Sprintf("cookiestore: New: key pair %d is the zero KeyPair; build it with NewKeyPair or KeyPairFromSecret", i))
		}
		s.codecs[i] = securecookie.New(p.hash, p.enc).
			SetSerializer(securecookie.NopEncoder{}).
			MaxLength(0). // Seal and Open check MaxCookieSize themselves, on name and value.
			MaxAge(0)     // The session's deadlines are inside the record, on Config.Now's clock.
	}
	return s
}

// SizeError reports a cookie that would be larger than browsers keep. It
// wraps backend.ErrTooLarge.
type SizeError struct {
	// Name is the cookie's name.
	Name string
	// Size is the length of the cookie's name and value together.
	Size int
	// Limit is MaxCookieSize.
	Limit int
}

// Error describes the cookie's size.
func (e *SizeError) Error() string {
	return fmt.Sprintf("cookiestore: the sealed session cookie %q takes %d bytes (name and value), above the %d browsers keep: %v",
		e.Name, e.Size, e.Limit, backend.ErrTooLarge)
}

// Unwrap returns backend.ErrTooLarge.
func (e *SizeError) Unwrap() error { return backend.ErrTooLarge }

// Seal encrypts and authenticates record with the current key pair, for
// the cookie called name, and returns the cookie value. A cookie whose
// name and value would exceed MaxCookieSize is a *SizeError.
func (s *Store) Seal(name string, record []byte) (string, error) {
	// securecookie encrypts in place; the record is the caller's.
	v, err := s.codecs[0].Encode(name, clone(record))
	if err != nil {
		return "", fmt.Errorf("cookiestore: seal: %w", err)
	}
	if n := len(name) + len(v); n > MaxCookieSize {
		return "", &SizeError{Name: name, Size: n, Limit: MaxCookieSize}
	}
	return v, nil
}

// Open authenticates and decrypts value, the cookie called name, with each
// key pair in turn, and returns the record. stale reports that a pair other
// than the current one opened it. A value no pair opens, or one above
// MaxCookieSize, is an error wrapping backend.ErrNotFound.
func (s *Store) Open(name, value string) (record []byte, stale bool, err error) {
	if len(name)+len(value) > MaxCookieSize {
		return nil, false, errUnopened
	}
	for i, c := range s.codecs {
		if c.Decode(name, value, &record) == nil {
			return record, i > 0, nil
		}
	}
	return nil, false, errUnopened
}

// Load fails with ErrClientSide: see Store.
func (s *Store) Load(context.Context, string) (backend.Record, error) {
	return backend.Record{}, ErrClientSide
}

// Create fails with ErrClientSide: see Store.
func (s *Store) Create(context.Context, string, []byte, time.Duration) (uint64, error) {
	return 0, ErrClientSide
}

// Update fails with ErrClientSide: see Store.
func (s *Store) Update(context.Context, string, uint64, []byte, time.Duration) (uint64, error) {
	return 0, ErrClientSide
}

// Touch fails with ErrClientSide: see Store.
func (s *Store) Touch(context.Context, string, time.Duration) error {
	return ErrClientSide
}

// Delete fails with ErrClientSide: see Store.
func (s *Store) Delete(context.Context, string) error {
	return ErrClientSide
}
