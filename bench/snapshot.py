#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Snapshot bench across RAM sizes (issue 11): creation time, file sizes and restore time per guest RAM size.

For each --mem-mib size the `page_touch` guest (bench/snapshot_uffd.py's: it writes a word into every page
of [16 MiB, min(size - 32, 992) MiB), so the memory file holds data, not holes) boots through the API, is
paused and snapshotted --creates times (PUT /snapshot/create round trip on the client: the state and the
whole memory file written); the snapshot and memory file sizes are then read (apparent size and blocks
allocated: the memory file is sparse, zero pages are holes). Then, for each --backend, --repeat new vmon
processes restore it, all sizes and backends in turn each round (PUT /snapshot/load, resume_vm true) and the bench records:
  - first KVM_RUN: vmon's in-process figure from the load request's arrival (the API handler's entry) to
    vCPU 0's first KVM_RUN ioctl (log line "vCPU 0: first KVM_RUN X ms after the snapshot load request"):
    the issue's "from the load request to the vCPUs running";
  - restored in: vmon's figure for the main thread's part (snapshot file read and checked, machine built,
    memory mapped or registered, states loaded);
  - load request: the client's round trip of PUT /snapshot/load (connection already open).
No page is touched after the restore (first-access costs: bench/snapshot_uffd.py). The memory file is in
the host page cache (written just before). Needs /dev/kvm and root (userfaultfd for KVM's faults).

Usage: bench/snapshot.py [--build build] [--mem-mib 128,256,1024,4096] [--repeat 20] [--creates 5]
                         [--backend file,uffd-in-process,uffd-external] [--dir /var/tmp]
"""

import argparse
import os
import shutil
import statistics
import tempfile

from host_tools import machine_line
from snapshot_uffd import ROOT, cell, restore_once, snapshot, tools, touched_mib

BACKENDS = ("file", "uffd-in-process", "uffd-external")


def file_sizes(path):
    st = os.stat(path)
    return st.st_size, st.st_blocks * 512


def mib(n):
    return f"{n / (1 << 20):.1f}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--mem-mib", default="128,256,1024,4096")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--creates", type=int, default=5)
    p.add_argument("--backend", default="file,uffd-in-process")
    p.add_argument("--dir", default=tempfile.gettempdir(), help="where the snapshot files go")
    args = p.parse_args()
    tools(args)
    sizes = [int(s) for s in args.mem_mib.split(",")]
    backends = args.backend.split(",")
    for b in backends:
        if b not in BACKENDS:
            p.error(f"--backend {b}: not one of {', '.join(BACKENDS)}")
    if "uffd-external" in backends and not os.access(args.handler, os.X_OK):
        p.error(f"{args.handler} missing: run any tests/integration test once (conftest.py builds it)")
    print(machine_line("direct"))
    print(f"{args.repeat} restores per size and backend, {args.creates} snapshots per size; medians (min-max), ms")
    dirs, rows = {}, {}
    try:
        for size in sizes:
            d = dirs[size] = tempfile.mkdtemp(prefix=f"vmon-bench-snap-{size}-", dir=args.dir)
            free = shutil.disk_usage(d).free
            if free < (size << 20) * 2:
                print(f"{size} MiB: skipped, {mib(free)} MiB free under {d}")
                del dirs[size]
                shutil.rmtree(d)
                continue
            creates = snapshot(args, d, size, args.creates)
            snap_size, _ = file_sizes(f"{d}/snap")
            mem_size, mem_alloc = file_sizes(f"{d}/mem")
            print(f"{size} MiB RAM ({touched_mib(size)} MiB written): create {cell(creates)}; snapshot file "
                  f"{snap_size} bytes; memory file {mib(mem_size)} MiB, {mib(mem_alloc)} MiB allocated", flush=True)
        # Interleaved (each round restores every size with every backend) so that the host's load, which
        # drifts on a shared machine, falls on all sizes alike.
        for i in range(args.repeat):
            for size in dirs:
                for b in backends:
                    rows.setdefault((size, b), []).append(restore_once(args, dirs[size], b, i, passes=False))
    finally:
        for d in dirs.values():
            shutil.rmtree(d)
    print("\n| RAM | backend | first KVM_RUN after the load request (vmon) | vmon \"restored in\" | "
          "PUT /snapshot/load (client) |")
    print("|---|---|---|---|---|")
    for (size, b), runs in rows.items():
        cols = [cell([r[k] for r in runs]) for k in ("first_run_ms", "inside_ms", "load_ms")]
        print(f"| {size} MiB | {b} | {' | '.join(cols)} |")


if __name__ == "__main__":
    main()
