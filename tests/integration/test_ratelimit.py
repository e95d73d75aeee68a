# SPDX-License-Identifier: MIT
"""Issue 13's rate limiters measured from inside Linux (the project kernel and initramfs), one boot:

  * three read-only drives through the API: `bw` limited to 128 KiB/s (a 128 KiB bandwidth bucket
    refilled in 1000 ms), `ops` to 1 request/s (ops bucket), `free` unlimited; GET /vm/config reports the buckets;
    bad values and a PATCH before the start are refused with a reason;
  * in the guest, busybox `dd ... iflag=direct` (O_DIRECT: no page cache between dd and the device) on
    each drive, timed with the guest's /proc/uptime (the project's busybox dd prints no rate) less the
    time of a `dd count=0` (process start and exit: 1.3-4 s under PVM, varying by seconds: so the mean
    of two, and measured runs of ~40 s). A bucket starts full (and refills while dd starts), so the first `size` tokens are
    free and the rate is (tokens - size) / time; it must be within 10% of the limit;
  * PATCH /drives/bw while the guest runs halves the limit (refill_time 2000 ms) and the next dd follows;
  * the throttle counters in GET /metrics moved, and the unlimited drive was faster than the limits
    (so the guest, not the limiter, was never what held dd back).

Requests are never larger than a bucket here, so no debt enters the arithmetic. The limits are low
because under PVM (guest ring 0 in KVM's instruction emulator) the guest itself reads under 1 MiB/s
(measured: 8 MiB in 1 MiB O_DIRECT reads took 9 s). Each drive is found in the guest by its serial (the drive_id, /sys/block/vdX/serial). One
boot costs minutes under PVM, so this file is left out of the ASan pass (scripts/test.sh); the limiter
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
BS = 128 * KIB           # the bandwidth runs' request size, = the bucket: no debt
BW = 128 * KIB           # bytes per second on drive bw: bucket 128 KiB, refill 1000 ms
BW_PATCHED = 64 * KIB    # after the live PATCH: bucket 128 KiB, refill 2000 ms
OPS = 1                  # requests per second on drive ops: bucket 1, refill 1000 ms
N_BW, N_OPS, N_PATCHED = 41, 41, 21   # requests of each measured dd (~40 s each, the first one free)
N_FREE = 32              # requests of the unlimited runs

# "N bytes in C cs": /proc/uptime read by the shell's builtin read before and after dd. rd DEV BS COUNT.
GUEST = f"""
dev() {{ for d in /sys/block/vd*; do [ "$(cat $d/serial)" = "$1" ] && echo /dev/${{d##*/}}; done; }}
cs() {{ read u rest < /proc/uptime; c=${{u%.*}}${{u#*.}}; }}
rd() {{
    cs; t0=$c
    dd if=$1 of=/dev/null bs=$2 count=$3 iflag=direct 2>/tmp/dd.err || {{ echo "dd failed: $(cat /tmp/dd.err)"; return; }}
    cs; echo "$(($2 * $3)) bytes in $((c - t0)) cs"
}}
bw=$(dev bw); ops=$(dev ops); free=$(dev free)
echo "disks bw=$bw ops=$ops free=$free"
echo "start: $(rd $free {BS} 0)"
echo "free: $(rd $free {BS} {N_FREE})"
echo "free ops: $(rd $free 4096 {N_FREE})"
echo "bw: $(rd $bw {BS} {N_BW})"
echo "ops: $(rd $ops 4096 {N_OPS})"
echo "phase1 done"
sleep 3
echo "bw patched: $(rd $bw {BS} {N_PATCHED})"
echo "start again: $(rd $free {BS} 0)"
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


def dd_line(out, label):
    """(bytes, seconds) of the guest's dd line `label`."""
    m = re.search(rf"^guest: {re.escape(label)}: (\d+) bytes in (\d+) cs", out, re.M)
    assert m, f"no dd line '{label}'"
    return int(m.group(1)), int(m.group(2)) / 100


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

    # dd's own start and exit, no I/O: the mean of one before and one after the measured runs.
    start_s = (dd_line(out, "start")[1] + dd_line(out, "start again")[1]) / 2

    def rate(label, bucket, unit):
        n, s = dd_line(out, label)
        return (n - bucket) / unit / (s - start_s), s

    bw, bw_s = rate("bw", BW, 1)                # the full bucket goes at once
    ops, ops_s = rate("ops", 4096, 4096)        # and its one op
    patched, patched_s = rate("bw patched", BW, 1)
    # The unlimited runs, start and exit included (so rates that can only be low): the guest's own pace.
    free_n, free_s = dd_line(out, "free")
    free_ops_n, free_ops_s = dd_line(out, "free ops")
    print(f"dd start/exit {start_s:.2f} s; unlimited >= {free_n / free_s / KIB:.0f} KiB/s, "
          f">= {free_ops_n / 4096 / free_ops_s:.2f} req/s; bw {bw / KIB:.1f} KiB/s ({bw_s:.2f} s, limit "
          f"{BW // KIB}); ops {ops:.3f} req/s ({ops_s:.2f} s, limit {OPS}); patched {patched / KIB:.1f} KiB/s "
          f"({patched_s:.2f} s, limit {BW_PATCHED // KIB})")
    # The limiter, not the guest, set the pace: it held requests back, and the guest can go faster.
    assert counter(out, "bw") > 0 and counter(out, "ops") > 0 and counter(out, "free") == 0, describe(r)
    assert free_n / free_s > 1.5 * BW and free_ops_n / 4096 / free_ops_s > 1.5 * OPS, \
        "the guest is too slow to measure the limits"
    assert abs(bw - BW) <= 0.1 * BW, describe(r)
    assert abs(ops - OPS) <= 0.1 * OPS, describe(r)
    assert abs(patched - BW_PATCHED) <= 0.1 * BW_PATCHED, describe(r)
