#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Snapshot restore bench (issue 11): the File (MAP_PRIVATE) and Uffd memory backends side by side.

The `page_touch` test guest (build/tests/guests/page_touch.elf) boots through the API with --mem-mib of RAM,
writes a distinct word into every page of [16 MiB, --mem-mib - 32 MiB) (at most up to 992 MiB: its CPL-3
page tables map the first GiB) and waits on COM1; it is paused,
snapshotted (PUT /snapshot/create) and its vmon killed. Then --repeat times for each backend — File;
Uffd served in-process from the memory file; Uffd served by the external handler
(build/uffd_handler, as tests/integration/conftest.py builds it; one page per fault) — a new vmon restores it (PUT /snapshot/load,
resume_vm true) and:
  - restore: the load request's round trip on the client (time.perf_counter_ns; the answer comes once the
    machine is restored, as the main thread then starts the vCPUs), and vmon's own "restored in" figure
    (snapshot file read and checked, machine built, states loaded), and vmon's "first KVM_RUN" figure (the
    load request's arrival in vmon to vCPU 0's first KVM_RUN: the restore as the guest sees it);
  - first access: the guest reads a word of every page ('r' on COM1) and reports the TSC cycles (converted
    with its CMOS-calibrated TSC rate) of the pass: cold (every page's first touch since the restore), then
    again (warm), then writes one word of every page ('w': with File, each page's copy-on-write copy).
The memory file sits in the host page cache after the snapshot (warm cache, nothing is dropped): the
figures are the fault path, not the disk. Needs a usable /dev/kvm and root (userfaultfd for KVM's faults).

Usage: bench/snapshot_uffd.py [--build build] [--mem-mib 256] [--repeat 20]
"""

import argparse
import os
import queue
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from api_client import UnixHTTPConnection, socket_answers  # noqa: E402
from host_tools import machine_line  # noqa: E402


class Vmon:
    """vmon --api-sock with its serial console on pipes; lines arrive on a queue."""

    def __init__(self, vmon, sock):
        self.sock = sock
        self.proc = subprocess.Popen([vmon, "--api-sock", sock], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.lines = queue.Queue()
        self.log = []
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.time() + 10
        while not socket_answers(sock):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"vmon did not serve {sock}: {''.join(self.log)}")
            time.sleep(0.005)
        self.conn = UnixHTTPConnection(sock, timeout=60)

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace")
            self.log.append(line)
            self.lines.put(line)

    def call(self, method, path, body):
        self.conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data!r}")

    def wait_for(self, pattern, timeout=120):
        deadline = time.time() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                raise RuntimeError(f"no line matching {pattern!r}: {''.join(self.log[-20:])}")
            m = re.search(pattern, line)
            if m:
                return m

    def send(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def stop(self):
        """SIGTERM (a clean stop: the Uffd backend logs what it served), then the rest of the log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        time.sleep(0.05)   # the reader thread drains the pipe
        return "".join(self.log)


def touched_mib(mem_mib):
    """What page_touch writes: [16 MiB, mem - 32 MiB), inside the 0..1 GiB its CPL-3 page tables map."""
    return min(mem_mib - 48, 1024 - 32 - 16)


def snapshot(args, d, mem_mib, creates=1):
    """Boots page_touch with mem_mib of RAM, pauses it and snapshots it creates times to d/snap, d/mem (each
    replacing the last); returns the PUT /snapshot/create round trips in ms."""
    v = Vmon(args.vmon, os.path.join(d, "boot.sock"))
    times = []
    try:
        v.call("PUT", "/boot-source", f'{{"kernel_image_path": "{args.guest}", '
               f'"boot_args": "from=16 size={touched_mib(mem_mib)}"}}')
        v.call("PUT", "/machine-config", f'{{"vcpu_count": 1, "mem_size_mib": {mem_mib}}}')
        v.call("PUT", "/actions", '{"action_type": "InstanceStart"}')
        v.wait_for(r"page_touch: ready", timeout=900)
        v.call("PATCH", "/vm", '{"state": "Paused"}')
        for _ in range(creates):
            t0 = time.perf_counter_ns()
            v.call("PUT", "/snapshot/create", f'{{"snapshot_path": "{d}/snap", "mem_file_path": "{d}/mem"}}')
            times.append((time.perf_counter_ns() - t0) / 1e6)
    finally:
        v.stop()
    return times


def restore_once(args, d, backend, i, passes=True):
    """One restore by a new vmon: a dict of load_ms (client), inside_ms (vmon's "restored in"), first_run_ms
    (load request's arrival to vCPU 0's first KVM_RUN, in vmon), passes (ns per page: cold read, warm read,
    write; empty when passes is False) and served ((faults, us per fault) of the in-process Uffd handler)."""
    handler = None
    path = f"{d}/mem"
    if backend == "uffd-external":
        path = f"{d}/h{i}.sock"
        handler = subprocess.Popen([args.handler, path, f"{d}/mem"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if b"listening" not in handler.stdout.readline():
            raise RuntimeError("uffd_handler did not listen")
    v = Vmon(args.vmon, f"{d}/r{i}.sock")
    out = {"passes": []}
    try:
        kind = "File" if backend == "file" else "Uffd"
        body = (f'{{"snapshot_path": "{d}/snap", "mem_backend": {{"backend_type": "{kind}", '
                f'"backend_path": "{path}"}}, "resume_vm": true}}')
        t0 = time.perf_counter_ns()
        v.call("PUT", "/snapshot/load", body)
        out["load_ms"] = (time.perf_counter_ns() - t0) / 1e6
        out["inside_ms"] = float(v.wait_for(r"restored in ([\d.]+) ms").group(1))
        out["first_run_ms"] = float(v.wait_for(r"first KVM_RUN ([\d.]+) ms after the snapshot load").group(1))
        for op in (b"r", b"r", b"w") if passes else ():
            v.send(op)
            m = v.wait_for(r"page_touch: ([rw]) (\d+) pages (\d+) cycles (\d+) us")
            out["passes"].append(int(m.group(4)) * 1000 / int(m.group(2)))   # ns per page
    finally:
        log = v.stop()
        if handler:
            handler.kill()
            handler.wait()
    m = re.search(r"Uffd backend: (\d+) faults served.*; ([\d.]+) us per fault in the handler", log)
    out["served"] = (int(m.group(1)), float(m.group(2))) if m else None
    return out


def cell(values, fmt="{:.2f}"):
    """median (min-max)"""
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def tools(args):
    args.vmon = os.path.join(args.build, "vmon")
    args.guest = os.path.join(args.build, "tests", "guests", "page_touch.elf")
    args.handler = os.path.join(args.build, "uffd_handler")   # built by tests/integration/conftest.py


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--mem-mib", type=int, default=256)
    p.add_argument("--repeat", type=int, default=20)
    args = p.parse_args()
    tools(args)
    print(machine_line("direct"))
    with tempfile.TemporaryDirectory(prefix="vmon-bench-uffd-") as d:
        snapshot(args, d, args.mem_mib)
        print(f"guest: page_touch, {args.mem_mib} MiB RAM, {touched_mib(args.mem_mib)} MiB touched; {args.repeat} "
              "restores per backend, medians (min-max)")
        print(f"{'backend':<15} {'load request ms':>22} {'vmon restore ms':>22} {'first KVM_RUN ms':>22} "
              f"{'cold read ns/page':>24} {'warm read ns/page':>20} {'write ns/page':>20}")
        for backend in ("file", "uffd-in-process", "uffd-external"):
            runs = [restore_once(args, d, backend, i) for i in range(args.repeat)]
            cols = [[r[k] for r in runs] for k in ("load_ms", "inside_ms", "first_run_ms")]
            cols += [[r["passes"][k] for r in runs] for k in range(3)]
            c = [cell(col) for col in cols]
            print(f"{backend:<15} {c[0]:>22} {c[1]:>22} {c[2]:>22} {c[3]:>24} {c[4]:>20} {c[5]:>20}")
            served = [r["served"] for r in runs if r["served"]]
            if served:
                print(f"{'':<15} in-process handler: {statistics.median(f for f, _ in served):.0f} faults per "
                      f"restore, {statistics.median(us for _, us in served):.1f} us per fault in the handler "
                      "(pread of the block + UFFDIO_COPY), medians")


if __name__ == "__main__":
    main()
