#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""First benchmark: vmon vs QEMU vs a bare KVM_RUN loop, same PVH test guest.

For the pio_bench guest (tests/guests/pio_bench.c: prints '!' first, then
`iters` OUTs to port 0x80, then writes the debug-exit port), measures with
bench/vmm_probe (fork/exec, pipe on stdout, wait4):
  - time from VMM start to the guest's first serial byte (iters=1 runs);
  - the VMM's peak RSS against the guest's memory size (iters=1 runs);
  - PIO exits per second: iters / (exit time - first byte time);
and the same for QEMU (-enable-kvm, -kernel, isa-debug-exit) and, for the
exit rate, a bare KVM_RUN loop (tests/kvm-sandbox/kvm_smoke --bench), all in
one run of one machine. Medians of --repeat runs. Without /dev/kvm everything
runs inside the KVM sandbox (nested KVM under QEMU TCG), which is far slower
than hardware: compare the ratios, not the absolute numbers, across hosts.

Usage: bench/run.py [--build build] [--iters 50000] [--repeat 5] [--markdown]
"""

import argparse
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

from host_tools import ensure_tools  # noqa: E402
from vmrunner import Runner, sandbox_cache  # noqa: E402

GUEST_MEM_MIB = 32
QEMU_FIRMWARE = ["/usr/share/seabios/bios-256k.bin", "/usr/share/qemu/pvh.bin",
                 "/usr/share/qemu/linuxboot_dma.bin", "/usr/share/qemu/kvmvapic.bin"]


def build_tools(tmp):
    probe = os.path.join(tmp, "vmm_probe")
    subprocess.run(["cc", "-O2", "-static", "-o", probe, os.path.join(HERE, "vmm_probe.c")], check=True)
    smoke = os.path.join(tmp, "kvm_smoke")
    subprocess.run(["cc", "-O2", "-static", "-o", smoke, os.path.join(ROOT, "tests", "kvm-sandbox", "kvm_smoke.c")],
                   check=True)
    return probe, smoke


def parse_probe(result):
    m = re.search(rb"first_byte_ms=([\d.-]+) total_ms=([\d.]+) maxrss_kib=(\d+) status=(\d+)", result.stdout)
    if not m or result.returncode != 0:
        raise RuntimeError(f"probe failed: {result.returncode} {result.stdout!r} {result.stderr[-2000:]!r}")
    return dict(first=float(m.group(1)), total=float(m.group(2)), rss_kib=int(m.group(3)), status=int(m.group(4)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--iters", type=int, default=50000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--markdown", action="store_true", help="print a table for docs/PERFORMANCE.md")
    args = ap.parse_args()

    ensure_tools({"qemu-system-x86_64": "qemu-system-x86"})
    vmon = os.path.join(args.build, "vmon")
    guest = os.path.join(args.build, "tests", "guests", "pio_bench.elf")
    qemu = shutil.which("qemu-system-x86_64")
    runner = Runner()
    if not runner.available:
        sys.exit(f"bench: no KVM: {runner.unavailable_reason}")

    with tempfile.TemporaryDirectory() as tmp:
        probe, smoke = build_tools(tmp)
        firmware = [f for f in QEMU_FIRMWARE if os.path.exists(f)]
        vmon_argv = lambda iters: [probe, vmon, "run", "--kernel", guest, "--mem", f"{GUEST_MEM_MIB}M",
                                   "--cmdline", f"iters={iters}"]
        # QEMU looks its firmware up in -L: copy it to /tmp (the sandbox has no /usr/share).
        qemu_script = ('probe=$1 qemu=$2 guest=$3 iters=$4; shift 4; '
                       'mkdir -p /tmp/qemu-fw && cp "$@" /tmp/qemu-fw/ && '
                       'exec "$probe" "$qemu" -L /tmp/qemu-fw -accel kvm -machine pc '
                       f'-m {GUEST_MEM_MIB}M -nodefaults -no-user-config -display none -no-reboot -serial stdio '
                       '-device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$guest" -append "iters=$iters"')
        qemu_argv = lambda iters: ["sh", "-c", qemu_script, "sh", probe, qemu, guest, str(iters), *firmware]
        vmm = {"vmon": vmon_argv}
        if qemu:
            vmm["qemu"] = qemu_argv
        jobs = []
        for _ in range(args.repeat):
            for name, argv in vmm.items():
                jobs.append((name, "boot", runner.add(argv(1), timeout=120)))
                jobs.append((name, "pio", runner.add(argv(args.iters), timeout=300)))
            jobs.append(("bare", "pio", runner.add([smoke, "--bench", str(args.iters)], timeout=300)))
        started = time.time()
        results = runner.execute()
        elapsed = time.time() - started

    first, rss, rate = {}, {}, {}
    for name, kind, index in jobs:
        r = results[index]
        if name == "bare":
            m = re.search(rb"= (\d+) exits/s", r.stdout)
            if not m:
                raise RuntimeError(f"kvm_smoke --bench failed: {r.stdout!r} {r.stderr!r}")
            rate.setdefault(name, []).append(float(m.group(1)))
            continue
        p = parse_probe(r)
        if p["status"] != 1:  # debug_exit(0) = pass = status 1
            raise RuntimeError(f"{name} {kind}: guest exit status {p['status']}: {r.stderr[-2000:]!r}")
        if kind == "boot":
            first.setdefault(name, []).append(p["first"])
            rss.setdefault(name, []).append(p["rss_kib"] / 1024)
        else:
            rate.setdefault(name, []).append(args.iters / ((p["total"] - p["first"]) / 1000))

    med = {k: {n: statistics.median(v) for n, v in d.items()} for k, d in
           (("first", first), ("rss", rss), ("rate", rate))}
    where = f"{runner.backend_name} backend" + (" (nested KVM under QEMU TCG)" if runner.backend_name == "sandbox"
                                                else "")
    print(f"# bench/run.py --iters {args.iters} --repeat {args.repeat}; {time.strftime('%Y-%m-%d')}; "
          f"{platform.node()} {platform.processor() or platform.machine()}; {where}; batch took {elapsed:.0f} s")
    rows = [
        ("start → first serial byte (ms)", "first", "{:.1f}", False),
        (f"VMM peak RSS (MiB) for a {GUEST_MEM_MIB} MiB guest", "rss", "{:.1f}", False),
        ("PIO exits per second", "rate", "{:.0f}", True),
    ]
    print("| metric | vmon | QEMU 7.2 | bare KVM_RUN loop | vmon/QEMU | vmon/bare |")
    print("|---|---|---|---|---|---|")
    for label, key, fmt, has_bare in rows:
        v = med[key].get("vmon")
        q = med[key].get("qemu")
        b = med[key].get("bare") if has_bare else None
        cells = [fmt.format(x) if x is not None else "–" for x in (v, q, b)]
        ratios = [f"{v / q:.2f}" if q else "–", f"{v / b:.2f}" if b else "–"]
        print(f"| {label} | " + " | ".join(cells + ratios) + " |")
    print(f"\nraw: {dict(first=first, rss=rss, rate=rate)}")


if __name__ == "__main__":
    main()
