#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""virtio-blk and virtio-net over PCI vs MMIO (issue 12): exits to vmon per request, Linux's own drivers.

Boots the project kernel + initramfs (scripts/build-guest.sh) with vmon --stats, one drive and one
user-mode network device, on each transport (--virtio-transport mmio|pci), twice each (a Linux boot
takes minutes on a PVM host, where guest ring 0 is emulated):
  - idle: the guest brings eth0 up and powers off (the baseline: boot, timer, power-off);
  - work: the same, then `dd if=/dev/vda of=/dev/null bs=4096 count=N iflag=direct` (N 4 KiB reads
          at depth 1) and `ping -q -c N -i 0.02 10.0.2.2` (N echo round trips to slirp's gateway: one
          TX and one RX frame each).
Per request, for each device: (exits at the device's own addresses in work - in idle) / N: its
virtio-mmio window or its PCI BAR, from --stats' "I/O exits by address" — the transport's register
accesses (with MMIO Linux's interrupt handler reads InterruptStatus and writes InterruptACK; with
MSI-X it touches no register). Kicks go through KVM ioeventfds and interrupts through irqfds on both
transports: neither exits to vmon. Also: all exits, (work - idle) / 2N (timer and console included).

Usage: bench/pci_exits.py [--build build] [--count 1000] [--jobs 2]
"""

import argparse
import base64
import concurrent.futures
import os
import re
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NET_UP = "ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0"
WORKLOADS = {
    "idle": NET_UP,
    "work": NET_UP + " && dd if=/dev/vda of=/dev/null bs=4096 count={n} iflag=direct"
                     " && ping -q -c {n} -i 0.02 10.0.2.2",
}
# Device register ranges: vmon's virtio-mmio windows (drive first, then net) and PCI BARs (32 KiB each).
RANGES = {
    "mmio": {"blk": (0xd0000000, 0x1000), "net": (0xd0001000, 0x1000)},
    "pci": {"blk": (0xc0000000, 0x8000), "net": (0xc0008000, 0x8000)},
}


def guest_paths():
    out = subprocess.run(["sh", os.path.join(ROOT, "scripts", "build-guest.sh")], check=True,
                         capture_output=True, text=True).stdout
    vals = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return vals["BZIMAGE"], vals["INITRD"]


def run(vmon, bzimage, initrd, disk, transport, workload, n):
    script = WORKLOADS[workload].format(n=n) + "; echo bench-status $?\n"
    cmdline = f"console=ttyS0 reboot=k panic=-1 vmon.cmd64={base64.b64encode(script.encode()).decode()}"
    argv = [vmon, "run", "--kernel", bzimage, "--initrd", initrd, "--mem", "256M", "--stats",
            "--virtio-transport", transport, "--drive", f"path={disk},readonly=on", "--net", "user",
            "--cmdline", cmdline]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    if "bench-status 0" not in r.stdout:
        raise SystemExit(f"{transport} {workload}: the guest command failed\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    total = int(re.search(r"^vmon: exits: (\d+)$", r.stderr, re.M).group(1))
    at = {}
    for space, addr, count in re.findall(r"^vmon:   (pio|mmio) 0x([0-9a-f]+) +(\d+)", r.stderr, re.M):
        for dev, (base, size) in RANGES[transport].items():
            if space == "mmio" and base <= int(addr, 16) < base + size:
                at[dev] = at.get(dev, 0) + int(count)
    return total, at


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    vmon = os.path.join(os.path.abspath(a.build), "vmon")
    bzimage, initrd = guest_paths()
    d = tempfile.mkdtemp(prefix="vmon-pci-exits-")
    disk = os.path.join(d, "disk.img")
    with open(disk, "wb") as f:
        f.truncate(64 << 20)
    jobs = [(t, w) for t in ("mmio", "pci") for w in WORKLOADS]
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
        res = dict(zip(jobs, ex.map(lambda j: run(vmon, bzimage, initrd, disk, j[0], j[1], a.count), jobs)))
    os.unlink(disk)
    os.rmdir(d)
    print(f"N = {a.count} requests per device")
    print("| transport | virtio-blk exits/request at its registers | virtio-net exits/round trip at its registers "
          "| all exits / request | idle run's exits |")
    print("|---|---|---|---|---|")
    for t in ("mmio", "pci"):
        total, at = res[(t, "work")]
        idle_total, idle_at = res[(t, "idle")]
        per = [(at.get(dev, 0) - idle_at.get(dev, 0)) / a.count for dev in ("blk", "net")]
        print(f"| {t} | {per[0]:.2f} | {per[1]:.2f} | {(total - idle_total) / (2 * a.count):.2f} | {idle_total} |")


if __name__ == "__main__":
    main()
