#!/usr/bin/env bash
# abtest.sh compares this checkout's bench module with an older revision's,
# interleaving the two builds run by run so that the machine's noise hits
# both alike, and summarises with benchstat.
#
#   bench/scripts/abtest.sh OLD_REV [BENCH_REGEXP] [COUNT]
#
# OLD_REV is any git revision (for example 3570fdb); BENCH_REGEXP defaults
# to 'TypedSession' and COUNT (runs of each build) to 6. The results go to
# /tmp/abtest/{old,new}.txt.
set -euo pipefail
old_rev=${1:?usage: abtest.sh OLD_REV [BENCH_REGEXP] [COUNT]}
pattern=${2:-TypedSession}
count=${3:-6}
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
out=/tmp/abtest
tree=$out/tree
BENCHSTAT=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

mkdir -p "$out"
git -C "$root" worktree remove --force "$tree" 2>/dev/null || true
git -C "$root" worktree add --detach "$tree" "$old_rev" >/dev/null
trap 'git -C "$root" worktree remove --force "$tree"' EXIT

# Build both test binaries once, so that every run measures the same code.
(cd "$tree/bench" && go test -c -o "$out/old.test" .)
(cd "$root/bench" && go test -c -o "$out/new.test" .)
: >"$out/old.txt"
: >"$out/new.txt"
for i in $(seq "$count"); do
	echo "run $i of $count" >&2
	(cd "$tree/bench" && "$out/old.test" -test.run '^$' -test.bench "$pattern" -test.benchmem) >>"$out/old.txt"
	(cd "$root/bench" && "$out/new.test" -test.run '^$' -test.bench "$pattern" -test.benchmem) >>"$out/new.txt"
done
go run "$BENCHSTAT" "$out/old.txt" "$out/new.txt"
