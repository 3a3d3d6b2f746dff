package report

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// The optional result files of the measurements that count rather than
// time: each is the raw output of one `go test -bench` command, after
// header lines ("date: ...", "commit: ...", "command: ...") that
// bench/scripts/report.sh adds, and gets a section of its own.
const (
	// MemoryFile holds BenchmarkStoredSessions: heap bytes per stored
	// session.
	MemoryFile = "memory.txt"
	// ServerCPUFile holds BenchmarkRedisServerCPU: the Redis server's work
	// per request.
	ServerCPUFile = "rediscpu.txt"
)

// loadOptional parses the results file name in dir, or returns nil if
// there is none.
func loadOptional(dir, name string) (*Set, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	set, err := Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(set.Results) == 0 {
		return nil, fmt.Errorf("%s: no benchmark results", name)
	}
	return set, nil
}

// column is a column of a counts table, with an optional ± and × scs
// column after it.
type column struct {
	head   string
	value  func(*Result) []float64
	spread bool
	ratio  bool
	// iters marks a column of iterations (b.N), which should be equal in
	// every run: the table shows their range when they are not.
	iters bool
}

func unit(u string) func(*Result) []float64 {
	return func(r *Result) []float64 { return r.Values[u] }
}

func iterations(r *Result) []float64 {
	out := make([]float64, len(r.N))
	for i, n := range r.N {
		out[i] = float64(n)
	}
	return out
}

// writeMemory writes the section of MemoryFile.
func writeMemory(b *bytes.Buffer, set *Set) {
	writeCounts(b, set, "Memory per stored session",
		"`BenchmarkStoredSessions` (memory_test.go): login requests without a cookie through each\n"+
			"library's middleware, each storing a new session of about 200 B (in msgpack) in the library's\n"+
			"in-process store: this library's memstore with msgpack (`typed-msgpack`, the default) and with\n"+
			"JSON (`typed-json`), scs's memstore (which encodes with gob). `B/session` is the growth of the\n"+
			"live heap (`runtime.MemStats.HeapAlloc` after `runtime.GC`) from before the first login to after\n"+
			"the last, with the store still reachable, divided by the sessions stored: keys, maps and encoded\n"+
			"data together. It counts bytes, not time, and barely moves between runs; `±` and `× scs` are as\n"+
			"above, over the runs. gorilla/sessions is not here: it has no in-process store (its server-side\n"+
			"store, FilesystemStore, writes files).",
		[]column{
			{head: "sessions", value: iterations, iters: true},
			{head: "B/session", value: unit("B/session"), spread: true, ratio: true},
		})
}

// writeServerCPU writes the section of ServerCPUFile.
func writeServerCPU(b *bytes.Buffer, set *Set) {
	writeCounts(b, set, "Redis server CPU per request",
		"`BenchmarkRedisServerCPU` (rediscpu_test.go): the request kinds and handlers of the Redis tables,\n"+
			"on a redis-server the benchmark starts for itself, since the server's counters are the whole\n"+
			"server's and one shared with other clients would mix theirs in. From INFO cpu and INFO\n"+
			"commandstats before and after the loop, divided by the requests: `redis-cpu-usec/op` is the CPU\n"+
			"time of the server's main thread (user and system, from getrusage): reading requests, running\n"+
			"commands and writing replies, so it grows with round trips; time the server waits for a CPU does\n"+
			"not count. `redis-usec/op` is the time the server spent executing the commands a request sent\n"+
			"(commandstats usec; a script's time includes the commands it runs), without reading and\n"+
			"replying; the server times each command by its clock in whole microseconds, so it averages\n"+
			"coarse readings and grows when the server is descheduled mid-command. `redis-calls/op` is the\n"+
			"commands the server executed, those run by scripts included.",
		[]column{
			{head: "requests", value: iterations, iters: true},
			{head: "redis-cpu-usec/op", value: unit("redis-cpu-usec/op"), spread: true, ratio: true},
			{head: "redis-usec/op", value: unit("redis-usec/op"), spread: true, ratio: true},
			{head: "redis-calls/op", value: unit("redis-calls/op"), ratio: true},
		})
}

// writeCounts writes a section: its title, about, when and how the
// results were measured (the file's date, commit and command lines), and
// a table with a row per benchmark, by kind and then library (scs first),
// of the median of each column over the runs.
func writeCounts(b *bytes.Buffer, set *Set, title, about string, cols []column) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## %s\n\n%s\n\n", title, about)
	var date, commit string
	var commands []string
	for _, c := range set.Config {
		switch c.Key {
		case "date":
			date = c.Value
		case "commit":
			commit = c.Value
		case "command":
			commands = append(commands, c.Value)
		}
	}
	if date != "" || commit != "" || len(commands) > 0 {
		p("Measured")
		if date != "" {
			p(" on %s", date)
		}
		if commit != "" {
			p(" at commit %s", commit)
		}
		if len(commands) > 0 {
			p(", from `bench/`, with:\n\n```sh\n%s\n```\n\n", strings.Join(commands, "\n"))
		} else {
			p(".\n\n")
		}
	}

	type row struct {
		kind, lib string
		res       *Result
	}
	var rows []row
	first := map[string]int{}
	hasKind := false
	for _, r := range set.Results {
		_, kind, _, lib := classify(r.Name)
		if _, ok := first[kind]; !ok {
			first[kind] = len(first)
		}
		hasKind = hasKind || kind != ""
		rows = append(rows, row{kind, lib, r})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.kind != b.kind {
			return first[a.kind] < first[b.kind]
		}
		if ra, rb := libRank(a.lib), libRank(b.lib); ra != rb {
			return ra < rb
		}
		return a.lib < b.lib
	})
	base := func(kind string) *Result {
		for _, r := range rows {
			if r.kind == kind && r.lib == "scs" {
				return r.res
			}
		}
		return nil
	}

	var head, align []string
	add := func(h, a string) { head = append(head, h); align = append(align, a) }
	if hasKind {
		add("kind", "---")
	}
	add("library", "---")
	for _, c := range cols {
		add(c.head, "---:")
		if c.spread {
			add("±", "---:")
		}
		if c.ratio {
			add("× scs", "---:")
		}
	}
	p("| %s |\n|%s|\n", strings.Join(head, " | "), strings.Join(align, "|"))
	for _, r := range rows {
		var cells []string
		if hasKind {
			cells = append(cells, cell(r.kind))
		}
		cells = append(cells, cell(r.lib))
		for _, c := range cols {
			vs := c.value(r.res)
			v := Median(vs)
			if c.iters && len(vs) > 0 && slices.Min(vs) != slices.Max(vs) {
				cells = append(cells, num(slices.Min(vs))+" to "+num(slices.Max(vs)))
			} else {
				cells = append(cells, num(v))
			}
			if c.spread {
				cells = append(cells, pct(Spread(c.value(r.res))))
			}
			if c.ratio {
				cells = append(cells, countRatio(v, base(r.kind), c))
			}
		}
		p("| %s |\n", strings.Join(cells, " | "))
	}
	p("\n")
}

// countRatio is ratio to the scs row's median, and "0×" for nothing
// against something (a request that sends Redis no command at all).
func countRatio(v float64, base *Result, c column) string {
	if base == nil {
		return ""
	}
	bv := Median(c.value(base))
	if v == 0 && bv > 0 {
		return "0×"
	}
	return ratio(v, bv)
}
