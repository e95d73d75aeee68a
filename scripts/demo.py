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

# vmon's exit status (vmon --help): 0 = the guest reset or powered off; 2n+1 = the guest wrote n to the
# debug-exit port 0xf4, where the test guests write 0 for "all checks passed" and n >= 1 for failure n.
RESET_OR_POWER_OFF = 0
DEBUG_EXIT_PASS = 1
VMON_STATUS = {2: "vmon refused the command line or the image", 4: "the guest crashed (see vmon's message)",
               6: "a host error (see vmon's message)", 130: "vmon was interrupted (SIGINT)",
               137: "vmon was killed (SIGKILL)", 143: "vmon was terminated (SIGTERM)"}

# (title, argv, stdin, how the guest ends when it passes)
RUNS = [
    ("hello: serial console, boot via PVH, guest resets through the i8042",
     [VMON, "run", "--kernel", guest("hello"), "--mem", "32M", "--cmdline", "console=ttyS0 demo=1", "--stats"], b"",
     RESET_OR_POWER_OFF),
    ("uart_irq: interrupt-driven UART, a line piped into the guest comes back upper-cased",
     [VMON, "run", "--kernel", guest("uart_irq"), "--mem", "32M"], b"hello from the host\n", DEBUG_EXIT_PASS),
    ("rtc: the guest reads the CMOS clock",
     [VMON, "run", "--kernel", guest("rtc"), "--mem", "32M"], b"", DEBUG_EXIT_PASS),
]
if BZIMAGE and INITRD:
    RUNS.append(("Linux 6.1 (project kernel + busybox initramfs) runs uname -a and reads /proc, then powers off",
                 [VMON, "run", "--kernel", BZIMAGE, "--initrd", INITRD, "--mem", "128M", "--stats", "--cmdline",
                  f'console=ttyS0 reboot=k panic=-1 quiet vmon.cmd="{LINUX_CMD}"'], b"", RESET_OR_POWER_OFF))


def outcome(status, timed_out, passing):
    """What the guest reported, in words: (passed, sentence)."""
    if timed_out:
        return False, "the guest did not finish within the demo's time limit; vmon was stopped"
    if status == RESET_OR_POWER_OFF:
        what = "the guest reset (or powered off) the machine"
    elif status % 2 == 1:
        n = (status - 1) // 2
        what = ("the guest wrote 0 to the debug-exit port 0xf4, the test guests' \"all checks passed\"" if n == 0
                else f"the guest wrote {n} to the debug-exit port 0xf4, its failure code {n} (its FAIL line above "
                "says why)")
    else:
        what = VMON_STATUS.get(status, "an unexpected vmon exit status")
    passed = status == passing
    return passed, f"{'PASS' if passed else 'FAILED'}: {what} (vmon exit status {status})"


def main():
    runner = Runner()
    if not runner.available:
        sys.exit(f"demo: no KVM to run guests on: {runner.unavailable_reason}")
    if runner.backend_name == "sandbox":
        print("demo: this host has no /dev/kvm; running vmon inside the KVM sandbox (tests/kvm-sandbox)\n")
    for _, argv, stdin, _ in RUNS:
        runner.add(argv, stdin=stdin, timeout=120)
    ok = True
    for (title, argv, _, passing), r in zip(RUNS, runner.execute()):
        print(f"=== {title}")
        print("$ vmon " + " ".join(os.path.basename(a) if os.path.isabs(a) else a for a in argv[1:]))
        sys.stdout.write(r.stdout.decode(errors="replace"))
        sys.stdout.write(r.stderr.decode(errors="replace"))
        passed, sentence = outcome(r.returncode, r.timed_out, passing)
        print(f"[{sentence}]\n")
        ok &= passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
