# SPDX-License-Identifier: MIT
"""The same PVH guest file under QEMU (-kernel, isa-debug-exit) and under vmon
ends with the same serial output and exit status. QEMU runs with TCG here, so
it needs no KVM; vmon's runs come from the session batch."""

import os
import shutil
import subprocess

import pytest

from conftest import describe, guest, vm_case, vmon_run

QEMU = shutil.which("qemu-system-x86_64")

# Guests whose output depends on nothing but the devices' specified behaviour.
# (i8042_reset prints the controller status, whose bit 3 records SeaBIOS's
# last access under QEMU; unknown_port reads unmapped MMIO, all ones in vmon
# and zero in QEMU.)
CASES = {
    "hello": "console=ttyS0 greeting=hi",
    "debug_exit": "exit=5",
}

for name, cmdline in CASES.items():
    vm_case(f"parity_{name}", vmon_run("--kernel", guest(name), "--mem", "32M", "--cmdline", cmdline))


def run_qemu(name, cmdline):
    accel = ["-accel", "kvm"] if os.access("/dev/kvm", os.R_OK | os.W_OK) else ["-accel", "tcg"]
    argv = [QEMU, *accel, "-machine", "pc", "-m", "32M", "-nodefaults", "-no-user-config",
            "-display", "none", "-no-reboot", "-serial", "stdio", "-kernel", guest(name), "-append", cmdline,
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)


@pytest.mark.skipif(QEMU is None, reason="qemu-system-x86_64 is not installed")
@pytest.mark.parametrize("name", list(CASES))
def test_same_output_and_status_as_qemu(vm_results, name):
    q = run_qemu(name, CASES[name])
    v = vm_results[f"parity_{name}"]
    assert v.stdout == q.stdout, f"QEMU printed:\n{q.stdout.decode(errors='replace')}\n" + describe(v)
    assert v.returncode == q.returncode, f"QEMU exited {q.returncode}\n" + describe(v)
