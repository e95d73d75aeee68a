#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The demo: vmon boots three test guests and shows what they print.
On a host without /dev/kvm it runs them inside the KVM sandbox."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from vmrunner import Runner  # noqa: E402

BUILD = os.path.join(ROOT, "build")
VMON = os.path.join(BUILD, "vmon")


def guest(name):
    return os.path.join(BUILD, "tests", "guests", f"{name}.elf")


BZIMAGE = os.environ.get("VMON_GUEST_BZIMAGE")
INITRD = os.environ.get("VMON_GUEST_INITRD")
LINUX_CMD = "uname -a; echo; head -4 /proc/cpuinfo; grep -E 'MemTotal|MemFree' /proc/meminfo; cat /proc/uptime"

RUNS = [
    ("hello: serial console, boot via PVH, guest resets through the i8042",
     [VMON, "run", "--kernel", guest("hello"), "--mem", "32M", "--cmdline", "console=ttyS0 demo=1", "--stats"], b""),
    ("uart_irq: interrupt-driven UART, a line piped into the guest comes back upper-cased",
     [VMON, "run", "--kernel", guest("uart_irq"), "--mem", "32M"], b"hello from the host\n"),
    ("rtc: the guest reads the CMOS clock",
     [VMON, "run", "--kernel", guest("rtc"), "--mem", "32M"], b""),
]
if BZIMAGE and INITRD:
    RUNS.append(("Linux 6.1 (project kernel + busybox initramfs) runs uname -a and reads /proc, then powers off",
                 [VMON, "run", "--kernel", BZIMAGE, "--initrd", INITRD, "--mem", "128M", "--stats", "--cmdline",
                  f'console=ttyS0 reboot=k panic=-1 quiet vmon.cmd="{LINUX_CMD}"'], b""))


def main():
    runner = Runner()
    if not runner.available:
        sys.exit(f"demo: no KVM to run guests on: {runner.unavailable_reason}")
    if runner.backend_name == "sandbox":
        print("demo: this host has no /dev/kvm; running vmon inside the KVM sandbox (tests/kvm-sandbox)\n")
    for _, argv, stdin in RUNS:
        runner.add(argv, stdin=stdin, timeout=120)
    ok = True
    for (title, argv, _), r in zip(RUNS, runner.execute()):
        print(f"=== {title}")
        print("$ vmon " + " ".join(os.path.basename(a) if os.path.isabs(a) else a for a in argv[1:]))
        sys.stdout.write(r.stdout.decode(errors="replace"))
        sys.stdout.write(r.stderr.decode(errors="replace"))
        print(f"[vmon exit status {r.returncode}]\n")
        ok &= r.returncode in (0, 1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
