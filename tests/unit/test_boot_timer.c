/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "devices/boot_timer.h"

static struct timespec fake_time;

static void fake_clock(void *ctx, struct timespec *now)
{
	(void)ctx;
	*now = fake_time;
}

struct fixture {
	struct io_bus pio;
	struct device_host host;
	struct boot_timer timer;
};

static void setup(struct fixture *f)
{
	const struct timespec start = { .tv_sec = 100, .tv_nsec = 500000000 };
	memset(f, 0, sizeof(*f));
	io_bus_init(&f->pio, "pio");
	f->host.pio = &f->pio;
	assert_int_equal(boot_timer_init(&f->timer, &f->host, &start, fake_clock, NULL, NULL), 0);
}

static void write_byte(struct fixture *f, uint8_t v)
{
	assert_true(io_bus_access(&f->pio, BOOT_TIMER_PORT, &v, 1, true));
}

static void init_mark_records_time_since_start(void **state)
{
	struct fixture f;
	(void)state;
	setup(&f);
	assert_true(boot_timer_seconds(&f.timer, BOOT_TIMER_INIT_REACHED) < 0);
	fake_time = (struct timespec){ .tv_sec = 102, .tv_nsec = 750000000 };
	write_byte(&f, BOOT_TIMER_INIT_REACHED);
	assert_float_equal(boot_timer_seconds(&f.timer, BOOT_TIMER_INIT_REACHED), 2.25, 1e-9);
}

static void first_mark_of_a_value_counts_and_marks_are_bounded(void **state)
{
	struct fixture f;
	(void)state;
	setup(&f);
	fake_time = (struct timespec){ .tv_sec = 101, .tv_nsec = 500000000 };
	write_byte(&f, 7);
	fake_time.tv_sec = 105;
	write_byte(&f, 7);
	assert_float_equal(boot_timer_seconds(&f.timer, 7), 1.0, 1e-9);
	/* A guest writing forever cannot grow the record. */
	for (int i = 0; i < 1000; i++)
		write_byte(&f, 9);
	assert_int_equal(f.timer.s.nmarks, BOOT_TIMER_MAX_MARKS);
}

static void wide_writes_ignored_reads_float_high(void **state)
{
	struct fixture f;
	uint8_t data[4] = { 1, 0, 0, 0 };
	(void)state;
	setup(&f);
	assert_true(io_bus_access(&f.pio, BOOT_TIMER_PORT, data, 2, true));
	assert_int_equal(f.timer.s.nmarks, 0);
	assert_true(io_bus_access(&f.pio, BOOT_TIMER_PORT, data, 1, false));
	assert_int_equal(data[0], 0xff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(init_mark_records_time_since_start),
		cmocka_unit_test(first_mark_of_a_value_counts_and_marks_are_bounded),
		cmocka_unit_test(wide_writes_ignored_reads_float_high),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
