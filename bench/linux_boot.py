#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Linux boot times: the project kernel + initramfs (scripts/build-guest.sh) running `uname -a` and
powering off, under vmon and under QEMU 7.2 (-accel kvm, same kernel, initramfs and command line), on one
machine (inside the KVM sandbox when there is no /dev/kvm).

vmon: --repeat runs; medians of the time from start to the guest's init (boot-timer port, --stats) and
from start to exit (bench/vmm_probe), plus what vmon --stats counted in each run: exits by reason,
instructions emulated in the monitor by kind and syscalls repaired (on hosts that run guest ring 0 in an
emulator, e.g. PVM; zero elsewhere).

QEMU: a peer that cannot run is a result, not a crash. Its CPU models are tried in the order host, max,
qemu64, each with a wall-time budget (default: vmon's median start -> exit time, so both get the same
time): a model QEMU refuses (it quits with an error, e.g. "failed to set MSR 0x10a" on a PVM host) is
reported with QEMU's message and the next is tried; a model that boots to power-off is timed like vmon
(--repeat runs); a model that is still running when the budget runs out is reported with how far the
guest got (which console milestones it printed, and when, and its last console line) and ends the
search.

Usage: bench/linux_boot.py [--build build] [--repeat 3] [--qemu-budget SECONDS]
"""

import argparse
import math
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

from host_tools import QEMU_CPU_MODELS, ensure_tools, qemu_refusal  # noqa: E402
from vmrunner import Runner  # noqa: E402

QEMU_FIRMWARE = ["/usr/share/seabios/bios-256k.bin", "/usr/share/qemu/linuxboot_dma.bin",
                 "/usr/share/qemu/kvmvapic.bin"]
CMDLINE = 'console=ttyS0 reboot=k panic=-1 vmon.cmd="uname -a"'
# Console milestones, timed by vmm_probe from VMM start (the kernel's first console line is its banner,
# replayed from the log buffer when the serial console registers).
MILESTONES = [("kernel banner", "Linux version"), ("init started", "Run /init as init process"),
              ("KVM internal error", "KVM internal error")]   # QEMU's message when KVM cannot go on
KILLED = 128 + 9
VMON_TIMEOUT_S = 600

PROBE_RE = re.compile(r"first_byte_ms=([-\d.]+) total_ms=([\d.]+) maxrss_kib=\d+ status=(\d+)")


def probe_argv(probe):
    argv = [probe, "--echo"]
    for _, text in MILESTONES:
        argv += ["--mark", text]
    return argv + ["--"]


def parse_probe(result):
    """(status, total_s, {milestone: seconds}) from vmm_probe's line, or None without one."""
    out = result.stdout.decode(errors="replace")
    m = PROBE_RE.search(out)
    if not m:
        return None
    seen = {}
    for i, (name, _) in enumerate(MILESTONES):
        at = re.search(rf"mark{i}_ms=([-\d.]+)", out)
        if at and float(at.group(1)) >= 0:
            seen[name] = float(at.group(1)) / 1000
    return int(m.group(3)), float(m.group(2)) / 1000, seen


def vmon_stats(stderr):
    """What vmon --stats printed: init time, exits by reason, emulated instructions by kind."""
    text = stderr.decode(errors="replace")
    init = re.search(r"guest init reached after ([\d.]+) s", text)
    stats = dict(init_s=float(init.group(1)) if init else None, exits={}, emulated={}, emulated_total=0)
    section = None
    for line in text.splitlines():
        head = re.match(r"vmon: (exits|emulated in the monitor): (\d+)$", line)
        item = re.match(r"vmon:   (\S.*?)\s+(\d+)$", line)
        if head:
            section = "exits" if head.group(1) == "exits" else "emulated"
            if section == "emulated":
                stats["emulated_total"] = int(head.group(2))
        elif item and section:
            stats[section][item.group(1)] = int(item.group(2))
        else:
            section = None
    return stats


def last_console_line(stderr):
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines()
             if ln.strip() and not re.match(r"(qemu-system-\w+|vmon): ", ln)]
    return lines[-1][-160:] if lines else None


def qemu_script(budget_s):
    # QEMU looks its firmware up in -L (the sandbox has no /usr/share; a fixed /tmp folder, not the
    # current one, which is the checkout when run directly); timeout kills it at the budget so
    # that vmm_probe still reports the milestones it saw; QEMU's stderr joins its console on stdout, where
    # vmm_probe times its messages too.
    return ('probe=$1 qemu=$2 cpu=$3 kernel=$4 initrd=$5; shift 5; '
            'mkdir -p /tmp/qemu-fw && cp "$@" /tmp/qemu-fw/ && '
            f'exec "$probe" --echo {" ".join(f"--mark {t!r}" for _, t in MILESTONES)} -- '
            f'timeout -s KILL {budget_s} sh -c \'exec "$0" "$@" 2>&1\' "$qemu" -L /tmp/qemu-fw '
            '-accel kvm -cpu "$cpu" -machine pc -m 128M -nodefaults -no-user-config -display none -no-reboot '
            '-serial stdio -kernel "$kernel" '
            f'-initrd "$initrd" -append \'{CMDLINE}\'')


def kvm_internal_error(stderr):
    """QEMU's report of a KVM internal error (it then keeps the VM paused): suberror, RIP and the bytes
    from the failing one on (QEMU's Code= line marks it <..>), or None."""
    text = stderr.decode(errors="replace")
    sub = re.search(r"KVM internal error\. Suberror: (\d+)", text)
    if not sub:
        return None
    rip = re.search(r"RIP=([0-9a-f]+)", text)
    code = re.search(r"Code=.*?<([0-9a-f]{2})>((?: [0-9a-f]{2}){0,7})", text)
    return (f"KVM internal error, suberror {sub.group(1)}{' (emulation failure)' if sub.group(1) == '1' else ''}"
            f"{f' at RIP {rip.group(1)}' if rip else ''}"
            f"{f', instruction bytes {code.group(1)}{code.group(2)}' if code else ''}")


def describe_milestones(seen):
    return ", ".join(f"{name} at {seen[name]:.1f} s" for name, _ in MILESTONES if name in seen) or \
        "no console output"


def run_qemu(runner, probe, qemu, guest, repeat, budget_s):
    """Tries QEMU_CPU_MODELS; returns (lines describing each try, {cpu: [start -> exit seconds]})."""
    report, totals = [], {}
    for cpu in QEMU_CPU_MODELS:
        argv = ["sh", "-c", qemu_script(budget_s), "sh", probe, qemu, cpu, guest["BZIMAGE"], guest["INITRD"],
                *QEMU_FIRMWARE]
        r = runner.run(argv, timeout=budget_s + 60)
        parsed = parse_probe(r)
        if not parsed:
            report.append(f"-cpu {cpu}: no measurement (exit {r.returncode}): {r.stderr[-400:]!r}")
            continue
        status, total, seen = parsed
        if status == 0:
            samples = [total]
            if repeat > 1:
                for _ in range(repeat - 1):
                    runner.add(argv, timeout=budget_s + 60)
                samples += [p[1] for p in map(parse_probe, runner.execute()) if p and p[0] == 0]
            totals[cpu] = samples
            report.append(f"-cpu {cpu}: powered off; start -> exit median of {len(samples)}: "
                          f"{statistics.median(samples):.2f} s, samples {[round(x, 2) for x in samples]}; "
                          f"{describe_milestones(seen)} (first run)")
            break
        if status == KILLED:
            error = kvm_internal_error(r.stderr)
            report.append(f"-cpu {cpu}: " + (
                f"stopped: {error}; QEMU kept the VM paused until the {budget_s} s budget ran out; "
                if error else f"stalled: still running after the {budget_s} s budget, killed; ") +
                f"{describe_milestones(seen)}" + ("" if error else
                                                  f"; last console line: {last_console_line(r.stderr)!r}"))
            break
        why = qemu_refusal(r.stderr)
        report.append(f"-cpu {cpu}: " + (f"aborted after {total:.2f} s (status {status}): {why}" if why else
                                         f"exited with status {status} after {total:.2f} s; "
                                         f"{describe_milestones(seen)}; last console line: "
                                         f"{last_console_line(r.stderr)!r}"))
    return report, totals


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--qemu-budget", type=int, default=None,
                    help="seconds each QEMU try may run (default: vmon's median start -> exit, rounded up)")
    args = ap.parse_args()
    ensure_tools({"qemu-system-x86_64": "qemu-system-x86"})
    built = subprocess.run(["sh", os.path.join(ROOT, "scripts", "build-guest.sh")], capture_output=True, text=True)
    if built.returncode != 0:
        sys.exit(f"bench: scripts/build-guest.sh failed (exit {built.returncode}):\n{built.stderr[-3000:]}")
    guest = dict(line.split("=", 1) for line in built.stdout.split())
    vmon = os.path.join(args.build, "vmon")
    if not os.path.isfile(vmon):
        sys.exit(f"bench: {vmon} missing: build first (ninja -C {args.build})")
    runner = Runner()
    if not runner.available:
        sys.exit(f"bench: no KVM: {runner.unavailable_reason}")
    qemu = shutil.which("qemu-system-x86_64")
    qemu_why = None
    if not qemu:
        qemu_why = "no qemu-system-x86_64 (Debian package qemu-system-x86)"
    elif not all(os.path.isfile(f) for f in QEMU_FIRMWARE):
        qemu_why = f"QEMU firmware missing: {[f for f in QEMU_FIRMWARE if not os.path.isfile(f)]}"

    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "vmm_probe")
        subprocess.run(["cc", "-O2", "-static", "-o", probe, os.path.join(HERE, "vmm_probe.c")], check=True)
        for _ in range(args.repeat):
            runner.add([*probe_argv(probe), vmon, "run", "--kernel", guest["BZIMAGE"], "--initrd", guest["INITRD"],
                        "--mem", "128M", "--stats", "--cmdline", CMDLINE], timeout=VMON_TIMEOUT_S)
        started = time.time()
        runs = []
        for r in runner.execute():
            parsed = parse_probe(r)
            # vmm_probe consumes vmon's stdout (echoed to stderr); status 0 is the guest's clean power-off.
            if not parsed or parsed[0] != 0:
                sys.exit(f"bench: vmon: boot failed (exit {r.returncode}{', timed out' if r.timed_out else ''}):"
                         f" {r.stdout[-1000:]!r}\n{r.stderr.decode(errors='replace')[-3000:]}")
            runs.append(dict(total=parsed[1], seen=parsed[2], **vmon_stats(r.stderr)))
        vmon_elapsed = time.time() - started
        totals = [x["total"] for x in runs]
        budget = args.qemu_budget or math.ceil(statistics.median(totals))
        qemu_report, qemu_totals = [f"not measured: {qemu_why}"], {}
        if not qemu_why:
            qemu_report, qemu_totals = run_qemu(runner, probe, qemu, guest, args.repeat, budget)

    print(f"# bench/linux_boot.py --repeat {args.repeat}; {time.strftime('%Y-%m-%d')}; "
          f"{runner.backend_name} backend; vmon's runs took {vmon_elapsed:.0f} s")
    print(f"# kernel {guest['BZIMAGE']}, initramfs {guest['INITRD']}, cmdline {CMDLINE}")
    inits = [x["init_s"] for x in runs if x["init_s"] is not None]
    if inits:
        print(f"vmon: start -> init (median of {len(inits)}): {statistics.median(inits):.2f} s  samples {inits}")
    print(f"vmon: start -> exit (median of {len(totals)}): {statistics.median(totals):.2f} s  "
          f"samples {[round(x, 2) for x in totals]}")
    for i, x in enumerate(runs, 1):
        emulated = ", ".join(f"{k} {v}" for k, v in x["emulated"].items())
        exits = ", ".join(f"{k} {v}" for k, v in x["exits"].items())
        print(f"vmon run {i}: {describe_milestones(x['seen'])}; syscalls repaired: "
              f"{x['emulated'].get('syscall repair', 0)}; emulated in the monitor: {x['emulated_total']}"
              f"{f' ({emulated})' if emulated else ''}; exits: {exits}")
    print(f"qemu (budget {budget} s a try):")
    for line in qemu_report:
        print(f"  {line}")


if __name__ == "__main__":
    main()
