// Package bench compares the per-request cost of
// github.com/typedsession/session with alexedwards/scs and
// gorilla/sessions, measured in one run on one machine. It is a separate
// module so that the main module never depends on the libraries it is
// compared with. Run it with:
//
//	cd bench && go test -run '^$' -bench . -benchmem
//
// The published figures in BENCHMARKS.md come from bench/scripts/report.sh,
// which runs the comparisons six times interleaved, counts instructions per
// request with callgrind, saves the raw output in bench/results and writes
// BENCHMARKS.md and bench/charts with cmd/report. It also measures two
// counts with commands of their own: the heap bytes each stored session
// holds (BenchmarkStoredSessions) and the Redis server's CPU time per
// request (BenchmarkRedisServerCPU); report.sh -counts-only measures these
// alone. TestBenchmarksUpToDate fails when BENCHMARKS.md or a chart is not
// what cmd/report makes from bench/results.
//
// bench/scripts/jsonv2.sh measures, on its own, the JSON implementations
// the json codec could use (BenchmarkJSONEncoders, with and without
// GOEXPERIMENT=jsonv2) and compares their output with encoding/json's; it
// saves bench/results/jsonv2.txt, which BENCHMARKS.md renders a section
// from, and report.sh keeps that file as it is.
package bench
