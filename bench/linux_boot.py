#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Linux boot times: the project kernel + initramfs (scripts/build-guest.sh) running `uname -a` and
powering off, under vmon and under QEMU 7.2 (-accel kvm, same kernel, initramfs and command line), in one
batch on one machine (inside the KVM sandbox when there is no /dev/kvm). Reports medians of --repeat runs:
vmon's time from start to the guest's init (boot-timer port, --stats) and, for both VMMs, the wall time from
VMM start to exit (bench/vmm_probe).

Usage: bench/linux_boot.py [--build build] [--repeat 3]
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

from vmrunner import Runner  # noqa: E402

QEMU_FIRMWARE = ["/usr/share/seabios/bios-256k.bin", "/usr/share/qemu/linuxboot_dma.bin",
                 "/usr/share/qemu/kvmvapic.bin"]
CMDLINE = 'console=ttyS0 reboot=k panic=-1 vmon.cmd="uname -a"'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    guest = dict(line.split("=", 1) for line in subprocess.run(
        ["sh", os.path.join(ROOT, "scripts", "build-guest.sh")], check=True, capture_output=True,
        text=True).stdout.split())
    runner = Runner()
    if not runner.available:
        sys.exit(f"bench: no KVM: {runner.unavailable_reason}")
    vmon = os.path.join(args.build, "vmon")
    qemu = shutil.which("qemu-system-x86_64")
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "vmm_probe")
        subprocess.run(["cc", "-O2", "-static", "-o", probe, os.path.join(HERE, "vmm_probe.c")], check=True)
        qemu_script = ('probe=$1 qemu=$2 kernel=$3 initrd=$4; shift 4; mkdir -p fw && cp "$@" fw/ && '
                       'exec "$probe" "$qemu" -L fw -accel kvm -cpu host -machine pc -m 128M -nodefaults '
                       '-no-user-config -display none -no-reboot -serial stdio -kernel "$kernel" '
                       f'-initrd "$initrd" -append \'{CMDLINE}\'')
        jobs = []
        for _ in range(args.repeat):
            jobs.append(("vmon", runner.add([probe, vmon, "run", "--kernel", guest["BZIMAGE"], "--initrd",
                                             guest["INITRD"], "--mem", "128M", "--stats", "--cmdline", CMDLINE],
                                            timeout=300)))
            if qemu:
                jobs.append(("qemu", runner.add(["sh", "-c", qemu_script, "sh", probe, qemu, guest["BZIMAGE"],
                                                 guest["INITRD"], *QEMU_FIRMWARE], timeout=300)))
        started = time.time()
        results = runner.execute()
        elapsed = time.time() - started
    total, init = {}, []
    for name, i in jobs:
        r = results[i]
        m = re.search(rb"total_ms=([\d.]+) maxrss_kib=\d+ status=(\d+)", r.stdout)
        # vmm_probe consumes the VMM's stdout; exit status 0 is the guest's clean power-off.
        if not m or m.group(2) != b"0":
            raise RuntimeError(f"{name}: boot failed: {r.stdout[-3000:]!r} {r.stderr[-2000:]!r}")
        total.setdefault(name, []).append(float(m.group(1)) / 1000)
        if name == "vmon":
            init.append(float(re.search(rb"guest init reached after ([\d.]+) s", r.stderr).group(1)))
    print(f"# bench/linux_boot.py --repeat {args.repeat}; {time.strftime('%Y-%m-%d')}; "
          f"{runner.backend_name} backend; batch took {elapsed:.0f} s")
    print(f"vmon: start -> init (median of {len(init)}): {statistics.median(init):.2f} s  samples {init}")
    for name, v in total.items():
        print(f"{name}: start -> exit (median of {len(v)}): {statistics.median(v):.2f} s  "
              f"samples {[round(x, 2) for x in v]}")


if __name__ == "__main__":
    main()
