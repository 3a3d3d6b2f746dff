// Package report turns the bench module's saved benchmark results into
// BENCHMARKS.md and its SVG charts. It reads the raw output of
// `go test -bench -benchmem` (several runs concatenated, as
// bench/scripts/interleave.sh writes it) and the instruction counts of
// bench/scripts/instructions.sh, and computes medians and ratios itself, so
// that every figure it prints comes from those files.
package report

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Config is one "key: value" line of benchmark output, such as
// "cpu: AMD EPYC" or "goos: linux".
type Config struct {
	Key, Value string
}

// Result holds every run of one benchmark: for each unit (ns/op, B/op,
// allocs/op, roundtrips/op, ...), the value of each run in input order.
type Result struct {
	Name   string
	Values map[string][]float64
	Units  []string // in the order the benchmark first reported them
	N      []int64  // the iterations (b.N) of each run
}

// Set is the parsed content of one or more concatenated benchmark outputs.
type Set struct {
	// Config holds each distinct "key: value" line once, in first-seen
	// order; a key whose value changes between runs appears once per value.
	Config []Config
	// Results holds the benchmarks in first-seen order.
	Results []*Result
	byName  map[string]*Result
}

// Lookup returns the result of the benchmark named name (without the
// -GOMAXPROCS suffix), or nil.
func (s *Set) Lookup(name string) *Result {
	return s.byName[name]
}

var (
	procsSuffix = regexp.MustCompile(`-[0-9]+$`)
	configLine  = regexp.MustCompile(`^([a-z][^\s:]*):\s*(.*)$`)
)

// TrimProcs removes the -GOMAXPROCS suffix go test appends to a benchmark
// name ("BenchmarkX/a=b-2" becomes "BenchmarkX/a=b").
func TrimProcs(name string) string {
	return procsSuffix.ReplaceAllString(name, "")
}

// Parse reads benchmark output in the format of `go test -bench`: lines
// "BenchmarkName-P  N  value unit  value unit ...", and "key: value"
// configuration lines. Other lines (PASS, ok, log output) are skipped. A
// line that starts with "Benchmark" and has the shape of a result but a
// malformed number is an error, so that a damaged file is not silently
// half-read.
func Parse(r io.Reader) (*Set, error) {
	s := &Set{byName: make(map[string]*Result)}
	seen := make(map[Config]bool)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.HasPrefix(text, "Benchmark") {
			f := strings.Fields(text)
			if len(f) < 4 || len(f)%2 != 0 {
				continue // a benchmark's log line, or a name printed alone before its result
			}
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				continue
			}
			name := TrimProcs(f[0])
			res := s.byName[name]
			if res == nil {
				res = &Result{Name: name, Values: make(map[string][]float64)}
				s.byName[name] = res
				s.Results = append(s.Results, res)
			}
			res.N = append(res.N, n)
			for i := 2; i < len(f); i += 2 {
				v, err := strconv.ParseFloat(f[i], 64)
				if err != nil {
					return nil, fmt.Errorf("line %d: %q is not a number: %w", line, f[i], err)
				}
				unit := f[i+1]
				if _, ok := res.Values[unit]; !ok {
					res.Units = append(res.Units, unit)
				}
				res.Values[unit] = append(res.Values[unit], v)
			}
			continue
		}
		if m := configLine.FindStringSubmatch(text); m != nil {
			c := Config{Key: m[1], Value: strings.TrimSpace(m[2])}
			if !seen[c] {
				seen[c] = true
				s.Config = append(s.Config, c)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// ParseInstructions reads the output of bench/scripts/instructions.sh,
// one or more runs concatenated: lines "name<TAB>instructions/op",
// followed by lines "name<TAB>R x scs", which it skips (the report
// computes its own ratios). It returns each benchmark's counts, one per
// run. Empty lines are skipped; anything else is an error.
func ParseInstructions(r io.Reader) (map[string][]float64, error) {
	out := make(map[string][]float64)
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		name, value, ok := strings.Cut(text, "\t")
		if !ok {
			return nil, fmt.Errorf("line %d: no tab in %q", line, text)
		}
		if strings.HasSuffix(value, " x scs") {
			continue
		}
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q is not an instruction count: %w", line, value, err)
		}
		name = TrimProcs(name)
		out[name] = append(out[name], float64(n))
	}
	return out, sc.Err()
}

// Median returns the median of xs (the mean of the two middle values for
// an even count), or NaN for no values. It does not modify xs.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// Spread returns the largest distance of any value in xs from their
// median, as a fraction of the median. For six runs this is the half-width
// benchstat prints as "± x%": its 95% confidence interval of the median is
// then the range from the smallest to the largest run.
func Spread(xs []float64) float64 {
	m := Median(xs)
	if len(xs) == 0 || m == 0 {
		return math.NaN()
	}
	d := 0.0
	for _, x := range xs {
		d = math.Max(d, math.Abs(x-m))
	}
	return d / m
}
