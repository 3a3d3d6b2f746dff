package codec

import (
	"maps"
	"runtime/metrics"
	"slices"
	"testing"
	"time"
)

// address is the nested struct of testValue.
type address struct {
	City string `json:"city"`
	Zip  int    `json:"zip"`
}

// testValue is the struct every codec's golden file and fuzz target use.
type testValue struct {
	Name     string         `json:"name"`
	UserID   string         `json:"user_id"` // only a json tag: msgpack must use it
	Age      int            `json:"age"`
	Admin    bool           `json:"admin"`
	Roles    []string       `json:"roles"`
	Counts   map[string]int `json:"counts"`
	Address  address        `json:"address"`
	Created  time.Time      `json:"created"`
	Nickname string         `json:"nickname,omitempty"` // left empty: omitted
	Note     string         `json:"note,omitempty"`     // set: present
}

// goldenValue returns the fixed value behind the golden files.
func goldenValue() testValue {
	return testValue{
		Name:    "Ada Lovelace",
		UserID:  "u-1815",
		Age:     36,
		Admin:   true,
		Roles:   []string{"admin", "editor"},
		Counts:  map[string]int{"logins": 42, "cart": 3, "alerts": 0},
		Address: address{City: "London", Zip: 1234},
		Created: time.Date(2024, 5, 17, 9, 30, 15, 123456789, time.UTC),
		Note:    "analytical engine",
	}
}

// equalTestValues compares a and b the way a round trip should preserve
// them: times by instant, nil and empty slices and maps alike.
func equalTestValues(a, b testValue) bool {
	return a.Name == b.Name && a.UserID == b.UserID && a.Age == b.Age &&
		a.Admin == b.Admin && slices.Equal(a.Roles, b.Roles) &&
		maps.Equal(a.Counts, b.Counts) && a.Address == b.Address &&
		a.Created.Equal(b.Created) && a.Nickname == b.Nickname && a.Note == b.Note
}

// sessionValue is the realistic session struct of the benchmarks.
type sessionValue struct {
	UserID string   `json:"user_id"`
	Roles  []string `json:"roles"`
	Cart   []string `json:"cart"`
	Visits int      `json:"visits"`
}

func benchSession() sessionValue {
	return sessionValue{
		UserID: "4f8e6c1a-93d2-4b7e-a1f0-2c5d9e8b7a63",
		Roles:  []string{"customer", "beta"},
		Cart:   []string{"sku-1001", "sku-2002", "sku-3003"},
		Visits: 17,
	}
}

var heapAllocSample = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}

// heapAllocs returns the bytes allocated on the heap so far.
func heapAllocs() uint64 {
	metrics.Read(heapAllocSample)
	return heapAllocSample[0].Value.Uint64()
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func mustMarshal(t testing.TB, c Codec, v any) []byte {
	t.Helper()
	b, err := c.Marshal(v)
	if err != nil {
		t.Fatalf("%s Marshal: %v", c.Name(), err)
	}
	return b
}
