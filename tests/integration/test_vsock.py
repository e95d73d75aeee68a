# SPDX-License-Identifier: MIT
"""virtio-vsock with Firecracker's host side, under the project Linux (guest/kernel + guest/initramfs, whose
/bin/vsock-echo is the guest end; tests/integration/vsock_host.py the host end).

  * echo both ways: the guest connects to CID 2 port 6000 (vmon connects it to <uds>_6000, an echo server
    here) and checks the echo of its stream; then the host connects ("CONNECT 5000") to the guest's echo
    server and checks the echo of its own. CRC-32s compared on both sides.
  * snapshot -> restore in a new vmon (Firecracker API, vsock_override): the guest's connection that was
    open fails (TRANSPORT_RESET: ECONNRESET), and new connections work at once both ways.

These drive sockets next to vmon, so they run vmon directly (they skip without a usable /dev/kvm).

Size: on a PVM host (guest ring 0 emulated by KVM) vsock moves about 0.08 MiB/s guest -> host and 0.13 MiB/s
host -> guest (100 MiB guest -> host took 1226 s, docs/PERFORMANCE.md): the guest kernel's copies run in
KVM's instruction emulator. So CI's echo moves 2 MiB each way (8 credit windows of 256 KiB: flow control
and back-pressure are exercised many times over); test_vsock_echo_100_mib moves the full 100 MiB each way
and runs where the host is not PVM, or with VMON_VSOCK_FULL=1."""

import os
import shutil
import tempfile
import time
import zlib

import pytest

from conftest import VMON
from vmrunner import direct_unavailable_reason
import vsock_host as vh
from api_client import UnixHTTPConnection, socket_answers

BZIMAGE = os.environ.get("VMON_GUEST_BZIMAGE")
INITRD = os.environ.get("VMON_GUEST_INITRD")
HAVE_LINUX = bool(BZIMAGE and INITRD and os.path.exists(BZIMAGE) and os.path.exists(INITRD))
ON_PVM = os.path.exists("/sys/module/kvm_pvm")

needs_linux = pytest.mark.skipif(not HAVE_LINUX, reason="guest kernel/initramfs not built (scripts/build-guest.sh)")
needs_kvm = pytest.mark.skipif(direct_unavailable_reason() is not None and os.environ.get("VMON_REQUIRE_KVM") != "1",
                               reason=f"vmon must run here: {direct_unavailable_reason()}")

MIB = 1 << 20


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="vmon-vsock-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def echo_both_ways(workdir, nbytes):
    uds = os.path.join(workdir, "v.sock")
    server = vh.EchoServer(uds + "_6000")
    script = f"vsock-echo connect 2 6000 {nbytes}\nvsock-echo listen 5000\n"
    # Seconds per MiB each way on the slowest host seen (PVM), with a margin, plus the boot.
    budget = 300 + nbytes / MIB * 30
    g = vh.Guest(vh.linux_argv(VMON, BZIMAGE, INITRD, uds, script))
    try:
        m = g.wait_for(r"vsock-echo: sent (\d+) received (\d+) crc32 ([0-9a-f]{8}) (\w+)", budget)
        assert m.group(4) == "match", g.output()
        assert int(m.group(1)) == int(m.group(2)) == nbytes, g.output()
        server.join(30)
        assert server.error is None and len(server.results) == 1, (server.error, server.results)
        got, crc, secs = server.results[0]
        # What the host received is what the guest sent (the guest checked the echo of it).
        assert got == nbytes and f"{crc:08x}" == m.group(3), (got, crc, m.group(0))

        g.wait_for(r"vsock-echo: listening on 5000", 120)
        s, local_port = vh.connect(uds, 5000)
        assert local_port >= 1 << 30
        data = os.urandom(nbytes)
        n, echo_crc, secs_in = vh.echo_through(s, data)
        s.close()
        assert n == nbytes and echo_crc == zlib.crc32(data)
        g.wait_for(rf"vsock-echo: echoed {nbytes} bytes crc32 {zlib.crc32(data):08x}", 60)
        assert g.finish(120) == 0, g.output()
        return secs, secs_in
    finally:
        g.kill()


@needs_linux
@needs_kvm
def test_vsock_echo_both_directions(workdir):
    echo_both_ways(workdir, 2 * MIB)


@needs_linux
@needs_kvm
@pytest.mark.skipif(ON_PVM and os.environ.get("VMON_VSOCK_FULL") != "1",
                    reason="PVM host: 100 MiB each way takes ~35 min here (VMON_VSOCK_FULL=1 runs it)")
def test_vsock_echo_100_mib(workdir):
    echo_both_ways(workdir, 100 * MIB)


@needs_linux
@needs_kvm
def test_vsock_refused_connections(workdir):
    """Nothing on <uds>_7001: the guest's connect fails (RST); a host CONNECT to a port nobody listens on is closed."""
    uds = os.path.join(workdir, "v.sock")
    script = "vsock-echo connect 2 7001 10\nvsock-echo listen 5000\n"
    g = vh.Guest(vh.linux_argv(VMON, BZIMAGE, INITRD, uds, script))
    try:
        g.wait_for(r"vsock-echo: connect error -104", 300)   # ECONNRESET: vmon's RST
        g.wait_for(r"listening on 5000", 60)
        with pytest.raises(ConnectionError):
            vh.connect(uds, 5999)
        s, _ = vh.connect(uds, 5000)
        n, crc, _ = vh.echo_through(s, b"x" * 1000)
        s.close()
        assert n == 1000 and crc == zlib.crc32(b"x" * 1000)
        assert g.finish(120) == 0, g.output()
    finally:
        g.kill()


def api(sock, method, path, body=None):
    import json
    c = UnixHTTPConnection(sock, timeout=60)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    assert r.status in (200, 204), (method, path, r.status, text)
    return text


def start_api_vmon(sock):
    g = vh.Guest([VMON, "--api-sock", sock])
    for _ in range(200):
        if socket_answers(sock):
            return g
        time.sleep(0.05)
    g.kill()
    raise RuntimeError(f"vmon --api-sock did not answer:\n{g.output()}")


@needs_linux
@needs_kvm
def test_vsock_after_snapshot_restore_transport_reset_and_new_connections(workdir):
    uds, uds2 = os.path.join(workdir, "a.sock"), os.path.join(workdir, "b.sock")
    snap, mem = os.path.join(workdir, "vm.snap"), os.path.join(workdir, "vm.mem")
    hold = vh.HoldServer(uds + "_7000")
    script = "vsock-echo hold 2 7000\nvsock-echo connect 2 6000 65536\nvsock-echo listen 5000\n"
    src = start_api_vmon(os.path.join(workdir, "api1.sock"))
    dst = None
    try:
        sock = os.path.join(workdir, "api1.sock")
        api(sock, "PUT", "/boot-source", {"kernel_image_path": BZIMAGE, "initrd_path": INITRD,
                                          "boot_args": vh.cmdline(script)})
        api(sock, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 256})
        api(sock, "PUT", "/vsock", {"guest_cid": 3, "uds_path": uds, "vsock_id": "vsock0"})
        assert '"uds_path":' in api(sock, "GET", "/vm/config")
        api(sock, "PUT", "/actions", {"action_type": "InstanceStart"})
        src.wait_for(r"vsock-echo: holding", 300)
        api(sock, "PATCH", "/vm", {"state": "Paused"})
        api(sock, "PUT", "/snapshot/create", {"snapshot_path": snap, "mem_file_path": mem})
        src.kill()
        hold.close()

        server = vh.EchoServer(uds2 + "_6000")
        sock2 = os.path.join(workdir, "api2.sock")
        dst = start_api_vmon(sock2)
        api(sock2, "PUT", "/snapshot/load", {"snapshot_path": snap,
                                              "mem_backend": {"backend_type": "File", "backend_path": mem},
                                              "resume_vm": True, "vsock_override": {"uds_path": uds2}})
        # The connection from before the snapshot fails with ECONNRESET; new ones work both ways.
        dst.wait_for(r"vsock-echo: read error -\d+", 120)
        m = dst.wait_for(r"vsock-echo: sent 65536 received 65536 crc32 ([0-9a-f]{8}) match", 120)
        server.join(30)
        assert server.results and f"{server.results[0][1]:08x}" == m.group(1), server.results
        dst.wait_for(r"listening on 5000", 60)
        s, _ = vh.connect(uds2, 5000)
        data = os.urandom(100000)
        n, crc, _ = vh.echo_through(s, data)
        s.close()
        assert n == len(data) and crc == zlib.crc32(data)
        assert dst.finish(120) == 0, dst.output()
    finally:
        src.kill()
        if dst:
            dst.kill()
