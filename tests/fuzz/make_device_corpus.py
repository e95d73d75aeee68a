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
# Net, vsock and balloon (byte 0: 2, 3, 4) use several queues: queue q's rings at QBASE + q * QSTRIDE.
QBASE, QSTRIDE = 0x8000, 0x800
F_VERSION_1_HI = 1  # feature bit 32


def qdesc(q):
    return QBASE + q * QSTRIDE


def qavail(q):
    return qdesc(q) + 0x200


def qused(q):
    return qdesc(q) + 0x400


def driver_init_queues(nqueues, features_lo=0):
    """driver_init's steps, shorter (the seeds must fit build.sh --max-len): no reads, high halves left 0."""
    seq = [mw(STATUS, 1), mw(STATUS, 3), mw(DRV_FEAT, features_lo), mw(DRV_FEAT_SEL, 1), mw(DRV_FEAT, F_VERSION_1_HI),
           mw(STATUS, 11)]
    for q in range(nqueues):
        seq += [mw(Q_SEL, q), mw(Q_NUM, 8), mw(Q_DESC, qdesc(q)), mw(Q_AVAIL, qavail(q)), mw(Q_USED, qused(q)),
                mw(Q_READY, 1)]
    return b"".join(seq + [mw(STATUS, 15)])


def ram_fresh(addr, data):
    """ram() for memory not written before in the input (zeroed at its start): its zero words are skipped."""
    data = data.ljust((len(data) + 3) // 4 * 4, b"\0")
    return b"".join(ram(addr + i, data[i:i + 4]) for i in range(0, len(data), 4) if any(data[i:i + 4]))


def qchain(q, first, *descs):
    """Descriptors first, first+1, ... of queue q: (addr, len, flags), chained in order."""
    out = b""
    for i, (addr, length, flags) in enumerate(descs):
        nxt = first + i + 1 if i + 1 < len(descs) else 0
        out += desc(addr, length, flags | (F_NEXT if i + 1 < len(descs) else 0), nxt)
    return ram(qdesc(q) + 16 * first, out)


def qsubmit(q, *heads):
    """The avail ring of queue q holding `heads` (all made available so far), whole: guest RAM writes are
    4-byte aligned words, so a lone 16-bit entry would clobber its neighbour."""
    ring = [0] * 8
    for i, head in enumerate(heads):
        ring[i % 8] = head
    return ram(qavail(q), struct.pack("<HH%dH" % min(len(heads), 8), 0, len(heads), *ring[:len(heads)]))


def kick(q):
    return mw(Q_NOTIFY, q) + serve()


def host_op(size, v=0, off=0):
    return struct.pack("<BHBI", 8, off, size, v)


# ---- virtio-net (byte 0: 2): rx 0, tx 1; buffers start with the 12-byte virtio_net_hdr_v1 ----
NET_HDR = bytes(12)
ETH_FRAME = bytes.fromhex("ffffffffffff525400123456") + b"\x08\x06" + bytes(range(46))  # 60 bytes
MMIO_NET_TX = bytes([2]) + driver_init_queues(2) + mr(CONFIG, 4) + mr(CONFIG + 6, 2) \
    + ram(0x4000, NET_HDR + ETH_FRAME) + qchain(1, 0, (0x4000, 12 + len(ETH_FRAME), 0)) + qsubmit(1, 0) + kick(1) \
    + ram(0x4100, NET_HDR + ETH_FRAME[:14]) + qchain(1, 1, (0x4100, 12, 0), (0x4100 + 12, 14, 0)) + qsubmit(1, 0, 1) \
    + ram(0x4200, struct.pack("<BB", 1, 0)) + qchain(1, 3, (0x4200, 12 + 60, 0)) + qsubmit(1, 0, 1, 3) + kick(1) \
    + mr(INT_STATUS) + mw(INT_ACK, 1)
MMIO_NET_RX = bytes([2]) + driver_init_queues(2) \
    + qchain(0, 0, (0x5000, 1526, F_WRITE)) + qsubmit(0, 0) + qchain(0, 1, (0x5800, 12, F_WRITE), (0x5900, 64, F_WRITE)) \
    + qsubmit(0, 0, 1) + kick(0) + host_op(0, off=len(ETH_FRAME)) + ETH_FRAME \
    + host_op(1, 0xab, 70) + host_op(1, 0xcd, 2000) + mr(INT_STATUS) + mw(INT_ACK, 1) \
    + qchain(0, 3, (0x6000, 2048, F_WRITE)) + qsubmit(0, 0, 1, 3) + kick(0) + host_op(0, off=len(ETH_FRAME)) + ETH_FRAME
# The same with MRG_RXBUF (bit 15): one frame across two buffers.
MMIO_NET_RX_MERGE = bytes([2]) + driver_init_queues(2, 1 << 15) \
    + qchain(0, 0, (0x5000, 40, F_WRITE)) + qsubmit(0, 0) + qchain(0, 1, (0x5800, 64, F_WRITE)) + qsubmit(0, 0, 1) \
    + kick(0) + host_op(0, off=len(ETH_FRAME)) + ETH_FRAME + mr(INT_STATUS)


# ---- virtio-vsock (byte 0: 3): rx 0, tx 1, event 2; guest CID 3, host 2 ----
VSOCK_REQUEST, VSOCK_RESPONSE, VSOCK_RST, VSOCK_SHUTDOWN, VSOCK_RW, VSOCK_CREDIT_UPDATE = 1, 2, 3, 4, 5, 6


def vsock_hdr(op, src_port, dst_port, length=0, src_cid=3, dst_cid=2, flags=0, buf_alloc=65536, fwd_cnt=0):
    return struct.pack("<QQIIIHHIII", src_cid, dst_cid, src_port, dst_port, length, 1, op, flags, buf_alloc, fwd_cnt)


def vsock_rx_buffers(first, count):
    out = b""
    for i in range(count):
        out += qchain(0, first + i, (0x6000 + 0x100 * i, 0x100, F_WRITE))
    return out + qsubmit(0, *range(first, first + count))


def vsock_tx(heads, hdr, payload=b"", at=0x4000):
    """A packet in descriptor heads[-1] (and the next, for a payload); heads: every tx head so far."""
    head = heads[-1]
    if payload:
        return ram_fresh(at, hdr + payload) + qchain(1, head, (at, 44, 0), (at + 44, len(payload), 0)) \
            + qsubmit(1, *heads) + kick(1)
    return ram_fresh(at, hdr) + qchain(1, head, (at, 44, 0)) + qsubmit(1, *heads) + kick(1)


# The guest connects to host port 1234: nothing listens on "<uds>_1234", so the device answers RST.
MMIO_VSOCK_REQUEST = bytes([3]) + driver_init_queues(3) + mr(CONFIG, 8) + vsock_rx_buffers(0, 4) + kick(0) \
    + qchain(2, 0, (0x7000, 8, F_WRITE)) + qsubmit(2, 0) + kick(2) \
    + vsock_tx([0], vsock_hdr(VSOCK_REQUEST, 40000, 1234)) \
    + vsock_tx([0, 1], vsock_hdr(VSOCK_RW, 40000, 1234, 4), b"ping", at=0x4100) + serve() + mr(INT_STATUS) + mw(INT_ACK, 1)
# A host client asks for guest port 5000; the guest accepts, data both ways, credit, shutdown.
HOST_PORT = 1 << 30  # the first local port of host-initiated connections
MMIO_VSOCK_HOST_CONNECT = bytes([3]) + driver_init_queues(3) + vsock_rx_buffers(0, 4) + kick(0) \
    + host_op(0, 5000) + serve() + serve() \
    + vsock_tx([0], vsock_hdr(VSOCK_RESPONSE, 5000, HOST_PORT)) + host_op(1, struct.unpack("<I", b"data")[0], 0) \
    + serve() + vsock_tx([0, 1], vsock_hdr(VSOCK_RW, 5000, HOST_PORT, 5), b"hello", at=0x4100) \
    + vsock_tx([0, 1, 3], vsock_hdr(VSOCK_SHUTDOWN, 5000, HOST_PORT, flags=3, fwd_cnt=4), at=0x4200) \
    + host_op(2, 0, 0) + serve()


# ---- virtio-balloon (byte 0: 4): inflate 0, deflate 1, stats 2, reporting 3 ----
F_STATS_VQ, F_DEFLATE_ON_OOM, F_REPORTING = 1 << 1, 1 << 2, 1 << 5
ALL_BALLOON = F_STATS_VQ | F_DEFLATE_ON_OOM | F_REPORTING


def pfns(*frames):
    return struct.pack("<%dI" % len(frames), *frames)


def stat_entries(*pairs):
    return b"".join(struct.pack("<HQ", tag, val) for tag, val in pairs)


MMIO_BALLOON_INFLATE = bytes([4]) + driver_init_queues(4, ALL_BALLOON) + mr(CONFIG, 4) \
    + ram(0x4000, pfns(0x40, 0x41, 0x42, 0x100, 0x99999)) + qchain(0, 0, (0x4000, 20, 0)) + qsubmit(0, 0) + kick(0) \
    + mw(CONFIG + 4, 4) + mr(INT_STATUS) + mw(INT_ACK, 1) \
    + ram(0x4100, pfns(0x41)) + qchain(1, 0, (0x4100, 4, 0)) + qsubmit(1, 0) + kick(1) + mw(CONFIG + 4, 3) \
    + host_op(1, 2) + mr(INT_STATUS) + mr(CONFIG, 4)
MMIO_BALLOON_STATS = bytes([4]) + driver_init_queues(4, ALL_BALLOON) \
    + ram(0x4000, stat_entries((0, 1), (4, 0x1000), (5, 0x800), (7, 0x4000), (99, 5))) \
    + qchain(2, 0, (0x4000, 50, 0)) + qsubmit(2, 0) + kick(2) + host_op(0) + mr(INT_STATUS) + mw(INT_ACK, 1) \
    + qsubmit(2, 0, 0) + kick(2) \
    + qchain(3, 0, (0x20000, 0x2000, F_WRITE), (0x30000, 0x1000, F_WRITE)) + qsubmit(3, 0) + kick(3) \
    + struct.pack("<BHBI", 6, 0, 0, 0) + host_op(0) + struct.pack("<BHBI", 7, 0, 0, 0) + host_op(0)


MMIO = {
    "rng_one_buffer": MMIO_RNG,
    "blk_read": MMIO_BLK_READ,
    "blk_write_flush_id": MMIO_BLK_WRITE_FLUSH_ID,
    "odd_accesses": bytes([0]) + mr(MAGIC, 2) + mw(STATUS, 1, 1) + mr(0x0fc) + mw(Q_SEL, 7) + mr(Q_NUM_MAX)
                    + mw(Q_NOTIFY, 9) + mr(CONFIG, 8) + struct.pack("<BHBI", 5, 0, 0, 0),
    "net_tx": MMIO_NET_TX,
    "net_rx": MMIO_NET_RX,
    "net_rx_mergeable": MMIO_NET_RX_MERGE,
    "vsock_request_rst": MMIO_VSOCK_REQUEST,
    "vsock_host_connect": MMIO_VSOCK_HOST_CONNECT,
    "balloon_inflate_deflate": MMIO_BALLOON_INFLATE,
    "balloon_stats_reporting": MMIO_BALLOON_STATS,
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
    assert all(len(seed) <= 1024 for seed in MMIO.values())  # build.sh --max-len mmio
    write(corpus_dir, "mmio", MMIO)


if __name__ == "__main__":
    main()
