/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/rtc.h"
#include "device_state_check.h"
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

/*
 * A clock that moved almost a day: the alarm is looked for over every second
 * passed (minute by minute), up to the very last one, and an alarm byte no
 * time can match (0x5a is no BCD second) never matches.
 */
static void alarm_flag_over_a_day_long_jump(void **state)
{
	struct fixture *f = *state;

	wr(f, RTC_REG_A, RTC_A_DV_32K);
	set_alarm(f, 0x13, 0x45, 0x29); /* the second before now: reached last */
	advance(f, 86398ll * 1000000000);  /* to 13:45:28 the next day */
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_UF);
	advance(f, 1000000000);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_UF | RTC_C_AF);
	advance(f, 2ll * 86400 * 1000000000);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_UF | RTC_C_AF);
	set_alarm(f, 0xc0, 0xc0, 0x5a);
	advance(f, 2ll * 86400 * 1000000000);
	assert_int_equal(rd(f, RTC_REG_C), RTC_C_UF);
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

/* ---- the device model: reset, save -> fresh RTC -> restore ------------------- */

static const struct device_ops *ops = &rtc_device_ops;

static struct fixture *fixture_new(void)
{
	void *f;
	setup(&f);
	return f;
}

static void fixture_free(struct fixture *f)
{
	void *p = f;
	teardown(&p);
}

static void save(struct fixture *f, struct rtc_state *s)
{
	memset(s, 0, sizeof(*s));
	ops->save(&f->rtc, s);
}

/*
 * 12-hour BCD, 23:59:58 on 31 December 1999 written under SET, periodic rate
 * 2 Hz with PIE, an alarm at 12:00:05 AM with AIE, two CMOS RAM bytes, and
 * the index left at register C with the NMI mask bit set.
 */
static void drive_into_busy_state(struct fixture *f)
{
	static const struct cmos_byte time_12h[] = {
		{ RTC_SECONDS, 0x58 }, { RTC_MINUTES, 0x59 }, { RTC_HOURS, RTC_HOURS_PM | 0x11 },
		{ RTC_DAY_OF_MONTH, 0x31 }, { RTC_MONTH, 0x12 }, { RTC_YEAR, 0x99 }, { RTC_CENTURY, 0x19 },
	};

	wr(f, RTC_REG_B, RTC_B_SET);
	wr_all(f, time_12h, N(time_12h));
	wr(f, RTC_REG_A, RTC_A_DV_32K | 0x0f);
	set_alarm(f, 0x12, 0x00, 0x05);
	wr(f, RTC_REG_B, RTC_B_PIE | RTC_B_AIE);
	wr(f, 0x10, 0x42);
	wr(f, 0x7f, 0x99);
	advance(f, 300000000);
	rd(f, RTC_SECONDS);               /* brings the flags up to date */
	fake_host_outb(&f->fh, RTC_PORT_INDEX, 0x80 | RTC_REG_C);
}

/* Reads every register of interest on both at the same host time; they must agree. Returns register C. */
static uint8_t same_reads(struct fixture *a, struct fixture *b, const char *when)
{
	uint8_t c = 0;

	static const uint8_t regs[] = {
		RTC_REG_C, RTC_SECONDS, RTC_MINUTES, RTC_HOURS, RTC_DAY_OF_WEEK, RTC_DAY_OF_MONTH, RTC_MONTH,
		RTC_YEAR, RTC_CENTURY, RTC_REG_A, RTC_REG_B, RTC_REG_D, RTC_SECONDS_ALARM, RTC_MINUTES_ALARM,
		RTC_HOURS_ALARM, 0x10, 0x7f,
	};

	for (size_t i = 0; i < N(regs); i++) {
		uint8_t va = rd(a, regs[i]), vb = rd(b, regs[i]);
		if (va != vb)
			fail_msg("%s: register 0x%02x reads 0x%02x before, 0x%02x after restore", when, regs[i], va, vb);
		if (regs[i] == RTC_REG_C)
			c = va;
	}
	return c;
}

static void restored_rtc_behaves_like_the_saved_one(void **state)
{
	struct fixture *a = fixture_new(), *b = fixture_new();
	struct rtc_state s, s2;
	struct vmon_error err = { 0 };
	(void)state;

	drive_into_busy_state(a);
	save(a, &s);
	b->now = a->now;
	assert_int_equal(ops->restore(&b->rtc, &s, &err), 0);
	save(b, &s2);
	assert_memory_equal(&s, &s2, sizeof(s));
	/* The restored index: a data read without writing 0x70 reads register C on both. */
	assert_int_equal(fake_host_inb(&b->fh, RTC_PORT_DATA), fake_host_inb(&a->fh, RTC_PORT_DATA));
	uint8_t flags = same_reads(a, b, "right after the restore");
	/* Through midnight into 2000, past the alarm: PF, UF, AF and IRQF come the same way. */
	static const long long steps_ns[] = { 200000000, 500000000, 1000000000, 2500000000ll, 3000000000ll,
					      999756000, 1000 };
	for (size_t i = 0; i < N(steps_ns); i++) {
		char when[48];
		advance(a, steps_ns[i]);
		advance(b, steps_ns[i]);
		snprintf(when, sizeof(when), "after step %zu", i);
		flags |= same_reads(a, b, when);
	}
	assert_int_equal(flags, RTC_C_IRQF | RTC_C_PF | RTC_C_AF | RTC_C_UF);
	assert_int_equal(rd(b, RTC_YEAR), 0x00);
	assert_int_equal(rd(b, RTC_CENTURY), 0x20);
	/* Setting a new time works the same on both. */
	wr(a, RTC_REG_B, RTC_B_SET | RTC_B_DM | RTC_B_24H);
	wr(b, RTC_REG_B, RTC_B_SET | RTC_B_DM | RTC_B_24H);
	wr(a, RTC_HOURS, 7);
	wr(b, RTC_HOURS, 7);
	wr(a, RTC_REG_B, RTC_B_DM | RTC_B_24H);
	wr(b, RTC_REG_B, RTC_B_DM | RTC_B_24H);
	advance(a, 61000000000ll);
	advance(b, 61000000000ll);
	same_reads(a, b, "after setting the time");
	fixture_free(a);
	fixture_free(b);
}

/* Saved, then restored an hour later: the guest's clock has run on by that hour, like the chip on battery. */
static void clock_runs_on_across_a_saved_hour(void **state)
{
	struct fixture *a = fixture_new(), *b = fixture_new();
	struct rtc_state s;
	(void)state;

	drive_into_busy_state(a);
	save(a, &s);
	advance(a, 3600ll * 1000000000);
	b->now = a->now;                   /* the restoring host, an hour later */
	assert_int_equal(ops->restore(&b->rtc, &s, NULL), 0);
	same_reads(a, b, "an hour after the save");
	fixture_free(a);
	fixture_free(b);
}

/* On a host whose clock reads another time, the guest keeps its difference to UTC, not its reading. */
static void offset_to_host_utc_is_what_is_kept(void **state)
{
	struct fixture *a = fixture_new(), *b = fixture_new();
	struct rtc_state s;
	(void)state;

	wr(a, RTC_REG_B, RTC_B_24H | RTC_B_SET);
	wr(a, RTC_HOURS, 0x15);            /* two hours ahead of UTC (13:45:30) */
	wr(a, RTC_REG_B, RTC_B_24H);
	save(a, &s);
	set_now(b, 2031, 7, 1, 8, 0, 0, 0);
	assert_int_equal(ops->restore(&b->rtc, &s, NULL), 0);
	assert_int_equal(rd(b, RTC_HOURS), 0x10);
	assert_int_equal(rd(b, RTC_YEAR), 0x31);
	fixture_free(a);
	fixture_free(b);
}

static void expect_refused(const struct rtc_state *s, const char *why)
{
	struct fixture *f = fixture_new();

	drive_into_busy_state(f);
	expect_restore_refused(ops, &f->rtc, s, why);
	fixture_free(f);
}

/*
 * The largest offset a restore accepts, with the host clock on top: the
 * state saved afterwards restores again (found by fuzz_rtc: last_tick_s,
 * which is guest time, used to be held to the offset's own limit).
 */
static void state_at_the_offset_limit_restores_again(void **state)
{
	struct fixture *a = fixture_new(), *b = fixture_new();
	struct rtc_state s;
	struct vmon_error err = { 0 };
	(void)state;

	save(a, &s);
	s.offset_s = 1ll << 40;
	assert_int_equal(ops->restore(&a->rtc, &s, &err), 0);
	advance(a, 1000000000);
	rd(a, RTC_SECONDS); /* brings last_tick_s up to the host clock plus the offset */
	save(a, &s);
	assert_true(s.last_tick_s > 1ll << 40);
	if (ops->restore(&b->rtc, &s, &err))
		fail_msg("a state the RTC reached is refused: %s", err.msg);
	fixture_free(a);
	fixture_free(b);
}

static void damaged_states_are_refused_by_field(void **state)
{
	struct fixture *a = fixture_new();
	struct rtc_state good, s;
	(void)state;

	drive_into_busy_state(a);
	save(a, &good);
	fixture_free(a);
	s = good; s.reserved[3] = 1;                    expect_refused(&s, "reserved[3]");
	s = good; s.offset_s = (1ll << 40) + 1;         expect_refused(&s, "offset_s 1099511627777");
	s = good; s.offset_s = INT64_MIN;               expect_refused(&s, "offset_s");
	s = good; s.last_tick_s = -(1ll << 41) - 1;     expect_refused(&s, "last_tick_s");
	s = good; s.last_tick_ns = 1000000000;          expect_refused(&s, "last_tick_ns 1000000000");
	s = good; s.last_tick_ns = -1;                  expect_refused(&s, "last_tick_ns -1");
	s = good; s.cmos[RTC_REG_A] |= RTC_A_UIP;       expect_refused(&s, "register A 0xaf");
	s = good; s.cmos[RTC_REG_C] = 0x01;             expect_refused(&s, "register C 0x01");
	s = good; s.cmos[RTC_REG_D] = 0;                expect_refused(&s, "register D 0x00");
}

static void reset_clears_interrupt_enables_and_keeps_time_and_ram(void **state)
{
	struct fixture *f = fixture_new();
	(void)state;

	drive_into_busy_state(f);
	advance(f, 2000000000);
	uint8_t minutes = rd(f, RTC_MINUTES), hours = rd(f, RTC_HOURS), a = rd(f, RTC_REG_A);
	rd(f, RTC_SECONDS);                 /* flags now pending in C */
	ops->reset(&f->rtc);
	assert_int_equal(rd(f, RTC_REG_C), 0);
	assert_int_equal(rd(f, RTC_REG_B), 0);   /* PIE, AIE off; 12-hour BCD stays */
	assert_int_equal(rd(f, RTC_REG_A), a);
	assert_int_equal(rd(f, RTC_MINUTES), minutes);
	assert_int_equal(rd(f, RTC_HOURS), hours);
	assert_int_equal(rd(f, 0x10), 0x42);
	assert_int_equal(rd(f, RTC_HOURS_ALARM), 0x12);
	fixture_free(f);
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
		T(alarm_flag_over_a_day_long_jump),
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
		cmocka_unit_test(restored_rtc_behaves_like_the_saved_one),
		cmocka_unit_test(clock_runs_on_across_a_saved_hour),
		cmocka_unit_test(offset_to_host_utc_is_what_is_kept),
		cmocka_unit_test(state_at_the_offset_limit_restores_again),
		cmocka_unit_test(damaged_states_are_refused_by_field),
		cmocka_unit_test(reset_clears_interrupt_enables_and_keeps_time_and_ram),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
