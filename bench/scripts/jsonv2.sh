#!/usr/bin/env bash
# jsonv2.sh measures the JSON implementations the json codec could use on
# the session type at every size of BenchmarkSizes (BenchmarkJSONEncoders,
# jsonenc_test.go), and compares their output with encoding/json's, for
# the issue "measure a faster JSON encoder". It saves everything in
# bench/results/jsonv2.txt, which BENCHMARKS.md's section "JSON
# implementations" is rendered from; regenerate that with
# report.sh -from-results.
#
#   bench/scripts/jsonv2.sh [-count N] [-instr-n N]
#
# encoding/json/v2 exists only with GOEXPERIMENT=jsonv2, which also
# reimplements encoding/json on top of v2, so it builds two test binaries:
# the default build (lib=v1, encoding/json as released; lib=goccy,
# goccy/go-json) and the GOEXPERIMENT=jsonv2 build (lib=v1-on-v2,
# encoding/json on v2; lib=v2, v2's defaults; lib=v2-compat, v2 with the
# options that make it write what v1 writes). It runs the two binaries
# one after the other COUNT times (default 6), so that both builds share
# the machine's noise, and summarises with benchstat. Then it runs the
# output tests of both builds with -v (their "differs:" lines list every
# case where an implementation writes or reads otherwise than
# encoding/json), and, where valgrind is installed and -instr-n is not 0,
# counts instructions per operation once with instructions.sh (N default
# 201: with fewer operations, garbage collection and setup make the 100 B
# counts vary). A run took about 15 minutes on the shared 2-core machine.
set -euo pipefail
count=6
instr_n=201
while [ $# -gt 0 ]; do
	case $1 in
	-count) count=${2:?-count needs a number}; shift 2 ;;
	-instr-n) instr_n=${2:?-instr-n needs a number}; shift 2 ;;
	*) sed -n '2,24p' "$0" >&2; exit 2 ;;
	esac
done
[[ $count =~ ^[1-9][0-9]*$ ]] || { echo "-count $count: not a positive number" >&2; exit 2; }
[[ $instr_n =~ ^[0-9]+$ ]] && [ "$instr_n" -ne 1 ] || { echo "-instr-n $instr_n: need 0 (no counts) or a number >= 2" >&2; exit 2; }
BENCHSTAT=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
cd "$(dirname "$0")/.."

commit=$(git rev-parse --short HEAD)
if [ -n "$(git status --porcelain -- . ':!results' ':!charts' ':!../BENCHMARKS.md')" ]; then
	commit+=" (with uncommitted changes)"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/v1.test" .
GOEXPERIMENT=jsonv2 go test -c -o "$tmp/v2.test" .
bench=(-test.run '^$' -test.bench '^BenchmarkJSONEncoders$' -test.benchmem)

out=$tmp/jsonv2.txt
{
	echo "# bench/scripts/jsonv2.sh -count $count -instr-n $instr_n, from bench/:"
	echo "command: go test -c -o v1.test . && GOEXPERIMENT=jsonv2 go test -c -o v2.test ."
	echo "command: for i in \$(seq $count); do ./v1.test ${bench[*]@Q}; ./v2.test ${bench[*]@Q}; done"
	echo "command: go test -count=1 -run '^TestJSON' -v . && GOEXPERIMENT=jsonv2 go test -count=1 -run '^TestJSON' -v .  # the differs: lines"
	echo "go: $(go version | sed 's/^go version //')"
	echo "cores: $(nproc)"
	echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "commit: $commit"
	echo "loadavg-before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out"
for i in $(seq "$count"); do
	echo "run $i of $count" >&2
	"$tmp/v1.test" "${bench[@]}" >>"$tmp/raw.txt"
	"$tmp/v2.test" "${bench[@]}" >>"$tmp/raw.txt"
done
echo "loadavg-after-timed-runs: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out"
cat "$tmp/raw.txt" >>"$out"

# The output comparison: the t.Logf lines of the tests, without go test's
# file:line prefix.
{
	echo
	echo "# Output: where each implementation differs from encoding/json as released (testdata/jsonv1.txt)."
	go test -count=1 -run '^TestJSON' -v .
	GOEXPERIMENT=jsonv2 go test -count=1 -run '^TestJSON' -v .
} | sed -n 's/^ *jsonenc_v[12]_test\.go:[0-9]*: //p' >>"$out"

if [ "$instr_n" -ge 2 ] && command -v valgrind >/dev/null; then
	echo "instructions per operation, one callgrind run of $instr_n and of 1 operations each" >&2
	names() { "$1" -test.run '^$' -test.bench '^BenchmarkJSONEncoders$' -test.benchtime 1x |
		awk '/^BenchmarkJSONEncoders\// { sub(/-[0-9]+$/, "", $1); print $1 }'; }
	mapfile -t v1names < <(names "$tmp/v1.test")
	mapfile -t v2names < <(names "$tmp/v2.test")
	{
		echo
		echo "# Instructions per operation: scripts/instructions.sh $instr_n NAME... (GOEXPERIMENT=jsonv2 for the v2 build's names)"
		scripts/instructions.sh "$instr_n" "${v1names[@]}"
		GOEXPERIMENT=jsonv2 scripts/instructions.sh "$instr_n" "${v2names[@]}"
	} | sed 's/^Benchmark/instructions: Benchmark/' >>"$out"
fi

{
	echo
	echo "# benchstat -col /lib of the timed runs:"
	go run "$BENCHSTAT" -col /lib "$tmp/raw.txt" | sed 's/^Benchmark/benchstat: Benchmark/'
} >>"$out"
mkdir -p results
cp "$out" results/jsonv2.txt
cat results/jsonv2.txt
