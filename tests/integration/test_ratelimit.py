# SPDX-License-Identifier: MIT
"""Issue 13's rate limiters measured from inside Linux (the project kernel and initramfs), one boot:

  * three read-only drives through the API: `bw` limited to 128 KiB/s (a 128 KiB bandwidth bucket
    refilled in 1000 ms), `ops` to 1 request/s (ops bucket), `free` unlimited; GET /vm/config reports
    the buckets; bad values and a PATCH before the start are refused with a reason;
  * in the guest, busybox `dd ... iflag=direct` (O_DIRECT: no page cache between dd and the device)
    reads each drive in the background while the shell, with builtins only, watches the disk's completed
    reads and sectors in /sys/block/X/stat and the guest's /proc/uptime: the rate from the 2nd to the
    17th completion (the first one spends the bucket's initial content) must be within 10% of the limit.
    (The project's busybox dd prints no rate, and timing whole dd runs would count a process start that
    costs 1.3-4 s under PVM and varies by seconds.)
  * PATCH /drives/bw while the guest runs halves the limit (refill_time 2000 ms) and the next dd follows;
  * the throttle counters in GET /metrics moved, and the unlimited drive was faster than the limits
    (so the guest, not the limiter, was never what held dd back).

Requests are never larger than a bucket here, so no debt enters the arithmetic. The limits are low
because under PVM (guest ring 0 in KVM's instruction emulator) the guest itself reads under 1 MiB/s
(measured: 8 MiB in 1 MiB O_DIRECT reads took 9 s). Each drive is found in the guest by its serial
(the drive_id, /sys/block/vdX/serial). One boot costs minutes under PVM, so this file is left out of the ASan pass (scripts/test.sh); the limiter
runs under ASan in the unit tests (test_token_bucket, test_virtio_blk_throttle, test_virtio_net_throttle)."""

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

KIB = 1 << 10
BS = 128 * KIB           # the bandwidth runs' request size, = the bucket
BW = 128 * KIB           # bytes per second on drive bw: bucket 128 KiB, refill 1000 ms
BW_PATCHED = 64 * KIB    # after the live PATCH: bucket 128 KiB, refill 2000 ms
OPS = 1                  # requests per second on drive ops: bucket 1, refill 1000 ms

# measure NAME DEV BS COUNT SKIP K: dd reads COUNT blocks in the background while the shell watches the
# disk's completed reads in /sys/block/X/stat; from the SKIP-th completion (the full bucket's, and one
# more to be in the steady pace) to the (SKIP + K)-th, it takes /proc/uptime (centiseconds) and the
# sectors read. Builtins only (read, [): no process start between the two marks. Prints
# "NAME: R requests B bytes in C cs".
GUEST = f"""
dev() {{ for d in /sys/block/vd*; do [ "$(cat $d/serial)" = "$1" ] && echo /dev/${{d##*/}}; done; }}
cs() {{ read u rest < /proc/uptime; c=${{u%.*}}${{u#*.}}; }}
reads_at_least() {{ while :; do read n m s rest < $1; [ $n -ge $2 ] && break; done; cs; }}
measure() {{
    st=/sys/block/${{2##*/}}/stat
    read n0 rest < $st
    dd if=$2 of=/dev/null bs=$3 count=$4 iflag=direct 2>/tmp/dd.err &
    reads_at_least $st $((n0 + $5)); n1=$n; s1=$s; c1=$c
    reads_at_least $st $((n0 + $5 + $6)); n2=$n; s2=$s; c2=$c
    wait $! || echo "dd failed: $(cat /tmp/dd.err)"
    echo "$1: $((n2 - n1)) requests $(((s2 - s1) * 512)) bytes in $((c2 - c1)) cs"
}}
bw=$(dev bw); ops=$(dev ops); free=$(dev free)
echo "disks bw=$bw ops=$ops free=$free"
measure free $free {BS} 24 2 16
measure "free ops" $free 4096 34 2 30
measure bw $bw {BS} 20 2 15
measure ops $ops 4096 20 2 15
echo "phase1 done"
sleep 3
measure "bw patched" $bw {BS} 11 2 8
echo "phase2 done"
"""

# $1 vmon $2 bzImage $3 initrd $4 guest script (base64)
SCRIPT = r'''
vmon=$1; bzimage=$2; initrd=$3; cmd64=$4
d=/tmp/vmon-ratelimit-$$; mkdir -p $d; cd $d
for n in bw ops free; do truncate -s 64M $n.img; done
ctl() { "$vmon" ctl --api-sock $d/a.sock --wait 10 "$@"; }
wait_for() { i=0; while ! grep -q "$2" "$1"; do i=$((i+1)); [ $i -gt $(($3 * 10)) ] && return 1; sleep 0.1; done; }
drive() { echo "{\"drive_id\": \"$1\", \"path_on_host\": \"$d/$1.img\", \"is_root_device\": false, \"is_read_only\": true$2}"; }
"$vmon" --api-sock $d/a.sock --id ratelimit >out 2>err & vm=$!
ctl put /boot-source "{\"kernel_image_path\": \"$bzimage\", \"initrd_path\": \"$initrd\", \"boot_args\": \"console=ttyS0 reboot=k panic=-1 vmon.cmd64=$cmd64\"}" >/dev/null
ctl put /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}' >/dev/null
ctl put /drives/bw "$(drive bw ', "rate_limiter": {"bandwidth": {"size": 131072, "refill_time": 1000}}')"; echo "put bw: $?"
ctl put /drives/ops "$(drive ops ', "rate_limiter": {"ops": {"size": 1, "refill_time": 1000}}')"; echo "put ops: $?"
ctl put /drives/free "$(drive free)"; echo "put free: $?"
ctl put /drives/bad "$(drive bad ', "rate_limiter": {"ops": {"size": 4611686018427387905, "refill_time": 1}}')" 2>&1 | sed 's/^/put bad: /'
ctl patch /drives/bw '{"drive_id": "bw", "rate_limiter": {"bandwidth": {"size": 1, "refill_time": 1}}}' 2>&1 | sed 's/^/patch before start: /'
echo "config: $(ctl config)"
ctl start; echo "start: $?"
wait_for out "^phase1 done" 1200 || echo "the guest did not finish phase 1"
ctl patch /drives/bw '{"drive_id": "bw", "rate_limiter": {"bandwidth": {"size": 131072, "refill_time": 2000}}}'; echo "patch bw: $?"
ctl patch /network-interfaces/none '{"iface_id": "none"}' 2>&1 | sed 's/^/patch no net: /'
echo "config after: $(ctl config)"
wait_for out "^phase2 done" 300 || echo "the guest did not finish phase 2"
ctl metrics | grep -i throttl | sed 's/^/metrics: /'
kill $vm; wait $vm
sed 's/^/guest: /' out | grep -v '^guest: \['; grep -v '^\[' err | sed 's/^/vmon: /'
rm -rf $d
'''

if HAVE_LINUX:
    vm_case("ratelimit_linux", ["sh", "-c", SCRIPT, "sh", VMON, BZIMAGE, INITRD,
                                base64.b64encode(GUEST.encode()).decode()], timeout=1800)


def measured(out, label):
    """(requests, bytes, seconds) of the guest's measure line `label`."""
    m = re.search(rf"^guest: {re.escape(label)}: (\d+) requests (\d+) bytes in (\d+) cs", out, re.M)
    assert m, f"no measure line '{label}'"
    return int(m.group(1)), int(m.group(2)), int(m.group(3)) / 100


def counter(out, drive):
    m = re.search(rf'^metrics: vmon_block_rate_limiter_throttled_total{{device="[^"]*",id="{drive}"}} (\d+)', out,
                  re.M)
    assert m, f"no throttle counter for {drive}"
    return int(m.group(1))


@needs_linux
def test_limited_drives_read_at_their_limits(vm_results):
    r = vm_results["ratelimit_linux"]
    out = r.stdout.decode(errors="replace")
    print(out)
    assert "put bw: 0" in out and "put ops: 0" in out and "put free: 0" in out and "start: 0" in out, describe(r)
    assert "did not" not in out and "dd failed" not in out, describe(r)
    # Bad values and PATCH before the start are refused with a reason.
    assert re.search(r"^put bad: .*rate_limiter.ops: size exceeds 2\^62", out, re.M), describe(r)
    assert re.search(r"^patch before start: .*not supported before starting the microVM", out, re.M), describe(r)
    assert re.search(r'^patch no net: .*no network interface \\"none\\"', out, re.M), describe(r)
    # GET /vm/config reports the buckets, before and after the live PATCH.
    cfg = json.loads(re.search(r"^config: (\{.*\})$", out, re.M).group(1))
    drives = {d["drive_id"]: d for d in cfg["drives"]}
    assert drives["bw"]["rate_limiter"] == {"bandwidth": {"size": BW, "one_time_burst": 0, "refill_time": 1000},
                                            "ops": None}, cfg
    assert drives["ops"]["rate_limiter"] == {"bandwidth": None,
                                             "ops": {"size": 1, "one_time_burst": 0, "refill_time": 1000}}, cfg
    assert drives["free"]["rate_limiter"] is None, cfg
    assert "patch bw: 0" in out, describe(r)
    after = json.loads(re.search(r"^config after: (\{.*\})$", out, re.M).group(1))
    assert {d["drive_id"]: d for d in after["drives"]}["bw"]["rate_limiter"]["bandwidth"]["refill_time"] == 2000

    _, free_b, free_s = measured(out, "free")
    free_ops_n, _, free_ops_s = measured(out, "free ops")
    _, bw_b, bw_s = measured(out, "bw")
    ops_n, _, ops_s = measured(out, "ops")
    _, patched_b, patched_s = measured(out, "bw patched")
    bw, ops, patched = bw_b / bw_s, ops_n / ops_s, patched_b / patched_s
    print(f"unlimited {free_b / free_s / KIB:.0f} KiB/s, {free_ops_n / free_ops_s:.2f} req/s; "
          f"bw {bw / KIB:.1f} KiB/s ({bw_s:.2f} s, limit {BW // KIB}); ops {ops:.3f} req/s ({ops_s:.2f} s, "
          f"limit {OPS}); patched {patched / KIB:.1f} KiB/s ({patched_s:.2f} s, limit {BW_PATCHED // KIB})")
    # The limiter, not the guest, set the pace: it held requests back, and the guest can go faster.
    assert counter(out, "bw") > 0 and counter(out, "ops") > 0 and counter(out, "free") == 0, describe(r)
    assert free_b / free_s > 1.5 * BW and free_ops_n / free_ops_s > 1.5 * OPS, \
        "the guest is too slow to measure the limits"
    assert abs(bw - BW) <= 0.1 * BW, describe(r)
    assert abs(ops - OPS) <= 0.1 * OPS, describe(r)
    assert abs(patched - BW_PATCHED) <= 0.1 * BW_PATCHED, describe(r)
