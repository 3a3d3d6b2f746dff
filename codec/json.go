package codec

import (
	"encoding/json"
	"fmt"
)

// JSON is the codec named "json". It encodes with encoding/json, so struct
// tags, omitempty, json.Marshaler and encoding.TextMarshaler all apply, and
// map keys come out sorted: the same value always encodes to the same bytes.
//
// Unmarshal rejects trailing data after the value. Any error caused by the
// input (syntax errors, values that do not fit the target type, errors from
// UnmarshalJSON methods) wraps ErrMalformed. Decoding allocates in
// proportion to the input: JSON has no length prefixes to trust.
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
	return nil
}
