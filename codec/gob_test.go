package codec

import (
	"bytes"
	"encoding/gob"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// node is a recursive type.
type node struct {
	Value int
	Next  *node
}

// gobVariety lists values of many shapes; each must survive validateGob
// and a Gob round trip.
func gobVariety() map[string]any {
	list := &node{Value: 1}
	cur := list
	for i := 2; i <= 100; i++ {
		cur.Next = &node{Value: i}
		cur = cur.Next
	}
	type inner struct {
		A, B int
		S    string
	}
	type everything struct {
		Bool     bool
		Int8     int8
		Uint     uint64
		Float    float64
		Complex  complex128
		Bytes    []byte
		Array    [3]int
		ByteArr  [4]byte
		Ptr      *inner
		PtrPtr   **int
		Structs  []inner
		MapOfMap map[string]map[int][]string
		StructK  map[inner]bool
		Time     time.Time
		Dur      time.Duration
		hidden   int
		Chan     chan int
	}
	seven := 7
	p7 := &seven
	return map[string]any{
		"testValue": goldenValue(),
		"session":   benchSession(),
		"int":       -42,
		"string":    "hello",
		"bytes":     []byte{0, 1, 2},
		"float":     math.Inf(-1),
		"map":       map[string]int{"a": 1, "b": 2},
		"slice":     []string{"x", "", "z"},
		"list":      list,
		"everything": everything{
			Bool: true, Int8: -8, Uint: math.MaxUint64, Float: 0.1, Complex: 1 - 2i,
			Bytes: []byte("bytes"), Array: [3]int{1, 0, 3}, ByteArr: [4]byte{0xff, 0x80, 1, 0},
			Ptr: &inner{A: 1, S: "s"}, PtrPtr: &p7,
			Structs:  []inner{{A: 1}, {}, {B: 2}},
			MapOfMap: map[string]map[int][]string{"k": {1: {"a"}, 2: nil}, "e": {}},
			StructK:  map[inner]bool{{A: 1}: true, {}: false},
			Time:     time.Date(2001, 2, 3, 4, 5, 6, 7, time.FixedZone("x", 3600)),
			Dur:      time.Hour, hidden: 3,
		},
		"interfaces": ifaceValue{
			ID:    1,
			Extra: gobExtra{Label: "l", Tags: []string{"t"}, Sub: gobExtra{Label: "sub"}},
			List:  []any{"s", 1, 2.5, nil, gobExtra{Label: "in list"}, map[string]any{"k": "v"}},
			Props: map[string]any{"nil": nil, "n": 3, "list": []any{"a", nil}},
		},
	}
}

func TestGobVariety(t *testing.T) {
	registerGob()
	for name, v := range gobVariety() {
		b := mustMarshal(t, Gob, v)
		target := reflect.New(reflect.TypeOf(v))
		if err := validateGob(b, target.Type().Elem()); err != nil {
			t.Errorf("%s: validateGob: %v", name, err)
			continue
		}
		if err := Gob.Unmarshal(b, target.Interface()); err != nil {
			t.Errorf("%s: Unmarshal: %v", name, err)
			continue
		}
		// Gob drops empty maps and slices and zero fields, and a
		// non-UTC time comes back with a fixed zone: compare encodings.
		again := mustMarshal(t, Gob, target.Elem().Interface())
		if len(again) != len(b) {
			t.Errorf("%s: round trip changed the encoding length: %d, then %d", name, len(b), len(again))
		}
	}
}

func TestGobNilInterfaceOutsideTarget(t *testing.T) {
	registerGob()
	b := mustMarshal(t, Gob, ifaceValue{ID: 1, List: []any{nil, "x"}})
	// Decoded into a type with the field, the nil element is fine.
	var full ifaceValue
	if err := Gob.Unmarshal(b, &full); err != nil || len(full.List) != 2 {
		t.Fatalf("%v %+v", err, full)
	}
	// Without the field gob would skip it, and gob misreads a skipped
	// nil interface: the walker rejects it.
	var partial struct{ ID int }
	if err := Gob.Unmarshal(b, &partial); !errors.Is(err, ErrMalformed) {
		t.Errorf("skipped nil interface: %v, want ErrMalformed", err)
	}
	// Without nil interfaces, skipping works.
	b = mustMarshal(t, Gob, ifaceValue{ID: 1, List: []any{"y", "x"}})
	if err := Gob.Unmarshal(b, &partial); err != nil || partial.ID != 1 {
		t.Errorf("%v %+v", err, partial)
	}
}

// innerType is first sent inside an interface value held by another.
type innerType struct{ X int }

func TestGobNestedInterfaceTypes(t *testing.T) {
	registerGob()
	gob.Register(innerType{})
	v := ifaceValue{ID: 1, Extra: gobExtra{Label: "outer", Sub: innerType{X: 5}}}
	b := mustMarshal(t, Gob, v)
	var back ifaceValue
	if err := Gob.Unmarshal(b, &back); err != nil || back.Extra.(gobExtra).Sub != (innerType{X: 5}) {
		t.Fatalf("%v %+v", err, back)
	}
	// gob cannot skip such a value (its length prefix covers only part
	// of it); the walker rejects it rather than let gob misread it.
	var partial struct{ ID int }
	if err := Gob.Unmarshal(b, &partial); !errors.Is(err, ErrMalformed) {
		t.Errorf("%v, want ErrMalformed", err)
	}
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&partial); err == nil {
		t.Log("encoding/gob now skips it: the walker could accept it")
	}
}

func TestGobTrailingData(t *testing.T) {
	b := mustMarshal(t, Gob, goldenValue())
	// A second value after the first is trailing data, not a new value.
	b = append(b, mustMarshal(t, Gob, goldenValue())...)
	var v testValue
	if err := Gob.Unmarshal(b, &v); !errors.Is(err, ErrMalformed) {
		t.Errorf("%v, want ErrMalformed", err)
	}
}

// TestGobWalkerMatchesDecoder checks on truncations and corruptions of
// valid streams that whenever the walker accepts a stream, the gob decoder
// consumes it exactly, and the codec's Unmarshal allocates in proportion.
func TestGobWalkerMatchesDecoder(t *testing.T) {
	registerGob()
	rng := rand.New(rand.NewPCG(1, 2))
	for name, v := range gobVariety() {
		b := mustMarshal(t, Gob, v)
		typ := reflect.TypeOf(v)
		check := func(in []byte) {
			if validateGob(in, typ) != nil {
				return
			}
			r := bytes.NewReader(in)
			func() {
				defer func() { _ = recover() }()
				if err := gob.NewDecoder(r).Decode(reflect.New(typ).Interface()); err == nil && r.Len() != 0 {
					t.Errorf("%s: walker accepted % x but gob left %d bytes", name, in, r.Len())
				}
			}()
			before := heapAllocs()
			_ = Gob.Unmarshal(in, reflect.New(typ).Interface())
			if used := heapAllocs() - before; used > fuzzAllocLimit(len(in)) {
				t.Errorf("%s: % x: %d bytes allocated", name, in, used)
			}
		}
		for i := range b {
			check(b[:i])
			for _, d := range []byte{0x00, 0x01, 0x7f, 0x80, 0xf8, 0xfe, 0xff} {
				c := bytes.Clone(b)
				c[i] = d
				check(c)
			}
		}
		for range 300 {
			c := bytes.Clone(b)
			for range 1 + rng.IntN(3) {
				c[rng.IntN(len(c))] = byte(rng.Uint32())
			}
			check(c)
		}
	}
}
