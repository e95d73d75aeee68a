#!/bin/sh
# SPDX-License-Identifier: MIT
# Live migration figures (docs/PERFORMANCE.md): one guest migrated between two vmon processes on this host
# over a local socket, REPEAT times (a fresh pair of processes each time); prints each run's source and
# destination log lines (total time, bytes, rounds, downtime), then medians (min-max) over the runs.
# Usage: bench/migrate.sh VMON KERNEL MEM_MIB 'BOOT_ARGS' WARMUP_S [unix|tcp] [DOWNTIME_MS] [REPEAT]
set -e
vmon=$1; kernel=$2; mem=$3; args=$4; warm=$5; kind=${6:-unix}; downtime=${7:-50}; repeat=${8:-1}
all=$(mktemp /tmp/vmon-migbench-XXXXXX.log)

# One run; on a failure prints what failed and both logs, ends both processes and returns 1.
migrate_once() {
	d=$(mktemp -d /tmp/vmon-migbench-XXXXXX)
	if [ "$kind" = tcp ]; then addr=tcp:127.0.0.1:$((20000 + ($$ + $1) % 20000)); else addr=unix:$d/mig.sock; fi
	"$vmon" --api-sock $d/src.sock >$d/src.out 2>&1 & src=$!
	"$vmon" receive --listen $addr >$d/dst.out 2>&1 & dst=$!
	ctl() { "$vmon" ctl --api-sock $d/src.sock --wait 10 "$@" >$d/ctl.out 2>&1 || { cat $d/ctl.out; false; }; }
	if ctl put /boot-source "{\"kernel_image_path\": \"$kernel\", \"boot_args\": \"$args\"}" &&
	   ctl put /machine-config "{\"vcpu_count\": 1, \"mem_size_mib\": $mem}" && ctl start && sleep "$warm" &&
	   "$vmon" ctl --api-sock $d/src.sock migrate $addr --downtime-ms $downtime >$d/migrate.out 2>&1 && wait $src; then
		grep -h "migration\(:\| sent\| received\)" $d/src.out $d/dst.out | tee -a "$all"
		ok=0
	else
		echo "run $1 failed; vmon ctl migrate said: $(cat $d/migrate.out 2>&1)"
		echo "source log:"; tail -20 $d/src.out; echo "destination log:"; tail -20 $d/dst.out
		kill -TERM $src 2>&1; wait $src || true
		ok=1
	fi
	sleep 1; kill -TERM $dst 2>&1; wait $dst || true
	rm -rf $d
	return $ok
}

i=1; failed=0
while [ $i -le "$repeat" ]; do
	echo "run $i:"
	migrate_once $i || failed=$((failed + 1))
	i=$((i + 1))
done
python3 - "$all" "$failed" <<'PY'
import re, statistics, sys
runs = [m.groups() for m in re.finditer(r"migration sent: ([\d.]+) ms in all, (\d+) bytes .*?, (\d+) rounds, "
                                        r"(\d+) pages .*?(\d+) in the final round; downtime ([\d.]+) ms "
                                        r"\(destination restore ([\d.]+) ms\)", open(sys.argv[1]).read())]
names = ("total ms", "MiB sent", "rounds", "pages", "final-round pages", "downtime ms", "destination restore ms")
print(f"{len(runs)} runs completed, {sys.argv[2]} failed; median (min-max):")
for k, name in enumerate(names):
    v = [float(r[k]) / (1 << 20 if k == 1 else 1) for r in runs]
    print(f"  {name}: {statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})  all: {' '.join(f'{x:g}' for x in v)}")
PY
rm -f "$all"
