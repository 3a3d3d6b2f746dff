package codec

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// JSON is the codec named "json". It encodes with encoding/json, so struct
// tags, omitempty, json.Marshaler and encoding.TextMarshaler all apply.
//
// Normalisations: times come back in UTC (see the package doc); a string
// that is not valid UTF-8 comes back with U+FFFD in place of each bad byte
// (keep binary data in []byte); a field with omitempty that held an empty
// slice or map comes back nil; a json.RawMessage comes back compacted, and
// a nil one as the four bytes null. Floats must be finite: NaN and ±Inf
// fail to encode.
//
// Unmarshal rejects trailing data after the value. Any error caused by the
// input (syntax errors, values that do not fit the target type, errors from
// UnmarshalJSON methods) wraps ErrMalformed.
//
// Faster JSON: the module github.com/typedsession/session/codec/goccyjson
// holds the same codec on github.com/goccy/go-json, which writes the same
// bytes and encodes and decodes several times faster (measured by
// bench/scripts/jsonv2.sh; the figures are in BENCHMARKS.md). It is a
// module of its own so that this one keeps to its few dependencies; its
// type check is this one's plus a rule for embedded types with methods,
// on which the two libraries differ. encoding/json/v2 was measured too and cannot be
// adopted: in Go 1.25 and 1.26 it exists only with GOEXPERIMENT=jsonv2,
// it encodes no faster, and it changes output (with its defaults on some
// 20 of bench's 54 output cases; with json.DefaultOptionsV1 it still
// writes invalid UTF-8 as the raw bytes of U+FFFD where v1 writes \ufffd).
var JSON Codec = NewJSON(json.Marshal, json.Unmarshal)

// NewJSON returns the codec named "json" with marshal and unmarshal in
// place of encoding/json's Marshal and Unmarshal: everything else (the
// type check, times in UTC, errors wrapping ErrMalformed, recovered panics)
// is JSON's. It is for JSON implementations that claim encoding/json's
// behaviour, such as github.com/goccy/go-json: they must write the bytes
// encoding/json writes and read what it reads, or records written under
// one will read differently under the other, since both carry the name
// "json". Test one with encoding/json side by side before adopting it, as
// the goccyjson module does.
func NewJSON(marshal func(v any) ([]byte, error), unmarshal func(data []byte, v any) error) Codec {
	return &jsonCodec{marshal: marshal, unmarshal: unmarshal}
}

type jsonCodec struct {
	marshal   func(v any) ([]byte, error)
	unmarshal func(data []byte, v any) error
}

// Name returns "json".
func (*jsonCodec) Name() string { return "json" }

// Marshal returns the JSON encoding of v.
func (c *jsonCodec) Marshal(v any) (b []byte, err error) {
	defer recoverEncode("json", &b, &err)
	b, err = c.marshal(v)
	if err != nil {
		return nil, fmt.Errorf("codec: json: %w", err)
	}
	return b, nil
}

// Unmarshal decodes the JSON in data into the value v points to.
func (c *jsonCodec) Unmarshal(data []byte, v any) (err error) {
	if err := checkTarget("json", v); err != nil {
		return err
	}
	defer recoverDecode("json", &err)
	if err := c.unmarshal(data, v); err != nil {
		return malformed("json", err)
	}
	timesToUTC(v)
	return nil
}

// CheckType reports the fields of t that JSON cannot carry faithfully: see
// TypeChecker and the package doc.
func (*jsonCodec) CheckType(t reflect.Type) error { return jsonRules.check(t) }
