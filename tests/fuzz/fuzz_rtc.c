/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the MC146818 RTC and CMOS RAM (src/devices/rtc.c):
 * a hostile guest's index/data accesses of any size and value, a host clock
 * that jumps anywhere in 0 .. 2^36 s (forwards and backwards), resets, and
 * restores from hostile snapshot bytes.
 *
 * Input: 4-byte operations [op, a, b, c]:
 *   op % 8  0 write index b   1 write data b   2 read data   3 read index
 *           4 host clock += (a << 16 | b << 8 | c) ms   5 host clock = (a << 16 | b << 8 | c) << 12 s
 *           6 restore from the next 160 input bytes      7 reset
 * Checked after each: the state reached is one restore accepts
 * (devices/device.h; the time base stays within its limits whatever the
 * guest writes); register C's low bits stay 0 and D reads 0x80; the index
 * register reads 0xff; CMOS RAM bytes (0x0e-0x7f but the century) and the
 * alarm bytes read back what was last written; reading C twice with the
 * clock standing still gives 0 the second time.
 */
#include "fuzz_device.h"

#include "devices/rtc.h"

struct side {
	struct fake_host h;
	struct rtc r;
};

static struct timespec host_clock;

static void fake_now(void *ctx, struct timespec *now)
{
	(void)ctx;
	*now = host_clock;
}

static void side_init(struct side *s)
{
	struct vmon_error err = { 0 };

	fake_host_init(&s->h, NULL);
	if (rtc_init(&s->r, &s->h.host, fake_now, NULL, &err)) {
		fprintf(stderr, "fuzz_rtc: set-up: %s\n", err.msg);
		abort();
	}
}

/* Bytes stored as written whatever the mode: the alarm, and RAM past the clock registers. */
static bool plain_byte(unsigned idx)
{
	return idx == RTC_SECONDS_ALARM || idx == RTC_MINUTES_ALARM || idx == RTC_HOURS_ALARM ||
	       (idx > RTC_REG_D && idx != RTC_CENTURY);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct side a, twin;
	const struct device_ops *ops = &rtc_device_ops;
	bool c_read = false; /* the last operation read register C and the clock has not moved since */

	host_clock = (struct timespec){ .tv_sec = 1700000000, .tv_nsec = 0 };
	side_init(&a);
	side_init(&twin);
	for (size_t at = 0; at + 4 <= size; at += 4) {
		const uint8_t *op = data + at;
		uint32_t arg = (uint32_t)op[1] << 16 | (uint32_t)op[2] << 8 | op[3];
		unsigned idx = a.r.s.index & 0x7f;
		uint8_t buf = op[2];
		bool was_c_read = c_read;

		c_read = false;
		switch (op[0] % 8) {
		case 0:
			io_bus_access(&a.h.pio, RTC_PORT_INDEX, &buf, 1, true);
			break;
		case 1:
			io_bus_access(&a.h.pio, RTC_PORT_DATA, &buf, 1, true);
			if (plain_byte(idx))
				FUZZ_CHECK(a.r.s.cmos[idx] == op[2]);
			break;
		case 2: {
			uint8_t expect = a.r.s.cmos[idx];
			io_bus_access(&a.h.pio, RTC_PORT_DATA, &buf, 1, false);
			if (plain_byte(idx))
				FUZZ_CHECK(buf == expect);
			if (idx == RTC_REG_D)
				FUZZ_CHECK(buf == RTC_D_VRT);
			if (idx == RTC_REG_C) {
				FUZZ_CHECK(!(buf & 0x0f));
				if (was_c_read)
					FUZZ_CHECK(buf == 0);
				c_read = true;
			}
			break;
		}
		case 3: {
			uint8_t w[4] = { 0 };
			io_bus_access(&a.h.pio, RTC_PORT_INDEX, w, 1 + op[3] % 4, false);
			FUZZ_CHECK(w[0] == 0xff);
			c_read = was_c_read;
			break;
		}
		case 4:
			host_clock.tv_sec += arg / 1000;
			host_clock.tv_nsec += (long)(arg % 1000) * 1000000;
			if (host_clock.tv_nsec >= 1000000000) {
				host_clock.tv_nsec -= 1000000000;
				host_clock.tv_sec++;
			}
			break;
		case 5:
			host_clock.tv_sec = (time_t)arg << 12;
			break;
		case 6:
			if (at + 4 + ops->state_size > size)
				goto out;
			fuzz_restore(ops, &a.r, &twin.r, data + at + 4);
			at += ops->state_size;
			break;
		default:
			ops->reset(&a.r);
			break;
		}
		FUZZ_CHECK(!(a.r.s.cmos[RTC_REG_C] & 0x0f));
		check_restorable(ops, &a.r, &twin.r);
	}
out:
	ops->destroy(&a.r);
	ops->destroy(&twin.r);
	return 0;
}
