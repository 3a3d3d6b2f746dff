package bench

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/typedsession/session/backend/memstore"
	"github.com/typedsession/session/codec"
)

// BenchmarkFloor builds the physical floor of a read-only request, one
// step at a time, on the same request template and data as the other
// benchmarks: what any server-side session library must do at least. Each
// step adds one piece to the one before:
//
//	1-bare     the bare handler (BenchmarkBaseline)
//	2-cookie   find the session cookie in the Cookie header
//	3-sha256   decode the ID and hash it into a store key
//	4-lookup   look the key up in a locked map of encoded sessions
//	5-decode   decode the session data with msgpack
//
// BenchmarkTypedSession/msgpack/ReadOnly does all of that and more (the
// envelope, deadlines, the middleware, Vary); its ratio to 5-decode is the
// library's overhead over the floor.
func BenchmarkFloor(b *testing.B) {
	// A session as the other benchmarks store it, to look up and decode.
	tok := strings.Repeat("A", 43)
	key := floorKey(tok)
	enc, err := codec.MsgPack.Marshal(&user)
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.RWMutex
	m := map[string][]byte{key: enc}
	for i := range 1000 { // a map of realistic size
		s := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		m[base64.RawURLEncoding.EncodeToString(s[:])] = enc
	}
	cookie := "session=" + tok
	steps := []struct {
		name string
		h    func(w http.ResponseWriter, r *http.Request)
	}{
		{"1-bare", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }},
		{"2-cookie", func(w http.ResponseWriter, r *http.Request) {
			if floorCookie(r) == "" {
				b.Fatal("no cookie")
			}
			w.WriteHeader(http.StatusOK)
		}},
		{"3-sha256", func(w http.ResponseWriter, r *http.Request) {
			if floorKey(floorCookie(r)) != key {
				b.Fatal("wrong key")
			}
			w.WriteHeader(http.StatusOK)
		}},
		{"4-lookup", func(w http.ResponseWriter, r *http.Request) {
			mu.RLock()
			rec := m[floorKey(floorCookie(r))]
			mu.RUnlock()
			if rec == nil {
				b.Fatal("not found")
			}
			w.WriteHeader(http.StatusOK)
		}},
		{"5-decode", func(w http.ResponseWriter, r *http.Request) {
			mu.RLock()
			rec := m[floorKey(floorCookie(r))]
			mu.RUnlock()
			var u UserSession
			if err := codec.MsgPack.Unmarshal(rec, &u); err != nil || u.UserID == "" {
				b.Fatal(err)
			}
			w.WriteHeader(http.StatusOK)
		}},
	}
	for _, s := range steps {
		b.Run(s.name, func(b *testing.B) { run(b, http.HandlerFunc(s.h), cookie) })
	}
	b.Run("library", func(b *testing.B) {
		store := memstore.New()
		defer store.Close()
		h, c := typedSession(b, store, codec.MsgPack, readOnly, user)
		run(b, h, c)
	})
}

// floorCookie returns the session cookie's value, without allocating.
func floorCookie(r *http.Request) string {
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "session="); ok {
				return v
			}
		}
	}
	return ""
}

// floorKey decodes the ID and hashes it into a store key.
func floorKey(tok string) string {
	var raw [32]byte
	if n, err := base64.RawURLEncoding.Decode(raw[:], []byte(tok)); err != nil || n != 32 {
		return ""
	}
	sum := sha256.Sum256(raw[:])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
