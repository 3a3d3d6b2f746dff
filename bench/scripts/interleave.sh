#!/usr/bin/env bash
# interleave.sh runs the bench module's benchmarks COUNT times, one full
# pass after another (so the libraries compared in one benchmark alternate
# through the machine's noise), and summarises with benchstat.
#
#   bench/scripts/interleave.sh [BENCH_REGEXP] [COUNT] [OUT]
#
# BENCH_REGEXP defaults to 'Sizes', COUNT to 6, OUT to /tmp/interleave.txt.
set -euo pipefail
pattern=${1:-Sizes}
count=${2:-6}
out=${3:-/tmp/interleave.txt}
BENCHSTAT=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
cd "$(dirname "$0")/.."
go test -c -o /tmp/interleave.test .
: >"$out"
for i in $(seq "$count"); do
	echo "run $i of $count" >&2
	/tmp/interleave.test -test.run '^$' -test.bench "$pattern" -test.benchmem >>"$out"
done
go run "$BENCHSTAT" -col /lib "$out" 2>/dev/null || go run "$BENCHSTAT" "$out"
