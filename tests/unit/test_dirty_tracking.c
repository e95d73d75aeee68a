/* SPDX-License-Identifier: MIT */
/*
 * Dirty-page tracking without KVM: the RAM bitmap's mapping from
 * guest-physical addresses (and KVM's per-memslot bitmaps) to RAM offsets
 * across the 32-bit hole, the device-write log the virtqueue marks, and the
 * diff memory file and its merge onto a base.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/guest_mem.h"
#include "snapshot/snapshot_file.h"
#include "virtio/queue.h"
#include "virtq_driver.h"

#define PAGE 4096ull
#define MIB (1ull << 20)

/*
 * 8 MiB of RAM with a hole at 3 MiB + 5 pages (not a multiple of 64 pages,
 * so the high region's bits straddle bitmap words) up to 16 MiB.
 */
#define HOLE_START (3 * MIB + 5 * PAGE)
#define HIGH_START (16 * MIB)
#define RAM_SIZE (8 * MIB)
#define LOW_PAGES (HOLE_START / PAGE)
#define TOTAL_PAGES (RAM_SIZE / PAGE)

static bool bit(const uint64_t *bm, uint64_t page)
{
	return bm[page / 64] & (1ull << (page % 64));
}

static void split_mem(struct guest_mem *mem)
{
	struct vmon_error err = { 0 };

	assert_int_equal(guest_mem_create_split(mem, RAM_SIZE, HOLE_START, HIGH_START, &err), 0);
	assert_int_equal(mem->nregions, 2);
	assert_int_equal(mem->regions[1].gpa, HIGH_START);
	assert_int_equal(mem->regions[1].size, RAM_SIZE - HOLE_START);
}

/* The pages set in bm, in order, into pages[]; returns how many. */
static unsigned set_pages(const uint64_t *bm, size_t words, uint64_t *pages, unsigned max)
{
	unsigned n = 0;

	for (uint64_t p = 0; p < words * 64; p++)
		if (bit(bm, p)) {
			assert_true(n < max);
			pages[n++] = p;
		}
	return n;
}

/* ---- GPA -> RAM offset ---------------------------------------------------- */

static void region_bitmaps_map_across_the_hole(void **state)
{
	struct guest_mem mem;
	uint64_t *ram_bm, slot[((RAM_SIZE / PAGE) + 63) / 64] = { 0 };
	uint64_t got[8];
	const uint64_t high_pages = (RAM_SIZE - HOLE_START) / PAGE;

	(void)state;
	split_mem(&mem);
	assert_int_equal(guest_mem_bitmap_words(&mem), (TOTAL_PAGES + 63) / 64);
	ram_bm = calloc(guest_mem_bitmap_words(&mem), sizeof(uint64_t));
	assert_non_null(ram_bm);

	/* Low slot: page i of the slot is RAM page i. */
	slot[0] = 1ull << 3;
	slot[(LOW_PAGES - 1) / 64] |= 1ull << ((LOW_PAGES - 1) % 64);
	guest_mem_or_region_bitmap(&mem, 0, slot, ram_bm);
	/* High slot (gpa 16 MiB): page i is RAM page LOW_PAGES + i; its first, 60th, 64th and last pages. */
	memset(slot, 0, sizeof(slot));
	slot[0] = 1ull | (1ull << 59) | (1ull << 63);
	slot[(high_pages - 1) / 64] |= 1ull << ((high_pages - 1) % 64);
	/* Bits past the slot's end are not RAM: ignored. */
	_Static_assert(((RAM_SIZE - HOLE_START) / PAGE) % 64, "the high slot must end inside a word");
	slot[(high_pages - 1) / 64] |= ~0ull << (high_pages % 64);
	guest_mem_or_region_bitmap(&mem, 1, slot, ram_bm);

	assert_int_equal(set_pages(ram_bm, guest_mem_bitmap_words(&mem), got, 8), 6);
	assert_int_equal(got[0], 3);
	assert_int_equal(got[1], LOW_PAGES - 1);
	assert_int_equal(got[2], LOW_PAGES);
	assert_int_equal(got[3], LOW_PAGES + 59);
	assert_int_equal(got[4], LOW_PAGES + 63);
	assert_int_equal(got[5], TOTAL_PAGES - 1);
	assert_int_equal(guest_mem_bitmap_count(ram_bm, guest_mem_bitmap_words(&mem)), 6);
	free(ram_bm);
	guest_mem_destroy(&mem);
}

static void marked_gpas_map_across_the_hole(void **state)
{
	struct guest_mem mem;
	size_t words;
	uint64_t *bm, got[8];

	(void)state;
	split_mem(&mem);
	words = guest_mem_bitmap_words(&mem);
	bm = calloc(words, sizeof(uint64_t));
	assert_non_null(bm);
	assert_int_equal(guest_mem_track_writes(&mem, true), 0);

	guest_mem_mark_written(&mem, 0x1234, 1);                       /* page 1 */
	guest_mem_mark_written(&mem, HOLE_START - 2, 4);               /* last low page; the rest is the hole */
	guest_mem_mark_written(&mem, HIGH_START + PAGE - 1, 2);        /* high pages 0 and 1 */
	guest_mem_mark_written(&mem, HIGH_START + RAM_SIZE, 64);       /* past RAM: nothing */
	guest_mem_mark_written(&mem, UINT64_MAX - 3, 100);             /* wraps: nothing, no crash */
	guest_mem_fetch_written(&mem, bm);
	assert_int_equal(set_pages(bm, words, got, 8), 4);
	assert_int_equal(got[0], 1);
	assert_int_equal(got[1], LOW_PAGES - 1);
	assert_int_equal(got[2], LOW_PAGES);
	assert_int_equal(got[3], LOW_PAGES + 1);

	/* Host pointers: the contiguous range; the last byte of RAM is the last page. */
	memset(bm, 0, words * sizeof(uint64_t));
	guest_mem_mark_host(&mem, mem.regions[1].host + mem.regions[1].size - 1, 1);
	guest_mem_mark_host(&mem, mem.regions[0].host - 1, 1);        /* before RAM: nothing */
	guest_mem_fetch_written(&mem, bm);
	assert_int_equal(set_pages(bm, words, got, 8), 1);
	assert_int_equal(got[0], TOTAL_PAGES - 1);

	/* The fetch cleared the log. */
	memset(bm, 0, words * sizeof(uint64_t));
	guest_mem_fetch_written(&mem, bm);
	assert_int_equal(guest_mem_bitmap_count(bm, words), 0);

	/* Off: nothing is marked; on again: starts empty. */
	guest_mem_mark_written(&mem, 0, 1);
	assert_int_equal(guest_mem_track_writes(&mem, false), 0);
	guest_mem_mark_written(&mem, PAGE, 1);
	assert_int_equal(guest_mem_track_writes(&mem, true), 0);
	guest_mem_fetch_written(&mem, bm);
	assert_int_equal(guest_mem_bitmap_count(bm, words), 0);

	/* A fetched bitmap put back is fetched again. */
	bm[0] = 0x5;
	guest_mem_mark_bitmap(&mem, bm);
	memset(bm, 0, words * sizeof(uint64_t));
	guest_mem_fetch_written(&mem, bm);
	assert_int_equal(bm[0], 0x5);
	free(bm);
	guest_mem_destroy(&mem);
}

/* ---- device writes through the virtqueue ---------------------------------- */

static void virtqueue_marks_device_writes(void **state)
{
	struct guest_mem mem;
	struct virtq vq;
	struct virtq_driver drv;
	struct virtq_chain *chain = malloc(sizeof(*chain));
	size_t words;
	uint64_t *bm;
	const uint64_t ring_base = 0x10000;
	/* A readable buffer, then a writable one spanning two pages in the high region. */
	struct virtq_driver_buf bufs[2];

	(void)state;
	assert_non_null(chain);
	split_mem(&mem);
	words = guest_mem_bitmap_words(&mem);
	bm = calloc(words, sizeof(uint64_t));
	assert_non_null(bm);
	virtq_init(&vq, &mem, 16);
	virtq_driver_init(&drv, &mem, ring_base, 16);
	assert_int_equal(virtq_driver_enable(&drv, &vq, 0), 0);
	bufs[0] = virtq_driver_buf_out(&drv, "request", 7);
	bufs[1] = (struct virtq_driver_buf){ .gpa = HIGH_START + 3 * PAGE + 100, .len = PAGE, .writable = true };

	/* Tracking off: a whole pop/write/push round marks nothing. */
	virtq_driver_add(&drv, bufs, 2);
	assert_int_equal(virtq_pop(&vq, chain), VIRTQ_GOT);
	virtq_chain_write(chain, 0, "x", 1);
	virtq_push(&vq, chain, 1);
	assert_int_equal(guest_mem_track_writes(&mem, true), 0);
	guest_mem_fetch_written(&mem, bm);
	assert_int_equal(guest_mem_bitmap_count(bm, words), 0);

	/* Pop: the whole writable buffer counts as written (conservative), the readable one not. */
	virtq_driver_add(&drv, bufs, 2);
	assert_int_equal(virtq_pop(&vq, chain), VIRTQ_GOT);
	guest_mem_fetch_written(&mem, bm);
	assert_int_equal(guest_mem_bitmap_count(bm, words), 2);
	assert_true(bit(bm, LOW_PAGES + 3));
	assert_true(bit(bm, LOW_PAGES + 4));
	assert_false(bit(bm, bufs[0].gpa / PAGE));

	/* Written after that fetch: marked again (chain_write), so the next fetch sees it. */
	memset(bm, 0, words * sizeof(uint64_t));
	virtq_chain_write(chain, PAGE - 8, "response", 8);
	guest_mem_fetch_written(&mem, bm);
	assert_int_equal(guest_mem_bitmap_count(bm, words), 1);
	assert_true(bit(bm, LOW_PAGES + 4));

	/* Push: the used ring's page, and the writable buffer once more. */
	memset(bm, 0, words * sizeof(uint64_t));
	virtq_push(&vq, chain, PAGE);
	guest_mem_fetch_written(&mem, bm);
	assert_true(bit(bm, drv.used_gpa / PAGE));
	assert_true(bit(bm, LOW_PAGES + 3));
	assert_true(bit(bm, LOW_PAGES + 4));
	assert_int_equal(guest_mem_bitmap_count(bm, words), 3);

	/* Re-arming notifications on an empty queue writes used->flags: marked. */
	memset(bm, 0, words * sizeof(uint64_t));
	assert_int_equal(virtq_pop(&vq, chain), VIRTQ_EMPTY);
	guest_mem_fetch_written(&mem, bm);
	assert_true(bit(bm, drv.used_gpa / PAGE));
	assert_int_equal(guest_mem_bitmap_count(bm, words), 1);

	free(bm);
	free(chain);
	guest_mem_destroy(&mem);
}

/* ---- diff memory files ---------------------------------------------------- */

struct files {
	char dir[64], base[96], diff[96];
};

static int files_setup(void **state)
{
	struct files *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/vmon-dirty-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->base, sizeof(f->base), "%s/base.mem", f->dir);
	snprintf(f->diff, sizeof(f->diff), "%s/diff.mem", f->dir);
	*state = f;
	return 0;
}

static int files_teardown(void **state)
{
	struct files *f = *state;

	unlink(f->base);
	unlink(f->diff);
	rmdir(f->dir);
	free(f);
	return 0;
}

static uint8_t *read_file(const char *path, size_t size)
{
	uint8_t *buf = malloc(size);
	int fd = open(path, O_RDONLY);

	assert_non_null(buf);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, size, 0), (ssize_t)size);
	close(fd);
	return buf;
}

#define DIFF_PAGES 64

static void diff_file_holds_dirty_pages_at_their_offsets(void **state)
{
	struct files *f = *state;
	struct vmon_error err = { 0 };
	const size_t size = DIFF_PAGES * PAGE;
	uint8_t *before = malloc(size), *after = malloc(size), *got;
	uint64_t dirty = 0, copied = 0;
	size_t written = 0;
	struct stat st;

	assert_non_null(before);
	assert_non_null(after);
	for (size_t i = 0; i < size; i++)
		before[i] = (uint8_t)(i * 7 + 1);
	memcpy(after, before, size);
	/* The guest changed pages 2, 3 (one run), 40 (zeroed: must overwrite the base) and 63 (the last). */
	memset(after + 2 * PAGE, 0xaa, 2 * PAGE);
	memset(after + 40 * PAGE, 0, PAGE);
	memset(after + 63 * PAGE, 0x55, PAGE);
	dirty = (1ull << 2) | (1ull << 3) | (1ull << 40) | (1ull << 63);

	assert_int_equal(snapshot_mem_write(f->base, before, size, NULL, &err), 0);
	assert_int_equal(snapshot_mem_write_diff(f->diff, after, size, &dirty, &written, &err), 0);
	assert_int_equal(written, 4 * PAGE);
	assert_int_equal(stat(f->diff, &st), 0);
	assert_int_equal(st.st_size, size);
	/* Only the dirty pages are data (on a filesystem that reports holes, as /tmp's do). */
	int fd = open(f->diff, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 0, SEEK_DATA), 2 * PAGE);
	assert_int_equal(lseek(fd, 2 * PAGE, SEEK_HOLE), 4 * PAGE);
	assert_int_equal(lseek(fd, 4 * PAGE, SEEK_DATA), 40 * PAGE);
	assert_int_equal(lseek(fd, 40 * PAGE, SEEK_HOLE), 41 * PAGE);
	assert_int_equal(lseek(fd, 41 * PAGE, SEEK_DATA), 63 * PAGE);
	close(fd);
	got = read_file(f->diff, size);
	assert_memory_equal(got + 2 * PAGE, after + 2 * PAGE, 2 * PAGE);
	assert_memory_equal(got + 63 * PAGE, after + 63 * PAGE, PAGE);
	for (size_t i = 0; i < PAGE; i++)
		assert_int_equal(got[i], 0);   /* a clean page reads as the hole it is */
	free(got);

	/* Merged onto the base: exactly the RAM at the time of the diff. */
	assert_int_equal(snapshot_mem_merge(f->base, f->diff, &copied, &err), 0);
	assert_int_equal(copied, 4 * PAGE);
	got = read_file(f->base, size);
	assert_memory_equal(got, after, size);
	free(got);
	free(before);
	free(after);
}

static void merge_refuses_mismatched_files(void **state)
{
	struct files *f = *state;
	struct vmon_error err = { 0 };
	uint8_t ram[2 * PAGE] = { 1 };
	uint64_t dirty = 1;

	assert_int_equal(snapshot_mem_write(f->base, ram, sizeof(ram), NULL, &err), 0);
	assert_int_equal(snapshot_mem_write_diff(f->diff, ram, PAGE, &dirty, NULL, &err), 0);
	assert_int_equal(snapshot_mem_merge(f->base, f->diff, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not the same guest RAM"));
	assert_int_equal(snapshot_mem_merge(f->base, f->base, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "the same file"));
	assert_int_equal(snapshot_mem_merge(f->base, "/nonexistent/diff.mem", NULL, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/diff.mem"));
	assert_int_equal(snapshot_mem_write_diff(f->diff, ram, sizeof(ram), NULL, NULL, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(region_bitmaps_map_across_the_hole),
		cmocka_unit_test(marked_gpas_map_across_the_hole),
		cmocka_unit_test(virtqueue_marks_device_writes),
		cmocka_unit_test_setup_teardown(diff_file_holds_dirty_pages_at_their_offsets, files_setup,
						files_teardown),
		cmocka_unit_test_setup_teardown(merge_refuses_mismatched_files, files_setup, files_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
