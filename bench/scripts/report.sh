#!/usr/bin/env bash
# report.sh measures the bench module's comparisons and writes BENCHMARKS.md
# (at the repository's root) and its charts (bench/charts/*.svg) from them.
#
#   bench/scripts/report.sh [-count N] [-instr-n N] [-instr-runs R]
#   bench/scripts/report.sh -counts-only
#   bench/scripts/report.sh -from-results
#
# It runs interleave.sh for the comparison benchmarks (Baseline,
# TypedSession, SCS, Gorilla, Floor, Sizes; the Redis and PostgreSQL ones too when
# their servers answer) COUNT times (default 6), and instructions.sh (with
# N, default 201) R times (default 3) for every BenchmarkSizes
# sub-benchmark (and with 10N for the pairs of the overhead summary): with
# fewer operations per run, garbage collection and
# setup make small benchmarks' counts vary (at N=41, three runs of the
# 100 B read-only typed-msgpack count gave 13.8k, 17.5k and 19.3k). It saves the raw
# outputs in bench/results/ (bench.txt, instructions.tsv, benchstat.txt and
# commands.txt, the commands that made them) and then runs cmd/report on
# them. Commit bench/results/ with BENCHMARKS.md, so that the report can be
# regenerated from its data: -from-results does only that step, and
# TestBenchmarksUpToDate fails when BENCHMARKS.md or a chart differs from
# what it makes.
#
# Before it runs cmd/report, it measures two counts rather than times,
# each with one go test command that it saves, with the date and commit,
# at the head of the results file: heap bytes per stored session (BenchmarkStoredSessions,
# 100,000 logins, in memory.txt; three runs, as the figure repeats to a
# byte), and the Redis server's CPU time and commands per request
# (BenchmarkRedisServerCPU on a private redis-server, in rediscpu.txt; six
# interleaved runs, as the server times commands by its clock). -counts-only measures
# these alone, in about a minute, keeping the other results, and
# regenerates the report.
#
# A full run took 14 minutes on the shared 2-core machine; callgrind's share
# shrinks with a smaller -instr-n (at least 2) or -instr-runs.
set -euo pipefail
count=6
instr_n=201
instr_runs=3
from_results=false
counts_only=false
while [ $# -gt 0 ]; do
	case $1 in
	-count) count=${2:?-count needs a number}; shift 2 ;;
	-instr-n) instr_n=${2:?-instr-n needs a number}; shift 2 ;;
	-instr-runs) instr_runs=${2:?-instr-runs needs a number}; shift 2 ;;
	-from-results) from_results=true; shift ;;
	-counts-only) counts_only=true; shift ;;
	*) sed -n '2,34p' "$0" >&2; exit 2 ;;
	esac
done
[[ $count =~ ^[1-9][0-9]*$ ]] || { echo "-count $count: not a positive number" >&2; exit 2; }
[[ $instr_n =~ ^[0-9]+$ ]] && [ "$instr_n" -ge 2 ] || { echo "-instr-n $instr_n: need a number >= 2" >&2; exit 2; }
[[ $instr_runs =~ ^[1-9][0-9]*$ ]] || { echo "-instr-runs $instr_runs: not a positive number" >&2; exit 2; }
cd "$(dirname "$0")/.."

generate() {
	rm -f charts/*.svg # charts the report no longer draws go too
	go run ./cmd/report -results results -out ../BENCHMARKS.md -charts charts
	echo "wrote ../BENCHMARKS.md and charts/ from results/" >&2
}
if $from_results; then
	generate
	exit 0
fi

commit=$(git rev-parse --short HEAD)
if [ -n "$(git status --porcelain -- . ':!results' ':!charts' ':!../BENCHMARKS.md')" ]; then
	commit+=" (with uncommitted changes)"
fi

# measure_count FILE COMMAND runs the go test COMMAND (from bench/) and
# saves its output in results/FILE after the machine, date, commit and
# command lines.
measure_count() {
	local file=$1 cmd=$2 out
	out=$(mktemp)
	{
		echo "go: $(go version | sed 's/^go version //')"
		echo "cores: $(nproc)"
		echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
		echo "commit: $commit"
		echo "command: $cmd"
	} >"$out"
	echo "$file: $cmd" >&2
	# In a shell of its own, so that errexit stops a loop at a failed run.
	bash -euo pipefail -c "$cmd" >>"$out" || { cat "$out" >&2; rm -f "$out"; exit 1; }
	mkdir -p results
	mv "$out" "results/$file"
}

counts() {
	measure_count memory.txt "go test -run '^\$' -bench '^BenchmarkStoredSessions\$' -benchtime 100000x -count 3 ."
	if command -v redis-server >/dev/null; then
		# Six passes, not -count 6, which runs each sub-benchmark six times
		# in a row: in passes the libraries share the machine's noise.
		measure_count rediscpu.txt "for i in 1 2 3 4 5 6; do go test -run '^\$' -bench '^BenchmarkRedisServerCPU\$' -benchtime 5000x .; done"
	else
		echo "no redis-server on PATH: the Redis server CPU measurement is left out" >&2
		rm -f results/rediscpu.txt
	fi
}
if $counts_only; then
	counts
	generate
	exit 0
fi

benches='Baseline|TypedSession|SCS|Gorilla|Floor|Sizes'
redis_url=${SESSION_REDIS_URL:-redis://127.0.0.1:6379/15}
if command -v redis-cli >/dev/null && [ "$(redis-cli -u "$redis_url" ping 2>/dev/null)" = PONG ]; then
	benches+='|RedisTypedSession|RedisSCS'
else
	echo "no Redis answers at $redis_url: the Redis benchmarks are left out" >&2
fi
pg_url=${SESSION_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
if command -v psql >/dev/null && psql -w -X -q -At "$pg_url" -c 'SELECT 1' >/dev/null 2>&1; then
	benches+='|PostgresTypedSession|PostgresSCS'
else
	echo "no PostgreSQL answers at $pg_url: the PostgreSQL benchmarks are left out" >&2
fi
pattern="^Benchmark($benches)\$"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
	echo "go: $(go version | sed 's/^go version //')"
	echo "cores: $(nproc)"
	echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "commit: $commit"
	echo "loadavg-before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$tmp/head.txt"

scripts/interleave.sh "$pattern" "$count" "$tmp/raw.txt" >"$tmp/benchstat.txt"
echo "loadavg-after-timed-runs: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$tmp/head.txt"
cat "$tmp/head.txt" "$tmp/raw.txt" >"$tmp/bench.txt"

# Every BenchmarkSizes sub-benchmark, as the test binary names them.
go test -c -o "$tmp/bench.test" .
mapfile -t sizes < <("$tmp/bench.test" -test.run '^$' -test.bench '^BenchmarkSizes$' -test.benchtime 1x |
	awk '/^BenchmarkSizes\// { sub(/-[0-9]+$/, "", $1); print $1 }')
[ ${#sizes[@]} -gt 0 ] || { echo "no BenchmarkSizes sub-benchmarks found" >&2; exit 1; }
# And what the overhead summary sets side by side: the floor's last step
# and the library's read-only request, the bare handler and the unused
# session of each codec. These cost a few thousand instructions, so one
# garbage collection more or less in a run would swing their counts: they
# run ten times as many operations.
overhead=(BenchmarkFloor/5-decode BenchmarkFloor/library BenchmarkBaseline
	BenchmarkTypedSession/msgpack/Unused BenchmarkTypedSession/json/Unused BenchmarkTypedSession/goccyjson/Unused)
overhead_n=$((instr_n * 10))
: >"$tmp/instructions.tsv"
for i in $(seq "$instr_runs"); do
	echo "instructions: run $i of $instr_runs" >&2
	scripts/instructions.sh "$instr_n" "${sizes[@]}" >>"$tmp/instructions.tsv"
	scripts/instructions.sh "$overhead_n" "${overhead[@]}" >>"$tmp/instructions.tsv"
done

{
	echo "# bench/scripts/report.sh -count $count -instr-n $instr_n -instr-runs $instr_runs ran, from bench/:"
	echo "scripts/interleave.sh '$pattern' $count raw.txt  # bench.txt is raw.txt after go, cores, date, commit and loadavg lines; benchstat.txt is its summary"
	printf 'scripts/instructions.sh %s' "$instr_n"
	printf " \\\\\n  '%s'" "${sizes[@]}"
	printf ' >>instructions.tsv\n'
	printf 'scripts/instructions.sh %s' "$overhead_n"
	printf " \\\\\n  '%s'" "${overhead[@]}"
	printf ' >>instructions.tsv  # these two commands %s times\n' "$instr_runs"
} >"$tmp/commands.txt"

mkdir -p results
cp "$tmp/bench.txt" "$tmp/instructions.tsv" "$tmp/benchstat.txt" "$tmp/commands.txt" results/
counts
generate
