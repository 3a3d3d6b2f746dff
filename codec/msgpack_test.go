package codec

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func TestMsgPackUsesJSONTags(t *testing.T) {
	golden, err := os.ReadFile(goldenPath(MsgPack))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := MsgPack.Unmarshal(golden, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"user_id", "name", "roles", "counts", "address", "created", "note"} {
		if _, ok := m[key]; !ok {
			t.Errorf("key %q missing from %v", key, sortedKeys(m))
		}
	}
	for _, key := range []string{"UserID", "nickname", "Nickname"} {
		if _, ok := m[key]; ok {
			t.Errorf("unexpected key %q in %v", key, sortedKeys(m))
		}
	}
	if m["user_id"] != "u-1815" {
		t.Errorf("user_id = %v", m["user_id"])
	}
}

func TestMsgPackMsgpackTagWins(t *testing.T) {
	type tagged struct {
		A string `json:"json_a" msgpack:"mp_a"`
		B string `json:"json_b"`
		C string `json:"-"`
		D string
	}
	b := mustMarshal(t, MsgPack, tagged{A: "a", B: "b", C: "c", D: "d"})
	var m map[string]any
	if err := MsgPack.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sortedKeys(m), ","); got != "D,json_b,mp_a" {
		t.Errorf("keys = %s", got)
	}
}

func TestMsgPackMarshalReturnsFreshSlice(t *testing.T) {
	a := mustMarshal(t, MsgPack, "first")
	keep := bytes.Clone(a)
	for range 10 {
		_ = mustMarshal(t, MsgPack, "second value, longer")
		_ = mustMarshal(t, MsgPack, map[string]int{"b": 1, "a": 2})
	}
	if !bytes.Equal(a, keep) {
		t.Fatalf("an earlier result changed: %q", a)
	}
	a[0] = 0 // the caller owns it
	if b := mustMarshal(t, MsgPack, "first"); !bytes.Equal(b, keep) {
		t.Fatalf("got %q", b)
	}
}

func TestMsgPackInterop(t *testing.T) {
	// Data written by plain msgpack/v5 with the json tag decodes.
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("json")
	want := goldenValue()
	if err := enc.Encode(want); err != nil {
		t.Fatal(err)
	}
	var got testValue
	if err := MsgPack.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if !equalTestValues(got, want) {
		t.Errorf("got %+v", got)
	}
	// And ours decodes with plain msgpack/v5.
	dec := msgpack.NewDecoder(bytes.NewReader(mustMarshal(t, MsgPack, want)))
	dec.SetCustomStructTag("json")
	got = testValue{}
	if err := dec.Decode(&got); err != nil || !equalTestValues(got, want) {
		t.Errorf("got %+v, %v", got, err)
	}
}

func TestMsgPackPooledDecoderAfterErrors(t *testing.T) {
	good := mustMarshal(t, MsgPack, goldenValue())
	for i := range 50 {
		var v testValue
		// Errors of every kind: validation, decoding, trailing data.
		_ = MsgPack.Unmarshal(good[:len(good)-i%7-1], &v)
		var wrong struct {
			Name []int `json:"name"`
		}
		_ = MsgPack.Unmarshal(good, &wrong)
		v = testValue{}
		if err := MsgPack.Unmarshal(good, &v); err != nil || !equalTestValues(v, goldenValue()) {
			t.Fatalf("after errors: %v, %+v", err, v)
		}
	}
}

func TestCodecsConcurrent(t *testing.T) {
	want := goldenValue()
	var wg sync.WaitGroup
	for _, c := range []Codec{JSON, MsgPack, Gob} {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 200 {
					v := want
					v.Age = i
					b, err := c.Marshal(v)
					if err != nil {
						t.Error(err)
						return
					}
					var back testValue
					if err := c.Unmarshal(b, &back); err != nil || !equalTestValues(back, v) {
						t.Errorf("%s: %v %+v", c.Name(), err, back)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
}

// TestMsgPackKnownPanics covers inputs that make msgpack/v5 v5.4.1 panic
// although they are well-formed: Unmarshal must return ErrMalformed.
func TestMsgPackKnownPanics(t *testing.T) {
	// nil for a time.Time field (found by FuzzMsgPack).
	var v struct {
		T time.Time `json:"t"`
	}
	in := []byte{0x81, 0xa1, 't', 0xc0}
	err := MsgPack.Unmarshal(in, &v)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("%v, want a recovered panic wrapping ErrMalformed", err)
	}
}
