package goccyjson_test

import (
	"errors"
	"math"
	"reflect"
	"strconv"
	"testing"

	"github.com/typedsession/session"
	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/codec"
	"github.com/typedsession/session/codec/goccyjson"
)

// embX and embY each marshal themselves. A struct embedding both has
// neither method (the promoted ones are ambiguous), so encoding/json
// flattens their fields, {"X":1,"Y":2}, while goccy/go-json writes
// {"embX":"1","embY":"2"}, which neither reads back.
type embX struct{ X int }

func (e embX) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(strconv.Itoa(e.X))), nil }

func (e *embX) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err == nil {
		e.X, err = strconv.Atoi(s)
	}
	return err
}

type embY struct{ Y int }

func (e embY) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(strconv.Itoa(e.Y))), nil }

func (e *embY) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err == nil {
		e.Y, err = strconv.Atoi(s)
	}
	return err
}

type twoMethods struct {
	embX
	embY
}

// TextA and TextB write themselves as text, embedded through pointers.
type TextA struct{ A int }

func (e TextA) MarshalText() ([]byte, error) { return []byte(strconv.Itoa(e.A)), nil }

func (e *TextA) UnmarshalText(b []byte) (err error) {
	e.A, err = strconv.Atoi(string(b))
	return err
}

type TextB struct{ B int }

func (e TextB) MarshalText() ([]byte, error) { return []byte(strconv.Itoa(e.B)), nil }

func (e *TextB) UnmarshalText(b []byte) (err error) {
	e.B, err = strconv.Atoi(string(b))
	return err
}

type twoTextPointers struct {
	*TextA
	*TextB
}

// namedMethods names the same embedded fields in their tags: both
// libraries then write them through their methods.
type namedMethods struct {
	TextA `json:"a"`
	TextB `json:"b"`
}

func TestRefusesEmbeddedTypesWithMethods(t *testing.T) {
	for _, tc := range []struct {
		typ  reflect.Type
		path string
	}{
		{reflect.TypeFor[twoMethods](), "goccyjson_test.twoMethods.embX"},
		{reflect.TypeFor[twoTextPointers](), "goccyjson_test.twoTextPointers.TextA"},
		{reflect.TypeFor[map[string][]twoMethods](), "map[string][]goccyjson_test.twoMethods[key][].embX"},
	} {
		// encoding/json carries them: the refusal is goccyjson's own.
		if err := codec.JSON.(codec.TypeChecker).CheckType(tc.typ); err != nil {
			t.Fatalf("codec.JSON refuses %v: %v", tc.typ, err)
		}
		err := goccyjson.JSON.(codec.TypeChecker).CheckType(tc.typ)
		var te *codec.TypeError
		if !errors.Is(err, codec.ErrLossy) || !errors.As(err, &te) || te.Path != tc.path {
			t.Errorf("CheckType(%v) = %v, want a TypeError at %s", tc.typ, err, tc.path)
		}
	}
	if _, err := session.New[twoMethods](memstore.New(), session.Config{Codec: goccyjson.JSON}); !errors.Is(err, codec.ErrLossy) {
		t.Errorf("session.New with goccyjson.JSON accepts twoMethods: %v", err)
	}
	if err := goccyjson.JSON.(codec.TypeChecker).CheckType(reflect.TypeFor[namedMethods]()); err != nil {
		t.Errorf("CheckType refuses named fields with methods: %v", err)
	}
	v := namedMethods{TextA{1}, TextB{2}}
	want, _ := codec.JSON.Marshal(&v)
	got, err := goccyjson.JSON.Marshal(&v)
	if err != nil || string(got) != string(want) {
		t.Errorf("namedMethods: writes %s (%v), encoding/json %s", got, err, want)
	}
}

// TestReadsFloat32Extremes reads float32 fields at the ends of their
// range: goccy/go-json alone refuses ±math.MaxFloat32 as written by
// encoding/json (3.4028235e+38 parses as a float64 just above it).
func TestReadsFloat32Extremes(t *testing.T) {
	type ratios struct {
		R  float32
		P  *float32
		Rs []float32
	}
	for _, f := range []float32{math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, 16777217} {
		v := ratios{R: f, P: &f, Rs: []float32{f, 1}}
		data, err := codec.JSON.Marshal(&v)
		if err != nil {
			t.Fatal(err)
		}
		var back ratios
		if err := goccyjson.JSON.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, v) {
			t.Errorf("%s: reads %+v (%v), want %+v", data, back, err, v)
		}
	}
	// A fallback decode starts from a zeroed value: nothing of what
	// goccy/go-json filled in before failing is kept.
	stale := profile{Name: "left over", Roles: []string{"x"}}
	if err := goccyjson.JSON.Unmarshal([]byte(`{"ratio":3.4028235e+38}`), &stale); err != nil {
		t.Fatal(err)
	}
	if want := (profile{Ratio: math.MaxFloat32}); !reflect.DeepEqual(stale, want) {
		t.Errorf("reads %+v, want %+v", stale, want)
	}
}
