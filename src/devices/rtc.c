/* SPDX-License-Identifier: MIT */
#include "devices/rtc.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct rtc_state) == 160, "rtc_state has no implicit padding");

#define NSEC_PER_SEC 1000000000ll
#define SECS_PER_DAY 86400

/* UIP rises 244 us before each update (MC146818A datasheet, "update cycle"). */
#define UIP_WINDOW_NS 244000

#define ALARM_DONT_CARE 0xc0 /* alarm bytes 11xxxxxx match every value */

/* The time registers, in the order a snapshot of the clock is taken. */
static const uint8_t time_regs[] = {
	RTC_SECONDS, RTC_MINUTES, RTC_HOURS, RTC_DAY_OF_WEEK, RTC_DAY_OF_MONTH, RTC_MONTH, RTC_YEAR, RTC_CENTURY,
};

static void host_clock(void *ctx, struct timespec *now)
{
	(void)ctx;
	clock_gettime(CLOCK_REALTIME, now);
}

static bool is_time_reg(unsigned idx)
{
	for (size_t i = 0; i < sizeof(time_regs); i++)
		if (time_regs[i] == idx)
			return true;
	return false;
}

static bool binary_mode(const struct rtc_state *s)
{
	return s->cmos[RTC_REG_B] & RTC_B_DM;
}

/* BCD keeps two digits (the value modulo 100); binary keeps the low byte. */
static uint8_t encode(const struct rtc_state *s, int val)
{
	if (binary_mode(s))
		return (uint8_t)val;
	val = ((val % 100) + 100) % 100;
	return (uint8_t)(((val / 10) << 4) | (val % 10));
}

/* Invalid BCD digits are taken at face value, as the chip's counters would. */
static int decode(const struct rtc_state *s, uint8_t val)
{
	if (binary_mode(s))
		return val;
	return (val >> 4) * 10 + (val & 0x0f);
}

static uint8_t encode_hours(const struct rtc_state *s, int hour)
{
	int h12;

	if (s->cmos[RTC_REG_B] & RTC_B_24H)
		return encode(s, hour);
	/* 12-hour mode: 12 AM is midnight, 12 PM noon; PM is bit 7. */
	h12 = hour % 12 ? hour % 12 : 12;
	return (uint8_t)(encode(s, h12) | (hour >= 12 ? RTC_HOURS_PM : 0));
}

static int decode_hours(const struct rtc_state *s, uint8_t val)
{
	int h;

	if (s->cmos[RTC_REG_B] & RTC_B_24H)
		return decode(s, val);
	h = decode(s, val & (uint8_t)~RTC_HOURS_PM);
	if (h == 12)
		h = 0;
	return (val & RTC_HOURS_PM) ? h + 12 : h;
}

static int floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (int)((a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q);
}

/* The time registers for guest second t, in the current format. */
static void encode_time(const struct rtc_state *s, int64_t t, uint8_t out[RTC_CMOS_SIZE])
{
	time_t tt = (time_t)t;
	struct tm tm;
	int year;

	if (!gmtime_r(&tt, &tm))
		memset(&tm, 0, sizeof(tm));
	year = tm.tm_year + 1900;
	out[RTC_SECONDS] = encode(s, tm.tm_sec);
	out[RTC_MINUTES] = encode(s, tm.tm_min);
	out[RTC_HOURS] = encode_hours(s, tm.tm_hour);
	out[RTC_DAY_OF_WEEK] = encode(s, tm.tm_wday + 1);
	out[RTC_DAY_OF_MONTH] = encode(s, tm.tm_mday);
	out[RTC_MONTH] = encode(s, tm.tm_mon + 1);
	out[RTC_YEAR] = encode(s, year - 100 * floor_div(year, 100));
	out[RTC_CENTURY] = encode(s, floor_div(year, 100));
}

/* Guest second described by the time registers in regs; the day of week is ignored. */
static int64_t decode_time(const struct rtc_state *s, const uint8_t regs[RTC_CMOS_SIZE])
{
	struct tm tm = { 0 };

	tm.tm_sec = decode(s, regs[RTC_SECONDS]);
	tm.tm_min = decode(s, regs[RTC_MINUTES]);
	tm.tm_hour = decode_hours(s, regs[RTC_HOURS]);
	tm.tm_mday = decode(s, regs[RTC_DAY_OF_MONTH]);
	tm.tm_mon = decode(s, regs[RTC_MONTH]) - 1;
	tm.tm_year = decode(s, regs[RTC_CENTURY]) * 100 + decode(s, regs[RTC_YEAR]) - 1900;
	/* timegm normalises out-of-range fields (day 0, month 13) like a calendar would. */
	return (int64_t)timegm(&tm);
}

static void host_now(struct rtc *r, struct timespec *now)
{
	r->now(r->now_ctx, now);
	if (now->tv_nsec < 0 || now->tv_nsec >= NSEC_PER_SEC)
		now->tv_nsec = 0;
}

static void guest_now(struct rtc *r, int64_t *sec, int64_t *nsec)
{
	struct timespec now;

	host_now(r, &now);
	*sec = (int64_t)now.tv_sec + r->s.offset_s;
	*nsec = now.tv_nsec;
}

static bool clock_running(const struct rtc_state *s)
{
	return (s->cmos[RTC_REG_A] & RTC_A_DV_MASK) == RTC_A_DV_32K;
}

/* Periodic interrupt rate for RS (datasheet table 3); 0 = off. */
static int64_t periodic_hz(const struct rtc_state *s)
{
	unsigned rs = s->cmos[RTC_REG_A] & RTC_A_RS_MASK;

	if (rs == 0)
		return 0;
	if (rs <= 2)
		return 256 >> (rs - 1);
	return 32768 >> (rs - 1);
}

/* The second of the minute the alarm's seconds byte names: 0-59, -1 for every second, -2 for none. */
static int alarm_second(const struct rtc_state *s)
{
	uint8_t alarm = s->cmos[RTC_SECONDS_ALARM];

	if ((alarm & ALARM_DONT_CARE) == ALARM_DONT_CARE)
		return -1;
	/* encode() is one-to-one on 0-59 in both formats: at most one second matches. */
	for (int sec = 0; sec < 60; sec++)
		if (encode(s, sec) == alarm)
			return sec;
	return -2;
}

/* Whether the alarm's hours and minutes bytes match second-of-day sod. */
static bool alarm_minute_matches(const struct rtc_state *s, int sod)
{
	const uint8_t now[2] = { encode(s, sod / 60 % 60), encode_hours(s, sod / 3600) };
	const uint8_t alarm[2] = { s->cmos[RTC_MINUTES_ALARM], s->cmos[RTC_HOURS_ALARM] };

	for (int i = 0; i < 2; i++)
		if ((alarm[i] & ALARM_DONT_CARE) != ALARM_DONT_CARE && alarm[i] != now[i])
			return false;
	return true;
}

/*
 * Whether an update landed on the alarm time in guest seconds first..last
 * (less than a day apart). Minute by minute, so a clock that moved a day
 * costs 1441 comparisons, not 86400, under the lock of a vCPU's port access.
 */
static bool alarm_in(const struct rtc_state *s, int64_t first, int64_t last)
{
	int second = alarm_second(s);

	if (second == -2)
		return false;
	for (int64_t t = first; t <= last;) {
		int sod = (int)(((t % SECS_PER_DAY) + SECS_PER_DAY) % SECS_PER_DAY);
		int64_t minute_start = t - sod % 60, minute_last = minute_start + 59;

		if (alarm_minute_matches(s, sod)) {
			int64_t at = minute_start + second;
			if (second < 0 || (at >= t && at <= last && at <= minute_last))
				return true;
		}
		t = minute_last + 1;
	}
	return false;
}

/*
 * Brings the register C flags up to date with the time elapsed since the last
 * access: PF for every periodic tick, UF for every completed update cycle
 * (none while SET), AF when an update landed on the alarm time. Flags are set
 * whether or not their interrupt is enabled (datasheet, register C).
 */
static void tick(struct rtc *r)
{
	struct rtc_state *s = &r->s;
	int64_t sec, nsec, hz;
	uint8_t flags = 0;

	guest_now(r, &sec, &nsec);
	if (sec < s->last_tick_s || (sec == s->last_tick_s && nsec <= s->last_tick_ns) || !clock_running(s))
		goto out;
	hz = periodic_hz(s);
	if (hz && sec * hz + nsec * hz / NSEC_PER_SEC != s->last_tick_s * hz + s->last_tick_ns * hz / NSEC_PER_SEC)
		flags |= RTC_C_PF;
	if (!(s->cmos[RTC_REG_B] & RTC_B_SET) && sec > s->last_tick_s) {
		/* Within a day every time of day comes round once; older seconds add nothing. */
		int64_t first = s->last_tick_s + 1 > sec - (SECS_PER_DAY - 1) ? s->last_tick_s + 1 : sec - (SECS_PER_DAY - 1);
		flags |= RTC_C_UF;
		if (alarm_in(s, first, sec))
			flags |= RTC_C_AF;
	}
	s->cmos[RTC_REG_C] |= flags;
	if (s->cmos[RTC_REG_C] & s->cmos[RTC_REG_B] & (RTC_C_PF | RTC_C_AF | RTC_C_UF))
		s->cmos[RTC_REG_C] |= RTC_C_IRQF;
out:
	s->last_tick_s = sec;
	s->last_tick_ns = nsec;
}

/* The clock restarts from the time in regs: keep the difference to the host clock. */
static void set_time(struct rtc *r, const uint8_t regs[RTC_CMOS_SIZE])
{
	struct timespec now;

	host_now(r, &now);
	r->s.offset_s = decode_time(&r->s, regs) - (int64_t)now.tv_sec;
	/* A new time is not an elapsed one: no update or alarm flags for the jump. */
	r->s.last_tick_s = (int64_t)now.tv_sec + r->s.offset_s;
	r->s.last_tick_ns = now.tv_nsec;
}

static void write_reg_b(struct rtc *r, uint8_t val)
{
	struct rtc_state *s = &r->s;
	bool was_set = s->cmos[RTC_REG_B] & RTC_B_SET;

	if ((val & RTC_B_SET) && !was_set) {
		int64_t sec, nsec;
		/* Freeze: the time registers keep the current time for the guest to read and overwrite. */
		guest_now(r, &sec, &nsec);
		encode_time(s, sec, s->cmos);
		val &= (uint8_t)~RTC_B_UIE; /* SET clears UIE */
	}
	s->cmos[RTC_REG_B] = val;
	if (!(val & RTC_B_SET) && was_set)
		set_time(r, s->cmos);
}

static uint8_t read_reg(struct rtc *r, unsigned idx)
{
	struct rtc_state *s = &r->s;
	int64_t sec, nsec;
	uint8_t regs[RTC_CMOS_SIZE];
	uint8_t val;

	switch (idx) {
	case RTC_REG_A:
		val = s->cmos[RTC_REG_A];
		guest_now(r, &sec, &nsec);
		if (clock_running(s) && !(s->cmos[RTC_REG_B] & RTC_B_SET) && nsec >= NSEC_PER_SEC - UIP_WINDOW_NS)
			val |= RTC_A_UIP;
		return val;
	case RTC_REG_C:
		val = s->cmos[RTC_REG_C];
		s->cmos[RTC_REG_C] = 0;
		return val;
	case RTC_REG_D:
		return RTC_D_VRT;
	}
	if (is_time_reg(idx) && !(s->cmos[RTC_REG_B] & RTC_B_SET)) {
		guest_now(r, &sec, &nsec);
		encode_time(s, sec, regs);
		return regs[idx];
	}
	return s->cmos[idx];
}

static void write_reg(struct rtc *r, unsigned idx, uint8_t val)
{
	struct rtc_state *s = &r->s;
	uint8_t regs[RTC_CMOS_SIZE];
	int64_t sec, nsec;

	switch (idx) {
	case RTC_REG_A:
		s->cmos[RTC_REG_A] = val & (uint8_t)~RTC_A_UIP; /* UIP is read-only */
		return;
	case RTC_REG_B:
		write_reg_b(r, val);
		return;
	case RTC_REG_C:
	case RTC_REG_D:
		return; /* read-only */
	}
	if (!is_time_reg(idx) || (s->cmos[RTC_REG_B] & RTC_B_SET)) {
		s->cmos[idx] = val;
		return;
	}
	/*
	 * A time register written while the clock runs: the clock continues from
	 * the current time with that one field replaced. The day of week is
	 * derived from the date, so writing it alone changes nothing.
	 */
	guest_now(r, &sec, &nsec);
	encode_time(s, sec, regs);
	regs[idx] = val;
	set_time(r, regs);
}

void rtc_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct rtc *r = dev;

	if (size == 0 || offset >= RTC_NPORTS)
		return;
	pthread_mutex_lock(&r->lock);
	if (offset == 0) {
		if (is_write)
			r->s.index = data[0];
		else
			data[0] = 0xff; /* the index register is write-only */
	} else {
		/* Bit 7 of the index is the NMI mask on a PC, not part of the CMOS address. */
		unsigned idx = r->s.index & 0x7f;
		tick(r);
		if (is_write)
			write_reg(r, idx, data[0]);
		else
			data[0] = read_reg(r, idx);
	}
	pthread_mutex_unlock(&r->lock);
	if (!is_write && size > 1)
		memset(data + 1, 0xff, size - 1);
}

int rtc_init(struct rtc *r, const struct device_host *host, rtc_time_fn now, void *now_ctx,
	     struct vmon_error *err)
{
	int ret;

	memset(r, 0, sizeof(*r));
	r->host = host;
	r->now = now ? now : host_clock;
	r->now_ctx = now_ctx;
	/* Power-on values a PC firmware leaves: 32.768 kHz base, 1024 Hz rate, 24-hour BCD, battery good. */
	r->s.cmos[RTC_REG_A] = RTC_A_DV_32K | 0x06;
	r->s.cmos[RTC_REG_B] = RTC_B_24H;
	r->s.cmos[RTC_REG_D] = RTC_D_VRT;
	guest_now(r, &r->s.last_tick_s, &r->s.last_tick_ns);
	ret = pthread_mutex_init(&r->lock, NULL);
	if (ret)
		return error_set(err, -ret, "rtc: mutex: %s", strerror(ret));
	ret = io_bus_register(host->pio, RTC_PORT_INDEX, RTC_NPORTS, "rtc", rtc_access, r, err);
	if (ret) {
		pthread_mutex_destroy(&r->lock);
		return ret;
	}
	return 0;
}

void rtc_destroy(struct rtc *r)
{
	pthread_mutex_destroy(&r->lock);
}

unsigned rtc_resources(const struct rtc *r, struct device_resource res[DEVICE_MAX_RESOURCES])
{
	(void)r;
	res[0] = (struct device_resource){ DEVICE_RES_PIO, RTC_PORT_INDEX, RTC_NPORTS };
	res[1] = (struct device_resource){ DEVICE_RES_IRQ, RTC_IRQ, 1 };
	return 2;
}

/* ---- device model ----------------------------------------------------------- */

/*
 * The furthest a restored time base may lie from the epoch: 2^40 s (about
 * 35000 years) holds any time the registers can be set to (binary century
 * 255, year 255: year 25755) with room for the host clock, and keeps
 * tick()'s seconds-times-rate arithmetic far from overflow.
 */
#define RTC_TIME_LIMIT_S (1ll << 40)
/*
 * last_tick_s is guest time: the host clock (below 2^40 s) plus the offset,
 * so twice the offset's limit; a state restored with the largest offset
 * saves one this accepts again (found by fuzz_rtc).
 */
#define RTC_TICK_LIMIT_S (2 * RTC_TIME_LIMIT_S)

static void rtc_reset(void *dev)
{
	struct rtc *r = dev;

	pthread_mutex_lock(&r->lock);
	/* MC146818A datasheet, RESET pin: clock, calendar and RAM are not affected. */
	r->s.cmos[RTC_REG_B] &= (uint8_t)~(RTC_B_PIE | RTC_B_AIE | RTC_B_UIE | RTC_B_SQWE);
	r->s.cmos[RTC_REG_C] = 0;
	pthread_mutex_unlock(&r->lock);
}

static void rtc_save(void *dev, void *state)
{
	struct rtc *r = dev;

	pthread_mutex_lock(&r->lock);
	memcpy(state, &r->s, sizeof(r->s));
	pthread_mutex_unlock(&r->lock);
}

static int check_state(const struct rtc_state *s, struct vmon_error *err)
{
	for (size_t i = 0; i < sizeof(s->reserved); i++)
		if (s->reserved[i])
			return error_set(err, -EINVAL, "rtc state: reserved[%zu] is 0x%02x, not 0", i, s->reserved[i]);
	if (s->offset_s < -RTC_TIME_LIMIT_S || s->offset_s > RTC_TIME_LIMIT_S)
		return error_set(err, -EINVAL, "rtc state: offset_s %lld is beyond +-2^40 s", (long long)s->offset_s);
	if (s->last_tick_s < -RTC_TICK_LIMIT_S || s->last_tick_s > RTC_TICK_LIMIT_S)
		return error_set(err, -EINVAL, "rtc state: last_tick_s %lld is beyond +-2^41 s",
				 (long long)s->last_tick_s);
	if (s->last_tick_ns < 0 || s->last_tick_ns >= NSEC_PER_SEC)
		return error_set(err, -EINVAL, "rtc state: last_tick_ns %lld is not within a second",
				 (long long)s->last_tick_ns);
	if (s->cmos[RTC_REG_A] & RTC_A_UIP)
		return error_set(err, -EINVAL, "rtc state: register A 0x%02x stores UIP, which is computed",
				 s->cmos[RTC_REG_A]);
	if (s->cmos[RTC_REG_C] & 0x0f)
		return error_set(err, -EINVAL, "rtc state: register C 0x%02x has bits 3:0 set", s->cmos[RTC_REG_C]);
	if (s->cmos[RTC_REG_D] != RTC_D_VRT)
		return error_set(err, -EINVAL, "rtc state: register D 0x%02x is not 0x%02x (read-only)",
				 s->cmos[RTC_REG_D], RTC_D_VRT);
	/* The index, registers B and the time/alarm bytes and the CMOS RAM take any value the guest writes. */
	return 0;
}

static int rtc_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct rtc *r = dev;
	struct rtc_state s;

	memcpy(&s, state, sizeof(s));
	if (check_state(&s, err))
		return -EINVAL;
	/* Nothing is derived: time registers and flags are computed from these on each access. */
	pthread_mutex_lock(&r->lock);
	r->s = s;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static void rtc_destroy_dev(void *dev)
{
	rtc_destroy(dev);
}

const struct device_ops rtc_device_ops = {
	.kind = "rtc-mc146818",
	.state_version = RTC_STATE_VERSION,
	.state_size = sizeof(struct rtc_state),
	.reset = rtc_reset,
	.save = rtc_save,
	.restore = rtc_restore,
	.destroy = rtc_destroy_dev,
};
