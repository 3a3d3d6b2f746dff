package memstore_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/typedsession/session/backend/memstore"
)

const benchKeys = 1024

// benchStore returns a store holding benchKeys records of 512 bytes (a
// typical session envelope) under keys shaped like the manager's, and the
// keys with their versions.
func benchStore(b *testing.B) (*memstore.Store, []string, []uint64) {
	b.Helper()
	s := memstore.New()
	b.Cleanup(func() { s.Close() })
	keys := make([]string, benchKeys)
	versions := make([]uint64, benchKeys)
	data := make([]byte, 512)
	for i := range keys {
		var k [32]byte
		rand.Read(k[:])
		keys[i] = base64.RawURLEncoding.EncodeToString(k[:])
		v, err := s.Create(context.Background(), keys[i], data, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		versions[i] = v
	}
	return s, keys, versions
}

func BenchmarkLoad(b *testing.B) {
	s, keys, _ := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Load(ctx, keys[i%benchKeys]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkLoadParallel(b *testing.B) {
	s, keys, _ := benchStore(b)
	ctx := context.Background()
	var next atomic.Uint32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919))
		for pb.Next() {
			if _, err := s.Load(ctx, keys[i%benchKeys]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkUpdate(b *testing.B) {
	s, keys, versions := benchStore(b)
	ctx := context.Background()
	data := make([]byte, 512)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		j := i % benchKeys
		v, err := s.Update(ctx, keys[j], versions[j], data, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		versions[j] = v
		i++
	}
}

// BenchmarkUpdateParallel has every goroutine update records of its own,
// so that no Update conflicts and the cost measured is the store's.
func BenchmarkUpdateParallel(b *testing.B) {
	s, keys, versions := benchStore(b)
	ctx := context.Background()
	stride := max(runtime.GOMAXPROCS(0), 1) // RunParallel's goroutine count
	var next atomic.Uint32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// Goroutine g owns keys g, g+stride, g+2*stride, ...
		g := int(next.Add(1)-1) % stride
		var mine []string
		var vers []uint64
		for j := g; j < benchKeys; j += stride {
			mine = append(mine, keys[j])
			vers = append(vers, versions[j])
		}
		data := make([]byte, 512)
		for i := 0; pb.Next(); i++ {
			j := i % len(mine)
			v, err := s.Update(ctx, mine[j], vers[j], data, time.Hour)
			if err != nil {
				b.Error(err)
				return
			}
			vers[j] = v
		}
	})
}
