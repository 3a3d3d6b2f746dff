package codec

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"reflect"
)

// Gob is the codec named "gob". It encodes with encoding/gob, one
// self-contained gob stream (type definitions, then the value) per Marshal.
// Values in interface fields (allowed only with LooseTag) must have their
// concrete types registered with gob.Register.
//
// Normalisations: times come back in UTC (see the package doc); empty
// slices come back nil. Gob turns a pointer to a zero value into
// nil, so CheckType refuses pointers; it also refuses structs with no
// exported fields, which gob cannot encode.
//
// Gob's bytes are not deterministic: maps are written in Go's random
// iteration order, and type ids are numbered in the order the process first
// encodes each type.
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
	r := bytes.NewReader(data)
	// *bytes.Reader is an io.ByteReader, so the decoder reads exactly the
	// bytes it needs and r.Len() shows what is left.
	if err := gob.NewDecoder(r).Decode(v); err != nil {
		return malformed("gob", err)
	}
	if n := r.Len(); n != 0 {
		return malformed("gob", fmt.Errorf("%d bytes of trailing data after the value", n))
	}
	timesToUTC(v)
	return nil
}

// CheckType reports the fields of t that Gob cannot carry faithfully: see
// TypeChecker and the package doc.
func (gobCodec) CheckType(t reflect.Type) error { return gobRules.check(t) }
