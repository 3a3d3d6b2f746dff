package report

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// JSONFile holds what bench/scripts/jsonv2.sh saves: the timed runs of
// BenchmarkJSONEncoders from two builds (with and without
// GOEXPERIMENT=jsonv2), its "# bench/scripts/jsonv2.sh ..." line, the
// "command:", "date:" and "commit:" lines, the output tests' lines
// ("differs: LIB CASE: ..." and "LIB: N of M cases differ from
// encoding/json"), and "instructions: NAME<TAB>COUNT" lines. It is
// optional and gets a section of its own.
const JSONFile = "jsonv2.txt"

// JSONResults is the content of JSONFile.
type JSONResults struct {
	Script   string   // the jsonv2.sh command line that wrote the file
	Commands []string // the commands it ran
	Date     string
	Commit   string
	Bench    *Set
	Instr    map[string]float64 // instructions/op by benchmark name
	// Cases maps each library to how many cases the output tests ran and
	// which differ from encoding/json, in the file's order.
	Cases map[string]JSONCases
	Libs  []string // libraries of the output tests, in the file's order
}

// JSONCases is one library's output comparison.
type JSONCases struct {
	Total  int
	Differ []string // "encode NAME" or "decode NAME"
}

var (
	jsonScript  = regexp.MustCompile(`^# (bench/scripts/jsonv2\.sh.*), from bench/:$`)
	jsonInstrHd = regexp.MustCompile(`^# Instructions per operation: (.*)$`)
	jsonDiffers = regexp.MustCompile(`^differs: (\S+) ((?:encode|decode) \S+): `)
	jsonCount   = regexp.MustCompile(`^(\S+): ([0-9]+) of ([0-9]+) cases differ from encoding/json$`)
	jsonInstr   = regexp.MustCompile(`^instructions: (Benchmark\S+)\t(-?[0-9]+)$`)
)

// loadJSON reads JSONFile in dir, or returns nil if there is none.
func loadJSON(dir string) (*JSONResults, error) {
	data, err := os.ReadFile(filepath.Join(dir, JSONFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	r, err := ParseJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", JSONFile, err)
	}
	return r, nil
}

// ParseJSON parses the content of a JSONFile.
func ParseJSON(data []byte) (*JSONResults, error) {
	set, err := Parse(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if len(set.Results) == 0 {
		return nil, errors.New("no benchmark results")
	}
	r := &JSONResults{Bench: set, Instr: map[string]float64{}, Cases: map[string]JSONCases{}}
	differ := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if m := jsonScript.FindStringSubmatch(line); m != nil {
			r.Script = m[1]
		} else if m := jsonInstrHd.FindStringSubmatch(line); m != nil {
			r.Commands = append(r.Commands, m[1])
		} else if v, ok := strings.CutPrefix(line, "command: "); ok {
			r.Commands = append(r.Commands, v)
		} else if v, ok := strings.CutPrefix(line, "date: "); ok {
			r.Date = v
		} else if v, ok := strings.CutPrefix(line, "commit: "); ok {
			r.Commit = v
		} else if m := jsonDiffers.FindStringSubmatch(line); m != nil {
			differ[m[1]] = append(differ[m[1]], m[2])
		} else if m := jsonCount.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[2])
			total, _ := strconv.Atoi(m[3])
			if n != len(differ[m[1]]) {
				return nil, fmt.Errorf("%s: %d cases differ, but %d differs: lines", m[1], n, len(differ[m[1]]))
			}
			r.Libs = append(r.Libs, m[1])
			r.Cases[m[1]] = JSONCases{Total: total, Differ: differ[m[1]]}
		} else if m := jsonInstr.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			r.Instr[m[1]] = v
		}
	}
	return r, sc.Err()
}

// jsonKey splits a BenchmarkJSONEncoders name into its size, op and lib.
func jsonKey(name string) (size, op, lib string) {
	for _, part := range strings.Split(name, "/") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "size":
			size = v
		case "op":
			op = v
		case "lib":
			lib = v
		}
	}
	return size, op, lib
}

// writeJSON writes the section of JSONFile.
func writeJSON(b *bytes.Buffer, r *JSONResults) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## JSON implementations\n\n")
	p("`BenchmarkJSONEncoders` (jsonenc_test.go): the session type of `BenchmarkSizes` at each size, encoded\n")
	p("and decoded (from encoding/json's bytes) by each JSON implementation the json codec could use:\n")
	p("`v1`, encoding/json as released, which codec.JSON uses, and `goccy`, github.com/goccy/go-json, which\n")
	p("the codec/goccyjson module uses; from a second test binary built with `GOEXPERIMENT=jsonv2`, `v1-on-v2`,\n")
	p("encoding/json as the experiment reimplements it on v2, `v2`, encoding/json/v2 with its defaults, and\n")
	p("`v2-compat`, v2 with the options of `json.DefaultOptionsV1` that the output tests need. The two\n")
	p("binaries ran one after the other in each pass. `±` is as above; `× v1` divides by v1's figure at\n")
	p("the same size and operation. Why codec.JSON keeps encoding/json and goccy/go-json has a module of\n")
	p("its own: see the docs of `codec.JSON` and `codec/goccyjson`.\n\n")
	if r.Date != "" || r.Commit != "" || r.Script != "" {
		p("Measured")
		if r.Date != "" {
			p(" on %s", r.Date)
		}
		if r.Commit != "" {
			p(" at commit %s", r.Commit)
		}
		if r.Script != "" {
			p(" by `%s`", r.Script)
		}
		if len(r.Commands) > 0 {
			p(", which ran, from `bench/`:\n\n```sh\n%s\n```\n\n", strings.Join(r.Commands, "\n"))
		} else {
			p(".\n\n")
		}
	}

	hasInstr := len(r.Instr) > 0
	head := "| size | op | library | ns/op | ± | × v1 | B/op | allocs/op |"
	align := "|---|---|---|---:|---:|---:|---:|---:|"
	if hasInstr {
		head += " instructions/op | × v1 |"
		align += "---:|---:|"
	}
	p("%s\n%s\n", head, align)
	// Rows by size and op in first-seen order, libraries in first-seen
	// order within each.
	type key struct{ size, op string }
	var keys []key
	rows := map[key][]*Result{}
	for _, res := range r.Bench.Results {
		size, op, _ := jsonKey(res.Name)
		k := key{size, op}
		if _, ok := rows[k]; !ok {
			keys = append(keys, k)
		}
		rows[k] = append(rows[k], res)
	}
	for _, k := range keys {
		var base *Result
		for _, res := range rows[k] {
			if _, _, lib := jsonKey(res.Name); lib == "v1" {
				base = res
			}
		}
		for _, res := range rows[k] {
			_, _, lib := jsonKey(res.Name)
			ns := Median(res.Values["ns/op"])
			cells := []string{cell(k.size), cell(k.op), cell(lib), num(ns), pct(Spread(res.Values["ns/op"]))}
			if base != nil {
				cells = append(cells, ratio(ns, Median(base.Values["ns/op"])))
			} else {
				cells = append(cells, "")
			}
			cells = append(cells, num(Median(res.Values["B/op"])), num(Median(res.Values["allocs/op"])))
			if hasInstr {
				in, ok := r.Instr[res.Name]
				cells = append(cells, "", "")
				if ok {
					cells[len(cells)-2] = num(in)
					if base != nil {
						cells[len(cells)-1] = ratio(in, r.Instr[base.Name])
					}
				}
			}
			p("| %s |\n", strings.Join(cells, " | "))
		}
	}
	p("\n")
	if hasInstr {
		p("Instructions are from one callgrind run each (see the commands), without a `±`.\n\n")
	}

	if len(r.Libs) == 0 {
		return
	}
	p("Output: `TestJSONv1Golden` pins what encoding/json as released writes and reads for the session at\n")
	p("every size and for the codec tests' tricky values (bench/testdata/jsonv1.txt), and\n")
	p("`TestJSONGoccyOutput` and, in the jsonv2 build, `TestJSONv2Output` compare each implementation\n")
	p("with it (the bytes of each difference are in bench/results/jsonv2.txt):\n\n")
	p("| library | cases that differ from encoding/json |\n|---|---|\n")
	for _, lib := range r.Libs {
		c := r.Cases[lib]
		list := fmt.Sprintf("%d of %d", len(c.Differ), c.Total)
		if len(c.Differ) > 0 {
			list += ": " + strings.Join(c.Differ, ", ")
		}
		p("| %s | %s |\n", cell(lib), cell(list))
	}
	p("\n")
}
