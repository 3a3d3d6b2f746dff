package codec

import (
	"bytes"
	"encoding/gob"
	"maps"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
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

// boundTarget has a field of each kind msgpack/v5 preallocates for.
type boundTarget struct {
	Ints   []int            `json:"ints"`
	Map    map[string]int   `json:"map"`
	Bytes  []byte           `json:"bytes"`
	Str    string           `json:"str"`
	Nested map[string][]int `json:"nested"`
	Any    any              `json:"any"`
	Time   time.Time        `json:"time"`
}

// gobExtra is registered with gob for interface-valued fields.
type gobExtra struct {
	Label string
	Tags  []string
	Sub   any
}

// ifaceValue has interface-valued fields, for gob.
type ifaceValue struct {
	ID    int
	Extra any
	List  []any
	Props map[string]any
}

var registerGobOnce sync.Once

// registerGob registers the concrete types tests store in interfaces.
func registerGob() {
	registerGobOnce.Do(func() {
		gob.Register(gobExtra{})
		gob.Register([]any(nil))
		gob.Register(map[string]any(nil))
	})
}

var heapAllocSample = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}

// heapAllocs returns the bytes allocated on the heap so far.
func heapAllocs() uint64 {
	metrics.Read(heapAllocSample)
	return heapAllocSample[0].Value.Uint64()
}

// allocated returns the bytes f allocates, measured on a second call after
// a warm-up call and a garbage collection.
func allocated(f func()) uint64 {
	f()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// adversarialMsgpack lists small msgpack inputs whose headers claim far
// more than they hold, by name.
func adversarialMsgpack() map[string][]byte {
	deep := append(bytes.Repeat([]byte{0x91}, 10000), 0x00)
	field := func(name string, rest ...byte) []byte {
		b := []byte{0x81, 0xa0 | byte(len(name))}
		b = append(b, name...)
		return append(b, rest...)
	}
	return map[string][]byte{
		"array32":       {0xdd, 0xff, 0xff, 0xff, 0xff},
		"array16":       {0xdc, 0xff, 0xff},
		"map32":         {0xdf, 0xff, 0xff, 0xff, 0xff},
		"map16":         {0xde, 0xff, 0xff},
		"bin32-1GiB":    {0xc6, 0x40, 0x00, 0x00, 0x00},
		"str32-1GiB":    {0xdb, 0x40, 0x00, 0x00, 0x00},
		"ext32-1GiB":    {0xc9, 0x40, 0x00, 0x00, 0x00, 0x01},
		"deep-10000":    deep,
		"field-ints":    field("ints", 0xdd, 0xff, 0xff, 0xff, 0xff),
		"field-map":     field("map", 0xdf, 0xff, 0xff, 0xff, 0xff),
		"field-bytes":   field("bytes", 0xc6, 0x40, 0x00, 0x00, 0x00),
		"field-str":     field("str", 0xdb, 0x40, 0x00, 0x00, 0x00),
		"field-any":     field("any", 0xdd, 0xff, 0xff, 0xff, 0xff),
		"field-nested":  field("nested", 0x81, 0xa0, 0xdd, 0xff, 0xff, 0xff, 0xff),
		"never-used-c1": {0xc1},
		"trailing":      {0x01, 0x02},
		"empty":         {},
		// msgpack/v5 reads an ext's payload as a map when the target is a
		// map: this fixext4 timestamp's payload, 81 a0 dd ff, reads as
		// {"": array32 of ff ff ff ff elements} (4 billion), taking three
		// bytes of the map entries that follow it. Undefended, decoding
		// it into boundTarget dies allocating 32 GB.
		"time-map-lead": {0x83, 0xa6, 'n', 'e', 's', 't', 'e', 'd',
			0xd6, 0xff, 0x81, 0xa0, 0xdd, 0xff,
			0xff, 0xff, 0xff, 0xff},
		"ext-map-lead": {0x83, 0xa6, 'n', 'e', 's', 't', 'e', 'd',
			0xd6, 0x05, 0x81, 0xa0, 0xdd, 0xff,
			0xff, 0xff, 0xff, 0xff},
		"time-bad-length":   {0xd5, 0xff, 0x00, 0x00},
		"time-bad-nanos-8":  {0xd7, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00},
		"time-bad-nanos-12": {0xc7, 0x0c, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0},
	}
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// shortName returns name cut to n bytes, for messages.
func shortName(name string, n int) string {
	if len(name) <= n {
		return name
	}
	return strings.TrimSpace(name[:n]) + "…"
}

func mustMarshal(t testing.TB, c Codec, v any) []byte {
	t.Helper()
	b, err := c.Marshal(v)
	if err != nil {
		t.Fatalf("%s Marshal: %v", c.Name(), err)
	}
	return b
}
