/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "base/io_bus.h"

struct fake_dev {
	uint64_t last_offset;
	unsigned last_size;
	bool last_write;
	uint8_t value;
	int calls;
};

static void fake_access(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct fake_dev *d = opaque;
	d->last_offset = offset;
	d->last_size = size;
	d->last_write = is_write;
	d->calls++;
	if (is_write)
		d->value = data[0];
	else
		memset(data, d->value, size);
}

static void access_reaches_owner_with_offset(void **state)
{
	struct io_bus bus;
	struct fake_dev a = { 0 }, b = { 0 };
	uint8_t v = 0x5a;
	(void)state;
	io_bus_init(&bus, "pio");
	assert_int_equal(io_bus_register(&bus, 0x3f8, 8, "uart", fake_access, &a, NULL), 0);
	assert_int_equal(io_bus_register(&bus, 0x60, 1, "kbd", fake_access, &b, NULL), 0);
	assert_true(io_bus_access(&bus, 0x3fd, &v, 1, true));
	assert_int_equal(a.last_offset, 5);
	assert_true(a.last_write);
	v = 0;
	assert_true(io_bus_access(&bus, 0x3f8, &v, 1, false));
	assert_int_equal(v, 0x5a);
	assert_int_equal(b.calls, 0);
}

static void unowned_read_floats_high(void **state)
{
	struct io_bus bus;
	uint8_t data[4] = { 0 };
	(void)state;
	io_bus_init(&bus, "pio");
	assert_false(io_bus_access(&bus, 0x1234, data, 4, false));
	assert_int_equal(data[0], 0xff);
	assert_int_equal(data[3], 0xff);
}

static void overlapping_ranges_are_refused(void **state)
{
	struct io_bus bus;
	struct fake_dev d = { 0 };
	struct vmon_error err = { 0 };
	(void)state;
	io_bus_init(&bus, "pio");
	assert_int_equal(io_bus_register(&bus, 0x20, 1, "a", fake_access, &d, NULL), 0);
	assert_int_equal(io_bus_register(&bus, 0x50, 1, "b", fake_access, &d, NULL), 0);
	assert_int_equal(io_bus_register(&bus, 0x30, 0x30, "c", fake_access, &d, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "overlaps b"));
	assert_int_equal(io_bus_register(&bus, 0x10, 0x11, "d", fake_access, &d, &err), -EEXIST);
	assert_int_equal(io_bus_register(&bus, 0, 0, "e", fake_access, &d, &err), -EINVAL);
	assert_int_equal(io_bus_register(&bus, UINT64_MAX, 2, "f", fake_access, &d, &err), -EINVAL);
	assert_int_equal(io_bus_register(&bus, 0x21, 0x2f, "g", fake_access, &d, NULL), 0);
	assert_int_equal(bus.nranges, 3);
}

static void lookup_finds_every_range_among_many(void **state)
{
	struct io_bus bus;
	struct fake_dev d = { 0 };
	(void)state;
	io_bus_init(&bus, "mmio");
	/* Register out of order; the bus keeps them sorted. */
	for (unsigned i = 0; i < IO_BUS_MAX_RANGES; i++) {
		uint64_t base = 0x10000ull * ((i * 37) % IO_BUS_MAX_RANGES);
		assert_int_equal(io_bus_register(&bus, base, 0x200, "dev", fake_access, &d, NULL), 0);
	}
	assert_int_equal(io_bus_register(&bus, 0x10000000, 1, "full", fake_access, &d, NULL), -ENOSPC);
	for (unsigned i = 0; i < IO_BUS_MAX_RANGES; i++) {
		const struct io_range *r = io_bus_find(&bus, 0x10000ull * i + 0x1ff);
		assert_non_null(r);
		assert_int_equal(r->base, 0x10000ull * i);
		assert_null(io_bus_find(&bus, 0x10000ull * i + 0x200));
	}
}

static void unregister_removes_only_that_devices_range(void **state)
{
	struct io_bus bus;
	struct fake_dev a = { 0 }, b = { 0 }, c = { 0 };
	struct vmon_error err = { 0 };
	uint8_t v = 1;
	(void)state;
	io_bus_init(&bus, "mmio");
	assert_int_equal(io_bus_register(&bus, 0x1000, 0x1000, "a", fake_access, &a, NULL), 0);
	assert_int_equal(io_bus_register(&bus, 0x2000, 0x1000, "b", fake_access, &b, NULL), 0);
	assert_int_equal(io_bus_register(&bus, 0x3000, 0x1000, "c", fake_access, &c, NULL), 0);
	/* The base alone is not enough: the range must be that device's. */
	assert_int_equal(io_bus_unregister(&bus, 0x2000, &a, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "no range at 0x2000"));
	assert_int_equal(io_bus_unregister(&bus, 0x2000, &b, NULL), 0);
	assert_int_equal(bus.nranges, 2);
	assert_false(io_bus_access(&bus, 0x2004, &v, 1, true));
	assert_true(io_bus_access(&bus, 0x1004, &v, 1, true));
	assert_true(io_bus_access(&bus, 0x3004, &v, 1, true));
	assert_int_equal(b.calls, 0);
	/* The freed window can be taken again. */
	assert_int_equal(io_bus_register(&bus, 0x2000, 0x800, "b2", fake_access, &b, NULL), 0);
	assert_true(io_bus_access(&bus, 0x2004, &v, 1, true));
	assert_int_equal(b.calls, 1);
}

static void a_frozen_bus_refuses_changes(void **state)
{
	struct io_bus bus;
	struct fake_dev a = { 0 };
	struct vmon_error err = { 0 };
	uint8_t v = 1;
	(void)state;
	io_bus_init(&bus, "pio");
	assert_int_equal(io_bus_register(&bus, 0x70, 2, "rtc", fake_access, &a, NULL), 0);
	io_bus_freeze(&bus);
	assert_int_equal(io_bus_register(&bus, 0x80, 1, "late", fake_access, &a, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "frozen"));
	assert_int_equal(io_bus_unregister(&bus, 0x70, &a, &err), -EBUSY);
	assert_true(io_bus_access(&bus, 0x71, &v, 1, true));   /* dispatch still works */
	io_bus_thaw(&bus);
	assert_int_equal(io_bus_unregister(&bus, 0x70, &a, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(access_reaches_owner_with_offset),
		cmocka_unit_test(unowned_read_floats_high),
		cmocka_unit_test(overlapping_ranges_are_refused),
		cmocka_unit_test(lookup_finds_every_range_among_many),
		cmocka_unit_test(unregister_removes_only_that_devices_range),
		cmocka_unit_test(a_frozen_bus_refuses_changes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
