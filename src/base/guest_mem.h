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
	/*
	 * Pages vmon's own threads wrote (KVM's dirty log sees only the
	 * guest's writes): one bit per 4 KiB page, bit i = RAM offset i*4096.
	 * Allocated at the first guest_mem_track_writes(true), kept until
	 * guest_mem_destroy (a marking thread may still hold it); marked only
	 * while tracking_writes is set (read with __atomic builtins).
	 */
	uint64_t *written;
	bool tracking_writes;
};

#define GUEST_MEM_PAGE_SHIFT 12
#define GUEST_MEM_PAGE 4096ull

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

/*
 * Gives the pages of [host, host+len) (inside guest RAM; rounded inwards to
 * whole pages) back to the host: the guest no longer needs their contents
 * (a balloon's pages, pages a guest reported free). Each backend the RAM can
 * have, and what the pages read as afterwards:
 *  - anonymous private memory: MADV_DONTNEED frees them; they read as zero
 *    and fault in fresh on the next touch;
 *  - a memory file mapped MAP_PRIVATE (a restore): MADV_DONTNEED drops the
 *    private copy; they read as the file's page again (page cache, not this
 *    process's anonymous memory; RSS counts it once touched again);
 *  - either one registered with a userfaultfd (Uffd restore): the next touch
 *    faults to the handler, which serves the page from its source again.
 * A shared (MAP_SHARED / memfd) backend would need MADV_REMOVE to free the
 * backing store; vmon has none. The pages are marked written (dirty log):
 * what they read as now reaches a diff snapshot or a migration's other side,
 * so both sides agree byte for byte. Returns 0, or a negative errno.
 */
int guest_mem_discard(const struct guest_mem *mem, void *host, uint64_t len);

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

/*
 * Dirty-page bitmaps over guest RAM: one bit per 4 KiB page, bit i = RAM
 * offset i*4096 in the one contiguous host range (low region, then high
 * region), guest_mem_bitmap_words() 64-bit words.
 */
static inline size_t guest_mem_bitmap_words(const struct guest_mem *mem)
{
	return (size_t)((mem->ram_size / GUEST_MEM_PAGE + 63) / 64);
}

/* Pages set in a bitmap of `words` words. */
static inline uint64_t guest_mem_bitmap_count(const uint64_t *bitmap, size_t words)
{
	uint64_t n = 0;

	for (size_t i = 0; i < words; i++)
		n += (uint64_t)__builtin_popcountll(bitmap[i]);
	return n;
}

/*
 * Device-write tracking: while on, guest_mem_mark_written() and
 * guest_mem_mark_host() record the pages vmon's own threads write into guest
 * RAM (KVM's dirty log does not see them). Turning it on clears what was
 * recorded before. Any thread; 0 or -ENOMEM.
 */
int guest_mem_track_writes(struct guest_mem *mem, bool on);

static inline bool guest_mem_tracking_writes(const struct guest_mem *mem)
{
	return __atomic_load_n(&mem->tracking_writes, __ATOMIC_ACQUIRE);
}

void guest_mem_mark_written_slow(const struct guest_mem *mem, uint64_t gpa, uint64_t len);
void guest_mem_mark_host_slow(const struct guest_mem *mem, const void *host, uint64_t len);

/*
 * [gpa, gpa+len) (a guest-physical range; the part outside RAM is ignored)
 * or [host, host+len) (a host range inside guest RAM) was written by vmon.
 * Thread-safe (atomic OR); while tracking is off they cost one branch.
 */
static inline void guest_mem_mark_written(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	if (__builtin_expect(guest_mem_tracking_writes(mem), 0))
		guest_mem_mark_written_slow(mem, gpa, len);
}

static inline void guest_mem_mark_host(const struct guest_mem *mem, const void *host, uint64_t len)
{
	if (__builtin_expect(guest_mem_tracking_writes(mem), 0))
		guest_mem_mark_host_slow(mem, host, len);
}

/* ORs the pages marked since tracking started or the last fetch into bitmap, and clears them (atomically per word). */
void guest_mem_fetch_written(const struct guest_mem *mem, uint64_t *bitmap);

/* Puts pages back into the written log (a fetch whose pages could not be used); nothing while tracking is off. */
void guest_mem_mark_bitmap(const struct guest_mem *mem, const uint64_t *bitmap);

/*
 * ORs a bitmap over region `region` (bit i = the page at regions[region].gpa
 * + i*4096, as KVM_GET_DIRTY_LOG returns one for a memslot) into a RAM
 * bitmap at that region's RAM offset.
 */
void guest_mem_or_region_bitmap(const struct guest_mem *mem, unsigned region, const uint64_t *region_bits,
				uint64_t *bitmap);

#endif
