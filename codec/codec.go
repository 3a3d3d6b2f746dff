// Package codec turns typed session data into bytes and back.
//
// Three codecs are built in: JSON (encoding/json), MsgPack
// (github.com/vmihailenco/msgpack/v5, honouring json struct tags where no
// msgpack tag is present, so one set of tags serves every codec) and Gob
// (encoding/gob). Each has a stable name that the session envelope records,
// so a manager configured with one codec still reads sessions written by
// another and rewrites them with its own on their next change.
//
// # Lossless by construction
//
// What a handler sets is what the next request gets. The built-in codecs
// implement TypeChecker, and session.New checks the session type once, with
// reflection, against the codec it writes with. A type the codec would
// change is refused, with an error naming the field path, the codec and the
// fix: unexported fields that hold data; marshaler methods the codec
// ignores, or that an embedded field promotes over the others; values it
// cannot encode (complex numbers under JSON and MsgPack, channels, funcs);
// pointers, under Gob, which turns a pointer to a zero value into nil;
// field names that collide once embedded structs are flattened; map keys it
// cannot key by; JSON's string option on a type that JSON writes through
// its own methods, which it then cannot read back; and interface-typed
// fields, unless tagged LooseTag.
// Recursive types are fine. RoundTrip checks sample values the same way,
// for users' tests, and shows what changed.
//
// What remains are normalisations, the same on every codec where they can
// be: every time.Time comes back in UTC, equal under time.Time.Equal (the
// location name and monotonic reading are not kept); typed integers and
// floats keep their width. Per codec: JSON replaces invalid UTF-8 in strings
// with U+FFFD and cannot encode NaN or infinite floats; Gob returns empty
// slices as nil; with omitempty, JSON and MsgPack return empty slices and
// maps as nil.
//
// # Trust model
//
// Decoders read only what a session manager wrote: a server store holds
// nothing else, and the cookie store authenticates a cookie before
// decoding it. So decoding needs a size cap, not a second implementation of
// the wire formats. The session manager refuses records above
// Config.MaxRecordSize before decoding them. That bounds the input, not the
// memory: valid input can expand (16 KB of msgpack decoded into
// []struct{X int; Pad [4096]byte} allocates about 200 MB), and msgpack/v5
// preallocates up to 1e6 elements for a length header. The one defect the
// codec guards against itself is msgpack/v5's unbounded preallocation when
// decoding into interfaces: see Unmarshal of MsgPack. Every decoding
// failure wraps ErrMalformed; a panic inside a decoder (or a user's
// Unmarshal method) is recovered into one.
package codec

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Codec encodes and decodes session values.
//
// Implementations must be safe for concurrent use. Name must be stable
// forever: it is stored with every session the codec writes and is how the
// data is decoded again later. Names are 1 to 32 characters from
// [a-z0-9._-].
type Codec interface {
	// Name returns the codec's stable name, such as "json".
	Name() string
	// Marshal returns the encoding of v.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into the value v points to.
	Unmarshal(data []byte, v any) error
}

// TypeChecker is implemented by codecs that can tell, from a type alone,
// whether every value of the type survives their round trip. session.New
// calls it once, for the codec it writes with. The built-in codecs
// implement it; a custom codec may.
type TypeChecker interface {
	// CheckType returns nil if every value of t comes back from Marshal
	// and Unmarshal equal to what went in, up to the codec's documented
	// normalisations. Otherwise it returns an error wrapping ErrLossy that
	// names each field the codec would change, and how to fix it.
	CheckType(t reflect.Type) error
}

// ErrUnknown reports that no codec of the requested name is known.
var ErrUnknown = errors.New("codec: unknown codec")

// ErrInvalidName reports a codec whose name is empty, too long or has
// characters outside [a-z0-9._-].
var ErrInvalidName = errors.New("codec: invalid codec name")

// MaxNameLen is the longest codec name allowed.
const MaxNameLen = 32

// ValidName reports whether name can be a codec name: 1 to MaxNameLen
// characters from [a-z0-9._-].
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > MaxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// builtins lists the built-in codecs; it is never modified.
var builtins = []Codec{JSON, MsgPack, Gob}

// Lookup returns the built-in codec named name ("json", "msgpack" or
// "gob"). For an unknown name the error wraps ErrUnknown and lists the
// known names.
func Lookup(name string) (Codec, error) {
	for _, c := range builtins {
		if c.Name() == name {
			return c, nil
		}
	}
	return nil, unknown(name, builtinNames())
}

// Names returns the names of the built-in codecs, sorted.
func Names() []string { return builtinNames() }

func builtinNames() []string {
	names := make([]string, len(builtins))
	for i, c := range builtins {
		names[i] = c.Name()
	}
	slices.Sort(names)
	return names
}

func unknown(name string, known []string) error {
	return fmt.Errorf("%w %q (known: %s)", ErrUnknown, name, strings.Join(known, ", "))
}
