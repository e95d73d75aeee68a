#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""QEMU's side of the issue 11 figures: live migration and snapshot restore of the same test guests
(docs/PERFORMANCE.md compares them with bench/migrate.sh and bench/snapshot.py).

QEMU runs each guest as bench/startup.py does: `-M microvm` (qboot, no option ROMs, no ACPI; rtc=on, which microvm leaves off under KVM by default,
as the guests read the CMOS clock), `-kernel` the test guest's ELF through QEMU's PVH loader, -accel kvm,
the first CPU model of host_tools.QEMU_CPU_MODELS this host runs (a PVM host aborts `host` and `max`);
driven over QMP.
  - migrate: --repeat times, a source QEMU running the ticker with --mem-mib of RAM migrates, after
    --warmup-s, to a second QEMU started with `-incoming unix:PATH` (QMP `migrate`, downtime-limit
    --downtime-ms as vmon's target, max-bandwidth raised from QEMU's 32 MiB/s default to 100 GiB/s so
    that the local socket is the limit, as for vmon); from the source's `query-migrate`: total-time,
    downtime, setup-time, ram transferred and dirty-sync-count (QEMU's sync rounds); the destination must
    print a tick after it.
  - restore: for each --restore-mib size, the page_touch guest (bench/snapshot.py's, same command line)
    boots, is stopped and migrated to `exec:cat > FILE` (QEMU 7.2 has no file: URI; savevm needs a qcow2
    disk); then --restore-repeat times a new QEMU started with `-incoming defer` loads it, measured on the
    client from QMP `migrate-incoming exec:cat FILE` to the MIGRATION completed event, and to the RESUME
    event (the vCPUs running) after a `cont` sent at once (the state was saved stopped, so it loads stopped).
Refusals (a CPU model QEMU aborts on, a migration that fails) are printed with QEMU's own words.

Usage: bench/qemu_migrate.py [--build build] [--mem-mib 1024] [--repeat 5] [--warmup-s 3]
                             [--downtime-ms 50] [--restore-mib 128,256,1024,4096] [--restore-repeat 10]
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from host_tools import QEMU_CPU_MODELS, machine_line, qemu_refusal, require_tools  # noqa: E402
from snapshot_uffd import ROOT, cell, touched_mib  # noqa: E402

QEMU_MICROVM = "microvm,x-option-roms=off,acpi=off,rtc=on,auto-kernel-cmdline=off"   # rtc: auto is off under KVM


class QemuFailed(RuntimeError):
    pass


class Qemu:
    """A QEMU process with its serial console in a file and a QMP connection."""

    def __init__(self, d, name, cpu, mem_mib, kernel, append="", incoming=None):
        self.d, self.name = d, name
        self.serial = os.path.join(d, f"{name}.serial")
        self.qmp_path = os.path.join(d, f"{name}.qmp")
        self.err_path = os.path.join(d, f"{name}.err")
        argv = ["qemu-system-x86_64", "-accel", "kvm", "-cpu", cpu, "-M", QEMU_MICROVM, "-m", str(mem_mib),
                "-nodefaults", "-no-user-config", "-display", "none", "-serial", f"file:{self.serial}",
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off", "-kernel", kernel, "-append", append]
        if incoming:
            argv += ["-incoming", incoming]
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.err, stderr=subprocess.STDOUT)
        self.events = []
        deadline = time.time() + 20
        while True:
            if self.proc.poll() is not None:
                raise QemuFailed(self.refusal())
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(self.qmp_path)
                break
            except OSError:
                self.sock.close()
                if time.time() > deadline:
                    raise QemuFailed(f"{name}: no QMP socket after 20 s")
                time.sleep(0.01)
        self.rfile = self.sock.makefile("r")
        self._read()   # the greeting
        self.cmd("qmp_capabilities")

    def refusal(self):
        self.err.flush()
        text = open(self.err_path, errors="replace").read()
        return qemu_refusal(text) or f"QEMU exited {self.proc.returncode}: {text[-600:]!r}"

    def _read(self):
        try:
            line = self.rfile.readline()
        except (socket.timeout, TimeoutError):
            raise
        except OSError as e:
            line = ""
            why = e
        if not line:
            try:
                self.proc.wait(timeout=5)   # QEMU aborting: its last words are what matters
            except subprocess.TimeoutExpired:
                pass
            raise QemuFailed(f"{self.name}: QMP closed ({why if 'why' in locals() else 'end of file'}): "
                             f"{self.refusal()}")
        return json.loads(line)

    def cmd(self, name, **arguments):
        msg = {"execute": name}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "event" in r:
                self.events.append((time.perf_counter_ns(), r))
            elif "error" in r:
                raise QemuFailed(f"{self.name}: {name}: {r['error'].get('desc')}")
            else:
                return r.get("return")

    def wait_event(self, event, timeout=60):
        """perf_counter_ns when the event arrived (already, or read now)."""
        deadline = time.time() + timeout
        while True:
            for t, e in self.events:
                if e["event"] == event:
                    return t
            self.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                r = self._read()
            except (socket.timeout, TimeoutError):
                raise QemuFailed(f"{self.name}: no {event} event in {timeout} s")
            if "event" in r:
                self.events.append((time.perf_counter_ns(), r))

    def wait_event_any(self, timeout):
        """Reads the next event onto self.events; its arrival time."""
        self.sock.settimeout(max(0.01, timeout))
        while True:
            try:
                r = self._read()
            except (socket.timeout, TimeoutError):
                raise QemuFailed(f"{self.name}: no QMP event in {timeout:.0f} s")
            if "event" in r:
                t = time.perf_counter_ns()
                self.events.append((t, r))
                return t

    def wait_serial(self, text, timeout=60, after=0):
        """The serial output once text appears in it past offset after."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise QemuFailed(f"{self.name}: QEMU exited waiting for {text!r}: {self.refusal()}")
            out = open(self.serial, errors="replace").read() if os.path.exists(self.serial) else ""
            if text in out[after:]:
                return out
            time.sleep(0.02)
        raise QemuFailed(f"{self.name}: {text!r} not on the serial console in {timeout} s")

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.sock.settimeout(5)
                self.cmd("quit")
            except (OSError, QemuFailed):
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()
        self.err.close()


def wait_migration(q, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = q.cmd("query-migrate")
        if info.get("status") == "completed":
            return info
        if info.get("status") in ("failed", "cancelled"):
            raise QemuFailed(f"{q.name}: migration {info['status']}: {info.get('error-desc', '')}")
        time.sleep(0.005)
    raise QemuFailed(f"{q.name}: migration not done in {timeout} s")


def wait_completed(q, timeout=120):
    """perf_counter_ns of the incoming migration's MIGRATION completed event (refusing a failed one)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for t, e in q.events:
            if e["event"] == "MIGRATION" and e["data"]["status"] in ("completed", "failed"):
                if e["data"]["status"] == "failed":
                    raise QemuFailed(f"{q.name}: incoming migration failed: {q.refusal()}")
                return t
        q.wait_event_any(deadline - time.time())
    raise QemuFailed(f"{q.name}: incoming migration not completed in {timeout} s")


def pick_cpu(args, d):
    """The first CPU model QEMU runs the ticker with, and (model, why) for those it refused."""
    refused = []
    for cpu in QEMU_CPU_MODELS:
        q = None
        try:
            q = Qemu(d, f"probe-{cpu}", cpu, 64, args.ticker)
            q.wait_serial("tick 1", timeout=10)
            return cpu, refused
        except QemuFailed as e:
            refused.append((cpu, str(e)))
        finally:
            if q:
                q.stop()
    return None, refused


def migrate_once(args, d, cpu, i):
    dst = Qemu(d, f"dst{i}", cpu, args.mem_mib, args.ticker, incoming=f"unix:{d}/mig{i}.sock")
    src = Qemu(d, f"src{i}", cpu, args.mem_mib, args.ticker)
    try:
        src.wait_serial("tick 1", timeout=30)
        time.sleep(args.warmup_s)
        src.cmd("migrate-set-parameters", **{"downtime-limit": args.downtime_ms, "max-bandwidth": 100 << 30})
        src.cmd("migrate", uri=f"unix:{d}/mig{i}.sock")
        info = wait_migration(src)
        before = open(src.serial).read()
        last_tick = before.rstrip().splitlines()[-1]
        # The destination's console starts empty: the next tick there shows the guest running on.
        dst.wait_serial("tick", timeout=5)
        ram = info["ram"]
        return {"total_ms": info["total-time"], "downtime_ms": info["downtime"], "setup_ms": info["setup-time"],
                "mib": ram["transferred"] / (1 << 20), "rounds": ram["dirty-sync-count"],
                "zero_pages": ram["duplicate"], "normal_pages": ram["normal"], "last_source_line": last_tick}
    finally:
        src.stop()
        dst.stop()


def restore_figures(args, d, cpu, size):
    state = os.path.join(d, f"state-{size}")
    q = Qemu(d, f"snap{size}", cpu, size, args.page_touch, append=f"from=16 size={touched_mib(size)}")
    try:
        q.wait_serial("page_touch: ready", timeout=900)
        q.cmd("stop")
        q.cmd("migrate-set-parameters", **{"max-bandwidth": 100 << 30})
        t0 = time.perf_counter_ns()
        q.cmd("migrate", uri=f"exec:cat > {state}")
        info = wait_migration(q)
        create_ms = (time.perf_counter_ns() - t0) / 1e6
    finally:
        q.stop()
    loads = []
    for i in range(args.restore_repeat):
        r = Qemu(d, f"load{size}-{i}", cpu, size, args.page_touch, append=f"from=16 size={touched_mib(size)}",
                 incoming="defer")
        try:
            r.cmd("migrate-set-capabilities", capabilities=[{"capability": "events", "state": True}])
            t0 = time.perf_counter_ns()
            r.cmd("migrate-incoming", uri=f"exec:cat {state}")
            t1 = wait_completed(r)
            r.cmd("cont")   # saved stopped, so loaded stopped
            loads.append(((t1 - t0) / 1e6, (r.wait_event("RESUME", timeout=10) - t0) / 1e6))
        finally:
            r.stop()
    return create_ms, info["total-time"], os.path.getsize(state), loads


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--mem-mib", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--warmup-s", type=float, default=3)
    p.add_argument("--downtime-ms", type=int, default=50)
    p.add_argument("--restore-mib", default="128,256,1024,4096")
    p.add_argument("--restore-repeat", type=int, default=10)
    args = p.parse_args()
    args.ticker = os.path.join(args.build, "tests", "guests", "ticker.elf")
    args.page_touch = os.path.join(args.build, "tests", "guests", "page_touch.elf")
    require_tools({"qemu-system-x86_64": "qemu-system-x86"})
    print(machine_line("direct"))
    print(subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.splitlines()[0])
    d = tempfile.mkdtemp(prefix="vmon-bench-qemu-")
    try:
        cpu, refused = pick_cpu(args, d)
        for model, why in refused:
            print(f"-cpu {model}: refused: {why}")
        if not cpu:
            sys.exit("QEMU ran the ticker with none of the CPU models")
        print(f"-cpu {cpu}")
        runs = []
        for i in range(args.repeat):
            try:
                r = migrate_once(args, d, cpu, i)
            except QemuFailed as e:
                print(f"migrate run {i + 1}: failed: {e}")
                continue
            runs.append(r)
            print(f"migrate run {i + 1}: " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                                                    for k, v in r.items()), flush=True)
        if runs:
            print(f"QEMU migrate, ticker, {args.mem_mib} MiB, unix socket, downtime-limit {args.downtime_ms} ms: "
                  f"{len(runs)} runs, median (min-max):")
            for k in ("total_ms", "downtime_ms", "setup_ms", "mib", "rounds"):
                print(f"  {k}: {cell([float(r[k]) for r in runs])}")
        for size in (int(s) for s in args.restore_mib.split(",") if s):
            if shutil.disk_usage(d).free < (size << 20) * 2:
                print(f"restore {size} MiB: skipped, not enough disk under {d}")
                continue
            try:
                create_ms, total_ms, nbytes, loads = restore_figures(args, d, cpu, size)
            except QemuFailed as e:
                print(f"restore {size} MiB: failed: {e}")
                continue
            print(f"restore {size} MiB ({touched_mib(size)} MiB written): state file {nbytes / (1 << 20):.1f} MiB "
                  f"made in {create_ms:.1f} ms (query-migrate total-time {total_ms} ms); {len(loads)} loads, "
                  f"migrate-incoming to MIGRATION completed {cell([c for c, _ in loads])} ms, to RESUME after "
                  f"cont {cell([r for _, r in loads])} ms", flush=True)
            os.unlink(os.path.join(d, f"state-{size}"))
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
