package codec

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// fuzzAllocLimit is the most decoding n bytes of input may allocate in the
// fuzz targets: a generous multiple of n, far below what trusting a
// length header would cost.
func fuzzAllocLimit(n int) uint64 { return 256*uint64(n) + 1<<20 }

// fuzzDecode decodes data into a new value of newTarget's type and checks
// the error and the allocation; it returns the decoded value and error.
func fuzzDecode(t *testing.T, c Codec, data []byte, target any) error {
	t.Helper()
	before := heapAllocs()
	err := c.Unmarshal(data, target)
	if used := heapAllocs() - before; used > fuzzAllocLimit(len(data)) {
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

// fuzzCommon is the part of every fuzz target: decode into testValue (and
// round trip on success), boundTarget and, if intoAny, into any.
func fuzzCommon(t *testing.T, c Codec, data []byte, intoAny bool) {
	var v testValue
	if fuzzDecode(t, c, data, &v) == nil {
		fuzzRoundTrip(t, c, v)
	}
	var bt boundTarget
	_ = fuzzDecode(t, c, data, &bt)
	if intoAny {
		var a any
		_ = fuzzDecode(t, c, data, &a)
		var m map[string]any
		_ = fuzzDecode(t, c, data, &m)
	}
}

func FuzzJSON(f *testing.F) {
	f.Add(mustMarshal(f, JSON, goldenValue()))
	f.Add([]byte(`{"roles":["a"],"counts":{"x":1},"created":"2020-01-01T00:00:00+01:00","ints":[1,2],"any":[{}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCommon(t, JSON, data, true)
	})
}

// knownMsgpackPanic reports whether p, recovered from msgpack/v5 v5.4.1
// decoding validated input, is a known bug of that version. The codec
// recovers these and returns ErrMalformed (see TestMsgPackKnownPanics).
func knownMsgpackPanic(p any) bool {
	// Decoding nil into a time.Time (a struct decoded from an ext):
	// decodeNilValue calls reflect.Value.IsNil on the struct.
	return fmt.Sprint(p) == "reflect: call of reflect.Value.IsNil on struct Value"
}

func FuzzMsgPack(f *testing.F) {
	f.Add(mustMarshal(f, MsgPack, goldenValue()))
	f.Add(mustMarshal(f, MsgPack, map[string]any{"ints": []int{1, -200, 70000}, "map": map[string]int{"a": 1}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCommon(t, MsgPack, data, true)

		// Whatever the validator accepts, msgpack/v5 decodes without
		// panicking and, when it succeeds, consumes exactly.
		scan, err := scanMsgpack(data, false)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("validator error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		in := data
		if scan.ambiguousTime {
			in, _ = rewriteMsgpack(data, false, nil)
			if err := validateMsgpack(in); err != nil {
				t.Fatalf("rewritten % x invalid: %v", in, err)
			}
		}
		for _, target := range []any{new(any), new(boundTarget), new(testValue)} {
			r := bytes.NewReader(in)
			dec := msgpack.NewDecoder(r)
			dec.SetCustomStructTag(msgpackTag)
			func() {
				defer func() {
					if p := recover(); p != nil && !knownMsgpackPanic(p) {
						t.Fatalf("msgpack/v5 panicked on validated input % x into %T: %v", in, target, p)
					}
				}()
				if err := dec.Decode(target); err == nil && r.Len() != 0 {
					t.Fatalf("msgpack/v5 left %d bytes of validated input % x into %T", r.Len(), in, target)
				}
			}()
		}
	})
}

func FuzzGob(f *testing.F) {
	registerGob()
	f.Add(mustMarshal(f, Gob, goldenValue()))
	f.Add(mustMarshal(f, Gob, ifaceValue{ID: 3, Extra: gobExtra{Label: "x", Sub: []any{1, nil}}, List: []any{"a", nil}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCommon(t, Gob, data, false)
		var iv ifaceValue
		_ = fuzzDecode(t, Gob, data, &iv)
		var mh mapHolder
		_ = fuzzDecode(t, Gob, data, &mh)

		// Whatever the walker accepts, encoding/gob consumes exactly.
		for _, target := range []any{new(testValue), new(ifaceValue), new(mapHolder)} {
			if validateGob(data, reflect.TypeOf(target).Elem()) != nil {
				continue
			}
			r := bytes.NewReader(data)
			func() {
				defer func() { _ = recover() }() // panics are the codec's to recover
				if err := gob.NewDecoder(r).Decode(target); err == nil && r.Len() != 0 {
					t.Fatalf("gob left %d bytes of validated input into %T", r.Len(), target)
				}
			}()
		}
	})
}
