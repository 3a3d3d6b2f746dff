package goccyjson_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typedsession/session/codec"
	"github.com/typedsession/session/codec/goccyjson"
)

// The tests hold goccyjson.JSON to codec.JSON (encoding/json): the same
// bytes for every value, the same value (or an error in both) for every
// input. A difference would mean that a record reads differently
// depending on which build of an app reads it.

type address struct {
	City string `json:"city"`
	Zip  int    `json:"zip"`
}

// audit is embedded: its fields are promoted into profile's object.
type audit struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// level is a map key through encoding.TextMarshaler.
type level int

func (l level) MarshalText() ([]byte, error) { return []byte("L" + strconv.Itoa(int(l))), nil }

func (l *level) UnmarshalText(b []byte) error {
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "L"))
	*l = level(n)
	return err
}

// money marshals itself as a string of cents.
type money struct{ Cents int64 }

func (m money) MarshalJSON() ([]byte, error) {
	return json.Marshal(strconv.FormatInt(m.Cents, 10) + "c")
}

func (m *money) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(s, "c"), 10, 64)
	m.Cents = n
	return err
}

// profile is a session type with a field of every kind sessions hold.
type profile struct {
	audit
	Name     string              `json:"name"`
	Email    string              `json:"email,omitempty"`
	Age      int                 `json:"age"`
	Score    float64             `json:"score"`
	Ratio    float32             `json:"ratio"`
	Big      uint64              `json:"big"`
	Neg      int64               `json:"neg"`
	Admin    bool                `json:"admin"`
	Roles    []string            `json:"roles"`
	Counts   map[string]int      `json:"counts"`
	ByID     map[int]string      `json:"by_id"`
	Levels   map[level]bool      `json:"levels"`
	Tags     map[string][]string `json:"tags,omitempty"`
	Raw      []byte              `json:"raw"`
	Fixed    [3]uint8            `json:"fixed"`
	Created  time.Time           `json:"created"`
	Last     *time.Time          `json:"last"`
	Home     address             `json:"home"`
	Work     *address            `json:"work"`
	Past     []address           `json:"past"`
	TTL      time.Duration       `json:"ttl"`
	Balance  money               `json:"balance"`
	Quoted   int                 `json:"quoted,string"`
	Untagged string
	Skipped  string `json:"-"`
}

func sample() profile {
	at := time.Date(2024, 5, 17, 9, 30, 15, 123456789, time.UTC)
	last := at.Add(90 * time.Minute)
	return profile{
		audit:    audit{By: "admin", At: at},
		Name:     "Ada <Lovelace> & \"Co\"",
		Email:    "ada@example.com",
		Age:      36,
		Score:    0.1,
		Ratio:    3.14,
		Big:      math.MaxUint64,
		Neg:      math.MinInt64,
		Admin:    true,
		Roles:    []string{"admin", "editor"},
		Counts:   map[string]int{"logins": 42, "cart": 3, "alerts": 0, "é": 1},
		ByID:     map[int]string{-5: "minus five", 10: "ten", 2: "two"},
		Levels:   map[level]bool{3: true, 1: false},
		Tags:     map[string][]string{"b": {"x"}, "a": nil},
		Raw:      []byte{0, 1, 2, 0xfe, 0xff},
		Fixed:    [3]uint8{7, 8, 9},
		Created:  at,
		Last:     &last,
		Home:     address{City: "London", Zip: 1234},
		Work:     &address{City: "Paris"},
		Past:     []address{{City: "Bath"}, {}},
		TTL:      90 * time.Second,
		Balance:  money{Cents: 1999},
		Quoted:   42,
		Untagged: "line\u2028sep\u2029 tab\t nul\x00 del\x7f ✓ 🎉",
	}
}

// encodeCases are values whose encodings the two must agree on.
func encodeCases() map[string]any {
	p := sample()
	many := make(map[string]int)
	for i := range 100 {
		many[fmt.Sprintf("key-%03d", 99-i)] = i
	}
	return map[string]any{
		"profile":          &p,
		"profile-zero":     &profile{},
		"profile-empty":    &profile{Roles: []string{}, Counts: map[string]int{}, Tags: map[string][]string{}, Raw: []byte{}, Past: []address{}},
		"profile-by-value": p,
		"profile-slice":    []profile{p, {}},
		"many-keys":        many,
		"invalid-utf8":     &profile{Name: "ok \xff\xfe bad \xc3", Counts: map[string]int{"k\xff": 1}},
		"time-offset":      &profile{Created: p.Created.In(time.FixedZone("X", 2*3600+30*60))},
		"time-whole":       &profile{Created: time.Date(2024, 5, 17, 9, 30, 15, 0, time.UTC)},
		"floats": []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-7, 1e-6, 1e20, 1e21, 123456789.125,
			math.MaxFloat64, math.SmallestNonzeroFloat64, math.MaxInt64, 1.0 / 3},
		"float32s": []float32{0, 0.1, 3.14, 1e-7, 1e20, 1e21, math.MaxFloat32, math.SmallestNonzeroFloat32, 16777217},
		"nan":      []float64{math.NaN()}, // an error in both
		"inf":      &profile{Score: math.Inf(1)},
		"nil":      (*profile)(nil),
	}
}

func TestSameBytesAsEncodingJSON(t *testing.T) {
	for name, v := range encodeCases() {
		want, wantErr := codec.JSON.Marshal(v)
		got, err := goccyjson.JSON.Marshal(v)
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%s: error %v, encoding/json %v", name, err, wantErr)
			continue
		}
		if string(got) != string(want) {
			t.Errorf("%s: writes\n%s\nencoding/json writes\n%s", name, got, want)
		}
	}
}

// decodeCases are inputs each read into a new profile: what this build
// writes, what older or newer builds of an app with another profile type
// wrote, and input that must fail in both.
var decodeCases = map[string]string{
	"empty-object":        `{}`,
	"null":                `null`,
	"unknown-fields":      `{"name":"a","removed_field":{"x":[1,2]},"other":null}`,
	"missing-fields":      `{"age":3}`,
	"case-insensitive":    `{"NAME":"a","Roles":["x"],"untagged":"u"}`,
	"duplicate-name":      `{"name":"a","name":"b"}`,
	"null-fields":         `{"roles":null,"counts":null,"work":null,"last":null,"raw":null}`,
	"escapes":             `{"name":"\u00e9\u003c\ud83c\udf89\\\/\"\n"}`,
	"lone-surrogate":      `{"name":"\ud800x"}`,
	"invalid-utf8":        "{\"name\":\"a\xffb\"}",
	"time-offset":         `{"created":"2024-05-17T09:30:15+02:30"}`,
	"time-utc":            `{"created":"2024-05-17T09:30:15.5Z"}`,
	"quoted-string-tag":   `{"quoted":"42"}`,
	"embedded-promoted":   `{"by":"x","at":"2024-05-17T09:30:15Z"}`,
	"big-numbers":         `{"big":18446744073709551615,"neg":-9223372036854775808,"score":1e21,"ratio":3.4028234663852886e38}`,
	"base64":              `{"raw":"AAEC/v8="}`,
	"text-map-keys":       `{"levels":{"L1":true,"L3":false},"by_id":{"-5":"m","2":"t"}}`,
	"marshaler":           `{"balance":"1999c"}`,
	"syntax-error":        `{"name":`,
	"trailing-data":       `{"name":"a"} x`,
	"number-into-string":  `{"name":5}`,
	"float-into-int":      `{"age":3.5}`,
	"int-overflow":        `{"big":18446744073709551616}`,
	"bad-base64":          `{"raw":"!!"}`,
	"bad-time":            `{"created":"yesterday"}`,
	"bad-text-map-key":    `{"levels":{"X":true}}`,
	"bad-marshaler-input": `{"balance":"abc"}`,
	"bad-int-map-key":     `{"by_id":{"x":"y"}}`,
	"array-for-struct":    `[1,2]`,
	"array-too-long":      `{"fixed":[1,2,3,4]}`,
}

func TestReadsWhatEncodingJSONReads(t *testing.T) {
	for name, input := range decodeCases {
		t.Run(name, func(t *testing.T) { sameDecoding(t, []byte(input)) })
	}
}

// sameDecoding checks that both codecs read input into the same profile,
// or both fail with codec.ErrMalformed.
func sameDecoding(t *testing.T, input []byte) {
	t.Helper()
	var want, got profile
	wantErr := codec.JSON.Unmarshal(input, &want)
	err := goccyjson.JSON.Unmarshal(input, &got)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: error %v, encoding/json %v", input, err, wantErr)
	}
	if err != nil {
		if !errors.Is(err, codec.ErrMalformed) {
			t.Fatalf("%q: error %v does not wrap codec.ErrMalformed", input, err)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: reads\n%#v\nencoding/json reads\n%#v", input, got, want)
	}
}

// FuzzSameBytes builds profiles from the fuzzer's strings and numbers and
// checks that both codecs write the same bytes for them and read those
// bytes into the same profile.
func FuzzSameBytes(f *testing.F) {
	f.Add("Ada", "a@example.com", int64(36), 0.1, float32(3.14), uint64(math.MaxUint64), []byte{0, 1}, "logins", int64(1716000000123456789))
	f.Add("<&>\u2028\u2029", "\xff\xc3", int64(-1), 1e21, float32(1e-7), uint64(0), []byte(nil), "k\xff", int64(0))
	f.Add("\x00\x1f\x7f\"\\/", "", int64(math.MinInt64), math.Copysign(0, -1), float32(16777217), uint64(1<<53+1), []byte("<>"), "", int64(-62135596800000000))
	f.Fuzz(func(t *testing.T, name, email string, age int64, score float64, ratio float32, big uint64, raw []byte, key string, unixNano int64) {
		p := sample()
		p.Name, p.Email, p.Age, p.Score, p.Ratio, p.Big, p.Raw = name, email, int(age), score, ratio, big, raw
		p.Counts = map[string]int{key: int(age), name: 1}
		p.Roles = []string{name, email, key}
		p.Created = time.Unix(0, unixNano).UTC()
		want, wantErr := codec.JSON.Marshal(&p)
		got, err := goccyjson.JSON.Marshal(&p)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("error %v, encoding/json %v", err, wantErr)
		}
		if string(got) != string(want) {
			t.Fatalf("writes\n%s\nencoding/json writes\n%s", got, want)
		}
		if err == nil {
			sameDecoding(t, want)
		}
	})
}

// TestConcurrentUse runs both directions on several types at once, for
// the race detector: goccy/go-json compiles and caches an encoder and a
// decoder per type on first use.
func TestConcurrentUse(t *testing.T) {
	values := []any{sample(), []profile{sample()}, map[string]address{"a": {City: "x"}}, []float32{1.5}}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				v := values[(i+j)%len(values)]
				b, err := goccyjson.JSON.Marshal(v)
				if err != nil {
					t.Error(err)
					return
				}
				back := reflect.New(reflect.TypeOf(v))
				if err := goccyjson.JSON.Unmarshal(b, back.Interface()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestIsTheJSONCodec(t *testing.T) {
	if got := goccyjson.JSON.Name(); got != codec.JSON.Name() {
		t.Fatalf("Name() = %q, want %q: records would not be read as JSON", got, codec.JSON.Name())
	}
	// The type check is codec.JSON's: a type JSON cannot carry is refused.
	type lossy struct{ Z complex128 }
	checker, ok := goccyjson.JSON.(codec.TypeChecker)
	if !ok {
		t.Fatal("goccyjson.JSON does not check session types")
	}
	if err := checker.CheckType(reflect.TypeFor[lossy]()); err == nil {
		t.Error("CheckType accepts a complex128 field")
	}
	if err := checker.CheckType(reflect.TypeFor[profile]()); err != nil {
		t.Errorf("CheckType refuses profile: %v", err)
	}
	if err := codec.RoundTrip(sample(), goccyjson.JSON, codec.JSON); err != nil {
		t.Error(err)
	}
	// Times come back in UTC, as from every codec.
	var p profile
	if err := goccyjson.JSON.Unmarshal([]byte(`{"created":"2024-05-17T09:30:15+02:30"}`), &p); err != nil {
		t.Fatal(err)
	}
	if p.Created.Location() != time.UTC {
		t.Errorf("time read in %v, want UTC", p.Created.Location())
	}
}
