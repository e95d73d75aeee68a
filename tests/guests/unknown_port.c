/* SPDX-License-Identifier: MIT */
/*
 * unknown_port: accesses I/O ports and MMIO nobody emulates.
 *  - byte reads of ports 0x1234, 0x4321, 0xdead and 16/32-bit reads of the
 *    4-byte aligned ports below them (0x1234, 0x4320, 0xdeac) return all
 *    ones, also after writes to them (writes are dropped);
 *  - a read of 0xd0000000 (inside the 32-bit MMIO hole, no device) returns
 *    all ones or all zeros, and writing there does not change what is read.
 * Failures: 1 = a port read was not all ones, 2 = unmapped MMIO kept a write
 * or read back something other than all ones / all zeros.
 *
 * Differences from vmon that these expectations avoid (QEMU 7.2):
 *  - port 0x510 is QEMU's fw_cfg selector, so it is not probed;
 *  - QEMU reads unaligned 16/32-bit accesses to unassigned ports as 0, so
 *    wide accesses use aligned ports only;
 *  - QEMU reads unassigned MMIO as 0 where vmon answers all ones.
 */
#include "lib.h"

#define UNMAPPED_MMIO 0xd0000000ul
#define MMIO_PATTERN  0x5a5aa5a5u

static const uint16_t ports[] = { 0x1234, 0x4321, 0xdead };

static unsigned int check(const char *what, uint16_t port, uint32_t got, uint32_t want)
{
	printf("unknown_port: %s 0x%x -> 0x%x %s\n", what, port, got, got == want ? "ok" : "FAIL");
	return got == want ? 0 : 1;
}

static unsigned int probe_port(uint16_t port)
{
	uint16_t aligned = port & ~3u;
	unsigned int bad = 0;

	bad += check("inb", port, inb(port), 0xff);
	bad += check("inw", aligned, inw(aligned), 0xffff);
	bad += check("inl", aligned, inl(aligned), 0xffffffffu);
	outb(port, 0x12);
	outw(aligned, 0x3456);
	outl(aligned, 0x789abcdeu);
	bad += check("inb after writes:", port, inb(port), 0xff);
	bad += check("inl after writes:", aligned, inl(aligned), 0xffffffffu);
	return bad;
}

void guest_main(const struct boot_info *bi)
{
	unsigned int bad_ports = 0;
	uint32_t before, after;

	(void)bi;
	for (unsigned int i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		bad_ports += probe_port(ports[i]);

	before = mmio_read32(UNMAPPED_MMIO);
	mmio_write32(UNMAPPED_MMIO, MMIO_PATTERN);
	after = mmio_read32(UNMAPPED_MMIO);
	bool mmio_ok = (before == 0xffffffffu || before == 0) && after == before;
	printf("unknown_port: mmio 0x%lx read 0x%x, after writing 0x%x read 0x%x %s\n",
	       UNMAPPED_MMIO, before, MMIO_PATTERN, after, mmio_ok ? "ok" : "FAIL");

	if (bad_ports) {
		printf("unknown_port: FAIL: %u port reads were not all ones\n", bad_ports);
		debug_exit(1);
	}
	if (!mmio_ok) {
		printf("unknown_port: FAIL: unmapped MMIO\n");
		debug_exit(2);
	}
	printf("unknown_port: all checks passed\n");
	debug_exit(0);
}
