package report

import (
	"sort"
	"strings"
)

// Row is one library's figures in one table row.
type Row struct {
	Bench string // the full benchmark name
	Size  string // the session size, for BenchmarkSizes; else ""
	Lib   string
	Res   *Result
	// Instr is the median instruction count per operation, or NaN when
	// none was measured; InstrRuns holds the count of each run.
	Instr     float64
	InstrRuns []float64
}

// Group is one table: the rows of one suite and one request kind.
type Group struct {
	Suite Suite
	Kind  string
	Rows  []Row
}

// Suite is a family of benchmarks that share a setup, shown under one
// heading.
type Suite struct {
	ID    string
	Title string
	About string
}

// The suites the bench module has, in the order the report shows them. A
// benchmark of no known suite is shown under its own top-level name.
var suites = []Suite{
	{"baseline", "Bare handler", "`BenchmarkBaseline` (compare_test.go): the handler alone, no session library; the floor under every other figure."},
	{"memory", "In-process memory store, a ~100 B session", "compare_test.go: this library (`typed-msgpack`, `typed-json`, and `typed-goccyjson`: JSON on goccy/go-json from the codec/goccyjson module) with its memory store, scs with its memory store, gorilla/sessions with its signed cookie store."},
	{"floor", "Floor of a read-only request", "`BenchmarkFloor` (floor_test.go): what any server-side session library must do for a read-only request, one step at a time, each adding one piece to the one before: the bare handler, finding the cookie, hashing the ID into a store key, a locked map lookup, decoding the data with msgpack. `library` is this library's read-only request (msgpack, memory store) on the same request and data."},
	{"sizes", "Session size, memory store", "`BenchmarkSizes` (sizes_test.go): sessions of 100 B to 100 KB, this library with msgpack, JSON and goccyjson beside scs."},
	{"redis", "Redis", "redis_test.go: both libraries on the same local Redis; `roundtrips/op` counts the commands and pipelines sent."},
	{"postgres", "PostgreSQL", "postgres_test.go: this library's pgstore and scs's pgxstore on the same local PostgreSQL; `roundtrips/op` counts the statements run."},
}

// classify places a benchmark in a suite and names its kind, size and
// library.
func classify(name string) (suite, kind, size, lib string) {
	parts := strings.Split(name, "/")
	top := strings.TrimPrefix(parts[0], "Benchmark")
	rest := parts[1:]
	at := func(i int) string {
		if i < len(rest) {
			return rest[i]
		}
		return ""
	}
	switch top {
	case "Baseline":
		return "baseline", "", "", "none"
	case "TypedSession":
		return "memory", at(1), "", "typed-" + at(0)
	case "SCS":
		return "memory", at(0), "", "scs"
	case "Gorilla":
		return "memory", at(0), "", "gorilla"
	case "RedisTypedSession":
		return "redis", at(0), "", "typed-msgpack"
	case "RedisSCS":
		return "redis", at(0), "", "scs"
	case "PostgresTypedSession":
		return "postgres", at(0), "", "typed-msgpack"
	case "PostgresSCS":
		return "postgres", at(0), "", "scs"
	case "Floor":
		return "floor", "", "", at(0)
	}
	// Sub-benchmarks named key=value (BenchmarkSizes and any later
	// benchmark written the same way).
	var other []string
	for _, p := range rest {
		k, v, ok := strings.Cut(p, "=")
		switch {
		case ok && k == "size":
			size = v
		case ok && k == "kind":
			kind = v
		case ok && k == "lib":
			lib = v
		default:
			other = append(other, p)
		}
	}
	if lib == "" {
		lib = strings.Join(other, "/")
	} else if len(other) > 0 {
		kind = strings.Join(append(other, kind), "/")
	}
	if top == "Sizes" {
		return "sizes", kind, size, lib
	}
	return top, kind, size, lib
}

// libRank orders libraries: scs (the baseline of every ratio) first.
func libRank(lib string) int {
	switch lib {
	case "scs":
		return 0
	case "typed-msgpack":
		return 1
	case "typed-json":
		return 2
	case "typed-goccyjson":
		return 3
	case "gorilla":
		return 4
	}
	return 5
}

// Groups arranges the results into tables: suites in the order of
// suites (unknown ones after, in first-seen order), kinds and sizes in
// first-seen order, libraries with scs first.
func Groups(s *Set, instr map[string][]float64) []*Group {
	suiteOrder := make(map[string]int)
	for i, su := range suites {
		suiteOrder[su.ID] = i
	}
	first := make(map[string]int) // first-seen index of suites, kinds and sizes
	seen := func(k string) int {
		if i, ok := first[k]; ok {
			return i
		}
		first[k] = len(first)
		return first[k]
	}
	type gk struct{ suite, kind string }
	groups := make(map[gk]*Group)
	var list []*Group
	for _, r := range s.Results {
		suite, kind, size, lib := classify(r.Name)
		seen("suite " + suite)
		seen("kind " + suite + " " + kind)
		seen("size " + size)
		g := groups[gk{suite, kind}]
		if g == nil {
			su := Suite{ID: suite, Title: "Benchmark" + suite}
			if i, ok := suiteOrder[suite]; ok {
				su = suites[i]
			}
			g = &Group{Suite: su, Kind: kind}
			groups[gk{suite, kind}] = g
			list = append(list, g)
		}
		g.Rows = append(g.Rows, Row{Bench: r.Name, Size: size, Lib: lib, Res: r,
			Instr: Median(instr[r.Name]), InstrRuns: instr[r.Name]})
	}
	rank := func(suite string) int {
		if i, ok := suiteOrder[suite]; ok {
			return i
		}
		return len(suites) + first["suite "+suite]
	}
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if ra, rb := rank(a.Suite.ID), rank(b.Suite.ID); ra != rb {
			return ra < rb
		}
		return first["kind "+a.Suite.ID+" "+a.Kind] < first["kind "+b.Suite.ID+" "+b.Kind]
	})
	for _, g := range list {
		sort.SliceStable(g.Rows, func(i, j int) bool {
			a, b := g.Rows[i], g.Rows[j]
			if a.Size != b.Size {
				return first["size "+a.Size] < first["size "+b.Size]
			}
			if ra, rb := libRank(a.Lib), libRank(b.Lib); ra != rb {
				return ra < rb
			}
			return a.Lib < b.Lib
		})
	}
	return list
}

// row returns the row of lib (of no size) in the group of suite and kind,
// or nil.
func row(groups []*Group, suite, kind, lib string) *Row {
	for _, g := range groups {
		if g.Suite.ID != suite || g.Kind != kind {
			continue
		}
		for i := range g.Rows {
			if g.Rows[i].Lib == lib && g.Rows[i].Size == "" {
				return &g.Rows[i]
			}
		}
	}
	return nil
}

// base returns the scs row of the same size in g, or nil.
func (g *Group) base(size string) *Row {
	for i := range g.Rows {
		if g.Rows[i].Lib == "scs" && g.Rows[i].Size == size {
			return &g.Rows[i]
		}
	}
	return nil
}
