/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "arch/x86/memory.h"
#include "snapshot/uffd_map.h"

#define PAGE 4096ull

static uint64_t field(json_object *o, const char *name)
{
	json_object *v;

	assert_true(json_object_object_get_ex(o, name, &v));
	assert_true(json_object_is_type(v, json_type_int));
	return (uint64_t)json_object_get_uint64(v);
}

/* RAM across the MMIO hole: two regions, the high one right after the low one in the file. */
static void mappings_follow_the_regions_in_file_order(void **state)
{
	struct guest_mem mem;
	struct uffd_mapping m[GUEST_MEM_MAX_REGIONS];
	struct vmon_error err = { 0 };
	(void)state;

	assert_int_equal(guest_mem_create_split(&mem, 64ull << 20, 48ull << 20, 4ull << 30, &err), 0);
	assert_int_equal(uffd_mappings_of(&mem, PAGE, m), 2);
	assert_int_equal(m[0].base_host_virt_addr, (uint64_t)(uintptr_t)mem.regions[0].host);
	assert_int_equal(m[0].size, 48ull << 20);
	assert_int_equal(m[0].offset, 0);
	assert_int_equal(m[1].base_host_virt_addr, (uint64_t)(uintptr_t)mem.regions[1].host);
	assert_int_equal(m[1].size, 16ull << 20);
	assert_int_equal(m[1].offset, 48ull << 20);
	assert_int_equal(m[1].page_size, PAGE);
	guest_mem_destroy(&mem);

	assert_int_equal(x86_guest_mem_create(&mem, 32ull << 20, &err), 0);
	assert_int_equal(uffd_mappings_of(&mem, PAGE, m), 1);
	assert_int_equal(m[0].size, 32ull << 20);
	guest_mem_destroy(&mem);
}

/* Firecracker's message: a JSON array of GuestRegionUffdMapping, every field a number, page sizes in bytes. */
static void the_message_is_firecrackers_json(void **state)
{
	const struct uffd_mapping m[2] = {
		{ .base_host_virt_addr = 0x7f0000200000ull, .size = 3ull << 30, .offset = 0, .page_size = PAGE },
		{ .base_host_virt_addr = 0x7f00c0200000ull, .size = 1ull << 30, .offset = 3ull << 30, .page_size = PAGE },
	};
	char buf[512];
	(void)state;

	int len = uffd_mappings_json(m, 2, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal((size_t)len, strlen(buf));
	json_object *arr = json_tokener_parse(buf);
	assert_non_null(arr);
	assert_true(json_object_is_type(arr, json_type_array));
	assert_int_equal(json_object_array_length(arr), 2);
	for (unsigned i = 0; i < 2; i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		assert_int_equal(json_object_object_length(o), 5);
		assert_int_equal(field(o, "base_host_virt_addr"), m[i].base_host_virt_addr);
		assert_int_equal(field(o, "size"), m[i].size);
		assert_int_equal(field(o, "offset"), m[i].offset);
		assert_int_equal(field(o, "page_size"), PAGE);
		assert_int_equal(field(o, "page_size_kib"), PAGE);   /* Firecracker's deprecated name, bytes too */
	}
	json_object_put(arr);

	/* Every size too small is refused, never cut short. */
	for (size_t size = 0; size <= (size_t)len; size++)
		assert_int_equal(uffd_mappings_json(m, 2, buf, size), -ENOSPC);
	assert_int_equal(uffd_mappings_json(m, 0, buf, sizeof(buf)), 2);
	assert_string_equal(buf, "[]");
}

static void blocks_are_aligned_and_clipped_to_the_range(void **state)
{
	const uint64_t block = 64 << 10, size = (1ull << 20) + 3 * PAGE;   /* the last block is short */
	struct uffd_block b;
	(void)state;

	b = uffd_block_of(0, size, block);
	assert_int_equal(b.index, 0);
	assert_int_equal(b.start, 0);
	assert_int_equal(b.len, block);
	b = uffd_block_of(block - 1, size, block);
	assert_int_equal(b.index, 0);
	b = uffd_block_of(block + 5 * PAGE + 17, size, block);
	assert_int_equal(b.index, 1);
	assert_int_equal(b.start, block);
	assert_int_equal(b.len, block);
	b = uffd_block_of(size - 1, size, block);
	assert_int_equal(b.index, 16);
	assert_int_equal(b.start, 1ull << 20);
	assert_int_equal(b.len, 3 * PAGE);
	assert_int_equal(uffd_block_count(size, block), 17);
	assert_int_equal(uffd_block_count(1ull << 20, block), 16);
	/* Every offset lies in its block, and the blocks tile the range. */
	for (uint64_t off = 0; off < size; off += PAGE / 2) {
		b = uffd_block_of(off, size, block);
		assert_true(b.start <= off && off < b.start + b.len && b.start + b.len <= size);
		assert_int_equal(b.start, b.index * block);
	}
}

static void zero_blocks_are_told_apart(void **state)
{
	static uint8_t buf[64 << 10];
	(void)state;

	assert_true(uffd_all_zero(buf, sizeof(buf)));
	assert_true(uffd_all_zero(buf, 0));
	for (size_t at = 0; at < sizeof(buf); at += 4093) {
		buf[at] = 1;
		assert_false(uffd_all_zero(buf, sizeof(buf)));
		buf[at] = 0;
	}
	buf[sizeof(buf) - 1] = 0x80;
	assert_false(uffd_all_zero(buf, sizeof(buf)));
	assert_true(uffd_all_zero(buf, sizeof(buf) - 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mappings_follow_the_regions_in_file_order),
		cmocka_unit_test(the_message_is_firecrackers_json),
		cmocka_unit_test(blocks_are_aligned_and_clipped_to_the_range),
		cmocka_unit_test(zero_blocks_are_told_apart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
