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
// What it buys, measured on bench's session type from 100 B to 100 KB
// (bench/scripts/jsonv2.sh and bench/scripts/report.sh; the figures are in
// BENCHMARKS.md): encoding and decoding several times faster than
// encoding/json, which puts JSON sessions at every size at or below the
// cost of alexedwards/scs's gob sessions.
//
// It is a module of its own so that the session module keeps to its few
// dependencies: only an application that imports this package depends on
// goccy/go-json, which uses package unsafe for its speed.
package goccyjson

import (
	gojson "github.com/goccy/go-json"

	"github.com/typedsession/session/codec"
)

// JSON is the codec named "json", encoding and decoding with
// github.com/goccy/go-json. Its output, normalisations and errors are
// those documented on codec.JSON.
var JSON codec.Codec = codec.NewJSON(gojson.Marshal, gojson.Unmarshal)
