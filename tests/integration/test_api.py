# SPDX-License-Identifier: MIT
"""The Firecracker-compatible API (issue 10), end to end.

Two kinds of test:
  * before InstanceStart no KVM is involved: vmon serves the API anywhere, so these talk to a
    `vmon --api-sock` process directly from Python (http.client over the UNIX socket), on any host;
  * runs of a VM go through the session batch (vm_case; direct or KVM sandbox): a shell script starts
    `vmon --api-sock` and drives it with `vmon ctl`, so the same script works inside the sandbox.
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

import pytest

from api_client import UnixHTTPConnection, socket_answers
from conftest import VMON, describe, guest, vm_case
from vmrunner import direct_unavailable_reason

AFTER_START = "The requested operation is not supported after starting the microVM."
BEFORE_START = "The requested operation is not supported before starting the microVM."


class Api:
    """One keep-alive connection, as Firecracker's clients hold one."""

    def __init__(self, path):
        self.conn = UnixHTTPConnection(path)

    def call(self, method, path, body=None):
        data = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        raw = r.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return r.status, parsed


class ApiProcess:
    def __init__(self, *args, sock=None):
        self.dir = tempfile.mkdtemp(prefix="vmon-api-")
        self.sock = sock or os.path.join(self.dir, "api.sock")
        self.proc = subprocess.Popen([VMON, "--api-sock", self.sock, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while not self._answers():   # a stale socket file may be there before vmon's own
            if self.proc.poll() is not None or time.time() > deadline:
                out, err = self.proc.communicate(timeout=5)
                raise AssertionError(f"vmon did not serve its socket: {self.proc.returncode} {err!r}")
            time.sleep(0.01)
        self.api = Api(self.sock)

    def _answers(self):
        return socket_answers(self.sock)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=10)
        return self.proc.returncode, out, err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


def fault(body):
    assert isinstance(body, dict) and set(body) == {"fault_message"}, body
    return body["fault_message"]


# ---- before InstanceStart: any host ------------------------------------------------------------

def test_instance_info_and_socket_before_start():
    with ApiProcess("--id", "api-test-1") as p:
        assert stat.S_IMODE(os.stat(p.sock).st_mode) == 0o600
        status, body = p.api.call("GET", "/")
        assert status == 200
        assert body["id"] == "api-test-1" and body["state"] == "Not started" and body["app_name"] == "vmon"
        assert re.match(r"\d+\.\d+\.\d+", body["vmm_version"])
        code, _, err = p.stop()
        # SIGTERM before a VM exists: a clean exit, and the socket is gone.
        assert code == 128 + signal.SIGTERM, err
        assert not os.path.exists(p.sock)


def test_machine_config_round_trip_and_bad_bodies_change_nothing():
    with ApiProcess() as p:
        status, body = p.api.call("GET", "/machine-config")
        assert status == 200 and body["vcpu_count"] == 1 and body["mem_size_mib"] == 128, body
        assert p.api.call("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256})[0] == 204
        for bad, words in [({"vcpu_count": 0, "mem_size_mib": 64}, "vcpu_count"),
                           ({"vcpu_count": 2, "mem_size_mib": "lots"}, "mem_size_mib"),
                           ({"vcpu_count": 2, "mem_size_mib": 64, "colour": "red"}, "colour"),
                           ("{not json", "JSON")]:
            status, body = p.api.call("PUT", "/machine-config", bad)
            assert status == 400 and words in fault(body), (bad, body)
        status, body = p.api.call("GET", "/machine-config")
        assert body["vcpu_count"] == 2 and body["mem_size_mib"] == 256, body
        assert p.api.call("GET", "/vm/config")[1]["machine-config"]["vcpu_count"] == 2


def test_entropy_rate_limiter_is_kept_and_bad_ones_name_the_field():
    """Issue 13: PUT /entropy takes Firecracker's rate_limiter; GET /vm/config shows it."""
    ops = {"size": 10, "one_time_burst": 0, "refill_time": 100}
    with ApiProcess() as p:
        assert p.api.call("GET", "/vm/config")[1]["entropy"] is None
        status, body = p.api.call("PUT", "/entropy", {"rate_limiter": {"ops": {"size": 10, "refill_time": 100}}})
        assert status == 204, body
        assert p.api.call("GET", "/vm/config")[1]["entropy"] == {"rate_limiter": {"bandwidth": None, "ops": ops}}
        for bad, words in [
                ({"rate_limiter": {"ops": {"size": -1, "refill_time": 100}}}, "rate_limiter.ops.size"),
                ({"rate_limiter": {"bandwidth": {"size": 1, "refill_time": 1, "burst": 2}}},
                 'rate_limiter.bandwidth: unknown field "burst"'),
                ({"rate_limiter": {"bandwidth": {"size": (1 << 62) + 1, "refill_time": 1}}},
                 "rate_limiter.bandwidth: size exceeds 2^62"),
                ({"rate_limiter": 7}, "rate_limiter"),
                ({"rate_limiter": {"ops": ops}, "colour": "red"}, "colour")]:
            status, body = p.api.call("PUT", "/entropy", bad)
            assert status == 400 and words in fault(body), (bad, body)
        # Refusals changed nothing; a PUT without rate_limiter replaces it with none.
        assert p.api.call("GET", "/vm/config")[1]["entropy"]["rate_limiter"]["ops"] == ops
        assert p.api.call("PUT", "/entropy", {})[0] == 204
        assert p.api.call("GET", "/vm/config")[1]["entropy"] == {"rate_limiter": None}
        # No PATCH /entropy in Firecracker's API, nor here.
        status, body = p.api.call("PATCH", "/entropy", {"rate_limiter": {"ops": ops}})
        assert status == 400 and fault(body), body


def test_unknown_paths_later_issues_and_phase_errors():
    with ApiProcess() as p:
        status, body = p.api.call("GET", "/no-such-thing")
        assert status == 400 and "Invalid request method and/or path" in fault(body)
        status, body = p.api.call("DELETE", "/machine-config")
        assert status == 400 and "Invalid request method and/or path" in fault(body)
        for path, words in [("/vsock", "guest_cid: required"), ("/balloon", "amount_mib: required"),
                            ("/snapshot/create", "snapshot_path")]:
            status, body = p.api.call("PUT", path, {})
            assert status == 400 and words in fault(body), (path, body)
        # The balloon: its runtime calls wait for the start; free page hinting is not implemented.
        status, body = p.api.call("PATCH", "/balloon", {"amount_mib": 1})
        assert status == 400 and fault(body) == BEFORE_START
        status, body = p.api.call("GET", "/balloon/statistics")
        assert status == 400 and fault(body) == BEFORE_START
        status, body = p.api.call("GET", "/balloon")
        assert status == 400 and "not configured" in fault(body)
        status, body = p.api.call("PATCH", "/balloon/hinting/start", {})
        assert status == 400 and "hinting is not implemented" in fault(body)
        status, body = p.api.call("PATCH", "/vm", {"state": "Paused"})
        assert status == 400 and fault(body) == BEFORE_START
        status, body = p.api.call("PATCH", "/vm", {"state": "Sleeping"})
        assert status == 400 and "Sleeping" in fault(body)
        status, body = p.api.call("PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        assert status == 400 and fault(body) == BEFORE_START
        status, body = p.api.call("PUT", "/actions", {"action_type": "InstanceStart"})
        assert status == 400 and "kernel_image_path" in fault(body), body
        assert p.api.call("GET", "/")[1]["state"] == "Not started"


def raw_call(sock_path, request):
    """One request as bytes (http.client sends no bytes that are not ASCII in a path); (status, body bytes)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(sock_path)
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + int(
                re.search(rb"(?i)content-length: *(\d+)", data).group(1)):
            chunk = s.recv(4096)
            assert chunk, data
            data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), body


def test_answers_are_utf8_json_whatever_bytes_the_client_sends():
    """Found by tests/fuzz/fuzz_api: faults quoted the client's bytes, and bodies stored them, as they came."""
    with ApiProcess() as p:
        status, body = raw_call(p.sock, b"GET /caf\xe9\xff HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 400
        assert json.loads(body.decode("utf-8")) == {
            "fault_message": "Invalid request method and/or path: GET /caf??."}
        latin1 = b'{"kernel_image_path": "/k", "boot_args": "caf\xe9"}'
        status, body = raw_call(p.sock, b"PUT /boot-source HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s"
                                % (len(latin1), latin1))
        assert status == 400
        assert "is not UTF-8: byte 0xe9" in fault(json.loads(body.decode("utf-8")))
        status, body = p.api.call("GET", "/vm/config")
        assert status == 200 and body["boot-source"]["kernel_image_path"] == ""


def test_mmds_put_patch_get():
    with ApiProcess("--mmds-size-limit", "200") as p:
        status, body = p.api.call("GET", "/mmds")
        assert status == 404 and "not initialized" in fault(body), body
        status, body = p.api.call("PUT", "/mmds", {"big": "x" * 300})
        assert status == 413, body
        assert p.api.call("PUT", "/mmds", {"latest": {"meta-data": {"ami-id": "ami-1", "n": 1}}})[0] == 204
        assert p.api.call("PATCH", "/mmds", {"latest": {"meta-data": {"n": None, "zone": "z"}}})[0] == 204
        status, body = p.api.call("GET", "/mmds")
        assert status == 200 and body == {"latest": {"meta-data": {"ami-id": "ami-1", "zone": "z"}}}, body
        status, err = p.api.call("PUT", "/mmds", "[1,")
        assert status == 400 and fault(err), err
        assert p.api.call("GET", "/mmds")[1] == body   # a refused body changes nothing


def test_a_live_socket_is_refused_and_a_stale_one_replaced():
    with ApiProcess() as first:
        r = subprocess.run([VMON, "--api-sock", first.sock], capture_output=True, timeout=10)
        assert r.returncode == 2 and b"in use" in r.stderr, r.stderr
        assert first.api.call("GET", "/")[0] == 200
    stale_dir = tempfile.mkdtemp(prefix="vmon-api-stale-")
    stale = os.path.join(stale_dir, "api.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(stale)
    s.close()   # the path stays, nobody listens: stale
    with ApiProcess(sock=stale) as p:
        assert p.api.call("GET", "/")[0] == 200


def test_bad_process_flags_are_usage_errors():
    for args, words in [(["--no-api"], b"--config-file"), (["--api-sock", "/tmp/x", "--id", "bad id!"], b"--id"),
                        (["--api-sock", "/tmp/x", "--bogus"], b"--bogus"),
                        (["--no-api", "--config-file", "/nonexistent.json"], b"/nonexistent.json")]:
        r = subprocess.run([VMON, *args], capture_output=True, timeout=10)
        assert r.returncode == 2 and words in r.stderr, (args, r.stderr)


def test_ctl_talks_to_the_api_and_names_errors():
    with ApiProcess("--id", "ctl-test") as p:
        r = subprocess.run([VMON, "ctl", "--api-sock", p.sock, "status"], capture_output=True, timeout=10)
        assert r.returncode == 0 and json.loads(r.stdout)["id"] == "ctl-test", r
        r = subprocess.run([VMON, "ctl", "--api-sock", p.sock, "pause"], capture_output=True, timeout=10)
        assert r.returncode == 1 and BEFORE_START.encode() in r.stderr, r
        r = subprocess.run([VMON, "ctl", "--api-sock", p.sock, "fly"], capture_output=True, timeout=10)
        assert r.returncode == 2 and b"unknown verb" in r.stderr, r
    r = subprocess.run([VMON, "ctl", "--api-sock", "/nonexistent/api.sock", "status"], capture_output=True,
                       timeout=10)
    assert r.returncode == 6 and b"/nonexistent/api.sock" in r.stderr, r


# Request sequences of Firecracker's clients, in their order (read from their sources: firecracker-go-sdk
# handlers.go defaultFcInitHandlerList, and Kata Containers' fc.go). Each entry: method, path, body.
def go_sdk_sequence(kernel, rootfs, logdir):
    return [
        ("GET", "/machine-config", None),                     # waitForSocket's readiness poll
        ("PUT", "/logger", {"log_path": os.path.join(logdir, "log"), "level": "Debug", "show_level": True,
                            "show_log_origin": False}),
        ("PUT", "/metrics", {"metrics_path": os.path.join(logdir, "metrics")}),
        ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 32, "smt": False,
                                    "track_dirty_pages": False}),
        ("PUT", "/boot-source", {"kernel_image_path": kernel, "boot_args": "ticks=3"}),
        ("PUT", "/drives/1", {"drive_id": "1", "path_on_host": rootfs, "is_root_device": True,
                              "is_read_only": False}),
        ("PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "vmon:user",
                                              "guest_mac": "AA:FC:00:00:00:01"}),
        ("PUT", "/mmds/config", {"network_interfaces": ["eth0"]}),
        ("PUT", "/mmds", {"latest": {"meta-data": {"instance-id": "i-1"}}}),
        ("PUT", "/actions", {"action_type": "InstanceStart"}),
        ("GET", "/", None),
    ]


def kata_sequence(kernel, rootfs, logdir):
    """Kata's fc driver with --enable-pci: the root drive and its pool of 8 placeholder drives (fcDiskPoolSize)."""
    return [
        ("GET", "/", None),                                   # fcCheck/waitVMMRunning: InstanceInfo
        ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 32, "smt": False}),
        ("PUT", "/boot-source", {"kernel_image_path": kernel, "boot_args": "ticks=3"}),
        ("PUT", "/logger", {"log_path": os.path.join(logdir, "log"), "level": "Debug"}),
        ("PUT", "/metrics", {"metrics_path": os.path.join(logdir, "metrics")}),
        ("PUT", "/drives/rootfs", {"drive_id": "rootfs", "path_on_host": rootfs, "is_root_device": False,
                                   "is_read_only": True}),
    ] + [("PUT", f"/drives/drive_{i}", {"drive_id": f"drive_{i}", "path_on_host": rootfs,
                                        "is_root_device": False, "is_read_only": True}) for i in range(8)] + [
        # fc.go fcAddVsock: the agent's hybrid vsock.
        ("PUT", "/vsock", {"guest_cid": 3, "uds_path": os.path.join(logdir, "kata.hvsock"), "vsock_id": "root"}),
        ("PUT", "/actions", {"action_type": "InstanceStart"}),
        ("GET", "/", None),
    ]


def make_image(path, size=1 << 20):
    with open(path, "wb") as f:
        f.truncate(size)
    return path


@pytest.mark.parametrize("sequence", [go_sdk_sequence, kata_sequence])
def test_client_call_sequences_succeed_in_order(sequence):
    can_run = direct_unavailable_reason() is None
    # Kata's pool of 9 drives fits on PCI only (MSI-X, no interrupt lines): Firecracker >= 1.13's --enable-pci.
    with ApiProcess("--id", "seq", *(["--enable-pci"] if sequence is kata_sequence else [])) as p:
        for name in ("log", "metrics"):   # the clients create these (files or FIFOs) before naming them
            open(os.path.join(p.dir, name), "w").close()
        steps = sequence(guest("ticker"), make_image(os.path.join(p.dir, "disk.img")), p.dir)
        for method, path, body in steps:
            status, answer = p.api.call(method, path, body)
            if path == "/actions" and not can_run:
                # No usable /dev/kvm on this host: the start fails with the host's reason, nothing else.
                assert status == 400 and "kvm" in fault(answer).lower(), answer
                return
            assert status in (200, 204), (method, path, body, status, answer)
        assert answer["state"] == "Running", answer
        # The guest counts 3 ticks and ends through the debug-exit port (status 1: its code 0).
        out, err = p.proc.communicate(timeout=60)
        assert p.proc.returncode == 1 and b"tick 3" in out, (p.proc.returncode, out, err)


def image_locked(path):
    """Does another open file hold a lock on path? (vmon's OFD locks conflict with lockf's.)"""
    import fcntl
    with open(path, "r+b") as f:
        try:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.lockf(f, fcntl.LOCK_UN)
        return False


@pytest.mark.skipif(direct_unavailable_reason() is not None, reason="no usable /dev/kvm here (sandbox runs only)")
def test_patch_drive_puts_another_image_behind_a_running_vm():
    with ApiProcess("--id", "patch-drive") as p:
        first = make_image(os.path.join(p.dir, "first.img"), 1 << 20)
        second = make_image(os.path.join(p.dir, "second.img"), 2 << 20)
        status, body = p.api.call("PATCH", "/drives/data", {"drive_id": "data", "path_on_host": second})
        assert status == 400 and fault(body) == BEFORE_START, body
        for method, path, body in [
                ("PUT", "/boot-source", {"kernel_image_path": guest("ticker"), "boot_args": "ticks=5"}),
                ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 32}),
                ("PUT", "/drives/data", {"drive_id": "data", "path_on_host": first, "is_root_device": False,
                                         "is_read_only": False}),
                ("PUT", "/actions", {"action_type": "InstanceStart"})]:
            assert p.api.call(method, path, body)[0] == 204, (path, body)
        assert image_locked(first) and not image_locked(second)
        status, body = p.api.call("PATCH", "/drives/data", {"drive_id": "data", "path_on_host": second})
        assert status == 204, body
        # The old image is closed (its lock gone), the new one held; the description follows.
        assert not image_locked(first) and image_locked(second)
        drives = p.api.call("GET", "/vm/config")[1]["drives"]
        assert [d["path_on_host"] for d in drives] == [second], drives
        # A path that does not open changes nothing.
        status, body = p.api.call("PATCH", "/drives/data", {"drive_id": "data", "path_on_host": "/nonexistent.img"})
        assert status == 400 and "/nonexistent.img" in fault(body), body
        assert [d["path_on_host"] for d in p.api.call("GET", "/vm/config")[1]["drives"]] == [second]
        assert image_locked(second)
        status, body = p.api.call("PATCH", "/drives/other", {"drive_id": "other", "path_on_host": first})
        assert status == 400 and "other" in fault(body), body
        # Pre-boot resources after the start: Firecracker's words, nothing changed.
        for method, path, body in [("PUT", "/boot-source", {"kernel_image_path": guest("ticker")}),
                                   ("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 64}),
                                   ("PUT", "/drives/more", {"drive_id": "more", "path_on_host": first,
                                                            "is_root_device": False, "is_read_only": True}),
                                   ("PUT", "/actions", {"action_type": "InstanceStart"})]:
            status, answer = p.api.call(method, path, body)
            assert status == 400 and fault(answer) == AFTER_START, (path, answer)
        assert p.api.call("GET", "/machine-config")[1]["vcpu_count"] == 1
        out, err = p.proc.communicate(timeout=60)
        assert p.proc.returncode == 1 and b"tick 5" in out, (p.proc.returncode, err)


@pytest.mark.skipif(direct_unavailable_reason() is not None, reason="no usable /dev/kvm here (sandbox runs only)")
def test_rate_limiters_are_set_and_patched_on_a_running_vm():
    """Issue 13: rate limiters through the API on live devices (their effect: test_ratelimit.py under Linux)."""
    bw = {"bandwidth": {"size": 1 << 20, "one_time_burst": 0, "refill_time": 1000}, "ops": None}
    with ApiProcess("--id", "rate-limit") as p:
        image = make_image(os.path.join(p.dir, "data.img"), 1 << 20)
        for method, path, body in [
                ("PUT", "/boot-source", {"kernel_image_path": guest("ticker"), "boot_args": "ticks=5"}),
                ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 32}),
                ("PUT", "/drives/data", {"drive_id": "data", "path_on_host": image, "is_root_device": False,
                                         "is_read_only": False, "rate_limiter": {"bandwidth": bw["bandwidth"]}}),
                ("PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "vmon:user",
                                                     "tx_rate_limiter": {"ops": {"size": 100, "refill_time": 10}}}),
                ("PUT", "/actions", {"action_type": "InstanceStart"})]:
            assert p.api.call(method, path, body)[0] == 204, (path, body)
        cfg = p.api.call("GET", "/vm/config")[1]
        assert cfg["drives"][0]["rate_limiter"] == bw, cfg
        assert cfg["network-interfaces"][0]["rx_rate_limiter"] is None, cfg
        assert cfg["network-interfaces"][0]["tx_rate_limiter"]["ops"]["size"] == 100, cfg
        # Live: the buckets named change, the others stay.
        status, body = p.api.call("PATCH", "/drives/data", {"drive_id": "data", "rate_limiter": {
            "ops": {"size": 50, "one_time_burst": 10, "refill_time": 100}}})
        assert status == 204, body
        status, body = p.api.call("PATCH", "/network-interfaces/eth0", {"iface_id": "eth0", "rx_rate_limiter": {
            "bandwidth": {"size": 4096, "refill_time": 10}}, "tx_rate_limiter": {"ops": {"size": 0, "refill_time": 0}}})
        assert status == 204, body
        cfg = p.api.call("GET", "/vm/config")[1]
        assert cfg["drives"][0]["rate_limiter"] == dict(bw, ops={"size": 50, "one_time_burst": 10,
                                                                 "refill_time": 100}), cfg
        assert cfg["network-interfaces"][0]["rx_rate_limiter"]["bandwidth"]["size"] == 4096, cfg
        assert cfg["network-interfaces"][0]["tx_rate_limiter"] is None, cfg
        # Refused, with the field named, and nothing changed.
        status, body = p.api.call("PATCH", "/drives/data", {"drive_id": "data", "rate_limiter": {
            "bandwidth": {"size": (1 << 62) + 1, "refill_time": 1}}})
        assert status == 400 and "rate_limiter.bandwidth: size exceeds 2^62" in fault(body), body
        status, body = p.api.call("PATCH", "/network-interfaces/eth1", {"iface_id": "eth1"})
        assert status == 400 and "eth1" in fault(body), body
        assert p.api.call("GET", "/vm/config")[1]["drives"][0]["rate_limiter"]["bandwidth"]["size"] == 1 << 20
        out, err = p.proc.communicate(timeout=60)
        assert p.proc.returncode == 1 and b"tick 5" in out, (p.proc.returncode, err)


@pytest.mark.skipif(direct_unavailable_reason() is not None, reason="no usable /dev/kvm here (sandbox runs only)")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_ends_a_running_vm_cleanly(sig):
    with ApiProcess("--id", "signal-test") as p:
        for method, path, body in [
                ("PUT", "/boot-source", {"kernel_image_path": guest("ticker")}),
                ("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 32}),
                ("PUT", "/actions", {"action_type": "InstanceStart"})]:
            assert p.api.call(method, path, body)[0] == 204, path
        deadline = time.time() + 30
        while p.api.call("GET", "/")[1]["state"] != "Running" and time.time() < deadline:
            time.sleep(0.05)
        p.proc.send_signal(sig)
        out, err = p.proc.communicate(timeout=30)
        assert p.proc.returncode == 128 + sig, (p.proc.returncode, err)
        assert not os.path.exists(p.sock)


def test_metadata_flag_and_a_fifo_logger():
    work = tempfile.mkdtemp(prefix="vmon-api-fifo-")
    meta = os.path.join(work, "meta.json")
    with open(meta, "w") as f:
        json.dump({"latest": {"instance-id": "i-42"}}, f)
    fifo = os.path.join(work, "log.fifo")
    os.mkfifo(fifo)
    with ApiProcess("--id", "fifo-test", "--metadata", meta, "--no-seccomp") as p:
        assert p.api.call("GET", "/mmds") == (200, {"latest": {"instance-id": "i-42"}})
        assert p.api.call("PUT", "/logger", {"log_path": fifo, "level": "Info", "show_level": True,
                                             "show_log_origin": True})[0] == 204
        # A refused request is logged (warning): through the FIFO, in Firecracker's line format.
        assert p.api.call("PUT", "/machine-config", {"vcpu_count": 99, "mem_size_mib": 64})[0] == 400
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            data = b""
            deadline = time.time() + 5
            while b"vcpu_count" not in data and time.time() < deadline:
                try:
                    data += os.read(fd, 65536)
                except BlockingIOError:
                    time.sleep(0.02)
        finally:
            os.close(fd)
        line = [l for l in data.decode().splitlines() if "vcpu_count" in l][0]
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9} \[fifo-test:fc_api:WARN:src/api/instance\.c:\d+\] ",
                        line), line


# ---- VMs driven through the API: the session batch (direct or sandbox) --------------------------

# The ticker guest prints "tick N" once a second. Pause: no tick for 3 s; resume: ticks again;
# SendCtrlAltDel: the guest reads Ctrl, Alt, Delete from the keyboard and resets; vmon exits 0.
PAUSE_SCRIPT = r'''
vmon=$1; kernel=$2; sock=/tmp/vmon-api-$$.sock; out=/tmp/vmon-api-$$.out; metrics=/tmp/vmon-api-$$.metrics
: >"$metrics"   # Firecracker's clients create the file (or FIFO) first
"$vmon" --api-sock "$sock" --id pause-test >"$out" 2>&1 & pid=$!
ctl() { "$vmon" ctl --api-sock "$sock" --wait 10 "$@"; }
wait_for() { i=0; while ! grep -q "$1" "$out"; do i=$((i+1)); [ $i -gt 900 ] && return 1; sleep 0.1; done; }
ctl put /boot-source "{\"kernel_image_path\": \"$kernel\"}" >/dev/null; echo "boot-source: $?"
ctl put /machine-config '{"vcpu_count": 2, "mem_size_mib": 32}' >/dev/null; echo "machine-config: $?"
ctl put /metrics "{\"metrics_path\": \"$metrics\"}" >/dev/null; echo "metrics: $?"
ctl start; echo "start: $?"
wait_for "^tick 2" || echo "no tick 2"
echo "threads: $(cat /proc/$pid/task/*/comm | sort | tr '\n' ',')"
ctl pause; echo "pause: $?"
echo "state: $(ctl status)"
a=$(grep -c '^tick' "$out"); sleep 3; b=$(grep -c '^tick' "$out")
echo "ticks while paused: $((b - a))"
ctl resume; echo "resume: $?"
wait_for "^tick $((b + 1))" && echo "ticking again"
ctl flush-metrics; echo "flush: $?"
echo "metrics line: $(head -c 300 "$metrics")"
ctl metrics | grep -c '^vmon_' | sed 's/^/prometheus samples: /'
ctl ctrl-alt-del; echo "ctrl-alt-del: $?"
wait $pid; echo "vmon exit: $?"
sed 's/^/console: /' "$out"
'''
vm_case("api_pause", ["sh", "-c", PAUSE_SCRIPT, "sh", VMON, guest("ticker")], timeout=120)

# --config-file without an API: the equivalent JSON boots at once.
CONFIG_SCRIPT = r'''
vmon=$1; kernel=$2; cfg=/tmp/vmon-cfg-$$.json; serial=/tmp/vmon-serial-$$.out
printf '{"boot-source": {"kernel_image_path": "%s", "boot_args": "ticks=2"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 32}, "serial": {"serial_out_path": "%s"}}' \
 "$kernel" "$serial" >"$cfg"
"$vmon" --no-api --config-file "$cfg" >/tmp/vmon-stdout-$$.out; echo "vmon exit: $?"
echo "stdout lines: $(wc -l </tmp/vmon-stdout-$$.out)"
sed 's/^/serial: /' "$serial"
'''
vm_case("api_config_file", ["sh", "-c", CONFIG_SCRIPT, "sh", VMON, guest("ticker")], timeout=60)


def test_pause_stops_the_guest_and_resume_continues_it(vm_results):
    r = vm_results["api_pause"]
    out = r.stdout.decode(errors="replace")
    for step in ("boot-source", "machine-config", "metrics", "start", "pause", "resume", "flush", "ctrl-alt-del"):
        assert f"{step}: 0" in out, describe(r)
    assert '"state":"Paused"' in out.replace(" ", ""), describe(r)
    assert "ticks while paused: 0" in out, describe(r)
    assert "ticking again" in out, describe(r)
    # Firecracker's thread names, one per vCPU.
    threads = re.search(r"threads: (.*)", out).group(1).split(",")
    assert "fc_vcpu 0" in threads and "fc_vcpu 1" in threads and "fc_api" in threads, describe(r)
    # The metrics line is Firecracker-shaped JSON; the Prometheus view has samples.
    line = re.search(r"metrics line: (.*)", out).group(1)
    assert line.startswith("{") and "utc_timestamp_ms" in line, describe(r)
    startup_us = int(re.search(r'"process_startup_time_us":(\d+)', line).group(1))
    assert 0 < startup_us < 10_000_000, describe(r)
    assert int(re.search(r"prometheus samples: (\d+)", out).group(1)) > 0, describe(r)
    # Ctrl-Alt-Del reached the guest's keyboard as set-1 make codes; its reset ended vmon with 0.
    assert "console: ctrl-alt-del" in out and "vmon exit: 0" in out, describe(r)


def test_config_file_boots_without_an_api(vm_results):
    r = vm_results["api_config_file"]
    out = r.stdout.decode(errors="replace")
    assert "vmon exit: 1" in out, describe(r)   # debug-exit 0 -> status 1
    # The config file's serial section sent the console to its file, not to vmon's stdout.
    assert "serial: tick 2" in out and "stdout lines: 0" in out, describe(r)


# ---- Linux through the API: Firecracker's getting-started sequence with curl, and its config file -------
#
# The root filesystem is an ext4 image made on the host with `mkfs.ext4 -d` from the project initramfs'
# files; the kernel mounts it from /dev/vda (is_root_device: root=/dev/vda rw) and runs /init, which
# reports the boot-timing mark, runs the command given in vmon.cmd64 and powers off (reboot=k).
BZIMAGE = os.environ.get("VMON_GUEST_BZIMAGE")
INITRD = os.environ.get("VMON_GUEST_INITRD")
HAVE_LINUX = bool(BZIMAGE and INITRD and os.path.exists(BZIMAGE) and os.path.exists(INITRD))
CURL = shutil.which("curl")
needs_linux = pytest.mark.skipif(not HAVE_LINUX and os.environ.get("VMON_REQUIRE_LINUX") != "1",
                                 reason="guest kernel/initramfs not built (scripts/build-guest.sh)")
LINUX_COMMAND = ("echo root-is: $(awk '$2 == \"/\" {print $1, $3}' /proc/mounts); "
                 "echo cpus-online: $(cat /sys/devices/system/cpu/online); "
                 "echo mem-kib: $(awk '/MemTotal/ {print $2}' /proc/meminfo)")


def make_rootfs():
    work = tempfile.mkdtemp(prefix="vmon-api-rootfs-")
    tree = os.path.join(work, "tree")
    os.mkdir(tree)
    with open(INITRD, "rb") as f:
        subprocess.run(["cpio", "-idm", "--quiet", "--no-absolute-filenames"], stdin=f, cwd=tree, check=True)
    image = os.path.join(work, "rootfs.ext4")
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", tree, image, "64M"], check=True)
    return image


if HAVE_LINUX and CURL and shutil.which("mkfs.ext4") and shutil.which("cpio"):
    ROOTFS = make_rootfs()
    BOOT_ARGS = ("console=ttyS0 reboot=k panic=-1 init=/init vmon.cmd64="
                 + base64.b64encode(LINUX_COMMAND.encode()).decode())
    # Firecracker's getting-started guide, request for request (curl over the socket).
    CURL_SCRIPT = r'''
vmon=$1; kernel=$2; rootfs=$3; curl=$4; args=$5; sock=/tmp/vmon-api-linux-$$.sock
"$vmon" --api-sock "$sock" & pid=$!
"$vmon" ctl --api-sock "$sock" --wait 10 status >/dev/null
put() { "$curl" -s -o /dev/null -w "$1: %{http_code}\n" --unix-socket "$sock" -X PUT "http://localhost/$1" \
        -H 'Accept: application/json' -H 'Content-Type: application/json' -d "$2"; }
put boot-source "{\"kernel_image_path\": \"$kernel\", \"boot_args\": \"$args\"}"
put drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$rootfs\", \"is_root_device\": true, \"is_read_only\": false}"
put machine-config '{"vcpu_count": 2, "mem_size_mib": 256}'
put actions '{"action_type": "InstanceStart"}'
wait $pid; echo "vmon exit: $?"
'''
    vm_case("api_linux_curl", ["sh", "-c", CURL_SCRIPT, "sh", VMON, BZIMAGE, ROOTFS, CURL, BOOT_ARGS],
            timeout=600)
    # The same machine from Firecracker's JSON config file, no API socket (the image is copied: each
    # VM locks its own).
    ROOTFS2 = ROOTFS + ".2"
    shutil.copyfile(ROOTFS, ROOTFS2)
    CONFIG_LINUX_SCRIPT = r'''
vmon=$1; kernel=$2; rootfs=$3; args=$4; cfg=/tmp/vmon-api-linux-$$.json
cat >"$cfg" <<EOF_CFG
{
  "boot-source": {"kernel_image_path": "$kernel", "boot_args": "$args"},
  "drives": [{"drive_id": "rootfs", "path_on_host": "$rootfs", "is_root_device": true, "is_read_only": false}],
  "machine-config": {"vcpu_count": 2, "mem_size_mib": 256}
}
EOF_CFG
"$vmon" --no-api --boot-timer --config-file "$cfg"; echo "vmon exit: $?"
'''
    vm_case("api_linux_config", ["sh", "-c", CONFIG_LINUX_SCRIPT, "sh", VMON, BZIMAGE, ROOTFS2, BOOT_ARGS],
            timeout=600)


def check_linux_booted_from_ext4_root(r):
    out = r.stdout.decode(errors="replace")
    assert "root-is: /dev/root ext4" in out or "root-is: /dev/vda ext4" in out, describe(r)
    assert "cpus-online: 0-1" in out, describe(r)
    kib = int(re.search(r"mem-kib: (\d+)", out).group(1))
    assert 200 * 1024 < kib <= 256 * 1024, describe(r)
    assert "command exited with status 0" in out and "vmon exit: 0" in out, describe(r)


@needs_linux
def test_getting_started_with_curl_boots_linux_from_an_ext4_root(vm_results):
    r = vm_results["api_linux_curl"]
    out = r.stdout.decode(errors="replace")
    for step in ("boot-source", "drives/rootfs", "machine-config", "actions"):
        assert f"{step}: 204" in out, describe(r)
    check_linux_booted_from_ext4_root(r)


@needs_linux
def test_config_file_boots_the_same_linux(vm_results):
    r = vm_results["api_linux_config"]
    check_linux_booted_from_ext4_root(r)
    # --boot-timer: Firecracker's line when the guest's init writes the boot-timing mark.
    assert re.search(rb"Guest-boot-time = \d+ us \d+ ms", r.stderr), describe(r)
