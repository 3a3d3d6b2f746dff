// Package codec turns typed session data into bytes and back.
//
// Three codecs are built in: JSON (encoding/json), MsgPack
// (github.com/vmihailenco/msgpack/v5, honouring json struct tags where no
// msgpack tag is present, so one set of tags serves every codec) and Gob
// (encoding/gob). Each has a stable name that the session envelope records,
// so a manager configured with one codec still reads sessions written by
// another and rewrites them with its own on their next change.
//
// Decoders see bytes that came from a store, and with the cookie store from
// the client (after authentication). They are bounded: malformed input of n
// bytes never makes a decoder allocate much more than a small multiple of n.
package codec

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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
// known names. Use a Registry to look up custom codecs as well.
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

// Registry is a set of codecs known by name: the built-in ones plus any
// registered with Register. A session manager given a Registry can decode
// sessions written by any codec in it. The zero value is not usable; call
// NewRegistry. A Registry is safe for concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[string]Codec
}

// NewRegistry returns a registry holding the built-in codecs and then
// extra, as if each had been passed to Register.
func NewRegistry(extra ...Codec) (*Registry, error) {
	r := &Registry{m: make(map[string]Codec, len(builtins)+len(extra))}
	for _, c := range builtins {
		r.m[c.Name()] = c
	}
	for _, c := range extra {
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Register adds c under its name. It fails if the name is invalid or
// already taken by a different codec; registering the same codec twice is
// not an error.
func (r *Registry) Register(c Codec) error {
	if c == nil {
		return errors.New("codec: Register of nil codec")
	}
	name := c.Name()
	if !ValidName(name) {
		return fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.m[name]; ok && !sameCodec(old, c) {
		return fmt.Errorf("codec: a different codec is already registered as %q", name)
	}
	r.m[name] = c
	return nil
}

// sameCodec reports whether a and b are the same codec. Comparing
// interfaces whose dynamic type is not comparable (a struct holding a slice
// or a func, say) panics; such codecs count as different.
func sameCodec(a, b Codec) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// Lookup returns the codec registered as name. For an unknown name the
// error wraps ErrUnknown and lists the known names.
func (r *Registry) Lookup(name string) (Codec, error) {
	r.mu.RLock()
	c, ok := r.m[name]
	r.mu.RUnlock()
	if ok {
		return c, nil
	}
	return nil, unknown(name, r.Names())
}

// Names returns the names of the registered codecs, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.m))
	for n := range r.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
