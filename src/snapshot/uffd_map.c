/* SPDX-License-Identifier: MIT */
#include "snapshot/uffd_map.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

unsigned uffd_mappings_of(const struct guest_mem *mem, uint64_t page_size,
			  struct uffd_mapping out[GUEST_MEM_MAX_REGIONS])
{
	/* Guest RAM is one host range, regions back to back: a region's file offset is its distance from the first. */
	for (unsigned i = 0; i < mem->nregions; i++)
		out[i] = (struct uffd_mapping){
			.base_host_virt_addr = (uint64_t)(uintptr_t)mem->regions[i].host,
			.size = mem->regions[i].size,
			.offset = (uint64_t)(mem->regions[i].host - mem->regions[0].host),
			.page_size = page_size,
		};
	return mem->nregions;
}

int uffd_mappings_json(const struct uffd_mapping *m, unsigned n, char *buf, size_t size)
{
	size_t used = 0;
	int w;

	if (size < 3)
		return -ENOSPC;
	buf[used++] = '[';
	for (unsigned i = 0; i < n; i++) {
		w = snprintf(buf + used, size - used,
			     "%s{\"base_host_virt_addr\":%llu,\"size\":%llu,\"offset\":%llu,\"page_size\":%llu,"
			     "\"page_size_kib\":%llu}", i ? "," : "", (unsigned long long)m[i].base_host_virt_addr,
			     (unsigned long long)m[i].size, (unsigned long long)m[i].offset,
			     (unsigned long long)m[i].page_size, (unsigned long long)m[i].page_size);
		if (w < 0 || (size_t)w >= size - used)
			return -ENOSPC;
		used += (size_t)w;
	}
	if (size - used < 2)
		return -ENOSPC;
	buf[used++] = ']';
	buf[used] = '\0';
	return (int)used;
}

struct uffd_block uffd_block_of(uint64_t off, uint64_t size, uint64_t block)
{
	struct uffd_block b = { .index = off / block, .start = off & ~(block - 1) };

	b.len = size - b.start < block ? size - b.start : block;
	return b;
}

bool uffd_all_zero(const uint8_t *p, size_t len)
{
	/* A zero first byte and every byte equal to its successor: one memcmp over the block. */
	return len == 0 || (p[0] == 0 && !memcmp(p, p + 1, len - 1));
}
