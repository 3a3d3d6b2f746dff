package codec

import (
	"encoding/binary"
	"errors"
)

// checkLengths reports, with an error wrapping ErrMalformed, a MessagePack
// length header in b that claims more elements or bytes than follow it.
//
// msgpack/v5 (v5.4.1, upstream issue #401) preallocates for such a header
// without its usual limit when it decodes into an interface: five bytes
// claiming 2^32 elements would allocate 64 GB. Unmarshal runs this check
// only for targets that can hold interfaces (fields tagged LooseTag); for
// other targets msgpack/v5 caps what it preallocates itself. The check walks
// the headers iteratively, so nesting depth costs no stack.
func checkLengths(b []byte) error {
	i := 0
	for need := 1; need > 0; need-- {
		if i >= len(b) {
			return malformed("msgpack", errors.New("truncated input"))
		}
		c := b[i]
		i++
		var elems, size int // nested values, bytes of payload
		var n uint64        // a length read from the header
		var ok = true
		switch {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		case c <= 0x8f:
			elems = 2 * int(c&0x0f)
		case c <= 0x9f:
			elems = int(c & 0x0f)
		case c <= 0xbf:
			size = int(c & 0x1f)
		case c == 0xc4 || c == 0xd9: // bin8, str8
			n, i, ok = readLen(b, i, 1)
			size = int(n)
		case c == 0xc5 || c == 0xda: // bin16, str16
			n, i, ok = readLen(b, i, 2)
			size = int(n)
		case c == 0xc6 || c == 0xdb: // bin32, str32
			n, i, ok = readLen(b, i, 4)
			size = int(n)
		case c == 0xc7 || c == 0xc8 || c == 0xc9: // ext8, ext16, ext32
			n, i, ok = readLen(b, i, 1<<(c-0xc7))
			size = int(n) + 1 // the type byte
			ok = ok && !mapLead(b, i, size)
		case c == 0xca || c == 0xce || c == 0xd2: // float32, uint32, int32
			size = 4
		case c == 0xcb || c == 0xcf || c == 0xd3: // float64, uint64, int64
			size = 8
		case c == 0xcc || c == 0xd0:
			size = 1
		case c == 0xcd || c == 0xd1:
			size = 2
		case c >= 0xd4 && c <= 0xd8: // fixext 1, 2, 4, 8, 16
			size = 1 + 1<<(c-0xd4)
			ok = !mapLead(b, i, size)
		case c == 0xdc || c == 0xdd: // array16, array32
			n, i, ok = readLen(b, i, 2<<(c-0xdc))
			elems = int(n)
		case c == 0xde || c == 0xdf: // map16, map32
			n, i, ok = readLen(b, i, 2<<(c-0xde))
			elems = 2 * int(n)
		default: // 0xc1, never used
			return malformed("msgpack", errors.New("reserved code 0xc1"))
		}
		// Every nested value takes at least one byte.
		if !ok || size < 0 || elems < 0 || size > len(b)-i || elems > len(b)-i-size {
			return malformed("msgpack", errors.New("a length header claims more than the input holds"))
		}
		i += size
		need += elems
	}
	return nil
}

// mapLead reports whether the ext at b[i:] (its type byte, then its
// payload, size bytes in all) is not a timestamp and has a payload that
// begins with a map header. msgpack/v5 decodes a map target from such an
// ext by reading the map from the payload onwards, a parse this check does
// not follow. The encoder writes no such ext: this module registers no ext
// types, and timestamps (type -1) are exempt because a timestamp's payload
// can begin with any byte. A timestamp-shaped ext whose payload begins
// with a map header, decoded into a map of interfaces, is therefore not
// covered; only a writer to the store could put one there.
func mapLead(b []byte, i, size int) bool {
	if size < 2 || size > len(b)-i || b[i] == 0xff {
		return false
	}
	c := b[i+1]
	return c&0xf0 == 0x80 || c == 0xde || c == 0xdf
}

// readLen reads a big-endian length of w bytes at b[i:].
func readLen(b []byte, i, w int) (uint64, int, bool) {
	if len(b)-i < w {
		return 0, i, false
	}
	switch w {
	case 1:
		return uint64(b[i]), i + 1, true
	case 2:
		return uint64(binary.BigEndian.Uint16(b[i:])), i + 2, true
	default:
		return uint64(binary.BigEndian.Uint32(b[i:])), i + 4, true
	}
}
