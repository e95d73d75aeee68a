#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""API bench (issue 10): latency of vmon's Firecracker-compatible API and Linux boot through it.

`vmon --api-sock PATH` serves Firecracker's REST API on a UNIX socket. Each request is timed on the client
(Python http.client over AF_UNIX, time.perf_counter_ns, garbage collector off) in two ways, interleaved
(one of each in turn, the order swapped every round):
  - keep-alive: one persistent connection for every request, as Firecracker's SDK clients hold one;
  - fresh: a new connection per request (connect, request, response, close, all timed), as curl does.
Measured:
  1. GET / (instance info) latency, --requests of each kind: before InstanceStart (no VM) and with the
     `ticker` test guest (build/tests/guests/ticker.elf, prints "tick N" once a second) running on
     --vcpus vCPUs;
  2. with the ticker running: PATCH /vm {"state": "Paused"} then {"state": "Resumed"}, --pairs pairs of
     each kind (a pause returns once every vCPU is out of KVM_RUN and parked; --settle-ms after each resume
     lets the vCPUs get back into the guest first), and GET /metrics (Prometheus text), --requests / 4 of
     each kind; the guest must still tick afterwards. vmon's own in-handler times (its Prometheus
     vmon_api_request_duration_seconds sum/count/max) are read back for each phase alongside;
  3. Linux (unless --no-linux): the project kernel + initramfs (scripts/build-guest.sh) booted through the
     API (PUT /boot-source with initrd_path, boot_args "console=ttyS0 reboot=k panic=-1 vmon.cmd=true",
     PUT /machine-config, PUT /actions InstanceStart) by `vmon --boot-timer`, which logs
     "Guest-boot-time = N us M ms" when the guest's /init writes its mark (boot-timer port 0x440), timed
     from vmon's process start. The client's time of sending InstanceStart, from just before it spawned
     vmon, is subtracted: InstanceStart -> init (exec and dynamic loading of vmon, ~1 ms, count against the
     start offset, so the figure is, if anything, that much high). InstanceStart's own response time
     (building the VM, loading kernel and initramfs) and the time to the guest's power-off are reported too.
     --repeat boots (medians).
Firecracker itself is measured only where a `firecracker` binary is on PATH: it is not packaged in Debian
and this bench downloads nothing; otherwise the report says so.
The VM parts need a usable /dev/kvm on this host (a Python client cannot reach a socket inside the KVM
sandbox); without one only GET / before InstanceStart is measured and the rest is reported as not measured.

Usage: bench/api.py [--build build] [--requests 2000] [--pairs 200] [--vcpus 2] [--settle-ms 5]
                    [--repeat 1] [--no-linux]
"""

import argparse
import gc
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from api_client import UnixHTTPConnection, socket_answers  # noqa: E402
from host_tools import machine_line  # noqa: E402
from vmrunner import direct_unavailable_reason  # noqa: E402

LINUX_BOOT_ARGS = "console=ttyS0 reboot=k panic=-1 vmon.cmd=true"
LINUX_MEM_MIB = 128
LINUX_TIMEOUT_S = 900
BOOT_TIME_RE = re.compile(r"Guest-boot-time = (\d+) us (\d+) ms")
KINDS = ("keep-alive", "fresh")


class BenchError(RuntimeError):
    pass


HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def exchange(conn, method, path, body):
    conn.request(method, path, body=body, headers=HEADERS)
    r = conn.getresponse()
    return r.status, r.read()


class Client:
    """Both ways of talking to one socket; call() returns (status, body bytes, microseconds)."""

    def __init__(self, sock):
        self.sock = sock
        self.keep = UnixHTTPConnection(sock)

    def call(self, kind, method, path, body=None, timeout=30):
        data = None if body is None else json.dumps(body)
        if kind == "keep-alive":
            self.keep.timeout = timeout
            if self.keep.sock:
                self.keep.sock.settimeout(timeout)
            t0 = time.perf_counter_ns()
            status, raw = exchange(self.keep, method, path, data)
            t1 = time.perf_counter_ns()
        else:
            t0 = time.perf_counter_ns()
            conn = UnixHTTPConnection(self.sock, timeout)
            try:
                status, raw = exchange(conn, method, path, data)
            finally:
                conn.close()
            t1 = time.perf_counter_ns()
        return status, raw, (t1 - t0) / 1000

    def ok(self, method, path, body=None, timeout=30):
        """A request that must succeed (keep-alive); its parsed answer."""
        status, raw, _ = self.call("keep-alive", method, path, body, timeout)
        if status >= 300:
            raise BenchError(f"{method} {path} {json.dumps(body) if body else ''}: HTTP {status} {raw[:300]!r}")
        return json.loads(raw) if raw and raw.lstrip()[:1] in (b"{", b"[") else raw


class Vmon:
    """A `vmon --api-sock` process; console (stdout) and log (stderr) go to files, which never fill up."""

    def __init__(self, vmon, tmp, name, *extra):
        self.sock = os.path.join(tmp, f"{name}.sock")
        self.out_path, self.err_path = os.path.join(tmp, f"{name}.out"), os.path.join(tmp, f"{name}.err")
        self.out, self.err = open(self.out_path, "wb"), open(self.err_path, "wb")
        self.spawned = time.perf_counter()
        self.proc = subprocess.Popen([vmon, "--api-sock", self.sock, "--id", name, *extra], stdout=self.out,
                                     stderr=self.err)
        deadline = time.time() + 10
        while not self._answers():
            if self.proc.poll() is not None or time.time() > deadline:
                raise BenchError(f"vmon did not serve {self.sock} (exit {self.proc.poll()}): {self.log()[-1500:]}")
            time.sleep(0.005)
        self.client = Client(self.sock)

    def _answers(self):
        return socket_answers(self.sock)

    def console(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode(errors="replace")

    def log(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_console(self, pattern, timeout):
        deadline = time.time() + timeout
        while not re.search(pattern, self.console(), re.M):
            if self.proc.poll() is not None or time.time() > deadline:
                raise BenchError(f"no {pattern!r} on the guest console after {timeout} s (vmon exit "
                                 f"{self.proc.poll()}): console {self.console()[-500:]!r}, log {self.log()[-1500:]}")
            time.sleep(0.05)

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.client.keep.close()
        self.out.close()
        self.err.close()


def percentile(sorted_samples, p):
    """Nearest-rank percentile."""
    return sorted_samples[max(0, math.ceil(p * len(sorted_samples) / 100) - 1)]


def summary(samples):
    s = sorted(samples)
    return dict(n=len(s), p50=percentile(s, 50), p99=percentile(s, 99), max=s[-1])


def interleaved(client, n, request):
    """n rounds; each round one request of each kind (order swapped every round): {kind: [us]}."""
    times = {k: [] for k in KINDS}
    gc.disable()
    try:
        for i in range(n):
            for kind in (KINDS if i % 2 == 0 else KINDS[::-1]):
                times[kind].append(request(kind))
    finally:
        gc.enable()
    return times


def get_root(client, want_state):
    def request(kind):
        status, raw, us = client.call(kind, "GET", "/")
        if status != 200 or json.loads(raw)["state"] != want_state:
            raise BenchError(f"GET / ({kind}): HTTP {status} {raw[:300]!r}, want 200 state {want_state!r}")
        return us
    return request


def get_metrics(client):
    def request(kind):
        status, raw, us = client.call(kind, "GET", "/metrics")
        if status != 200 or b"vmon_api_requests_total" not in raw:
            raise BenchError(f"GET /metrics ({kind}): HTTP {status} {raw[:300]!r}")
        return us
    return request


def pause_resume_pairs(client, pairs, settle_s):
    """{(kind, "Paused"|"Resumed"): [us]}; each pair PATCH Paused, PATCH Resumed, then (untimed) vmon's own
    times of that pause and resume (its Prometheus vmon_api_action_duration_seconds: the handler, lock
    included), then settle. The in-handler times come under the kind "in vmon"."""
    times = {(k, s): [] for k in (*KINDS, "in vmon") for s in ("Paused", "Resumed")}
    gc.disable()
    try:
        for i in range(pairs):
            for kind in (KINDS if i % 2 == 0 else KINDS[::-1]):
                for state in ("Paused", "Resumed"):
                    status, raw, us = client.call(kind, "PATCH", "/vm", {"state": state})
                    if status != 204:
                        raise BenchError(f"PATCH /vm {state} ({kind}): HTTP {status} {raw[:300]!r}")
                    times[(kind, state)].append(us)
                actions = last_actions(client)
                for state, action in (("Paused", "pause_vm"), ("Resumed", "resume_vm")):
                    if action not in actions:
                        raise BenchError(f"GET /metrics after a pause and resume has no {action} duration")
                    times[("in vmon", state)].append(actions[action])
                time.sleep(settle_s)
    finally:
        gc.enable()
    return times


def last_actions(client):
    """vmon's times of its last pause and resume: {"pause_vm": us, "resume_vm": us}."""
    text = client.ok("GET", "/metrics").decode()
    found = re.findall(r'^vmon_api_action_duration_seconds\{action="(\w+)"\} (\S+)$', text, re.M)
    return {k: float(v) * 1e6 for k, v in found}


SERVER_RE = re.compile(r'^vmon_api_request_duration_(seconds_sum|seconds_count|max_seconds)'
                       r'\{method="(\w+)",endpoint="([^"]*)"\} (\S+)$', re.M)


def server_side(client):
    """vmon's own handler times so far: {(method, endpoint): [sum_s, count, max_s]} (cumulative)."""
    text = client.ok("GET", "/metrics").decode()
    out = {}
    for what, method, endpoint, value in SERVER_RE.findall(text):
        entry = out.setdefault((method, endpoint), [0.0, 0, 0.0])
        i = {"seconds_sum": 0, "seconds_count": 1, "max_seconds": 2}[what]
        entry[i] = int(value) if i == 1 else float(value)
    return out


def server_delta(before, after, key):
    """(mean us, count) of vmon's handler time for key between two server_side() reads, and the max so far."""
    s0, c0, _ = before.get(key, [0.0, 0, 0.0])
    s1, c1, m1 = after.get(key, [0.0, 0, 0.0])
    return ((s1 - s0) / (c1 - c0) * 1e6 if c1 > c0 else None), c1 - c0, m1 * 1e6


def ticker_session(vmon_path, tmp, guest, args, rows, notes):
    """Parts 1 (running) and 2 with the ticker guest; appends table rows."""
    vm = Vmon(vmon_path, tmp, "ticker")
    try:
        c = vm.client
        c.ok("PUT", "/boot-source", {"kernel_image_path": guest})
        c.ok("PUT", "/machine-config", {"vcpu_count": args.vcpus, "mem_size_mib": 32})
        status, raw, start_us = c.call("keep-alive", "PUT", "/actions", {"action_type": "InstanceStart"}, 60)
        if status != 204:
            raise BenchError(f"InstanceStart (ticker): HTTP {status} {raw[:300]!r}; log {vm.log()[-1500:]}")
        notes.append(f"ticker InstanceStart response: {start_us / 1000:.2f} ms")
        vm.wait_console(r"^tick 1$", 30)

        before = server_side(c)
        times = interleaved(c, args.requests, get_root(c, "Running"))
        after = server_side(c)
        for kind in KINDS:
            rows.append((f"GET /, ticker running ({args.vcpus} vCPUs)", kind, summary(times[kind]),
                         server_delta(before, after, ("GET", "root"))))

        # One checked pause first: the state reads Paused and the guest stops ticking.
        c.ok("PATCH", "/vm", {"state": "Paused"})
        if c.ok("GET", "/")["state"] != "Paused":
            raise BenchError("GET / after PATCH /vm Paused does not say Paused")
        ticks = vm.console().count("tick ")
        time.sleep(1.5)
        if vm.console().count("tick ") != ticks:
            raise BenchError("the ticker guest went on ticking while paused")
        c.ok("PATCH", "/vm", {"state": "Resumed"})

        pairs = pause_resume_pairs(c, args.pairs, args.settle_ms / 1000)
        for state in ("Paused", "Resumed"):
            for kind in (*KINDS, "in vmon"):
                rows.append((f"PATCH /vm {state}, ticker running", kind, summary(pairs[(kind, state)]), None))

        before = server_side(c)
        n = max(1, args.requests // 4)
        times = interleaved(c, n, get_metrics(c))
        after = server_side(c)
        for kind in KINDS:
            rows.append(("GET /metrics (Prometheus), ticker running", kind, summary(times[kind]),
                         server_delta(before, after, ("GET", "metrics"))))

        # Still alive and ticking after all that.
        ticks = len(re.findall(r"^tick \d+$", vm.console(), re.M))
        vm.wait_console(rf"^tick {ticks + 1}$", 10)
        c.ok("PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        try:
            code = vm.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise BenchError("vmon did not end after SendCtrlAltDel to the ticker")
        if code != 0:
            raise BenchError(f"vmon exit {code} after SendCtrlAltDel (want 0): {vm.log()[-1500:]}")
    finally:
        vm.close()


def linux_boot(vmon_path, tmp, guest, vcpus, index):
    """One boot through the API: {start_s: InstanceStart sent (from spawn), response_ms, init_s, to_init_s,
    exit_s}."""
    vm = Vmon(vmon_path, tmp, f"linux{index}", "--boot-timer")
    try:
        c = vm.client
        c.ok("PUT", "/boot-source", {"kernel_image_path": guest["BZIMAGE"], "initrd_path": guest["INITRD"],
                                     "boot_args": LINUX_BOOT_ARGS})
        c.ok("PUT", "/machine-config", {"vcpu_count": vcpus, "mem_size_mib": LINUX_MEM_MIB})
        sent = time.perf_counter() - vm.spawned
        status, raw, us = c.call("keep-alive", "PUT", "/actions", {"action_type": "InstanceStart"}, 120)
        if status != 204:
            raise BenchError(f"InstanceStart (Linux): HTTP {status} {raw[:300]!r}; log {vm.log()[-1500:]}")
        try:
            code = vm.proc.wait(timeout=LINUX_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise BenchError(f"Linux did not power off within {LINUX_TIMEOUT_S} s: console "
                             f"{vm.console()[-800:]!r}")
        exit_s = time.perf_counter() - vm.spawned
        m = BOOT_TIME_RE.search(vm.log())
        if code != 0 or not m or "command exited with status 0" not in vm.console():
            raise BenchError(f"Linux boot: vmon exit {code}, boot-time line {'found' if m else 'missing'}: "
                             f"console {vm.console()[-800:]!r}, log {vm.log()[-1500:]}")
        init_s = int(m.group(1)) / 1e6
        return dict(start_s=sent, response_ms=us / 1000, init_s=init_s, to_init_s=init_s - sent,
                    exit_s=exit_s - sent)
    finally:
        vm.close()


def build_guest():
    built = subprocess.run(["sh", os.path.join(ROOT, "scripts", "build-guest.sh")], capture_output=True, text=True)
    if built.returncode != 0:
        raise BenchError(f"scripts/build-guest.sh failed (exit {built.returncode}):\n{built.stderr[-3000:]}")
    return dict(line.split("=", 1) for line in built.stdout.split())


def fmt_row(what, kind, s, server):
    mean, count, mx = server if server else (None, 0, 0)
    server_text = f"{mean:.0f} (max {mx:.0f})" if mean is not None else "–"
    return (f"| {what} | {kind} | {s['n']} | {s['p50']:.0f} | {s['p99']:.0f} | {s['max']:.0f} "
            f"| {server_text} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--requests", type=int, default=2000, help="GET / requests of each kind a phase "
                    "(GET /metrics: a quarter of it)")
    ap.add_argument("--pairs", type=int, default=200, help="pause/resume pairs of each kind")
    ap.add_argument("--vcpus", type=int, default=2, help="vCPUs of the ticker guest (default 2)")
    ap.add_argument("--settle-ms", type=float, default=5, help="pause after each resume (default 5 ms)")
    ap.add_argument("--repeat", type=int, default=1, help="Linux boots (medians; default 1: ~1 min each "
                    "where guest ring 0 is emulated)")
    ap.add_argument("--linux-vcpus", type=int, default=1, help="vCPUs of the Linux guest (default 1)")
    ap.add_argument("--no-linux", action="store_true", help="leave out the Linux boot")
    args = ap.parse_args()
    for name in ("requests", "pairs", "vcpus", "repeat", "linux_vcpus"):
        if getattr(args, name) < 1:
            sys.exit(f"bench: --{name.replace('_', '-')} must be at least 1")

    vmon = os.path.join(args.build, "vmon")
    ticker = os.path.join(args.build, "tests", "guests", "ticker.elf")
    for path in (vmon, ticker):
        if not os.path.isfile(path):
            sys.exit(f"bench: {path} missing: build first (ninja -C {args.build})")
    kvm_why = direct_unavailable_reason()
    guest = None
    if not args.no_linux and not kvm_why:
        try:
            guest = build_guest()
        except BenchError as e:
            sys.exit(f"bench: {e}")

    rows, notes, boots = [], [], []
    load_before = os.getloadavg()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="vmon-bench-api-") as tmp:
        try:
            vm = Vmon(vmon, tmp, "idle")
            try:
                before = server_side(vm.client)
                times = interleaved(vm.client, args.requests, get_root(vm.client, "Not started"))
                after = server_side(vm.client)
                for kind in KINDS:
                    rows.append(("GET /, before InstanceStart", kind, summary(times[kind]),
                                 server_delta(before, after, ("GET", "root"))))
            finally:
                vm.close()
            if not kvm_why:
                ticker_session(vmon, tmp, ticker, args, rows, notes)
                for i in range(0 if args.no_linux else args.repeat):
                    boots.append(linux_boot(vmon, tmp, guest, args.linux_vcpus, i))
        except BenchError as e:
            sys.exit(f"bench: {e}")
    elapsed = time.time() - started
    load_after = os.getloadavg()

    argv = " ".join(sys.argv[1:])
    print(f"# bench/api.py {argv}".rstrip() + f"; {time.strftime('%Y-%m-%d %H:%M %Z')}; "
          f"{machine_line('direct' if not kvm_why else None)}; run {elapsed:.0f} s; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"# vmon {vmon}; client: Python {sys.version.split()[0]} http.client over AF_UNIX")
    fc = shutil.which("firecracker")
    print("# Firecracker: " + (f"{fc} found but not driven by this bench (its boot timer is not vmon's "
                                "port 0x440)" if fc else
                                "not measured: no `firecracker` on PATH (not packaged in Debian; this bench "
                                "downloads nothing)"))
    if kvm_why:
        print(f"# VM parts not measured: {kvm_why} (a host-side client cannot reach a socket inside the KVM "
              "sandbox)")
    print()
    print("| request | connection | n | p50 (us) | p99 (us) | max (us) | vmon in-handler mean (max) (us) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(fmt_row(*row))
    for note in notes:
        print(f"- {note}")
    if boots:
        print()
        print(f"Linux through the API ({args.linux_vcpus} vCPU, {LINUX_MEM_MIB} MiB, boot_args "
              f"`{LINUX_BOOT_ARGS}`, kernel {guest['BZIMAGE']}, initramfs {guest['INITRD']}):")
        print()
        print(f"| what | median of {len(boots)} | samples |")
        print("|---|---|---|")
        for key, label, unit, scale in [
                ("start_s", "spawn -> InstanceStart sent (API configured)", "ms", 1000),
                ("response_ms", "InstanceStart response time", "ms", 1),
                ("to_init_s", "InstanceStart -> guest init mark", "s", 1),
                ("init_s", "vmon's Guest-boot-time (process start -> init mark)", "s", 1),
                ("exit_s", "InstanceStart -> vmon exit (guest ran `true`, powered off)", "s", 1)]:
            values = [b[key] * scale for b in boots]
            digits = 3 if unit == "s" else 1
            print(f"| {label} | {statistics.median(values):.{digits}f} {unit} | "
                  f"{', '.join(f'{v:.{digits}f}' for v in values)} |")


if __name__ == "__main__":
    main()
