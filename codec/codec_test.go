package codec

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestLookupBuiltins(t *testing.T) {
	for name, want := range map[string]Codec{"json": JSON, "msgpack": MsgPack, "gob": Gob} {
		c, err := Lookup(name)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", name, err)
		}
		if c != want || c.Name() != name {
			t.Errorf("Lookup(%q) = %v (%q)", name, c, c.Name())
		}
	}
	if got := strings.Join(Names(), ","); got != "gob,json,msgpack" {
		t.Errorf("Names() = %s", got)
	}
}

func TestLookupUnknown(t *testing.T) {
	c, err := Lookup("cbor")
	if c != nil || !errors.Is(err, ErrUnknown) {
		t.Fatalf("Lookup(cbor) = %v, %v; want ErrUnknown", c, err)
	}
	if !strings.Contains(err.Error(), "gob, json, msgpack") || !strings.Contains(err.Error(), `"cbor"`) {
		t.Errorf("error %q should name the codec and list the known ones", err)
	}
}

// upperJSON is a custom codec for the registry tests.
type upperJSON struct{ name string }

func (u upperJSON) Name() string                     { return u.name }
func (upperJSON) Marshal(v any) ([]byte, error)      { return JSON.Marshal(v) }
func (upperJSON) Unmarshal(data []byte, v any) error { return JSON.Unmarshal(data, v) }

// funcCodec is not comparable: comparing two of them with == panics.
type funcCodec struct{ marshal func(any) ([]byte, error) }

func (funcCodec) Name() string                       { return "func" }
func (f funcCodec) Marshal(v any) ([]byte, error)    { return f.marshal(v) }
func (funcCodec) Unmarshal(data []byte, v any) error { return JSON.Unmarshal(data, v) }

func TestRegistry(t *testing.T) {
	custom := upperJSON{name: "upper-json"}
	r, err := NewRegistry(custom)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := r.Lookup("upper-json"); err != nil || c != custom {
		t.Fatalf("Lookup(upper-json) = %v, %v", c, err)
	}
	for _, name := range []string{"json", "msgpack", "gob"} {
		if c, err := r.Lookup(name); err != nil || c.Name() != name {
			t.Errorf("Lookup(%q) = %v, %v", name, c, err)
		}
	}
	if got := strings.Join(r.Names(), ","); got != "gob,json,msgpack,upper-json" {
		t.Errorf("Names() = %s", got)
	}
	_, err = r.Lookup("nope")
	if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "gob, json, msgpack, upper-json") {
		t.Errorf("Lookup(nope) error = %v", err)
	}

	// The same codec again is fine; a different one under a taken name
	// is not.
	if err := r.Register(custom); err != nil {
		t.Errorf("re-registering the same codec: %v", err)
	}
	if err := r.Register(upperJSON{name: "json"}); err == nil {
		t.Error("registering a different codec as json succeeded")
	}
	if err := r.Register(upperJSON{name: "upper-json"}); err != nil {
		t.Errorf("equal codec value: %v", err) // equal by ==, so the same
	}
	if _, err := NewRegistry(upperJSON{name: "gob"}); err == nil {
		t.Error("NewRegistry with a codec named gob succeeded")
	}
	if err := r.Register(nil); err == nil {
		t.Error("Register(nil) succeeded")
	}

	// Non-comparable codecs must not make Register panic.
	f := funcCodec{marshal: JSON.Marshal}
	if err := r.Register(f); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(funcCodec{marshal: MsgPack.Marshal}); err == nil {
		t.Error("a second non-comparable codec under a taken name was accepted")
	}
}

func TestRegistryInvalidNames(t *testing.T) {
	r, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", MaxNameLen+1)
	for _, name := range []string{"", "JSON", "my codec", "a/b", "ü", long, "json\n"} {
		err := r.Register(upperJSON{name: name})
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("Register(%q) = %v, want ErrInvalidName", shortName(name, 10), err)
		}
		if ValidName(name) {
			t.Errorf("ValidName(%q) = true", name)
		}
	}
	for _, name := range []string{"a", "json-v2", "x.y_z", strings.Repeat("a", MaxNameLen)} {
		if !ValidName(name) {
			t.Errorf("ValidName(%q) = false", name)
		}
	}
	if _, err := NewRegistry(upperJSON{name: "Bad Name"}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("NewRegistry with a bad name: %v", err)
	}
}

func TestRegistryConcurrent(t *testing.T) {
	r, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				c := upperJSON{name: fmt.Sprintf("c-%d-%d", g, i%20)}
				if err := r.Register(c); err != nil {
					t.Error(err)
					return
				}
				if _, err := r.Lookup(c.name); err != nil {
					t.Error(err)
					return
				}
				if _, err := r.Lookup("json"); err != nil {
					t.Error(err)
					return
				}
				_ = r.Names()
			}
		}()
	}
	wg.Wait()
	if n := len(r.Names()); n != 3+8*20 {
		t.Errorf("%d codecs registered, want %d", n, 3+8*20)
	}
}

func TestUnmarshalInvalidTarget(t *testing.T) {
	var nilPtr *testValue
	for _, c := range []Codec{JSON, MsgPack, Gob} {
		in := mustMarshal(t, c, goldenValue())
		for _, target := range []any{nil, testValue{}, nilPtr, 5, "x", []int(nil)} {
			err := c.Unmarshal(in, target)
			if !errors.Is(err, ErrInvalidTarget) {
				t.Errorf("%s.Unmarshal into %T: %v, want ErrInvalidTarget", c.Name(), target, err)
			}
			if errors.Is(err, ErrMalformed) {
				t.Errorf("%s.Unmarshal into %T: a bad target is not malformed input", c.Name(), target)
			}
		}
	}
}

func TestUnmarshalErrorsWrapMalformed(t *testing.T) {
	inputs := map[string][]byte{
		"empty":     {},
		"garbage":   []byte("\xff\x00garbage\x01"),
		"truncated": nil, // filled per codec
		"trailing":  nil, // filled per codec
	}
	for _, c := range []Codec{JSON, MsgPack, Gob} {
		good := mustMarshal(t, c, goldenValue())
		inputs["truncated"] = good[:len(good)-3]
		inputs["trailing"] = append(append([]byte(nil), good...), 0)
		for name, in := range inputs {
			var v testValue
			err := c.Unmarshal(in, &v)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s/%s: %v, want ErrMalformed", c.Name(), name, err)
			}
		}
		// Type mismatch: a string where the struct has an int.
		var wrong struct {
			Name int `json:"name"`
		}
		if err := c.Unmarshal(good, &wrong); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s type mismatch: %v, want ErrMalformed", c.Name(), err)
		}
	}
}

// panicky panics while being decoded.
type panicky struct{}

func (*panicky) UnmarshalJSON([]byte) error { panic("boom") }
func (*panicky) GobDecode([]byte) error     { panic("boom") }
func (*panicky) UnmarshalBinary([]byte) error {
	panic("boom")
}
func (panicky) GobEncode() ([]byte, error)      { return []byte{1}, nil }
func (panicky) MarshalJSON() ([]byte, error)    { return []byte(`1`), nil }
func (panicky) MarshalBinary() ([]byte, error)  { return []byte{1}, nil }
func (*panicky) UnmarshalMsgpack([]byte) error  { panic("boom") }
func (panicky) MarshalMsgpack() ([]byte, error) { return []byte{1}, nil }

func TestUnmarshalRecoversPanics(t *testing.T) {
	for _, c := range []Codec{JSON, MsgPack, Gob} {
		in := mustMarshal(t, c, panicky{})
		var p panicky
		err := c.Unmarshal(in, &p)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "boom") {
			t.Errorf("%s: %v, want a recovered panic wrapping ErrMalformed", c.Name(), err)
		}
	}
}

// marshalPanicky panics while being encoded.
type marshalPanicky struct{}

func (marshalPanicky) MarshalJSON() ([]byte, error)    { panic("boom") }
func (marshalPanicky) MarshalMsgpack() ([]byte, error) { panic("boom") }
func (marshalPanicky) GobEncode() ([]byte, error)      { panic("boom") }

func TestMarshalRecoversPanics(t *testing.T) {
	for _, c := range []Codec{JSON, MsgPack, Gob} {
		b, err := c.Marshal(marshalPanicky{})
		if err == nil || b != nil || !strings.Contains(err.Error(), "boom") {
			t.Errorf("%s: %q, %v; want a recovered panic", c.Name(), b, err)
		}
	}
}

func TestMarshalErrors(t *testing.T) {
	for _, c := range []Codec{JSON, MsgPack, Gob} {
		if _, err := c.Marshal(make(chan int)); err == nil {
			t.Errorf("%s: Marshal(chan) succeeded", c.Name())
		}
	}
}

func TestMalformedErrorUnwraps(t *testing.T) {
	var v testValue
	err := JSON.Unmarshal([]byte(`{"name": 5}`), &v)
	if !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
	var inner interface{ Unwrap() error }
	if !errors.As(err, &inner) || inner.Unwrap() == nil {
		t.Errorf("%v does not unwrap to the decoder's error", err)
	}
	if !strings.HasPrefix(err.Error(), "codec: malformed json input: ") {
		t.Errorf("message %q", err)
	}
}
