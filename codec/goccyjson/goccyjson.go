// Package goccyjson holds the session codec named "json" on
// github.com/goccy/go-json, a faster implementation of encoding/json's
// behaviour.
//
// Use it in place of codec.JSON:
//
//	mgr, err := session.New[UserSession](store, session.Config{Codec: goccyjson.JSON})
//
// It is codec.JSON with goccy/go-json's Marshal and Unmarshal in place of
// encoding/json's (see codec.NewJSON): the same name, the same type check,
// times in UTC, errors wrapping codec.ErrMalformed. It writes the bytes
// codec.JSON writes and reads what codec.JSON reads, so the two can be
// swapped in either direction, during a rolling deploy too: records written
// by one are read by the other as they were written. This package's tests
// hold goccy/go-json to that, value by value and input by input, against
// encoding/json.
//
// Where the two libraries are known to differ, this codec does what
// encoding/json does or refuses the type: it decodes again with
// encoding/json what goccy/go-json fails to read (a float32 holding
// ±math.MaxFloat32), and its type check refuses structs that embed types
// with JSON or text methods (see CheckType). Two differences remain, on
// values no typed field holds: inside a field tagged codec.LooseTag, an
// array of values whose MarshalJSON has a pointer receiver is written
// through that method by goccy/go-json and not by encoding/json, and
// values nested thousands of levels deep fail to encode with goccy/go-json
// (encoding/json writes them, but neither reads them back).
//
// What it buys, measured on bench's session type from 100 B to 100 KB
// (bench/scripts/jsonv2.sh and bench/scripts/report.sh; the figures are in
// BENCHMARKS.md): encoding and decoding several times faster than
// encoding/json, which puts JSON sessions below the cost of
// alexedwards/scs's gob sessions up to 10 KB, and reads below it at every
// size; 100 KB writes take about scs's time but more instructions.
//
// It is a module of its own so that the session module keeps to its few
// dependencies: only an application that imports this package depends on
// goccy/go-json, which uses package unsafe for its speed.
package goccyjson

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"

	gojson "github.com/goccy/go-json"

	"github.com/typedsession/session/codec"
)

// JSON is the codec named "json", encoding and decoding with
// github.com/goccy/go-json. Its output, normalisations and errors are
// those documented on codec.JSON, and its type check is codec.JSON's with
// one more rule (see CheckType).
var JSON codec.Codec = goccyCodec{codec.NewJSON(gojson.Marshal, unmarshal)}

// unmarshal decodes with goccy/go-json and, where that fails, again with
// encoding/json, into a zeroed value: goccy/go-json refuses a few inputs
// encoding/json reads, such as a float32 field holding ±math.MaxFloat32,
// which it parses as a float64 just above the float32 range. Input both
// refuse (a corrupt record) is decoded twice, which is rare and cheap.
func unmarshal(data []byte, v any) error {
	if err := gojson.Unmarshal(data, v); err == nil {
		return nil
	}
	// codec.NewJSON's Unmarshal has checked that v is a non-nil pointer.
	reflect.ValueOf(v).Elem().SetZero()
	return json.Unmarshal(data, v)
}

// goccyCodec is the json codec on goccy/go-json, with its own type check.
type goccyCodec struct{ codec.Codec }

// CheckType refuses what codec.JSON refuses, and also any struct that
// embeds a type with a MarshalJSON, UnmarshalJSON, MarshalText or
// UnmarshalText method, on its value or its pointer. encoding/json and
// goccy/go-json disagree on those: where two embedded types' methods cancel
// out, encoding/json writes their fields flattened into the outer object,
// and goccy/go-json writes each through its method under the type's name,
// which neither then reads back. Give such a field a name.
func (c goccyCodec) CheckType(t reflect.Type) error {
	if err := c.Codec.(codec.TypeChecker).CheckType(t); err != nil {
		return err
	}
	return embeddedMethods(t, t.String(), make(map[reflect.Type]bool))
}

var methods = []reflect.Type{
	reflect.TypeFor[json.Marshaler](), reflect.TypeFor[json.Unmarshaler](),
	reflect.TypeFor[encoding.TextMarshaler](), reflect.TypeFor[encoding.TextUnmarshaler](),
}

// hasMethods reports whether t or *t has one of the JSON or text methods.
func hasMethods(t reflect.Type) bool {
	for _, m := range methods {
		if t.Implements(m) || reflect.PointerTo(t).Implements(m) {
			return true
		}
	}
	return false
}

// embeddedMethods returns an error naming the first embedded field, in the
// values of t, whose type has a JSON or text method. It does not look
// inside types that have such methods themselves, nor inside interfaces
// (fields tagged codec.LooseTag), as codec.JSON's check does not.
func embeddedMethods(t reflect.Type, path string, seen map[reflect.Type]bool) error {
	if seen[t] {
		return nil
	}
	seen[t] = true
	if t.Kind() != reflect.Pointer && hasMethods(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return embeddedMethods(t.Elem(), path+"[]", seen)
	case reflect.Map:
		return embeddedMethods(t.Elem(), path+"[key]", seen)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Tag.Get("json") == "-" {
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); f.Anonymous && name == "" && hasMethods(ft) {
				return &codec.TypeError{Codec: "json", Path: path + "." + f.Name, Type: f.Type,
					Problem: "goccy/go-json encodes an embedded type that has JSON or text methods otherwise than encoding/json",
					Fix:     "give the field a name (or a name in its json tag), or use codec.JSON"}
			}
			if err := embeddedMethods(f.Type, path+"."+f.Name, seen); err != nil {
				return err
			}
		}
	}
	return nil
}
