# SPDX-License-Identifier: MIT
"""Linux booted by vmon: the project kernel (guest/kernel) with the project
initramfs (guest/initramfs) runs a command that reads a line typed into the
UART and echoes it back, then powers off. One boot covers: bzImage host-side
decompression, initrd, command line, the 8250 in both directions under Linux's
interrupt-driven driver, the boot-timing port, and the i8042 reset.

The kernel and initramfs come from scripts/build-guest.sh (cached); tests skip
when VMON_GUEST_BZIMAGE / VMON_GUEST_INITRD are not set (scripts/test.sh sets them)."""

import base64
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import PTY_RUN, UNIX_CLIENT, describe, vm_case, vmon_run

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

# The project initramfs gzip-compressed: vmon turns it back into plain cpio on the host
# (src/arch/x86/initramfs.c). The project kernel has no CONFIG_RD_GZIP, so only the host
# path can boot it: reaching /init is proof that the host decompressed it.
GZIP_DIR = tempfile.mkdtemp(prefix="vmon-linux-gzip-initrd-")
if HAVE_LINUX and shutil.which("gzip"):
    GZIP_INITRD = os.path.join(GZIP_DIR, "initrd.cpio.gz")
    with open(GZIP_INITRD, "wb") as f:
        subprocess.run(["gzip", "-9", "-c", INITRD], check=True, stdout=f)
    vm_case("linux_gzip_initrd", vmon_run("--kernel", BZIMAGE, "--initrd", GZIP_INITRD, "--mem", "128M",
                                          "--stats", "-v", "--cmdline",
                                          'console=ttyS0 reboot=k panic=-1 vmon.cmd="echo init is $(ls /init)"'),
            timeout=600)  # 110-240 s on a busy PVM host (guest ring 0 emulated), seconds elsewhere

# SMP and ACPI power-off: 4 vCPUs (the kernel finds them in the MADT and starts them by INIT/SIPI; on PVM
# hosts vmon polls the APs' mp_state), then `poweroff -f` inside the command: the kernel writes S5 to the
# FADT's sleep control register (no reboot=k: the i8042 is not involved) and vmon ends with status 0
# before init's own power-off could run. Booting 4 vCPUs under an emulated ring 0 takes minutes.
# The answer goes through /dev/kmsg: printk reaches the console synchronously, while tty output still
# queued in the 8250 driver is lost when `poweroff -f` powers off at once (seen without ACPI, where it halted).
SMP_COMMAND = "echo online=$(cat /sys/devices/system/cpu/online) nproc=$(nproc) >/dev/kmsg; poweroff -f"
# 147 s on a quiet PVM host (2026-12-06); 480 s ran out at load average 9.
if HAVE_LINUX:
    vm_case("linux_smp", vmon_run("--kernel", BZIMAGE, "--initrd", INITRD, "--mem", "128M", "--cpus", "4",
                                  "--cmdline", f'console=ttyS0 panic=-1 vmon.cmd="{SMP_COMMAND}"'), timeout=900)

# virtio-pci, vmon's default transport: virtio-blk and virtio-net on PCI with MSI-X (one vector per queue
# plus the config vector), found through ACPI's PCI0/MCFG with no arguments, next to a drive on virtio-mmio.
PCI_COMMAND = ("for d in /sys/bus/pci/devices/*; do echo pci $(cat $d/vendor) $(cat $d/device) "
               "msix=$(ls $d/msi_irqs 2>/dev/null | wc -l); done; echo disks $(ls /sys/block); "
               "for v in /dev/vd?; do echo $v: $(head -c 16 $v | od -An -tx1); done")
PCI_DISK = os.path.join(GZIP_DIR, "pci.img")
with open(PCI_DISK, "wb") as f:
    f.write(bytes(range(256)) * 2 + bytes(4096 * 256 - 512))
MMIO_DISK = os.path.join(GZIP_DIR, "mmio.img")
with open(MMIO_DISK, "wb") as f:
    f.write(bytes(1 << 20))
if HAVE_LINUX:
    vm_case("linux_pci", vmon_run("--kernel", BZIMAGE, "--initrd", INITRD, "--mem", "128M", "--stats", "-v",
                                  "--drive", f"path={PCI_DISK}", "--net", "user",
                                  "--drive", f"path={MMIO_DISK},transport=mmio",
                                  "--cmdline", f'console=ttyS0 reboot=k panic=-1 vmon.cmd="{PCI_COMMAND}"'),
            timeout=600)

# scripts/test.sh sets VMON_REQUIRE_LINUX=1: there a missing kernel is a failure, not a skip.
needs_linux = pytest.mark.skipif(not HAVE_LINUX and os.environ.get("VMON_REQUIRE_LINUX") != "1",
                                 reason="guest kernel/initramfs not built (scripts/build-guest.sh)")


def linux_result(vm_results, name):
    """The Linux case's result; without a kernel (and VMON_REQUIRE_LINUX=1) the test fails here."""
    assert HAVE_LINUX, "VMON_GUEST_BZIMAGE / VMON_GUEST_INITRD do not name built files"
    return vm_results[name]


def linux_ran_ok(vm_results, name):
    """The Linux case's result and its console output, once it exited 0."""
    r = linux_result(vm_results, name)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, describe(r)
    return r, out


@needs_linux
def test_linux_runs_a_command_with_console_input_and_powers_off(vm_results):
    r, out = linux_ran_ok(vm_results, "linux")
    assert "guest got: hello from the host" in out, describe(r)
    assert re.search(r"^Linux \S+ 6\.1\.\S+ .*x86_64", out, re.M), describe(r)
    assert "MemTotal:" in out, describe(r)
    assert "command exited with status 0" in out, describe(r)


@needs_linux
def test_linux_brings_4_cpus_online_and_powers_off_through_acpi(vm_results):
    assert HAVE_LINUX, "VMON_GUEST_BZIMAGE / VMON_GUEST_INITRD do not name built files"
    r = vm_results["linux_smp"]
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, describe(r)
    assert "online=0-3 nproc=4" in out, describe(r)
    assert "reboot: Power down" in out, describe(r)
    # The power-off ended the VM inside the command: init never got to report its status.
    assert "command exited with status" not in out, describe(r)


@needs_linux
def test_linux_init_reaches_the_boot_timing_port(vm_results):
    r = linux_result(vm_results, "linux")
    m = re.search(rb"guest init reached after ([\d.]+) s", r.stderr)
    assert m and float(m.group(1)) > 0, describe(r)


@needs_linux
def test_linux_interactive_shell_answers_typed_commands(vm_results):
    r = linux_result(vm_results, "linux_shell")
    m = re.search(rb"@@PTY status=(\d+) restored=(yes|no)@@", r.stdout)
    assert m and m.group(1) == b"0" and m.group(2) == b"yes", describe(r)
    assert b"answer=42" in r.stdout, describe(r)
    assert b"powering off" in r.stdout, describe(r)


# ---- virtio under Linux: one boot, several checks (virtio-blk + ext4, virtio-net
# through user-mode networking to an HTTP server on the host, virtio-rng) ------
#
# The disk is an ext4 image made on the host with `mkfs.ext4 -d` (no root, no
# loop mount); the guest mounts it from /dev/vda, reads a file the host put
# there and writes one; after vmon exits, debugfs reads the guest's file from
# the image. The HTTP server is busybox httpd on the host's loopback, which
# slirp shows the guest as 10.0.2.2.

VIRTIO_DIR = tempfile.mkdtemp(prefix="vmon-linux-virtio-")
HTTP_PORT = 18000 + os.getpid() % 1000
GUEST_SCRIPT = f"""
set -e
mkdir -p /mnt
mount -t ext4 /dev/vda /mnt
echo "disk says: $(cat /mnt/from-host.txt)"
echo "written by the guest" > /mnt/from-guest.txt
umount /mnt
ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up
route add default gw 10.0.2.2
echo "http says: $(wget -q -O - http://10.0.2.2:{HTTP_PORT}/page.txt)"
echo "rng: $(cat /sys/class/misc/hw_random/rng_current) $(head -c 16 /dev/hwrng | od -An -tx1 | tr -d ' \\n')"
stty -F /dev/hvc0 raw -echo
exec 3<>/dev/hvc0
echo "guest ready" >&3
read -r line <&3
echo "vconsole says: $line"
echo "pong from the guest" >&3
"""


def _make_virtio_files():
    content = os.path.join(VIRTIO_DIR, "content")
    os.mkdir(content)
    with open(os.path.join(content, "from-host.txt"), "w") as f:
        f.write("hello from the host image\n")
    disk = os.path.join(VIRTIO_DIR, "disk.img")
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", content, disk, "8M"], check=True, stdout=subprocess.DEVNULL)
    page = os.path.join(VIRTIO_DIR, "page.txt")
    with open(page, "w") as f:
        f.write("served over slirp\n")
    return disk, page


DEBUGFS = shutil.which("debugfs") or "/usr/sbin/debugfs"
if HAVE_LINUX and shutil.which("mkfs.ext4"):
    DISK, PAGE = _make_virtio_files()
    cmd64 = base64.b64encode(GUEST_SCRIPT.encode()).decode()
    vm_case("linux_virtio", [
        "sh", "-c",
        'busybox httpd -f -p 127.0.0.1:"$1" -h "$(dirname "$2")" & httpd=$!; '
        'sock=/tmp/vmon-vconsole-$$.sock; '
        '"$9" "$sock" "guest ready" "ping from the host\\n" "pong from the guest" 350 & client=$!; '
        '"$3" run --kernel "$4" --initrd "$5" --mem 128M --drive path="$6" --net user --rng '
        '--vconsole socket="$sock" --cmdline "console=ttyS0 reboot=k panic=-1 vmon.cmd64=$7"; s=$?; '
        'kill $httpd; wait $client; echo "client status: $?"; '
        'echo "debugfs: $("$8" -R "cat /from-guest.txt" "$6" 2>/dev/null)"; exit $s',
        "sh", str(HTTP_PORT), PAGE, vmon_run()[0], BZIMAGE, INITRD, DISK, cmd64, DEBUGFS, UNIX_CLIENT],
        timeout=400)   # ~2 min on a PVM host; the sanitizer build on a loaded one took over 150 s


@needs_linux
def test_linux_virtio_blk_ext4_net_http_rng_and_console(vm_results):
    r, out = linux_ran_ok(vm_results, "linux_virtio")
    assert "disk says: hello from the host image" in out, describe(r)
    assert "http says: served over slirp" in out, describe(r)
    m = re.search(r"^rng: virtio_rng\S* ([0-9a-f]{32})\r?$", out, re.M)
    assert m and m.group(1) != "0" * 32, describe(r)
    # virtio-console: the host's line reached the guest's /dev/hvc0 and the guest's answer the socket.
    assert "vconsole says: ping from the host" in out, describe(r)
    assert re.search(r"client got: guest ready\|.*pong from the guest", out), describe(r)
    assert "client status: 0" in out, describe(r)
    assert "command exited with status 0" in out, describe(r)
    # The guest's write reached the host file (read back from the image after vmon exited).
    assert "debugfs: written by the guest" in out, describe(r)


@needs_linux
def test_linux_boots_a_gzip_initramfs_decompressed_on_the_host(vm_results):
    r, out = linux_ran_ok(vm_results, "linux_gzip_initrd")
    assert "init is /init" in out, describe(r)
    assert "command exited with status 0" in out, describe(r)
    # -v and --stats both say what was done: one gzip member, back to the initramfs's own size.
    plain, packed = os.path.getsize(INITRD), os.path.getsize(GZIP_INITRD)
    summary = f"1 member (1 gzip), {packed} -> {plain} bytes in "
    assert f"initrd: decompressed on the host: {summary}".encode() in r.stderr, describe(r)
    assert f"vmon: initrd decompressed on the host: {summary}".encode() in r.stderr, describe(r)
    assert re.search(rb"guest init reached after [\d.]+ s", r.stderr), describe(r)


@needs_linux
def test_linux_finds_virtio_blk_and_net_on_pci_with_msix(vm_results):
    r, out = linux_ran_ok(vm_results, "linux_pci")
    err = r.stderr.decode(errors="replace")
    assert "pci 0x1b36 0x0008 msix=0" in out, describe(r)      # the host bridge
    assert "pci 0x1af4 0x1042 msix=2" in out, describe(r)      # virtio-blk: config + 1 queue
    assert "pci 0x1af4 0x1041 msix=3" in out, describe(r)      # virtio-net: config + rx + tx
    assert re.search(r"^disks vda vdb\r?$", out, re.M), describe(r)   # the PCI drive and the MMIO one
    # Whichever name it got (probe order), the PCI drive's first bytes come through its queue.
    assert re.search(r"^/dev/vd[ab]: 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f\r?$", out, re.M), describe(r)
    # Only the MMIO drive is announced on the command line; pci=off is not appended.
    m = re.search(r"appended to the Linux command line: (.*)", err)
    assert m and "pci=off" not in m.group(1) and m.group(1).count("virtio_mmio.device=") == 1, describe(r)
    assert re.search(r"virtio-blk at 0xc0000000 \(PCI, MSI-X\): \d+ queue notifications, [1-9]\d* interrupts "
                     r"\(ioeventfd\)", err), describe(r)
