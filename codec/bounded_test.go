package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// maxAdversarialAlloc is how much decoding one small malformed input may
// allocate.
const maxAdversarialAlloc = 64 << 10

// targets returns fresh decoding targets of the kinds the decoders
// preallocate for.
func targets() map[string]func() any {
	return map[string]func() any{
		"struct":  func() any { return new(boundTarget) },
		"value":   func() any { return new(testValue) },
		"any":     func() any { return new(any) },
		"ints":    func() any { return new([]int) },
		"strings": func() any { return new([]string) },
		"map":     func() any { return new(map[string]int) },
		"mapany":  func() any { return new(map[string]any) },
		"bytes":   func() any { return new([]byte) },
		"string":  func() any { return new(string) },
	}
}

// checkBounded decodes in into every target and checks that each attempt
// fails with ErrMalformed (unless mayDecode) and allocates at most limit
// bytes.
func checkBounded(t *testing.T, c Codec, name string, in []byte, limit uint64, mayDecode bool) {
	t.Helper()
	for tname, newTarget := range targets() {
		var err error
		n := allocated(func() { err = c.Unmarshal(in, newTarget()) })
		if err == nil {
			if !mayDecode {
				t.Errorf("%s/%s into %s: no error", c.Name(), name, tname)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s/%s into %s: error %v does not wrap ErrMalformed", c.Name(), name, tname, err)
		}
		if n > limit {
			t.Errorf("%s/%s into %s: allocated %d bytes for %d bytes of input (limit %d); error: %v",
				c.Name(), name, tname, n, len(in), limit, err)
		}
	}
}

func TestMsgPackBounded(t *testing.T) {
	for name, in := range adversarialMsgpack() {
		checkBounded(t, MsgPack, name, in, maxAdversarialAlloc, false)
	}
}

func TestMsgPackValidatorRejectsAdversarial(t *testing.T) {
	for name, in := range adversarialMsgpack() {
		err := validateMsgpack(in)
		if name == "time-map-lead" {
			// Valid: the decoder gets it with the timestamp rewritten.
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: validateMsgpack = %v, want ErrMalformed", name, err)
		}
	}
}

// adversarialJSON lists malformed or hostile JSON inputs.
func adversarialJSON() map[string][]byte {
	return map[string][]byte{
		// encoding/json stops at 10000 levels.
		"deep":            []byte(strings.Repeat("[", 10001)),
		"deep-objects":    []byte(strings.Repeat(`[{"a":`, 5001)),
		"huge-exponent":   []byte(`{"age": 1e999999999}`),
		"unterminated":    []byte(`{"name": "abc`),
		"trailing":        []byte(`{} {}`),
		"wrong-type":      []byte(`{"roles": "admin", "ints": "x", "map": [1]}`),
		"bad-escape":      []byte(`"\ud800\u12"`),
		"empty":           {},
		"nul":             {0},
		"many-zeros-tail": append(bytes.Repeat([]byte("0,"), 5000), ']'),
	}
}

func TestJSONBounded(t *testing.T) {
	for name, in := range adversarialJSON() {
		// JSON has no length headers: allocation follows the input, but
		// for nesting, where encoding/json's scanner stack costs up to
		// about 360 KB at its 10000-level limit. Some inputs are valid for
		// some targets.
		checkBounded(t, JSON, name, in, 512<<10+4*uint64(len(in)), true)
	}
}

// gobUintBytes is gob's encoding of an unsigned integer.
func gobUintBytes(x uint64) []byte {
	if x < 128 {
		return []byte{byte(x)}
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], x)
	i := 0
	for buf[i] == 0 {
		i++
	}
	return append([]byte{byte(i - 8)}, buf[i:]...)
}

// gobIntBytes is gob's encoding of a signed integer.
func gobIntBytes(i int64) []byte {
	if i < 0 {
		return gobUintBytes(uint64(^i)<<1 | 1)
	}
	return gobUintBytes(uint64(i) << 1)
}

// gobMessage frames the concatenated parts as one gob message.
func gobMessage(parts ...[]byte) []byte {
	payload := bytes.Join(parts, nil)
	return append(gobUintBytes(uint64(len(payload))), payload...)
}

// gobSplit splits a gob stream into its message payloads.
func gobSplit(t testing.TB, stream []byte) [][]byte {
	t.Helper()
	var msgs [][]byte
	for len(stream) > 0 {
		n, err := readGobUint(&stream)
		if err != nil || n > uint64(len(stream)) {
			t.Fatalf("bad gob framing: %v", err)
		}
		msgs = append(msgs, stream[:n])
		stream = stream[n:]
	}
	return msgs
}

// gobTypeDefs returns the type-definition messages of v's gob encoding,
// framed, and the type id of v.
func gobTypeDefs(t testing.TB, v any) ([]byte, int64) {
	t.Helper()
	msgs := gobSplit(t, mustMarshal(t, Gob, v))
	var defs []byte
	for _, m := range msgs[:len(msgs)-1] {
		defs = append(defs, gobMessage(m)...)
	}
	last := msgs[len(msgs)-1]
	u, err := readGobUint(&last)
	if err != nil {
		t.Fatal(err)
	}
	return defs, gobToInt(u)
}

// mapHolder has a map field named like testValue's.
type mapHolder struct {
	Counts map[string]int
	Roles  []string
}

// adversarialGob lists small gob streams whose lengths claim far more than
// they hold, by name.
func adversarialGob(t testing.TB) map[string][]byte {
	mapDefs, mapID := gobTypeDefs(t, map[string]int{"a": 1})
	intsDefs, intsID := gobTypeDefs(t, []int{1})
	holderDefs, holderID := gobTypeDefs(t, mapHolder{Counts: map[string]int{"a": 1}, Roles: []string{"x"}})
	return map[string][]byte{
		// A 10 MB message length, and nothing after it.
		"message-10MB": gobUintBytes(10<<20 - 1),
		// A map declaring 4 million entries: gob calls
		// reflect.MakeMapWithSize with that before reading any.
		"map-4M": append(mapDefs, gobMessage(gobIntBytes(mapID), []byte{0}, gobUintBytes(1<<22))...),
		// The same inside a struct, decoded into testValue.Counts.
		"struct-map-4M": append(holderDefs, gobMessage(gobIntBytes(holderID), []byte{1}, gobUintBytes(1<<22))...),
		// A []int of 64 Mi elements: gob preallocates up to 10 MB.
		"slice-64Mi": append(intsDefs, gobMessage(gobIntBytes(intsID), []byte{0}, gobUintBytes(1<<26))...),
		// A []string field of 1 Mi elements inside a struct.
		"struct-slice-1Mi": append(holderDefs, gobMessage(gobIntBytes(holderID), []byte{2}, gobUintBytes(1<<20))...),
		// A struct type definition declaring a million fields: gob
		// preallocates up to 10 MB of them.
		"typedef-1M-fields": gobMessage(gobIntBytes(-65), []byte{3, 1, 0, 1}, gobUintBytes(1<<20)),
		"empty":             {},
		"trailing":          append(mustMarshal(t, Gob, 5), 0),
		"truncated":         mustMarshal(t, Gob, mapHolder{Roles: []string{"abc"}})[:20],
	}
}

func TestGobBounded(t *testing.T) {
	for name, in := range adversarialGob(t) {
		checkBounded(t, Gob, name, in, maxAdversarialAlloc, false)
		if err := validateGob(in, nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: validateGob = %v, want ErrMalformed", name, err)
		}
	}
}

// TestBoundedValid checks that valid input decodes with allocation
// proportional to its size, for inputs built to maximize what the decoder
// allocates per byte.
func TestBoundedValid(t *testing.T) {
	const n = 10000
	// msgpack: an array of n empty maps, decoded into []any: each is a
	// map[string]any of its own.
	in := append([]byte{0xdc, byte(n >> 8), byte(n & 0xff)}, bytes.Repeat([]byte{0x80}, n)...)
	var v any
	got := allocated(func() {
		v = nil
		if err := MsgPack.Unmarshal(in, &v); err != nil {
			t.Fatal(err)
		}
	})
	if got > 128*uint64(len(in)) {
		t.Errorf("msgpack: %d bytes allocated for %d bytes of input", got, len(in))
	}
	t.Logf("msgpack: %d empty maps: %d bytes in, %d bytes allocated (%.1fx)", n, len(in), got, float64(got)/float64(len(in)))
}
