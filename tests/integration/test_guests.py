# SPDX-License-Identifier: MIT
"""vmon running the freestanding test guests (tests/guests) under KVM."""

import os
import re
import subprocess
import sys

import pytest

from conftest import GUESTS, HERE, VMON, describe, guest, vm_case, vmon_run

MEM = ["--mem", "32M"]


def debug_exit_status(n):
    return (n << 1) | 1


# --- serial console and boot protocols --------------------------------------------------

vm_case("hello_pvh", vmon_run("--kernel", guest("hello"), *MEM, "--cmdline", "console=ttyS0 greeting=hi"))
vm_case("hello_linux", vmon_run("--kernel", guest("hello"), *MEM, "--boot-protocol", "linux",
                                "--cmdline", "via the zero page"))


def test_hello_prints_greeting_and_resets_cleanly(vm_results):
    r = vm_results["hello_pvh"]
    assert r.returncode == 0, describe(r)
    assert r.stdout.startswith(b"Hello from the vmon test guest (protocol pvh)\n"), describe(r)
    assert b"cmdline: console=ttyS0 greeting=hi\n" in r.stdout
    assert b"LSR had THRE|TEMT before each byte: yes" in r.stdout


def test_elf64_entry_uses_linux_boot_protocol(vm_results):
    r = vm_results["hello_linux"]
    assert r.returncode == 0, describe(r)
    assert b"(protocol linux)" in r.stdout, describe(r)
    assert b"cmdline: via the zero page\n" in r.stdout, describe(r)


# --- bzImage: host-side decompression of each codec, and the guest's own entry ----------

MKBZIMAGE = os.path.join(HERE, "mkbzimage.py")
BZ_DIR = os.path.join(os.path.dirname(GUESTS), "bzimages")


def make_bzimage(compression):
    os.makedirs(BZ_DIR, exist_ok=True)
    out = os.path.join(BZ_DIR, f"hello-{compression}.bzImage")
    if os.path.exists(guest("hello")) and os.path.exists(MKBZIMAGE):
        subprocess.run([sys.executable, MKBZIMAGE, "--elf", guest("hello"), "--pm", guest("hello", "flat"),
                        "--compression", compression, "-o", out], check=True)
    return out


for codec in ("xz", "gzip", "zstd"):
    vm_case(f"bzimage_{codec}", vmon_run("--kernel", make_bzimage(codec), *MEM, "--cmdline", f"codec={codec}"))
vm_case("bzimage_guest_entry", vmon_run("--kernel", make_bzimage("xz"), *MEM, "--bzimage-guest-decompress",
                                        "--cmdline", "entered at startup_64"))


# A bzImage is a Linux kernel to vmon: it gets vmon's device-set arguments after the user's,
# then the host profile's (e.g. `noxsave` where KVM runs guest ring 0 in its emulator). Which
# profile applies is vmon's run-time decision on the host the guests run on, so the tests ask
# vmon (`vmon host-profile`, run where the guests run) instead of assuming a kind of host.
# (No virtio device here: vmon adds `pci=off` after its device-set arguments.)
LINUX_DEVICE_ARGS = "8250.nr_uarts=1 i8042.noaux pci=off"
vm_case("host_profile", [VMON, "host-profile"])


def profile_linux_args(vm_results):
    """The arguments vmon's host profile adds to a Linux command line on the test host."""
    r = vm_results["host_profile"]
    assert r.returncode == 0, describe(r)
    fields = dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "")
                  for line in r.stdout.decode().splitlines())
    assert fields.get("profile") in ("none", "emulated-ring0"), describe(r)
    args = fields.get("linux-args", "")
    assert (fields["profile"] == "none") == (args == ""), describe(r)
    return " " + args if args else ""


def test_host_profile_is_reported(vm_results):
    r = vm_results["host_profile"]
    assert re.search(rb"^profile: (none|emulated-ring0)\nreason: .+\nlinux-args: ", r.stdout), describe(r)
vm_case("bzimage_no_device_args", vmon_run("--kernel", make_bzimage("gzip"), *MEM, "--no-linux-device-args",
                                           "--cmdline", "plain"))


@pytest.mark.parametrize("codec", ["xz", "gzip", "zstd"])
def test_bzimage_payload_decompressed_on_host(vm_results, codec):
    r = vm_results[f"bzimage_{codec}"]
    assert r.returncode == 0, describe(r)
    assert b"(protocol linux)" in r.stdout, describe(r)
    extra = profile_linux_args(vm_results)
    assert f"cmdline: codec={codec} {LINUX_DEVICE_ARGS}{extra}\n".encode() in r.stdout, describe(r)


def test_bzimage_64bit_entry_of_protected_mode_code(vm_results):
    r = vm_results["bzimage_guest_entry"]
    assert r.returncode == 0, describe(r)
    extra = profile_linux_args(vm_results)
    assert f"cmdline: entered at startup_64 {LINUX_DEVICE_ARGS}{extra}\n".encode() in r.stdout, describe(r)


def test_linux_device_args_can_be_switched_off(vm_results):
    r = vm_results["bzimage_no_device_args"]
    assert r.returncode == 0, describe(r)
    # The device set goes; the host profile's arguments stay (the guest needs them on that host).
    extra = profile_linux_args(vm_results)
    assert f"cmdline: plain{extra}\n".encode() in r.stdout, describe(r)


# --- debug-exit port ----------------------------------------------------------------------

EXIT_CODES = [0, 1, 5, 127]
for code in EXIT_CODES:
    vm_case(f"debug_exit_{code}", vmon_run("--kernel", guest("debug_exit"), *MEM, "--cmdline", f"exit={code}"))


@pytest.mark.parametrize("code", EXIT_CODES)
def test_debug_exit_status_is_value_shifted_or_one(vm_results, code):
    r = vm_results[f"debug_exit_{code}"]
    assert r.returncode == debug_exit_status(code), describe(r)


# --- UART interrupts ----------------------------------------------------------------------

vm_case("uart_irq", vmon_run("--kernel", guest("uart_irq"), *MEM), stdin=b"hello world\n")


def test_uart_interrupt_driven_receive_and_transmit(vm_results):
    r = vm_results["uart_irq"]
    assert r.returncode == debug_exit_status(0), describe(r)
    assert b"echo: HELLO WORLD\n" in r.stdout, describe(r)
    m = re.search(rb"(\d+) THRE interrupts .* (\d+) RX interrupts", r.stdout)
    assert m and int(m.group(1)) > 0 and int(m.group(2)) > 0, describe(r)


# --- i8042, RTC ---------------------------------------------------------------------------

vm_case("i8042_reset", vmon_run("--kernel", guest("i8042_reset"), *MEM))


def test_i8042_reset_ends_vm_with_status_0(vm_results):
    r = vm_results["i8042_reset"]
    assert r.returncode == 0, describe(r)
    assert b"self-test answered 0x55" in r.stdout, describe(r)


# The host clock is read in the same place vmon runs (the sandbox has its own clock).
vm_case("rtc", ["sh", "-c", 'date -u +%s; "$1" run --kernel "$2" --mem 32M; s=$?; date -u +%s; exit $s',
                "sh", VMON, guest("rtc")])


def test_rtc_matches_host_time_within_2s(vm_results):
    import calendar
    import time
    r = vm_results["rtc"]
    assert r.returncode == debug_exit_status(0), describe(r)
    lines = r.stdout.decode().splitlines()
    before, after = int(lines[0]), int(lines[-1])
    m = re.search(r"^RTC: (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)$", r.stdout.decode(), re.M)
    assert m, describe(r)
    rtc = calendar.timegm(time.struct_time(tuple(int(x) for x in m.groups()) + (0, 0, 0)))
    assert before - 2 <= rtc <= after + 2, f"RTC {rtc} outside [{before}, {after}] ±2 s\n" + describe(r)


# --- failures the monitor must survive or report ------------------------------------------

vm_case("triple_fault", vmon_run("--kernel", guest("triple_fault"), *MEM))


def test_triple_fault_is_a_failure_with_register_dump(vm_results):
    r = vm_results["triple_fault"]
    assert r.returncode == 4, describe(r)
    assert b"triple fault" in r.stderr, describe(r)
    assert re.search(rb"rip [0-9a-f]{16}", r.stderr), describe(r)


vm_case("unknown_port", vmon_run("--kernel", guest("unknown_port"), *MEM, "--stats"))


def test_unknown_ports_and_mmio_are_survived_and_reported_once(vm_results):
    r = vm_results["unknown_port"]
    assert r.returncode == debug_exit_status(0), describe(r)
    assert b"all checks passed" in r.stdout, describe(r)
    err = r.stderr.decode()
    assert err.count("port 0x1234 ") == 1, describe(r)
    assert "MMIO 0xd0000000" in err, describe(r)
    assert re.search(r"pio\s+0x1234\s+\d+\s+\(no device\)", err), describe(r)


# --- memory map ---------------------------------------------------------------------------

vm_case("memmap_32m", vmon_run("--kernel", guest("memmap"), "--mem", "32M", "--cmdline", "mem=32"))
vm_case("memmap_linux", vmon_run("--kernel", guest("memmap"), "--mem", "48M", "--boot-protocol", "linux",
                                 "--cmdline", "mem=48"))
vm_case("memmap_hole", vmon_run("--kernel", guest("memmap"), "--mem", "3584M", "--cmdline", "mem=3584"))


def e820(stdout):
    return [tuple(int(x, 0) for x in m) for m in re.findall(rb"^e820: (0x[0-9a-f]+) (0x[0-9a-f]+) (\d+)$",
                                                               stdout, re.M)]


@pytest.mark.parametrize("case,mib", [("memmap_32m", 32), ("memmap_linux", 48)])
def test_memory_map_has_low_ram_bios_hole_and_ram_above_1m(vm_results, case, mib):
    r = vm_results[case]
    assert r.returncode == debug_exit_status(0), describe(r)
    # The last entry is the PCI ECAM window (0xe0000000, 1 MiB), reserved for Linux's MMCONFIG check.
    assert e820(r.stdout) == [(0, 0x9fc00, 1), (0x9fc00, 0x60400, 2), (0x100000, (mib << 20) - 0x100000, 1),
                              (0xe0000000, 0x100000, 2)]


def test_large_guest_memory_skips_the_32bit_mmio_hole(vm_results):
    r = vm_results["memmap_hole"]
    assert r.returncode == debug_exit_status(0), describe(r)
    ram = [(base, size) for base, size, kind in e820(r.stdout) if kind == 1]
    assert (0x100000, 0xc0000000 - 0x100000) in ram, describe(r)
    assert (0x100000000, 512 << 20) in ram, describe(r)


# --- statistics and lifecycle -------------------------------------------------------------

vm_case("stats", vmon_run("--kernel", guest("hello"), *MEM, "--stats"))


def test_stats_count_exits_by_reason_and_port(vm_results):
    r = vm_results["stats"]
    assert r.returncode == 0, describe(r)
    err = r.stderr.decode()
    m = re.search(r"exits: (\d+)", err)
    assert m and int(m.group(1)) > 0, describe(r)
    assert re.search(r"^vmon:\s+io\s+\d+$", err, re.M), describe(r)
    assert re.search(r"pio\s+0x3f8\s+\d+", err), describe(r)


# uart_irq waits for input forever (hlt): SIGTERM must end it cleanly with 128+15.
vm_case("sigterm", ["sh", "-c", '"$1" run --kernel "$2" --mem 32M </dev/null & pid=$!; sleep 2; kill -TERM $pid; '
                    'wait $pid; echo "status=$?"', "sh", VMON, guest("uart_irq")], timeout=30)
vm_case("sigint", ["sh", "-c", '"$1" run --kernel "$2" --mem 32M </dev/null & pid=$!; sleep 2; kill -INT $pid; '
                   'wait $pid; echo "status=$?"', "sh", VMON, guest("uart_irq")], timeout=30)


@pytest.mark.parametrize("case,status", [("sigterm", 143), ("sigint", 130)])
def test_signal_stops_vm_cleanly(vm_results, case, status):
    r = vm_results[case]
    assert r.returncode == 0, describe(r)
    assert f"status={status}".encode() in r.stdout, describe(r)
    assert b"ERROR: AddressSanitizer" not in r.stderr, describe(r)


# --- the start-up benchmark's guest (bench/startup.py) -------------------------------------

vm_case("first_byte", vmon_run("--kernel", guest("first_byte"), "--mem", "64M"))


def test_first_byte_guest_prints_one_byte_and_exits_through_debug_exit(vm_results):
    r = vm_results["first_byte"]
    assert r.returncode == debug_exit_status(0), describe(r)
    assert r.stdout == b"!", describe(r)


# --- system calls from user mode ----------------------------------------------------------

# On hosts that run guest ring 0 in an emulator, each of these syscalls reaches the kernel only
# through vmon's repair at the #PF entry's clac (shared/notes/host-pvm.md).
vm_case("syscall_cpl3", vmon_run("--kernel", guest("syscall_cpl3"), *MEM, "--cmdline", "calls=100"))


def test_syscall_from_cpl3_runs_kernel_entry_and_sysret_returns(vm_results):
    r = vm_results["syscall_cpl3"]
    assert r.returncode == debug_exit_status(0), describe(r)
    assert re.search(rb"syscall_cpl3: 100 system calls from CPL3 returned correctly \(\d+ external interrupts "
                     rb"taken\)\n", r.stdout), describe(r)
