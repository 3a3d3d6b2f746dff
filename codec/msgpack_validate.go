package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// This file holds a structural validator and a canonicalizer for
// MessagePack. Both walk the bytes without decoding them into Go values.
//
// Why validate first: msgpack/v5 (v5.4.1) sizes allocations from the length
// headers in its input before reading the data. A five-byte array32 header
// claiming 4 billion elements makes it allocate all of them for a slice
// target (decode_slice.go: its "noLimit" test is always true); map, str,
// bin and ext headers preallocate up to a million entries or a megabyte.
// The validator proves, before the decoder runs, that every header in the
// input claims no more than the bytes that follow it, so the decoder never
// allocates for more elements than the input holds.
//
// One decoder quirk needs care beyond that. When the target is a map,
// Decoder.DecodeMapLen silently skips an ext header and reads the ext's
// payload as the map. The payload's bytes were validated as opaque data, so
// the decoder would be reading headers the validator never checked. An ext
// payload therefore must not begin with a byte that DecodeMapLen accepts
// (nil, fixmap, map16, map32): any other first byte makes it fail at once.
// Timestamps (ext type -1) are the one legitimate ext whose 4- and 8-byte
// forms can begin with such a byte (for example nanoseconds in
// [536870912, 603979776)); they are rewritten to the equivalent 12-byte
// form, whose first byte is always below 0x3c, before decoding, and the
// encoder never emits the ambiguous forms.

// maxMsgpackDepth is the deepest nesting of arrays and maps accepted.
const maxMsgpackDepth = 64

// mpKind classifies a MessagePack value by how its size is determined.
type mpKind uint8

const (
	mpScalar mpKind = iota // fixed size: hdr bytes in all
	mpBytes                // str or bin: hdr bytes then n bytes
	mpExt                  // ext: hdr bytes (including the type) then n bytes
	mpArray                // hdr bytes then n values
	mpMap                  // hdr bytes then n key/value pairs
)

// mpHead is the decoded header of one MessagePack value.
type mpHead struct {
	kind mpKind
	ext  int8   // the ext type, for mpExt
	hdr  int    // header length, including the code byte
	n    uint64 // payload bytes (mpBytes, mpExt), values or pairs
}

var (
	errMpTruncated = errors.New("unexpected end of input")
	errMpNeverUsed = errors.New("the never-used code 0xc1")
)

// mpFail returns a validation error at offset i.
func mpFail(i int, err error) error {
	return malformed("msgpack", fmt.Errorf("offset %d: %w", i, err))
}

// mpFailf returns a validation error at offset i.
func mpFailf(i int, format string, args ...any) error {
	return mpFail(i, fmt.Errorf(format, args...))
}

// readMpHead decodes the header of the value that starts at b[i]. It
// checks only that the header itself is present, not its payload.
func readMpHead(b []byte, i int) (mpHead, error) {
	if i >= len(b) {
		return mpHead{}, errMpTruncated
	}
	c := b[i]
	switch {
	case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		return mpHead{kind: mpScalar, hdr: 1}, nil
	case c <= 0x8f: // fixmap
		return mpHead{kind: mpMap, hdr: 1, n: uint64(c & 0x0f)}, nil
	case c <= 0x9f: // fixarray
		return mpHead{kind: mpArray, hdr: 1, n: uint64(c & 0x0f)}, nil
	case c <= 0xbf: // fixstr
		return mpHead{kind: mpBytes, hdr: 1, n: uint64(c & 0x1f)}, nil
	}
	var (
		kind  mpKind
		lenSz int // bytes of length field after the code
		fixed int // for scalars: data bytes after the code; for fixext: payload
	)
	switch c {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return mpHead{kind: mpScalar, hdr: 1}, nil
	case 0xc1:
		return mpHead{}, errMpNeverUsed
	case 0xc4, 0xd9: // bin8, str8
		kind, lenSz = mpBytes, 1
	case 0xc5, 0xda: // bin16, str16
		kind, lenSz = mpBytes, 2
	case 0xc6, 0xdb: // bin32, str32
		kind, lenSz = mpBytes, 4
	case 0xc7: // ext8
		kind, lenSz = mpExt, 1
	case 0xc8: // ext16
		kind, lenSz = mpExt, 2
	case 0xc9: // ext32
		kind, lenSz = mpExt, 4
	case 0xcc, 0xd0: // uint8, int8
		kind, fixed = mpScalar, 1
	case 0xcd, 0xd1: // uint16, int16
		kind, fixed = mpScalar, 2
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		kind, fixed = mpScalar, 4
	case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
		kind, fixed = mpScalar, 8
	case 0xd4: // fixext1
		kind, fixed = mpExt, 1
	case 0xd5: // fixext2
		kind, fixed = mpExt, 2
	case 0xd6: // fixext4
		kind, fixed = mpExt, 4
	case 0xd7: // fixext8
		kind, fixed = mpExt, 8
	case 0xd8: // fixext16
		kind, fixed = mpExt, 16
	case 0xdc: // array16
		kind, lenSz = mpArray, 2
	case 0xdd: // array32
		kind, lenSz = mpArray, 4
	case 0xde: // map16
		kind, lenSz = mpMap, 2
	case 0xdf: // map32
		kind, lenSz = mpMap, 4
	}
	if kind == mpScalar {
		if len(b)-i-1 < fixed {
			return mpHead{}, errMpTruncated
		}
		return mpHead{kind: mpScalar, hdr: 1 + fixed}, nil
	}
	h := mpHead{kind: kind, hdr: 1 + lenSz, n: uint64(fixed)}
	if kind == mpExt {
		h.hdr++ // the type byte
	}
	if len(b)-i < h.hdr {
		return mpHead{}, errMpTruncated
	}
	switch lenSz {
	case 1:
		h.n = uint64(b[i+1])
	case 2:
		h.n = uint64(binary.BigEndian.Uint16(b[i+1:]))
	case 4:
		h.n = uint64(binary.BigEndian.Uint32(b[i+1:]))
	}
	if kind == mpExt {
		h.ext = int8(b[i+h.hdr-1])
	}
	return h, nil
}

// mpMapLead reports whether c is a code msgpack/v5's DecodeMapLen accepts:
// nil, fixmap, map16 or map32.
func mpMapLead(c byte) bool {
	return c == 0xc0 || c&0xf0 == 0x80 || c == 0xde || c == 0xdf
}

// mpTimeExt is the MessagePack timestamp extension type.
const mpTimeExt = -1

// mpScan is the result of walking a MessagePack value.
type mpScan struct {
	b []byte
	// canon makes the walk note maps whose keys are out of canonical order.
	canon bool
	// unsorted is set when canon is and some map's keys are out of order.
	unsorted bool
	// ambiguousTime is set when some timestamp uses a 4- or 8-byte form that
	// begins with a map code and so must be rewritten (see the file comment).
	ambiguousTime bool
}

// value validates the value starting at b[i], nested inside depth arrays
// and maps, and returns the offset just past it.
func (s *mpScan) value(i, depth int) (int, error) {
	b := s.b
	h, err := readMpHead(b, i)
	if err != nil {
		return 0, mpFail(i, err)
	}
	start := i + h.hdr
	rest := uint64(len(b) - start)
	switch h.kind {
	case mpScalar:
		return start, nil
	case mpBytes:
		if h.n > rest {
			return 0, mpFailf(i, "string or binary of %d bytes but only %d bytes follow", h.n, rest)
		}
		return start + int(h.n), nil
	case mpExt:
		if h.n > rest {
			return 0, mpFailf(i, "ext of %d bytes but only %d bytes follow", h.n, rest)
		}
		end := start + int(h.n)
		if err := s.ext(i, h, b[start:end]); err != nil {
			return 0, err
		}
		return end, nil
	case mpArray:
		if depth >= maxMsgpackDepth {
			return 0, mpFailf(i, "arrays and maps nested deeper than %d levels", maxMsgpackDepth)
		}
		if h.n > rest {
			return 0, mpFailf(i, "array of %d elements but only %d bytes follow", h.n, rest)
		}
		j := start
		for k := uint64(0); k < h.n; k++ {
			if j, err = s.value(j, depth+1); err != nil {
				return 0, err
			}
		}
		return j, nil
	default: // mpMap
		if depth >= maxMsgpackDepth {
			return 0, mpFailf(i, "arrays and maps nested deeper than %d levels", maxMsgpackDepth)
		}
		if h.n > rest/2 {
			return 0, mpFailf(i, "map of %d entries but only %d bytes follow", h.n, rest)
		}
		j := start
		prevKey, prevEnd := 0, 0
		for k := uint64(0); k < h.n; k++ {
			keyStart := j
			if j, err = s.value(j, depth+1); err != nil {
				return 0, err
			}
			if s.canon && k > 0 && !s.unsorted && mpCompareKeys(b[prevKey:prevEnd], b[keyStart:j]) > 0 {
				s.unsorted = true
			}
			prevKey, prevEnd = keyStart, j
			if j, err = s.value(j, depth+1); err != nil {
				return 0, err
			}
		}
		return j, nil
	}
}

// ext checks the ext value with header h at offset i and payload p.
func (s *mpScan) ext(i int, h mpHead, p []byte) error {
	if h.ext == mpTimeExt {
		switch len(p) {
		case 4:
		case 8:
			if binary.BigEndian.Uint64(p)>>34 >= 1e9 {
				return mpFailf(i, "timestamp with nanoseconds out of range")
			}
		case 12:
			if binary.BigEndian.Uint32(p) >= 1e9 {
				return mpFailf(i, "timestamp with nanoseconds out of range")
			}
		default:
			return mpFailf(i, "timestamp of %d bytes", len(p))
		}
	}
	if len(p) > 0 && mpMapLead(p[0]) {
		if h.ext != mpTimeExt {
			return mpFailf(i, "ext type %d payload begins with map code %#x, which msgpack/v5 misreads as a map", h.ext, p[0])
		}
		// Only the 4- and 8-byte forms get here: a 12-byte form with valid
		// nanoseconds begins with a byte below 0x3c.
		s.ambiguousTime = true
	}
	return nil
}

// scanMsgpack validates that b holds exactly one well-formed MessagePack
// value within the limits described in the file comment. With canon set it
// also reports maps whose keys are out of canonical order.
func scanMsgpack(b []byte, canon bool) (mpScan, error) {
	s := mpScan{b: b, canon: canon}
	end, err := s.value(0, 0)
	if err != nil {
		return s, err
	}
	if end != len(b) {
		return s, mpFailf(end, "%d bytes of trailing data after the value", len(b)-end)
	}
	return s, nil
}

// validateMsgpack reports whether b holds exactly one well-formed
// MessagePack value that msgpack/v5 can decode without allocating for more
// elements or bytes than b holds: no header claims more elements or bytes
// than follow it, arrays and maps nest at most maxMsgpackDepth deep, the
// never-used code 0xc1 does not occur, timestamps are well-formed and no
// other ext payload begins with a map code. Errors wrap ErrMalformed. It
// runs in O(len(b)) time and does not allocate unless it fails.
func validateMsgpack(b []byte) error {
	_, err := scanMsgpack(b, false)
	return err
}

// mpStrPayload returns the payload of v, one complete MessagePack value, if
// it is a str.
func mpStrPayload(v []byte) ([]byte, bool) {
	switch c := v[0]; {
	case c >= 0xa0 && c <= 0xbf:
		return v[1:], true
	case c == 0xd9:
		return v[2:], true
	case c == 0xda:
		return v[3:], true
	case c == 0xdb:
		return v[5:], true
	}
	return nil, false
}

// mpCompareKeys orders encoded map keys canonically: str keys first, by
// their bytes (which for map[string]T is the order msgpack/v5's
// SetSortMapKeys uses), then all other keys by their encoding.
func mpCompareKeys(a, b []byte) int {
	as, aStr := mpStrPayload(a)
	bs, bStr := mpStrPayload(b)
	switch {
	case aStr && bStr:
		return bytes.Compare(as, bs)
	case aStr:
		return -1
	case bStr:
		return 1
	}
	return bytes.Compare(a, b)
}

// mpEntry locates one map entry: its key starts at key, its value at val,
// and it ends at end.
type mpEntry struct{ key, val, end int }

// mpRewriter copies a validated MessagePack value, optionally sorting map
// keys canonically, and rewrites ambiguous timestamps to the 12-byte form.
type mpRewriter struct {
	src     []byte
	sort    bool
	entries []mpEntry // scratch, used as a stack by nested maps
}

// skip returns the end of the validated value that starts at src[i].
func (r *mpRewriter) skip(i int) int {
	s := mpScan{b: r.src}
	end, err := s.value(i, 0)
	if err != nil {
		panic("codec: msgpack rewrite of unvalidated input") // unreachable
	}
	return end
}

// value appends the rewritten value starting at src[i] to dst and returns
// dst and the offset just past the value in src.
func (r *mpRewriter) value(dst []byte, i int) ([]byte, int) {
	src := r.src
	h, err := readMpHead(src, i)
	if err != nil {
		panic("codec: msgpack rewrite of unvalidated input") // unreachable
	}
	start := i + h.hdr
	switch h.kind {
	case mpScalar:
		return append(dst, src[i:start]...), start
	case mpBytes:
		end := start + int(h.n)
		return append(dst, src[i:end]...), end
	case mpExt:
		end := start + int(h.n)
		if h.ext == mpTimeExt && (h.n == 4 || h.n == 8) && mpMapLead(src[start]) {
			return appendTimestamp12(dst, src[start:end]), end
		}
		return append(dst, src[i:end]...), end
	case mpArray:
		dst = append(dst, src[i:start]...)
		j := start
		for k := uint64(0); k < h.n; k++ {
			dst, j = r.value(dst, j)
		}
		return dst, j
	default: // mpMap
		dst = append(dst, src[i:start]...)
		j := start
		if !r.sort || h.n < 2 {
			for k := uint64(0); k < 2*h.n; k++ {
				dst, j = r.value(dst, j)
			}
			return dst, j
		}
		base := len(r.entries)
		for k := uint64(0); k < h.n; k++ {
			val := r.skip(j)
			end := r.skip(val)
			r.entries = append(r.entries, mpEntry{key: j, val: val, end: end})
			j = end
		}
		n := len(r.entries) - base
		slices.SortStableFunc(r.entries[base:], func(a, b mpEntry) int {
			return mpCompareKeys(src[a.key:a.val], src[b.key:b.val])
		})
		for k := 0; k < n; k++ {
			e := r.entries[base+k] // re-read: nested maps may grow r.entries
			dst, _ = r.value(dst, e.key)
			dst, _ = r.value(dst, e.val)
		}
		r.entries = r.entries[:base]
		return dst, j
	}
}

// appendTimestamp12 appends the 12-byte timestamp ext equal to the 4- or
// 8-byte timestamp payload p, decoded the way msgpack/v5 decodes it.
func appendTimestamp12(dst, p []byte) []byte {
	var sec, nsec uint64
	if len(p) == 4 {
		sec = uint64(binary.BigEndian.Uint32(p))
	} else {
		data := binary.BigEndian.Uint64(p)
		nsec = data >> 34
		sec = data & (1<<34 - 1)
	}
	dst = append(dst, 0xc7, 12, byte(0xff)) // ext8, 12 bytes, type -1
	dst = binary.BigEndian.AppendUint32(dst, uint32(nsec))
	return binary.BigEndian.AppendUint64(dst, sec)
}

// rewriteMsgpack returns a rewritten copy of the validated value b: with
// sortKeys, map entries in canonical key order; always, ambiguous
// timestamps in their 12-byte form. entries is reusable scratch space.
func rewriteMsgpack(b []byte, sortKeys bool, entries []mpEntry) ([]byte, []mpEntry) {
	r := mpRewriter{src: b, sort: sortKeys, entries: entries[:0]}
	dst, _ := r.value(make([]byte, 0, len(b)+16), 0)
	return dst, r.entries
}
