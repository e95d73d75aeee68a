#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""virtio-vsock throughput and round-trip latency, guest <-> host (issue 12).

One boot of the project Linux (scripts/build-guest.sh) with --vsock; the guest end is /bin/vsock-echo,
the host end tests/integration/vsock_host.py (Firecracker's UNIX-socket protocol):

  * guest -> host: the guest connects to CID 2 port 6000 (an echo server on <uds>_6000) and streams
    --mib MiB while reading the echo back: MiB/s = bytes each way / time from accept to EOF;
  * host -> guest: "CONNECT 5000" to the guest's echo server, --mib MiB through it the same way;
  * round trip: on a second connection to the guest's echo server, --pings 1-byte ping-pongs;
    median and 90th percentile in microseconds.

QEMU's vhost-vsock side by side when /dev/vhost-vsock exists (it does not on the PVM hosts of this
project: no vhost_vsock module for their kernel); otherwise the script says so.

Usage: python3 bench/vsock.py [--build build] [--mib 8] [--pings 200]"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import vsock_host as vh  # noqa: E402


def guest_files():
    out = subprocess.run(["sh", os.path.join(ROOT, "scripts", "build-guest.sh")], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    files = dict(line.split("=", 1) for line in out.split() if "=" in line)
    return files["BZIMAGE"], files["INITRD"]


class VsockEchoServer(vh.EchoServer):
    """vh.EchoServer on an AF_VSOCK port of the host (QEMU's vhost-vsock: the guest reaches the host kernel)."""

    def __init__(self, port):
        import threading
        threading.Thread.__init__(self, daemon=True)
        self.sock = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        self.sock.bind((socket.VMADDR_CID_ANY, port))
        self.sock.listen(4)
        self.count, self.results, self.error = 1, [], None
        self.start()


def run_one(argv, server, connect, mib, pings):
    """Boots argv (a guest running the script below), measures; returns (out MiB/s, in MiB/s, rtts)."""
    nbytes = mib << 20
    g = vh.Guest(argv)
    try:
        m = g.wait_for(r"vsock-echo: sent (\d+) received (\d+) crc32 (\w+) (\w+)", 300 + mib * 60)
        if m.group(4) != "match":
            sys.exit(f"guest -> host echo: {m.group(0)}")
        server.join(30)
        got, crc, secs_out = server.results[0]
        if got != nbytes or f"{crc:08x}" != m.group(3):
            sys.exit(f"guest -> host: host got {got} bytes crc {crc:08x}, guest says {m.group(0)}")
        g.wait_for(r"listening on 5000", 120)
        s = connect()
        data = os.urandom(nbytes)
        n, echo_crc, secs_in = vh.echo_through(s, data)
        s.close()
        if n != nbytes or echo_crc != zlib.crc32(data):
            sys.exit(f"host -> guest: echo of {n} bytes, crc {echo_crc:08x} != {zlib.crc32(data):08x}")
        s = connect()
        rtts = []
        for _ in range(pings):
            t = time.perf_counter()
            s.sendall(b"p")
            if s.recv(1) != b"p":
                sys.exit("round trip: wrong answer")
            rtts.append((time.perf_counter() - t) * 1e6)
        s.close()
        g.finish(120)
    finally:
        g.kill()
    return mib / secs_out, mib / secs_in, sorted(rtts), secs_out, secs_in


def report(name, mib, pings, res):
    out, inn, rtts, secs_out, secs_in = res
    print(f"{name}, {mib} MiB each way (echo, CRC-32 checked):")
    print(f"  guest -> host (guest connects to CID 2): {out:.3f} MiB/s ({secs_out:.2f} s)")
    print(f"  host -> guest (host connects to port 5000): {inn:.3f} MiB/s ({secs_in:.2f} s)")
    print(f"  round trip, 1 byte, {pings} pings: median {statistics.median(rtts):.0f} us, "
          f"p90 {rtts[int(len(rtts) * 0.9)]:.0f} us, min {rtts[0]:.0f} us")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--mib", type=int, default=8)
    ap.add_argument("--pings", type=int, default=200)
    args = ap.parse_args()
    vmon = os.path.join(os.path.abspath(args.build), "vmon")
    bzimage, initrd = guest_files()
    script = f"vsock-echo connect 2 6000 {args.mib << 20}\nvsock-echo listen 5000 2\n"
    work = tempfile.mkdtemp(prefix="vmon-bench-vsock-")
    try:
        uds = os.path.join(work, "v.sock")
        res = run_one(vh.linux_argv(vmon, bzimage, initrd, uds, script), vh.EchoServer(uds + "_6000"),
                      lambda: vh.connect(uds, 5000)[0], args.mib, args.pings)
        report("vmon virtio-vsock (Firecracker UNIX-socket host side)", args.mib, args.pings, res)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if not os.path.exists("/dev/vhost-vsock"):
        r = subprocess.run(["modprobe", "vhost_vsock"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        print("QEMU vhost-vsock: not run, /dev/vhost-vsock is absent; `modprobe vhost_vsock`: "
              f"{(r.stdout.strip() or 'exit status ' + str(r.returncode))}")
        return
    # QEMU 7.2 with vhost-vsock-pci: the host end is the host kernel's AF_VSOCK (guest CID 3).
    pvm = os.path.exists("/sys/module/kvm_pvm")
    argv = ["qemu-system-x86_64", "-accel", "kvm", "-cpu", "qemu64" if pvm else "host", "-m", "256",
            "-display", "none", "-serial", "stdio", "-no-reboot", "-kernel", bzimage, "-initrd", initrd,
            "-append", vh.cmdline(script) + (" noxsave" if pvm else ""), "-device", "vhost-vsock-pci,guest-cid=3"]

    def qemu_connect():
        s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect((3, 5000))
        return s
    res = run_one(argv, VsockEchoServer(6000), qemu_connect, args.mib, args.pings)
    report("QEMU 7.2 vhost-vsock-pci", args.mib, args.pings, res)


if __name__ == "__main__":
    main()
