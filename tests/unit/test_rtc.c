/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/rtc.h"
#include "fake_host.h"

struct fixture {
	struct fake_host fh;
	struct rtc rtc;
	struct timespec now;
};

static void fake_clock(void *ctx, struct timespec *now)
{
	struct fixture *f = ctx;
	*now = f->now;
}

static void set_now(struct fixture *f, int year, int mon, int day, int hour, int min, int sec, long nsec)
{
	struct tm tm = { .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
			 .tm_hour = hour, .tm_min = min, .tm_sec = sec };
	f->now.tv_sec = timegm(&tm);
	f->now.tv_nsec = nsec;
}

static void advance(struct fixture *f, long long ns)
{
	long long total = (long long)f->now.tv_nsec + ns;
	f->now.tv_sec += total / 1000000000;
	f->now.tv_nsec = total % 1000000000;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fake_host_init(&f->fh);
	f->fh.stop_forbidden = "the RTC never stops the VM";
	/* Thursday 29 February 2024, 13:45:30.25 UTC */
	set_now(f, 2024, 2, 29, 13, 45, 30, 250000000);
	assert_int_equal(rtc_init(&f->rtc, &f->fh.host, fake_clock, f, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	rtc_destroy(&f->rtc);
	free(f);
	return 0;
}

static uint8_t rd(struct fixture *f, uint8_t idx)
{
	fake_host_outb(&f->fh, RTC_PORT_INDEX, idx);
	return fake_host_inb(&f->fh, RTC_PORT_DATA);
}

static void wr(struct fixture *f, uint8_t idx, uint8_t val)
{
	fake_host_outb(&f->fh, RTC_PORT_INDEX, idx);
	fake_host_outb(&f->fh, RTC_PORT_DATA, val);
}

/* A CMOS register and the value written to it or expected from it. */
struct cmos_byte {
	uint8_t reg, val;
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void wr_all(struct fixture *f, const struct cmos_byte *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		wr(f, b[i].reg, b[i].val);
}

/* Reads each register in turn; a mismatch names the register. */
static void assert_reads(struct fixture *f, const struct cmos_byte *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t v = rd(f, b[i].reg);
		if (v != b[i].val)
			fail_msg("CMOS register 0x%02x reads 0x%02x, expected 0x%02x", b[i].reg, v, b[i].val);
	}
}

static void set_alarm(struct fixture *f, uint8_t hours, uint8_t minutes, uint8_t seconds)
{
	wr(f, RTC_HOURS_ALARM, hours);
	wr(f, RTC_MINUTES_ALARM, minutes);
	wr(f, RTC_SECONDS_ALARM, seconds);
}

/* 23:59:59 on 31 December 1999 in BCD, as a guest writes it field by field under SET. */
static const struct cmos_byte last_second_of_1999[] = {
	{ RTC_SECONDS, 0x59 }, { RTC_MINUTES, 0x59 }, { RTC_HOURS, 0x23 }, { RTC_DAY_OF_MONTH, 0x31 },
	{ RTC_MONTH, 0x12 }, { RTC_YEAR, 0x99 }, { RTC_CENTURY, 0x19 },
};

static void bcd_time_registers_show_host_utc_time(void **state)
{
	static const struct cmos_byte now[] = {
		{ RTC_SECONDS, 0x30 }, { RTC_MINUTES, 0x45 }, { RTC_HOURS, 0x13 },
		{ RTC_DAY_OF_WEEK, 0x05 }, /* Thursday; Sunday = 1 */
		{ RTC_DAY_OF_MONTH, 0x29 }, { RTC_MONTH, 0x02 }, { RTC_YEAR, 0x24 }, { RTC_CENTURY, 0x20 },
	};

	assert_reads(*state, now, N(now));
}

static void binary_mode_shows_plain_numbers(void **state)
{
	struct fixture *f = *state;
	static const struct cmos_byte now[] = {
		{ RTC_SECONDS, 30 }, { RTC_MINUTES, 45 }, { RTC_HOURS, 13 },
		{ RTC_DAY_OF_MONTH, 29 }, { RTC_YEAR, 24 }, { RTC_CENTURY, 20 },
	};

	wr(f, RTC_REG_B, RTC_B_24H | RTC_B_DM);
	assert_reads(f, now, N(now));
}

static void twelve_hour_mode_puts_pm_in_bit7(void **state)
{
	struct fixture *f = *state;

	wr(f, RTC_REG_B, 0); /* BCD, 12-hour */
	assert_int_equal(rd(f, RTC_HOURS), RTC_HOURS_PM | 0x01);
	set_now(f, 2024, 2, 29, 0, 10, 0, 0);
	assert_int_equal(rd(f, RTC_HOURS), 0x12); /* 12 AM */
	set_now(f, 2024, 2, 29, 11, 10, 0, 0);
	assert_int_equal(rd(f, RTC_HOURS), 0x11);
	set_now(f, 2024, 2, 29, 12, 10, 0, 0);
	assert_int_equal(rd(f, RTC_HOURS), RTC_HOURS_PM | 0x12);
	wr(f, RTC_REG_B, RTC_B_DM); /* binary, 12-hour */
	set_now(f, 2024, 2, 29, 23, 10, 0, 0);
	assert_int_equal(rd(f, RTC_HOURS), RTC_HOURS_PM | 11);
}

static void clock_follows_host_time(void **state)
{
	struct fixture *f = *state;

	advance(f, 90ll * 1000000000);
	assert_int_equal(rd(f, RTC_SECONDS), 0x00);
	assert_int_equal(rd(f, RTC_MINUTES), 0x47);
	set_now(f, 2100, 3, 1, 0, 0, 0, 0);
	assert_int_equal(rd(f, RTC_YEAR), 0x00);
	assert_int_equal(rd(f, RTC_CENTURY), 0x21);
	assert_int_equal(rd(f, RTC_DAY_OF_WEEK), 0x02); /* Monday */
}

static void set_freezes_the_registers_for_the_guest_to_write(void **state)
{
	struct fixture *f = *state;

	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	advance(f, 10ll * 1000000000);
	assert_int_equal(rd(f, RTC_SECONDS), 0x30); /* frozen */
	wr_all(f, last_second_of_1999, N(last_second_of_1999));
	wr(f, RTC_DAY_OF_WEEK, 0x06);
	assert_int_equal(rd(f, RTC_SECONDS), 0x59);
	assert_int_equal(rd(f, RTC_HOURS), 0x23);
	assert_int_equal(rd(f, RTC_DAY_OF_WEEK), 0x06);
	assert_int_equal(rd(f, RTC_CENTURY), 0x19);
}

static void clearing_set_keeps_the_written_time_running(void **state)
{
	struct fixture *f = *state;
	static const struct cmos_byte two_seconds_later[] = {
		{ RTC_SECONDS, 0x01 }, { RTC_HOURS, 0x00 }, { RTC_DAY_OF_MONTH, 0x01 }, { RTC_MONTH, 0x01 },
		{ RTC_YEAR, 0x00 }, { RTC_CENTURY, 0x20 },
		{ RTC_DAY_OF_WEEK, 0x07 }, /* 1 January 2000 was a Saturday */
	};

	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	wr_all(f, last_second_of_1999, N(last_second_of_1999));
	wr(f, RTC_REG_B, RTC_B_24H);
	assert_int_equal(rd(f, RTC_SECONDS), 0x59);
	advance(f, 2ll * 1000000000);
	assert_reads(f, two_seconds_later, N(two_seconds_later));
}

static void written_time_in_12h_binary_mode_is_decoded(void **state)
{
	struct fixture *f = *state;

	wr(f, RTC_REG_B, RTC_B_DM); /* the mode first: SET freezes the bytes in the old format */
	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_DM);
	wr(f, RTC_HOURS, RTC_HOURS_PM | 12); /* noon */
	wr(f, RTC_MINUTES, 0);
	wr(f, RTC_SECONDS, 0);
	wr(f, RTC_REG_B, RTC_B_DM); /* SET off in the same mode the bytes were written in */
	assert_int_equal(rd(f, RTC_HOURS), RTC_HOURS_PM | 12);
	assert_int_equal(rd(f, RTC_DAY_OF_MONTH), 29);
	/* The clock keeps time as a number: a later mode change shows the same time. */
	wr(f, RTC_REG_B, RTC_B_24H | RTC_B_DM);
	assert_int_equal(rd(f, RTC_HOURS), 12);
}

static void field_written_while_running_replaces_only_that_field(void **state)
{
	struct fixture *f = *state;

	wr(f, RTC_MINUTES, 0x05);
	assert_int_equal(rd(f, RTC_MINUTES), 0x05);
	assert_int_equal(rd(f, RTC_HOURS), 0x13);
	assert_int_equal(rd(f, RTC_SECONDS), 0x30);
	advance(f, 1000000000);
	assert_int_equal(rd(f, RTC_SECONDS), 0x31);
}

static void setting_set_clears_uie(void **state)
{
	struct fixture *f = *state;

	wr(f, RTC_REG_B, RTC_B_UIE | RTC_B_24H);
	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_UIE | RTC_B_24H);
	assert_int_equal(rd(f, RTC_REG_B), RTC_B_SET | RTC_B_24H);
}

static void update_flag_sets_each_second_and_clears_on_read(void **state)
{
	struct fixture *f = *state;

	wr(f, RTC_REG_A, RTC_A_DV_32K); /* periodic rate off */
	assert_int_equal(rd(f, RTC_REG_C), 0);
	advance(f, 500000000);
	assert_int_equal(rd(f, RTC_REG_C), 0); /* the second has not ticked (30.75 s) */
	advance(f, 500000000);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_UF);
	assert_int_equal(rd(f, RTC_REG_C), 0);
}

static void enabled_flag_sets_irqf_but_no_irq_is_raised(void **state)
{
	struct fixture *f = *state;

	wr(f, RTC_REG_A, RTC_A_DV_32K);
	wr(f, RTC_REG_B, RTC_B_UIE | RTC_B_24H);
	advance(f, 1000000000);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_IRQF | RTC_C_UF);
	assert_int_equal(f->fh.irq_sets, 0);
}

static void no_update_flag_while_set(void **state)
{
	struct fixture *f = *state;

	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	advance(f, 3ll * 1000000000);
	assert_int_equal(rd(f, RTC_REG_C) & RTC_C_UF, 0);
	wr(f, RTC_REG_B, RTC_B_24H);
	assert_int_equal(rd(f, RTC_REG_C) & RTC_C_UF, 0); /* setting the time is not an update */
}

static void alarm_flag_when_an_update_reaches_the_alarm_time(void **state)
{
	struct fixture *f = *state;

	wr(f, RTC_REG_A, RTC_A_DV_32K); /* no periodic flag to mask out */
	set_alarm(f, 0x13, 0x45, 0x32);
	advance(f, 1000000000);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_UF);
	advance(f, 1000000000);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_UF | RTC_C_AF);
	set_alarm(f, 0xff, 0xc0, 0x00); /* don't-care bytes (11xxxxxx): every minute at second 0 */
	advance(f, 20ll * 1000000000);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_UF); /* 13:45:52 */
	advance(f, 10ll * 1000000000);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_UF | RTC_C_AF); /* passed 13:46:00 */
}

static void periodic_flag_follows_rate_select(void **state)
{
	struct fixture *f = *state;

	/* Reset rate 6 = 1024 Hz: a tick every 976.5625 us. */
	advance(f, 1000000);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_PF);
	advance(f, 100000);
	assert_int_equal(rd(f, RTC_REG_C), 0);
	wr(f, RTC_REG_A, RTC_A_DV_32K); /* rate 0: off */
	advance(f, 10000000);
	assert_int_equal(rd(f, RTC_REG_C), 0);
	wr(f, RTC_REG_A, RTC_A_DV_32K | 0x0f); /* 2 Hz */
	advance(f, 250000000);                 /* 30.25 -> 30.51 s */
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_PF);
}

static void stopped_divider_sets_no_flags(void **state)
{
	struct fixture *f = *state;

	wr(f, RTC_REG_A, 0x70 | 0x06); /* divider held in reset */
	advance(f, 2ll * 1000000000);
	assert_int_equal(rd(f, RTC_REG_C), 0);
	assert_int_equal(rd(f, RTC_REG_A), 0x76);
}

static void uip_is_set_only_just_before_an_update(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, RTC_REG_A), RTC_A_DV_32K | 0x06);
	f->now.tv_nsec = 999900000;
	assert_int_equal(rd(f, RTC_REG_A), RTC_A_UIP | RTC_A_DV_32K | 0x06);
	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	assert_int_equal(rd(f, RTC_REG_A) & RTC_A_UIP, 0);
}

static void register_a_keeps_rate_bits_and_ignores_uip_writes(void **state)
{
	struct fixture *f = *state;

	wr(f, RTC_REG_A, RTC_A_UIP | RTC_A_DV_32K | 0x03);
	assert_int_equal(rd(f, RTC_REG_A), RTC_A_DV_32K | 0x03);
}

static void register_d_reports_valid_ram_and_time(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, RTC_REG_D), RTC_D_VRT);
	wr(f, RTC_REG_D, 0);
	assert_int_equal(rd(f, RTC_REG_D), RTC_D_VRT);
	wr(f, RTC_REG_C, 0xf0);
	assert_int_equal(rd(f, RTC_REG_C), 0);
}

static void alarm_registers_store_what_is_written(void **state)
{
	struct fixture *f = *state;
	static const struct cmos_byte alarm[] = {
		{ RTC_SECONDS_ALARM, 0x12 }, { RTC_MINUTES_ALARM, 0x34 }, { RTC_HOURS_ALARM, 0xc5 },
	};

	wr_all(f, alarm, N(alarm));
	assert_reads(f, alarm, N(alarm));
}

static void cmos_ram_bytes_read_and_write_as_memory(void **state)
{
	struct fixture *f = *state;

	for (unsigned i = 0x0e; i < RTC_CMOS_SIZE; i++)
		if (i != RTC_CENTURY)
			wr(f, (uint8_t)i, (uint8_t)(i ^ 0x5a));
	for (unsigned i = 0x0e; i < RTC_CMOS_SIZE; i++)
		if (i != RTC_CENTURY)
			assert_int_equal(rd(f, (uint8_t)i), (uint8_t)(i ^ 0x5a));
}

static void nmi_mask_bit_is_not_part_of_the_index(void **state)
{
	struct fixture *f = *state;

	wr(f, 0x40, 0x77);
	assert_int_equal(rd(f, 0x80 | 0x40), 0x77);
	assert_int_equal(rd(f, 0x80 | RTC_MINUTES), 0x45);
}

static void index_port_reads_all_ones(void **state)
{
	struct fixture *f = *state;

	fake_host_outb(&f->fh, RTC_PORT_INDEX, 0x0a);
	assert_int_equal(fake_host_inb(&f->fh, RTC_PORT_INDEX), 0xff);
}

static void hostile_bcd_values_do_not_break_the_clock(void **state)
{
	struct fixture *f = *state;

	wr(f, RTC_REG_B, RTC_B_SET | RTC_B_24H);
	wr(f, RTC_MONTH, 0xff);
	wr(f, RTC_DAY_OF_MONTH, 0x00);
	wr(f, RTC_CENTURY, 0xff);
	wr(f, RTC_HOURS, 0xff);
	wr(f, RTC_REG_B, RTC_B_24H);
	/* Whatever time that normalises to, it keeps ticking one second per second. */
	uint8_t s0 = rd(f, RTC_SECONDS);
	advance(f, 1000000000);
	uint8_t s1 = rd(f, RTC_SECONDS);
	assert_int_equal(((s1 >> 4) * 10 + (s1 & 0xf)) % 60, ((s0 >> 4) * 10 + (s0 & 0xf) + 1) % 60);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(bcd_time_registers_show_host_utc_time),
		T(binary_mode_shows_plain_numbers),
		T(twelve_hour_mode_puts_pm_in_bit7),
		T(clock_follows_host_time),
		T(set_freezes_the_registers_for_the_guest_to_write),
		T(clearing_set_keeps_the_written_time_running),
		T(written_time_in_12h_binary_mode_is_decoded),
		T(field_written_while_running_replaces_only_that_field),
		T(setting_set_clears_uie),
		T(update_flag_sets_each_second_and_clears_on_read),
		T(enabled_flag_sets_irqf_but_no_irq_is_raised),
		T(no_update_flag_while_set),
		T(alarm_flag_when_an_update_reaches_the_alarm_time),
		T(periodic_flag_follows_rate_select),
		T(stopped_divider_sets_no_flags),
		T(uip_is_set_only_just_before_an_update),
		T(register_a_keeps_rate_bits_and_ignores_uip_writes),
		T(register_d_reports_valid_ram_and_time),
		T(alarm_registers_store_what_is_written),
		T(cmos_ram_bytes_read_and_write_as_memory),
		T(nmi_mask_bit_is_not_part_of_the_index),
		T(index_port_reads_all_ones),
		T(hostile_bcd_values_do_not_break_the_clock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
