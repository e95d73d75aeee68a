#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed inputs of fuzz_api (layout: see tests/fuzz/fuzz_api.c).

Each seed is one config byte (the MMDS size limit) and then a client's session
on the API socket before InstanceStart: Firecracker's own call sequences, each
resource accepted and refused, MMDS PUT/PATCH/GET. The files named live in the
directory fuzz_api creates at start (FUZZ_API_DIR).

Usage: tests/fuzz/make_api_corpus.py [DIR]   (default tests/fuzz/corpus/api)
"""
import json
import os
import sys

DIR = "/tmp/vmon-fuzz-api"   # FUZZ_API_DIR in fuzz_api.c
MMDS_51200, MMDS_64, MMDS_1024, MMDS_4096 = 0, 1, 2, 3


def f(name):
    return f"{DIR}/{name}"


def req(method, path, body=None):
    """One request; Content-Length counts the UTF-8 bytes of the body."""
    data = body.encode() if body is not None else b""
    head = [f"{method} {path} HTTP/1.1", "Host: localhost"]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


def put(path, body, method="PUT"):
    return req(method, path, body if isinstance(body, str) else json.dumps(body))


def get(path):
    return req("GET", path)


def drive(drive_id, name, root=False, **extra):
    return put(f"/drives/{drive_id}", {"drive_id": drive_id, "path_on_host": f(name), "is_root_device": root,
                                       "is_read_only": False, **extra})


def net(iface_id, dev, **extra):
    return put(f"/network-interfaces/{iface_id}", {"iface_id": iface_id, "host_dev_name": dev, **extra})


BOOT = put("/boot-source", {"kernel_image_path": f("kernel"), "boot_args": "console=ttyS0 reboot=k panic=1"})


def seeds():
    s = {}
    s["getting_started"] = bytes([MMDS_51200]) + b"".join([
        put("/logger", {"log_path": f("log"), "level": "Debug", "show_level": True, "show_log_origin": True}),
        BOOT,
        drive("rootfs", "disk.img", root=True),
        put("/machine-config", {"vcpu_count": 2, "mem_size_mib": 256}),
        net("eth0", "tap0", guest_mac="06:00:ac:10:00:02"),
        get("/vm/config"),
        get("/machine-config"),
    ])
    s["full_config"] = bytes([MMDS_51200]) + b"".join([
        put("/boot-source", {"kernel_image_path": f("kernel"), "initrd_path": f("initrd"), "boot_args": ""}),
        drive("rootfs", "disk.img", root=True, partuuid="0eaa91a0-01", cache_type="Writeback", io_engine="Async",
              rate_limiter={"bandwidth": {"size": 0, "refill_time": 100}}),
        drive("data1", "d1", is_read_only=True),
        drive("data2", "d2"),
        put("/machine-config", {"vcpu_count": 1}, method="PATCH"),
        put("/machine-config", {"mem_size_mib": 512, "smt": False, "track_dirty_pages": False,
                                "cpu_template": "None", "huge_pages": "None"}, method="PATCH"),
        net("eth0", "vmon:user"),
        net("eth1", "tap1", guest_mac="02:fc:00:00:00:05", rx_rate_limiter={"ops": {"size": 10, "refill_time": 0}}),
        put("/mmds/config", {"version": "V2", "network_interfaces": ["eth0"], "ipv4_address": "169.254.170.2",
                             "imds_compat": True}),
        put("/metrics", {"metrics_path": f("metrics"), "emit_id": True, "properties": {"a": "b"}}),
        put("/entropy", {"rate_limiter": None}),
        put("/entropy", {"rate_limiter": {"bandwidth": {"size": 4096, "one_time_burst": 512, "refill_time": 100},
                                          "ops": None}}),
        put("/serial", {"serial_out_path": f("serial")}),
        get("/vm/config"),
    ])
    s["refusals"] = bytes([MMDS_51200]) + b"".join([
        put("/boot-source", {"kernel_image_path": f("nothing")}),
        put("/boot-source", {"kernel_image_path": f("dir")}),
        put("/boot-source", {"kernel_image_path": "/etc/hostname"}),
        put("/boot-source", '{"kernel_image_path": "a", "kernel_image_path": "b"}'),
        put("/machine-config", {"vcpu_count": 0, "mem_size_mib": 128}),
        put("/machine-config", {"vcpu_count": 2, "mem_size_mib": 128, "smt": True}),
        put("/machine-config", {}, method="PATCH"),
        drive("bad-id", "disk.img"),
        put("/drives/a", {"drive_id": "b", "path_on_host": f("disk.img"), "is_root_device": False}),
        drive("socket", "disk.img", socket="/s.sock"),
        net("eth0", "a/b"),
        net("eth0", "tap0", guest_mac="01:00:00:00:00:01"),
        net("eth0", "tap0", mtu=1500),
        put("/mmds/config", {"network_interfaces": ["nope"]}),
        put("/mmds/config", {"network_interfaces": []}),
        put("/logger", {"level": "loud"}),
        put("/metrics", {"metrics_path": ""}),
        put("/serial", {"rate_limiter": {"size": 1, "refill_time": 1}}),
        put("/entropy", {"rate_limiter": {"ops": {"size": -1, "refill_time": 1}}}),
        put("/entropy", {"rate_limiter": {"ops": {"size": 1, "refill_time": 18446744073710}}}),
        put("/entropy", {"rate_limiter": {"ops": {"size": 1, "refill_time": 1}}}, method="PATCH"),
        put("/vsock", {"guest_cid": 3, "uds_path": "/v.sock"}),
        put("/balloon", {"amount_mib": 0, "deflate_on_oom": True}),
        put("/actions", {"action_type": "InstanceStart"}),
        put("/drives/rootfs", {"drive_id": "rootfs"}, method="PATCH"),
        get("/nowhere"),
    ])
    s["drives_order"] = bytes([MMDS_51200]) + b"".join([
        BOOT,
        drive("a", "d1"), drive("b", "d2", root=True), drive("c", "d3"),
        drive("a", "d4", root=False, partuuid="p1"),
        drive("c", "d5", root=True),
        drive("b", "d2", root=False), drive("c", "d5", root=True),
        drive("d", "d4"), drive("e", "d5"), drive("f", "d6"), drive("g", "d1"),
        put("/drives/a", {"drive_id": "a", "path_on_host": f("d6")}, method="POST"),
        put("/drives/a", {"drive_id": "a", "rate_limiter": {"ops": {"size": 1, "refill_time": 1}}}, method="POST"),
        net("eth0", "vmon:user"), net("eth1", "vmon:user"), net("eth2", "tap2"),
        put("/network-interfaces/eth0", {"iface_id": "eth0"}, method="POST"),
        put("/entropy", {}),
        get("/vm/config"),
    ])
    s["mmds"] = bytes([MMDS_1024]) + b"".join([
        get("/mmds"),
        put("/mmds", {"latest": {"meta-data": {"ami-id": "ami-12345678", "reservation-id": "r-fea54097"}}},
            method="PATCH"),
        put("/mmds", {"latest": {"meta-data": {"ami-id": "ami-12345678", "reservation-id": "r-fea54097",
                                               "local-hostname": "ip-10-1-2-3.ec2.internal"}}}),
        put("/mmds", {"latest": {"meta-data": {"ami-id": "ami-87654321", "reservation-id": None, "list": [1, 2.5,
                                                                                                     True]}}},
            method="PATCH"),
        get("/mmds"),
        put("/mmds", {"big": "x" * 2000}),
        put("/mmds", "[1, 2]"),
        put("/mmds", '{"n": 1e999}'),
        put("/mmds", '{"s": "caf\\u00e9 \\ud83d\\ude00 \u00e9"}'),
        get("/mmds"),
    ])
    s["mmds_small"] = bytes([MMDS_64]) + put("/mmds", {"a": "b" * 40}) + put("/mmds", {"c": "d" * 10},
                                                                            method="PATCH")
    s["unicode_and_escapes"] = bytes([MMDS_4096]) + b"".join([
        put("/boot-source", '{"kernel_image_path": "' + f("kernel") + '", "boot_args": "a\\tb \\u00e9\\u0001"}'),
        put("/logger", '{"module": "caf\u00e9", "level": "wArNiNg"}'),
        put("/metrics", '{"metrics_path": "m", "properties": {"k\\u00e9": "v\\"", "z": ""}}'),
        get("/vm/config"),
    ])
    s["config_file"] = bytes([MMDS_51200]) + b"".join([
        put("/vm/config", {
            "boot-source": {"kernel_image_path": f("kernel"), "initrd_path": None, "boot_args": "console=ttyS0"},
            "drives": [{"drive_id": "rootfs", "path_on_host": f("disk.img"), "is_root_device": True,
                        "is_read_only": True, "partuuid": None, "rate_limiter": None, "socket": None}],
            "machine-config": {"vcpu_count": 2, "mem_size_mib": 1024, "smt": False},
            "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "vmon:user"}],
            "mmds-config": {"network_interfaces": ["eth0"], "version": "V1"},
            "logger": None, "metrics": None, "entropy": {}, "serial": {}, "balloon": None, "vsock": None,
            "cpu-config": None, "pmem": [], "memory-hotplug": None,
        }, method="POST"),
        put("/vm/config", {"boot-source": {"kernel_image_path": f("kernel")}, "vsock": {"guest_cid": 3}},
            method="POST"),
        put("/vm/config", {"drives": []}, method="POST"),
        get("/vm/config"),
    ])
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "api")
    os.makedirs(out, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(out, name), "wb") as fh:
            fh.write(data)
    print(f"wrote {len(seeds())} seeds to {out}")


if __name__ == "__main__":
    main()
