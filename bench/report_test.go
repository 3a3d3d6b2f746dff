package bench

import (
	"bytes"
	"os"
	"path/filepath"
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
