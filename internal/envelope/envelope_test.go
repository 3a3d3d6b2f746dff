package envelope

import (
	"bytes"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden-v1.bin")

const goldenPath = "testdata/golden-v1.bin"

// golden returns the envelope stored in testdata/golden-v1.bin.
func golden() Envelope {
	created := time.Date(2024, time.January, 2, 3, 4, 5, 678_000_000, time.UTC)
	return Envelope{
		Codec:    "msgpack",
		Created:  created,
		Deadline: created.Add(12 * time.Hour),
		// msgpack of {"UserID": "alice"}.
		Payload: []byte("\x81\xa6UserID\xa5alice"),
	}
}

func mustAppend(t testing.TB, e Envelope) []byte {
	t.Helper()
	b, err := Append(nil, e)
	if err != nil {
		t.Fatalf("Append(%+v): %v", e, err)
	}
	return b
}

func equal(a, b Envelope) bool {
	return a.Codec == b.Codec && a.Created.Equal(b.Created) && a.Deadline.Equal(b.Deadline) &&
		bytes.Equal(a.Payload, b.Payload)
}

func TestRoundTrip(t *testing.T) {
	epoch := time.UnixMilli(0)
	now := time.Date(2025, time.June, 30, 23, 59, 59, 999_000_000, time.UTC)
	far := time.Date(9999, time.December, 31, 23, 59, 59, 999_000_000, time.UTC)
	local := time.FixedZone("UTC+5", 5*3600)
	cases := []Envelope{
		golden(),
		{Codec: "json", Created: now, Deadline: now, Payload: []byte(`{"a":1}`)},
		{Codec: "gob", Created: epoch, Deadline: epoch},
		{Codec: "gob", Created: epoch, Deadline: far, Payload: []byte{}},
		{Codec: strings.Repeat("z", maxNameLen), Created: now.In(local), Deadline: far.In(local), Payload: bytes.Repeat([]byte{0xA5, 0}, 5000)},
		{Codec: "a.b_c-0", Created: now, Deadline: now.Add(time.Millisecond), Payload: []byte{0}},
		{Codec: "x", Created: now, Deadline: time.UnixMilli(1<<62 - 1), Payload: []byte("p")},
		{Codec: "x", Created: time.UnixMilli(math.MaxInt64), Deadline: time.UnixMilli(math.MaxInt64)},
	}
	for _, e := range cases {
		b := mustAppend(t, e)
		if len(b) != Size(len(e.Codec), len(e.Payload)) {
			t.Errorf("len(Append) = %d, Size = %d", len(b), Size(len(e.Codec), len(e.Payload)))
		}
		got, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(Append(%v)): %v", e.Codec, err)
		}
		if !equal(got, e) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, e)
		}
		if got.Created.Location() != time.UTC || got.Deadline.Location() != time.UTC {
			t.Errorf("times not in UTC: %v, %v", got.Created.Location(), got.Deadline.Location())
		}
		if len(got.Payload) > 0 && &got.Payload[0] != &b[len(b)-len(got.Payload)] {
			t.Error("Payload does not alias the input")
		}
		name, c, d, p, err := ParseHeader(b)
		if err != nil || string(name) != e.Codec || !c.Equal(e.Created) || !d.Equal(e.Deadline) || !bytes.Equal(p, e.Payload) {
			t.Errorf("ParseHeader = %q, %v, %v, %q, %v; want %+v", name, c, d, p, err, e)
		}
	}
}

func TestTruncatesToMilliseconds(t *testing.T) {
	created := time.Date(2024, 5, 6, 7, 8, 9, 123_456_789, time.UTC)
	e := Envelope{Codec: "json", Created: created, Deadline: created.Add(400 * time.Microsecond)}
	got, err := Parse(mustAppend(t, e))
	if err != nil {
		t.Fatal(err)
	}
	want := created.Truncate(time.Millisecond)
	if !got.Created.Equal(want) || !got.Deadline.Equal(want) {
		t.Errorf("got %v, %v; want both %v", got.Created, got.Deadline, want)
	}
}

func TestAppendExtends(t *testing.T) {
	e := golden()
	prefix := []byte("prefix")
	b, err := Append(prefix, e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("prefix")) || !bytes.Equal(b[len(prefix):], mustAppend(t, e)) {
		t.Errorf("Append(prefix, e) = %q", b)
	}
}

func TestGolden(t *testing.T) {
	b := mustAppend(t, golden())
	if *update {
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("Append(golden) =\n%x\nwant (%s)\n%x", b, goldenPath, want)
	}
	got, err := Parse(want)
	if err != nil {
		t.Fatalf("Parse(%s): %v", goldenPath, err)
	}
	if !equal(got, golden()) {
		t.Errorf("Parse(%s) = %+v, want %+v", goldenPath, got, golden())
	}
}

// TestLayout checks the documented byte layout independently of Append.
func TestLayout(t *testing.T) {
	b := mustAppend(t, golden())
	want := []byte{0xA5, 1, 7}
	want = append(want, "msgpack"...)
	// 2024-01-02T03:04:05.678Z = 1704164645678 ms = 0x18CC820DB2E.
	want = append(want, 0, 0, 0x01, 0x8C, 0xC8, 0x20, 0xDB, 0x2E)
	// Plus 12h = 43200000 ms: 1704207845678 = 0x18CCAB4092E.
	want = append(want, 0, 0, 0x01, 0x8C, 0xCA, 0xB4, 0x09, 0x2E)
	want = append(want, "\x81\xa6UserID\xa5alice"...)
	if !bytes.Equal(b, want) {
		t.Errorf("layout:\n got %x\nwant %x", b, want)
	}
}

func TestTruncation(t *testing.T) {
	e := golden()
	b := mustAppend(t, e)
	header := Size(len(e.Codec), 0)
	for n := 0; n < len(b); n++ {
		got, err := Parse(b[:n:n])
		if n < header {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Parse(first %d of %d bytes): err = %v, want ErrMalformed", n, len(b), err)
			}
			continue
		}
		// The payload is not length-prefixed: a cut inside it leaves a
		// valid envelope with a shorter payload.
		if err != nil {
			t.Errorf("Parse(first %d of %d bytes): %v", n, len(b), err)
			continue
		}
		want := e
		want.Payload = e.Payload[:n-header]
		if !equal(got, want) {
			t.Errorf("Parse(first %d bytes) = %+v, want %+v", n, got, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	valid := mustAppend(t, golden())
	const nameOff = 3
	n := len(golden().Codec)
	mod := func(f func(b []byte) []byte) []byte {
		return f(bytes.Clone(valid))
	}
	put := func(b []byte, off int, v uint64) []byte {
		for i := 0; i < 8; i++ {
			b[off+i] = byte(v >> (8 * (7 - i)))
		}
		return b
	}
	withName := func(name string) []byte {
		b := []byte{magic, version, byte(len(name))}
		b = append(b, name...)
		b = append(b, make([]byte, 16)...)
		return append(b, "payload"...)
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"nil", nil, ErrMalformed},
		{"empty", []byte{}, ErrMalformed},
		{"bad magic", mod(func(b []byte) []byte { b[0] = 0xA4; return b }), ErrMalformed},
		{"zero magic", mod(func(b []byte) []byte { b[0] = 0; return b }), ErrMalformed},
		{"JSON text", []byte(`{"UserID":"alice"}`), ErrMalformed},
		{"version 2", mod(func(b []byte) []byte { b[1] = 2; return b }), ErrVersion},
		{"version 0", mod(func(b []byte) []byte { b[1] = 0; return b }), ErrVersion},
		{"version 255", mod(func(b []byte) []byte { b[1] = 255; return b }), ErrVersion},
		{"version 2, short", []byte{magic, 2}, ErrVersion},
		{"magic only", []byte{magic}, ErrMalformed},
		{"name length 0", withName(""), ErrMalformed},
		{"name length 33", withName(strings.Repeat("a", 33)), ErrMalformed},
		{"name length 255", withName(strings.Repeat("a", 255)), ErrMalformed},
		{"name uppercase", withName("JSON"), ErrMalformed},
		{"name slash", withName("a/b"), ErrMalformed},
		{"name space", withName("a b"), ErrMalformed},
		{"name NUL", withName("a\x00"), ErrMalformed},
		{"name non-ASCII", withName("caf\xc3\xa9"), ErrMalformed},
		{"name 0xff", withName("\xff"), ErrMalformed},
		{"name length past end", []byte{magic, version, 32, 'a', 'b'}, ErrMalformed},
		{"deadline before created", mod(func(b []byte) []byte {
			return put(b, nameOff+n+8, 1704164645677)
		}), ErrMalformed},
		{"negative created", mod(func(b []byte) []byte {
			b = put(b, nameOff+n, 1<<63) // math.MinInt64
			return put(b, nameOff+n+8, 0)
		}), ErrMalformed},
		{"negative deadline", mod(func(b []byte) []byte {
			b = put(b, nameOff+n, 0)
			return put(b, nameOff+n+8, ^uint64(0)) // -1
		}), ErrMalformed},
		{"created -1, deadline 0", mod(func(b []byte) []byte {
			b = put(b, nameOff+n, ^uint64(0))
			return put(b, nameOff+n+8, 0)
		}), ErrMalformed},
	}
	for _, c := range cases {
		_, err := Parse(c.b)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: Parse(%x) err = %v, want %v", c.name, c.b, err, c.want)
		}
		other := ErrVersion
		if c.want == ErrVersion {
			other = ErrMalformed
		}
		if errors.Is(err, other) {
			t.Errorf("%s: err %v also matches %v", c.name, err, other)
		}
		_, _, _, _, err2 := ParseHeader(c.b)
		if err2 == nil || err2.Error() != err.Error() {
			t.Errorf("%s: ParseHeader err = %v, Parse err = %v", c.name, err2, err)
		}
	}
	if _, err := Parse([]byte{magic, 2}); err == nil || !strings.Contains(err.Error(), "2") {
		t.Errorf("ErrVersion message %q does not name the version", err)
	}
}

func TestAppendErrors(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ok := Envelope{Codec: "json", Created: now, Deadline: now.Add(time.Hour)}
	mod := func(f func(e *Envelope)) Envelope {
		e := ok
		f(&e)
		return e
	}
	cases := map[string]Envelope{
		"empty name":         mod(func(e *Envelope) { e.Codec = "" }),
		"name too long":      mod(func(e *Envelope) { e.Codec = strings.Repeat("a", maxNameLen+1) }),
		"uppercase name":     mod(func(e *Envelope) { e.Codec = "JSON" }),
		"name with space":    mod(func(e *Envelope) { e.Codec = "js on" }),
		"non-ASCII name":     mod(func(e *Envelope) { e.Codec = "jsön" }),
		"deadline < created": mod(func(e *Envelope) { e.Deadline = now.Add(-time.Millisecond) }),
		"zero created":       mod(func(e *Envelope) { e.Created = time.Time{} }),
		"zero deadline":      mod(func(e *Envelope) { e.Deadline = time.Time{} }),
		"created before 1970": mod(func(e *Envelope) {
			e.Created = time.UnixMilli(-1)
		}),
		"deadline overflows": mod(func(e *Envelope) {
			e.Deadline = time.Date(300_000_000, 1, 1, 0, 0, 0, 0, time.UTC)
		}),
		"deadline 1 ms past int64": mod(func(e *Envelope) {
			e.Deadline = time.UnixMilli(math.MaxInt64).Add(time.Millisecond)
		}),
		"deadline far past": mod(func(e *Envelope) {
			e.Deadline = time.Date(-300_000_000, 1, 1, 0, 0, 0, 0, time.UTC)
		}),
		"both overflow": mod(func(e *Envelope) {
			e.Created = time.Date(300_000_000, 1, 1, 0, 0, 0, 0, time.UTC)
			e.Deadline = e.Created
		}),
	}
	for name, e := range cases {
		dst := []byte("keep")
		got, err := Append(dst, e)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Append err = %v, want ErrMalformed", name, err)
		}
		if string(got) != "keep" {
			t.Errorf("%s: Append changed dst to %q", name, got)
		}
	}
	// Sub-millisecond differences vanish: equal after truncation is fine.
	e := mod(func(e *Envelope) {
		e.Created = now.Add(500 * time.Microsecond)
		e.Deadline = now.Add(100 * time.Microsecond)
	})
	if _, err := Append(nil, e); err != nil {
		t.Errorf("Append with deadline < created by less than 1 ms: %v", err)
	}
}

func TestAllocs(t *testing.T) {
	b := mustAppend(t, golden())
	var err error
	if n := testing.AllocsPerRun(100, func() { _, _, _, _, err = ParseHeader(b) }); n != 0 {
		t.Errorf("ParseHeader allocates %v times, want 0", n)
	}
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, err = Parse(b) }); n != 0 {
		t.Errorf("Parse of a built-in codec name allocates %v times, want 0", n)
	}
	custom := mustAppend(t, Envelope{Codec: "custom", Created: time.UnixMilli(1), Deadline: time.UnixMilli(2)})
	if n := testing.AllocsPerRun(100, func() { _, err = Parse(custom) }); n > 1 {
		t.Errorf("Parse allocates %v times, want at most 1", n)
	}
	garbage := []byte{magic, version, 40}
	if n := testing.AllocsPerRun(100, func() { _, _, _, _, err = ParseHeader(garbage) }); n != 0 {
		t.Errorf("ParseHeader of garbage allocates %v times, want 0", n)
	}
	if err == nil {
		t.Fatal("garbage accepted")
	}
	e := golden()
	buf := make([]byte, 0, Size(len(e.Codec), len(e.Payload)))
	if n := testing.AllocsPerRun(100, func() { _, err = Append(buf[:0], e) }); n != 0 {
		t.Errorf("Append with enough capacity allocates %v times, want 0", n)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	b := mustAppend(f, golden())
	f.Add(b)
	f.Add(b[:Size(len(golden().Codec), 0)])
	f.Add(b[:10])
	f.Add([]byte{})
	f.Add([]byte{magic, 2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
				t.Fatalf("Parse(%x): error %v wraps neither ErrMalformed nor ErrVersion", b, err)
			}
			if errors.Is(err, ErrMalformed) && errors.Is(err, ErrVersion) {
				t.Fatalf("Parse(%x): error %v wraps both sentinels", b, err)
			}
			if len(b) >= 2 && b[0] == magic && b[1] != version && !errors.Is(err, ErrVersion) {
				t.Fatalf("Parse(%x): version %d gave %v, want ErrVersion", b, b[1], err)
			}
			return
		}
		again, err := Append(nil, e)
		if err != nil {
			t.Fatalf("Parse(%x) = %+v, which Append rejects: %v", b, e, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("not canonical:\n in  %x\n out %x", b, again)
		}
		name, c, d, p, err := ParseHeader(b)
		if err != nil || string(name) != e.Codec || !c.Equal(e.Created) || !d.Equal(e.Deadline) || !bytes.Equal(p, e.Payload) {
			t.Fatalf("ParseHeader disagrees with Parse on %x", b)
		}
		if c.Location() != time.UTC || d.Location() != time.UTC {
			t.Fatalf("times not in UTC")
		}
	})
}

var (
	sinkBytes []byte
	sinkTime  time.Time
	sinkErr   error
)

func BenchmarkParseHeader(b *testing.B) {
	buf := mustAppend(b, golden())
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		sinkBytes, sinkTime, _, _, sinkErr = ParseHeader(buf)
	}
}

func BenchmarkParse(b *testing.B) {
	buf := mustAppend(b, golden())
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		var e Envelope
		e, sinkErr = Parse(buf)
		sinkBytes = e.Payload
	}
}

func BenchmarkAppend(b *testing.B) {
	e := golden()
	buf := make([]byte, 0, Size(len(e.Codec), len(e.Payload)))
	b.ReportAllocs()
	b.SetBytes(int64(cap(buf)))
	for b.Loop() {
		sinkBytes, sinkErr = Append(buf[:0], e)
	}
}
