/* SPDX-License-Identifier: MIT */
#include "base/guest_mem.h"

#include <errno.h>
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

void guest_mem_destroy(struct guest_mem *mem)
{
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
