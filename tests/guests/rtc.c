/* SPDX-License-Identifier: MIT */
/*
 * rtc: reads the MC146818 CMOS clock in the mode it finds (status B: BCD or
 * binary, 12 or 24 hour), then switches to binary 24-hour mode and to BCD
 * 12-hour mode, reading in each, and checks that the later readings are the
 * same time (0..2 s later: the clock may tick in between). Prints "RTC: YYYY-MM-DD HH:MM:SS" (first reading, UTC)
 * exactly once; other lines start with lower-case "rtc:".
 * Failures: 1 = the two modes disagree, 2 = a field is out of range,
 * 3 = update-in-progress never cleared, 4 = two consecutive reads never matched.
 * Status B is restored before exiting.
 */
#include "lib.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA  0x71
#define CMOS_NMI_DISABLE 0x80

#define RTC_SECONDS 0x00
#define RTC_MINUTES 0x02
#define RTC_HOURS   0x04
#define RTC_DAY     0x07
#define RTC_MONTH   0x08
#define RTC_YEAR    0x09
#define RTC_STATUS_A 0x0a
#define RTC_STATUS_B 0x0b
#define RTC_CENTURY 0x32   /* ACPI FADT default century register */

#define RTC_A_UIP      0x80
#define RTC_B_24H      0x02
#define RTC_B_BINARY   0x04
#define RTC_HOUR_PM    0x80   /* 12-hour mode */

#define RTC_UIP_POLL_MAX 10000
#define RTC_READ_TRIES   5
#define RTC_MAX_SKEW_S   2

struct rtc_raw {
	uint8_t sec, min, hour, day, mon, year, century;
};

struct rtc_time {
	unsigned int year, mon, day, hour, min, sec;
};

static uint8_t cmos_read(uint8_t reg)
{
	outb(CMOS_INDEX, CMOS_NMI_DISABLE | reg);
	return inb(CMOS_DATA);
}

static void cmos_write(uint8_t reg, uint8_t v)
{
	outb(CMOS_INDEX, CMOS_NMI_DISABLE | reg);
	outb(CMOS_DATA, v);
}

static bool wait_uip_clear(void)
{
	for (int i = 0; i < RTC_UIP_POLL_MAX; i++) {
		if (!(cmos_read(RTC_STATUS_A) & RTC_A_UIP))
			return true;
		__asm__ volatile("pause");
	}
	return false;
}

static void read_raw(struct rtc_raw *r)
{
	r->sec = cmos_read(RTC_SECONDS);
	r->min = cmos_read(RTC_MINUTES);
	r->hour = cmos_read(RTC_HOURS);
	r->day = cmos_read(RTC_DAY);
	r->mon = cmos_read(RTC_MONTH);
	r->year = cmos_read(RTC_YEAR);
	r->century = cmos_read(RTC_CENTURY);
}

/* Reads until two consecutive reads (each after UIP cleared) agree. */
static void read_stable(struct rtc_raw *r)
{
	struct rtc_raw again;

	for (int i = 0; i < RTC_READ_TRIES; i++) {
		if (!wait_uip_clear()) {
			printf("rtc: FAIL: update-in-progress never cleared\n");
			debug_exit(3);
		}
		read_raw(r);
		if (!wait_uip_clear()) {
			printf("rtc: FAIL: update-in-progress never cleared\n");
			debug_exit(3);
		}
		read_raw(&again);
		if (!memcmp(r, &again, sizeof(again)))
			return;
	}
	printf("rtc: FAIL: two consecutive reads never matched\n");
	debug_exit(4);
}

/* A register value in the mode status B selects. */
static unsigned int field(uint8_t v, uint8_t status_b)
{
	if (status_b & RTC_B_BINARY)
		return v;
	return (v >> 4) * 10u + (v & 0x0f);
}

static bool decode(const struct rtc_raw *r, uint8_t status_b, struct rtc_time *t)
{
	uint8_t hour = r->hour;
	bool pm = false;
	unsigned int century;

	if (!(status_b & RTC_B_24H)) {
		pm = hour & RTC_HOUR_PM;
		hour &= (uint8_t)~RTC_HOUR_PM;
	}
	t->sec = field(r->sec, status_b);
	t->min = field(r->min, status_b);
	t->hour = field(hour, status_b);
	t->day = field(r->day, status_b);
	t->mon = field(r->mon, status_b);
	t->year = field(r->year, status_b);
	century = field(r->century, status_b);
	if (!(status_b & RTC_B_24H)) {
		if (t->hour < 1 || t->hour > 12)
			return false;
		t->hour = t->hour % 12 + (pm ? 12 : 0);   /* 12 AM is 00, 12 PM is 12 */
	}
	/* The century register is optional: trust it only when it looks like one. */
	if (century < 19 || century > 21)
		century = 20;
	if (t->year > 99)
		return false;
	t->year += century * 100;
	return t->sec < 60 && t->min < 60 && t->hour < 24 && t->day >= 1 && t->day <= 31 &&
	       t->mon >= 1 && t->mon <= 12;
}

/* Days since 1970-01-01 (proleptic Gregorian, H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	uint64_t yoe = (uint64_t)(y - era * 400);
	uint64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	uint64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

static int64_t to_seconds(const struct rtc_time *t)
{
	return days_from_civil(t->year, t->mon, t->day) * 86400 + t->hour * 3600 + t->min * 60 + t->sec;
}

static void print_time(const char *prefix, const struct rtc_time *t)
{
	printf("%s%04u-%02u-%02u %02u:%02u:%02u\n", prefix, t->year, t->mon, t->day, t->hour, t->min,
	       t->sec);
}

/* Switches status B to mode, reads, decodes, restores status B. */
static void read_in_mode(uint8_t mode, uint8_t restore_b, const char *name, struct rtc_time *t)
{
	struct rtc_raw raw;

	cmos_write(RTC_STATUS_B, mode);
	read_stable(&raw);
	cmos_write(RTC_STATUS_B, restore_b);
	if (!decode(&raw, mode, t)) {
		printf("rtc: FAIL: %s field out of range (raw %x %x %x %x %x %x)\n", name, raw.year,
		       raw.mon, raw.day, raw.hour, raw.min, raw.sec);
		debug_exit(2);
	}
	printf("rtc: %s mode reads ", name);
	print_time("", t);
}

static void check_agree(const struct rtc_time *first, const struct rtc_time *later, const char *name)
{
	int64_t skew = to_seconds(later) - to_seconds(first);

	if (skew < 0 || skew > RTC_MAX_SKEW_S) {
		printf("rtc: FAIL: %s mode disagrees by %ld s\n", name, (long)skew);
		debug_exit(1);
	}
	printf("rtc: %s mode agrees (%ld s later)\n", name, (long)skew);
}

void guest_main(const struct boot_info *bi)
{
	struct rtc_raw raw;
	struct rtc_time found, binary, bcd12;
	uint8_t status_b = cmos_read(RTC_STATUS_B);
	uint8_t mode_mask = RTC_B_BINARY | RTC_B_24H;

	(void)bi;
	printf("rtc: status B 0x%x: %s, %s\n", status_b, status_b & RTC_B_BINARY ? "binary" : "bcd",
	       status_b & RTC_B_24H ? "24h" : "12h");
	read_stable(&raw);
	if (!decode(&raw, status_b, &found)) {
		printf("rtc: FAIL: field out of range (raw %x %x %x %x %x %x)\n", raw.year, raw.mon, raw.day,
		       raw.hour, raw.min, raw.sec);
		debug_exit(2);
	}
	print_time("RTC: ", &found);

	read_in_mode(status_b | mode_mask, status_b, "binary 24h", &binary);
	check_agree(&found, &binary, "binary 24h");
	read_in_mode(status_b & (uint8_t)~mode_mask, status_b, "bcd 12h", &bcd12);
	check_agree(&found, &bcd12, "bcd 12h");
	debug_exit(0);
}
