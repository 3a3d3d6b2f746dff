package codec

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func TestMsgPackUsesJSONTags(t *testing.T) {
	golden, err := os.ReadFile(goldenPath(MsgPack))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := MsgPack.Unmarshal(golden, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"user_id", "name", "roles", "counts", "address", "created", "note"} {
		if _, ok := m[key]; !ok {
			t.Errorf("key %q missing from %v", key, sortedKeys(m))
		}
	}
	for _, key := range []string{"UserID", "nickname", "Nickname"} {
		if _, ok := m[key]; ok {
			t.Errorf("unexpected key %q in %v", key, sortedKeys(m))
		}
	}
	if m["user_id"] != "u-1815" {
		t.Errorf("user_id = %v", m["user_id"])
	}
}

func TestMsgPackMsgpackTagWins(t *testing.T) {
	type tagged struct {
		A string `json:"json_a" msgpack:"mp_a"`
		B string `json:"json_b"`
		C string `json:"-"`
		D string
	}
	b := mustMarshal(t, MsgPack, tagged{A: "a", B: "b", C: "c", D: "d"})
	var m map[string]any
	if err := MsgPack.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sortedKeys(m), ","); got != "D,json_b,mp_a" {
		t.Errorf("keys = %s", got)
	}
}

func TestMsgPackCanonical(t *testing.T) {
	type s struct {
		Zeta  int            `json:"zeta"`
		Alpha int            `json:"alpha"`
		M     map[string]int `json:"m"`
	}
	b := mustMarshal(t, MsgPack, s{Zeta: 1, Alpha: 2, M: map[string]int{"b": 2, "a": 1, "c": 3}})
	want := []byte{0x83,
		0xa5, 'a', 'l', 'p', 'h', 'a', 0x02,
		0xa1, 'm', 0x83, 0xa1, 'a', 0x01, 0xa1, 'b', 0x02, 0xa1, 'c', 0x03,
		0xa4, 'z', 'e', 't', 'a', 0x01,
	}
	if !bytes.Equal(b, want) {
		t.Errorf("got  % x\nwant % x", b, want)
	}
	// Non-string keys sort by their encoding, after string keys.
	b = mustMarshal(t, MsgPack, map[any]int{3: 0, "b": 0, 1: 0, "a": 0})
	want = []byte{0x84, 0xa1, 'a', 0, 0xa1, 'b', 0, 0x01, 0, 0x03, 0}
	if !bytes.Equal(b, want) {
		t.Errorf("got  % x\nwant % x", b, want)
	}
}

func TestMsgPackMarshalReturnsFreshSlice(t *testing.T) {
	a := mustMarshal(t, MsgPack, "first")
	keep := bytes.Clone(a)
	for range 10 {
		_ = mustMarshal(t, MsgPack, "second value, longer")
		_ = mustMarshal(t, MsgPack, map[string]int{"b": 1, "a": 2})
	}
	if !bytes.Equal(a, keep) {
		t.Fatalf("an earlier result changed: %q", a)
	}
	a[0] = 0 // the caller owns it
	if b := mustMarshal(t, MsgPack, "first"); !bytes.Equal(b, keep) {
		t.Fatalf("got %q", b)
	}
}

// TestMsgPackAmbiguousTimestamps covers timestamps whose short forms begin
// with a byte msgpack/v5 reads as a map header in a map context.
func TestMsgPackAmbiguousTimestamps(t *testing.T) {
	times := []time.Time{
		time.Date(2024, 1, 2, 3, 4, 5, 550_000_000, time.UTC), // 8-byte form, first byte 0x83
		time.Date(2024, 1, 2, 3, 4, 5, 806_000_000, time.UTC), // 8-byte form, first byte 0xc0
		time.Date(2024, 1, 2, 3, 4, 5, 935_000_000, time.UTC), // 8-byte form, first byte 0xde
		time.Unix(0x80000000, 0),                              // 4-byte form, first byte 0x80 (2038)
		time.Unix(0xdf000000, 0),                              // 4-byte form, first byte 0xdf
		time.Date(2024, 1, 2, 3, 4, 5, 123, time.UTC),         // ordinary 8-byte form
		time.Unix(1700000000, 0),                              // ordinary 4-byte form
		time.Date(2600, 1, 1, 0, 0, 0, 999_999_999, time.UTC), // 12-byte form
		{}, // zero time: 12-byte form, negative seconds
	}
	for _, tm := range times {
		// The codec writes the 12-byte form for ambiguous ones.
		b := mustMarshal(t, MsgPack, tm)
		if scan, err := scanMsgpack(b, true); err != nil || scan.ambiguousTime {
			t.Errorf("%v: Marshal wrote % x (%v)", tm, b, err)
		}
		var back time.Time
		if err := MsgPack.Unmarshal(b, &back); err != nil || !back.Equal(tm) {
			t.Errorf("%v: round trip gave %v, %v", tm, back, err)
		}
		// Plain msgpack writes the short forms: they decode too.
		plain, err := msgpack.Marshal(tm)
		if err != nil {
			t.Fatal(err)
		}
		back = time.Time{}
		if err := MsgPack.Unmarshal(plain, &back); err != nil || !back.Equal(tm) {
			t.Errorf("%v: plain % x gave %v, %v", tm, plain, back, err)
		}
		var bt boundTarget
		in := mustMarshal(t, MsgPack, map[string]any{"time": tm, "str": "x"})
		if err := MsgPack.Unmarshal(in, &bt); err != nil || !bt.Time.Equal(tm) || bt.Str != "x" {
			t.Errorf("%v: in a struct: %v, %v", tm, bt, err)
		}
	}
}

func TestMsgPackDepthLimit(t *testing.T) {
	nest := func(levels int) []byte {
		return append(bytes.Repeat([]byte{0x91}, levels), 0x01)
	}
	var v any
	if err := MsgPack.Unmarshal(nest(maxMsgpackDepth), &v); err != nil {
		t.Errorf("%d levels: %v", maxMsgpackDepth, err)
	}
	if err := MsgPack.Unmarshal(nest(maxMsgpackDepth+1), &v); !errors.Is(err, ErrMalformed) {
		t.Errorf("%d levels: %v, want ErrMalformed", maxMsgpackDepth+1, err)
	}
	// Marshal refuses to write what Unmarshal would refuse to read.
	var deep any = 1
	for range maxMsgpackDepth + 1 {
		deep = []any{deep}
	}
	if _, err := MsgPack.Marshal(deep); err == nil || errors.Is(err, ErrMalformed) {
		t.Errorf("Marshal of %d levels: %v, want a plain error", maxMsgpackDepth+1, err)
	}
}

func TestValidateMsgpack(t *testing.T) {
	valid := map[string][]byte{
		"fixint":        {0x05},
		"negfixint":     {0xff},
		"nil":           {0xc0},
		"true":          {0xc3},
		"float64":       {0xcb, 0, 0, 0, 0, 0, 0, 0, 0},
		"uint64":        {0xcf, 1, 2, 3, 4, 5, 6, 7, 8},
		"int16":         {0xd1, 0xff, 0xfe},
		"fixstr":        {0xa3, 'a', 'b', 'c'},
		"str8":          {0xd9, 0x02, 'h', 'i'},
		"str16-empty":   {0xda, 0, 0},
		"bin8":          {0xc4, 0x01, 0x00},
		"bin32":         {0xc6, 0, 0, 0, 1, 0xff},
		"fixarray":      {0x93, 1, 2, 3},
		"array16":       {0xdc, 0, 2, 0xc0, 0xc0},
		"array32-empty": {0xdd, 0, 0, 0, 0},
		"fixmap":        {0x81, 0xa1, 'k', 0x01},
		"map16":         {0xde, 0, 1, 0x01, 0x02},
		"map32":         {0xdf, 0, 0, 0, 1, 0xc0, 0xc0},
		"fixext1":       {0xd4, 0x07, 0x00},
		"ext8-empty":    {0xc7, 0x00, 0x07},
		"ext16":         {0xc8, 0, 2, 0x07, 0x01, 0x02},
		"time32":        {0xd6, 0xff, 0x65, 0x53, 0xf1, 0x00},
		"time64":        {0xd7, 0xff, 0, 0, 0, 4, 0x65, 0x53, 0xf1, 0x00},
		"time96":        {0xc7, 12, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1},
		"time-ambig":    {0xd6, 0xff, 0x80, 0, 0, 0},
		"nested":        {0x92, 0x81, 0xa1, 'a', 0x91, 0x90, 0x80},
	}
	for name, in := range valid {
		if err := validateMsgpack(in); err != nil {
			t.Errorf("%s (% x): %v", name, in, err)
		}
	}
	invalid := map[string][]byte{
		"empty":              {},
		"c1":                 {0xc1},
		"truncated-uint32":   {0xce, 1, 2},
		"truncated-str":      {0xa3, 'a'},
		"truncated-header":   {0xdb, 0, 0},
		"trailing":           {0xc0, 0xc0},
		"array-short":        {0x93, 1, 2},
		"array16-claims":     {0xdc, 0, 3, 1, 2},
		"map-claims":         {0x82, 1, 2, 3},
		"map16-odd":          {0xde, 0, 2, 1, 2, 3, 4, 5},
		"bin-claims":         {0xc4, 5, 1, 2, 3, 4},
		"ext-claims":         {0xc7, 5, 1, 2},
		"fixext-truncated":   {0xd8, 1, 0, 0},
		"ext-map-payload":    {0xd4, 0x07, 0x81},
		"ext-nil-payload":    {0xd5, 0x07, 0xc0, 0x00},
		"ext-map16-payload":  {0xd6, 0x03, 0xde, 0, 0, 0},
		"time-5-bytes":       {0xc7, 5, 0xff, 1, 2, 3, 4, 5},
		"time96-bad-nanos":   {0xc7, 12, 0xff, 0x3b, 0x9a, 0xca, 0x00, 0, 0, 0, 0, 0, 0, 0, 0},
		"time64-bad-nanos":   {0xd7, 0xff, 0xee, 0x6b, 0x28, 0x00, 0, 0, 0, 0},
		"c1-nested":          {0x91, 0xc1},
		"array32-4G":         {0xdd, 0xff, 0xff, 0xff, 0xff},
		"deep":               append(bytes.Repeat([]byte{0x91}, 65), 0),
		"deep-maps":          append(bytes.Repeat([]byte{0x81, 0xc0}, 65), 0),
		"map-value-missing":  {0x81, 0x01},
		"array-then-garbage": {0x91, 0x01, 0xc1},
	}
	for name, in := range invalid {
		if err := validateMsgpack(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s (% x): %v, want ErrMalformed", name, in, err)
		}
	}
}

func TestValidateMsgpackDoesNotAllocate(t *testing.T) {
	in := mustMarshal(t, MsgPack, goldenValue())
	if n := testing.AllocsPerRun(100, func() {
		if err := validateMsgpack(in); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("validateMsgpack allocates %v times per call", n)
	}
}

func TestMsgPackInterop(t *testing.T) {
	// Data written by plain msgpack/v5 with the json tag decodes.
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("json")
	want := goldenValue()
	if err := enc.Encode(want); err != nil {
		t.Fatal(err)
	}
	var got testValue
	if err := MsgPack.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if !equalTestValues(got, want) {
		t.Errorf("got %+v", got)
	}
	// And ours decodes with plain msgpack/v5.
	dec := msgpack.NewDecoder(bytes.NewReader(mustMarshal(t, MsgPack, want)))
	dec.SetCustomStructTag("json")
	got = testValue{}
	if err := dec.Decode(&got); err != nil || !equalTestValues(got, want) {
		t.Errorf("got %+v, %v", got, err)
	}
}

func TestMsgPackPooledDecoderAfterErrors(t *testing.T) {
	good := mustMarshal(t, MsgPack, goldenValue())
	for i := range 50 {
		var v testValue
		// Errors of every kind: validation, decoding, trailing data.
		_ = MsgPack.Unmarshal(good[:len(good)-i%7-1], &v)
		var wrong struct {
			Name []int `json:"name"`
		}
		_ = MsgPack.Unmarshal(good, &wrong)
		v = testValue{}
		if err := MsgPack.Unmarshal(good, &v); err != nil || !equalTestValues(v, goldenValue()) {
			t.Fatalf("after errors: %v, %+v", err, v)
		}
	}
}

func TestCodecsConcurrent(t *testing.T) {
	want := goldenValue()
	var wg sync.WaitGroup
	for _, c := range []Codec{JSON, MsgPack, Gob} {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 200 {
					v := want
					v.Age = i
					b, err := c.Marshal(v)
					if err != nil {
						t.Error(err)
						return
					}
					var back testValue
					if err := c.Unmarshal(b, &back); err != nil || !equalTestValues(back, v) {
						t.Errorf("%s: %v %+v", c.Name(), err, back)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
}

// TestMsgPackKnownPanics covers inputs that make msgpack/v5 v5.4.1 panic
// although they are well-formed: Unmarshal must return ErrMalformed.
func TestMsgPackKnownPanics(t *testing.T) {
	// nil for a time.Time field (found by FuzzMsgPack).
	var v struct {
		T time.Time `json:"t"`
	}
	in := []byte{0x81, 0xa1, 't', 0xc0}
	if err := validateMsgpack(in); err != nil {
		t.Fatal(err)
	}
	err := MsgPack.Unmarshal(in, &v)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("%v, want a recovered panic wrapping ErrMalformed", err)
	}
}
