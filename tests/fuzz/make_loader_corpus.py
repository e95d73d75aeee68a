#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed inputs of fuzz_loader (layout: the comment at the top of
tests/fuzz/fuzz_loader.c): tiny ELF64 and ELF32 kernels (with the Linux and
the Xen PVH notes), bzImages wrapping one (gzip, xz: tests/integration/mkbzimage.py),
and initrds (a plain newc cpio, the same gzip-compressed).

Usage: tests/fuzz/make_loader_corpus.py [DIR]   (default tests/fuzz/corpus/loader)
"""
import gzip
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import mkbzimage  # noqa: E402

PROTO_AUTO, PROTO_LINUX, PROTO_PVH = 0, 1, 2
BZ_IN_GUEST, INITRD_IN_GUEST, WITH_INITRD, EXTRA_ARGS, RSDP = 4, 8, 16, 32, 64
PT_LOAD, PT_NOTE = 1, 4


def note(owner, ntype, desc):
    name = owner + b"\0"
    pad = lambda b: b + bytes(-len(b) % 4)
    return struct.pack("<III", len(name), len(desc), ntype) + pad(name) + pad(desc)


def elf64(segments, entry, notes=b""):
    """segments: (paddr, data, memsz); one PT_NOTE after them when notes."""
    phnum = len(segments) + (1 if notes else 0)
    off = 64 + 56 * phnum
    body, phdrs = b"", b""
    for paddr, data, memsz in segments:
        phdrs += struct.pack("<IIQQQQQQ", PT_LOAD, 7, off + len(body), paddr + 0xffffffff80000000, paddr,
                             len(data), memsz, 0x1000)
        body += data
    if notes:
        phdrs += struct.pack("<IIQQQQQQ", PT_NOTE, 4, off + len(body), 0, 0, len(notes), len(notes), 4)
        body += notes
    hdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8) + struct.pack(
        "<HHIQQQIHHHHHH", 2, 62, 1, entry, 64, 0, 0, 64, 56, phnum, 64, 0, 0)
    return hdr + phdrs + body


def elf32(segments, entry, notes=b""):
    phnum = len(segments) + (1 if notes else 0)
    off = 52 + 32 * phnum
    body, phdrs = b"", b""
    for paddr, data, memsz in segments:
        phdrs += struct.pack("<IIIIIIII", PT_LOAD, off + len(body), paddr, paddr, len(data), memsz, 7, 0x1000)
        body += data
    if notes:
        phdrs += struct.pack("<IIIIIIII", PT_NOTE, off + len(body), 0, 0, len(notes), len(notes), 4, 4)
        body += notes
    hdr = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8) + struct.pack(
        "<HHIIIIIHHHHHH", 2, 3, 1, entry, 52, 0, 0, 52, 32, phnum, 40, 0, 0)
    return hdr + phdrs + body


def cpio(files):
    out = b""
    for ino, (name, data) in enumerate(files + [("TRAILER!!!", b"")], 1):
        nm = name.encode() + b"\0"
        mode = 0o100644 if name != "TRAILER!!!" else 0
        hdr = b"070701" + b"".join(b"%08X" % v for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nm), 0))
        out += hdr + nm + bytes(-(len(hdr) + len(nm)) % 4) + data + bytes(-len(data) % 4)
    return out + bytes(-len(out) % 512)


def seed(options, kernel, initrd=b""):
    return bytes([options]) + struct.pack("<H", len(initrd)) + kernel + initrd


CODE = b"\xf4" * 32                      # hlt
LINUX_NOTE = note(b"Linux", 6, b"6.1.0\0")
PVH_NOTE = note(b"Xen", 18, struct.pack("<I", 0x100000))

VMLINUX = elf64([(0x100000, CODE, 0x2000), (0x102000, b"data", 0x10)], 0xffffffff80100000, LINUX_NOTE)
PVH64 = elf64([(0x100000, CODE, 0x100)], 0x100000, PVH_NOTE + LINUX_NOTE)
PVH32 = elf32([(0x100000, CODE, 0x1000)], 0x100000, PVH_NOTE)
INITRD = cpio([("init", b"#!/bin/sh\necho hi\n"), ("etc/motd", b"fuzz\n")])
INITRD_GZ = gzip.compress(INITRD, mtime=0)
PM_FLAT = b"\xf4" * 0x210


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus", "loader")
    os.makedirs(out, exist_ok=True)
    seeds = {
        "elf64_linux": seed(PROTO_AUTO | EXTRA_ARGS, VMLINUX),
        "elf64_linux_initrd": seed(PROTO_LINUX | WITH_INITRD | RSDP, VMLINUX, INITRD),
        "elf64_pvh_initrd_gz": seed(PROTO_AUTO | WITH_INITRD, PVH64, INITRD_GZ),
        "elf32_pvh": seed(PROTO_PVH | WITH_INITRD | INITRD_IN_GUEST, PVH32, INITRD_GZ),
        "elf32_linux_refused": seed(PROTO_LINUX, PVH32),
        "bzimage_gzip": seed(PROTO_AUTO | EXTRA_ARGS | WITH_INITRD, mkbzimage.build(VMLINUX, PM_FLAT, "gzip"), INITRD),
        "bzimage_xz": seed(PROTO_LINUX, mkbzimage.build(VMLINUX, PM_FLAT, "xz")),
        "bzimage_in_guest": seed(PROTO_AUTO | BZ_IN_GUEST | WITH_INITRD, mkbzimage.build(VMLINUX, PM_FLAT, "gzip"),
                                 INITRD_GZ),
        "empty_initrd": seed(PROTO_AUTO | WITH_INITRD, VMLINUX, b""),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
