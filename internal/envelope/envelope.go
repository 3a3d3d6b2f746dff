// Package envelope frames a stored session record: the name of the codec
// that encoded the session value, the session's creation time and absolute
// deadline, per-session extensions, and the encoded value itself.
//
// # Format
//
// Version 2, integers big-endian unless noted, offsets in bytes:
//
//	0      1 byte   magic 0xA5
//	1      1 byte   format version (2)
//	2      1 byte   codec name length n (1..32)
//	3      n bytes  codec name
//	3+n    8 bytes  created-at, Unix milliseconds (int64, >= 0)
//	11+n   8 bytes  absolute deadline, Unix milliseconds (int64), >= created-at
//	19+n   uvarint  length L of the extension area
//	       L bytes  extensions, each: tag (1 byte), uvarint length m, m bytes
//	       rest     payload (may be empty)
//
// Version 1, which releases before the extension area wrote, is the same
// without the extension area: the payload starts at 19+n. Parse reads both;
// Append writes version 2.
//
// # Extensions
//
// New per-session fields go into the extension area, so that adding one
// needs no new format version: a reader skips the extensions it does not
// know and keeps them verbatim (Envelope.Ext), so that a record it rewrites
// still carries them. A tag with the high bit set (0x80) is critical: it
// changes what the record means, and a reader that does not know it cannot
// read the record at all; Parse reports such a record as ErrUnsupported,
// like an unknown format version. Change the format version only for
// changes that readers cannot skip.
//
// Tags this package knows:
//
//	0x81  retired (critical): the record is a tombstone. The session moved
//	      to a new ID; the value is the store key of its new record.
//	0x01  flashes: read-once messages kept beside the session value, in the
//	      session package's encoding. A record may hold only flashes and an
//	      empty payload; readers that do not know the tag then fail to decode
//	      the empty payload and treat the record as no session.
//	0x10  persist: 1 byte, 1 if the session's cookie outlives the browser
//	      session, 0 if it does not; absent, the manager's default applies.
//	0x11  last write: 8 bytes, Unix milliseconds (int64). The manager
//	      writes it when it tracks owners (session.Config.Owner), to list
//	      when each session of an owner was last changed.
//	0x82  idle deadline (critical): 8 bytes, Unix milliseconds (int64).
//	      Client-side records (a sealed cookie) carry their idle timeout
//	      here, since no store expires them; a reader that skipped it
//	      would keep such a session alive past its idle timeout. Server
//	      stores never write it: their time to live is the idle timeout.
//
// # Integrity
//
// The payload is not length-prefixed and the envelope has no checksum: the
// payload is simply everything after the header. Stores hand back whole
// values or nothing (a key-value store, an authenticated cookie), and they
// hold only records the session manager wrote: the trust model is stated
// once, in DESIGN.md, and enforced by a record size cap in the manager.
package envelope

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

const (
	// magic is the first byte of every envelope.
	magic = 0xA5
	// version is the format version Append writes.
	version = 2
	// fixedLen is the header length without the codec name and the
	// extension area: magic, version, name length and the two timestamps.
	fixedLen = 3 + 8 + 8
	// maxNameLen is the longest codec name; it equals codec.MaxNameLen.
	maxNameLen = 32

	// critical marks an extension tag that readers must understand.
	critical = 0x80
	// tagRetired marks a tombstone; its value is the successor's key.
	tagRetired = critical | 0x01
	// tagFlashes is the extension holding flash messages.
	tagFlashes = 0x01
	// tagPersist is the extension holding the session's cookie choice.
	tagPersist = 0x10
	// tagIdle holds the idle deadline of a client-side record.
	tagIdle = critical | 0x02
	// tagWritten holds the time of the record's last write.
	tagWritten = 0x11
	// idleLen is the length of an idle-deadline or last-write extension:
	// tag, length, value.
	idleLen = 1 + 1 + 8
)

// ErrMalformed reports bytes that are not a well-formed envelope: too short
// for the header, a wrong magic byte, a codec name of bad length, a
// negative creation time, a deadline before the creation time, or a
// truncated extension area.
var ErrMalformed = errors.New("envelope: malformed")

// ErrUnsupported reports an envelope with the right magic byte that this
// build cannot read: a format version it does not know, or a critical
// extension it does not know. A newer release wrote it. It is distinct from
// ErrMalformed (and does not wrap it): such a record is not garbage, and
// must be left alone.
var ErrUnsupported = errors.New("envelope: written in a format this build cannot read")

// Envelope is a decoded session record.
type Envelope struct {
	// Codec is the name of the codec that encoded Payload.
	Codec string
	// Created is when the session was created, with millisecond precision.
	Created time.Time
	// Deadline is the session's absolute expiry; it is never extended.
	Deadline time.Time
	// Retired marks a tombstone: the session moved to another ID and this
	// record only remembers that the old ID is retired.
	Retired bool
	// Successor is, for a tombstone, the store key of the record the
	// session moved to.
	Successor []byte
	// Flashes is the value of the flashes extension (tag 0x01), if any.
	Flashes []byte
	// Persist is the value of the persist extension (tag 0x10), if any.
	Persist []byte
	// Written is when the record was last written, or the zero time. It
	// has millisecond precision and is written only when it is not the
	// zero time.
	Written time.Time
	// Idle is the idle deadline of a client-side record, or the zero
	// time: after it the session is over, as if a server store had let
	// the record expire. It has millisecond precision and is written only
	// when it is not the zero time.
	Idle time.Time
	// Ext holds the extensions this build does not know, verbatim and in
	// order. Append writes them back, so that rewriting a record keeps
	// what a newer release stored in it.
	Ext []byte
	// Payload is the encoded session value.
	Payload []byte
}

// Size returns the length of e's encoding.
func (e *Envelope) Size() int {
	ext := e.extLen()
	return fixedLen + len(e.Codec) + uvarintLen(uint64(ext)) + ext + len(e.Payload)
}

// MinSize returns the length of an envelope with the codec name codecName,
// no extensions and an empty payload.
func MinSize(codecName string) int {
	return fixedLen + len(codecName) + 1
}

// extLen is the length of e's extension area.
func (e *Envelope) extLen() int {
	n := len(e.Ext)
	if e.Retired {
		n += 1 + uvarintLen(uint64(len(e.Successor))) + len(e.Successor)
	}
	if len(e.Flashes) > 0 {
		n += 1 + uvarintLen(uint64(len(e.Flashes))) + len(e.Flashes)
	}
	if len(e.Persist) > 0 {
		n += 1 + uvarintLen(uint64(len(e.Persist))) + len(e.Persist)
	}
	if !e.Idle.IsZero() {
		n += idleLen
	}
	if !e.Written.IsZero() {
		n += idleLen
	}
	return n
}

// Append appends the encoding of e to dst and returns the extended slice.
// Created and Deadline are truncated to whole milliseconds.
//
// It returns an error wrapping ErrMalformed, and dst unchanged, if e.Codec
// is empty or longer than 32 bytes, Created is before the Unix epoch,
// Deadline is before Created (after truncation), or either time does not
// fit in int64 milliseconds, or Idle or Written is neither the zero
// time nor a time from the Unix epoch on. Append does not allocate when dst has enough
// spare capacity (see Size).
func Append(dst []byte, e Envelope) ([]byte, error) {
	if len(e.Codec) == 0 || len(e.Codec) > maxNameLen {
		return dst, fmt.Errorf("%w: codec name %q", ErrMalformed, e.Codec)
	}
	created, ok := unixMilli(e.Created)
	if !ok || created < 0 {
		return dst, fmt.Errorf("%w: creation time %v out of range", ErrMalformed, e.Created)
	}
	deadline, ok := unixMilli(e.Deadline)
	if !ok {
		return dst, fmt.Errorf("%w: deadline %v out of range", ErrMalformed, e.Deadline)
	}
	if deadline < created {
		return dst, fmt.Errorf("%w: deadline %v before creation time %v", ErrMalformed, e.Deadline, e.Created)
	}
	var idle, written int64
	if !e.Idle.IsZero() {
		if idle, ok = unixMilli(e.Idle); !ok || idle < 0 {
			return dst, fmt.Errorf("%w: idle deadline %v out of range", ErrMalformed, e.Idle)
		}
	}
	if !e.Written.IsZero() {
		if written, ok = unixMilli(e.Written); !ok || written < 0 {
			return dst, fmt.Errorf("%w: last write %v out of range", ErrMalformed, e.Written)
		}
	}
	dst = append(dst, magic, version, byte(len(e.Codec)))
	dst = append(dst, e.Codec...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(created))
	dst = binary.BigEndian.AppendUint64(dst, uint64(deadline))
	dst = binary.AppendUvarint(dst, uint64(e.extLen()))
	if e.Retired {
		dst = append(dst, tagRetired)
		dst = binary.AppendUvarint(dst, uint64(len(e.Successor)))
		dst = append(dst, e.Successor...)
	}
	if len(e.Flashes) > 0 {
		dst = append(dst, tagFlashes)
		dst = binary.AppendUvarint(dst, uint64(len(e.Flashes)))
		dst = append(dst, e.Flashes...)
	}
	if len(e.Persist) > 0 {
		dst = append(dst, tagPersist)
		dst = binary.AppendUvarint(dst, uint64(len(e.Persist)))
		dst = append(dst, e.Persist...)
	}
	if !e.Idle.IsZero() {
		dst = append(dst, tagIdle, 8)
		dst = binary.BigEndian.AppendUint64(dst, uint64(idle))
	}
	if !e.Written.IsZero() {
		dst = append(dst, tagWritten, 8)
		dst = binary.BigEndian.AppendUint64(dst, uint64(written))
	}
	dst = append(dst, e.Ext...)
	return append(dst, e.Payload...), nil
}

// unixMilli returns t as Unix milliseconds, and false if that does not fit
// in an int64 (where time.Time.UnixMilli's result is undefined).
func unixMilli(t time.Time) (int64, bool) {
	const maxSec = math.MaxInt64 / 1000
	s := t.Unix()
	if s > maxSec || s < -maxSec {
		return 0, false
	}
	// s*1000 fits; adding the milliseconds can only wrap when s == maxSec.
	ms := t.UnixMilli()
	if s >= 0 && ms < 0 {
		return 0, false
	}
	return ms, true
}

// Parse decodes the envelope b, of format version 1 or 2. Payload,
// Successor, Flashes and Ext alias b; nothing is copied. Times are returned in UTC.
// Parse allocates only the Codec string, and not even that for the
// built-in codec names.
//
// Errors wrap ErrMalformed or ErrUnsupported.
func Parse(b []byte) (Envelope, error) {
	if len(b) < 1 || b[0] != magic {
		return Envelope{}, malformedError("bad magic byte")
	}
	if len(b) < 2 {
		return Envelope{}, malformedError("truncated header")
	}
	if b[1] != 1 && b[1] != version {
		return Envelope{}, versionError(b[1])
	}
	if len(b) < 3 {
		return Envelope{}, malformedError("truncated header")
	}
	n := int(b[2])
	if n < 1 || n > maxNameLen {
		return Envelope{}, malformedError("codec name length out of range")
	}
	if len(b) < fixedLen+n {
		return Envelope{}, malformedError("truncated header")
	}
	c := int64(binary.BigEndian.Uint64(b[3+n:]))
	d := int64(binary.BigEndian.Uint64(b[11+n:]))
	if c < 0 {
		return Envelope{}, malformedError("negative creation time")
	}
	if d < c {
		return Envelope{}, malformedError("deadline before creation time")
	}
	e := Envelope{
		Codec:    internName(b[3 : 3+n]),
		Created:  time.UnixMilli(c).UTC(),
		Deadline: time.UnixMilli(d).UTC(),
	}
	rest := b[fixedLen+n:]
	if b[1] == 1 {
		e.Payload = rest
		return e, nil
	}
	l, k := binary.Uvarint(rest)
	if k <= 0 || l > uint64(len(rest)-k) {
		return Envelope{}, malformedError("truncated extension area")
	}
	ext, payload := rest[k:k+int(l)], rest[k+int(l):]
	e.Payload = payload
	if err := e.parseExt(ext); err != nil {
		return Envelope{}, err
	}
	return e, nil
}

// parseExt reads the extension area into e. The unknown extensions are
// kept in e.Ext: aliasing ext when they form one run, as they do in
// everything Append writes, else copied together.
func (e *Envelope) parseExt(ext []byte) error {
	var (
		owned    []byte // the unknown extensions, once they are not one run
		run, end = -1, -1
	)
	for i := 0; i < len(ext); {
		tag := ext[i]
		l, k := binary.Uvarint(ext[i+1:])
		if k <= 0 || l > uint64(len(ext)-i-1-k) {
			return malformedError("truncated extension")
		}
		next := i + 1 + k + int(l)
		switch {
		case tag == tagRetired:
			e.Retired, e.Successor = true, ext[i+1+k:next]
		case tag == tagFlashes:
			e.Flashes = ext[i+1+k : next]
		case tag == tagPersist:
			e.Persist = ext[i+1+k : next]
		case tag == tagIdle:
			if l != 8 {
				return malformedError("idle deadline of bad length")
			}
			idle := int64(binary.BigEndian.Uint64(ext[i+1+k:]))
			if idle < 0 {
				return malformedError("negative idle deadline")
			}
			e.Idle = time.UnixMilli(idle).UTC()
		case tag == tagWritten && l == 8:
			// A last write of another length is not this build's: it
			// is kept, like any unknown extension.
			if w := int64(binary.BigEndian.Uint64(ext[i+1+k:])); w >= 0 {
				e.Written = time.UnixMilli(w).UTC()
			}
		case tag&critical != 0:
			return extensionError(tag)
		case run < 0:
			run, end = i, next
		case owned == nil && end == i:
			end = next // extends the run
		default:
			if owned == nil {
				owned = append([]byte(nil), ext[run:end]...)
			}
			owned = append(owned, ext[i:next]...)
		}
		i = next
	}
	switch {
	case owned != nil:
		e.Ext = owned
	case run >= 0:
		e.Ext = ext[run:end:end]
	}
	return nil
}

// internName returns name as a string, without allocating for the names of
// the built-in codecs.
func internName(name []byte) string {
	// The compiler does not allocate for string(name) in a switch.
	switch string(name) {
	case "json":
		return "json"
	case "msgpack":
		return "msgpack"
	case "gob":
		return "gob"
	}
	return string(name)
}

// uvarintLen is the length of x's uvarint encoding.
func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// malformedError is an error wrapping ErrMalformed with a fixed detail.
// Returning one does not allocate, so rejecting garbage is as cheap as
// accepting a record.
type malformedError string

func (e malformedError) Error() string { return ErrMalformed.Error() + ": " + string(e) }
func (e malformedError) Unwrap() error { return ErrMalformed }

// versionError is an error wrapping ErrUnsupported that records the
// format version found.
type versionError byte

func (e versionError) Error() string {
	return fmt.Sprintf("%v: format version %d", ErrUnsupported, byte(e))
}
func (e versionError) Unwrap() error { return ErrUnsupported }

// extensionError is an error wrapping ErrUnsupported that records the
// unknown critical extension found.
type extensionError byte

func (e extensionError) Error() string {
	return fmt.Sprintf("%v: critical extension 0x%02x", ErrUnsupported, byte(e))
}
func (e extensionError) Unwrap() error { return ErrUnsupported }
