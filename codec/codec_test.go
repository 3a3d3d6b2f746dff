package codec

import (
	"errors"
	"strings"
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
