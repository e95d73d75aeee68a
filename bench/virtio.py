#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""virtio benchmark: vmon vs QEMU (microvm) vs the host, same polling guest.

The guest is tests/guests/virtio_bench.c: it sets the device up at CPL0,
then runs its request loop at CPL3 without port I/O (so that it runs natively
on PVM hosts too), polling the used ring (VRING_AVAIL_F_NO_INTERRUPT), and
prints "bench: start" / "bench: done N" around the loop. bench/vmm_probe timestamps those two lines on the VMM's
stdout and reports the VMM's CPU time (wait4 rusage), so for each workload:
  - requests/s = N / (time of "bench: done" - time of "bench: start");
  - MB/s = requests/s x request size (10^6 bytes);
  - VMM CPU us/request = (CPU of the run - CPU of a count=0 run) / N (wait4
    rusage): every thread of the VMM, vCPU included. KVM counts guest-mode
    time as the VMM's user time, so with a polling guest this is close to
    the vCPU's wall time per request plus the I/O threads' work. Also shown:
    the same over the loop only (/proc/PID/stat read when each mark appears,
    10 ms ticks), and its part outside guest mode (minus guest_time): the
    exits, the device emulation and the I/O itself.
Workloads: virtio-blk 4 KiB random read/write at depth 1 and at the deepest
queue the guest library allows (3 descriptors a request), 64 KiB sequential
read, against a file on the sandbox's tmpfs (/dev/shm, created there with dd);
virtio-net TX of 64- and 1500-byte frames (Ethernet frame length, behind the
12-byte virtio-net header) into a TAP interface created up front (tunctl) and
brought up, as writes to a TAP that is down fail with EIO; the TAP's rx_packets
must grow by exactly N. Host baseline: fio on the same file (psync at depth
1, libaio deeper; buffered, as tmpfs has no O_DIRECT on Linux 6.1, so
io_submit does the copies inline; 2 s each).

QEMU's CPU model: the first of host, max, qemu64 with which a count=0 run
passes (a PVM host aborts `-cpu host` and `-cpu max`: "failed to set MSR
0x10a"); a first short Runner batch tries them, and the report says what
each refused model did. tunctl (uml-utilities), fio and QEMU are installed
with scripts/install-deps.sh when missing; without tunctl the bench stops.

Everything else runs in ONE Runner batch (one sandbox boot, or directly with
/dev/kvm), repeats interleaved; medians of --repeat runs. The disk file and
the TAP are removed at the end. In the sandbox
(nested KVM under QEMU TCG) absolute numbers are far below hardware: compare
ratios.

Usage: bench/virtio.py [--build build] [--repeat 3] [--markdown] [--quick]
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from host_tools import QEMU_CPU_MODELS, ensure_tools, qemu_refusal, require_tools  # noqa: E402
from vmrunner import Runner  # noqa: E402

GUEST_MEM = "32M"
DISK = "/dev/shm/vmon-virtio-bench.img"   # inside the sandbox; must not exist on the host
DISK_MIB = 64
TAP = "vbench0"
QBOOT = "/usr/share/qemu/qboot.rom"       # microvm's firmware (QEMU 7.2 loads it by this name)
# QEMU 7.2 hw/i386/microvm.c: virtio-mmio transports are 512-byte windows from
# 0xfeb00000, IRQ 5 upwards; bus=virtio-mmio-bus.0 is the first. The guest
# finds it through the same cmdline word Linux would use.
QEMU_MICROVM = ["-M", "microvm,x-option-roms=off,rtc=on,acpi=off,auto-kernel-cmdline=off",
                "-global", "virtio-mmio.force-legacy=false"]
QEMU_VIRTIO0 = "virtio_mmio.device=512@0xfeb00000:5"
MARKS = ["bench: start", "bench: done"]
PASS_STATUS = 1   # debug_exit(0)


def max_blk_depth():
    """Deepest virtio-blk queue the guest library allows: VQ_MAX_SIZE / 3 descriptors a request."""
    with open(os.path.join(ROOT, "tests", "guests", "virtio.h")) as f:
        m = re.search(r"#define VQ_MAX_SIZE (\d+)u", f.read())
    return min(32, int(m.group(1)) // 3) if m else 16


def workloads(count_4k, count_64k, count_net, deep):
    """(key, label, device, guest cmdline, request bytes, count, fio options or None)."""
    return [
        ("rr4k1", "blk 4 KiB random read, depth 1", "blk", "op=read size=4096 depth=1", 4096, count_4k,
         dict(rw="randread", bs="4k", iodepth=1, ioengine="psync")),
        ("rw4k1", "blk 4 KiB random write, depth 1", "blk", "op=write size=4096 depth=1", 4096, count_4k,
         dict(rw="randwrite", bs="4k", iodepth=1, ioengine="psync")),
        (f"rr4k{deep}", f"blk 4 KiB random read, depth {deep}", "blk", f"op=read size=4096 depth={deep}", 4096,
         count_4k, dict(rw="randread", bs="4k", iodepth=deep, ioengine="libaio")),
        (f"rw4k{deep}", f"blk 4 KiB random write, depth {deep}", "blk", f"op=write size=4096 depth={deep}", 4096,
         count_4k, dict(rw="randwrite", bs="4k", iodepth=deep, ioengine="libaio")),
        ("sr64k1", "blk 64 KiB sequential read, depth 1", "blk", "op=read size=65536 depth=1 seq=1", 65536,
         count_64k, dict(rw="read", bs="64k", iodepth=1, ioengine="psync")),
        ("tx64", "net TX 64-byte frames", "net", "size=64", 64, count_net, None),
        ("tx1500", "net TX 1500-byte frames", "net", "size=1500", 1500, count_net, None),
    ]


def build_probe(tmp):
    probe = os.path.join(tmp, "vmm_probe")
    subprocess.run(["cc", "-O2", "-static", "-o", probe, os.path.join(HERE, "vmm_probe.c")], check=True)
    return probe


def probe_argv(probe):
    argv = [probe, "--echo"]
    for mark in MARKS:
        argv += ["--mark", mark]
    return argv + ["--"]


def counting_tap_frames(argv):
    """Wraps a net run: prints the frames the TAP received from the VMM during it (to stderr)."""
    rx = f"/sys/class/net/{TAP}/statistics/rx_packets"
    script = f'a=$(cat {rx}); "$@"; s=$?; echo "tap_rx_frames=$(($(cat {rx}) - a))" >&2; exit $s'
    return ["sh", "-c", script, "sh", *argv]


def vmon_argv(probe, vmon, guest, device, cmdline):
    dev = ["--drive", f"path={DISK}"] if device == "blk" else ["--net", f"tap={TAP}"]
    argv = probe_argv(probe) + [vmon, "run", "--kernel", guest, "--mem", GUEST_MEM, *dev, "--cmdline", cmdline]
    return argv if device == "blk" else counting_tap_frames(argv)


def qemu_argv(probe, qemu, cpu, guest, device, cmdline):
    if device == "blk":
        dev = ["-drive", f"if=none,file={DISK},format=raw,id=d0",
               "-device", "virtio-blk-device,drive=d0,bus=virtio-mmio-bus.0"]
    else:
        dev = ["-netdev", f"tap,id=n0,ifname={TAP},script=no,downscript=no",
               "-device", "virtio-net-device,netdev=n0,bus=virtio-mmio-bus.0"]
    # QEMU looks its firmware up in -L: copy it to /tmp (the sandbox has no /usr/share).
    script = 'fw=$1; shift; mkdir -p /tmp/qemu-fw && cp "$fw" /tmp/qemu-fw/qboot.rom && exec "$@"'
    argv = [*probe_argv(probe), qemu, "-L", "/tmp/qemu-fw", "-accel", "kvm", "-cpu", cpu, *QEMU_MICROVM,
            "-m", GUEST_MEM, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-serial", "stdio",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", *dev,
            "-kernel", guest, "-append", f"{QEMU_VIRTIO0} {cmdline}"]
    return ["sh", "-c", script, "sh", QBOOT, *(argv if device == "blk" else counting_tap_frames(argv))]


def fio_argv(fio, opts, runtime_s):
    return [fio, "--output-format=json", "--name=host", f"--filename={DISK}", f"--size={DISK_MIB}m",
            "--direct=0", "--norandommap", "--randrepeat=1", "--time_based", f"--runtime={runtime_s}",
            *[f"--{k}={v}" for k, v in opts.items()]]


SETUP_SCRIPT = f"""
set -e
dd if=/dev/zero of={DISK} bs=1M count={DISK_MIB} 2>/dev/null
tunctl -t {TAP} >/dev/null
sysctl -w net.ipv6.conf.{TAP}.disable_ipv6=1 >/dev/null 2>&1 || true
ip link set {TAP} up
echo "sandbox: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), \
$(grep MemTotal /proc/meminfo | tr -s ' '), kernel $(uname -r)"
ip -o link show {TAP}
"""

TEARDOWN_SCRIPT = f"rm -f {DISK} && tunctl -d {TAP} >/dev/null"

PROBE_RE = re.compile(
    r"status=(\d+) bytes=\d+ user_ms=([\d.]+) sys_ms=([\d.]+)"
    r" mark0_ms=([-\d.]+) mark0_cpu_ms=([-\d.]+) mark0_guest_ms=([-\d.]+)"
    r" mark1_ms=([-\d.]+) mark1_cpu_ms=([-\d.]+) mark1_guest_ms=([-\d.]+)")


class RunFailed(RuntimeError):
    pass


def parse_guest_run(what, result, count):
    """The probe's numbers for one run; raises RunFailed with the guest's output when it went wrong."""
    out, err = result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")
    m = PROBE_RE.search(out)
    why = None
    if result.timed_out:
        why = "timed out"
    elif not m:
        why = f"no probe line (exit {result.returncode})"
    elif int(m.group(1)) != PASS_STATUS:
        why = f"guest exit status {m.group(1)}, expected {PASS_STATUS} (pass)"
    else:
        done = re.search(r"^bench: done (\d+)$", err, re.M)
        if not done or int(done.group(1)) != count:
            why = f"'bench: done {count}' missing (got {done.group(0) if done else 'none'})"
        elif float(m.group(4)) < 0 or float(m.group(7)) < 0:
            why = "a mark was not seen"
        elif count and float(m.group(7)) <= float(m.group(4)):
            why = "the loop was too short to time (both marks arrived in one read): raise the count"
        else:
            tap = re.search(r"^tap_rx_frames=(-?\d+)$", err, re.M)
            if tap and int(tap.group(1)) != count:
                why = f"the guest sent {count} frames, the TAP received {tap.group(1)}"
    if why:
        raise RunFailed(f"{what}: {why}\n--- stdout\n{out[-2000:]}\n--- stderr (guest output, VMM messages)\n"
                        f"{err[-3000:]}")
    v = [float(x) for x in m.groups()[1:]]
    return dict(cpu_ms=v[0] + v[1], loop_ms=v[5] - v[2], loop_cpu_ms=v[6] - v[3], loop_guest_ms=v[7] - v[4],
                guest_time_known=v[3] >= 0 and v[6] >= 0)


def parse_fio(what, result):
    try:
        job = json.loads(result.stdout[result.stdout.index(b"{"):])["jobs"][0]
    except (ValueError, KeyError, IndexError):
        raise RunFailed(f"{what}: fio failed (exit {result.returncode}): {result.stdout[-1500:]!r} "
                        f"{result.stderr[-1500:]!r}")
    side = job["write"] if job["write"]["total_ios"] else job["read"]
    ios, runtime_ms = side["total_ios"], job["job_runtime"]
    return dict(rate=side["iops"], mbs=side["bw_bytes"] / 1e6,
                cpu_us=(job["usr_cpu"] + job["sys_cpu"]) / 100 * runtime_ms * 1e3 / ios if ios else None)


def pick_qemu_cpu(runner, argv_for):
    """The first of QEMU_CPU_MODELS with which QEMU runs a count=0 guest to its pass, and (model, what
    happened) for each model refused before it. One Runner batch (with the disk set up)."""
    runner.add(["sh", "-c", SETUP_SCRIPT], timeout=60)
    tries = [(cpu, runner.add(argv_for(cpu), timeout=60)) for cpu in QEMU_CPU_MODELS]
    runner.add(["sh", "-c", TEARDOWN_SCRIPT], timeout=30)
    results = runner.execute()
    refused = []
    for cpu, index in tries:
        r = results[index]
        try:
            parse_guest_run(f"qemu -cpu {cpu}", r, 0)
            return cpu, refused
        except RunFailed as e:
            why = qemu_refusal(r.stderr)
            refused.append((cpu, f"QEMU quit: {why}" if why else str(e).splitlines()[0]))
    return None, refused


def fmt(v, spec):
    return "–" if v is None else spec.format(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--count-4k", type=int, default=6000, help="requests per 4 KiB blk run")
    ap.add_argument("--count-64k", type=int, default=1500, help="requests per 64 KiB blk run")
    ap.add_argument("--count-net", type=int, default=20000, help="frames per net run")
    ap.add_argument("--fio-runtime", type=int, default=2, help="seconds per fio run")
    ap.add_argument("--quick", action="store_true", help="small counts, one repeat (a smoke test)")
    ap.add_argument("--markdown", action="store_true", help="print a table for docs/PERFORMANCE.md")
    args = ap.parse_args()
    if args.quick:
        args.repeat, args.count_4k, args.count_64k, args.count_net, args.fio_runtime = 1, 300, 100, 500, 1

    require_tools({"tunctl": "uml-utilities", "ip": "iproute2"})
    ensure_tools({"fio": "fio", "qemu-system-x86_64": "qemu-system-x86"})
    vmon = os.path.join(args.build, "vmon")
    guest = os.path.join(args.build, "tests", "guests", "virtio_bench.elf")
    for path in (vmon, guest):
        if not os.path.isfile(path):
            sys.exit(f"bench: {path} missing: build first (ninja -C {args.build})")
    qemu = shutil.which("qemu-system-x86_64")
    qemu_why = None if qemu and os.path.isfile(QBOOT) else \
        f"no {'qemu-system-x86_64' if not qemu else QBOOT} on this host (Debian package qemu-system-x86)"
    fio = shutil.which("fio")
    runner = Runner()
    if not runner.available:
        sys.exit(f"bench: no KVM: {runner.unavailable_reason}")
    deep = max_blk_depth()
    loads = workloads(args.count_4k, args.count_64k, args.count_net, deep)

    with tempfile.TemporaryDirectory() as tmp:
        probe = build_probe(tmp)
        vmms = {"vmon": lambda d, c: vmon_argv(probe, vmon, guest, d, c)}
        qemu_cpu, qemu_refused = None, []
        if not qemu_why:
            qemu_cpu, qemu_refused = pick_qemu_cpu(runner, lambda cpu: qemu_argv(
                probe, qemu, cpu, guest, "blk", "dev=blk op=read count=0"))
            if qemu_cpu:
                vmms["qemu"] = lambda d, c: qemu_argv(probe, qemu, qemu_cpu, guest, d, c)
            else:
                qemu_why = "no CPU model ran the guest"
        setup = runner.add(["sh", "-c", SETUP_SCRIPT], timeout=60)
        jobs = []   # (vmm, key, count, index)
        for _ in range(args.repeat):
            for name, argv in vmms.items():
                for device in ("blk", "net"):
                    base = f"dev={device} op=read count=0" if device == "blk" else f"dev={device} count=0"
                    jobs.append((name, f"base-{device}", 0, runner.add(argv(device, base), timeout=60)))
                for key, _, device, cmdline, _, count, _ in loads:
                    jobs.append((name, key, count,
                                 runner.add(argv(device, f"dev={device} {cmdline} count={count}"), timeout=120)))
            if fio:
                for key, *_, fio_opts in loads:
                    if fio_opts:
                        jobs.append(("fio", key, 0, runner.add(fio_argv(fio, fio_opts, args.fio_runtime),
                                                                timeout=30 + args.fio_runtime)))
        teardown = runner.add(["sh", "-c", TEARDOWN_SCRIPT], timeout=30)
        started = time.time()
        results = runner.execute()
        elapsed = time.time() - started

    if results[teardown].returncode != 0:
        print(f"bench: warning: removing {DISK} and TAP {TAP} failed: {results[teardown].stderr!r}",
              file=sys.stderr)
    s = results[setup]
    if s.returncode != 0:
        sys.exit(f"bench: sandbox set-up failed: {s.stdout!r} {s.stderr!r}")
    sandbox_info = s.stdout.decode(errors="replace").strip()

    samples = {}   # (vmm, key) -> list of per-run dicts
    failures = []
    for name, key, count, index in jobs:
        r = results[index]
        try:
            parsed = parse_fio(f"fio {key}", r) if name == "fio" else parse_guest_run(f"{name} {key}", r, count)
        except RunFailed as e:
            failures.append(str(e))
            continue
        samples.setdefault((name, key), []).append(parsed)

    def median(vmm, key, field):
        vals = [x[field] for x in samples.get((vmm, key), []) if x.get(field) is not None]
        return statistics.median(vals) if vals else None

    table = {}   # (vmm, key) -> dict of medians
    for key, label, device, _, size, count, _ in loads:
        for vmm in vmms:
            runs = samples.get((vmm, key), [])
            base = median(vmm, f"base-{device}", "cpu_ms")
            if not runs:
                continue
            known = [x for x in runs if x["guest_time_known"]]
            rates = [count / (x["loop_ms"] / 1e3) for x in runs]
            table[(vmm, key)] = dict(
                rate=statistics.median(rates), mbs=statistics.median(rates) * size / 1e6, rates=rates,
                cpu_us=statistics.median((x["cpu_ms"] - base) * 1e3 / count for x in runs) if base is not None
                else None,
                loop_us=statistics.median(x["loop_cpu_ms"] * 1e3 / count for x in known) if known else None,
                outside_us=statistics.median((x["loop_cpu_ms"] - x["loop_guest_ms"]) * 1e3 / count for x in known)
                if known else None)
        if ("fio", key) in samples:
            table[("fio", key)] = dict(rate=median("fio", key, "rate"), mbs=median("fio", key, "mbs"),
                                       cpu_us=median("fio", key, "cpu_us"),
                                       rates=[x["rate"] for x in samples[("fio", key)]])

    where = f"{runner.backend_name} backend" + (" (nested KVM under QEMU TCG)" if runner.backend_name == "sandbox"
                                                else "")
    print(f"# bench/virtio.py --repeat {args.repeat} (4k x{args.count_4k}, 64k x{args.count_64k}, "
          f"net x{args.count_net}); {time.strftime('%Y-%m-%d %H:%M %Z')}; {platform.node()} "
          f"{platform.machine()}; {where}; batch took {elapsed:.0f} s")
    print(f"# {sandbox_info}")
    for cpu, why in qemu_refused:
        print(f"# QEMU -cpu {cpu}: {why}")
    if qemu_cpu:
        print(f"# QEMU runs with -cpu {qemu_cpu}")
    if qemu_why:
        print(f"# QEMU not measured: {qemu_why}")
    if not fio:
        print("# fio not measured: no fio on this host (Debian package fio)")

    def cell(vmm, key, field, spec):
        return fmt(table.get((vmm, key), {}).get(field), spec)

    def ratio(key, field):
        v, q = table.get(("vmon", key), {}).get(field), table.get(("qemu", key), {}).get(field)
        return f"{v / q:.2f}" if v and q else "–"

    print()
    print("| workload | vmon req/s | QEMU req/s | vmon/QEMU | host fio IO/s | vmon MB/s | QEMU MB/s | fio MB/s |")
    print("|---|---|---|---|---|---|---|---|")
    for key, label, *_ in loads:
        print(f"| {label} | {cell('vmon', key, 'rate', '{:.0f}')} | {cell('qemu', key, 'rate', '{:.0f}')} "
              f"| {ratio(key, 'rate')} | {cell('fio', key, 'rate', '{:.0f}')} "
              f"| {cell('vmon', key, 'mbs', '{:.2f}')} | {cell('qemu', key, 'mbs', '{:.2f}')} "
              f"| {cell('fio', key, 'mbs', '{:.1f}')} |")
    print()
    print("| VMM CPU µs per request | vmon: run − count=0 run | QEMU: run − count=0 run | vmon: loop "
          "| QEMU: loop | vmon: loop outside guest mode | QEMU: loop outside guest mode | fio CPU µs/IO |")
    print("|---|---|---|---|---|---|---|---|")
    for key, label, *_ in loads:
        print(f"| {label} | {cell('vmon', key, 'cpu_us', '{:.0f}')} | {cell('qemu', key, 'cpu_us', '{:.0f}')} "
              f"| {cell('vmon', key, 'loop_us', '{:.0f}')} | {cell('qemu', key, 'loop_us', '{:.0f}')} "
              f"| {cell('vmon', key, 'outside_us', '{:.0f}')} | {cell('qemu', key, 'outside_us', '{:.0f}')} "
              f"| {cell('fio', key, 'cpu_us', '{:.1f}')} |")
    print()
    raw = {f"{vmm}/{key}": [round(x) for x in d["rates"]] for (vmm, key), d in table.items()}
    print(f"raw req/s (IO/s for fio): {raw}")
    base = {f"{vmm}/{key}": [round(x['cpu_ms']) for x in v] for (vmm, key), v in samples.items()
            if key.startswith("base-")}
    print(f"count=0 runs, VMM CPU ms: {base}")
    if failures:
        print(f"\n{len(failures)} run(s) FAILED:")
        for f in failures:
            print(f)
        sys.exit(1)


if __name__ == "__main__":
    main()
