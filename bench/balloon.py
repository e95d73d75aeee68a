#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Balloon reclaim speed (issue 12): how fast memory the guest gives up goes back to the host.

Boots the project kernel + initramfs (scripts/build-guest.sh) through `vmon --api-sock`, twice:
  - inflate: the guest touches --mib + 8 MiB from user space and frees it (no free page reporting, so it
    stays resident on the host); the bench PATCHes /balloon to --mib and times until the driver's actual
    equals the target AND vmon's VmRSS dropped by 90% of --mib: MiB/s = --mib / that time. Then deflate
    to 0, timed until actual is 0.
  - reporting: the guest holds --mib MiB, frees it; timed from the guest's "freed" line to vmon's VmRSS
    having dropped by 90% of --mib (Linux reports free 2 MiB blocks after a 2 s delay, so the figure
    includes that delay): MiB/s = --mib / that time.
Guest page touching runs emulated on a PVM host (~0.3 MiB/s): keep --mib small there.

Usage: bench/balloon.py [--build build] [--mib 32] [--mem-mib 256]
"""

import argparse
import base64
import json
import os
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMINFO = "m() { awk '/MemTotal|MemAvailable/ {printf \"%s %s \", $1, $2} END {print \"\"}' /proc/meminfo; }\n"


def guest_paths():
    out = subprocess.run(["sh", os.path.join(ROOT, "scripts", "build-guest.sh")], check=True,
                         capture_output=True, text=True).stdout
    vals = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return vals["BZIMAGE"], vals["INITRD"]


class Vm:
    def __init__(self, vmon, bzimage, initrd, script, balloon, mem_mib, d):
        self.vmon, self.sock = vmon, os.path.join(d, "a.sock")
        self.out = open(os.path.join(d, "out"), "w+")
        self.proc = subprocess.Popen([vmon, "--api-sock", self.sock, "--id", "bench-balloon"], stdout=self.out,
                                     stderr=subprocess.DEVNULL)
        cmd64 = base64.b64encode(script.encode()).decode()
        self.ctl("put", "/boot-source", json.dumps({"kernel_image_path": bzimage, "initrd_path": initrd,
                                                    "boot_args": f"console=ttyS0 reboot=k panic=-1 vmon.cmd64={cmd64}"}))
        self.ctl("put", "/machine-config", json.dumps({"vcpu_count": 1, "mem_size_mib": mem_mib}))
        self.ctl("put", "/balloon", json.dumps(balloon))
        self.ctl("start")

    def ctl(self, *args):
        return subprocess.run([self.vmon, "ctl", "--api-sock", self.sock, "--wait", "10", *args], check=True,
                              capture_output=True, text=True).stdout

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))

    def wait_line(self, prefix, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.out.seek(0)
            if any(line.startswith(prefix) for line in self.out):
                return
            time.sleep(0.1)
        raise TimeoutError(f"no guest line '{prefix}' in {timeout} s")

    def actual_mib(self):
        return json.loads(self.ctl("balloon-stats"))["actual_mib"]

    def close(self):
        self.proc.kill()
        self.proc.wait()


def until(cond, timeout):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)
    return time.monotonic() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--mib", type=int, default=32)
    p.add_argument("--mem-mib", type=int, default=256)
    a = p.parse_args()
    vmon = os.path.join(a.build, "vmon")
    bzimage, initrd = guest_paths()
    n = a.mib
    with tempfile.TemporaryDirectory(prefix="vmon-bench-balloon-") as d:
        script = MEMINFO + (f"awk 'BEGIN {{ s = sprintf(\"%{(n + 8) << 20}s\", \"\") }}'\necho touched\n"
                            "while :; do sleep 5; done\n")
        vm = Vm(vmon, bzimage, initrd, script, {"amount_mib": 0, "deflate_on_oom": False,
                                                "stats_polling_interval_s": 1}, a.mem_mib, d)
        try:
            vm.wait_line("touched", 3600)
            time.sleep(3)
            rss0 = vm.rss_kib()
            t0 = time.monotonic()
            vm.ctl("balloon", str(n))
            until(lambda: vm.actual_mib() == n and rss0 - vm.rss_kib() >= n * 1024 * 9 // 10, 3600)
            inflate_s = time.monotonic() - t0
            rss1 = vm.rss_kib()
            t0 = time.monotonic()
            vm.ctl("balloon", "0")
            until(lambda: vm.actual_mib() == 0, 3600)
            deflate_s = time.monotonic() - t0
        finally:
            vm.close()
    with tempfile.TemporaryDirectory(prefix="vmon-bench-balloon-") as d:
        script = (f"awk 'BEGIN {{ s = sprintf(\"%{n << 20}s\", \"\"); system(\"echo holding; sleep 20\") }}'\n"
                  "echo freed\nwhile :; do sleep 5; done\n")
        vm = Vm(vmon, bzimage, initrd, script, {"amount_mib": 0, "deflate_on_oom": True,
                                                "free_page_reporting": True}, a.mem_mib, d)
        try:
            vm.wait_line("holding", 3600)
            time.sleep(10)
            rss2 = vm.rss_kib()
            vm.wait_line("freed", 120)
            report_s = until(lambda: rss2 - vm.rss_kib() >= n * 1024 * 9 // 10, 600)
            rss3 = vm.rss_kib()
        finally:
            vm.close()
    print(f"inflate {n} MiB: {inflate_s:.2f} s to actual == target and RSS -90% ({n / inflate_s:.1f} MiB/s); "
          f"RSS {rss0} -> {rss1} kB")
    print(f"deflate {n} MiB: {deflate_s:.2f} s to actual == 0 ({n / deflate_s:.1f} MiB/s)")
    print(f"free page reporting {n} MiB: {report_s:.2f} s from the guest's free to RSS -90% "
          f"({n / report_s:.1f} MiB/s, Linux's 2 s reporting delay included); RSS {rss2} -> {rss3} kB")


if __name__ == "__main__":
    main()
