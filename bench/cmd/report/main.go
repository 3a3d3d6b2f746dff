// Command report writes BENCHMARKS.md and its SVG charts from the bench
// module's saved results. bench/scripts/report.sh runs it; to regenerate
// from the committed results alone, run from bench/:
//
//	go run ./cmd/report -results results -out ../BENCHMARKS.md -charts charts
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/typedsession/session/bench/internal/report"
)

func main() {
	results := flag.String("results", "results", "directory of the saved results (bench.txt, instructions.tsv, commands.txt)")
	out := flag.String("out", "../BENCHMARKS.md", "markdown file to write")
	charts := flag.String("charts", "charts", "directory to write the SVG charts to")
	link := flag.String("chartlink", "bench/charts", "the charts' directory as the markdown links it")
	flag.Parse()
	if err := run(*results, *out, *charts, *link); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(results, out, charts, link string) error {
	in, err := report.Load(results)
	if err != nil {
		return err
	}
	o := report.Generate(in, link)
	if err := os.MkdirAll(charts, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(o.Charts))
	for name := range o.Charts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(charts, name), o.Charts[name], 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(out, o.Markdown, 0o644)
}
