// The review's adversarial cases for the type check and the normalisations:
// each once accepted a type whose values changed in a round trip (or
// refused one that was fine), and each pins the fix.

package codec

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The types below are accepted by CheckType on at least one codec, yet some
// value of each does not survive that codec's round trip. Each test asserts
// the promise of TypeChecker: accepted implies round-trips.

// advSecret has its JSON methods on the pointer only, as math/big.Int does.
type advSecret struct{ v string }

func (s *advSecret) MarshalJSON() ([]byte, error) { return json.Marshal(s.v) }
func (s *advSecret) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &s.v) }

type advBigMap struct{ M map[string]big.Int }
type advSecretMap struct{ M map[string]advSecret }

type advinner struct{ Name string }

// advEmbUnexportedPtr embeds a pointer to an unexported struct type.
type advEmbUnexportedPtr struct {
	*advinner
	N int
}

// AdvInner is exported so that the embedded pointer below can be set.
type AdvInner struct{ Name string }

type advEmbPtr struct {
	*AdvInner
	N int
}

// advStamp embeds a pointer whose methods it promotes.
type advStamp struct{ *time.Time }

type advTimePtrOmit struct {
	T *time.Time `json:"t,omitempty"`
}

// advMoney says it is zero when its amount is, whatever its currency.
type advMoney struct {
	Cents    int
	Currency string
}

func (m advMoney) IsZero() bool { return m.Cents == 0 }

type advOmitZero struct {
	M advMoney `json:"m,omitzero"`
}
type advOmitEmpty struct {
	M advMoney `json:"m,omitempty"`
}

type advTimePtrOmitZero struct {
	T *time.Time `json:"t,omitzero"`
}

// advKey is a string kind with an exact MarshalText/UnmarshalText pair.
type advKey string

func (k advKey) MarshalText() ([]byte, error) { return []byte("k-" + string(k)), nil }
func (k *advKey) UnmarshalText(b []byte) error {
	s, ok := strings.CutPrefix(string(b), "k-")
	if !ok {
		return fmt.Errorf("bad key %q", b)
	}
	*k = advKey(s)
	return nil
}

type advTextKeyMap struct{ M map[advKey]int }

// acceptedRoundTrips fails if c accepts the type of v and v does not come
// back equal.
func acceptedRoundTrips(t *testing.T, c Codec, v any) {
	t.Helper()
	if err := c.(TypeChecker).CheckType(reflect.TypeOf(v)); err != nil {
		return
	}
	if err := roundTripValue(c, v); err != nil {
		t.Errorf("%s accepts %T, but the round trip fails: %v", c.Name(), v, err)
	}
}

// Map values are not addressable: encoders ignore methods declared on *T
// there, while decoders use them. CheckType counts pointer methods anyway.
func TestAdversarialPointerMethodsInMapValues(t *testing.T) {
	for _, c := range builtins {
		acceptedRoundTrips(t, c, advBigMap{M: map[string]big.Int{"a": *big.NewInt(5)}})
		acceptedRoundTrips(t, c, advSecretMap{M: map[string]advSecret{"a": {v: "s"}}})
	}
}

// JSON and MsgPack cannot set an embedded pointer to an unexported struct.
func TestAdversarialEmbeddedPointerToUnexportedStruct(t *testing.T) {
	for _, c := range builtins {
		acceptedRoundTrips(t, c, advEmbUnexportedPtr{advinner: &advinner{Name: "x"}})
		acceptedRoundTrips(t, c, advEmbUnexportedPtr{N: 1})
	}
}

// A promoted marshaler through a nil embedded pointer panics: the zero value
// of the session type does not encode, on every codec.
func TestAdversarialPromotedMarshalerThroughNilPointer(t *testing.T) {
	for _, c := range builtins {
		acceptedRoundTrips(t, c, advStamp{})
	}
}

// MsgPack writes a nil embedded pointer's fields as nils, and the decoder
// allocates the pointer to set them.
func TestAdversarialMsgpackNilEmbeddedPointer(t *testing.T) {
	acceptedRoundTrips(t, MsgPack, advEmbPtr{N: 1})
}

// MsgPack's omitempty omits a value whose IsZero says so, pointers
// included; JSON's omitzero does the same.
func TestAdversarialOmitUsesIsZero(t *testing.T) {
	zero := time.Time{}
	acceptedRoundTrips(t, MsgPack, advTimePtrOmit{T: &zero})
	acceptedRoundTrips(t, MsgPack, advOmitEmpty{M: advMoney{Currency: "EUR"}})
	acceptedRoundTrips(t, JSON, advOmitZero{M: advMoney{Currency: "EUR"}})
	acceptedRoundTrips(t, JSON, advTimePtrOmitZero{T: &zero})
}

// encoding/json writes a string-kinded map key as the string itself, but
// reads it through UnmarshalText.
func TestAdversarialJSONStringKeyWithTextMethods(t *testing.T) {
	acceptedRoundTrips(t, JSON, advTextKeyMap{M: map[advKey]int{"a": 1}})
}

type advTimes struct{ At time.Time }

type advEmbTimes struct {
	advTimes
	N int
}

type advNode struct {
	At   time.Time
	Next *advNode
}

// The package doc promises every time.Time back in UTC. timesToUTC skips
// the exported fields of embedded unexported structs, which JSON and
// MsgPack do set, stops 1,000 levels down, and leaves map keys (JSON
// accepts time.Time keys through MarshalText) in the writer's offset.
func TestAdversarialTimesNotInUTC(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 7200))
	var list *advNode
	for range 600 {
		list = &advNode{At: at, Next: list}
	}
	var keyed map[time.Time]int
	if err := JSON.Unmarshal(mustMarshal(t, JSON, &map[time.Time]int{at: 1}), &keyed); err != nil {
		t.Fatal(err)
	}
	for k := range keyed {
		if k.Location() != time.UTC {
			t.Errorf("json: a time.Time map key comes back in %v, not UTC", k.Location())
		}
	}
	for _, c := range []Codec{JSON, MsgPack} {
		var e advEmbTimes
		if err := c.Unmarshal(mustMarshal(t, c, &advEmbTimes{advTimes: advTimes{At: at}}), &e); err != nil {
			t.Fatal(err)
		}
		if e.At.Location() != time.UTC {
			t.Errorf("%s: time in an embedded unexported struct comes back in %v, not UTC", c.Name(), e.At.Location())
		}
		var n advNode
		if err := c.Unmarshal(mustMarshal(t, c, list), &n); err != nil {
			t.Fatal(err)
		}
		depth := 0
		for p := &n; p != nil; p = p.Next {
			if p.At.Location() != time.UTC {
				t.Errorf("%s: time %d levels down comes back in %v, not UTC", c.Name(), depth, p.At.Location())
				break
			}
			depth++
		}
	}
}

type advChain struct {
	S    string
	Next *advChain
}

// RoundTrip stops comparing 100 levels down (differ.diff), so it reports a
// deep change as no change: here JSON's U+FFFD for invalid UTF-8, 60 links
// down a list.
func TestAdversarialRoundTripMissesDeepDifferences(t *testing.T) {
	head := &advChain{S: "\xff"}
	for range 60 {
		head = &advChain{S: "ok", Next: head}
	}
	if err := RoundTrip(*head, JSON); err == nil {
		t.Error("RoundTrip reports no change, but the last link's string came back as U+FFFD")
	}
}

type advPoint struct{ X, Y int }

type advStructKeys struct {
	M map[advPoint]int
	A map[[2]int]int
}

// MsgPack and Gob carry maps keyed by structs and arrays, but keyOK
// (basicKind) refuses every key that is not a string, bool or number: a
// wrong refusal.
func TestAdversarialStructAndArrayMapKeysRefused(t *testing.T) {
	v := advStructKeys{M: map[advPoint]int{{1, 2}: 3}, A: map[[2]int]int{{1, 2}: 3}}
	for _, c := range []Codec{MsgPack, Gob} {
		if err := roundTripValue(c, v); err != nil {
			t.Fatalf("the premise fails: %s: %v", c.Name(), err)
		}
		if err := c.(TypeChecker).CheckType(reflect.TypeOf(v)); err != nil {
			t.Errorf("%s refuses a type it carries: %v", c.Name(), err)
		}
	}
}
