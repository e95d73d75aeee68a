# SPDX-License-Identifier: MIT
"""Issue 13's rate limiters measured from inside Linux (the project kernel and initramfs), one boot:

  * three read-only drives through the API: `bw` limited to 4 MiB/s (bandwidth bucket), `ops` to 20
    requests/s (ops bucket), `free` unlimited; GET /vm/config reports the buckets;
  * in the guest, busybox `dd ... iflag=direct` (O_DIRECT: no page cache between dd and the device) first
    drains the bucket's initial content (it starts full), then reads for ~6 s: the rate dd reports must be
    within 10% of the limit (the unlimited drive shows what the guest can do at all);
  * PATCH /drives/bw while the guest runs raises the limit to 8 MiB/s, and the next dd follows it.

Each drive is found in the guest by its serial (the drive_id, /sys/block/vdX/serial), not by probe order.
Under PVM one boot costs minutes, so this file is left out of the ASan pass (scripts/test.sh); the limiter
runs under ASan in the unit tests (test_token_bucket, test_virtio_blk_throttle, test_virtio_net)."""

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

MIB = 1 << 20
BW = 4 * MIB            # bytes per second on drive bw
BW_PATCHED = 8 * MIB    # after the live PATCH
OPS = 20                # requests per second on drive ops

# dd's summary: "N bytes (...) copied, T seconds, ...".
GUEST = f"""
dev() {{ for d in /sys/block/vd*; do [ "$(cat $d/serial)" = "$1" ] && echo /dev/${{d##*/}}; done; }}
bw=$(dev bw); ops=$(dev ops); free=$(dev free)
echo "disks bw=$bw ops=$ops free=$free"
rd() {{ dd if=$1 of=/dev/null bs=$2 count=$3 skip=$4 iflag=direct 2>&1 | grep copied; }}
echo "free: $(rd $free 1M 32 0)"
rd $bw 1M 4 0 >/dev/null
echo "bw: $(rd $bw 1M 24 4)"
rd $ops 4k {OPS} 0 >/dev/null
echo "ops: $(rd $ops 4k {OPS * 6} {OPS})"
echo "phase1 done"
sleep 5
rd $bw 1M 8 0 >/dev/null
echo "bw patched: $(rd $bw 1M 48 8)"
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
ctl put /drives/bw "$(drive bw ', "rate_limiter": {"bandwidth": {"size": 4194304, "refill_time": 1000}}')"; echo "put bw: $?"
ctl put /drives/ops "$(drive ops ', "rate_limiter": {"ops": {"size": 20, "refill_time": 1000}}')"; echo "put ops: $?"
ctl put /drives/free "$(drive free)"; echo "put free: $?"
ctl put /drives/bad "$(drive free ', "rate_limiter": {"ops": {"size": 4611686018427387905, "refill_time": 1}}')" 2>&1 | sed 's/^/put bad: /'
ctl patch /drives/bw '{"drive_id": "bw", "rate_limiter": {"bandwidth": {"size": 1, "refill_time": 1}}}' 2>&1 | sed 's/^/patch before start: /'
echo "config: $(ctl config)"
ctl start; echo "start: $?"
wait_for out "^phase1 done" 1200 || echo "the guest did not finish phase 1"
ctl patch /drives/bw '{"drive_id": "bw", "rate_limiter": {"bandwidth": {"size": 8388608, "refill_time": 1000}}}'; echo "patch bw: $?"
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


def dd_rate(out, label):
    """Bytes per second of the dd line `label`, as dd measured it inside the guest."""
    m = re.search(rf"^guest: {re.escape(label)}: (\d+) bytes .* copied, ([\d.]+) seconds", out, re.M)
    assert m, f"no dd line '{label}'"
    return int(m.group(1)) / float(m.group(2)), float(m.group(2))


@needs_linux
def test_limited_drives_read_at_their_limits(vm_results):
    r = vm_results["ratelimit_linux"]
    out = r.stdout.decode(errors="replace")
    print(out)
    assert "put bw: 0" in out and "put ops: 0" in out and "put free: 0" in out and "start: 0" in out, describe(r)
    assert "did not" not in out, describe(r)
    # Bad values and PATCH before the start are refused with a reason.
    assert "put bad: " in out and "rate_limiter.ops: size exceeds 2^62" in out, describe(r)
    assert re.search(r"^patch before start: .*(InstanceStart|not started|before)", out, re.M), describe(r)
    assert "patch no net: " in out and 'no network interface \\"none\\"' in out or \
        'no network interface "none"' in out, describe(r)
    # GET /vm/config reports the buckets, before and after the live PATCH.
    cfg = json.loads(re.search(r"^config: (\{.*\})$", out, re.M).group(1))
    drives = {d["drive_id"]: d for d in cfg["drives"]}
    assert drives["bw"]["rate_limiter"] == {"bandwidth": {"size": BW, "one_time_burst": 0, "refill_time": 1000},
                                            "ops": None}, cfg
    assert drives["ops"]["rate_limiter"]["ops"]["size"] == OPS, cfg
    assert drives["free"]["rate_limiter"] is None, cfg
    after = json.loads(re.search(r"^config after: (\{.*\})$", out, re.M).group(1))
    assert "patch bw: 0" in out, describe(r)
    assert {d["drive_id"]: d for d in after["drives"]}["bw"]["rate_limiter"]["bandwidth"]["size"] == BW_PATCHED

    free, _ = dd_rate(out, "free")
    bw, bw_s = dd_rate(out, "bw")
    ops, ops_s = dd_rate(out, "ops")
    patched, patched_s = dd_rate(out, "bw patched")
    iops = OPS * 6 / ops_s
    print(f"unlimited {free / MIB:.2f} MiB/s; bw {bw / MIB:.3f} MiB/s in {bw_s:.2f} s (limit {BW / MIB}); "
          f"ops {iops:.2f}/s in {ops_s:.2f} s (limit {OPS}); patched {patched / MIB:.3f} MiB/s in {patched_s:.2f} s "
          f"(limit {BW_PATCHED / MIB})")
    # The measurement means something only where the guest can go faster than the limit.
    assert free > 1.5 * BW_PATCHED, f"the guest reads only {free / MIB:.2f} MiB/s unlimited"
    assert abs(bw - BW) <= 0.1 * BW, describe(r)
    assert abs(iops - OPS) <= 0.1 * OPS, describe(r)
    assert abs(patched - BW_PATCHED) <= 0.1 * BW_PATCHED, describe(r)
    assert re.search(r"^metrics: .*throttl", out, re.M), describe(r)
