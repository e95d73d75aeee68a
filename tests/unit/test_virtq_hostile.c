/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "virtio/queue.h"
#include "virtq_driver.h"

#define QSIZE VIRTQ_FIXTURE_SIZE
#define F_INDIRECT (1ull << VIRTIO_RING_F_INDIRECT_DESC)
#define F_EVENT_IDX (1ull << VIRTIO_RING_F_EVENT_IDX)
#define RAM VIRTQ_FIXTURE_RAM

/* ---- hostile drivers: each breaks the queue, with a message, until reset - */

static void publish_desc(struct virtq_fixture *f, uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	virtq_driver_set_desc(&f->drv, idx, addr, len, flags, next);
	virtq_driver_publish(&f->drv, idx);
}

static void direct_loop(void **state)
{
	struct virtq_fixture *f = *state;
	uint64_t buf = virtq_driver_alloc(&f->drv, 8);

	virtq_driver_set_desc(&f->drv, 5, buf, 8, VRING_DESC_F_NEXT, 6);
	publish_desc(f, 6, buf, 8, VRING_DESC_F_NEXT, 5);
	virtq_fixture_expect_broken(f, "loops");
	virtq_fixture_expect_recovers(f);
}

static void descriptor_pointing_at_itself(void **state)
{
	struct virtq_fixture *f = *state;

	/* Zero length: nothing mapped, so only the loop guard can stop it. */
	publish_desc(f, 0, 0, 0, VRING_DESC_F_NEXT, 0);
	virtq_fixture_expect_broken(f, "more than 16 descriptors");
	virtq_fixture_expect_recovers(f);
}

static void indirect_loop(void **state)
{
	struct virtq_fixture *f = *state;
	uint64_t table = virtq_driver_alloc(&f->drv, 64);

	for (uint16_t i = 0; i < 4; i++)
		virtq_driver_set_table_desc(&f->drv, table, i, 0, 0, VRING_DESC_F_NEXT, (i + 1) % 4);
	publish_desc(f, 2, table, 64, VRING_DESC_F_INDIRECT, 0);
	virtq_fixture_expect_broken(f, "more than 4 descriptors in an indirect table");
	virtq_fixture_expect_recovers(f);
}

/* One-descriptor chain at `addr`/`len` must break the queue naming the address. */
static void expect_bad_buffer(struct virtq_fixture *f, uint64_t addr, uint32_t len, const char *needle)
{
	publish_desc(f, 7, addr, len, 0, 0);
	virtq_fixture_expect_broken(f, needle);
	assert_non_null(strstr(f->vq.error, "descriptor 7"));
	assert_non_null(strstr(f->vq.error, "outside guest RAM"));
	virtq_fixture_expect_recovers(f);
}

static void buffer_past_the_end_of_ram(void **state)
{
	expect_bad_buffer(*state, RAM - 4, 8, "address 0xfffffc length 8");
}

static void buffer_with_huge_length(void **state)
{
	expect_bad_buffer(*state, 0x1000, UINT32_MAX, "length 4294967295");
}

static void buffer_address_wraps_around(void **state)
{
	expect_bad_buffer(*state, UINT64_MAX - 3, 8, "0xfffffffffffffffc");
}

static void buffers_in_or_across_the_mmio_hole(void **state)
{
	struct virtq_fixture *f = virtq_fixture_new(4ull << 30, QSIZE, QSIZE, 0);

	(void)state;
	expect_bad_buffer(f, X86_MMIO_HOLE_START - 4, 8, "0xbffffffc");
	expect_bad_buffer(f, X86_MMIO_HOLE_START + 0x1000, 4, "0xc0001000");
	expect_bad_buffer(f, X86_HIGH_RAM_START - 4, 8, "0xfffffffc");
	virtq_fixture_free(f);
}

static void chain_longer_than_4_gib(void **state)
{
	/* 3 GiB of low RAM: address space only, the buffers are never touched. */
	struct virtq_fixture *f = virtq_fixture_new(4ull << 30, QSIZE, QSIZE, 0);

	(void)state;
	virtq_driver_set_desc(&f->drv, 0, 0, 0x80000000u, VRING_DESC_F_NEXT, 1);
	virtq_driver_set_desc(&f->drv, 1, 0, 0x7ffffffeu, VRING_DESC_F_NEXT, 2);
	virtq_driver_set_desc(&f->drv, 2, 0, 1, 0, 0);
	virtq_driver_publish(&f->drv, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT); /* exactly 4 GiB - 1 */
	assert_int_equal(f->chain.out_bytes, 0xffffffffull);
	virtq_driver_set_desc(&f->drv, 2, 0, 2, 0, 0);
	virtq_driver_publish(&f->drv, 0);
	virtq_fixture_expect_broken(f, "chain length exceeds");
	virtq_fixture_expect_recovers(f);
	virtq_fixture_free(f);
}

static void head_out_of_range(void **state)
{
	struct virtq_fixture *f = *state;

	virtq_driver_publish(&f->drv, QSIZE);
	virtq_fixture_expect_broken(f, "head descriptor 16 >= queue size 16");
	virtq_fixture_expect_recovers(f);
}

static void next_out_of_range(void **state)
{
	struct virtq_fixture *f = *state;

	publish_desc(f, 1, 0, 0, VRING_DESC_F_NEXT, 99);
	virtq_fixture_expect_broken(f, "descriptor 1: next 99 is outside the table of 16");
	virtq_fixture_expect_recovers(f);
}

static void avail_index_jumps_ahead(void **state)
{
	struct virtq_fixture *f = *state;

	virtq_driver_set_avail_idx(&f->drv, QSIZE);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT); /* a full ring is fine (all heads 0) */
	virtq_driver_set_avail_idx(&f->drv, 1 + QSIZE + 1);
	virtq_fixture_expect_broken(f, "available index 18 is 17 ahead");
	assert_false(virtq_has_available(&f->vq));
	assert_false(virtq_set_notification(&f->vq, true));
	virtq_fixture_expect_recovers(f);
}

static void avail_index_going_backwards(void **state)
{
	struct virtq_fixture *f = *state;
	struct virtq_driver_buf b = virtq_driver_buf_out(&f->drv, "q", 1);

	virtq_driver_add(&f->drv, &b, 1);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
	virtq_driver_set_avail_idx(&f->drv, 0);
	virtq_fixture_expect_broken(f, "65535 ahead");
	virtq_fixture_expect_recovers(f);
}

static void readable_after_writable(void **state)
{
	struct virtq_fixture *f = *state;
	uint64_t buf = virtq_driver_alloc(&f->drv, 8);

	virtq_driver_set_desc(&f->drv, 0, buf, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	virtq_driver_set_desc(&f->drv, 1, buf, 8, 0, 0);
	virtq_driver_publish(&f->drv, 0);
	virtq_fixture_expect_broken(f, "descriptor 1: device-readable descriptor after a device-writable one");
	virtq_fixture_expect_recovers(f);
}

static void readable_after_writable_in_indirect_table(void **state)
{
	struct virtq_fixture *f = *state;
	uint64_t buf = virtq_driver_alloc(&f->drv, 8);
	uint64_t table = virtq_driver_alloc(&f->drv, 32);

	virtq_driver_set_table_desc(&f->drv, table, 0, buf, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	virtq_driver_set_table_desc(&f->drv, table, 1, buf, 8, 0, 0);
	publish_desc(f, 4, table, 32, VRING_DESC_F_INDIRECT, 0);
	virtq_fixture_expect_broken(f, "indirect descriptor 1 (table of descriptor 4): device-readable");
	virtq_fixture_expect_recovers(f);
}

/* Head 3 is an indirect descriptor to `table` of `len` bytes with `flags`; the pop must break. */
static void expect_bad_indirect(struct virtq_fixture *f, uint64_t table, uint32_t len, uint16_t flags, const char *needle)
{
	publish_desc(f, 3, table, len, VRING_DESC_F_INDIRECT | flags, 4);
	virtq_fixture_expect_broken(f, needle);
	virtq_fixture_expect_recovers(f);
}

static void indirect_inside_indirect(void **state)
{
	struct virtq_fixture *f = *state;
	uint64_t inner = virtq_driver_alloc(&f->drv, 16);
	uint64_t outer = virtq_driver_alloc(&f->drv, 32);

	virtq_driver_set_table_desc(&f->drv, outer, 0, 0, 0, VRING_DESC_F_NEXT, 1);
	virtq_driver_set_table_desc(&f->drv, outer, 1, inner, 16, VRING_DESC_F_INDIRECT, 0);
	expect_bad_indirect(f, outer, 32, 0, "indirect descriptor 1 (table of descriptor 3): indirect descriptor inside");
}

static void indirect_with_next(void **state)
{
	struct virtq_fixture *f = *state;

	expect_bad_indirect(f, virtq_driver_alloc(&f->drv, 16), 16, VRING_DESC_F_NEXT, "NEXT set too");
}

static void indirect_table_lengths(void **state)
{
	struct virtq_fixture *f = *state;
	uint64_t table = virtq_driver_alloc(&f->drv, 64);

	expect_bad_indirect(f, table, 0, 0, "indirect table length 0 is not");
	expect_bad_indirect(f, table, 24, 0, "indirect table length 24 is not");
	expect_bad_indirect(f, table, 15, 0, "indirect table length 15 is not");
	expect_bad_indirect(f, RAM - 16, 32, 0, "indirect table at 0xfffff0 length 32 outside guest RAM");
	expect_bad_indirect(f, UINT64_MAX - 15, 32, 0, "outside guest RAM");
}

static void indirect_next_past_its_table(void **state)
{
	struct virtq_fixture *f = *state;
	uint64_t table = virtq_driver_alloc(&f->drv, 48);

	/* Entry 2 is there in memory, but the table is declared 2 long. */
	virtq_driver_set_table_desc(&f->drv, table, 0, 0, 0, VRING_DESC_F_NEXT, 1);
	virtq_driver_set_table_desc(&f->drv, table, 1, 0, 0, VRING_DESC_F_NEXT, 2);
	expect_bad_indirect(f, table, 32, 0, "next 2 is outside the table of 2");
}

static void indirect_buffer_outside_ram(void **state)
{
	struct virtq_fixture *f = *state;
	uint64_t table = virtq_driver_alloc(&f->drv, 16);

	virtq_driver_set_table_desc(&f->drv, table, 0, RAM, 1, 0, 0);
	expect_bad_indirect(f, table, 16, 0, "indirect descriptor 0 (table of descriptor 3): address 0x1000000");
}

static void indirect_without_the_feature(void **state)
{
	struct virtq_fixture *f = *state;
	struct virtq_driver_buf b = virtq_driver_buf_out(&f->drv, "i", 1);

	virtq_driver_add_indirect(&f->drv, &b, 1);
	virtq_fixture_expect_broken(f, "VIRTIO_RING_F_INDIRECT_DESC was not negotiated");
	virtq_fixture_expect_recovers(f);
}

/* ---- enabling: the driver's ring registers ------------------------------- */

static void expect_enable_fails(struct virtq_fixture *f, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used,
				uint64_t features, const char *needle)
{
	assert_int_equal(virtq_enable(&f->vq, size, desc, avail, used, features), -EINVAL);
	assert_false(f->vq.enabled);
	assert_false(f->vq.broken);
	if (!strstr(f->vq.error, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", f->vq.error, needle);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_EMPTY);
}

static void bad_sizes_are_refused(void **state)
{
	struct virtq_fixture *f = *state; /* max_size 256 */
	struct virtq_driver *d = &f->drv;

	expect_enable_fails(f, 0, d->desc_gpa, d->avail_gpa, d->used_gpa, 0, "queue size 0");
	expect_enable_fails(f, 3, d->desc_gpa, d->avail_gpa, d->used_gpa, 0, "queue size 3");
	expect_enable_fails(f, 48, d->desc_gpa, d->avail_gpa, d->used_gpa, 0, "queue size 48");
	expect_enable_fails(f, 512, 0x100000, 0x200000, 0x300000, 0, "queue size 512 is not a power of 2 in 1 .. 256");
	expect_enable_fails(f, 32768, 0x100000, 0x200000, 0x300000, 0, "queue size 32768");
	assert_int_equal(virtq_enable(&f->vq, 256, 0x100000, 0x200000, 0x300000, 0), 0);
	assert_int_equal(virtq_enable(&f->vq, 1, 0x100000, 0x200000, 0x300000, 0), 0);
}

static void misaligned_rings_are_refused(void **state)
{
	struct virtq_fixture *f = *state;
	struct virtq_driver *d = &f->drv;

	expect_enable_fails(f, QSIZE, d->desc_gpa + 8, d->avail_gpa, d->used_gpa, 0, "descriptor ring at 0x10008 is not 16-byte aligned");
	expect_enable_fails(f, QSIZE, d->desc_gpa, d->avail_gpa + 1, d->used_gpa, 0, "available ring at 0x10101 is not 2-byte");
	expect_enable_fails(f, QSIZE, d->desc_gpa, d->avail_gpa, d->used_gpa + 2, 0, "used ring at 0x1012a is not 4-byte");
	assert_int_equal(virtq_enable(&f->vq, QSIZE, d->desc_gpa, d->avail_gpa + 2, d->used_gpa + 4, 0), 0);
}

static void rings_outside_ram_are_refused(void **state)
{
	struct virtq_fixture *f = *state;
	struct virtq_driver *d = &f->drv;
	uint64_t used_end_size = 4 + 8 * QSIZE;

	expect_enable_fails(f, QSIZE, RAM - 128, d->avail_gpa, d->used_gpa, 0, "descriptor ring at 0xffff80 (256 bytes) is outside");
	expect_enable_fails(f, QSIZE, d->desc_gpa, RAM - 2, d->used_gpa, 0, "available ring at 0xfffffe");
	expect_enable_fails(f, QSIZE, d->desc_gpa, d->avail_gpa, UINT64_MAX - 3, 0, "used ring at 0xfffffffffffffffc");
	/* Ending exactly at the end of RAM is fine, unless EVENT_IDX adds avail_event past it. */
	assert_int_equal(virtq_enable(&f->vq, QSIZE, d->desc_gpa, d->avail_gpa, RAM - used_end_size, 0), 0);
	expect_enable_fails(f, QSIZE, d->desc_gpa, d->avail_gpa, RAM - used_end_size, F_EVENT_IDX,
			    "(134 bytes) is outside");
	expect_enable_fails(f, QSIZE, d->desc_gpa, RAM - (4 + 2 * QSIZE), d->used_gpa, F_EVENT_IDX,
			    "(38 bytes) is outside");
}

static void rings_in_the_mmio_hole_are_refused(void **state)
{
	struct virtq_fixture *f = virtq_fixture_new(4ull << 30, QSIZE, QSIZE, 0);
	struct virtq_driver *d = &f->drv;

	(void)state;
	expect_enable_fails(f, QSIZE, X86_MMIO_HOLE_START - 128, d->avail_gpa, d->used_gpa, 0, "0xbfffff80");
	expect_enable_fails(f, QSIZE, d->desc_gpa, X86_MMIO_HOLE_START, d->used_gpa, 0, "0xc0000000");
	assert_int_equal(virtq_enable(&f->vq, QSIZE, X86_HIGH_RAM_START, d->avail_gpa, d->used_gpa, 0), 0);
	virtq_fixture_free(f);
}

static void broken_queue_still_completes_what_it_popped(void **state)
{
	struct virtq_fixture *f = *state;
	struct virtq_driver_buf b = virtq_driver_buf_in(&f->drv, 4);
	uint16_t head = virtq_driver_add(&f->drv, &b, 1);
	uint32_t id, len;

	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
	virtq_driver_publish(&f->drv, 200);
	virtq_fixture_expect_broken(f, "head descriptor 200");
	virtq_push(&f->vq, &f->chain, 4);
	assert_true(virtq_driver_get_used(&f->drv, &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, 4);
}

/* A queue of `size` whose driver offers one chain of n segments, directly or through one indirect table. */
static struct virtq_fixture *long_chain(uint16_t size, unsigned n, bool indirect)
{
	struct virtq_fixture *f = virtq_fixture_new(RAM, size, size, F_INDIRECT);
	struct virtq_driver_buf *bufs = calloc(n, sizeof(*bufs));
	struct virtq_driver_buf b = virtq_driver_buf_out(&f->drv, "abc", 3);

	assert_non_null(bufs);
	for (unsigned i = 0; i < n; i++)
		bufs[i] = b;
	if (indirect)
		virtq_driver_add_indirect(&f->drv, bufs, n);
	else
		virtq_driver_add(&f->drv, bufs, n);
	free(bufs);
	return f;
}

static void chain_of_chain_max_segments_is_accepted(void **state)
{
	(void)state;
	for (int indirect = 0; indirect < 2; indirect++) {
		struct virtq_fixture *f = long_chain(2048, VIRTQ_CHAIN_MAX, indirect);

		assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
		assert_int_equal(f->chain.nout, VIRTQ_CHAIN_MAX);
		assert_int_equal(f->chain.out_bytes, 3 * VIRTQ_CHAIN_MAX);
		virtq_fixture_free(f);
	}
}

static void chain_of_chain_max_plus_one_segments_is_rejected(void **state)
{
	(void)state;
	for (int indirect = 0; indirect < 2; indirect++) {
		struct virtq_fixture *f = long_chain(2048, VIRTQ_CHAIN_MAX + 1, indirect);

		virtq_fixture_expect_broken(f, "more than 1024 segments");
		virtq_fixture_free(f);
	}
}


#define T(fn) cmocka_unit_test_setup_teardown(fn, virtq_fixture_setup, virtq_fixture_teardown)
#define T_PLAIN(fn) cmocka_unit_test_setup_teardown(fn, virtq_fixture_setup_plain, virtq_fixture_teardown)
#define T_NONE(fn) cmocka_unit_test(fn)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(direct_loop),
		T(descriptor_pointing_at_itself),
		T(indirect_loop),
		T(buffer_past_the_end_of_ram),
		T(buffer_with_huge_length),
		T(buffer_address_wraps_around),
		T_NONE(buffers_in_or_across_the_mmio_hole),
		T_NONE(chain_longer_than_4_gib),
		T(head_out_of_range),
		T(next_out_of_range),
		T(avail_index_jumps_ahead),
		T(avail_index_going_backwards),
		T(readable_after_writable),
		T(readable_after_writable_in_indirect_table),
		T(indirect_inside_indirect),
		T(indirect_with_next),
		T(indirect_table_lengths),
		T(indirect_next_past_its_table),
		T(indirect_buffer_outside_ram),
		T_PLAIN(indirect_without_the_feature),
		T(bad_sizes_are_refused),
		T(misaligned_rings_are_refused),
		T(rings_outside_ram_are_refused),
		T_NONE(rings_in_the_mmio_hole_are_refused),
		T(broken_queue_still_completes_what_it_popped),
		T_NONE(chain_of_chain_max_segments_is_accepted),
		T_NONE(chain_of_chain_max_plus_one_segments_is_rejected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
