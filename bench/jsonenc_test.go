package bench

// The JSON encoder comparison: is there a faster encoder than encoding/json
// that the json codec (codec/json.go) could adopt without changing a byte
// it writes? encoding/json/v2 exists only with GOEXPERIMENT=jsonv2, which
// also reimplements encoding/json on top of v2, so the comparison needs two
// test binaries: jsonenc_v1_test.go is the default build (encoding/json as
// released, and goccy/go-json), jsonenc_v2_test.go the GOEXPERIMENT=jsonv2
// build (encoding/json on v2, and v2 itself with and without the options
// that make it write what v1 writes). bench/scripts/jsonv2.sh runs both,
// interleaved, and saves the results in bench/results/jsonv2.txt.
//
// The output comparison rests on testdata/jsonv1.txt: what encoding/json
// as released writes for jsonEncodeCases and reads from jsonDecodeCases.
// The default build checks that file (TestJSONv1Golden, -update rewrites
// it); the jsonv2 build compares every v2 variant with it
// (TestJSONv2Output).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// jsonEncoder is one JSON implementation under comparison.
type jsonEncoder struct {
	name      string
	marshal   func(v any) ([]byte, error)
	unmarshal func(data []byte, v any) error
}

// BenchmarkJSONEncoders encodes and decodes the session type at every size
// of BenchmarkSizes with each JSON implementation of this build (see
// jsonEncoders). The decoders all read encoding/json's bytes. The
// sub-benchmark names are benchstat keys: summarise with -col /lib.
func BenchmarkJSONEncoders(b *testing.B) {
	for _, size := range sessionSizes {
		u := sizedUser(size.bytes)
		data, err := json.Marshal(&u)
		if err != nil {
			b.Fatal(err)
		}
		for _, enc := range jsonEncoders() {
			b.Run(fmt.Sprintf("size=%s/op=encode/lib=%s", size.name, enc.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if _, err := enc.marshal(&u); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		for _, enc := range jsonEncoders() {
			b.Run(fmt.Sprintf("size=%s/op=decode/lib=%s", size.name, enc.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					var v UserSession
					if err := enc.unmarshal(data, &v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestJSONEncodersRoundTrip checks that every implementation of this build
// reads back what it writes, at every size.
func TestJSONEncodersRoundTrip(t *testing.T) {
	for _, enc := range jsonEncoders() {
		for _, size := range sessionSizes {
			u := sizedUser(size.bytes)
			data, err := enc.marshal(&u)
			if err != nil {
				t.Fatalf("%s %s: %v", enc.name, size.name, err)
			}
			var back UserSession
			if err := enc.unmarshal(data, &back); err != nil {
				t.Fatalf("%s %s: %v", enc.name, size.name, err)
			}
			if fmt.Sprint(back) != fmt.Sprint(u) {
				t.Errorf("%s %s: the round trip changed the session", enc.name, size.name)
			}
		}
	}
}

// jsonOmit has a field of each kind with omitempty, all left zero or
// empty: encoding/json omits the empty string, zero numbers, false, nil
// pointers and empty slices and maps, but never a struct or a time.
type jsonOmit struct {
	S      string         `json:"s,omitempty"`
	N      int            `json:"n,omitempty"`
	B      bool           `json:"b,omitempty"`
	P      *int           `json:"p,omitempty"`
	L      []string       `json:"l,omitempty"`
	M      map[string]int `json:"m,omitempty"`
	Struct address        `json:"struct,omitempty"`
	Time   time.Time      `json:"time,omitempty"`
	Keep   string         `json:"keep"`
}

type address struct {
	City string `json:"city"`
	Zip  int    `json:"zip"`
}

// jsonGolden is a copy of codec's testValue, whose encoding is
// codec/testdata/golden.json.
type jsonGolden struct {
	Name     string         `json:"name"`
	UserID   string         `json:"user_id"`
	Age      int            `json:"age"`
	Admin    bool           `json:"admin"`
	Roles    []string       `json:"roles"`
	Counts   map[string]int `json:"counts"`
	Address  address        `json:"address"`
	Created  time.Time      `json:"created"`
	Nickname string         `json:"nickname,omitempty"`
	Note     string         `json:"note,omitempty"`
}

type jsonNumbers struct {
	MaxUint64 uint64  `json:"max_uint64"`
	MinInt64  int64   `json:"min_int64"`
	Tenth     float64 `json:"tenth"`
	Tiny      float64 `json:"tiny"`
	Huge      float64 `json:"huge"`
	Float32   float32 `json:"float32"`
	Quoted    int     `json:"quoted,string"`
}

type jsonEmbedded struct {
	address
	Extra string `json:"extra"`
}

type jsonWithRaw struct {
	Raw json.RawMessage `json:"raw"`
}

// jsonPtrMethod has its MarshalJSON on the pointer: encoding/json calls it
// only on addressable values, so not on a map's values.
type jsonPtrMethod struct{ V string }

func (p *jsonPtrMethod) MarshalJSON() ([]byte, error) { return json.Marshal("method:" + p.V) }

type jsonCase struct {
	name string
	v    any
}

// jsonEncodeCases are the values whose encodings must not change: the
// session type at every size and the cases in codec's tests where JSON
// implementations are known to differ.
func jsonEncodeCases() []jsonCase {
	at := time.Date(2024, 5, 17, 9, 30, 15, 123456789, time.UTC)
	cases := []jsonCase{}
	for _, size := range sessionSizes {
		u := sizedUser(size.bytes)
		cases = append(cases, jsonCase{"session-" + size.name, &u})
	}
	many := map[string]int{}
	for i := range 50 {
		many[fmt.Sprintf("key-%02d", 49-i)] = i
	}
	intKeys := map[int]string{}
	for i := range 40 {
		intKeys[i*7-100] = strconv.Itoa(i)
	}
	return append(cases,
		jsonCase{"session-nil-slices", &UserSession{UserID: "u"}},
		jsonCase{"session-empty-slices", &UserSession{UserID: "u", Roles: []string{}, Cart: []string{}}},
		jsonCase{"codec-golden", &jsonGolden{
			Name: "Ada Lovelace", UserID: "u-1815", Age: 36, Admin: true,
			Roles:   []string{"admin", "editor"},
			Counts:  map[string]int{"logins": 42, "cart": 3, "alerts": 0},
			Address: address{City: "London", Zip: 1234},
			Created: at, Note: "analytical engine",
		}},
		jsonCase{"time-utc", &at},
		jsonCase{"time-offset", ptr(at.In(time.FixedZone("X", 2*3600+30*60)))},
		jsonCase{"time-zero", &time.Time{}},
		jsonCase{"time-whole-second", ptr(time.Date(2024, 5, 17, 9, 30, 15, 0, time.UTC))},
		jsonCase{"bytes", &[]byte{0, 1, 2, 0xfe, 0xff, '<', '>'}},
		jsonCase{"bytes-nil", new([]byte)},
		jsonCase{"bytes-empty", &[]byte{}},
		jsonCase{"byte-array", &[4]byte{1, 2, 3, 4}},
		jsonCase{"map-sorted-keys", &many},
		jsonCase{"map-int-keys", &intKeys},
		jsonCase{"map-nil", new(map[string]int)},
		jsonCase{"map-empty", &map[string]int{}},
		jsonCase{"map-any", &map[string]any{"b": map[string]int{"y": 1, "x": 2}, "a": []any{1, "two", 3.5, nil}}},
		jsonCase{"omitempty-all-empty", &jsonOmit{}},
		jsonCase{"omitempty-empty-not-nil", &jsonOmit{L: []string{}, M: map[string]int{}}},
		jsonCase{"numbers", &jsonNumbers{
			MaxUint64: math.MaxUint64, MinInt64: math.MinInt64,
			Tenth: 0.1, Tiny: 1e-7, Huge: 1e21, Float32: 3.14, Quoted: 42,
		}},
		jsonCase{"html-characters", ptr("<script>a && b</script> 'q' \"d\"")},
		jsonCase{"line-separators", ptr("a\u2028b\u2029c")},
		jsonCase{"control-characters", ptr("tab\t nl\n nul\x00 del\x7f esc\x1b")},
		jsonCase{"invalid-utf8", ptr("ok \xff\xfe bad \xc3")},
		jsonCase{"invalid-utf8-map-key", &map[string]int{"k\xff": 1}},
		jsonCase{"non-ascii", ptr("héllo wörld ✓ 🎉")},
		jsonCase{"nil-pointer", new(*UserSession)},
		jsonCase{"duration", ptr(90 * time.Second)},
		jsonCase{"embedded-struct", &jsonEmbedded{address: address{City: "Paris", Zip: 75001}, Extra: "x"}},
		jsonCase{"raw-message-spaces", &jsonWithRaw{Raw: json.RawMessage(`{ "a" : [ 1, 2 ] }`)}},
		jsonCase{"raw-message-escapes", &jsonWithRaw{Raw: json.RawMessage(`"\u00e9\u003c"`)}},
		jsonCase{"raw-message-nil", &jsonWithRaw{}},
		jsonCase{"pointer-method-in-map", &map[string]jsonPtrMethod{"a": {V: "x"}}},
	)
}

func ptr[T any](v T) *T { return &v }

// jsonDecodeCases are inputs on which JSON decoders are known to differ,
// each read into the type it names.
func jsonDecodeCases() []struct {
	name, input string
	target      func() any
} {
	session := func() any { return new(UserSession) }
	golden := func() any { return new(jsonGolden) }
	return []struct {
		name, input string
		target      func() any
	}{
		{"session", `{"user_id":"u","roles":["a"],"cart":["c"],"visits":3}`, session},
		{"case-insensitive-name", `{"USER_ID":"u","Roles":["a"],"visits":3}`, session},
		{"name-without-underscore", `{"userid":"u"}`, session},
		{"duplicate-name", `{"user_id":"a","user_id":"b"}`, session},
		{"unknown-name", `{"user_id":"u","other":1}`, session},
		{"invalid-utf8", "{\"user_id\":\"a\xffb\"}", session},
		{"null-into-slice", `{"roles":null}`, session},
		{"empty-slice", `{"roles":[]}`, session},
		{"number-into-string", `{"user_id":5}`, session},
		{"float-into-int", `{"visits":3.0}`, session},
		{"trailing-data", `{"user_id":"u"} x`, session},
		{"string-tag-quoted", `{"quoted":"42"}`, func() any { return new(jsonNumbers) }},
		{"string-tag-unquoted", `{"quoted":42}`, func() any { return new(jsonNumbers) }},
		{"time-lowercase-t", `{"created":"2024-05-17t09:30:15z"}`, golden},
		{"time-offset", `{"created":"2024-05-17T09:30:15+02:30"}`, golden},
		{"bytes-base64-newline", "\"AAEC\\n/v8=\"", func() any { return new([]byte) }},
		{"bytes-base64-unpadded", `"AAEC/v8"`, func() any { return new([]byte) }},
		{"array-too-long", `[1,2,3,4,5]`, func() any { return new([4]int) }},
	}
}

// jsonEncodeResult is what marshal writes for v, or "error".
func jsonEncodeResult(marshal func(any) ([]byte, error), v any) string {
	b, err := marshal(v)
	if err != nil {
		return "error"
	}
	return strconv.Quote(string(b))
}

// jsonDecodeResult is the value unmarshal reads from input, in %#v, or
// "error".
func jsonDecodeResult(unmarshal func([]byte, any) error, input string, target func() any) string {
	v := target()
	if err := unmarshal([]byte(input), v); err != nil {
		return "error"
	}
	return strconv.Quote(fmt.Sprintf("%#v", v))
}

// jsonResults runs every case through enc: "encode NAME" and "decode NAME"
// to each result.
func jsonResults(enc jsonEncoder) map[string]string {
	out := map[string]string{}
	for _, c := range jsonEncodeCases() {
		out["encode "+c.name] = jsonEncodeResult(enc.marshal, c.v)
	}
	for _, c := range jsonDecodeCases() {
		out["decode "+c.name] = jsonDecodeResult(enc.unmarshal, c.input, c.target)
	}
	return out
}

// jsonCaseNames lists the keys of jsonResults in the order of the cases.
func jsonCaseNames() []string {
	var names []string
	for _, c := range jsonEncodeCases() {
		names = append(names, "encode "+c.name)
	}
	for _, c := range jsonDecodeCases() {
		names = append(names, "decode "+c.name)
	}
	return names
}

var jsonV1Golden = filepath.Join("testdata", "jsonv1.txt")

// readJSONGolden reads testdata/jsonv1.txt: lines "op name<TAB>result".
func readJSONGolden(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(jsonV1Golden)
	if err != nil {
		t.Fatalf("%v (go test -run TestJSONv1Golden -update, without GOEXPERIMENT=jsonv2, writes it)", err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		key, result, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("%s: malformed line %q", jsonV1Golden, sc.Text())
		}
		out[key] = result
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// jsonDiffers lists the cases whose result differs from want's, with the
// two results, in the order of the cases.
func jsonDiffers(got, want map[string]string) []string {
	var diffs []string
	for _, name := range jsonCaseNames() {
		if got[name] != want[name] {
			diffs = append(diffs, fmt.Sprintf("%s: %s, v1 %s", name, clip(got[name]), clip(want[name])))
		}
	}
	return diffs
}

// clip shortens a result for a log line.
func clip(s string) string {
	if len(s) > 120 {
		return s[:100] + "…(" + strconv.Itoa(len(s)) + " bytes)"
	}
	return s
}
