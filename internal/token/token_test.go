package token

import (
	"encoding/base64"
	"github.com/typedsession/session/backend"
	"strings"
	"testing"
)

// sample is a fixed valid session ID (32 zero bytes would be all 'A').
const sample = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA"

func TestNew(t *testing.T) {
	const n = 1000
	seen := make(map[string]bool, n)
	for i := 0; i < n; i++ {
		tok, err := New()
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if len(tok) != Len {
			t.Fatalf("New() = %q: length %d, want %d", tok, len(tok), Len)
		}
		if !Valid(tok) {
			t.Fatalf("New() = %q is not Valid", tok)
		}
		if seen[tok] {
			t.Fatalf("New() returned %q twice", tok)
		}
		seen[tok] = true
	}
}

func TestLenMatchesEncoding(t *testing.T) {
	if got := base64.RawURLEncoding.EncodedLen(rawLen); got != Len {
		t.Fatalf("EncodedLen(%d) = %d, Len = %d", rawLen, got, Len)
	}
}

func TestValidAccepts(t *testing.T) {
	for _, s := range []string{
		sample,
		strings.Repeat("A", Len),
		strings.Repeat("_", Len-1) + "w", // all ones: last char 110000
		strings.Repeat("-", Len-1) + "g",
		strings.Repeat("z", Len-1) + "0",
	} {
		if !Valid(s) {
			t.Errorf("Valid(%q) = false, want true", s)
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil || len(b) != rawLen {
			t.Errorf("test case %q is not a strict 32-byte encoding: %v", s, err)
		}
	}
}

func TestValidRejectsLength(t *testing.T) {
	for _, n := range []int{0, 1, Len - 1, Len + 1, 64, 10 << 10} {
		s := strings.Repeat("A", n)
		if Valid(s) {
			t.Errorf("Valid(%d x 'A') = true, want false", n)
		}
	}
	// A valid ID with padding or a trailing newline is not valid.
	for _, s := range []string{sample + "=", sample + "\n", "\n" + sample, sample[:Len-1]} {
		if Valid(s) {
			t.Errorf("Valid(%q) = true, want false", s)
		}
	}
}

func TestValidRejectsCharacters(t *testing.T) {
	bad := []string{"+", "/", "=", " ", "\x00", "\n", "\r", ".", "~", "é", "\xff", "\x80"}
	for _, c := range bad {
		for _, pos := range []int{0, Len / 2, Len - 1} {
			// Keep the total byte length at Len so only the character is wrong:
			// a multi-byte character replaces as many bytes as it has.
			pos = min(pos, Len-len(c))
			s := sample[:pos] + c + sample[pos+len(c):]
			if len(s) != Len {
				t.Fatalf("test bug: len(%q) = %d", s, len(s))
			}
			if Valid(s) {
				t.Errorf("Valid(%q) = true, want false (bad char %q at %d)", s, c, pos)
			}
		}
	}
	// Non-ASCII that is exactly Len bytes long.
	s := strings.Repeat("é", Len/2) + "A" // 2*21 + 1 = 43 bytes
	if len(s) != Len || Valid(s) {
		t.Errorf("Valid(%q) (len %d) = true, want false", s, len(s))
	}
}

func TestValidRejectsNonCanonical(t *testing.T) {
	prefix := sample[:Len-1]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	accepted := 0
	for i := 0; i < len(alphabet); i++ {
		s := prefix + alphabet[i:i+1]
		canonical := i&3 == 0
		if got := Valid(s); got != canonical {
			t.Errorf("Valid(%q) = %v, want %v (last char value %d)", s, got, canonical, i)
		}
		_, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if (err == nil) != canonical {
			t.Errorf("Strict decoding of %q: err = %v, test expects canonical = %v", s, err, canonical)
		}
		if Valid(s) {
			accepted++
		}
	}
	if accepted != 16 {
		t.Errorf("%d final characters accepted, want 16", accepted)
	}
}

func TestDecodeMap(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(decodeMap) != 256 {
		t.Fatalf("len(decodeMap) = %d, want 256", len(decodeMap))
	}
	for c := 0; c < 256; c++ {
		want := byte(invalid)
		if i := strings.IndexByte(alphabet, byte(c)); i >= 0 {
			want = byte(i)
		}
		if got := decode(byte(c)); got != want {
			t.Errorf("decode(%#x) = %#x, want %#x", c, got, want)
		}
	}
}

func TestKey(t *testing.T) {
	a, b := sample, strings.Repeat("A", Len)
	ka, kb := Key(a), Key(b)
	if len(ka) != Len || len(kb) != Len {
		t.Fatalf("Key lengths %d, %d, want %d", len(ka), len(kb), Len)
	}
	if Key(a) != ka {
		t.Error("Key is not deterministic")
	}
	if ka == kb {
		t.Error("Key gives the same key for different tokens")
	}
	if ka == a || kb == b {
		t.Error("Key returned the token itself")
	}
	if !Valid(ka) {
		// A SHA-256 sum in RawURLEncoding has the same shape as an ID.
		t.Errorf("Key(%q) = %q is not in canonical 32-byte form", a, ka)
	}
	// Known answer: SHA-256 of the empty string.
	if got, want := Key(""), "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"; got != want {
		t.Errorf(`Key("") = %q, want %q`, got, want)
	}
	// Arbitrary input (even invalid IDs) is hashed, not rejected.
	if got := Key(strings.Repeat("x", 10<<10)); len(got) != Len {
		t.Errorf("Key of long input has length %d", len(got))
	}
}

func TestAllocs(t *testing.T) {
	var ok bool
	if n := testing.AllocsPerRun(100, func() { ok = Valid(sample) }); n != 0 {
		t.Errorf("Valid allocates %v times per call, want 0", n)
	}
	if !ok {
		t.Fatal("sample is not valid")
	}
	var k string
	if n := testing.AllocsPerRun(100, func() { k = Key(sample) }); n > 1 {
		t.Errorf("Key allocates %v times per call, want <= 1", n)
	}
	if len(k) != Len {
		t.Fatal("bad key")
	}
}

func FuzzValid(f *testing.F) {
	f.Add(sample)
	f.Add("")
	f.Add(sample[:Len-1] + "B")
	f.Add(sample + "\n")
	f.Add(sample + "." + Group("alice"))
	f.Add(sample + "." + Group("alice")[:GroupLen-1] + "B")
	f.Fuzz(func(t *testing.T, s string) {
		valid := Valid(s)
		// strict decodes s as canonical base64 of n bytes. The decoder
		// skips '\r' and '\n', so it also requires re-encoding to s.
		strict := func(s string, n int) bool {
			b, err := base64.RawURLEncoding.Strict().DecodeString(s)
			return err == nil && len(b) == n && base64.RawURLEncoding.EncodeToString(b) == s
		}
		want := strict(s, rawLen)
		if id, group, ok := strings.Cut(s, "."); ok {
			want = strict(id, rawLen) && strict(group, 16)
		}
		if valid != want {
			t.Fatalf("Valid(%q) = %v, strict decoding says %v", s, valid, want)
		}
	})
}

var sinkBool bool
var sinkString string

func BenchmarkValid(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkBool = Valid(sample)
	}
}

func BenchmarkKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkString = Key(sample)
	}
}

func TestGroupedIDs(t *testing.T) {
	g := Group("alice")
	if len(g) != GroupLen || g != Group("alice") || g == Group("bob") || g == Group("") {
		t.Fatalf("Group(alice) = %q: want %d characters, stable, distinct from other owners", g, GroupLen)
	}
	if strings.Contains(g, "alice") {
		t.Fatalf("Group(alice) = %q shows the owner", g)
	}
	id, err := NewIn(g)
	if err != nil {
		t.Fatal(err)
	}
	if !Valid(id) || len(id) != Len+1+GroupLen || GroupOf(id) != g {
		t.Fatalf("NewIn(%q) = %q: Valid %v, GroupOf %q", g, id, Valid(id), GroupOf(id))
	}
	key := Key(id)
	if len(key) != len(id) || GroupOf(key) != g || backend.KeyGroup(key) != g || key[:Len] == id[:Len] {
		t.Fatalf("Key(%q) = %q: want the hash of the ID, then its group %q", id, key, g)
	}
	if Key(id[:Len]) == key[:Len] {
		t.Fatal("a grouped ID's key hashes only the random part: the group would not be bound to the ID")
	}
	plain, err := NewIn("")
	if err != nil || len(plain) != Len || GroupOf(plain) != "" || backend.KeyGroup(Key(plain)) != "" {
		t.Fatalf("NewIn(\"\") = %q, %v: want an ungrouped ID", plain, err)
	}
	for _, bad := range []string{
		id[:Len] + "!" + g,                    // another separator
		id[:Len] + "." + g[:GroupLen-1] + "B", // padding bits set in the group
		id[:Len] + "." + g[:GroupLen-1],       // group too short
		id + "A",
		id[:Len] + "." + strings.Repeat("*", GroupLen),
	} {
		if Valid(bad) {
			t.Errorf("Valid(%q) = true", bad)
		}
	}
	valid := false
	if n := testing.AllocsPerRun(100, func() { valid = Valid(id) }); n != 0 {
		t.Errorf("Valid of a grouped ID allocates %v times", n)
	}
	if !valid {
		t.Errorf("Valid(%q) = false", id)
	}
	if n := testing.AllocsPerRun(100, func() { Key(id) }); n != 1 {
		t.Errorf("Key of a grouped ID allocates %v times, want 1 (the key)", n)
	}
}
