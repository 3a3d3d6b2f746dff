// Package token creates and checks session IDs and derives the keys under
// which sessions are stored.
//
// A session ID is 32 bytes from crypto/rand (256 bits, well above OWASP's
// 128-bit minimum) encoded with base64.RawURLEncoding: 43 characters from
// [A-Za-z0-9_-], safe in cookies and URLs without escaping.
//
// A session that has an owner gets a grouped ID: the random part, a dot,
// and the owner's group, a GroupLen-character digest of the owner (see
// Group). Its store key keeps the group in the clear after the hash of
// the whole ID (see Key and backend.KeyGroup), so that a store can index
// and co-locate the sessions of one owner. The group does not show the
// owner, but it is an unkeyed digest: whoever sees an ID or a store key
// and can guess owners (numeric user IDs, e-mail addresses) can test a
// guess against it. That is the visitor, who knows who they are, or
// someone with access to the store, which holds the session data anyway.
// It adds no guessable part to the ID: the random part alone carries the
// 256 bits.
//
// The ID itself is never used as a store key. Key derives the key as the
// SHA-256 of the ID, so whoever can read the store (a backup, a replica, a
// debugging session, a log of keys) learns nothing that could be replayed
// as a live session cookie.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"

	"github.com/typedsession/session/backend"
)

// Len is the length of a session ID: 32 random bytes in
// base64.RawURLEncoding. Store keys returned by Key have the same length.
const Len = 43

// rawLen is the number of random bytes in a session ID.
const rawLen = 32

// GroupLen is the length of an owner's group: 16 bytes of a digest in
// base64.RawURLEncoding.
const GroupLen = 22

// groupedLen is the length of a grouped ID: the random part, the
// separator and the group.
const groupedLen = Len + 1 + GroupLen

// Group returns the group of the sessions of owner: the first 16 bytes of
// a SHA-256 of owner, with a domain prefix, in base64.RawURLEncoding. Two
// owners share a group only if they collide on 128 bits of SHA-256.
func Group(owner string) string {
	return digest("typedsession owner\x00", owner, 16)
}

// Handle returns the handle of the session stored under key, for
// listings: the first 12 bytes of a SHA-256 of key, with a domain prefix,
// in base64.RawURLEncoding. The key is itself a hash of the ID, so the
// handle leads back to neither.
func Handle(key string) string {
	return digest("typedsession handle\x00", key, 12)
}

// digest returns the first n bytes of the SHA-256 of domain followed by
// s, in base64.RawURLEncoding. The domain keeps the digests of different
// uses apart.
func digest(domain, s string, n int) string {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write([]byte(s))
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0])[:n])
}

// NewIn returns a fresh session ID in group, a value of Group, or an
// ungrouped ID (as New) for the empty group.
func NewIn(group string) (string, error) {
	id, err := New()
	if err != nil || group == "" {
		return id, err
	}
	return id + backend.GroupSeparator + group, nil
}

// GroupOf returns the group of the valid ID or key s, or "" for an
// ungrouped one.
func GroupOf(s string) string {
	if len(s) == groupedLen {
		return s[Len+1:]
	}
	return ""
}

// New returns a fresh session ID: 32 bytes from crypto/rand encoded with
// base64.RawURLEncoding. The result always satisfies Valid.
func New() (string, error) {
	var b [rawLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Valid reports whether s has the exact form of a session ID: Len
// characters from the URL-safe base64 alphabet in canonical form, that is
// exactly the strings base64.RawURLEncoding.Strict() decodes to 32 bytes and
// re-encodes unchanged (the final character carries 4 data bits and 2
// padding bits; the padding bits must be zero), optionally followed by the
// group separator and a group in canonical form (the final character of
// 16 bytes carries 2 data bits and 4 zero padding bits). Valid does not
// allocate.
//
// A valid ID is not necessarily a known one: callers still look it up, and
// must never adopt an unknown ID (strict mode).
func Valid(s string) bool {
	switch len(s) {
	case Len:
	case groupedLen:
		if s[Len] != backend.GroupSeparator[0] || !canonical(s[Len+1:], 15) {
			return false
		}
	default:
		return false
	}
	// 43 characters carry 258 bits; the last 2 must be zero.
	return canonical(s[:Len], 3)
}

// canonical reports whether every byte of s is in the alphabet and the
// padding bits (pad) of its last character are zero.
func canonical(s string, pad byte) bool {
	var or byte
	for i := 0; i < len(s); i++ {
		or |= decode(s[i])
	}
	// Every valid value is below 64, so invalid (0xff) sets bit 7.
	return or&0x80 == 0 && decode(s[len(s)-1])&pad == 0
}

// decodeMap maps a byte to its 6-bit value in the URL-safe base64
// alphabet, or to invalid if the byte is not in the alphabet. It is a
// constant string, so it cannot be modified; TestDecodeMap checks it
// against the alphabet.
const decodeMap = "" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x3e\xff\xff" +
	"\x34\x35\x36\x37\x38\x39\x3a\x3b\x3c\x3d\xff\xff\xff\xff\xff\xff" +
	"\xff\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e" +
	"\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\xff\xff\xff\xff\x3f" +
	"\xff\x1a\x1b\x1c\x1d\x1e\x1f\x20\x21\x22\x23\x24\x25\x26\x27\x28" +
	"\x29\x2a\x2b\x2c\x2d\x2e\x2f\x30\x31\x32\x33\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"

// invalid marks bytes outside the alphabet in decodeMap.
const invalid = 0xff

// decode returns the 6-bit value of the URL-safe base64 character c, or
// invalid if c is not in the alphabet.
func decode(c byte) byte { return decodeMap[c] }

// Key returns the store key for the session ID tok: the SHA-256 of tok's
// bytes, encoded with base64.RawURLEncoding (Len characters), followed for
// a grouped ID by the separator and its group.
//
// Stores keep sessions under this key rather than under the ID so that a
// leaked store (a dump, a backup, a replica, a key listing in a log) does
// not leak live session IDs: turning a key back into an ID would mean
// inverting SHA-256 over 256 random bits. The same keys can be logged to
// correlate requests without exposing IDs. For an input of at most Len
// bytes (every valid ID), Key allocates only the returned string.
func Key(tok string) string {
	var sum [sha256.Size]byte
	if len(tok) <= groupedLen {
		// Hash from a stack copy: converting a string longer than 32 bytes
		// to []byte would allocate.
		var in [groupedLen]byte
		n := copy(in[:], tok)
		sum = sha256.Sum256(in[:n])
	} else {
		sum = sha256.Sum256([]byte(tok))
	}
	var buf [groupedLen]byte
	base64.RawURLEncoding.Encode(buf[:Len], sum[:])
	g := GroupOf(tok)
	if g == "" {
		return string(buf[:Len])
	}
	buf[Len] = backend.GroupSeparator[0]
	copy(buf[Len+1:], g)
	return string(buf[:])
}
