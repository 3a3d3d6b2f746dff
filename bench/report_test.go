package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/typedsession/session/bench/internal/report"
)

// TestBenchmarksUpToDate checks that BENCHMARKS.md and the charts are
// exactly what cmd/report makes from the committed results, so that a
// figure edited by hand, or results saved without regenerating, fail.
func TestBenchmarksUpToDate(t *testing.T) {
	in, err := report.Load("results")
	if err != nil {
		t.Fatalf("loading bench/results: %v (bench/scripts/report.sh saves them)", err)
	}
	out := report.Generate(in, "bench/charts")
	const fix = "; run bench/scripts/report.sh -from-results (never edit BENCHMARKS.md or the charts by hand)"
	md, err := os.ReadFile(filepath.Join("..", "BENCHMARKS.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(md, out.Markdown) {
		t.Errorf("BENCHMARKS.md differs from what bench/results make%s", fix)
	}
	for name, svg := range out.Charts {
		got, err := os.ReadFile(filepath.Join("charts", name))
		if err != nil {
			t.Errorf("chart %s: %v%s", name, err, fix)
		} else if !bytes.Equal(got, svg) {
			t.Errorf("chart charts/%s differs from what bench/results make%s", name, fix)
		}
	}
	if again := report.Generate(in, "bench/charts"); !bytes.Equal(again.Markdown, out.Markdown) {
		t.Error("two generations of BENCHMARKS.md differ: the report is not deterministic")
	} else {
		for name, svg := range out.Charts {
			if !bytes.Equal(again.Charts[name], svg) {
				t.Errorf("two generations of chart %s differ: the report is not deterministic", name)
			}
		}
	}
	files, err := filepath.Glob(filepath.Join("charts", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := out.Charts[filepath.Base(f)]; !ok {
			t.Errorf("%s is not a chart of the report: remove it", f)
		}
	}
}

// TestReadmeLinksCharts checks that the README's Performance section
// shows every chart of the report, each with alt text.
func TestReadmeLinksCharts(t *testing.T) {
	in, err := report.Load("results")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, perf, ok := strings.Cut(string(readme), "\n## Performance\n")
	if !ok {
		t.Fatal("README.md has no Performance section")
	}
	if i := strings.Index(perf, "\n## "); i >= 0 {
		perf = perf[:i]
	}
	names := make([]string, 0)
	for name := range report.Generate(in, "bench/charts").Charts {
		names = append(names, name)
	}
	sort.Strings(names)
	image := regexp.MustCompile(`!\[([^\]]*)\]\(bench/charts/([^)]+)\)`)
	alt := map[string]string{}
	for _, m := range image.FindAllStringSubmatch(perf, -1) {
		alt[m[2]] = m[1]
	}
	for _, name := range names {
		if a, ok := alt[name]; !ok {
			t.Errorf("README.md's Performance section does not show bench/charts/%s", name)
		} else if strings.TrimSpace(a) == "" {
			t.Errorf("README.md shows bench/charts/%s without alt text", name)
		}
	}
	for name := range alt {
		if _, err := os.Stat(filepath.Join("charts", name)); err != nil {
			t.Errorf("README.md shows bench/charts/%s, which is no chart: %v", name, err)
		}
	}
}
