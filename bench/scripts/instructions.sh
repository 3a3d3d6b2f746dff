#!/usr/bin/env bash
# instructions.sh counts the CPU instructions one operation of a benchmark
# costs, with valgrind's callgrind. Instruction counts repeat to within a
# fraction of a percent where times on a loaded 2-core machine swing by
# 100% or more; they ignore cache misses and lock waits, so read them beside
# the timed runs of interleave.sh, not instead of them.
#
#   bench/scripts/instructions.sh [N] BENCHMARK...
#
# Each BENCHMARK is a full benchmark name as `go test -bench` prints it,
# without the -GOMAXPROCS suffix, e.g.
# 'BenchmarkSizes/size=100KB/kind=Write/lib=scs'. Each runs twice under
# callgrind (one P, no asynchronous preemption, whose signals callgrind
# mishandles), with -test.benchtime 1x and Nx (default 41); the difference
# divided by N-1 is the cost of one operation, setup excluded. Output: one
# line per benchmark, "name<TAB>instructions/op", and for every name ending
# in /lib=X, the ratio to the /lib=scs line of the same prefix.
set -euo pipefail
n=41
if [[ ${1:-} =~ ^[0-9]+$ ]]; then n=$1; shift; fi
[ $# -gt 0 ] || { sed -n '2,16p' "$0"; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; }
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/bench.test
go test -c -o "$bin" .
tmp=$(mktemp -d)
count() { # name times -> total instructions
	local pattern
	pattern="^$(sed -e 's/[][().*+?^$|]/\\&/g' -e 's|/|$/^|g' <<<"$1")\$"
	# Valgrind cannot run the rdtscp instruction, which the runtime's lock
	# reaches only when a lock is contended: such a run dies of SIGILL
	# and is simply run again.
	local attempt
	for attempt in 1 2 3 4; do
		GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$bin" \
			-test.run '^$' -test.bench "$pattern" -test.benchtime "${2}x" >/dev/null 2>"$tmp/err" && break
		if [ "$attempt" -eq 4 ] || ! grep -q 'SIGILL' "$tmp/err"; then
			cat "$tmp/err" >&2
			exit 1
		fi
		echo "instructions.sh: $1 died of SIGILL under valgrind; running it again" >&2
	done
	grep -m1 '^summary:' "$tmp/out" | awk '{print $2}'
}
declare -A per
for name in "$@"; do
	one=$(count "$name" 1)
	many=$(count "$name" "$n")
	per[$name]=$(( (many - one) / (n - 1) ))
	printf '%s\t%d\n' "$name" "${per[$name]}"
done
for name in "$@"; do
	base=${name%/lib=*}/lib=scs
	if [[ $name == */lib=* && $name != "$base" && -n ${per[$base]:-} ]]; then
		awk -v n="$name" -v a="${per[$name]}" -v b="${per[$base]}" 'BEGIN { printf "%s\t%.2f x scs\n", n, a / b }'
	fi
done
