#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed inputs of fuzz_virtq (layout: see tests/fuzz/fuzz_virtq.c).

Each seed is a small guest: a queue of 8 with the descriptor table at 0x0,
the available ring at 0x80, the used ring at 0x100, data at 0x200 and
indirect tables at 0x400, plus a few operations over it.

Usage: tests/fuzz/make_corpus.py [DIR]   (default tests/fuzz/corpus/virtq)
"""
import os
import struct
import sys

OP_ENABLE, OP_POP, OP_PUSH, OP_UNPOP, OP_SHOULD_INTERRUPT, OP_SET_NOTIFICATION, OP_RESET, \
    OP_WRITE_MEM, OP_HAS_AVAILABLE = range(9)

F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4
EN_INDIRECT, EN_EVENT_IDX, EN_DESC_HIGH, EN_AVAIL_HIGH, EN_USED_HIGH = 1, 2, 4, 8, 16
QSIZE, DESC, AVAIL, USED, DATA, TABLES = 8, 0x0, 0x80, 0x100, 0x200, 0x400
HOLE, HIGH = 0xC0000000, 0x100000000


def op(code, args=b""):
    assert len(args) <= 15
    return bytes([code]) + args.ljust(15, b"\0")


def enable(flags=EN_INDIRECT | EN_EVENT_IDX, size=QSIZE, desc=DESC, avail=AVAIL, used=USED):
    return op(OP_ENABLE, struct.pack("<HIIIB", size, desc, avail, used, flags))


def pop(slot=0, roff=0, rlen=64, woff=0, wlen=64):
    return op(OP_POP, struct.pack("<BHHHH", slot, roff, rlen, woff, wlen))


def push(slot=0, written=16):
    return op(OP_PUSH, struct.pack("<BI", slot, written))


def write_mem(gpa, data):
    return op(OP_WRITE_MEM, struct.pack("<H", gpa) + data.ljust(8, b"\0"))


class Guest:
    """A guest memory image and the driver's view of one queue in it."""

    def __init__(self, size=0x600):
        self.mem = bytearray(size)
        self.avail_idx = 0

    def put(self, gpa, data):
        self.mem[gpa:gpa + len(data)] = data

    def desc(self, idx, addr, length, flags=0, nxt=0, table=DESC):
        self.put(table + 16 * idx, struct.pack("<QIHH", addr, length, flags, nxt))

    def publish(self, *heads):
        for head in heads:
            self.put(AVAIL + 4 + 2 * (self.avail_idx % QSIZE), struct.pack("<H", head))
            self.avail_idx = (self.avail_idx + 1) & 0xFFFF
        self.put(AVAIL + 2, struct.pack("<H", self.avail_idx))

    def avail_flags(self, flags):
        self.put(AVAIL, struct.pack("<H", flags))

    def used_event(self, value):
        self.put(AVAIL + 4 + 2 * QSIZE, struct.pack("<H", value))


def seed(config, ops, guest):
    return bytes([config, len(ops)]) + b"".join(ops) + bytes(guest.mem)


def seeds():
    s = {}
    max256 = 8 << 1  # config bits 1-4: log2(max queue size) = 8

    g = Guest()
    g.put(DATA, b"request header..")
    g.desc(0, DATA, 16, F_NEXT, 1)
    g.desc(1, DATA + 0x40, 64, F_WRITE)
    g.publish(0)
    s["simple_chain"] = seed(max256, [enable(0), pop(), push(written=64), op(OP_SHOULD_INTERRUPT), pop()], g)

    g = Guest()
    g.desc(0, DATA, 4, 0, table=TABLES)
    g.desc(0, DATA, 4, F_NEXT, 1, table=TABLES)
    g.desc(1, DATA + 0x20, 32, F_WRITE | F_NEXT, 2, table=TABLES)
    g.desc(2, DATA + 0x60, 8, F_WRITE, table=TABLES)
    g.desc(3, TABLES, 48, F_INDIRECT)
    g.publish(3)
    g.used_event(0)
    s["indirect_event_idx"] = seed(max256, [enable(), pop(1), push(1, 40), op(OP_SHOULD_INTERRUPT),
                                            op(OP_SET_NOTIFICATION, b"\1")], g)

    g = Guest()
    for i in range(QSIZE):
        g.desc(i, DATA + 16 * i, 16, F_WRITE)
    g.publish(*range(QSIZE))
    ops = [enable(EN_EVENT_IDX)]
    for i in range(QSIZE):
        ops += [pop(i % 4), push(i % 4, 16)]
    ops += [op(OP_SHOULD_INTERRUPT), write_mem(AVAIL + 2, struct.pack("<H", QSIZE + 3)), pop(), op(OP_RESET),
            enable(EN_EVENT_IDX), pop()]
    s["full_ring_then_reenable"] = seed(max256, ops, g)

    g = Guest()
    g.desc(0, DATA, 8, F_NEXT, 1)
    g.desc(1, DATA, 8, F_NEXT, 0)
    g.publish(0)
    s["direct_loop"] = seed(max256, [enable(), pop(), pop(), op(OP_RESET), enable(), pop()], g)

    g = Guest()
    g.desc(0, 0, 0, F_NEXT, 1, table=TABLES)
    g.desc(1, TABLES + 0x80, 16, F_INDIRECT, table=TABLES)
    g.desc(0, DATA, 4, 0, table=TABLES + 0x80)
    g.desc(5, TABLES, 32, F_INDIRECT)
    g.publish(5)
    s["nested_indirect"] = seed(max256, [enable(), pop()], g)

    g = Guest()
    g.desc(2, 0xDEAD00000000, 0, F_NEXT, 3)
    g.desc(3, DATA, 100, F_WRITE)
    g.publish(2, 2)
    g.avail_flags(1)  # VRING_AVAIL_F_NO_INTERRUPT
    s["zero_length_no_interrupt"] = seed(max256, [enable(0), pop(), push(0, 1000), op(OP_SHOULD_INTERRUPT),
                                                  op(OP_UNPOP), op(OP_HAS_AVAILABLE), pop(2), pop(3)], g)

    # 4 GiB guest: rings in high RAM are empty (zero), a buffer straddles the MMIO hole.
    g = Guest()
    g.desc(0, HOLE - 8, 16, 0)
    g.publish(0)
    s["big_guest_hole"] = seed(max256 | 1, [enable(EN_DESC_HIGH | EN_USED_HIGH), pop(), op(OP_RESET), enable(0),
                                            pop()], g)

    g = Guest()
    g.desc(0, DATA, 8, 0)
    g.publish(0)
    ops = [enable(EN_EVENT_IDX), op(OP_SET_NOTIFICATION, b"\0"), pop(), write_mem(AVAIL + 4 + 2, b"\0\0"),
           write_mem(AVAIL + 2, b"\2\0"), op(OP_SET_NOTIFICATION, b"\1"), op(OP_HAS_AVAILABLE), pop(1),
           push(0, 0), push(1, 0), op(OP_SHOULD_INTERRUPT)]
    s["notification_race"] = seed(max256, ops, g)

    g = Guest(0x800)
    for i in range(64):
        flags = F_NEXT if i < 63 else 0
        if i >= 32:
            flags |= F_WRITE
        g.desc(i, DATA + 4 * i, 4, flags, i + 1, table=TABLES)
    g.desc(0, TABLES, 64 * 16, F_INDIRECT)
    g.desc(1, TABLES, 64 * 16 - 8, F_INDIRECT)
    g.publish(0, 1)
    s["long_indirect"] = seed(max256, [enable(), pop(0, 100, 200, 60, 300), pop(1)], g)

    g = Guest()
    g.desc(0, DATA, 8, F_WRITE | F_NEXT, 1)
    g.desc(1, DATA, 8, 0)
    g.publish(0)
    s["readable_after_writable"] = seed(max256, [enable(0), pop()], g)

    g = Guest()
    g.publish(0)
    g.put(AVAIL + 2, struct.pack("<H", 40))
    s["avail_idx_jump"] = seed(max256, [enable(0, size=QSIZE), pop(), op(OP_HAS_AVAILABLE)], g)

    g = Guest()
    s["bad_enable"] = seed(max256 | 1, [enable(0, size=6), enable(0, desc=8), enable(0, used=0xFFFFFF00),
                                        enable(0, used=HOLE - 4 - 8 * QSIZE), pop(),
                                    enable(EN_EVENT_IDX, used=HOLE - 4 - 8 * QSIZE), pop()], g)
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "virtq")
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(seeds().items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
