/* SPDX-License-Identifier: MIT */
#ifndef VMON_GUEST_MEM_H
#define VMON_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/*
 * Guest-physical RAM. One host mapping holds all of it, surrounded by
 * PROT_NONE guard pages; RAM beyond the architecture's MMIO hole continues
 * above it, so guest-physical addresses map to the host in up to two regions.
 *
 * guest_mem_ptr() is the one checked translation: every guest-supplied
 * address goes through it (bounds and overflow checked here and only here).
 */
#define GUEST_MEM_MAX_REGIONS 2

struct guest_mem_region {
	uint64_t gpa;    /* guest-physical start */
	uint64_t size;   /* bytes */
	uint8_t *host;   /* host address of gpa */
};

struct guest_mem {
	uint64_t ram_size;                /* total RAM, bytes */
	unsigned nregions;
	struct guest_mem_region regions[GUEST_MEM_MAX_REGIONS];
	/* resources */
	uint8_t *mapping;                 /* includes the guard pages */
	size_t mapping_size;
};

/* Smallest and largest RAM vmon accepts. */
#define GUEST_MEM_MIN (2ull << 20)
#define GUEST_MEM_MAX (1ull << 40)

/*
 * Maps ram_size bytes: guest-physical [0, min(ram_size, hole_start)) and the
 * rest from high_start on (the architecture says where its hole is, e.g.
 * x86_guest_mem_create() in arch/x86/memory.h).
 */
int guest_mem_create_split(struct guest_mem *mem, uint64_t ram_size, uint64_t hole_start, uint64_t high_start,
			   struct vmon_error *err);
void guest_mem_destroy(struct guest_mem *mem);

/*
 * Puts the file fd (exactly ram_size bytes: guest RAM in host order, low
 * region then high) behind the RAM, copy-on-write (MAP_PRIVATE): pages load
 * from the file on first touch, guest writes stay in this process. What a
 * restore does instead of copying RAM. name: for messages.
 */
int guest_mem_map_file(struct guest_mem *mem, int fd, const char *name, struct vmon_error *err);

/* Host pointer for [gpa, gpa+len) when all of it is RAM inside one region, else NULL. */
void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* True when [gpa, gpa+len) lies in RAM (one region), without overflow. */
static inline bool guest_mem_contains(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	return guest_mem_ptr(mem, gpa, len) != NULL;
}

/* Copy helpers; return 0 or -EFAULT when the range is not RAM. */
int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len);
int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *dst, uint64_t len);

/* Highest guest-physical address + 1 of RAM below 4 GiB (the low region's end). */
uint64_t guest_mem_low_end(const struct guest_mem *mem);

#endif
