package bench

import (
	"net/http"
	"testing"

	"github.com/gorilla/sessions"

	"github.com/typedsession/session/backend/cookiestore"
	"github.com/typedsession/session/codec"
)

// The client-side comparison: this library's backend/cookiestore against
// gorilla/sessions' CookieStore, both encrypting (AES-256) and
// authenticating (HMAC-SHA256) the whole session into the cookie with
// gorilla/securecookie. The request kinds are a read, a write (a counter
// increment, so a new cookie), and a new session (no cookie in, one out).

var (
	cookieHashKey = []byte("0123456789abcdef0123456789abcdef")
	cookieEncKey  = []byte("fedcba9876543210fedcba9876543210")
)

// The kinds of the client-side comparison.
var cookieKinds = []struct {
	name string
	kind kind
}{{"ReadOnly", readOnly}, {"Write", write}, {"New", newSession}}

func BenchmarkCookieTypedSession(b *testing.B) {
	keys, err := cookiestore.NewKeyPair(cookieHashKey, cookieEncKey)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []codec.Codec{codec.MsgPack, codec.JSON} {
		for _, k := range cookieKinds {
			b.Run(c.Name()+"/"+k.name, func(b *testing.B) {
				h, cookie := typedSession(b, cookiestore.New(keys), c, k.kind, user)
				run(b, h, cookie)
			})
		}
	}
}

// BenchmarkCookieGorilla measures gorilla/sessions' CookieStore with an
// encryption key as well as a hash key, as backend/cookiestore uses.
func BenchmarkCookieGorilla(b *testing.B) {
	for _, k := range cookieKinds {
		b.Run(k.name, func(b *testing.B) {
			store := sessions.NewCookieStore(cookieHashKey, cookieEncKey)
			store.Options.HttpOnly = true
			store.Options.Secure = true
			store.Options.SameSite = http.SameSiteLaxMode
			save := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s, _ := store.New(r, "session")
				putValues(s.Values, user)
				if err := s.Save(r, w); err != nil {
					b.Fatal(err)
				}
				w.WriteHeader(http.StatusOK)
			})
			if k.kind == newSession {
				run(b, save, "")
				return
			}
			run(b, gorillaHandler(b, store, k.kind), cookieOf(b, save))
		})
	}
}
