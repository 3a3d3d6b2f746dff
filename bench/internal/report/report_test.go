package report

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestParse(t *testing.T) {
	in := `goos: linux
cpu: Test CPU
BenchmarkA-2   	 100	  12.5 ns/op	  8 B/op	  1 allocs/op
BenchmarkB/lib=x-12	  10	  3000 ns/op	  0 B/op	  0 allocs/op	  2.000 roundtrips/op
BenchmarkB/lib=x
    log output of a benchmark
run 2 of 2
PASS
goos: linux
cpu: Other CPU
BenchmarkA-2   	 100	  13.5 ns/op	  8 B/op	  1 allocs/op
ok  	pkg	1.0s
`
	s, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	wantConfig := []Config{{"goos", "linux"}, {"cpu", "Test CPU"}, {"cpu", "Other CPU"}}
	if !reflect.DeepEqual(s.Config, wantConfig) {
		t.Errorf("Config = %v, want %v", s.Config, wantConfig)
	}
	if len(s.Results) != 2 || s.Results[0].Name != "BenchmarkA" || s.Results[1].Name != "BenchmarkB/lib=x" {
		t.Fatalf("Results = %+v", s.Results)
	}
	a := s.Lookup("BenchmarkA")
	if got := a.Values["ns/op"]; !reflect.DeepEqual(got, []float64{12.5, 13.5}) {
		t.Errorf("A ns/op = %v", got)
	}
	b := s.Lookup("BenchmarkB/lib=x")
	if !reflect.DeepEqual(b.Units, []string{"ns/op", "B/op", "allocs/op", "roundtrips/op"}) {
		t.Errorf("B units = %v", b.Units)
	}
	if got := b.Values["roundtrips/op"]; !reflect.DeepEqual(got, []float64{2}) {
		t.Errorf("B roundtrips/op = %v", got)
	}
}

func TestParseRejectsBadNumber(t *testing.T) {
	_, err := Parse(strings.NewReader("BenchmarkA-2 100 1x2 ns/op\n"))
	if err == nil {
		t.Fatal("Parse accepted 1x2 as a number")
	}
}

func TestTrimProcs(t *testing.T) {
	for in, want := range map[string]string{
		"BenchmarkSizes/size=100B/kind=Write/lib=typed-msgpack-2": "BenchmarkSizes/size=100B/kind=Write/lib=typed-msgpack",
		"BenchmarkA-16": "BenchmarkA",
		"BenchmarkA":    "BenchmarkA",
	} {
		if got := TrimProcs(in); got != want {
			t.Errorf("TrimProcs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseInstructions(t *testing.T) {
	got, err := ParseInstructions(strings.NewReader("BenchmarkX/lib=scs\t100\nBenchmarkX/lib=a\t250\n\nBenchmarkX/lib=a\t2.50 x scs\n"))
	if err != nil {
		t.Fatal(err)
	}
	twice, err := ParseInstructions(strings.NewReader("BenchmarkX/lib=a\t250\nBenchmarkX/lib=a\t2.50 x scs\nBenchmarkX/lib=a\t-7\n"))
	if err != nil {
		t.Fatal(err)
	}
	if w := []float64{250, -7}; !reflect.DeepEqual(twice["BenchmarkX/lib=a"], w) {
		t.Errorf("two runs: got %v, want %v", twice, w)
	}
	want := map[string][]float64{"BenchmarkX/lib=scs": {100}, "BenchmarkX/lib=a": {250}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"BenchmarkX 100\n", "BenchmarkX\tmany\n"} {
		if _, err := ParseInstructions(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseInstructions(%q) accepted it", bad)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{10, 10, 1, 1000, 10, 2}, 10},
	} {
		in := append([]float64(nil), c.in...)
		if got := Median(in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
		if !reflect.DeepEqual(in, c.in) {
			t.Errorf("Median reordered its input: %v", in)
		}
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("Median(nil) = %v, want NaN", got)
	}
}

func TestSpread(t *testing.T) {
	// Median 100; the farthest run is 150, 50% away.
	if got := Spread([]float64{90, 100, 150, 100, 95}); got != 0.5 {
		t.Errorf("Spread = %v, want 0.5", got)
	}
	// Median 100; the farthest run is 20, below it, 80% away.
	if got := Spread([]float64{110, 100, 20, 105, 100}); got != 0.8 {
		t.Errorf("Spread = %v, want 0.8", got)
	}
	if got := Spread([]float64{7, 7, 7}); got != 0 {
		t.Errorf("Spread of equal runs = %v, want 0", got)
	}
}

func TestClassify(t *testing.T) {
	for name, want := range map[string][4]string{
		"BenchmarkBaseline":                              {"baseline", "", "", "none"},
		"BenchmarkTypedSession/json/Write":               {"memory", "Write", "", "typed-json"},
		"BenchmarkSCS/Unused":                            {"memory", "Unused", "", "scs"},
		"BenchmarkGorilla/ReadOnly":                      {"memory", "ReadOnly", "", "gorilla"},
		"BenchmarkRedisTypedSession/ReadOnly":            {"redis", "ReadOnly", "", "typed-msgpack"},
		"BenchmarkPostgresSCS/Write":                     {"postgres", "Write", "", "scs"},
		"BenchmarkSizes/size=10KB/kind=Write/lib=scs":    {"sizes", "Write", "10KB", "scs"},
		"BenchmarkCookie/kind=ReadOnly/lib=typed-cookie": {"Cookie", "ReadOnly", "", "typed-cookie"},
		"BenchmarkOther/a/b":                             {"Other", "", "", "a/b"},
		"BenchmarkFloor/5-decode":                        {"floor", "", "", "5-decode"},
	} {
		s, k, z, l := classify(name)
		if got := [4]string{s, k, z, l}; got != want {
			t.Errorf("classify(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestGolden generates the report of a small fixture and compares it with
// the reviewed output in testdata/golden (go test -update rewrites it).
func TestGolden(t *testing.T) {
	in, err := Load(filepath.Join("testdata", "fixture"))
	if err != nil {
		t.Fatal(err)
	}
	out := Generate(in, "charts")
	files := map[string][]byte{"BENCHMARKS.md": out.Markdown}
	for name, svg := range out.Charts {
		files[filepath.Join("charts", name)] = svg
	}
	dir := filepath.Join("testdata", "golden")
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		for name, data := range files {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var want []string
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			want = append(want, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != len(files) {
		t.Errorf("generated %d files, golden has %d (%v)", len(files), len(want), want)
	}
	for _, name := range want {
		golden, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := files[name]; !ok {
			t.Errorf("%s: not generated", name)
		} else if !bytes.Equal(got, golden) {
			t.Errorf("%s differs from the golden file; run go test -update and review the diff.\ngot:\n%s", name, got)
		}
	}
}

func TestRatio(t *testing.T) {
	for _, c := range []struct {
		a, b float64
		want string
	}{
		{130, 100, "1.30×"},
		{8, 100, "0.080×"},
		{12, 10000, "0.0012×"},
		{0, 100, ""},
		{100, math.NaN(), ""},
	} {
		if got := ratio(c.a, c.b); got != c.want {
			t.Errorf("ratio(%v, %v) = %q, want %q", c.a, c.b, got, c.want)
		}
	}
}

func TestParseIterations(t *testing.T) {
	s, err := Parse(strings.NewReader("BenchmarkA-2 100 1 ns/op\nBenchmarkA-2 250 2 ns/op\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Lookup("BenchmarkA").N; !reflect.DeepEqual(got, []int64{100, 250}) {
		t.Errorf("N = %v, want [100 250]", got)
	}
}

// TestCountsTable: rows by kind in first-seen order with scs first, the
// median of each column, its range for iterations that differ between
// runs, "0×" for nothing against scs's something, no ratio without an scs
// row, and no "Measured" line without date, commit or command.
func TestCountsTable(t *testing.T) {
	set, err := Parse(strings.NewReader(`BenchmarkX/kind=B/lib=typed-msgpack-2 10 1 ns/op 0 m/op
BenchmarkX/kind=B/lib=scs-2 10 1 ns/op 4 m/op
BenchmarkX/kind=A/lib=scs-2 10 1 ns/op 2 m/op
BenchmarkX/kind=A/lib=typed-msgpack-2 10 1 ns/op 1 m/op
BenchmarkX/kind=A/lib=typed-msgpack-2 20 1 ns/op 3 m/op
BenchmarkX/kind=C/lib=typed-msgpack-2 10 1 ns/op 5 m/op
`))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	writeCounts(&b, set, "Title", "About.", []column{
		{head: "n", value: iterations, iters: true},
		{head: "m/op", value: unit("m/op"), spread: true, ratio: true},
		{head: "missing", value: unit("missing/op")},
	})
	want := `## Title

About.

| kind | library | n | m/op | ± | × scs | missing |
|---|---|---:|---:|---:|---:|---:|
| B | scs | 10 | 4 | 0.0% | 1.00× |  |
| B | typed-msgpack | 10 | 0 |  | 0× |  |
| A | scs | 10 | 2 | 0.0% | 1.00× |  |
| A | typed-msgpack | 10 to 20 | 2 | 50% | 1.00× |  |
| C | typed-msgpack | 10 | 5 | 0.0% |  |  |

`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestLoadOptional: the counts files are optional, but one that is there
// must hold results.
func TestLoadOptional(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(BenchFile, "BenchmarkA-2 100 1 ns/op\n")
	write(CommandsFile, "true\n")
	in, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if in.Memory != nil || in.ServerCPU != nil {
		t.Errorf("Memory %v, ServerCPU %v without their files", in.Memory, in.ServerCPU)
	}
	if md := string(Generate(in, "charts").Markdown); strings.Contains(md, "Memory per stored session") || strings.Contains(md, "at the end") {
		t.Errorf("the report mentions counts it has none of:\n%s", md)
	}
	write(MemoryFile, "PASS\n")
	if _, err := Load(dir); err == nil {
		t.Errorf("Load accepted a %s without results", MemoryFile)
	}
	if err := os.Remove(filepath.Join(dir, MemoryFile)); err != nil {
		t.Fatal(err)
	}
	write(ServerCPUFile, "BenchmarkA-2 100 1x ns/op\n")
	if _, err := Load(dir); err == nil {
		t.Errorf("Load accepted a malformed %s", ServerCPUFile)
	}
	write(ServerCPUFile, "date: today\nBenchmarkA/lib=scs-2 100 1 ns/op 3 redis-usec/op\n")
	in, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if in.Memory != nil || in.ServerCPU == nil || in.ServerCPU.Lookup("BenchmarkA/lib=scs") == nil {
		t.Errorf("Memory %v, ServerCPU %v; want only ServerCPU", in.Memory, in.ServerCPU)
	}
	if md := string(Generate(in, "charts").Markdown); !strings.Contains(md, "## Redis server CPU per request") || strings.Contains(md, "## Memory") {
		t.Errorf("want a Redis server CPU section alone:\n%s", md)
	}
}

// TestCharts checks each chart of the fixture's report: a well-formed SVG
// document, with the chart's title and the name of each of its series as
// text, with no font embedded (the viewer's fonts draw the text), and the
// same bytes when generated again.
func TestCharts(t *testing.T) {
	in, err := Load(filepath.Join("testdata", "fixture"))
	if err != nil {
		t.Fatal(err)
	}
	out := Generate(in, "charts")
	again := Generate(in, "charts")
	if !bytes.Equal(out.Markdown, again.Markdown) {
		t.Error("two generations of the markdown differ")
	}
	cs := charts(in, Groups(in.Bench, in.Instr))
	if len(cs) != len(out.Charts) {
		t.Errorf("%d charts, %d files", len(cs), len(out.Charts))
	}
	kinds := map[string]bool{}
	for _, c := range cs {
		svg := out.Charts[c.name]
		if !bytes.Equal(svg, again.Charts[c.name]) {
			t.Errorf("%s: two generations differ", c.name)
		}
		if !bytes.Equal(svg, c.c.SVG()) {
			t.Errorf("%s: drawing the chart again gives other bytes", c.name)
		}
		texts, root, err := svgTexts(svg)
		if err != nil {
			t.Errorf("%s: not well-formed XML: %v", c.name, err)
			continue
		}
		if root != "svg" {
			t.Errorf("%s: root element %q, want svg", c.name, root)
		}
		if bytes.Contains(svg, []byte("@font-face")) {
			t.Errorf("%s embeds a font", c.name)
		}
		if !bytes.Contains(svg, []byte("font-family:"+sansFallbackFamily+";")) {
			t.Errorf("%s: no font-family with fallbacks", c.name)
		}
		var title string
		var series []string
		switch c := c.c.(type) {
		case BarChart:
			title, series = c.Title, c.Series
			kinds["bar"] = true
		case LineChart:
			title, series = c.Title, c.Series
			kinds["line"] = true
		}
		for _, want := range append([]string{title}, series...) {
			if !texts[want] {
				t.Errorf("%s: no text %q", c.name, want)
			}
		}
		if len(series) == 0 {
			t.Errorf("%s: no series", c.name)
		}
		if !strings.Contains(string(out.Markdown), "]("+path.Join("charts", c.name)+")") {
			t.Errorf("%s: the markdown does not link it", c.name)
		}
	}
	if !kinds["bar"] || !kinds["line"] {
		t.Errorf("the fixture draws charts of kinds %v, want bar and line", kinds)
	}
	for _, name := range []string{"memory.svg", "sizes-write.svg", "redis.svg", "redis-roundtrips.svg", "redis-cpu.svg", "stored-sessions.svg"} {
		if _, ok := out.Charts[name]; !ok {
			t.Errorf("no chart %s", name)
		}
	}
}

// svgTexts parses an SVG document and returns the content of its text
// elements and the name of its root element.
func svgTexts(doc []byte) (map[string]bool, string, error) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	texts := map[string]bool{}
	root := ""
	inText := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return texts, root, nil
		} else if err != nil {
			return nil, "", err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			inText = tok.Name.Local == "text"
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				texts[string(tok)] = true
			}
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]float64{"100B": 100, "1KB": 1024, "10KB": 10240, "2MB": 2 << 20, "7": 7} {
		if got, ok := parseSize(in); !ok || got != want {
			t.Errorf("parseSize(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "KB", "large", "-1B"} {
		if _, ok := parseSize(in); ok {
			t.Errorf("parseSize(%q) accepted it", in)
		}
	}
}

// TestTicks: the log axis labels 1, 2 and 5 times the powers of ten in
// its range (of log10 values), the linear one about five round values.
func TestTicks(t *testing.T) {
	var labels []string
	for _, tk := range logTicks(math.Log10(150), math.Log10(12000)) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if want := []string{"200", "500", "1k", "2k", "5k", "10k"}; !reflect.DeepEqual(labels, want) {
		t.Errorf("log ticks %v, want %v", labels, want)
	}
	labels = nil
	for _, tk := range linearTicks(0, 47000) {
		labels = append(labels, tk.Label)
	}
	if want := []string{"0", "10k", "20k", "30k", "40k"}; !reflect.DeepEqual(labels, want) {
		t.Errorf("linear ticks %v, want %v", labels, want)
	}
	labels = nil
	for _, tk := range linearTicks(0, 2.2) {
		labels = append(labels, tk.Label)
	}
	if want := []string{"0.0", "0.5", "1.0", "1.5", "2.0"}; !reflect.DeepEqual(labels, want) {
		t.Errorf("linear ticks %v, want %v", labels, want)
	}
}
