#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed inputs of fuzz_http (layout: see tests/fuzz/fuzz_http.c).

Each seed is one config byte (piece size, max_body choice) and then what a
client might send on the API socket: Firecracker's own requests, pipelines,
bodies in every framing, and a few broken ones.

Usage: tests/fuzz/make_http_corpus.py [DIR]   (default tests/fuzz/corpus/http)
"""
import os
import sys

MAX_16, MAX_1024, MAX_51200, MAX_0 = 0, 1, 2, 3


def config(piece, max_body=MAX_51200):
    assert 0 <= piece < 64
    return bytes([piece | max_body << 6])


def req(method, path, body=None, headers=()):
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost"]
    lines += list(headers)
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n" + (body or "")).encode()


def chunked(method, path, parts):
    head = f"{method} {path} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    return (head + "".join(f"{len(p):x}\r\n{p}\r\n" for p in parts) + "0\r\n\r\n").encode()


def seeds():
    s = {}
    s["get_machine_config"] = config(0) + req("GET", "/machine-config")
    s["put_boot_source"] = config(7) + req(
        "PUT", "/boot-source",
        '{"kernel_image_path": "/k/vmlinux", "boot_args": "console=ttyS0 reboot=k panic=1"}')
    s["pipeline_go_sdk"] = config(13) + b"".join([
        req("PUT", "/machine-config", '{"vcpu_count": 2, "mem_size_mib": 256}'),
        req("PUT", "/drives/rootfs",
            '{"drive_id": "rootfs", "path_on_host": "/r.ext4", "is_root_device": true, "is_read_only": false}'),
        req("PUT", "/actions", '{"action_type": "InstanceStart"}'),
        req("GET", "/empty"),
        req("PATCH", "/vm", '{"state": "Paused"}', ["Connection: close"]),
    ])
    s["expect_continue"] = config(5) + req("PUT", "/mmds", '{"latest": {"meta-data": {"id": "i-1"}}}',
                                           ["Expect: 100-continue"])
    s["chunked"] = config(3) + chunked("PUT", "/metrics", ['{"metrics_path"', ': "/tmp/m.fifo"}'])
    s["chunked_over_limit"] = config(9, MAX_16) + chunked("PUT", "/logger", ["x" * 10, "y" * 10])
    s["length_over_limit"] = config(0, MAX_1024) + req("PUT", "/mmds", "{" + " " * 1100 + "}")
    s["http10_keep_alive"] = config(2) + b"GET /empty HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" \
        + b"GET /empty?x=1#f HTTP/1.0\r\n\r\nGET /never HTTP/1.1\r\n\r\n"
    s["absolute_form"] = config(11) + req("GET", "http://localhost:80/version")
    s["head_and_options"] = config(4) + req("HEAD", "/") + req("OPTIONS", "*")
    s["bad_status_and_type"] = config(1) + req("GET", "/bad") + req("GET", "/type")
    s["long_method"] = config(6) + req("MKACTIVITY", "/x", "{}") + req("GET", "/empty")
    s["long_path"] = config(17) + req("GET", "/" + "p" * 300)
    s["garbage"] = config(0) + b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
    s["bad_headers"] = config(8) + b"PUT /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
    s["upgrade"] = config(10) + req("GET", "/", None, ["Upgrade: websocket", "Connection: Upgrade"]) \
        + req("GET", "/empty")
    s["http2_preface"] = config(0) + b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    s["unknown_expect"] = config(3) + req("PUT", "/x", "{}", ["Expect: 200-ok"])
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "http")
    os.makedirs(out, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds())} seeds to {out}")


if __name__ == "__main__":
    main()
