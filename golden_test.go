package session_test

import (
	"bytes"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/typedsession/session"
	"github.com/typedsession/session/codec"
	"github.com/typedsession/session/internal/token"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var goldenUser = UserSession{
	UserID: "user-4711",
	Roles:  []string{"admin", "customer"},
	Cart:   []string{"tea", "scones"},
	Visits: 3,
}

// TestGoldenRecords pins the bytes a session is stored as, per codec, and
// checks that records in every format, as written by earlier releases,
// still load. A change to the wire format must be deliberate: it fails
// here until the golden files are rewritten with -update, and then old
// records must still decode. record-v1.* are records of the first format
// (no extension area), kept as read fixtures; record-v2.* are written now.
// record-v2-sorted.msgpack is a record of the builds whose msgpack codec
// sorted map keys and struct fields, also kept as a read fixture.
func TestGoldenRecords(t *testing.T) {
	for _, c := range []codec.Codec{codec.JSON, codec.MsgPack, codec.Gob} {
		t.Run(c.Name(), func(t *testing.T) {
			path := filepath.Join("testdata", "record-v2."+c.Name())
			h := newHarness(t, session.Config{Codec: c, Lifetime: 24 * time.Hour})
			cookie := h.login(goldenUser)
			_, rec, err := h.storedEnvelope(cookie)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(path, rec.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			// gob numbers types in the order a process first meets them,
			// so its bytes depend on what else the test binary encoded.
			if c != codec.Gob && !bytes.Equal(rec.Data, golden) {
				t.Errorf("stored record changed:\n got %x\nwant %x", rec.Data, golden)
			}

			// Plant each format's golden record under a fresh ID and read
			// it back.
			fixtures := []string{path, filepath.Join("testdata", "record-v1."+c.Name())}
			if c == codec.MsgPack {
				fixtures = append(fixtures, filepath.Join("testdata", "record-v2-sorted.msgpack"))
			}
			for _, p := range fixtures {
				golden, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				tok, _ := token.New()
				if _, err := h.mem.Create(t.Context(), token.Key(tok), golden, time.Hour); err != nil {
					t.Fatal(err)
				}
				got, ok := h.get("session=" + tok)
				if !ok || !reflect.DeepEqual(got, goldenUser) {
					t.Errorf("%s loads as %+v, %v", p, got, ok)
				}
			}
		})
	}
}

// FuzzCookieHeader sends arbitrary Cookie headers through the middleware:
// whatever the header, the handler sees an empty session (the store holds
// a single known session whose ID the fuzzer cannot guess), nothing
// panics, and the response is never a 5xx.
func FuzzCookieHeader(f *testing.F) {
	tok, _ := token.New()
	for _, seed := range []string{
		"", "session=" + tok, "session=" + strings.Repeat("A", 43), `session="` + tok + `"`,
		"a=b; session=x; session=" + tok, "session", "=;=;;", "session=\x00\xff",
		strings.Repeat("session=a;", 200),
	} {
		f.Add(seed)
	}
	h := newHarness(f, session.Config{})
	known := h.login(goldenUser)
	f.Fuzz(func(t *testing.T, header string) {
		if strings.Contains(header, strings.TrimPrefix(known, "session=")) {
			t.Skip("the fuzzer found the live ID in the seed corpus")
		}
		req, _ := http.NewRequest(http.MethodGet, "http://example.com/", nil)
		req.Header["Cookie"] = []string{header}
		w := &benchWriter{h: make(http.Header)}
		h.mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok, err := h.mgr.From(r).Get(); ok || err != nil {
				t.Errorf("Cookie %q: Get = ok %v, err %v", header, ok, err)
			}
		})).ServeHTTP(w, req)
		if w.code >= 500 {
			t.Errorf("Cookie %q: status %d", header, w.code)
		}
	})
}
