# SPDX-License-Identifier: MIT
"""Live migration (issue 11, docs/MIGRATION.md), end to end.

  * runs of a VM go through the session batch (vm_case; direct or KVM sandbox): shell scripts start a
    source `vmon --api-sock` and a destination `vmon receive`, and migrate with `vmon ctl migrate`;
  * the destination's refusals of a bad stream and the API's checks need no KVM: direct, on any host.
"""

import atexit
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

from conftest import BUILD, HERE, VMON, describe, guest, vm_case
from test_api import ApiProcess, fault

# A destination that fails on purpose: reads some of the stream, then exits or stalls. Static, for the sandbox.
MIG_SINK = os.path.join(BUILD, "mig_sink")
subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-static", "-o", MIG_SINK,
                os.path.join(HERE, "mig_sink.c")], check=True)

# $1 vmon, $2 kernel, $3 boot args, $4 MiB, $5 progress line prefix (its number goes up), $6 address kind,
# $7 (optional) a disk image for a writable drive. The source runs the guest until it made progress,
# migrates, and must exit 0; the destination must go on counting from where the source stopped (and
# hold the image's lock: a third vmon is refused it); then SIGTERM ends it.
MIGRATE_SCRIPT = r'''
vmon=$1; kernel=$2; args=$3; mem=$4; progress=$5; disk=$7; d=/tmp/vmon-mig-$$; mkdir -p $d
if [ "$6" = tcp ]; then addr=tcp:127.0.0.1:$((20000 + $$ % 20000)); else addr=unix:$d/mig.sock; fi
"$vmon" --api-sock $d/src.sock --id mig-src >$d/src.out 2>&1 & src=$!
"$vmon" receive --listen $addr --api-sock $d/dst.sock --id mig-dst >$d/dst.out 2>&1 & dst=$!
ctl() { "$vmon" ctl --api-sock $d/src.sock --wait 10 "$@"; }
wait_for() { i=0; while ! grep -q "$2" "$1"; do i=$((i+1)); [ $i -gt 1200 ] && return 1; sleep 0.1; done; }
last() { grep "^$progress" "$1" | tail -1 | sed "s/^$progress\([0-9]*\).*/\1/"; }
ctl put /boot-source "{\"kernel_image_path\": \"$kernel\", \"boot_args\": \"$args\"}" >/dev/null
ctl put /machine-config "{\"vcpu_count\": 1, \"mem_size_mib\": $mem}" >/dev/null
[ -n "$disk" ] && ctl put /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$disk\", \"is_root_device\": false}"
ctl start; echo "start: $?"
wait_for $d/src.out "^${progress}2" || echo "no progress on the source"
"$vmon" ctl --api-sock $d/dst.sock --wait 10 status | sed 's/^/destination before: /'
"$vmon" ctl --api-sock $d/src.sock migrate $addr | sed 's/^/outcome: /'
wait $src; echo "source exit: $?"
n=$(last $d/src.out); echo "source last: $n"
wait_for $d/dst.out "^$progress$((n + 2))" && echo "destination continued to $((n + 2))"
[ -n "$disk" ] && { "$vmon" run --kernel "$kernel" --drive path="$disk" 2>&1 | tail -1 | sed 's/^/third vmon: /'; }
"$vmon" ctl --api-sock $d/dst.sock status | sed 's/^/destination after: /'
kill -TERM $dst; wait $dst; echo "destination exit: $?"
sed 's/^/src: /' $d/src.out; sed 's/^/dst: /' $d/dst.out
rm -rf $d
'''
vm_case("mig_ticker", ["sh", "-c", MIGRATE_SCRIPT, "sh", VMON, guest("ticker"), "", "64", "tick ", "unix"],
        timeout=120)
# A writable disk on the same host: the source lets go of the image's lock once it stands still for
# the final round, the destination takes it before READY (it used to fail: "locked by another user").
MIG_DISK_DIR = tempfile.mkdtemp(prefix="vmon-mig-disk-")
atexit.register(shutil.rmtree, MIG_DISK_DIR, ignore_errors=True)
MIG_DISK = os.path.join(MIG_DISK_DIR, "disk.img")
with open(MIG_DISK, "wb") as f:
    f.truncate(1 << 20)
vm_case("mig_ticker_disk", ["sh", "-c", MIGRATE_SCRIPT, "sh", VMON, guest("ticker"), "", "64", "tick ", "unix",
                            MIG_DISK], timeout=120)
vm_case("mig_dirtier_tcp", ["sh", "-c", MIGRATE_SCRIPT, "sh", VMON, guest("dirtier"), "pages=4096 rate=20", "256",
                            "dirtier: second ", "tcp"], timeout=120)

# A destination that dies mid-stream, then one that stalls and is cancelled: the source carries on after each.
FAIL_SCRIPT = r'''
vmon=$1; kernel=$2; sink=$3; d=/tmp/vmon-migfail-$$; mkdir -p $d
"$vmon" --api-sock $d/src.sock --id mig-fail >$d/src.out 2>&1 & src=$!
ctl() { "$vmon" ctl --api-sock $d/src.sock --wait 10 "$@"; }
wait_for() { i=0; while ! grep -q "$2" "$1"; do i=$((i+1)); [ $i -gt 1200 ] && return 1; sleep 0.1; done; }
last() { grep '^tick ' $d/src.out | tail -1 | sed 's/^tick //'; }
ctl put /boot-source "{\"kernel_image_path\": \"$kernel\"}" >/dev/null
ctl put /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}' >/dev/null
ctl start; echo "start: $?"
wait_for $d/src.out "^tick 2" || echo "no tick 2"
"$sink" $d/dies.sock 65536 close >$d/sink1.out 2>&1 & s1=$!
wait_for_sock() { i=0; while [ ! -S "$1" ]; do i=$((i+1)); [ $i -gt 100 ] && return 1; sleep 0.05; done; }
wait_for_sock $d/dies.sock
ctl migrate unix:$d/dies.sock 2>&1 | sed 's/^/died: /'; wait $s1
n=$(last); wait_for $d/src.out "^tick $((n + 2))" && echo "ticking after the dead destination"
echo "state: $(ctl status)"
"$sink" $d/stalls.sock 65536 hold >$d/sink2.out 2>&1 & s2=$!
wait_for_sock $d/stalls.sock
(ctl migrate unix:$d/stalls.sock >$d/migrate2.out 2>&1; echo "exit $?" >>$d/migrate2.out) &
wait_for $d/sink2.out "sink: read" || echo "the stalled sink read nothing"
sleep 0.5; ctl migrate-status | sed 's/^/while stalled: /'
ctl migrate-cancel; echo "cancel: $?"
wait_for $d/migrate2.out "^exit" ; sed 's/^/cancelled: /' $d/migrate2.out
kill $s2
n=$(last); wait_for $d/src.out "^tick $((n + 2))" && echo "ticking after the cancel"
kill -TERM $src; wait $src; echo "source exit: $?"
sed 's/^/src: /' $d/src.out; sed 's/^/sink1: /' $d/sink1.out
rm -rf $d
'''
vm_case("mig_failures", ["sh", "-c", FAIL_SCRIPT, "sh", VMON, guest("ticker"), MIG_SINK], timeout=120)


def test_ticker_continues_on_the_destination(vm_results):
    r = vm_results["mig_ticker"]
    out = r.stdout.decode(errors="replace")
    assert "start: 0" in out and "source exit: 0" in out, describe(r)
    assert '"state":"completed"' in out, describe(r)
    assert re.search(r'destination before: .*"state":\s*"Not started"', out), describe(r)
    assert re.search(r'destination after: .*"state":\s*"Running"', out), describe(r)
    n = int(re.search(r"source last: (\d+)", out).group(1))
    assert f"destination continued to {n + 2}" in out, describe(r)
    # The destination never booted the guest: it took it over mid-count, and printed each tick once.
    assert "dst: ticker: running" not in out, describe(r)
    assert f"dst: tick {n + 1}\n" in out and f"dst: tick {n}\n" not in out, describe(r)
    assert re.search(r"src: vmon: migration sent: .* \d+ rounds, .*downtime [\d.]+ ms", out), describe(r)
    assert "destination exit: 143" in out, describe(r)


def test_a_writable_disk_on_the_same_host_goes_over_with_its_lock(vm_results):
    r = vm_results["mig_ticker_disk"]
    out = r.stdout.decode(errors="replace")
    assert "start: 0" in out and "source exit: 0" in out, describe(r)
    assert '"state":"completed"' in out, describe(r)
    n = int(re.search(r"source last: (\d+)", out).group(1))
    assert f"destination continued to {n + 2}" in out, describe(r)
    assert re.search(r"^third vmon: .*disk\.img is locked by another user", out, re.M), describe(r)
    assert "destination exit: 143" in out, describe(r)


def test_dirtier_migrates_over_tcp_with_its_memory_intact(vm_results):
    # The dirtier checks every second that each page of its working set holds its last write.
    r = vm_results["mig_dirtier_tcp"]
    out = r.stdout.decode(errors="replace")
    assert "source exit: 0" in out and '"state":"completed"' in out, describe(r)
    n = int(re.search(r"source last: (\d+)", out).group(1))
    assert f"destination continued to {n + 2}" in out, describe(r)
    assert f"dst: dirtier: second {n + 2}, " in out and "memory checked" in out, describe(r)
    assert "dst: dirtier: page" not in out, describe(r)


def test_failed_and_cancelled_migrations_leave_the_source_running(vm_results):
    r = vm_results["mig_failures"]
    out = r.stdout.decode(errors="replace")
    assert "ticking after the dead destination" in out, describe(r)
    assert re.search(r'died: .*"state":"failed"', out), describe(r)
    assert re.search(r'state: .*"state":\s*"Running"', out), describe(r)
    assert re.search(r'while stalled: .*"state":"active"', out), describe(r)
    assert "cancel: 0" in out and re.search(r'cancelled: .*"state":"cancelled"', out), describe(r)
    assert "cancelled: exit 1" in out, describe(r)
    assert "ticking after the cancel" in out, describe(r)
    assert "source exit: 143" in out, describe(r)


# ---- no KVM needed: the destination's refusals and the API's checks -------------------------------

def receive(*extra):
    d = tempfile.mkdtemp(prefix="vmon-recv-")
    path = os.path.join(d, "mig.sock")
    proc = subprocess.Popen([VMON, "receive", "--listen", f"unix:{path}", *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while not os.path.exists(path):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.01)
    return proc, path


def send_and_wait(path, data):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
    s.close()
    return reply


def host_vendor():
    with open("/proc/cpuinfo") as f:
        return re.search(r"^vendor_id\s*:\s*(\S+)", f.read(), re.M).group(1).encode()


def test_destination_refuses_a_damaged_stream_and_exits():
    hello_hdr = b"VMONMIGR" + (1).to_bytes(4, "little") + bytes(4)
    cases = [
        (b"NOTVMON!" + bytes(8), b"not a vmon migration stream"),
        (b"VMONMIGR" + (7).to_bytes(4, "little") + bytes(4), b"protocol version 7"),
        (hello_hdr[:10], b"the stream ended"),
        # A page record before any hello.
        (hello_hdr + (2).to_bytes(4, "little") + (4096).to_bytes(4, "little") + bytes(8), b"a page before the hello"),
        # A hello whose machine description is not JSON.
        (hello_hdr + (1).to_bytes(4, "little") + (64 + 5).to_bytes(4, "little") + (64 << 20).to_bytes(8, "little")
         + (1).to_bytes(4, "little") + (4096).to_bytes(4, "little") + b"0.1.0".ljust(32, b"\0")
         + host_vendor().ljust(12, b"\0") + bytes(12) + b"nope!", b"machine-config"),
        # The same from another CPU vendor: refused before the description is looked at.
        (hello_hdr + (1).to_bytes(4, "little") + (64 + 5).to_bytes(4, "little") + (64 << 20).to_bytes(8, "little")
         + (1).to_bytes(4, "little") + (4096).to_bytes(4, "little") + b"0.1.0".ljust(32, b"\0")
         + b"OtherVendor!" + bytes(12) + b"nope!", b"does not move between CPU vendors"),
    ]
    for data, words in cases:
        proc, path = receive()
        reply = send_and_wait(path, data)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 2, (data, proc.returncode, err)
        assert words in err, (data, err)
        # The source is told why, in an error record (type 8).
        assert reply[:4] == (8).to_bytes(4, "little") and words in reply, (data, reply)
        assert not os.path.exists(path), "the listening socket file is left behind"


def test_destination_ends_on_sigterm_while_waiting():
    proc, path = receive()
    proc.terminate()
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 143, err


def test_receive_arguments_are_checked():
    for args, words in [([], b"--listen"), (["--listen", "udp:x:1"], b"unix:PATH or tcp:HOST:PORT"),
                        (["--listen", "tcp:localhost:0"], b"port"),
                        (["--listen", "unix:/x", "--config-file", "/y"], b"--config-file")]:
        r = subprocess.run([VMON, "receive", *args], capture_output=True, timeout=10)
        assert r.returncode == 2 and words in r.stderr, (args, r.stderr)


def test_migration_api_checks():
    with ApiProcess("--id", "mig-api") as p:
        assert p.api.call("GET", "/migration") == (200, {"state": "none"})
        status, body = p.api.call("PUT", "/migration/send", {"destination": "unix:/nonexistent/x"})
        assert status == 400 and "only a running microVM" in fault(body), body
        for bad, words in [({"destination": "ftp:x"}, "destination"), ({}, "destination"),
                           ({"destination": "unix:/x", "downtime_ms": 0}, "downtime_ms"),
                           ({"destination": "unix:/x", "bogus": 1}, "bogus")]:
            status, body = p.api.call("PUT", "/migration/send", bad)
            assert status == 400 and words in fault(body), (bad, body)
        status, body = p.api.call("PUT", "/migration/cancel", {})
        assert status == 400 and "no migration in progress" in fault(body), body
        status, body = p.api.call("PUT", "/migration/receive", {"listen": "tcp:host"})
        assert status == 400 and "listen" in fault(body), body
        assert p.api.call("PUT", "/boot-source", {"kernel_image_path": guest("ticker")})[0] == 204
        status, body = p.api.call("PUT", "/migration/receive", {"listen": f"unix:{p.dir}/m.sock"})
        assert status == 400 and "before configuring" in fault(body), body


def test_migration_receive_through_the_api_then_refuses_configuration():
    with ApiProcess("--id", "mig-recv") as p:
        path = os.path.join(p.dir, "m.sock")
        assert p.api.call("PUT", "/migration/receive", {"listen": f"unix:{path}"}) == (204, None)
        assert os.path.exists(path)
        status, body = p.api.call("PUT", "/boot-source", {"kernel_image_path": guest("ticker")})
        assert status == 400, body
        # A source that is not vmon: the destination refuses it and ends non-zero.
        send_and_wait(path, b"GET / HTTP/1.0\r\n\r\n")
        p.proc.wait(timeout=10)
        assert p.proc.returncode == 2
