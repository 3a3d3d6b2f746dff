// Package envelope frames a stored session record: a format version, the
// name of the codec that encoded the session value, the session's creation
// time and absolute deadline, and the encoded value itself.
//
// # Format
//
// Version 1, all integers big-endian, offsets in bytes:
//
//	0      1 byte   magic 0xA5
//	1      1 byte   format version (1)
//	2      1 byte   codec name length n (1..32)
//	3      n bytes  codec name ([a-z0-9._-], as codec.ValidName)
//	3+n    8 bytes  created-at, Unix milliseconds (int64, >= 0)
//	11+n   8 bytes  absolute deadline, Unix milliseconds (int64), >= created-at
//	19+n   rest     payload (may be empty)
//
// The encoding is canonical: every byte string Parse accepts is exactly what
// Append produces for the Envelope that Parse returns.
//
// A reader checks the magic byte first and the version byte second, before
// looking at anything else, so a later format may change everything after
// offset 1; such envelopes are reported as ErrVersion rather than as
// ErrMalformed.
//
// # Integrity
//
// The payload is not length-prefixed and the envelope has no checksum: the
// payload is simply everything after the header. An envelope cut short
// inside its payload therefore still parses, with a shorter payload. This
// is deliberate. Stores hand back whole values or nothing (a key-value
// store, an authenticated cookie), and where bytes can be tampered with or
// cut, the store must authenticate them (the cookie store does, with an
// HMAC); a length prefix would detect only truncation, not corruption, and
// would cost bytes in every cookie. A truncated or corrupted payload is
// caught by the codec, which rejects malformed input. What the envelope
// itself guarantees is that its header is complete and well-formed.
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
	// version is the format version this package writes and reads.
	version = 1
	// fixedLen is the header length without the codec name: magic,
	// version, name length and the two timestamps.
	fixedLen = 3 + 8 + 8
	// maxNameLen is the longest codec name; it equals codec.MaxNameLen.
	maxNameLen = 32
)

// ErrMalformed reports bytes that are not a well-formed envelope: too short
// for the header, a wrong magic byte, a codec name of bad length or with
// bad characters, a negative creation time, or a deadline before the
// creation time.
var ErrMalformed = errors.New("envelope: malformed")

// ErrVersion reports an envelope with the right magic byte but a format
// version this package does not know, such as one written by a newer
// release. It is distinct from ErrMalformed (and does not wrap it) so that
// callers can tell the two apart.
var ErrVersion = errors.New("envelope: unknown format version")

// Envelope is a decoded session record.
type Envelope struct {
	// Codec is the name of the codec that encoded Payload.
	Codec string
	// Created is when the session was created, with millisecond precision.
	Created time.Time
	// Deadline is the session's absolute expiry; it is never extended.
	Deadline time.Time
	// Payload is the encoded session value.
	Payload []byte
}

// Size returns the encoded length of an envelope whose codec name is
// nameLen bytes long and whose payload is payloadLen bytes long. Use it to
// preallocate the buffer passed to Append.
func Size(nameLen, payloadLen int) int {
	return fixedLen + nameLen + payloadLen
}

// Append appends the encoding of e to dst and returns the extended slice.
// Created and Deadline are truncated to whole milliseconds.
//
// It returns an error wrapping ErrMalformed, and dst unchanged, if e.Codec
// is not a valid codec name, Created is before the Unix epoch, Deadline is
// before Created (after truncation), or either time does not fit in int64
// milliseconds. Append does not allocate when dst has enough spare
// capacity (see Size).
func Append(dst []byte, e Envelope) ([]byte, error) {
	if !validName(e.Codec) {
		return dst, fmt.Errorf("%w: invalid codec name %q", ErrMalformed, e.Codec)
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
	dst = append(dst, magic, version, byte(len(e.Codec)))
	dst = append(dst, e.Codec...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(created))
	dst = binary.BigEndian.AppendUint64(dst, uint64(deadline))
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

// Parse decodes the envelope b. The returned Payload aliases b; it is not
// copied. Times are returned in UTC. Parse allocates only the Codec string,
// and not even that for the built-in codec names; use ParseHeader to avoid
// that allocation altogether.
//
// Errors wrap ErrMalformed or ErrVersion.
func Parse(b []byte) (Envelope, error) {
	name, created, deadline, payload, err := ParseHeader(b)
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{
		Codec:    internName(name),
		Created:  created,
		Deadline: deadline,
		Payload:  payload,
	}, nil
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

// ParseHeader decodes the envelope b without allocating. codecName and
// payload are sub-slices of b; compare codecName with the name of the
// codec at hand (bytes.Equal, or string(codecName) == name, which does not
// allocate) rather than converting it. Times are returned in UTC.
//
// Errors wrap ErrMalformed or ErrVersion. An envelope cut short inside its
// payload is not an error: see the package documentation.
func ParseHeader(b []byte) (codecName []byte, created, deadline time.Time, payload []byte, err error) {
	if len(b) < 1 || b[0] != magic {
		return nil, time.Time{}, time.Time{}, nil, malformedError("bad magic byte")
	}
	if len(b) < 2 {
		return nil, time.Time{}, time.Time{}, nil, malformedError("truncated header")
	}
	if b[1] != version {
		return nil, time.Time{}, time.Time{}, nil, versionError(b[1])
	}
	if len(b) < 3 {
		return nil, time.Time{}, time.Time{}, nil, malformedError("truncated header")
	}
	n := int(b[2])
	if n < 1 || n > maxNameLen {
		return nil, time.Time{}, time.Time{}, nil, malformedError("codec name length out of range")
	}
	if len(b) < fixedLen+n {
		return nil, time.Time{}, time.Time{}, nil, malformedError("truncated header")
	}
	name := b[3 : 3+n]
	if !validNameBytes(name) {
		return nil, time.Time{}, time.Time{}, nil, malformedError("invalid codec name")
	}
	c := int64(binary.BigEndian.Uint64(b[3+n:]))
	d := int64(binary.BigEndian.Uint64(b[11+n:]))
	if c < 0 {
		return nil, time.Time{}, time.Time{}, nil, malformedError("negative creation time")
	}
	if d < c {
		return nil, time.Time{}, time.Time{}, nil, malformedError("deadline before creation time")
	}
	return name, time.UnixMilli(c).UTC(), time.UnixMilli(d).UTC(), b[fixedLen+n:], nil
}

// malformedError is an error wrapping ErrMalformed with a fixed detail.
// Returning one does not allocate, so rejecting garbage is as cheap as
// accepting a record.
type malformedError string

func (e malformedError) Error() string { return ErrMalformed.Error() + ": " + string(e) }
func (e malformedError) Unwrap() error { return ErrMalformed }

// versionError is an error wrapping ErrVersion that records the version
// found.
type versionError byte

func (e versionError) Error() string { return fmt.Sprintf("%v %d", ErrVersion, byte(e)) }
func (e versionError) Unwrap() error { return ErrVersion }

// validName reports whether name is a valid codec name: 1 to maxNameLen
// characters from [a-z0-9._-]. It mirrors codec.ValidName.
func validName(name string) bool {
	if len(name) == 0 || len(name) > maxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !nameChar(name[i]) {
			return false
		}
	}
	return true
}

// validNameBytes is validName for a byte slice.
func validNameBytes(name []byte) bool {
	if len(name) == 0 || len(name) > maxNameLen {
		return false
	}
	for _, c := range name {
		if !nameChar(c) {
			return false
		}
	}
	return true
}

// nameChar reports whether c may appear in a codec name.
func nameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}
