package codec

import (
	"errors"
	"strings"
	"testing"
)

// The fuzz targets check what the trust model promises of decoding bytes
// a store returned (see the package doc): whatever the input, Unmarshal
// never panics or hangs, reports bad input with an error wrapping
// ErrMalformed, allocates at most fuzzAllocLimit, and what it accepts
// encodes and decodes back to itself.

// fuzzAllocLimit bounds what decoding one fuzz input into testValue or
// map[string]any may allocate. msgpack/v5 caps what it preallocates for a
// length header at 1e6 elements or 1 MB, so a header claiming more than
// the bytes that follow costs at most some tens of megabytes for these
// targets; nothing grows with what a header claims.
const fuzzAllocLimit = 128 << 20

// fuzzDecode decodes data into target and checks the error and the
// allocation.
func fuzzDecode(t *testing.T, c Codec, data []byte, target any) error {
	t.Helper()
	before := heapAllocs()
	err := c.Unmarshal(data, target)
	if used := heapAllocs() - before; used > fuzzAllocLimit+64*uint64(len(data)) {
		t.Fatalf("%s: decoding %d bytes into %T allocated %d bytes", c.Name(), len(data), target, used)
	}
	if err != nil && !errors.Is(err, ErrMalformed) {
		t.Fatalf("%s: error into %T does not wrap ErrMalformed: %v", c.Name(), target, err)
	}
	return err
}

// fuzzRoundTrip checks that a decoded testValue encodes and decodes back
// to itself.
func fuzzRoundTrip(t *testing.T, c Codec, v testValue) {
	t.Helper()
	b, err := c.Marshal(v)
	if err != nil {
		if c == Gob && strings.Contains(err.Error(), "Time.MarshalBinary") {
			// time.Time.UnmarshalBinary accepts zone offsets that
			// MarshalBinary rejects (a -1 minute offset plus seconds).
			return
		}
		if c == JSON && strings.Contains(err.Error(), "Time.MarshalJSON") {
			// A decoded year outside 0-9999 has no RFC 3339 form.
			return
		}
		t.Fatalf("%s: re-Marshal of decoded %+v: %v", c.Name(), v, err)
	}
	var back testValue
	if err := c.Unmarshal(b, &back); err != nil {
		t.Fatalf("%s: re-Unmarshal of % x: %v", c.Name(), b, err)
	}
	if !equalTestValues(back, v) {
		t.Fatalf("%s: round trip changed the value:\n got %+v\nwant %+v", c.Name(), back, v)
	}
}

// fuzzCommon decodes data into testValue (and round trips it on success)
// and, if intoAny, into any and map[string]any. For msgpack, a timestamp
// ext whose payload begins with a map header is left out of the map
// target: see mapLead.
func fuzzCommon(t *testing.T, c Codec, data []byte, intoAny bool) {
	var v testValue
	if fuzzDecode(t, c, data, &v) == nil {
		fuzzRoundTrip(t, c, v)
	}
	if intoAny {
		var a any
		_ = fuzzDecode(t, c, data, &a)
		if c == MsgPack && timestampMapLead(data) {
			return
		}
		var m map[string]any
		_ = fuzzDecode(t, c, data, &m)
	}
}

func FuzzJSON(f *testing.F) {
	f.Add(mustMarshal(f, JSON, goldenValue()))
	f.Add([]byte(`{"roles":["a"],"counts":{"x":1},"created":"2020-01-01T00:00:00+01:00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCommon(t, JSON, data, true)
	})
}

func FuzzMsgPack(f *testing.F) {
	f.Add(mustMarshal(f, MsgPack, goldenValue()))
	f.Add(mustMarshal(f, MsgPack, map[string]any{"ints": []int{1, -200, 70000}, "map": map[string]int{"a": 1}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCommon(t, MsgPack, data, true)
	})
}

func FuzzGob(f *testing.F) {
	f.Add(mustMarshal(f, Gob, goldenValue()))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCommon(t, Gob, data, false)
	})
}

// timestampMapLead reports whether data may hold a timestamp ext whose
// payload begins with a map header: a type byte -1 followed by one.
func timestampMapLead(data []byte) bool {
	for i := 0; i+1 < len(data); i++ {
		if c := data[i+1]; data[i] == 0xff && (c&0xf0 == 0x80 || c == 0xde || c == 0xdf) {
			return true
		}
	}
	return false
}
