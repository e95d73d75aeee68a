/* SPDX-License-Identifier: MIT */
/*
 * memmap: prints the memory map it received ("e820: BASE SIZE TYPE", hex
 * base and size, decimal type) and the cmdline, then checks:
 *  1 = no map, or no RAM entry containing 1 MiB (0x100000),
 *  2 = the map does not cover the mem=N (MiB) size given on the cmdline:
 *      the entries must chain without a gap from 1 MiB up to an end E
 *      (firmware may reserve the top of RAM, as SeaBIOS does under QEMU),
 *      and E plus the RAM above 4 GiB must be at least N MiB,
 *  3 = two entries overlap or an entry wraps around,
 *  4 = malformed mem= value, 5 = more entries than the guest keeps (32).
 */
#include "lib.h"

#define ONE_MIB  0x100000ull
#define FOUR_GIB 0x100000000ull

/* End of the run of entries that covers pos, then their end, and so on. */
static uint64_t chain_end(const struct boot_info *bi, uint64_t pos)
{
	for (uint32_t step = 0; step < bi->mem_count; step++) {
		bool moved = false;

		for (uint32_t i = 0; i < bi->mem_count; i++) {
			const struct boot_mem_range *m = &bi->mem[i];

			if (m->type != MEM_TYPE_UNUSABLE && m->base <= pos && pos - m->base < m->size) {
				pos = m->base + m->size;
				moved = true;
			}
		}
		if (!moved)
			break;
	}
	return pos;
}

static bool overlaps(const struct boot_mem_range *a, const struct boot_mem_range *b)
{
	return a->base < b->base + b->size && b->base < a->base + a->size;
}

void guest_main(const struct boot_info *bi)
{
	bool ram_at_1m = false;
	uint64_t ram_end = 0, ram_high = 0, covered, mem_mib = 0;
	const char *mem_arg = cmdline_get(bi, "mem=");

	printf("memmap: protocol %s, cmdline: %s\n", bi->protocol, bi->cmdline);
	printf("memmap: %u entries\n", bi->mem_total);
	for (uint32_t i = 0; i < bi->mem_count; i++) {
		const struct boot_mem_range *m = &bi->mem[i];

		printf("e820: 0x%016lx 0x%016lx %u\n", m->base, m->size, m->type);
		if (m->size && m->base + m->size < m->base) {
			printf("memmap: FAIL: entry %u wraps around\n", i);
			debug_exit(3);
		}
		if (m->type != MEM_TYPE_RAM)
			continue;
		if (m->base <= ONE_MIB && ONE_MIB < m->base + m->size)
			ram_at_1m = true;
		if (m->base + m->size > ram_end)
			ram_end = m->base + m->size;
		if (m->base >= FOUR_GIB)
			ram_high += m->size;
	}
	if (bi->mem_total > bi->mem_count) {
		printf("memmap: FAIL: %u entries, only %u kept\n", bi->mem_total, bi->mem_count);
		debug_exit(5);
	}
	for (uint32_t i = 0; i < bi->mem_count; i++) {
		for (uint32_t j = i + 1; j < bi->mem_count; j++) {
			if (overlaps(&bi->mem[i], &bi->mem[j])) {
				printf("memmap: FAIL: entries %u and %u overlap\n", i, j);
				debug_exit(3);
			}
		}
	}
	covered = chain_end(bi, ONE_MIB) + ram_high;
	printf("memmap: RAM at 1 MiB: %s; RAM ends at 0x%lx; map covers 0x%lx bytes\n",
	       ram_at_1m ? "yes" : "no", ram_end, covered);
	if (!ram_at_1m) {
		printf("memmap: FAIL: no RAM at 1 MiB\n");
		debug_exit(1);
	}
	if (mem_arg) {
		if (!parse_u64(mem_arg, &mem_mib) || mem_mib > (UINT64_MAX >> 20)) {
			printf("memmap: FAIL: bad mem= value\n");
			debug_exit(4);
		}
		printf("memmap: mem=%lu MiB (0x%lx bytes): %s\n", mem_mib, mem_mib << 20,
		       covered >= mem_mib << 20 ? "covered" : "not covered");
		if (covered < mem_mib << 20) {
			printf("memmap: FAIL: the map does not cover mem=\n");
			debug_exit(2);
		}
	} else {
		printf("memmap: no mem= on the cmdline, size not checked\n");
	}
	printf("memmap: all checks passed\n");
	debug_exit(0);
}
