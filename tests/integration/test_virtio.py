# SPDX-License-Identifier: MIT
"""vmon's virtio-mmio devices driven by the test guests (tests/guests/virtio_*.c).

Well-behaved guests check virtio-blk (reads, writes, FLUSH, GET_ID, error
statuses, read-only drives), virtio-net (ARP and DHCP through libslirp, with
receive buffers merged) and virtio-rng; virtio_evil attacks virtio-blk's
queues and checks that the device stops (DEVICE_NEEDS_RESET), vmon survives,
and a reset device serves again. Images are created at import time in a
temporary folder. The sandbox copies files in but not back, so runs that
write an image print it (base64) after vmon exits, from where it ran.

Bad images and --net values need no KVM: vmon opens device backends before
/dev/kvm, so those run directly.
"""

import atexit
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import UDP_FLOOD, VMON, describe, guest, vm_case, vmon_run

MEM = ["--mem", "32M"]
# The freestanding guests drive virtio-mmio (tests/guests/virtio.c); vmon's CLI default is PCI.
MMIO = ["--virtio-transport", "mmio"]
PASS = 1          # debug_exit(0)
USAGE = 2
SECTORS = 16
WRITE_SECTOR = 8
IMAGE_MARK = b"@@IMAGE@@\n"

TMP = tempfile.mkdtemp(prefix="vmon-test-virtio-")
atexit.register(shutil.rmtree, TMP, ignore_errors=True)


def pattern(nbytes):
    """What every image holds at first: byte(o) = ((o >> 9) * 59 + (o & 511)) & 0xff."""
    return bytes(((o >> 9) * 59 + (o & 511)) & 0xff for o in range(nbytes))


def written(sector):
    """What virtio_blk writes to sector S."""
    return bytes((j * 3 + sector * 17 + 0xa5) & 0xff for j in range(512))


def make_image(name, nbytes=SECTORS * 512):
    # One file per case: the sandbox copies each host path once, and vmon locks its images.
    path = os.path.join(TMP, name + ".img")
    with open(path, "wb") as f:
        f.write(pattern(nbytes))
    return path


def dumped(result):
    """(guest output, image bytes) of a run that printed IMAGE_MARK and the image in base64 after vmon."""
    out, mark, tail = result.stdout.partition(IMAGE_MARK)
    assert mark, "no image dump in stdout\n" + describe(result)
    return out, base64.b64decode(b"".join(tail.split()))


# --- virtio-blk ---------------------------------------------------------------------------

BLK_RW = make_image("blk_rw")
BLK_RO = make_image("blk_ro")
vm_case("blk_rw", ["sh", "-c",
                   '"$1" run --kernel "$2" --mem 32M --virtio-transport mmio --drive "path=$3,id=test-disk-0" '
                   '--cmdline "capacity=16 write=8 id=test-disk-0"; s=$?; '
                   'printf "@@IMAGE@@\\n"; base64 "$3"; exit $s',
                   "sh", VMON, guest("virtio_blk"), BLK_RW])
vm_case("blk_ro", ["sh", "-c",
                   '"$1" run --kernel "$2" --mem 32M --virtio-transport mmio --drive "path=$3,readonly=on" '
                   '--cmdline "ro=1 capacity=16 write=3"; s=$?; '
                   'printf "@@IMAGE@@\\n"; base64 "$3"; exit $s',
                   "sh", VMON, guest("virtio_blk"), BLK_RO])


def test_blk_reads_pattern_writes_flushes_and_answers_get_id(vm_results):
    r = vm_results["blk_rw"]
    out, image = dumped(r)
    assert r.returncode == PASS, describe(r)
    assert b"virtio: virtio-blk at 0xd0000000 irq 5, version 2\n" in out, describe(r)
    assert re.search(rb"^virtio_blk: capacity 16 sectors, blk_size 512, seg_max \d+, read-write$", out, re.M), \
        describe(r)
    assert b"virtio_blk: sectors 0..7 match the pattern" in out, describe(r)
    assert b"virtio_blk: read at the capacity: status 1\n" in out, describe(r)
    assert b"virtio_blk: read across the end: status 1\n" in out, describe(r)
    assert b"virtio_blk: unknown request type: status 2\n" in out, describe(r)
    assert b"virtio_blk: sector 8 reads back as written\n" in out, describe(r)
    assert b"virtio_blk: FLUSH ok\n" in out, describe(r)
    assert b"virtio_blk: id 'test-disk-0'\n" in out, describe(r)
    assert re.search(rb"^virtio_blk: [1-9]\d* interrupts", out, re.M), describe(r)
    assert out.endswith(b"virtio_blk: all checks passed\n"), describe(r)


def test_blk_write_reaches_the_host_file_and_nothing_else_changes(vm_results):
    r = vm_results["blk_rw"]
    _, image = dumped(r)
    want = bytearray(pattern(SECTORS * 512))
    want[WRITE_SECTOR * 512:(WRITE_SECTOR + 1) * 512] = written(WRITE_SECTOR)
    assert len(image) == SECTORS * 512, describe(r)
    changed = [s for s in range(SECTORS) if image[s * 512:(s + 1) * 512] != want[s * 512:(s + 1) * 512]]
    assert not changed, f"sectors {changed} differ from the pattern plus the guest's write\n" + describe(r)


def test_blk_readonly_drive_refuses_writes_with_ioerr(vm_results):
    r = vm_results["blk_ro"]
    out, image = dumped(r)
    assert r.returncode == PASS, describe(r)
    assert b", read-only\n" in out, describe(r)
    assert b"virtio_blk: write sector 3: status 1\n" in out, describe(r)
    assert b"virtio_blk: sector 3 reads back unchanged\n" in out, describe(r)
    assert b"virtio_blk: all checks passed\n" in out, describe(r)
    assert image == pattern(SECTORS * 512), "read-only image changed\n" + describe(r)


# Device order: drives in CLI order, then nets, then rng; window n at 0xd0000000 + n * 4 KiB,
# GSI [5, 6, 7, 9, ...][n]. The guest takes the second virtio-blk (disk=1).
ORDER_A = make_image("order_a")
ORDER_B = make_image("order_b")
vm_case("blk_second_of_several", vmon_run("--kernel", guest("virtio_blk"), *MEM, *MMIO,
                                          "--drive", f"path={ORDER_A}", "--drive", f"path={ORDER_B},readonly=on",
                                          "--net", "user", "--rng",
                                          "--cmdline", "disk=1 ro=1 write=2 capacity=16 id=vmon-drive1"))
vm_case("rng_after_drives_and_net", vmon_run("--kernel", guest("virtio_rng"), *MEM, *MMIO,
                                             "--drive", f"path={make_image('order_c')}", "--net", "user", "--rng"))


def test_devices_take_windows_and_irqs_in_cli_order(vm_results):
    r = vm_results["blk_second_of_several"]
    assert r.returncode == PASS, describe(r)
    assert b"virtio: virtio-blk at 0xd0001000 irq 6, version 2\n" in r.stdout, describe(r)
    assert b"virtio_blk: id 'vmon-drive1'\n" in r.stdout, describe(r)
    r = vm_results["rng_after_drives_and_net"]
    assert r.returncode == PASS, describe(r)
    assert b"virtio: virtio-rng at 0xd0002000 irq 7, version 2\n" in r.stdout, describe(r)


# --- virtio-net, virtio-rng ---------------------------------------------------------------

vm_case("net_user", vmon_run("--kernel", guest("virtio_net"), *MEM, *MMIO, "--net", "user,mac=52:54:00:ab:cd:ef",
                             "--cmdline", "mac=52:54:00:ab:cd:ef"))


def test_net_arp_and_dhcp_through_slirp_with_merged_rx_buffers(vm_results):
    r = vm_results["net_user"]
    assert r.returncode == PASS, describe(r)
    assert b"virtio_net: mac 52:54:00:ab:cd:ef, link up\n" in r.stdout, describe(r)
    assert re.search(rb"^virtio_net: 10\.0\.2\.2 is at (?:[0-9a-f]{2}:){5}[0-9a-f]{2}$", r.stdout, re.M), describe(r)
    assert b"virtio_net: DHCP offer 10.0.2.15 from 10.0.2.2" in r.stdout, describe(r)
    # A 590-byte offer in 256-byte buffers (the first one also holds the 12-byte header).
    assert b"virtio_net: largest frame took 3 receive buffers\n" in r.stdout, describe(r)
    assert r.stdout.endswith(b"virtio_net: all checks passed\n"), describe(r)


# Receive under sustained load: udp_flood (tests/integration/udp_flood.c) starts vmon and sends
# FLOOD_FRAMES datagrams through slirp as fast as the guest's credits allow; the guest checks
# each arrives once, in order, intact. Its credits never exceed its receive buffers, so any loss
# is vmon's.
FLOOD_FRAMES = 4096
vm_case("net_flood", [UDP_FLOOD, FLOOD_FRAMES, *vmon_run("--kernel", guest("virtio_net_flood"), *MEM, *MMIO, "--net", "user",
                                                         "--cmdline", f"port=@PORT@ count={FLOOD_FRAMES}")],
        timeout=60)


def flood_len(s):
    """Payload bytes of flood frame s (udp_flood.c, virtio_net_flood.c)."""
    return 16 + (s * 389) % 1457


def test_net_receive_flood_arrives_complete_in_order_and_intact(vm_results):
    r = vm_results["net_flood"]
    total = sum(flood_len(s) for s in range(FLOOD_FRAMES))
    # Ethernet 14 + IP 20 + UDP 8 + payload after the 12-byte header in 1 KiB buffers.
    two_buffers = sum(1 for s in range(FLOOD_FRAMES) if 12 + 42 + flood_len(s) > 1024)
    assert r.returncode == PASS, describe(r)
    assert f"udp_flood: sent {FLOOD_FRAMES} of {FLOOD_FRAMES} frames ({total} bytes)".encode() in r.stderr, \
        describe(r)
    assert re.search(rf"^virtio_net_flood: {FLOOD_FRAMES} frames, {total} bytes in order and intact "
                     rf"\({two_buffers} over two buffers; \d+ other frames".encode(), r.stdout, re.M), describe(r)


# TAP: a host TAP interface with the address 10.0.2.2, so the host kernel answers the
# guest's ARP request. Creating it needs CAP_NET_ADMIN (root in the sandbox); without it
# the command exits 77 and the test skips.
NO_TAP = 77
vm_case("net_tap", ["sh", "-c",
                    'tunctl -t vmtap0 >/dev/null 2>&1 || ip tuntap add dev vmtap0 mode tap 2>/dev/null || exit 77; '
                    'ip addr add 10.0.2.2/24 dev vmtap0 && ip link set vmtap0 up || exit 77; '
                    '"$1" run --kernel "$2" --mem 32M --virtio-transport mmio --net tap=vmtap0,mac=52:54:00:ab:cd:01 '
                    '--cmdline "mac=52:54:00:ab:cd:01 dhcp=0"; s=$?; '
                    'echo "tap rx_packets=$(cat /sys/class/net/vmtap0/statistics/rx_packets)"; '
                    'ip link del vmtap0 2>/dev/null || tunctl -d vmtap0 >/dev/null; exit $s',
                    "sh", VMON, guest("virtio_net")])


def test_net_arp_through_a_tap_answered_by_the_host_kernel(vm_results):
    r = vm_results["net_tap"]
    if r.returncode == NO_TAP:
        pytest.skip("cannot create a TAP interface here (needs CAP_NET_ADMIN)")
    assert r.returncode == PASS, describe(r)
    assert b"virtio_net: mac 52:54:00:ab:cd:01, link up\n" in r.stdout, describe(r)
    # The reply comes from the TAP interface's own MAC, i.e. the host kernel's ARP.
    assert re.search(rb"^virtio_net: 10\.0\.2\.2 is at (?:[0-9a-f]{2}:){5}[0-9a-f]{2}$", r.stdout, re.M), describe(r)
    m = re.search(rb"tap rx_packets=(\d+)", r.stdout)
    assert m and int(m.group(1)) >= 1, describe(r)


vm_case("rng", vmon_run("--kernel", guest("virtio_rng"), *MEM, *MMIO, "--rng"))


def test_rng_gives_two_different_nonzero_blocks(vm_results):
    r = vm_results["rng"]
    assert r.returncode == PASS, describe(r)
    assert b"virtio: virtio-rng at 0xd0000000 irq 5, version 2\n" in r.stdout, describe(r)
    assert r.stdout.endswith(b"virtio_rng: all checks passed\n"), describe(r)


# The entropy device's rate limiter: the guest's two requests (one per block) at 1 op per 1500 ms, so
# the second waits at least ~1.5 s after the first (unlimited, the run takes ~0.1 s on an idle host).
# From the command line, and from a Firecracker config file with its metrics line written at the end.
RNG_REFILL_MS = 1500
vm_case("rng_limited", vmon_run("--kernel", guest("virtio_rng"), *MEM, *MMIO, f"--rng=ops=1/{RNG_REFILL_MS}"))
RNG_API_SCRIPT = r'''
dir=$(mktemp -d /tmp/vmon-rng-limit.XXXXXX)
printf '{"boot-source": {"kernel_image_path": "%s"}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
 "entropy": {"rate_limiter": {"ops": {"size": 1, "refill_time": %s}}}}' "$2" "$3" >"$dir/vm.json"
: >"$dir/metrics"
"$1" --no-api --config-file "$dir/vm.json" --metrics-path "$dir/metrics" </dev/null
echo "vmon exit: $?"
echo "metrics: $(tail -n 1 "$dir/metrics")"
rm -rf "$dir"
'''
vm_case("rng_limited_api", ["sh", "-c", RNG_API_SCRIPT, "sh", VMON, guest("virtio_rng"), str(RNG_REFILL_MS)],
        timeout=60)


def test_rng_rate_limiter_holds_the_second_request(vm_results):
    r = vm_results["rng_limited"]
    assert r.returncode == PASS, describe(r)
    assert r.stdout.endswith(b"virtio_rng: all checks passed\n"), describe(r)
    assert r.duration >= RNG_REFILL_MS / 1000 - 0.05, describe(r)


def test_rng_rate_limiter_from_the_api_counts_its_wait(vm_results):
    r = vm_results["rng_limited_api"]
    out = r.stdout.decode(errors="replace")
    assert "virtio_rng: all checks passed" in out and "vmon exit: 1" in out, describe(r)
    assert r.duration >= RNG_REFILL_MS / 1000 - 0.05, describe(r)
    metrics = json.loads(re.search(r"^metrics: (.*)$", out, re.M).group(1))
    # Two 64-byte buffers, the second held back once; cumulative over the one line written at the end.
    assert metrics["entropy"]["entropy_bytes"] == 128, metrics
    assert metrics["entropy"]["entropy_rate_limiter_throttled"] == 1, metrics


# --- the malicious guest ------------------------------------------------------------------

# attack: what vmon's warning must say (None: the attack breaks nothing, no warning expected).
ATTACKS = {
    "desc_loop": r"chain from head 0 loops",
    "indirect_loop": r"chain from head 0 loops: .* indirect table",
    "oob_addr": r"address 0xd0000000 length 512 outside guest RAM",
    "oob_wrap": r"address 0xfffffffffffff000 length 8192 outside guest RAM",
    "huge_len": r"length 4294967295",
    "wrap_idx": r"available index \d+ is \d+ ahead",
    "notify_early": None,
    "reset_mid_io": None,
    "bad_ring": r"queue 0 refused: .*0xc0000000.* outside guest RAM|0xc0000000.* outside guest RAM.*needs a reset",
    "readable_after_writable": r"device-readable descriptor after a device-writable one",
}
for attack in ATTACKS:
    vm_case(f"evil_{attack}", vmon_run("--kernel", guest("virtio_evil"), *MEM, *MMIO,
                                       "--drive", f"path={make_image('evil_' + attack)}",
                                       "--cmdline", f"attack={attack} strict=1"))


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_evil_guest_breaks_only_its_device_and_vmon_keeps_serving(vm_results, attack):
    r = vm_results[f"evil_{attack}"]
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    assert r.returncode == PASS, describe(r)
    assert f"virtio_evil: {attack} survived, device serves again\n" in out, describe(r)
    assert "virtio_evil: good read of sector 0 after the reset: ok" in out, describe(r)
    assert "AddressSanitizer" not in err and "runtime error" not in err, describe(r)
    why = ATTACKS[attack]
    if why is None:
        assert "needs a reset" not in err, describe(r)
        return
    # One warning naming the device and the broken rule, however often the guest kicks.
    lines = [line for line in err.splitlines() if re.search(why, line)]
    assert len(lines) == 1, f"want one warning matching {why!r}\n" + describe(r)
    assert "virtio-blk at 0xd0000000" in lines[0], describe(r)
    if "refused" in lines[0]:
        # bad_ring: refusing QueueReady is the other sound answer (the queue never went live).
        assert "virtio_evil: bad_ring: queue refused (QueueReady 0)" in out, describe(r)
    else:
        assert "needs a reset" in lines[0], describe(r)
        assert f"virtio_evil: {attack}: device set DEVICE_NEEDS_RESET\n" in out, describe(r)
        assert f"virtio_evil: {attack}: no request served while broken\n" in out, describe(r)


def test_evil_notify_early_is_not_served_before_driver_ok(vm_results):
    r = vm_results["evil_notify_early"]
    assert b"virtio_evil: notify_early: not served before DRIVER_OK" in r.stdout, describe(r)


def test_evil_reset_mid_io_leaves_old_rings_alone(vm_results):
    r = vm_results["evil_reset_mid_io"]
    assert re.search(rb"^virtio_evil: reset_mid_io: 8 rounds of 8 reads kicked and reset at once; "
                     rb"used before the reset:( [0-8]){8}$", r.stdout, re.M), describe(r)
    assert b"virtio_evil: reset_mid_io: old rings and buffers untouched after the reset\n" in r.stdout, describe(r)


# --- bad device options: usage errors before KVM is touched -------------------------------

ODD = os.path.join(TMP, "odd.img")
with open(ODD, "wb") as f:
    f.write(b"\0" * 1000)
MISSING = os.path.join(TMP, "no-such-dir", "missing.img")


def vmon(*args):
    return subprocess.run([VMON, "run", "--kernel", guest("virtio_blk"), *MEM, *args],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=30)


@pytest.mark.parametrize("args,message", [
    (["--drive", f"path={MISSING}"], MISSING),
    (["--drive", f"path={ODD}"], f"{ODD}: size 1000 is not a multiple of 512"),
    (["--drive", f"path={TMP}"], TMP),
    (["--drive", f"path={ODD},readonly=maybe"], "readonly"),
    (["--drive", f"path={ODD},id=" + "x" * 21], "id"),
    (["--net", "bogus"], "--net 'bogus'"),
    (["--net", "user,hostfwd=tcp::x-:22"], "hostfwd"),
    (["--net", "user,mac=zz"], "mac 'zz'"),
])
def test_bad_drive_or_net_exits_2_naming_it(args, message):
    r = vmon(*args)
    assert r.returncode == USAGE, r
    assert message.encode() in r.stderr, r.stderr


def test_one_image_twice_is_refused_by_its_lock():
    image = make_image("locked")
    r = vmon("--drive", f"path={image}", "--drive", f"path={image}")
    assert r.returncode == USAGE, r
    assert image.encode() in r.stderr and b"locked" in r.stderr, r.stderr


def test_more_devices_than_interrupt_lines_is_a_usage_error():
    drives = []
    for i in range(6):
        drives += ["--drive", f"path={make_image(f'many{i}')}"]
    r = vmon(*MMIO, *drives, "--net", "user", "--net", "user", "--rng")
    assert r.returncode == USAGE, r
    assert b"put 9 devices on virtio-mmio; its interrupt lines fit 8" in r.stderr, r.stderr


def test_more_devices_than_vmon_has_room_for_is_a_usage_error():
    # On PCI (the CLI's default) MSI-X needs no lines: the limit is vmon's 16 devices.
    drives = []
    for i in range(12):
        drives += ["--drive", f"path={make_image(f'many{i}')}"]
    r = vmon(*drives, "--net", "user", "--net", "user", "--rng", "--balloon", "amount_mib=0",
             "--vconsole", f"socket={os.path.join(TMP, 'many.sock')}")
    assert r.returncode == USAGE, r
    assert b"make 17 virtio devices; at most 16 fit" in r.stderr, r.stderr
