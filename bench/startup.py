#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Start-up benchmark (issue 9): vmon vs QEMU microvm vs a bare KVM program, side by side in one run.

Each VMM boots the one-byte PVH guest (tests/guests/first_byte.S: '!' to COM1, 0 to the debug-exit
port, six instructions) with 64 MiB of RAM; bench/vmm_probe measures, from fork:
  - first byte: the time to the guest's first byte on the VMM's stdout (start-up);
  - peak RSS of the VMM process (wait4), guest pages it touched included;
  - exit: the time to the VMM's exit, for reference only: closing a KVM VM costs tens of ms of
    in-kernel teardown on some hosts (PVM), for every VMM alike, so start-up is measured to the byte.
The three are:
  - vmon: `vmon run --kernel first_byte.elf --mem 64M` (its default options);
  - QEMU: `-M microvm` (qboot firmware, no option ROMs, ACPI or RTC), `-kernel` the same ELF through
    QEMU's PVH loader, isa-debug-exit; the first CPU model of host_tools.QEMU_CPU_MODELS it runs with;
  - bare: bench/bare_kvm.c, the least a KVM program does for this guest (VM, memory, irqchip + PIT,
    one vCPU, PVH entry registers, KVM_RUN to the port writes), static;
  - bare + CPUID: the same with KVM_GET_SUPPORTED_CPUID + KVM_SET_CPUID2 before the first KVM_RUN,
    which any VMM for real guests must add (and which is slow where the host is itself a guest).
Runs are interleaved (one of each in turn, the order rotated every round) so that load drifting on a
shared machine hits all three alike; medians of --repeat runs, with min and max. Through
tests/integration/vmrunner.py, so without /dev/kvm it runs in the KVM sandbox (nested KVM under TCG:
compare ratios, not absolute times, across hosts).

Usage: bench/startup.py [--build build] [--repeat 11] [--pause-ms 200] [--also LABEL=VMON]... [--no-qemu]
"""

import argparse
import os
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

from host_tools import QEMU_CPU_MODELS, ensure_tools, machine_line, qemu_refusal  # noqa: E402
from vmrunner import Runner  # noqa: E402

GUEST_MEM = "64M"
PASS_STATUS = 1          # debug_exit(0): QEMU's isa-debug-exit convention, 2 * 0 + 1
QBOOT = "/usr/share/qemu/qboot.rom"   # microvm's firmware (QEMU 7.2 loads it by this name)
QEMU_MICROVM = "microvm,x-option-roms=off,rtc=off,acpi=off,auto-kernel-cmdline=off"
# Done-when of issue 9: vmon within this factor of the bare program, and this peak RSS.
TARGET_RATIO = 1.3
TARGET_RSS_MIB = 4.0
PROBE_RE = re.compile(rb"first_byte_ms=([\d.-]+) total_ms=([\d.]+) maxrss_kib=(\d+) status=(\d+) bytes=(\d+)")


class RunFailed(RuntimeError):
    pass


def build_tools(tmp):
    out = {}
    for name in ("vmm_probe", "bare_kvm"):
        out[name] = os.path.join(tmp, name)
        subprocess.run(["cc", "-O2", "-static", "-Wall", "-Wextra", "-Werror", "-o", out[name],
                        os.path.join(HERE, name + ".c")], check=True)
    return out


def qemu_argv(probe, qemu, cpu, guest):
    # QEMU looks its firmware up in -L: copy it to /tmp (the sandbox has no /usr/share).
    script = 'fw=$1; shift; mkdir -p /tmp/qemu-fw && cp "$fw" /tmp/qemu-fw/qboot.rom && exec "$@"'
    return ["sh", "-c", script, "sh", QBOOT, probe, qemu, "-L", "/tmp/qemu-fw", "-accel", "kvm", "-cpu", cpu,
            "-M", QEMU_MICROVM, "-m", GUEST_MEM, "-nodefaults", "-no-user-config", "-display", "none",
            "-no-reboot", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-kernel", guest]


def parse(what, result):
    m = PROBE_RE.search(result.stdout)
    if result.returncode != 0 or not m:
        raise RunFailed(f"{what}: probe failed (exit {result.returncode}): {result.stdout[-500:]!r} "
                        f"{result.stderr[-1500:]!r}")
    first, total, rss_kib, status, nbytes = m.groups()
    if int(status) != PASS_STATUS or int(nbytes) != 1 or float(first) < 0:
        raise RunFailed(f"{what}: exit status {int(status)}, {int(nbytes)} bytes out (want {PASS_STATUS}, 1): "
                        f"{result.stderr[-1500:]!r}")
    return dict(first=float(first), total=float(total), rss=int(rss_kib) / 1024)


def pick_qemu_cpu(runner, argv_for):
    """The first CPU model QEMU boots the guest with, and (model, why) for each refused before it."""
    tries = [(cpu, runner.add(argv_for(cpu), timeout=60)) for cpu in QEMU_CPU_MODELS]
    results = runner.execute()
    refused = []
    for cpu, index in tries:
        try:
            parse(f"qemu -cpu {cpu}", results[index])
            return cpu, refused
        except RunFailed as e:
            why = qemu_refusal(results[index].stderr)
            refused.append((cpu, f"QEMU quit: {why}" if why else str(e).splitlines()[0]))
    return None, refused


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--repeat", type=int, default=11, help="runs of each VMM (medians; at least 9 for a report)")
    ap.add_argument("--pause-ms", type=int, default=200, help="pause before each run (default 200)")
    ap.add_argument("--also", action="append", default=[], metavar="LABEL=VMON",
                    help="another vmon binary in the same interleaved runs (e.g. a build before a change)")
    ap.add_argument("--no-qemu", action="store_true", help="vmon and the bare program only")
    args = ap.parse_args()

    vmon = os.path.join(args.build, "vmon")
    guest = os.path.join(args.build, "tests", "guests", "first_byte.elf")
    for path in (vmon, guest):
        if not os.path.isfile(path):
            sys.exit(f"bench: {path} missing: build first (ninja -C {args.build})")
    if not args.no_qemu:
        ensure_tools({"qemu-system-x86_64": "qemu-system-x86"})
    qemu = None if args.no_qemu else shutil.which("qemu-system-x86_64")
    runner = Runner()
    if runner.unavailable_reason:
        sys.exit(f"bench: no KVM: {runner.unavailable_reason}")

    with tempfile.TemporaryDirectory() as tmp:
        tools = build_tools(tmp)
        probe = tools["vmm_probe"]
        argv = {"vmon": [probe, vmon, "run", "--kernel", guest, "--mem", GUEST_MEM],
                "bare": [probe, tools["bare_kvm"]],
                "bare_cpuid": [probe, tools["bare_kvm"], "--cpuid"]}
        for extra in args.also:
            label, _, path = extra.partition("=")
            if not label or not os.path.isfile(path) or label in argv:
                sys.exit(f"bench: --also {extra}: want LABEL=PATH of a vmon binary, LABEL unused")
            argv[label] = [probe, path, "run", "--kernel", guest, "--mem", GUEST_MEM]
        qemu_cpu, qemu_refused = None, []
        if qemu and os.path.isfile(QBOOT):
            qemu_cpu, qemu_refused = pick_qemu_cpu(runner, lambda cpu: qemu_argv(probe, qemu, cpu, guest))
            if qemu_cpu:
                argv["qemu"] = qemu_argv(probe, qemu, qemu_cpu, guest)
        elif qemu:
            qemu_refused = [("-", f"{QBOOT} missing (Debian package qemu-system-data)")]
        names = list(argv)
        jobs = []
        # A pause before each run (not timed: the probe's clock starts at its fork) lets the kernel's
        # deferred work from the previous VM's teardown finish before the next VMM starts.
        pause = ["sh", "-c", f'sleep {args.pause_ms / 1000:.3f}; exec "$@"', "sh"]
        for i in range(args.repeat):
            for k in range(len(names)):
                name = names[(i + k) % len(names)]
                jobs.append((name, runner.add(pause + argv[name], timeout=60)))
        load_before = os.getloadavg()
        started = time.time()
        results = runner.execute()
        elapsed = time.time() - started
        load_after = os.getloadavg()

    samples = {name: [] for name in names}
    for name, index in jobs:
        samples[name].append(parse(name, results[index]))

    def med(name, key):
        return statistics.median(s[key] for s in samples[name])

    print(f"# bench/startup.py --repeat {args.repeat}; {time.strftime('%Y-%m-%d %H:%M %Z')}; "
          f"{machine_line(runner.backend_name)}; {runner.backend_name} backend; batch {elapsed:.1f} s; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    for cpu, why in qemu_refused:
        print(f"# QEMU -cpu {cpu}: {why}")
    if qemu_cpu:
        print(f"# QEMU: -cpu {qemu_cpu} -M {QEMU_MICROVM}")
    labels = {"vmon": "vmon", "qemu": "QEMU microvm", "bare": "bare KVM program",
              "bare_cpuid": "bare KVM program + CPUID"}
    print()
    print("| VMM | first byte, median (ms) | lower quartile (ms) | min – max (ms) | peak RSS, median (MiB) "
          "| to exit, median (ms) | first byte / bare | / bare + CPUID |")
    print("|---|---|---|---|---|---|---|---|")
    bare, bare_cpuid = med("bare", "first"), med("bare_cpuid", "first")
    for name in ["vmon", *[n for n in names if n not in labels], "qemu", "bare", "bare_cpuid"]:
        if name not in samples:
            continue
        firsts = sorted(s["first"] for s in samples[name])
        print(f"| {labels.get(name, name)} | {med(name, 'first'):.2f} | {firsts[len(firsts) // 4]:.2f} "
              f"| {firsts[0]:.2f} – {firsts[-1]:.2f} | {med(name, 'rss'):.1f} | {med(name, 'total'):.1f} "
              f"| {med(name, 'first') / bare:.2f} | {med(name, 'first') / bare_cpuid:.2f} |")
    ratio = med("vmon", "first") / bare
    rss = med("vmon", "rss")
    print()
    met_ratio = 'met' if ratio <= TARGET_RATIO else 'NOT met'
    print(f"vmon / bare first byte: {ratio:.2f} (target <= {TARGET_RATIO}: {met_ratio});"
          f" vmon peak RSS {rss:.2f} MiB (target < {TARGET_RSS_MIB}: {'met' if rss < TARGET_RSS_MIB else 'NOT met'})")
    for name in names:
        print(f"raw {name} first byte (ms): " + ", ".join(f"{s['first']:.2f}" for s in samples[name]))


if __name__ == "__main__":
    main()
