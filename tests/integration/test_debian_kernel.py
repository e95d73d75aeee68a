# SPDX-License-Identifier: MIT
"""Debian's stock kernel (linux-image-amd64's current package, unmodified) booted by vmon with a
virtio disk and virtio-net, with no kernel arguments beyond the console and panic=-1.

guest/debian/build.sh downloads the package and builds an initramfs from the kernel's own
modules (virtio transports, virtio-blk/net, ext4 and their dependencies); its /init loads them,
mounts /dev/vda as root and runs the disk's /sbin/init. The disk is an ext4 image made here with
`mkfs.ext4 -d`: Debian's static busybox and /sbin/init, the script below. One boot checks, from
inside the guest: the file the host put on the disk, a write that the host reads back afterwards
(debugfs), IP traffic through the NIC (an HTTP fetch from busybox httpd on the host's loopback,
which slirp shows the guest as 10.0.2.2, and the NIC's packet counters), and that the disk and
NIC are virtio-pci functions with MSI-X (vmon's default transport: a stock kernel finds them
without virtio_mmio.device= arguments).

scripts/test.sh builds the kernel and initramfs and sets VMON_DEBIAN_VMLINUZ / VMON_DEBIAN_INITRD
and VMON_REQUIRE_DEBIAN_KERNEL=1 (a missing kernel then fails the test), unless the package
cannot be downloaded: then it sets VMON_DEBIAN_KERNEL_UNAVAILABLE to the reason and the test
skips with it."""

import base64
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import available_runner, describe, vmon_run

VMLINUZ = os.environ.get("VMON_DEBIAN_VMLINUZ")
INITRD = os.environ.get("VMON_DEBIAN_INITRD")
HAVE_DEBIAN = bool(VMLINUZ and INITRD and os.path.exists(VMLINUZ) and os.path.exists(INITRD))
UNAVAILABLE = os.environ.get("VMON_DEBIAN_KERNEL_UNAVAILABLE")
BUSYBOX = "/bin/busybox"
DEBUGFS = shutil.which("debugfs") or "/usr/sbin/debugfs"

# Under an emulated guest ring 0 (PVM host, 2 shared cores) this test's boot took 2887 s from
# vmon's start to the power-off, with a second such boot running beside it (docs/PERFORMANCE.md,
# "Debian's stock kernel on virtio-pci"); another run reached /init only after 2392 s. Seconds on
# a host with VT-x/AMD-V.
TIMEOUT_S = 4800

WORK = tempfile.mkdtemp(prefix="vmon-debian-kernel-")
HTTP_PORT = 19000 + os.getpid() % 1000

# The disk's /sbin/init (PID 1 after the initramfs's switch to the disk). Everything it reports
# goes to the console; `poweroff -f` ends vmon through ACPI S5 (Debian's kernel has ACPI).
GUEST_INIT = f"""#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "kernel: $(uname -r) $(cat /proc/cmdline)"
echo "disk says: $(cat /from-host.txt)"
echo "written by the guest" > /from-guest.txt
ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up
route add default gw 10.0.2.2
echo "http says: $(wget -q -O - http://10.0.2.2:{HTTP_PORT}/page.txt)"
set -- $(grep eth0: /proc/net/dev | tr ':' ' ')
echo "eth0 packets: rx $3 tx ${{11}}"
for d in /sys/bus/virtio/devices/*; do
    echo "virtio: $(basename "$d") device $(cat "$d/device") on $(readlink -f "$d/..")"
done
for d in /sys/bus/pci/devices/*; do
    [ -e "$d/vendor" ] || continue
    echo "pci: $(basename "$d") $(cat "$d/vendor"):$(cat "$d/device") msi_irqs $(ls "$d/msi_irqs" 2>/dev/null | wc -l)"
done
mount -o remount,ro /
echo "debian test: done"
poweroff -f
"""


def _make_disk():
    root = os.path.join(WORK, "root")
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp"):
        os.makedirs(os.path.join(root, d))
    shutil.copy(BUSYBOX, os.path.join(root, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list-full"], check=True, capture_output=True, text=True).stdout
    for applet in applets.split():
        if applet in ("bin/busybox", "sbin/init"):
            continue
        os.symlink("/bin/busybox", os.path.join(root, applet))
    init = os.path.join(root, "sbin", "init")
    with open(init, "w") as f:
        f.write(GUEST_INIT)
    os.chmod(init, 0o755)
    with open(os.path.join(root, "from-host.txt"), "w") as f:
        f.write("hello from the host image\n")
    disk = os.path.join(WORK, "disk.img")
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", root, disk, "16M"], check=True, stdout=subprocess.DEVNULL)
    page = os.path.join(WORK, "page.txt")
    with open(page, "w") as f:
        f.write("served over slirp\n")
    return disk, page


if HAVE_DEBIAN and shutil.which("mkfs.ext4") and os.path.exists(BUSYBOX):
    DISK, PAGE = _make_disk()
    # Not a vm_case: the session batch runs its cases one after another, and this boot takes the
    # better part of an hour on a PVM host. scripts/test.sh runs this file on its own, beside the rest.
    ARGV = [
        "sh", "-c",
        'busybox httpd -f -p 127.0.0.1:"$1" -h "$(dirname "$2")" & httpd=$!; '
        '"$3" run --kernel "$4" --initrd "$5" --mem 512M --stats --drive path="$6" --net user '
        '--cmdline "console=ttyS0 panic=-1"; s=$?; '
        'kill $httpd; echo "debugfs: $("$7" -R "cat /from-guest.txt" "$6" 2>&1 | grep -v "^debugfs [0-9]")"; '
        'exit $s',
        "sh", str(HTTP_PORT), PAGE, vmon_run()[0], VMLINUZ, INITRD, DISK, DEBUGFS]

needs_debian = pytest.mark.skipif(
    not HAVE_DEBIAN and (bool(UNAVAILABLE) or os.environ.get("VMON_REQUIRE_DEBIAN_KERNEL") != "1"),
    reason=f"Debian kernel not available: {UNAVAILABLE or 'guest/debian/build.sh not run'}")


@needs_debian
def test_debian_stock_kernel_boots_with_virtio_disk_and_network():
    assert HAVE_DEBIAN, "VMON_DEBIAN_VMLINUZ / VMON_DEBIAN_INITRD do not name built files"
    r = available_runner().run(ARGV, timeout=TIMEOUT_S)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, describe(r)
    assert "debian test: done" in out, describe(r)
    # The stock kernel, with the user's two arguments and vmon's own after them.
    m = re.search(r"^kernel: (\S+-amd64) (.*)$", out, re.M)
    assert m, describe(r)
    assert m.group(2).startswith("console=ttyS0 panic=-1"), describe(r)
    assert "vmon-debian-init: loaded" in out and "failed: errno" not in out, describe(r)
    # Disk: read in the guest, and the guest's write read back from the image on the host.
    assert "disk says: hello from the host image" in out, describe(r)
    assert "debugfs: written by the guest" in out, describe(r)
    # Network: a page over TCP through slirp, and the NIC's counters saw the traffic.
    assert "http says: served over slirp" in out, describe(r)
    m = re.search(r"^eth0 packets: rx (\d+) tx (\d+)", out, re.M)
    assert m and int(m.group(1)) >= 3 and int(m.group(2)) >= 3, describe(r)
    # Both devices sit on PCI (vmon's default transport) and were found by the stock drivers
    # (virtio ids 2 = block, 1 = net): the virtio devices' parents are PCI functions, which are
    # modern virtio-pci (vendor 0x1af4, device 0x1040 + id) with MSI-X vectors in use.
    for virtio_id in (2, 1):
        m = re.search(rf"^virtio: virtio\d+ device 0x{virtio_id:04x} on (\S+)\r?$", out, re.M)
        assert m and re.search(r"/pci0000:00/0000:00:[0-9a-f]{2}\.\d$", m.group(1)), describe(r)
        m = re.search(rf"^pci: \S+ 0x1af4:0x{0x1040 + virtio_id:04x} msi_irqs (\d+)\r?$", out, re.M)
        assert m and int(m.group(1)) >= 2, describe(r)
    assert re.search(rb"guest init reached after [\d.]+ s", r.stderr), describe(r)
