//go:build goexperiment.jsonv2

package bench

import (
	"encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"slices"
	"testing"
)

// jsonEncoders are the implementations of the GOEXPERIMENT=jsonv2 build:
// encoding/json, which the experiment reimplements as v2 with
// json.DefaultOptionsV1; v2 with its own defaults; and v2 with only the
// options (jsonV1Options) that make it write and read the cases as
// encoding/json as released does.
func jsonEncoders() []jsonEncoder {
	return []jsonEncoder{
		{"v1-on-v2", json.Marshal, json.Unmarshal},
		{"v2", func(v any) ([]byte, error) { return jsonv2.Marshal(v) },
			func(b []byte, v any) error { return jsonv2.Unmarshal(b, v) }},
		{"v2-compat", func(v any) ([]byte, error) { return jsonv2.Marshal(v, jsonV1Options) },
			func(b []byte, v any) error { return jsonv2.Unmarshal(b, v, jsonV1Options) }},
	}
}

// jsonV1Options are the options of json.DefaultOptionsV1 that the cases
// need: without any one of them, some case's result differs from
// encoding/json's (TestJSONv2Options). The other five
// (FormatBytesWithLegacySemantics, MergeWithLegacySemantics,
// ParseTimeWithLooseRFC3339, ReportErrorsWithLegacySemantics,
// StringifyWithLegacySemantics) change nothing the cases show.
var jsonV1Options = jsonv2.JoinOptions(jsonV1OptionSet...)

var jsonV1OptionSet = []jsonv2.Options{
	jsontext.EscapeForHTML(true),
	jsontext.EscapeForJS(true),
	jsontext.AllowInvalidUTF8(true),
	jsontext.AllowDuplicateNames(true),
	jsontext.PreserveRawStrings(true),
	jsonv2.Deterministic(true),
	jsonv2.FormatNilSliceAsNull(true),
	jsonv2.FormatNilMapAsNull(true),
	jsonv2.MatchCaseInsensitiveNames(true),
	json.MatchCaseSensitiveDelimiter(true),
	json.OmitEmptyWithLegacySemantics(true),
	json.CallMethodsWithLegacySemantics(true),
	json.FormatByteArrayAsArray(true),
	json.FormatDurationAsNano(true),
	json.ParseBytesWithLooseRFC4648(true),
	json.UnmarshalArrayFromAnyLength(true),
}

// jsonV2Unavoidable are the cases where even encoding/json on v2 writes
// other bytes than encoding/json as released: v2 replaces invalid UTF-8
// with the three bytes of U+FFFD, v1 with the escape \ufffd, and no
// option restores v1's bytes. Both read back as U+FFFD.
var jsonV2Unavoidable = map[string]bool{
	"encode invalid-utf8":         true,
	"encode invalid-utf8-map-key": true,
}

// TestJSONv2Output compares every implementation of this build with
// encoding/json as released (testdata/jsonv1.txt). encoding/json on v2 and
// v2 with jsonV1Options must match it on every case but
// jsonV2Unavoidable; go test -v lists every difference, v2's with its
// defaults included. v2's defaults leave map keys in Go's random order,
// so whether its small maps (map-any, codec-golden) differ varies from
// run to run.
func TestJSONv2Output(t *testing.T) {
	want := readJSONGolden(t)
	for _, enc := range jsonEncoders() {
		got := jsonResults(enc)
		n := 0
		for _, name := range jsonCaseNames() {
			if got[name] == want[name] {
				continue
			}
			n++
			t.Logf("differs: %s %s: %s, v1 %s", enc.name, name, clip(got[name]), clip(want[name]))
			if enc.name != "v2" && !jsonV2Unavoidable[name] {
				t.Errorf("%s no longer matches encoding/json on %s", enc.name, name)
			}
		}
		t.Logf("%s: %d of %d cases differ from encoding/json", enc.name, n, len(want))
		if enc.name != "v2" && n < len(jsonV2Unavoidable) {
			t.Errorf("%s now matches encoding/json on some of %v: update jsonV2Unavoidable", enc.name, jsonV2Unavoidable)
		}
	}
}

// TestJSONv2Options checks that each of jsonV1Options is needed: without
// it, some case differs from encoding/json as released.
func TestJSONv2Options(t *testing.T) {
	want := readJSONGolden(t)
	for i := range jsonV1OptionSet {
		rest := jsonv2.JoinOptions(slices.Delete(slices.Clone(jsonV1OptionSet), i, i+1)...)
		enc := jsonEncoder{"v2-compat without one option",
			func(v any) ([]byte, error) { return jsonv2.Marshal(v, rest) },
			func(b []byte, v any) error { return jsonv2.Unmarshal(b, v, rest) }}
		if len(jsonDiffers(jsonResults(enc), want)) == len(jsonV2Unavoidable) {
			t.Errorf("option %d of jsonV1OptionSet changes no case", i)
		}
	}
}
