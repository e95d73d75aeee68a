#!/bin/sh
# Builds fuzz_TARGET and fuzzes it for SECONDS (default 30) from the checked-in
# seeds in corpus/TARGET. New inputs go to a scratch corpus beside the binary,
# never into the tree; a crash leaves crash-* there and makes this exit non-zero.
# Usage: tests/fuzz/run.sh [SECONDS] [TARGET]   (TARGET: virtq (default), or any of build.sh --list;
#        FUZZ_OUT overrides the output dir)
set -eu

seconds=${1:-30}
target=${2:-virtq}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_OUT:-$root/build-fuzz}

"$root/tests/fuzz/build.sh" "$out" "$target"
mkdir -p "$out/corpus-$target"
log="$out/fuzz_$target.log"

status=0
# libFuzzer's own default for a crash, a leak or a failed invariant is exit
# status 77, which meson reads as "skipped": every failure kind exits 1 here.
"$out/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
	-max_len="$("$root/tests/fuzz/build.sh" --max-len "$target")" \
	-error_exitcode=1 -timeout_exitcode=1 \
	-artifact_prefix="$out/$target-" -print_final_stats=1 \
	"$out/corpus-$target" "$root/tests/fuzz/corpus/$target" >"$log" 2>&1 || status=$?

tail -n 25 "$log"
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
echo "fuzz_$target: ${runs:-?} executions (time limit ${seconds}s), exit status $status (log: $log)"
# Whatever else a failed run returns, it is a failure (77 would read as a skip).
[ "$status" = 0 ] || [ "$status" = 1 ] || status=1
exit "$status"
