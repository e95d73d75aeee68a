/* SPDX-License-Identifier: MIT */
#ifndef VMON_SNAPSHOT_UFFD_MAP_H
#define VMON_SNAPSHOT_UFFD_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/guest_mem.h"

/*
 * The arithmetic of serving guest RAM through userfaultfd, without the
 * syscalls: where each RAM region lies in the memory file (Firecracker's
 * GuestRegionUffdMapping, the message an external handler receives) and
 * which block of the file answers a fault.
 */
struct uffd_mapping {
	uint64_t base_host_virt_addr;  /* where the region starts in vmon's address space */
	uint64_t size;                 /* bytes */
	uint64_t offset;               /* where its contents start in the memory file */
	uint64_t page_size;            /* bytes; the unit a handler copies in */
};

/* The mappings of mem's regions (low, then high: the memory file's order); returns how many. */
unsigned uffd_mappings_of(const struct guest_mem *mem, uint64_t page_size,
			  struct uffd_mapping out[GUEST_MEM_MAX_REGIONS]);

/*
 * Firecracker's message (a JSON array of GuestRegionUffdMapping objects,
 * with page_size and its deprecated twin page_size_kib, both in bytes as
 * Firecracker sends them) into buf. Returns its length, or -ENOSPC.
 */
int uffd_mappings_json(const struct uffd_mapping *m, unsigned n, char *buf, size_t size);

/*
 * The block that answers a fault at offset off of a range of size bytes:
 * the block-aligned [start, start + len) holding off, clipped to the range
 * (block: a power of two, a multiple of the page size). index numbers it.
 */
struct uffd_block {
	uint64_t index;
	uint64_t start;
	uint64_t len;
};

struct uffd_block uffd_block_of(uint64_t off, uint64_t size, uint64_t block);

/* Blocks in a range of size bytes (the served-blocks bitmap's bits). */
static inline uint64_t uffd_block_count(uint64_t size, uint64_t block)
{
	return size / block + (size % block != 0);
}

/* True when len bytes at p are all zero (such a block is answered with UFFDIO_ZEROPAGE). */
bool uffd_all_zero(const uint8_t *p, size_t len);

#endif
