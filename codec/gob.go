package codec

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"reflect"
)

// Gob is the codec named "gob". It encodes with encoding/gob, one
// self-contained gob stream (type definitions, then the value) per Marshal.
// Values stored in interface fields must have their concrete types
// registered with gob.Register.
//
// Gob's bytes are not deterministic: maps are written in Go's random
// iteration order, and type ids are numbered in the order the process first
// encodes each type, so equal values can encode differently. Use JSON or
// MsgPack where the bytes must be deterministic.
//
// encoding/gob is not hardened against hostile input: it preallocates maps
// from their declared size and slices and messages up to 10 MB. So
// Unmarshal first walks the whole stream, type definitions and value, the
// way the gob decoder will, and rejects (with an error that wraps
// ErrMalformed) any message, string, slice or map whose declared length is
// more than the bytes that follow it, trailing data after the value, and
// nesting deeper than 1000 levels. Interface values inside a struct field
// that the target type (or, inside an interface value, the concrete type)
// might lack are rejected in two rare shapes that gob misparses when it
// skips such a field: a nil interface value, and an interface value holding
// another interface value whose concrete type is first sent there.
var Gob Codec = gobCodec{}

type gobCodec struct{}

// Name returns "gob".
func (gobCodec) Name() string { return "gob" }

// Marshal returns the gob encoding of v: a complete gob stream.
func (gobCodec) Marshal(v any) (b []byte, err error) {
	defer recoverEncode("gob", &b, &err)
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return nil, fmt.Errorf("codec: gob: %w", err)
	}
	return buf.Bytes(), nil
}

// Unmarshal decodes the gob stream in data into the value v points to.
func (gobCodec) Unmarshal(data []byte, v any) (err error) {
	if err := checkTarget("gob", v); err != nil {
		return err
	}
	defer recoverDecode("gob", &err)
	if err := validateGob(data, reflect.TypeOf(v).Elem()); err != nil {
		return err
	}
	r := bytes.NewReader(data)
	// *bytes.Reader is an io.ByteReader, so the decoder reads exactly the
	// bytes it needs and r.Len() shows what is left.
	if err := gob.NewDecoder(r).Decode(v); err != nil {
		return malformed("gob", err)
	}
	if n := r.Len(); n != 0 {
		return malformed("gob", fmt.Errorf("%d bytes of trailing data after the value", n))
	}
	return nil
}
