# SPDX-License-Identifier: MIT
"""Linux booted by vmon: the project kernel (guest/kernel) with the project
initramfs (guest/initramfs) runs a command that reads a line typed into the
UART and echoes it back, then powers off. One boot covers: bzImage host-side
decompression, initrd, command line, the 8250 in both directions under Linux's
interrupt-driven driver, the boot-timing port, and the i8042 reset.

The kernel and initramfs come from scripts/build-guest.sh (cached); tests skip
when VMON_GUEST_BZIMAGE / VMON_GUEST_INITRD are not set (scripts/test.sh sets them)."""

import os
import re

import pytest

from conftest import PTY_RUN, describe, vm_case, vmon_run

BZIMAGE = os.environ.get("VMON_GUEST_BZIMAGE")
INITRD = os.environ.get("VMON_GUEST_INITRD")
HAVE_LINUX = bool(BZIMAGE and INITRD and os.path.exists(BZIMAGE) and os.path.exists(INITRD))

COMMAND = "read line; echo guest got: $line; uname -a; head -3 /proc/meminfo"

CMDLINE = f'console=ttyS0 reboot=k panic=-1 vmon.cmd="{COMMAND}"'

if HAVE_LINUX:
    vm_case("linux", vmon_run("--kernel", BZIMAGE, "--initrd", INITRD, "--mem", "128M", "--stats",
                              "--cmdline", CMDLINE), stdin=b"hello from the host\n", timeout=120)

# An interactive shell on a terminal (tests/integration/pty_run.c): type a command
# once the prompt shows, then exit; the shell's exit powers the guest off.
if HAVE_LINUX:
    vm_case("linux_shell", [PTY_RUN, "--wait-for", "interactive shell", "--timeout", "100",
                            r"echo answer=$((6*7))\rexit\r", "--",
                            *vmon_run("--kernel", BZIMAGE, "--initrd", INITRD, "--mem", "128M",
                                      "--cmdline", "console=ttyS0 reboot=k panic=-1")], timeout=120)

# scripts/test.sh sets VMON_REQUIRE_LINUX=1: there a missing kernel is a failure, not a skip.
needs_linux = pytest.mark.skipif(not HAVE_LINUX and os.environ.get("VMON_REQUIRE_LINUX") != "1",
                                 reason="guest kernel/initramfs not built (scripts/build-guest.sh)")


@needs_linux
def test_linux_runs_a_command_with_console_input_and_powers_off(vm_results):
    assert HAVE_LINUX, "VMON_GUEST_BZIMAGE / VMON_GUEST_INITRD do not name built files"
    r = vm_results["linux"]
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, describe(r)
    assert "guest got: hello from the host" in out, describe(r)
    assert re.search(r"^Linux \S+ 6\.1\.\S+ .*x86_64", out, re.M), describe(r)
    assert "MemTotal:" in out, describe(r)
    assert "command exited with status 0" in out, describe(r)


@needs_linux
def test_linux_init_reaches_the_boot_timing_port(vm_results):
    assert HAVE_LINUX, "VMON_GUEST_BZIMAGE / VMON_GUEST_INITRD do not name built files"
    r = vm_results["linux"]
    m = re.search(rb"guest init reached after ([\d.]+) s", r.stderr)
    assert m and float(m.group(1)) > 0, describe(r)


@needs_linux
def test_linux_interactive_shell_answers_typed_commands(vm_results):
    assert HAVE_LINUX, "VMON_GUEST_BZIMAGE / VMON_GUEST_INITRD do not name built files"
    r = vm_results["linux_shell"]
    m = re.search(rb"@@PTY status=(\d+) restored=(yes|no)@@", r.stdout)
    assert m and m.group(1) == b"0" and m.group(2) == b"yes", describe(r)
    assert b"answer=42" in r.stdout, describe(r)
    assert b"powering off" in r.stdout, describe(r)
