# SPDX-License-Identifier: MIT
"""Issue 12's balloon, with Linux (the project kernel and initramfs, as test_snapshot_linux.py runs them):

  * inflate: the guest touches memory and frees it (no free page reporting, so it stays resident on the
    host); `PATCH /balloon` to N MiB: the driver's actual reaches the target, the guest's MemTotal drops
    by N (no deflate_on_oom: Linux takes inflated pages off its total) and vmon's RSS by at least 90% of N;
    statistics arrive with sane values; bad bodies are refused; `vmon ctl balloon 0` deflates and MemTotal
    comes back;
  * free page reporting: the guest holds N MiB, then frees it: vmon's RSS drops by at least 90% of N.

Each scenario is one shell script through the session batch, driving vmon with `vmon --api-sock` and
`vmon ctl` only. Under PVM the guest kernel runs emulated and zeroes pages slowly (~0.3 MiB/s), so N is
small and the timeouts generous."""

import base64
import json
import os
import re

import pytest

from conftest import VMON, describe, vm_case

BZIMAGE = os.environ.get("VMON_GUEST_BZIMAGE")
INITRD = os.environ.get("VMON_GUEST_INITRD")
HAVE_LINUX = bool(BZIMAGE and INITRD and os.path.exists(BZIMAGE) and os.path.exists(INITRD))
needs_linux = pytest.mark.skipif(not HAVE_LINUX and os.environ.get("VMON_REQUIRE_LINUX") != "1",
                                 reason="guest kernel/initramfs not built (scripts/build-guest.sh)")

N_MIB = 16

# Touching memory from user space: busybox awk pads a string natively (guest ring 3); only the page
# faults and the kernel's page zeroing run emulated. /proc/meminfo's MemTotal/MemAvailable in kB.
MEMINFO = "m() { awk '/MemTotal|MemAvailable/ {printf \"%s %s \", $1, $2} END {print \"\"}' /proc/meminfo; }\n"

INFLATE_GUEST = MEMINFO + f"""
awk 'BEGIN {{ s = sprintf("%{(N_MIB + 8) << 20}s", "") }}'
echo "touched $(m)"
i=0; while [ $i -lt 600 ]; do echo "mem $(m)"; sleep 2; i=$((i+1)); done
"""

REPORT_GUEST = MEMINFO + f"""
awk 'BEGIN {{ s = sprintf("%{N_MIB << 20}s", ""); system("echo holding; sleep 30") }}'
echo "freed $(m)"
i=0; while [ $i -lt 600 ]; do echo "mem $(m)"; sleep 2; i=$((i+1)); done
"""

# $1 vmon $2 bzImage $3 initrd $4 guest script (base64) $5 balloon body
COMMON = r'''
vmon=$1; bzimage=$2; initrd=$3; cmd64=$4; balloon=$5
d=/tmp/vmon-balloon-$$; mkdir -p $d; cd $d
ctl() { "$vmon" ctl --api-sock $d/a.sock --wait 10 "$@"; }
wait_for() { i=0; while ! grep -q "$2" "$1"; do i=$((i+1)); [ $i -gt $(($3 * 10)) ] && return 1; sleep 0.1; done; }
rss() { awk '/^VmRSS/ {print $2}' /proc/$vm/status; }
actual_mib() { ctl balloon-stats | sed -n 's/.*"actual_mib":\([0-9]*\).*/\1/p'; }
# wait_actual MIB SECONDS: until the driver holds MIB MiB
wait_actual() { i=0; while [ "$(actual_mib)" != "$1" ]; do i=$((i+1)); [ $i -gt $(($2 * 2)) ] && return 1; sleep 0.5; done; }
"$vmon" --api-sock $d/a.sock --id balloon >out 2>err & vm=$!
ctl put /boot-source "{\"kernel_image_path\": \"$bzimage\", \"initrd_path\": \"$initrd\", \"boot_args\": \"console=ttyS0 reboot=k panic=-1 vmon.cmd64=$cmd64\"}" >/dev/null
ctl put /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}' >/dev/null
ctl put /balloon "$balloon"; echo "put balloon: $?"
ctl get /balloon | sed 's/^/get balloon: /'
ctl start; echo "start: $?"
'''

END = r'''
kill $vm; wait $vm
sed 's/^/guest: /' out | grep -v '^guest: \[' ; grep -v '^\[' err | sed 's/^/vmon: /'
rm -rf $d
'''

INFLATE_SCRIPT = COMMON + f"n={N_MIB}" + r'''
wait_for out "^touched" 900 || echo "the guest did not touch its memory"
sleep 4
echo "rss before: $(rss)"
echo "meminfo before: $(grep '^mem ' out | tail -1)"
lines=$(grep -c '^mem ' out)
t0=$(date +%s.%N)
ctl patch /balloon "{\"amount_mib\": $n}"; echo "patch: $?"
wait_actual $n 600 || echo "actual did not reach $n"
echo "inflated in $(awk "BEGIN {print $(date +%s.%N) - $t0}") s"
sleep 1
echo "rss inflated: $(rss)"
wait_for_line() { i=0; while [ $(grep -c '^mem ' out) -le $1 ]; do i=$((i+1)); [ $i -gt 1200 ] && return 1; sleep 0.1; done; }
lines=$(grep -c '^mem ' out); wait_for_line $((lines + 1))
echo "meminfo inflated: $(grep '^mem ' out | tail -1)"
sleep 3
ctl balloon-stats | sed 's/^/stats: /'
# Bad bodies: refused, nothing changes.
ctl patch /balloon '{"amount_mib": 257}' >/dev/null 2>bad1; echo "too much: $?"; sed 's/^/too much: /' bad1
ctl patch /balloon '{"amount_mib": -1}' >/dev/null 2>bad2; echo "negative: $?"
ctl patch /balloon '{"amount_mib": 1, "deflate_on_oom": true}' >/dev/null 2>bad3; echo "extra field: $?"
ctl patch /balloon/statistics '{"stats_polling_interval_s": 0}' >/dev/null 2>bad4; echo "stats off: $?"
ctl put /balloon '{"amount_mib": 1, "deflate_on_oom": true}' >/dev/null 2>bad5; echo "put after start: $?"
ctl patch /balloon/statistics '{"stats_polling_interval_s": 2}'; echo "stats interval: $?"
echo "actual after bad bodies: $(actual_mib)"
t0=$(date +%s.%N)
ctl balloon 0; echo "deflate: $?"
wait_actual 0 600 || echo "actual did not reach 0"
echo "deflated in $(awk "BEGIN {print $(date +%s.%N) - $t0}") s"
lines=$(grep -c '^mem ' out); wait_for_line $((lines + 1))
echo "meminfo deflated: $(grep '^mem ' out | tail -1)"
''' + END

REPORT_SCRIPT = COMMON + f"n={N_MIB}" + r'''
wait_for out "^holding" 900 || echo "the guest did not touch its memory"
sleep 10
rss0=$(rss); echo "rss holding: $rss0"
wait_for out "^freed" 120 || echo "the guest did not free its memory"
t0=$(date +%s.%N)
i=0; while [ $((rss0 - $(rss))) -lt $((n * 1024 * 9 / 10)) ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
echo "rss freed: $(rss) after $(awk "BEGIN {print $(date +%s.%N) - $t0}") s"
''' + END

if HAVE_LINUX:
    for case, guest_script, body in [
            ("balloon_inflate", INFLATE_GUEST,
             '{"amount_mib": 0, "deflate_on_oom": false, "stats_polling_interval_s": 1}'),
            ("balloon_reporting", REPORT_GUEST,
             '{"amount_mib": 0, "deflate_on_oom": true, "free_page_reporting": true}')]:
        script = INFLATE_SCRIPT if case == "balloon_inflate" else REPORT_SCRIPT
        vm_case(case, ["sh", "-c", script, "sh", VMON, BZIMAGE, INITRD,
                       base64.b64encode(guest_script.encode()).decode(), body], timeout=1500)


def number(out, label):
    m = re.search(rf"^{re.escape(label)}: (\d+)", out, re.M)
    assert m, f"no '{label}' line"
    return int(m.group(1))


def meminfo(out, label):
    m = re.search(rf"^{re.escape(label)}: mem MemTotal: (\d+) MemAvailable: (\d+)", out, re.M)
    assert m, f"no '{label}' line"
    return int(m.group(1)), int(m.group(2))


@needs_linux
def test_inflate_lowers_memtotal_and_rss_deflate_gives_it_back(vm_results):
    r = vm_results["balloon_inflate"]
    out = r.stdout.decode(errors="replace")
    print(out)
    assert "put balloon: 0" in out and "start: 0" in out and "patch: 0" in out, describe(r)
    assert re.search(r'get balloon: \{"amount_mib":0,"deflate_on_oom":false,"stats_polling_interval_s":1,'
                     r'"free_page_hinting":false,"free_page_reporting":false\}', out), describe(r)
    assert "did not" not in out, describe(r)
    n_kb = N_MIB * 1024
    total0, avail0 = meminfo(out, "meminfo before")
    total1, avail1 = meminfo(out, "meminfo inflated")
    total2, _ = meminfo(out, "meminfo deflated")
    # Without deflate_on_oom Linux takes the inflated pages off MemTotal; MemAvailable falls alike.
    assert total0 - total1 == n_kb, describe(r)
    assert avail0 - avail1 >= n_kb * 9 // 10, describe(r)
    assert total2 == total0, describe(r)
    rss0, rss1 = number(out, "rss before"), number(out, "rss inflated")
    print(f"RSS {rss0} kB -> {rss1} kB after inflating {N_MIB} MiB")
    assert rss0 - rss1 >= n_kb * 9 // 10, describe(r)
    # Statistics: Firecracker's names, the target and actual, and what the guest reported.
    stats = re.search(r"^stats: (\{.*\})", out, re.M)
    assert stats, describe(r)
    s = json.loads(stats.group(1))
    assert s["target_mib"] == N_MIB and s["actual_mib"] == N_MIB and s["target_pages"] == N_MIB * 256, s
    assert s["actual_pages"] == N_MIB * 256, s
    assert 200 << 20 < s["total_memory"] <= 256 << 20, s
    assert 0 < s["free_memory"] < s["total_memory"] and 0 < s["available_memory"] <= s["total_memory"], s
    # Bad bodies refused with a reason; the balloon kept its size.
    assert "too much: 1" in out and "outside 0 .. the guest's 256 MiB" in out, describe(r)
    assert "negative: 1" in out and "extra field: 1" in out and "stats off: 1" in out, describe(r)
    assert "put after start: 1" in out, describe(r)
    assert "stats interval: 0" in out, describe(r)
    assert f"actual after bad bodies: {N_MIB}" in out, describe(r)
    assert "deflate: 0" in out, describe(r)


@needs_linux
def test_free_page_reporting_gives_freed_memory_back(vm_results):
    r = vm_results["balloon_reporting"]
    out = r.stdout.decode(errors="replace")
    print(out)
    assert "put balloon: 0" in out and "start: 0" in out, describe(r)
    assert "did not" not in out, describe(r)
    rss0 = number(out, "rss holding")
    rss1 = number(out, "rss freed")
    print(f"RSS {rss0} kB -> {rss1} kB after the guest freed {N_MIB} MiB")
    assert rss0 - rss1 >= N_MIB * 1024 * 9 // 10, describe(r)
