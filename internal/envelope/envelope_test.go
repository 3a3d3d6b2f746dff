package envelope

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden-v2.bin")

const (
	goldenV1 = "testdata/golden-v1.bin" // written by the first release; a read fixture
	goldenV2 = "testdata/golden-v2.bin"
)

// golden returns the envelope stored in the golden files.
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

// equal compares envelopes, times with Equal and nil and empty byte
// slices as the same.
func equal(a, b Envelope) bool {
	return a.Codec == b.Codec && a.Created.Equal(b.Created) && a.Deadline.Equal(b.Deadline) &&
		a.Retired == b.Retired && bytes.Equal(a.Successor, b.Successor) && a.Idle.Equal(b.Idle) && bytes.Equal(a.Ext, b.Ext) &&
		bytes.Equal(a.Payload, b.Payload)
}

// ext encodes one extension.
func ext(tag byte, value string) []byte {
	b := binary.AppendUvarint([]byte{tag}, uint64(len(value)))
	return append(b, value...)
}

func TestRoundTrip(t *testing.T) {
	epoch := time.UnixMilli(0)
	now := time.Date(2025, time.June, 30, 23, 59, 59, 999_000_000, time.UTC)
	far := time.Date(9999, time.December, 31, 23, 59, 59, 999_000_000, time.UTC)
	local := time.FixedZone("UTC+5", 5*3600)
	unknown := append(ext(0x02, "owner"), ext(0x7f, strings.Repeat("x", 300))...)
	cases := []Envelope{
		golden(),
		{Codec: "json", Created: now, Deadline: now, Payload: []byte(`{"a":1}`)},
		{Codec: "gob", Created: epoch, Deadline: epoch},
		{Codec: "gob", Created: epoch, Deadline: far, Payload: []byte{}},
		{Codec: strings.Repeat("z", maxNameLen), Created: now.In(local), Deadline: far.In(local), Payload: bytes.Repeat([]byte{0xA5, 0}, 5000)},
		{Codec: "a.b_c-0", Created: now, Deadline: now.Add(time.Millisecond), Payload: []byte{0}},
		{Codec: "x", Created: now, Deadline: time.UnixMilli(1<<62 - 1), Payload: []byte("p")},
		{Codec: "x", Created: time.UnixMilli(math.MaxInt64), Deadline: time.UnixMilli(math.MaxInt64)},
		{Codec: "msgpack", Created: now, Deadline: now, Retired: true, Successor: []byte("new-key")},
		{Codec: "msgpack", Created: now, Deadline: now, Retired: true},
		{Codec: "json", Created: now, Deadline: far, Ext: unknown, Payload: []byte(`{}`)},
		{Codec: "json", Created: now, Deadline: far, Retired: true, Successor: []byte("k"), Ext: unknown, Payload: []byte("p")},
	}
	for _, e := range cases {
		b := mustAppend(t, e)
		if len(b) != e.Size() {
			t.Errorf("len(Append) = %d, Size = %d", len(b), e.Size())
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

// TestGolden pins the bytes Append writes, and checks that both formats'
// golden files still parse to the same envelope.
func TestGolden(t *testing.T) {
	b := mustAppend(t, golden())
	if *update {
		if err := os.WriteFile(goldenV2, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenV2)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("Append(golden) =\n%x\nwant (%s)\n%x", b, goldenV2, want)
	}
	for _, path := range []string{goldenV1, goldenV2} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(%s): %v", path, err)
		}
		if !equal(got, golden()) {
			t.Errorf("Parse(%s) = %+v, want %+v", path, got, golden())
		}
	}
}

// TestLayout checks the documented byte layout independently of Append.
func TestLayout(t *testing.T) {
	e := golden()
	e.Retired, e.Successor = true, []byte("kk")
	e.Ext = ext(0x02, "o")
	b := mustAppend(t, e)
	want := []byte{0xA5, 2, 7}
	want = append(want, "msgpack"...)
	// 2024-01-02T03:04:05.678Z = 1704164645678 ms = 0x18CC820DB2E.
	want = append(want, 0, 0, 0x01, 0x8C, 0xC8, 0x20, 0xDB, 0x2E)
	// Plus 12h = 43200000 ms: 1704207845678 = 0x18CCAB4092E.
	want = append(want, 0, 0, 0x01, 0x8C, 0xCA, 0xB4, 0x09, 0x2E)
	want = append(want, 7)                 // extension area length
	want = append(want, 0x81, 2, 'k', 'k') // retired, successor "kk"
	want = append(want, 0x02, 1, 'o')      // an unknown extension, verbatim
	want = append(want, "\x81\xa6UserID\xa5alice"...)
	if !bytes.Equal(b, want) {
		t.Errorf("layout:\n got %x\nwant %x", b, want)
	}
}

// TestExtensions checks that unknown extensions are skipped and kept,
// wherever they stand, and that unknown critical ones make the record
// unsupported rather than malformed.
func TestExtensions(t *testing.T) {
	head := func(area []byte) []byte {
		b := mustAppend(t, Envelope{Codec: "json", Created: time.UnixMilli(1), Deadline: time.UnixMilli(2)})
		b = b[:len(b)-1] // drop the empty extension area's length
		b = append(b, byte(len(area)))
		b = append(b, area...)
		return append(b, "payload"...)
	}
	a, c := ext(0x02, "a"), ext(0x03, "cc")
	retired := ext(tagRetired, "k")
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for name, tc := range map[string]struct {
		area    []byte
		retired bool
		ext     []byte
	}{
		"none":                 {nil, false, nil},
		"one unknown":          {a, false, a},
		"two unknown":          {cat(a, c), false, cat(a, c)},
		"known first":          {cat(retired, a, c), true, cat(a, c)},
		"known last":           {cat(a, c, retired), true, cat(a, c)},
		"known between":        {cat(a, retired, c), true, cat(a, c)},
		"empty unknown values": {cat(ext(0x04, ""), ext(0x05, "")), false, cat(ext(0x04, ""), ext(0x05, ""))},
	} {
		t.Run(name, func(t *testing.T) {
			e, err := Parse(head(tc.area))
			if err != nil {
				t.Fatal(err)
			}
			if e.Retired != tc.retired || !bytes.Equal(e.Ext, tc.ext) || string(e.Payload) != "payload" {
				t.Fatalf("Parse = retired %v, ext %x, payload %q; want %v, %x", e.Retired, e.Ext, e.Payload, tc.retired, tc.ext)
			}
			// Rewriting keeps the unknown extensions.
			again, err := Parse(mustAppend(t, e))
			if err != nil || !equal(again, e) {
				t.Fatalf("rewrite = %+v, %v; want %+v", again, err, e)
			}
		})
	}
	for name, area := range map[string][]byte{
		"unknown critical":       ext(0x83, ""),
		"unknown critical later": cat(a, ext(0xff, "zz")),
	} {
		if _, err := Parse(head(area)); !errors.Is(err, ErrUnsupported) || errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Parse err = %v, want ErrUnsupported only", name, err)
		}
	}
	for name, area := range map[string][]byte{
		"cut tag":        {0x02},
		"cut value":      {0x02, 5, 'a'},
		"bad uvarint":    {0x02, 0x80},
		"length too big": {0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		b := head(nil)
		b = b[:len(b)-len("payload")-1]
		b = append(b, byte(len(area)))
		b = append(b, area...)
		if _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Parse err = %v, want ErrMalformed", name, err)
		}
	}
}

// TestIdleDeadline checks the idle-deadline extension: it round-trips, is
// written only when set, is critical, and rejects bad values.
func TestIdleDeadline(t *testing.T) {
	e := golden()
	plain := mustAppend(t, e)
	e.Idle = e.Created.Add(30*time.Minute + 1500*time.Microsecond)
	e.Ext = ext(0x02, "o")
	b := mustAppend(t, e)
	if len(b) != len(plain)+idleLen+len(e.Ext) || len(b) != e.Size() {
		t.Fatalf("with an idle deadline: %d bytes, Size %d; without: %d", len(b), e.Size(), len(plain))
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := e.Created.Add(30*time.Minute + time.Millisecond)
	if !got.Idle.Equal(want) || got.Idle.Location() != time.UTC || !bytes.Equal(got.Ext, e.Ext) {
		t.Fatalf("Parse: Idle %v, Ext %x; want %v, %x", got.Idle, got.Ext, want, e.Ext)
	}
	if p, err := Parse(plain); err != nil || !p.Idle.IsZero() {
		t.Fatalf("Parse without the extension: Idle %v, %v; want the zero time", p.Idle, err)
	}
	if tagIdle&critical == 0 {
		t.Fatal("the idle deadline must be critical: a reader that skipped it would extend sessions")
	}
	head := func(value []byte) []byte {
		b := mustAppend(t, Envelope{Codec: "json", Created: time.UnixMilli(1), Deadline: time.UnixMilli(2)})
		b = b[:len(b)-1]
		area := append(binary.AppendUvarint([]byte{tagIdle}, uint64(len(value))), value...)
		b = append(b, byte(len(area)))
		return append(b, area...)
	}
	for name, value := range map[string][]byte{
		"short":    make([]byte, 7),
		"long":     make([]byte, 9),
		"negative": {0x80, 0, 0, 0, 0, 0, 0, 0},
	} {
		if _, err := Parse(head(value)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s idle deadline: Parse err = %v, want ErrMalformed", name, err)
		}
	}
	if e, err := Parse(head(make([]byte, 8))); err != nil || !e.Idle.Equal(time.UnixMilli(0)) {
		t.Errorf("idle deadline at the epoch: %v, %v", e.Idle, err)
	}
}

// TestExtensionsDoNotAlias checks that gathering scattered unknown
// extensions copies them rather than writing over the input.
func TestExtensionsDoNotAlias(t *testing.T) {
	area := bytes.Join([][]byte{ext(0x02, "a"), ext(tagRetired, "k"), ext(0x03, "b")}, nil)
	b := []byte{magic, version, 1, 'j'}
	b = append(b, make([]byte, 16)...)
	b = append(b, byte(len(area)))
	b = append(b, area...)
	b = append(b, "payload"...)
	orig := bytes.Clone(b)
	e, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, orig) {
		t.Fatalf("Parse changed its input:\n%x\n%x", b, orig)
	}
	if want := append(ext(0x02, "a"), ext(0x03, "b")...); !bytes.Equal(e.Ext, want) {
		t.Errorf("Ext = %x, want %x", e.Ext, want)
	}
}

func TestTruncation(t *testing.T) {
	e := golden()
	b := mustAppend(t, e)
	header := MinSize(e.Codec)
	for n := 0; n < len(b); n++ {
		got, err := Parse(b[:n:n])
		if n < header {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Parse(first %d of %d bytes): err = %v, want ErrMalformed", n, len(b), err)
			}
			continue
		}
		// The payload is not length-prefixed: a cut inside it leaves a
		// valid envelope with a shorter payload, which the codec rejects.
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
		return append(b, 0, 'p')
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
		{"version 3", mod(func(b []byte) []byte { b[1] = 3; return b }), ErrUnsupported},
		{"version 0", mod(func(b []byte) []byte { b[1] = 0; return b }), ErrUnsupported},
		{"version 255", mod(func(b []byte) []byte { b[1] = 255; return b }), ErrUnsupported},
		{"version 3, short", []byte{magic, 3}, ErrUnsupported},
		{"magic only", []byte{magic}, ErrMalformed},
		{"name length 0", withName(""), ErrMalformed},
		{"name length 33", withName(strings.Repeat("a", 33)), ErrMalformed},
		{"name length 255", withName(strings.Repeat("a", 255)), ErrMalformed},
		{"name length past end", []byte{magic, version, 32, 'a', 'b'}, ErrMalformed},
		{"no extension area", mod(func(b []byte) []byte { return b[:nameOff+n+16] }), ErrMalformed},
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
		other := ErrUnsupported
		if c.want == ErrUnsupported {
			other = ErrMalformed
		}
		if errors.Is(err, other) {
			t.Errorf("%s: err %v also matches %v", c.name, err, other)
		}
	}
	if _, err := Parse([]byte{magic, 3}); err == nil || !strings.Contains(err.Error(), "3") {
		t.Errorf("ErrUnsupported message %q does not name the version", err)
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
		"idle before 1970": mod(func(e *Envelope) { e.Idle = time.UnixMilli(-1) }),
		"idle overflows": mod(func(e *Envelope) {
			e.Idle = time.Date(300_000_000, 1, 1, 0, 0, 0, 0, time.UTC)
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
	e := golden()
	e.Ext = ext(0x02, "owner")
	b := mustAppend(t, e)
	var err error
	if n := testing.AllocsPerRun(100, func() { _, err = Parse(b) }); n != 0 {
		t.Errorf("Parse of a built-in codec name allocates %v times, want 0", n)
	}
	if err != nil {
		t.Fatal(err)
	}
	custom := mustAppend(t, Envelope{Codec: "custom", Created: time.UnixMilli(1), Deadline: time.UnixMilli(2)})
	if n := testing.AllocsPerRun(100, func() { _, err = Parse(custom) }); n > 1 {
		t.Errorf("Parse allocates %v times, want at most 1", n)
	}
	garbage := []byte{magic, version, 40}
	if n := testing.AllocsPerRun(100, func() { _, err = Parse(garbage) }); n != 0 {
		t.Errorf("Parse of garbage allocates %v times, want 0", n)
	}
	if err == nil {
		t.Fatal("garbage accepted")
	}
	buf := make([]byte, 0, e.Size())
	if n := testing.AllocsPerRun(100, func() { _, err = Append(buf[:0], e) }); n != 0 {
		t.Errorf("Append with enough capacity allocates %v times, want 0", n)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzParse checks that Parse never panics, that its errors are one
// sentinel or the other, and that what it accepts survives a rewrite
// unchanged: Append(Parse(b)) parses to the same envelope.
func FuzzParse(f *testing.F) {
	b := mustAppend(f, golden())
	f.Add(b)
	f.Add(b[:MinSize(golden().Codec)])
	f.Add(b[:10])
	f.Add([]byte{})
	f.Add([]byte{magic, 3, 0})
	v1, err := os.ReadFile(goldenV1)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v1)
	e := golden()
	e.Retired, e.Successor, e.Ext = true, []byte("key"), ext(0x02, "o")
	f.Add(mustAppend(f, e))
	e = golden()
	e.Idle = e.Created.Add(30 * time.Minute)
	f.Add(mustAppend(f, e))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			if errors.Is(err, ErrMalformed) == errors.Is(err, ErrUnsupported) {
				t.Fatalf("Parse(%x): error %v must wrap exactly one of ErrMalformed and ErrUnsupported", b, err)
			}
			if len(b) >= 2 && b[0] == magic && b[1] != 1 && b[1] != version && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Parse(%x): version %d gave %v, want ErrUnsupported", b, b[1], err)
			}
			return
		}
		again, err := Append(nil, e)
		if err != nil {
			t.Fatalf("Parse(%x) = %+v, which Append rejects: %v", b, e, err)
		}
		e2, err := Parse(again)
		if err != nil || !equal(e, e2) || !reflect.DeepEqual(e.Created, e2.Created) {
			t.Fatalf("rewrite changed the envelope:\n in  %x\n out %x\n%+v\n%+v, %v", b, again, e, e2, err)
		}
		if e.Created.Location() != time.UTC || e.Deadline.Location() != time.UTC {
			t.Fatalf("times not in UTC")
		}
	})
}

var (
	sinkBytes []byte
	sinkErr   error
)

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
	buf := make([]byte, 0, e.Size())
	b.ReportAllocs()
	b.SetBytes(int64(cap(buf)))
	for b.Loop() {
		sinkBytes, sinkErr = Append(buf[:0], e)
	}
}

// TestFlashesExtension checks that the flashes extension round-trips
// beside unknown extensions, and that a record of flashes alone (an empty
// payload) parses.
func TestFlashesExtension(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000).UTC()
	unknown := []byte{0x05, 2, 'h', 'i'}
	for _, payload := range [][]byte{[]byte("data"), nil} {
		e := Envelope{Codec: "json", Created: now, Deadline: now.Add(time.Hour), Flashes: []byte("flash"), Ext: unknown, Payload: payload}
		b, err := Append(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != e.Size() {
			t.Errorf("Size %d, encoding %d bytes", e.Size(), len(b))
		}
		got, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Flashes) != "flash" || !bytes.Equal(got.Ext, unknown) || !bytes.Equal(got.Payload, payload) {
			t.Errorf("parsed %+v", got)
		}
	}
}

func TestWrittenExtension(t *testing.T) {
	created := time.UnixMilli(1_700_000_000_000).UTC()
	written := created.Add(90 * time.Minute)
	e := Envelope{Codec: "json", Created: created, Deadline: created.Add(time.Hour * 12), Written: written, Persist: []byte{1}, Payload: []byte(`{}`)}
	b, err := Append(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != e.Size() {
		t.Errorf("Append wrote %d bytes, Size says %d", len(b), e.Size())
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Written.Equal(written) || string(got.Persist) != "\x01" || string(got.Payload) != "{}" || len(got.Ext) != 0 {
		t.Errorf("Parse = %+v, want the last write %v, persist and payload back", got, written)
	}
	// A record without it parses with the zero time.
	e.Written = time.Time{}
	b, _ = Append(nil, e)
	if got, err := Parse(b); err != nil || !got.Written.IsZero() {
		t.Errorf("Parse without a last write = (%v, %v), want the zero time", got.Written, err)
	}
	e.Written = time.UnixMilli(-5)
	if _, err := Append(nil, e); !errors.Is(err, ErrMalformed) {
		t.Errorf("Append with a last write before the epoch: %v, want ErrMalformed", err)
	}
}
