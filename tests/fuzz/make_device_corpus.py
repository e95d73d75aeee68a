#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed inputs of fuzz_uart, fuzz_i8042, fuzz_rtc and fuzz_mmio
(layouts: the comments at the top of tests/fuzz/fuzz_uart.c, fuzz_i8042.c,
fuzz_rtc.c, fuzz_mmio.c): the register sequences Linux's drivers issue while
probing and running, plus a restore of a plausible saved state.

Usage: tests/fuzz/make_device_corpus.py [CORPUS_DIR]   (default tests/fuzz/corpus)
"""
import os
import struct
import sys


def op(code, a=0, b=0, c=0):
    return bytes([code, a, b, c])


# ---- uart ----
def uw(port, val):
    return op(0, port, val, 0)


def ur(port, size=1):
    return op(1, port, 0, size - 1)


def uin(first, count):
    return op(2, 0, first, count)


def uart_state(rx=b"", fcr=0, ier=0, lcr=3, mcr=0x0b, lsr=0, scr=0, thre=1):
    fifo = rx.ljust(16, b"\0")
    msr = 0xb0  # DCD, DSR, CTS outside loopback
    return struct.pack("<16s12B", fifo, 0, len(rx), ier, fcr, lcr, mcr, lsr, msr, scr, 12, 0, thre)


UART = {
    "linux_probe": b"".join([
        uw(3, 0x80), uw(0, 1), uw(1, 0), uw(3, 0x03), ur(3), uw(2, 0xc7), ur(2), uw(4, 0x0b),
        uw(1, 0x0f), ur(2), ur(5), ur(6), uw(7, 0xa5), ur(7),
    ]),
    "input_and_fifo": b"".join([
        uw(4, 0x0b), uw(2, 0x87), uw(1, 0x05), uin(0x41, 19), ur(2), ur(5), ur(0), ur(0), ur(0),
        op(5), uin(0x30, 4), op(6), uin(0x30, 4), ur(0, 4), uw(2, 0x00), ur(5),
    ]),
    "loopback_overrun": b"".join([
        uw(4, 0x1f), ur(6), uw(0, 0x55), uw(0, 0x56), ur(5), ur(0), uw(2, 0x01), uw(1, 0x04),
        *[uw(0, i) for i in range(18)], ur(2), ur(5), uw(4, 0x0b), ur(6),
    ]),
    "restore": op(3) + uart_state(rx=b"ab", fcr=0xc1, ier=0x01) + ur(2) + ur(0) + op(4) + ur(7)
               + op(3) + uart_state(mcr=0x1f) + op(7) + uw(9, 1) + ur(12, 2),
}

# ---- i8042 ----
DATA, CMD, SCPA = 0, 1, 2


def kw(port, val, size=1):
    return op(0, port, val, size - 1)


def kr(port, size=1):
    return op(1, port, 0, size - 1)


def i8042_state(ctr=0x47, pending=0, out_full=0, out_data=0, kbd=b""):
    ram = bytes([ctr]) + bytes(31)
    return ram + bytes([0x03, out_data, out_full, 0, 0, pending, 0, 0x02]) + kbd.ljust(7, b"\0") + bytes([len(kbd)])


I8042 = {
    "linux_probe": b"".join([
        kr(CMD), kw(CMD, 0x20), kr(DATA), kw(CMD, 0x60), kw(DATA, 0x45), kw(CMD, 0xaa), kr(CMD), kr(DATA),
        kw(CMD, 0xa8), kw(CMD, 0xa9), kr(DATA), kw(CMD, 0xab), kr(DATA), kw(CMD, 0xd4), kw(DATA, 0xf2),
        kr(CMD), kr(DATA), kw(CMD, 0xd3), kw(DATA, 0x5a), kr(CMD), kr(DATA, 2), kw(DATA, 0xff), kr(DATA),
    ]),
    "ctrl_alt_del": b"".join([op(2), kr(CMD), kr(DATA), op(2), kr(DATA), kr(DATA), kr(DATA), op(2), op(2),
                              kw(CMD, 0xad), kr(DATA), kw(CMD, 0xae), kr(DATA)]),
    "resets": b"".join([kw(CMD, 0xd0), kr(DATA), kw(CMD, 0xd1), kw(DATA, 0x02), kw(CMD, 0xfe),
                        kr(SCPA), kw(SCPA, 0x03), kw(SCPA, 0x02), kw(CMD, 0xd2), kw(DATA, 0x1c), op(4)]),
    "ram_roundtrip": b"".join([op(5, 0, 0x60 + i, 0x10 + i) for i in range(0, 32, 5)]),
    "restore": op(3) + i8042_state(pending=0xd1, out_full=1, out_data=0xfa, kbd=b"\x1d\x38")
               + kr(DATA) + kr(DATA) + kw(DATA, 0x03) + op(3) + i8042_state(ctr=0x65),
}

# ---- rtc ----


def ridx(i):
    return op(0, 0, i, 0)


def rw(i, v):
    return ridx(i) + op(1, 0, v, 0)


def rr(i):
    return ridx(i) + op(2)


def advance_ms(ms):
    return op(4, (ms >> 16) & 0xff, (ms >> 8) & 0xff, ms & 0xff)


def rtc_state(offset=0, tick=1700000000, cmos=None):
    c = bytearray(128)
    c[0x0a], c[0x0b], c[0x0d] = 0x26, 0x02, 0x80
    for k, v in (cmos or {}).items():
        c[k] = v
    return struct.pack("<qqq", offset, tick, 0) + bytes(c) + bytes(8)


RTC = {
    "read_time": b"".join(rr(i) for i in (0x0a, 0, 2, 4, 6, 7, 8, 9, 0x32, 0x0b, 0x0d, 0x0c)),
    "set_time": b"".join([rw(0x0b, 0x82), rw(0, 0x59), rw(2, 0x59), rw(4, 0x23), rw(7, 0x31), rw(8, 0x12),
                          rw(9, 0x99), rw(0x32, 0x19), rw(0x0b, 0x02), advance_ms(1500), rr(0), rr(9), rr(0x32)]),
    "alarm_and_flags": b"".join([rw(0x0a, 0x2f), rw(1, 0xc0), rw(3, 0xc0), rw(5, 0xc0), rw(0x0b, 0x72),
                                 advance_ms(70000), rr(0x0c), rr(0x0c), op(5, 0, 0x40, 0), rr(0x0c), op(7)]),
    "binary_12h": b"".join([rw(0x0b, 0x84), rr(4), rw(4, 0x8b), rr(4), rw(0x0b, 0x06), rr(4),
                            rw(0x0a, 0x00), rr(0x0a), rw(0x40, 0x12), rr(0x40), ridx(0x8e), op(1, 0, 7, 0), op(3)]),
    "restore": op(6) + rtc_state(offset=-86400 * 365, cmos={0x0b: 0x26, 0x01: 0x30})
               + rr(0) + rr(0x0c) + advance_ms(5000) + rr(0x0c) + op(6) + rtc_state(offset=1 << 40),
}

# ---- virtio-mmio ----
MAGIC, VERSION, DEVICE_ID, DEV_FEAT, DEV_FEAT_SEL, DRV_FEAT, DRV_FEAT_SEL = 0, 4, 8, 0x10, 0x14, 0x20, 0x24
Q_SEL, Q_NUM_MAX, Q_NUM, Q_READY, Q_NOTIFY, INT_STATUS, INT_ACK, STATUS = 0x30, 0x34, 0x38, 0x44, 0x50, 0x60, 0x64, 0x70
Q_DESC, Q_AVAIL, Q_USED, CONFIG = 0x80, 0x90, 0xa0, 0x100
DESC, AVAIL, USED = 0x1000, 0x2000, 0x3000
F_NEXT, F_WRITE = 1, 2


def mw(off, val, size=4):
    return struct.pack("<BHBI", 0, off, size, val)


def mr(off, size=4):
    return struct.pack("<BHBI", 1, off, size, 0)


def ram(addr, data):
    data = data.ljust((len(data) + 3) // 4 * 4, b"\0")
    return b"".join(struct.pack("<BHB4s", 2, addr + i, 4, data[i:i + 4]) for i in range(0, len(data), 4))


def serve():
    return struct.pack("<BHBI", 3, 0, 0, 0)


def driver_init(queues=1):
    seq = [mr(MAGIC), mr(VERSION), mr(DEVICE_ID), mw(STATUS, 0), mw(STATUS, 1), mw(STATUS, 3),
           mw(DEV_FEAT_SEL, 0), mr(DEV_FEAT), mw(DEV_FEAT_SEL, 1), mr(DEV_FEAT),
           mw(DRV_FEAT_SEL, 0), mw(DRV_FEAT, 0), mw(DRV_FEAT_SEL, 1), mw(DRV_FEAT, 1), mw(STATUS, 11), mr(STATUS)]
    for q in range(queues):
        seq += [mw(Q_SEL, q), mr(Q_NUM_MAX), mw(Q_NUM, 8), mw(Q_DESC, DESC), mw(Q_DESC + 4, 0),
                mw(Q_AVAIL, AVAIL), mw(Q_AVAIL + 4, 0), mw(Q_USED, USED), mw(Q_USED + 4, 0), mw(Q_READY, 1)]
    return b"".join(seq + [mw(STATUS, 15)])


def desc(addr, length, flags, nxt=0):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def submit(chain_head, avail_idx):
    return ram(AVAIL + 4 + 2 * (avail_idx - 1), struct.pack("<H", chain_head)) + ram(AVAIL, struct.pack("<HH", 0, avail_idx))


def mmio_state_restore(size):
    return struct.pack("<BHBI", 4, 0, 0, 0) + bytes(size)


MMIO_RNG = bytes([0]) + driver_init() + ram(DESC, desc(0x4000, 64, F_WRITE)) + submit(0, 1) + mw(Q_NOTIFY, 0) \
    + serve() + mr(INT_STATUS) + mw(INT_ACK, 1) + mr(USED, 4)
MMIO_BLK_READ = bytes([1]) + driver_init() + mr(CONFIG, 8) + mr(CONFIG + 0x14, 4) \
    + ram(0x4000, struct.pack("<IIQ", 0, 0, 3)) \
    + ram(DESC, desc(0x4000, 16, F_NEXT, 1) + desc(0x5000, 512, F_WRITE | F_NEXT, 2) + desc(0x6000, 1, F_WRITE)) \
    + submit(0, 1) + mw(Q_NOTIFY, 0) + serve() + mr(INT_STATUS) + mw(INT_ACK, 1)
MMIO_BLK_WRITE_FLUSH_ID = bytes([1]) + driver_init() \
    + ram(0x4000, struct.pack("<IIQ", 1, 0, 5) + struct.pack("<IIQ", 4, 0, 0) + struct.pack("<IIQ", 8, 0, 0)) \
    + ram(DESC, desc(0x4000, 16, F_NEXT, 1) + desc(0x5000, 1024, F_NEXT, 2) + desc(0x6000, 1, F_WRITE)
          + desc(0x4010, 16, F_NEXT, 4) + desc(0x6001, 1, F_WRITE)
          + desc(0x4020, 16, F_NEXT, 6) + desc(0x5000, 20, F_WRITE | F_NEXT, 7) + desc(0x6002, 1, F_WRITE)) \
    + submit(0, 1) + submit(3, 2) + submit(5, 3) + mw(Q_NOTIFY, 0) + serve() + struct.pack("<BHBI", 6, 0, 0, 0) \
    + struct.pack("<BHBI", 7, 0, 0, 0) + mw(STATUS, 0) + mr(Q_READY)
MMIO = {
    "rng_one_buffer": MMIO_RNG,
    "blk_read": MMIO_BLK_READ,
    "blk_write_flush_id": MMIO_BLK_WRITE_FLUSH_ID,
    "odd_accesses": bytes([0]) + mr(MAGIC, 2) + mw(STATUS, 1, 1) + mr(0x0fc) + mw(Q_SEL, 7) + mr(Q_NUM_MAX)
                    + mw(Q_NOTIFY, 9) + mr(CONFIG, 8) + struct.pack("<BHBI", 5, 0, 0, 0),
}


def write(corpus_dir, name, seeds):
    out = os.path.join(corpus_dir, name)
    os.makedirs(out, exist_ok=True)
    for seed, data in seeds.items():
        with open(os.path.join(out, seed), "wb") as f:
            f.write(data)


def main():
    corpus_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    assert all(len(uart_state()) == 28 for _ in [0]) and len(i8042_state()) == 48 and len(rtc_state()) == 160
    write(corpus_dir, "uart", UART)
    write(corpus_dir, "i8042", I8042)
    write(corpus_dir, "rtc", RTC)
    write(corpus_dir, "mmio", MMIO)


if __name__ == "__main__":
    main()
