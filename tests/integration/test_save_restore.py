# SPDX-License-Identifier: MIT
"""The machine model, end to end: while test guests run, vmon pauses them every few ms, saves every
device's and vCPU's state, resets all of them, restores the saved state and resumes
(--test-save-restore). The guests check their own work continuously (system calls from user mode,
interrupt-driven UART, virtio-blk requests, a virtio-net receive flood, APs started on 4 vCPUs), so a state the restore
misses or gets wrong makes them fail; each run must also have done restore rounds (--stats)."""

import re

from conftest import VMON, describe, guest, vm_case, vmon_run
from test_virtio import FLOOD_FRAMES, UDP_FLOOD, flood_len, make_image

MEM = ["--mem", "32M"]
# The freestanding guests drive virtio-mmio (tests/guests/virtio.c); vmon's CLI default is PCI.
MMIO = ["--virtio-transport", "mmio"]
PASS = 1  # debug-exit 0


def rounds(result):
    m = re.search(rb"save/restore rounds: (\d+)", result.stderr)
    return int(m.group(1)) if m else -1


vm_case("sr_syscall", vmon_run("--kernel", guest("syscall_cpl3"), *MEM, "--cmdline", "calls=20000",
                               "--test-save-restore", "2", "--stats"), timeout=120)
vm_case("sr_uart", vmon_run("--kernel", guest("uart_irq"), *MEM, "--test-save-restore", "1", "--stats"),
        stdin=b"hello world\n", timeout=60)
SR_BLK = make_image("sr_blk")
vm_case("sr_blk", vmon_run("--kernel", guest("virtio_blk"), *MEM, *MMIO, "--drive", f"path={SR_BLK},id=test-disk-0",
                           "--cmdline", "capacity=16 write=8 id=test-disk-0", "--test-save-restore", "1", "--stats"),
        timeout=60)
vm_case("sr_net_flood", [UDP_FLOOD, FLOOD_FRAMES, *vmon_run("--kernel", guest("virtio_net_flood"), *MEM, *MMIO,
                                                            "--net", "user", "--cmdline",
                                                            f"port=@PORT@ count={FLOOD_FRAMES}",
                                                            "--test-save-restore", "1", "--stats")],
        timeout=120)


# hold=1: the guest's start-up takes 45-150 ms, in which a loaded host may run no round; one more RTC
# second of running makes sure rounds meet the 4 vCPUs (the count is checked).
vm_case("sr_smp", vmon_run("--kernel", guest("smp"), *MEM, "--cpus", "4", "--cmdline", "cpus=4 hold=1",
                           "--test-save-restore", "1", "--stats"), timeout=60)


def test_ap_start_up_on_4_vcpus_survives_save_restore_rounds(vm_results):
    # Every vCPU parks, is saved, scrambled and restored: also the APs still waiting for INIT/SIPI.
    r = vm_results["sr_smp"]
    assert r.returncode == PASS, describe(r)
    assert b"smp: all 4 CPUs up" in r.stdout, describe(r)
    assert rounds(r) > 0, describe(r)


def test_syscalls_from_user_mode_survive_save_restore_rounds(vm_results):
    r = vm_results["sr_syscall"]
    assert r.returncode == PASS, describe(r)
    assert b"syscall_cpl3: 20000 system calls from CPL3 returned correctly" in r.stdout, describe(r)
    assert rounds(r) > 0, describe(r)


def test_interrupt_driven_uart_survives_save_restore_rounds(vm_results):
    r = vm_results["sr_uart"]
    assert r.returncode == PASS, describe(r)
    assert b"echo: HELLO WORLD\n" in r.stdout, describe(r)
    assert rounds(r) > 0, describe(r)


def test_virtio_blk_survives_save_restore_rounds(vm_results):
    r = vm_results["sr_blk"]
    assert r.returncode == PASS, describe(r)
    assert rounds(r) > 0, describe(r)


def test_virtio_net_receive_flood_survives_save_restore_rounds(vm_results):
    r = vm_results["sr_net_flood"]
    total = sum(flood_len(s) for s in range(FLOOD_FRAMES))
    assert r.returncode == PASS, describe(r)
    assert re.search(rf"^virtio_net_flood: {FLOOD_FRAMES} frames, {total} bytes in order and intact".encode(),
                     r.stdout, re.M), describe(r)
    assert rounds(r) > 0, describe(r)


def test_bad_period_is_refused():
    import subprocess
    for bad in ("0", "-5", "x", "3600001"):
        r = subprocess.run([VMON, "run", "--kernel", guest("hello"), "--test-save-restore", bad],
                           capture_output=True)
        assert r.returncode == 2, (bad, r.stderr)
        assert b"--test-save-restore" in r.stderr, (bad, r.stderr)
