/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "arch/x86/memory.h"
#include "base/guest_mem.h"

static void small_guest_is_one_region(void **state)
{
	struct guest_mem mem;
	(void)state;
	assert_int_equal(x86_guest_mem_create(&mem, 64 << 20, NULL), 0);
	assert_int_equal(mem.nregions, 1);
	assert_int_equal(guest_mem_low_end(&mem), 64 << 20);
	guest_mem_destroy(&mem);
}

static void large_guest_skips_the_mmio_hole(void **state)
{
	struct guest_mem mem;
	(void)state;
	/* 4 GiB of RAM: 3 GiB below the hole, 1 GiB from 4 GiB up (address space only, not touched). */
	assert_int_equal(x86_guest_mem_create(&mem, 4ull << 30, NULL), 0);
	assert_int_equal(mem.nregions, 2);
	assert_int_equal(mem.regions[0].size, X86_MMIO_HOLE_START);
	assert_int_equal(mem.regions[1].gpa, X86_HIGH_RAM_START);
	assert_int_equal(mem.regions[1].size, 1ull << 30);
	assert_null(guest_mem_ptr(&mem, X86_MMIO_HOLE_START, 1));
	assert_null(guest_mem_ptr(&mem, X86_LAPIC_ADDR, 4));
	assert_non_null(guest_mem_ptr(&mem, X86_HIGH_RAM_START + (1ull << 30) - 8, 8));
	assert_null(guest_mem_ptr(&mem, X86_HIGH_RAM_START + (1ull << 30) - 8, 9));
	/* A range may not straddle the hole even though both ends are RAM-adjacent. */
	assert_null(guest_mem_ptr(&mem, X86_MMIO_HOLE_START - 4, 8));
	guest_mem_destroy(&mem);
}

static void translation_checks_bounds_and_overflow(void **state)
{
	struct guest_mem mem;
	(void)state;
	assert_int_equal(x86_guest_mem_create(&mem, 16 << 20, NULL), 0);
	assert_ptr_equal(guest_mem_ptr(&mem, 0, 1), mem.regions[0].host);
	assert_non_null(guest_mem_ptr(&mem, (16 << 20) - 1, 1));
	assert_null(guest_mem_ptr(&mem, (16 << 20) - 1, 2));
	assert_null(guest_mem_ptr(&mem, 16 << 20, 1));
	assert_null(guest_mem_ptr(&mem, 1, UINT64_MAX));
	assert_null(guest_mem_ptr(&mem, UINT64_MAX, 2));
	assert_null(guest_mem_ptr(&mem, 0, (16 << 20) + 1));
	assert_non_null(guest_mem_ptr(&mem, 0, 16 << 20));
	guest_mem_destroy(&mem);
}

static void read_write_round_trip_and_fault(void **state)
{
	struct guest_mem mem;
	char buf[6] = { 0 };
	(void)state;
	assert_int_equal(x86_guest_mem_create(&mem, 4 << 20, NULL), 0);
	assert_int_equal(guest_mem_write(&mem, 0x1234, "hello", 6), 0);
	assert_int_equal(guest_mem_read(&mem, 0x1234, buf, 6), 0);
	assert_string_equal(buf, "hello");
	assert_int_equal(guest_mem_write(&mem, (4 << 20) - 2, "hello", 6), -EFAULT);
	guest_mem_destroy(&mem);
}

static void absurd_sizes_are_rejected_with_a_message(void **state)
{
	struct guest_mem mem;
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(x86_guest_mem_create(&mem, 4096, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "4096"));
	assert_int_equal(x86_guest_mem_create(&mem, 1ull << 50, &err), -EINVAL);
	assert_int_equal(x86_guest_mem_create(&mem, (8 << 20) + 1, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "page size"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(small_guest_is_one_region),
		cmocka_unit_test(large_guest_skips_the_mmio_hole),
		cmocka_unit_test(translation_checks_bounds_and_overflow),
		cmocka_unit_test(read_write_round_trip_and_fault),
		cmocka_unit_test(absurd_sizes_are_rejected_with_a_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
