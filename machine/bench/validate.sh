#!/bin/sh
# Validation growth, measured two ways that a loaded machine cannot bend:
#  1. instructions executed (valgrind's callgrind) by the test binary for
#     BenchmarkLoadValidate at 1,000 and 10,000 machines: the ratio is the
#     growth of parse+decode+validate (linear work gives about 10);
#  2. the Go benchmarks at 1k/2k/4k/10k, -count 6, summarized by benchstat
#     when it is installed (ns/machine flat = linear).
# Usage: [SIZES='1000 2000'] machine/bench/validate.sh [COUNT]   (from the repository root;
# callgrind runs about 50x slower than native: 10,000 machines take minutes)
set -eu
count=${1:-6}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
go test -c -o "$tmp/resolve.test" ./machine/resolve

if command -v valgrind >/dev/null; then
	for n in ${SIZES:-1000 10000}; do
		# Go's asynchronous preemption signals crash callgrind 3.19;
		# one P keeps the count free of scheduler spinning.
		GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 valgrind --tool=callgrind \
			--callgrind-out-file="$tmp/cg.$n" "$tmp/resolve.test" -test.run '^$' \
			-test.bench "LoadValidate/n=$n\$" -test.benchtime 1x >"$tmp/cg.$n.log" 2>&1
		sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/cg.$n.log" | tail -1 >"$tmp/ir.$n"
		echo "instructions, load+validate of $n machines: $(cat "$tmp/ir.$n")"
	done
	set -- ${SIZES:-1000 10000}
	first=$1
	shift $(($# - 1))
	awk -v a="$(cat "$tmp/ir.$first")" -v b="$(cat "$tmp/ir.$1")" -v m="$first" -v n="$1" \
		'BEGIN { printf "instruction ratio %d / %d machines: %.2fx\n", n, m, b / a }'
else
	echo "valgrind not installed: no instruction counts" >&2
fi

(cd machine/resolve && "$tmp/resolve.test" -test.run '^$' -test.bench 'Validate' \
	-test.benchmem -test.count "$count") >"$tmp/bench.txt"
if command -v benchstat >/dev/null; then
	benchstat "$tmp/bench.txt"
else
	cat "$tmp/bench.txt"
fi
