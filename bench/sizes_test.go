package bench

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	scsmem "github.com/alexedwards/scs/v2/memstore"

	"github.com/typedsession/session/backend/memstore"
)

// sessionSizes are the encoded sizes BenchmarkSizes measures, from a
// typical login session to one that keeps a large cart.
var sessionSizes = []struct {
	name  string
	bytes int
}{{"100B", 100}, {"1KB", 1 << 10}, {"10KB", 10 << 10}, {"100KB", 100 << 10}}

// sizedUser returns user with a cart of about n bytes of item strings, so
// that every library stores about n bytes of session data. Up to 100
// bytes, it is user itself.
func sizedUser(n int) UserSession {
	u := user
	if n <= 100 {
		return u
	}
	u.Cart = nil
	for i := 0; cartBytes(u.Cart) < n-60; i++ {
		u.Cart = append(u.Cart, "sku-"+strconv.Itoa(100000+i)+": a line of the cart, with a note")
	}
	return u
}

func cartBytes(cart []string) int {
	n := 0
	for _, s := range cart {
		n += len(s)
	}
	return n
}

// BenchmarkSizes measures read-only and write requests at every session
// size, this library (msgpack, JSON, and JSON on goccy/go-json) beside scs with its memory store,
// in one benchmark so that a run interleaves the libraries at each size.
// The sub-benchmark names are benchstat keys: summarise a run with
// benchstat -col /lib (bench/scripts/interleave.sh does), which puts scs,
// the baseline, first.
func BenchmarkSizes(b *testing.B) {
	for _, size := range sessionSizes {
		u := sizedUser(size.bytes)
		for _, k := range kinds[:2] {
			b.Run(fmt.Sprintf("size=%s/kind=%s/lib=scs", size.name, k.name), func(b *testing.B) {
				store := scsmem.NewWithCleanupInterval(time.Hour)
				defer store.StopCleanup()
				h, cookie := scsSession(b, store, k.kind, u)
				run(b, h, cookie)
			})
			for _, c := range typedCodecs {
				b.Run(fmt.Sprintf("size=%s/kind=%s/lib=typed-%s", size.name, k.name, c.name), func(b *testing.B) {
					store := memstore.New()
					defer store.Close()
					h, cookie := typedSession(b, store, c.codec, k.kind, u)
					run(b, h, cookie)
				})
			}
		}
	}
}

// TestSizedUser checks that the sizes are what the benchmark names say.
func TestSizedUser(t *testing.T) {
	for _, size := range sessionSizes[1:] {
		got := cartBytes(sizedUser(size.bytes).Cart)
		if got < size.bytes*8/10 || got > size.bytes*12/10 {
			t.Errorf("%s: cart holds %d bytes", size.name, got)
		}
	}
}
