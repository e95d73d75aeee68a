/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/debug_exit.h"
#include "fake_host.h"

struct fixture {
	struct fake_host fh;
	struct debug_exit dev;
};

static struct fixture *make(unsigned iosize)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fake_host_init(&f->fh);
	f->fh.irq_forbidden = "debug-exit has no interrupt";
	assert_int_equal(debug_exit_init(&f->dev, &f->fh.host, DEBUG_EXIT_PORT, iosize, NULL), 0);
	return f;
}

static void write_value(struct fixture *f, uint16_t port, uint32_t v, unsigned size)
{
	uint8_t data[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	assert_true(io_bus_access(&f->fh.pio, port, data, size, true));
}

static void byte_write_stops_with_value_times_two_plus_one(void **state)
{
	struct fixture *f = make(1);
	(void)state;

	write_value(f, DEBUG_EXIT_PORT, 0, 1);
	assert_int_equal(f->fh.stops, 1);
	assert_int_equal(f->fh.reason, VM_STOP_DEBUG_EXIT);
	assert_int_equal(f->fh.status, 1);
	write_value(f, DEBUG_EXIT_PORT, 0x10, 1);
	assert_int_equal(f->fh.stops, 2);
	assert_int_equal(f->fh.status, 0x21);
	write_value(f, DEBUG_EXIT_PORT, 0xff, 1);
	assert_int_equal(f->fh.status, 0x1ff); /* the shell sees 0xff */
	free(f);
}

static void word_write_uses_both_bytes_little_endian(void **state)
{
	struct fixture *f = make(2);
	(void)state;

	write_value(f, DEBUG_EXIT_PORT, 0x1234, 2);
	assert_int_equal(f->fh.status, 0x2469);
	free(f);
}

static void dword_write_keeps_32_bits(void **state)
{
	struct fixture *f = make(4);
	(void)state;

	write_value(f, DEBUG_EXIT_PORT, 0x12345678, 4);
	assert_int_equal((uint32_t)f->fh.status, 0x2468acf1u);
	write_value(f, DEBUG_EXIT_PORT, 0x80000001, 4);
	assert_int_equal((uint32_t)f->fh.status, 0x00000003u); /* bit 31 shifts out, as in QEMU */
	assert_int_equal(debug_exit_status(0x3fffffff), 0x7fffffff);
	free(f);
}

static void write_anywhere_in_the_range_stops(void **state)
{
	struct fixture *f = make(4);
	(void)state;

	write_value(f, DEBUG_EXIT_PORT + 3, 0x02, 1);
	assert_int_equal(f->fh.stops, 1);
	assert_int_equal(f->fh.status, 5);
	assert_null(io_bus_find(&f->fh.pio, DEBUG_EXIT_PORT + 4));
	free(f);
}

static void reads_return_all_ones_and_do_not_stop(void **state)
{
	struct fixture *f = make(4);
	uint8_t v[4] = { 0 };
	(void)state;

	for (unsigned size = 1; size <= 4; size *= 2) {
		assert_true(io_bus_access(&f->fh.pio, DEBUG_EXIT_PORT, v, size, false));
		for (unsigned i = 0; i < size; i++)
			assert_int_equal(v[i], 0xff);
	}
	assert_int_equal(f->fh.stops, 0);
	free(f);
}

static void io_size_outside_1_to_4_is_refused(void **state)
{
	struct fixture *f = make(1);
	struct debug_exit other;
	struct vmon_error err = { 0 };
	(void)state;

	assert_int_equal(debug_exit_init(&other, &f->fh.host, 0x501, 0, &err), -EINVAL);
	assert_int_equal(debug_exit_init(&other, &f->fh.host, 0x501, 5, &err), -EINVAL);
	assert_int_equal(debug_exit_init(&other, &f->fh.host, 0xffff, 2, &err), -EINVAL);
	assert_int_equal(debug_exit_init(&other, &f->fh.host, DEBUG_EXIT_PORT, 1, &err), -EEXIST);
	free(f);
}

/* The device model: an empty state round-trips, a non-zero reserved word is refused, stops keep working. */
static void state_round_trips_and_the_port_keeps_stopping(void **state)
{
	const struct device_ops *ops = &debug_exit_device_ops;
	struct fixture *a = make(4), *b = make(4);
	struct debug_exit_state s, bad = { .reserved = 0x5a };
	struct vmon_error err = { 0 };
	(void)state;

	assert_int_equal(ops->state_size, sizeof(s));
	memset(&s, 0xee, sizeof(s));
	ops->save(&a->dev, &s);
	assert_int_equal(s.reserved, 0);
	assert_int_equal(ops->restore(&b->dev, &s, &err), 0);
	assert_int_equal(ops->restore(&b->dev, &bad, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "debug-exit state: reserved is 0x5a"));
	ops->reset(&b->dev);
	write_value(a, DEBUG_EXIT_PORT + 2, 0x42, 1);
	write_value(b, DEBUG_EXIT_PORT + 2, 0x42, 1);
	assert_int_equal(b->fh.stops, 1);
	assert_int_equal(b->fh.status, a->fh.status);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(byte_write_stops_with_value_times_two_plus_one),
		cmocka_unit_test(word_write_uses_both_bytes_little_endian),
		cmocka_unit_test(dword_write_keeps_32_bits),
		cmocka_unit_test(write_anywhere_in_the_range_stops),
		cmocka_unit_test(reads_return_all_ones_and_do_not_stop),
		cmocka_unit_test(io_size_outside_1_to_4_is_refused),
		cmocka_unit_test(state_round_trips_and_the_port_keeps_stopping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
