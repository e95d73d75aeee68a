/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "devices/boot_timer.h"
#include "device_state_check.h"

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
	boot_timer_destroy(&f.timer);
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
	boot_timer_destroy(&f.timer);
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
	boot_timer_destroy(&f.timer);
}

/* ---- the device model ------------------------------------------------------- */

static const struct device_ops *ops = &boot_timer_device_ops;

static void mark_at(struct fixture *f, long sec, long nsec, uint8_t value)
{
	fake_time = (struct timespec){ .tv_sec = sec, .tv_nsec = nsec };
	write_byte(f, value);
}

static void save(struct fixture *f, struct boot_timer_state *s)
{
	memset(s, 0, sizeof(*s));
	ops->save(&f->timer, s);
}

static void restored_marks_read_back_and_recording_goes_on(void **state)
{
	struct fixture a, b;
	struct boot_timer_state s;
	struct vmon_error err = { 0 };
	(void)state;

	setup(&a);
	setup(&b);
	mark_at(&a, 101, 0, 3);
	mark_at(&a, 102, 750000000, BOOT_TIMER_INIT_REACHED);
	mark_at(&a, 103, 0, 3);
	save(&a, &s);
	assert_int_equal(ops->restore(&b.timer, &s, &err), 0);
	assert_float_equal(boot_timer_seconds(&b.timer, 3), 0.5, 1e-9);
	assert_float_equal(boot_timer_seconds(&b.timer, BOOT_TIMER_INIT_REACHED), 2.25, 1e-9);
	assert_true(boot_timer_seconds(&b.timer, 4) < 0);
	/* Later marks land after the restored ones, and the bound still holds. */
	for (int i = 0; i < 7; i++) {
		mark_at(&a, 104 + i, 0, (uint8_t)(10 + i));
		mark_at(&b, 104 + i, 0, (uint8_t)(10 + i));
	}
	for (int i = 0; i < 7; i++)
		assert_float_equal(boot_timer_seconds(&b.timer, (uint8_t)(10 + i)),
				   boot_timer_seconds(&a.timer, (uint8_t)(10 + i)), 1e-9);
	assert_true(boot_timer_seconds(&b.timer, 14) > 0);
	assert_true(boot_timer_seconds(&b.timer, 15) < 0);   /* the ninth mark is not kept */
	boot_timer_destroy(&a.timer);
	boot_timer_destroy(&b.timer);
}

static void expect_refused(const struct boot_timer_state *s, const char *why)
{
	struct fixture f;

	setup(&f);
	mark_at(&f, 101, 0, 1);
	expect_restore_refused(ops, &f.timer, s, why);
	boot_timer_destroy(&f.timer);
}

static void damaged_states_are_refused_by_field(void **state)
{
	struct fixture a;
	struct boot_timer_state good, s;
	(void)state;

	setup(&a);
	mark_at(&a, 101, 0, 5);
	mark_at(&a, 102, 0, 6);
	save(&a, &good);
	boot_timer_destroy(&a.timer);
	s = good; s.nmarks = 9;                  expect_refused(&s, "nmarks 9");
	s = good; s.reserved[0] = 1;             expect_refused(&s, "reserved[0]");
	s = good; s.value[2] = 7;                expect_refused(&s, "unused mark 2 (of 2)");
	s = good; s.elapsed_ns[7] = 1;           expect_refused(&s, "unused mark 7");
	s = good; s.elapsed_ns[0] = -1;          expect_refused(&s, "elapsed_ns[0] -1 is before the start");
	s = good; s.elapsed_ns[1] = 1;           expect_refused(&s, "elapsed_ns[1] 1 is before mark 0's");
}

static void reset_forgets_the_marks(void **state)
{
	struct fixture f;
	(void)state;

	setup(&f);
	mark_at(&f, 101, 0, BOOT_TIMER_INIT_REACHED);
	ops->reset(&f.timer);
	assert_true(boot_timer_seconds(&f.timer, BOOT_TIMER_INIT_REACHED) < 0);
	mark_at(&f, 106, 0, BOOT_TIMER_INIT_REACHED);
	assert_float_equal(boot_timer_seconds(&f.timer, BOOT_TIMER_INIT_REACHED), 5.5, 1e-9);
	ops->destroy(&f.timer);
}

/* A clock that moves forward on every reading; the timer reads it under its lock. */
static long ticking_ns;

static void ticking_clock(void *ctx, struct timespec *now)
{
	(void)ctx;
	ticking_ns += 1000;
	*now = (struct timespec){ .tv_sec = 200 + ticking_ns / 1000000000, .tv_nsec = ticking_ns % 1000000000 };
}

static void *mark_many(void *arg)
{
	struct fixture *f = arg;
	for (int i = 0; i < 20000; i++) {
		uint8_t v = 2;
		io_bus_access(&f->pio, BOOT_TIMER_PORT, &v, 1, true);
	}
	return NULL;
}

/* Two vCPU threads writing marks at once: exactly the bound is kept, in time order (restore accepts it). */
static void marks_from_two_threads_stay_bounded_and_ordered(void **state)
{
	struct fixture f, fresh;
	const struct timespec start = { .tv_sec = 200 };
	struct boot_timer_state s;
	pthread_t t[2];
	(void)state;

	memset(&f, 0, sizeof(f));
	io_bus_init(&f.pio, "pio");
	f.host.pio = &f.pio;
	assert_int_equal(boot_timer_init(&f.timer, &f.host, &start, ticking_clock, NULL, NULL), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, mark_many, &f), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	save(&f, &s);
	assert_int_equal(s.nmarks, BOOT_TIMER_MAX_MARKS);
	setup(&fresh);
	assert_int_equal(ops->restore(&fresh.timer, &s, NULL), 0);
	boot_timer_destroy(&f.timer);
	boot_timer_destroy(&fresh.timer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(init_mark_records_time_since_start),
		cmocka_unit_test(first_mark_of_a_value_counts_and_marks_are_bounded),
		cmocka_unit_test(wide_writes_ignored_reads_float_high),
		cmocka_unit_test(restored_marks_read_back_and_recording_goes_on),
		cmocka_unit_test(damaged_states_are_refused_by_field),
		cmocka_unit_test(reset_forgets_the_marks),
		cmocka_unit_test(marks_from_two_threads_stay_bounded_and_ordered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
