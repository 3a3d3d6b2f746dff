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
// Why encoding/json: encoding/json/v2 was measured against it on the
// session type from 100 B to 100 KB (bench/scripts/jsonv2.sh; figures in
// bench/results/jsonv2.txt and BENCHMARKS.md). v2 decodes in 0.3 to 0.6
// times v1's instructions and time, but encodes no faster (0.9 to 1.2
// times the instructions), and it cannot be adopted: in Go 1.25 and 1.26
// it exists only with GOEXPERIMENT=jsonv2, and it changes output. With
// its defaults it differs on some 20 of the 54 cases of bench's output tests
// (nil slices and maps as [] and {}, map keys unsorted, no HTML escaping,
// omitempty, invalid UTF-8 an error), so stored sessions and the golden
// files would change; with the options of json.DefaultOptionsV1, as
// encoding/json itself under the experiment, it still writes invalid
// UTF-8 as the raw bytes of U+FFFD where v1 writes \ufffd, and no option
// restores that. github.com/goccy/go-json matched v1 on every case and
// took 0.2 to 0.4 times v1's time, but the module keeps to its few
// dependencies.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

// Name returns "json".
func (jsonCodec) Name() string { return "json" }

// Marshal returns the JSON encoding of v.
func (jsonCodec) Marshal(v any) (b []byte, err error) {
	defer recoverEncode("json", &b, &err)
	b, err = json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("codec: json: %w", err)
	}
	return b, nil
}

// Unmarshal decodes the JSON in data into the value v points to.
func (jsonCodec) Unmarshal(data []byte, v any) (err error) {
	if err := checkTarget("json", v); err != nil {
		return err
	}
	defer recoverDecode("json", &err)
	if err := json.Unmarshal(data, v); err != nil {
		return malformed("json", err)
	}
	timesToUTC(v)
	return nil
}

// CheckType reports the fields of t that JSON cannot carry faithfully: see
// TypeChecker and the package doc.
func (jsonCodec) CheckType(t reflect.Type) error { return jsonRules.check(t) }
