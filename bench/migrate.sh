#!/bin/sh
# SPDX-License-Identifier: MIT
# Live migration figures (docs/PERFORMANCE.md): one guest migrated between two vmon processes on this host
# over a local socket; prints the source's outcome (total time, bytes, rounds, downtime).
# Usage: bench/migrate.sh VMON KERNEL MEM_MIB 'BOOT_ARGS' WARMUP_S [unix|tcp] [DOWNTIME_MS]
set -e
vmon=$1; kernel=$2; mem=$3; args=$4; warm=$5; kind=${6:-unix}; downtime=${7:-50}
d=$(mktemp -d /tmp/vmon-migbench-XXXXXX)
if [ "$kind" = tcp ]; then addr=tcp:127.0.0.1:$((20000 + $$ % 20000)); else addr=unix:$d/mig.sock; fi
"$vmon" --api-sock $d/src.sock >$d/src.out 2>&1 & src=$!
"$vmon" receive --listen $addr >$d/dst.out 2>&1 & dst=$!
ctl() { "$vmon" ctl --api-sock $d/src.sock --wait 10 "$@" >/dev/null; }
ctl put /boot-source "{\"kernel_image_path\": \"$kernel\", \"boot_args\": \"$args\"}"
ctl put /machine-config "{\"vcpu_count\": 1, \"mem_size_mib\": $mem}"
ctl start
sleep "$warm"
"$vmon" ctl --api-sock $d/src.sock migrate $addr --downtime-ms $downtime
wait $src
grep -h "migration\(:\| sent\| received\)" $d/src.out $d/dst.out
sleep 1; kill -TERM $dst; wait $dst || true
rm -rf $d
