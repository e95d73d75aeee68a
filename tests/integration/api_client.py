# SPDX-License-Identifier: MIT
"""The API's socket from Python: an http.client connection over AF_UNIX (as Firecracker's clients hold
one), and whether a socket answers yet. Shared by tests/integration/test_api.py and bench/api.py."""

import http.client
import socket


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def socket_answers(path):
    """Does a process accept connections on path? (A stale socket file does not.)"""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()
