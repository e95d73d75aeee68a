# SPDX-License-Identifier: MIT
"""The host end of vmon's vsock (Firecracker's UNIX-socket protocol), for
tests/integration/test_vsock.py and bench/vsock.py.

  * Guest: a vmon running the project kernel + initramfs, whose /bin/vsock-echo
    (guest/initramfs/vsock-echo.c) is the guest end; its console lines are
    collected so that the host can wait for "listening" etc.
  * host → guest: connect to uds_path, "CONNECT <port>\\n", read "OK <port>\\n",
    then stream data while reading the echo back (two threads).
  * guest → host: an echo server on "<uds_path>_<port>".

Checksums are zlib.crc32 (vsock-echo prints the same CRC-32)."""

import base64
import os
import re
import socket
import subprocess
import threading
import time
import zlib


def cmdline(script):
    """A kernel command line that runs script (sh) in the project initramfs, then powers off."""
    cmd64 = base64.b64encode(script.encode()).decode()
    return f"console=ttyS0 reboot=k panic=-1 vmon.cmd64={cmd64}"


def linux_argv(vmon, bzimage, initrd, uds, script, cid=3, mem="256M", extra=()):
    return [vmon, "run", "--kernel", bzimage, "--initrd", initrd, "--mem", mem, "--vsock", f"cid={cid},uds={uds}",
            *extra, "--cmdline", cmdline(script)]


class Guest:
    """A vmon process (argv); its stdout+stderr lines kept in self.lines."""

    def __init__(self, argv):
        self.argv = argv
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\r\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # EOF marker
            self.cond.notify_all()

    def output(self):
        with self.cond:
            return "\n".join(line for line in self.lines if line is not None)

    def wait_for(self, pattern, timeout, start=0):
        """The first line from index start matching pattern (a regex), as a match; raises on timeout or exit."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        seen = start
        with self.cond:
            while True:
                while seen < len(self.lines):
                    line = self.lines[seen]
                    seen += 1
                    if line is None:
                        raise RuntimeError(f"vmon exited before /{pattern}/:\n{self.output()}")
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no /{pattern}/ within {timeout} s:\n{self.output()}")
                self.cond.wait(left)

    def finish(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self.reader.join(5)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class HoldServer(threading.Thread):
    """Listens on path and keeps each accepted connection open without a word (until close())."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.conns = []
        self.start()

    def run(self):
        try:
            while True:
                self.conns.append(self.sock.accept()[0])
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


class EchoServer(threading.Thread):
    """Listens on path; echoes each connection until EOF, recording (bytes, crc32, seconds) per connection."""

    def __init__(self, path, count=1):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.path = path
        self.count = count
        self.results = []
        self.error = None
        self.start()

    def run(self):
        try:
            for _ in range(self.count):
                conn, _ = self.sock.accept()
                start = time.monotonic()
                total, crc = 0, 0
                with conn:
                    while True:
                        data = conn.recv(1 << 16)
                        if not data:
                            break
                        crc = zlib.crc32(data, crc)
                        total += len(data)
                        conn.sendall(data)
                self.results.append((total, crc, time.monotonic() - start))
        except OSError as e:
            self.error = e
        finally:
            self.sock.close()


def connect(uds, port, timeout=30):
    """A host-initiated connection to guest port; returns (socket, local port) after the OK line."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(uds)
    s.sendall(f"CONNECT {port}\n".encode())
    line = b""
    while not line.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            s.close()
            raise ConnectionError(f"vmon closed the connection to guest port {port} (answer so far {line!r})")
        line += chunk
    m = re.fullmatch(rb"OK (\d+)\n", line)
    if not m:
        s.close()
        raise ConnectionError(f"unexpected answer {line!r}")
    return s, int(m.group(1))


def echo_through(s, data, chunk=1 << 16):
    """Sends data on s (then shuts down writing) while reading the echo; returns (echo bytes, crc32, seconds)."""
    got = {"n": 0, "crc": 0, "error": None}

    def reader():
        try:
            while True:
                d = s.recv(1 << 16)
                if not d:
                    break
                got["crc"] = zlib.crc32(d, got["crc"])
                got["n"] += len(d)
        except OSError as e:
            got["error"] = e

    t = threading.Thread(target=reader, daemon=True)
    start = time.monotonic()
    t.start()
    view = memoryview(data)
    for off in range(0, len(data), chunk):
        s.sendall(view[off:off + chunk])
    s.shutdown(socket.SHUT_WR)
    t.join()
    elapsed = time.monotonic() - start
    if got["error"]:
        raise got["error"]
    return got["n"], got["crc"], elapsed

