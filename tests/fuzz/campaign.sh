#!/bin/sh
# The long campaign: builds each TARGET and fuzzes it for RUNS executions (default 10 M),
# one target after the other, at nice 19, from the checked-in seeds plus a scratch corpus.
# Prints one table row per target: executions, seconds, exec/s, cov, ft, exit status.
# Usage: tests/fuzz/campaign.sh [RUNS] [TARGET...]   (FUZZ_OUT overrides the output dir)
set -eu

runs=${1:-10000000}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_OUT:-$root/build-fuzz}
[ $# -gt 0 ] || set -- $("$root/tests/fuzz/build.sh" --list)

"$root/tests/fuzz/build.sh" "$out" "$@"
failed=0
for target in "$@"; do
	mkdir -p "$out/corpus-$target"
	log="$out/campaign_$target.log"
	start=$(date +%s)
	status=0
	nice -n 19 "$out/fuzz_$target" -runs="$runs" -timeout=10 -rss_limit_mb=4096 \
		-max_len="$("$root/tests/fuzz/build.sh" --max-len "$target")" \
		-error_exitcode=1 -timeout_exitcode=1 \
		-artifact_prefix="$out/$target-" -print_final_stats=1 \
		"$out/corpus-$target" "$root/tests/fuzz/corpus/$target" >"$log" 2>&1 || status=$?
	secs=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	covft=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1)
	printf '%s | %s | %s s | %s exec/s | %s | exit %s | %s\n' "$target" "${execs:-?}" "$secs" "${rate:-?}" \
		"${covft:-?}" "$status" "$(date -u +%Y-%m-%dT%H:%MZ)"
	[ "$status" = 0 ] || failed=1
done
exit "$failed"
