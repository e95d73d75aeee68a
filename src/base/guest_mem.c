/* SPDX-License-Identifier: MIT */
#include "base/guest_mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GUARD_SIZE (2ull << 20)
#define GUEST_MEM_SMALL_PAGES (2ull << 20)   /* guest RAM below this: no huge pages */

int guest_mem_create_split(struct guest_mem *mem, uint64_t ram_size, uint64_t hole_start, uint64_t high_start,
			   struct vmon_error *err)
{
	uint64_t low, high;
	uint8_t *map;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	memset(mem, 0, sizeof(*mem));
	if (ram_size < GUEST_MEM_MIN || ram_size > GUEST_MEM_MAX)
		return error_set(err, -EINVAL, "memory size %llu bytes is outside %llu MiB .. %llu GiB",
				 (unsigned long long)ram_size, GUEST_MEM_MIN >> 20, GUEST_MEM_MAX >> 30);
	if (ram_size % page)
		return error_set(err, -EINVAL, "memory size %llu bytes is not a multiple of the page size %zu",
				 (unsigned long long)ram_size, page);

	low = ram_size < hole_start ? ram_size : hole_start;
	high = ram_size - low;

	mem->mapping_size = ram_size + 2 * GUARD_SIZE;
	map = mmap(NULL, mem->mapping_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		return error_set(err, -errno, "cannot reserve %llu MiB of address space for guest memory: %s",
				 (unsigned long long)(mem->mapping_size >> 20), strerror(errno));
	if (mprotect(map + GUARD_SIZE, ram_size, PROT_READ | PROT_WRITE) < 0) {
		int e = errno;
		munmap(map, mem->mapping_size);
		return error_set(err, -e, "cannot map %llu MiB of guest memory: %s",
				 (unsigned long long)(ram_size >> 20), strerror(e));
	}
	/*
	 * Guest RAM is not worth dumping and is large; huge pages cut TLB misses.
	 * Not for the first 2 MiB: it holds the boot tables (and all of a small
	 * kernel), a few scattered pages that a huge page would turn into 2 MiB
	 * zeroed and resident before the guest runs its first instruction.
	 */
	madvise(map + GUARD_SIZE, ram_size, MADV_DONTDUMP);
	if (ram_size > GUEST_MEM_SMALL_PAGES)
		madvise(map + GUARD_SIZE + GUEST_MEM_SMALL_PAGES, ram_size - GUEST_MEM_SMALL_PAGES, MADV_HUGEPAGE);

	mem->mapping = map;
	mem->ram_size = ram_size;
	mem->regions[0] = (struct guest_mem_region){ .gpa = 0, .size = low, .host = map + GUARD_SIZE };
	mem->nregions = 1;
	if (high) {
		mem->regions[1] = (struct guest_mem_region){
			.gpa = high_start, .size = high, .host = map + GUARD_SIZE + low };
		mem->nregions = 2;
	}
	return 0;
}

int guest_mem_map_file(struct guest_mem *mem, int fd, const char *name, struct vmon_error *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return error_set(err, -errno, "%s: %s", name, strerror(errno));
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != mem->ram_size)
		return error_set(err, -EINVAL, "%s: %llu bytes, the guest has %llu bytes of RAM", name,
				 (unsigned long long)st.st_size, (unsigned long long)mem->ram_size);
	void *at = mmap(mem->regions[0].host, mem->ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
	if (at == MAP_FAILED)
		return error_set(err, -errno, "%s: mapping it as guest memory: %s", name, strerror(errno));
	madvise(at, mem->ram_size, MADV_DONTDUMP);
	return 0;
}

int guest_mem_discard(const struct guest_mem *mem, void *host, uint64_t len)
{
	uintptr_t start = ((uintptr_t)host + GUEST_MEM_PAGE - 1) & ~(uintptr_t)(GUEST_MEM_PAGE - 1);
	uintptr_t end = ((uintptr_t)host + len) & ~(uintptr_t)(GUEST_MEM_PAGE - 1);

	if (end <= start)
		return 0;
	/* Private mappings, file or anonymous: DONTNEED is the call that frees (see the header). */
	if (madvise((void *)start, end - start, MADV_DONTNEED) < 0)
		return -errno;
	guest_mem_mark_host(mem, (void *)start, end - start);
	return 0;
}

void guest_mem_destroy(struct guest_mem *mem)
{
	free(mem->written);
	if (mem->mapping)
		munmap(mem->mapping, mem->mapping_size);
	memset(mem, 0, sizeof(*mem));
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct guest_mem_region *r = &mem->regions[i];
		uint64_t off;

		if (gpa < r->gpa)
			continue;
		off = gpa - r->gpa;
		/* off <= size and len <= size - off: no overflow possible. */
		if (off > r->size || len > r->size - off)
			continue;
		if (len == 0 && off == r->size)
			continue;
		return r->host + off;
	}
	return NULL;
}

int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len)
{
	void *dst = guest_mem_ptr(mem, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *dst, uint64_t len)
{
	const void *src = guest_mem_ptr(mem, gpa, len);

	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

uint64_t guest_mem_low_end(const struct guest_mem *mem)
{
	return mem->regions[0].size;
}

/* ---- writes by vmon's own threads --------------------------------------- */

int guest_mem_track_writes(struct guest_mem *mem, bool on)
{
	size_t words = guest_mem_bitmap_words(mem);

	if (!on) {
		__atomic_store_n(&mem->tracking_writes, false, __ATOMIC_RELEASE);
		return 0;
	}
	if (!mem->written && !(mem->written = calloc(words, sizeof(uint64_t))))
		return -ENOMEM;
	/* Marks from an earlier tracking period are stale: "since start" starts now. */
	for (size_t i = 0; i < words; i++)
		__atomic_store_n(&mem->written[i], 0, __ATOMIC_RELAXED);
	/* Release: a marker that sees the flag sees the bitmap. */
	__atomic_store_n(&mem->tracking_writes, true, __ATOMIC_RELEASE);
	return 0;
}

/*
 * Pages [first, last] set. Always a locked OR, never "skip when already
 * set": the OR is a full barrier on x86, so a fetcher that clears the bit
 * after it also sees the data written before it.
 */
static void set_pages(uint64_t *bits, uint64_t first, uint64_t last)
{
	for (uint64_t page = first; page <= last;) {
		unsigned bit = (unsigned)(page % 64);
		uint64_t n = 64 - bit;
		uint64_t mask;

		if (n > last - page + 1)
			n = last - page + 1;
		mask = (n == 64 ? ~0ull : (1ull << n) - 1) << bit;
		__atomic_fetch_or(&bits[page / 64], mask, __ATOMIC_SEQ_CST);
		page += n;
	}
}

/* RAM offsets [off, off+len), clamped to RAM. */
static void mark_offsets(const struct guest_mem *mem, uint64_t off, uint64_t len)
{
	if (!len || off >= mem->ram_size || !mem->written)
		return;
	if (len > mem->ram_size - off)
		len = mem->ram_size - off;
	set_pages(mem->written, off >> GUEST_MEM_PAGE_SHIFT, (off + len - 1) >> GUEST_MEM_PAGE_SHIFT);
}

void guest_mem_mark_written_slow(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->nregions && len; i++) {
		const struct guest_mem_region *r = &mem->regions[i];
		uint64_t ram_off = (uint64_t)(r->host - mem->regions[0].host);
		uint64_t end = len > UINT64_MAX - gpa ? UINT64_MAX : gpa + len;
		uint64_t from = gpa > r->gpa ? gpa : r->gpa;
		uint64_t to = end < r->gpa + r->size ? end : r->gpa + r->size;

		if (from < to)
			mark_offsets(mem, ram_off + (from - r->gpa), to - from);
	}
}

void guest_mem_mark_host_slow(const struct guest_mem *mem, const void *host, uint64_t len)
{
	const uint8_t *p = host, *base = mem->regions[0].host;

	/* Guest RAM is one host range: the offset from its start is the RAM offset. */
	if (mem->nregions && p >= base && (uint64_t)(p - base) < mem->ram_size)
		mark_offsets(mem, (uint64_t)(p - base), len);
}

void guest_mem_fetch_written(const struct guest_mem *mem, uint64_t *bitmap)
{
	size_t words = guest_mem_bitmap_words(mem);

	if (!mem->written)
		return;
	for (size_t i = 0; i < words; i++)
		if (__atomic_load_n(&mem->written[i], __ATOMIC_RELAXED))
			bitmap[i] |= __atomic_exchange_n(&mem->written[i], 0, __ATOMIC_SEQ_CST);
}

void guest_mem_mark_bitmap(const struct guest_mem *mem, const uint64_t *bitmap)
{
	size_t words = guest_mem_bitmap_words(mem);

	if (!guest_mem_tracking_writes(mem))
		return;
	for (size_t i = 0; i < words; i++)
		if (bitmap[i])
			__atomic_fetch_or(&mem->written[i], bitmap[i], __ATOMIC_SEQ_CST);
}

void guest_mem_or_region_bitmap(const struct guest_mem *mem, unsigned region, const uint64_t *region_bits,
				uint64_t *bitmap)
{
	const struct guest_mem_region *r;
	uint64_t first, pages;

	if (region >= mem->nregions)
		return;
	r = &mem->regions[region];
	first = (uint64_t)(r->host - mem->regions[0].host) >> GUEST_MEM_PAGE_SHIFT;
	pages = r->size >> GUEST_MEM_PAGE_SHIFT;
	for (uint64_t w = 0; w < (pages + 63) / 64; w++) {
		uint64_t v = region_bits[w];
		uint64_t at = first + w * 64;
		unsigned shift = (unsigned)(at % 64);

		if (!v)
			continue;
		if (pages - w * 64 < 64)
			v &= (1ull << (pages - w * 64)) - 1;   /* bits past the region's end are not RAM */
		bitmap[at / 64] |= v << shift;
		if (shift && (v >> (64 - shift)))
			bitmap[at / 64 + 1] |= v >> (64 - shift);
	}
}
