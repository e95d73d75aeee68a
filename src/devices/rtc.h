/* SPDX-License-Identifier: MIT */
#ifndef VMON_RTC_H
#define VMON_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "devices/device.h"
#include "base/error.h"

/*
 * MC146818 CMOS real-time clock and its 128 bytes of CMOS RAM behind the
 * index/data pair 0x70/0x71. The clock is the host's UTC wall clock plus an
 * offset the guest sets by writing the time registers. Interrupt flags in
 * register C are computed when the guest looks (polled), but IRQ 8 is never
 * raised: the device has no timer to raise it on time. See docs/devices.md.
 */

#define RTC_PORT_INDEX 0x70
#define RTC_PORT_DATA  0x71
#define RTC_NPORTS     2
#define RTC_CMOS_SIZE  128
#define RTC_IRQ        8 /* ISA line of the RTC on a PC */

/* Register indices. */
enum {
	RTC_SECONDS = 0x00,
	RTC_SECONDS_ALARM = 0x01,
	RTC_MINUTES = 0x02,
	RTC_MINUTES_ALARM = 0x03,
	RTC_HOURS = 0x04,
	RTC_HOURS_ALARM = 0x05,
	RTC_DAY_OF_WEEK = 0x06, /* 1 = Sunday */
	RTC_DAY_OF_MONTH = 0x07,
	RTC_MONTH = 0x08,
	RTC_YEAR = 0x09,        /* two digits */
	RTC_REG_A = 0x0a,
	RTC_REG_B = 0x0b,
	RTC_REG_C = 0x0c,
	RTC_REG_D = 0x0d,
	RTC_CENTURY = 0x32,     /* the PC/ACPI convention */
};

#define RTC_A_UIP     0x80 /* update in progress */
#define RTC_A_DV_MASK 0x70 /* divider select */
#define RTC_A_DV_32K  0x20 /* 32.768 kHz time base: the clock runs */
#define RTC_A_RS_MASK 0x0f /* periodic rate select */

#define RTC_B_SET   0x80 /* freeze updates so the guest can set the time */
#define RTC_B_PIE   0x40
#define RTC_B_AIE   0x20
#define RTC_B_UIE   0x10
#define RTC_B_SQWE  0x08
#define RTC_B_DM    0x04 /* 1 = binary, 0 = BCD */
#define RTC_B_24H   0x02 /* 1 = 24-hour, 0 = 12-hour with PM in bit 7 of hours */
#define RTC_B_DSE   0x01

#define RTC_C_IRQF  0x80
#define RTC_C_PF    0x40
#define RTC_C_AF    0x20
#define RTC_C_UF    0x10

#define RTC_D_VRT   0x80 /* valid RAM and time: the battery is fine */

#define RTC_HOURS_PM 0x80

/* Where the clock reads its time; CLOCK_REALTIME unless a test injects one. */
typedef void (*rtc_time_fn)(void *ctx, struct timespec *now);

/*
 * Guest-visible state; plain data (the snapshot), 160 bytes, no implicit
 * padding. The clock is kept as an offset from the host's UTC wall clock, so
 * a restored guest's RTC reads the host's time plus the same offset: it has
 * kept running while the VM was saved, like the battery-backed chip.
 */
#define RTC_STATE_VERSION 1

struct rtc_state {
	int64_t offset_s;           /* guest seconds minus host UTC seconds */
	int64_t last_tick_s;        /* guest time when the C flags were last brought up to date */
	int64_t last_tick_ns;       /* 0 .. 999999999 */
	uint8_t cmos[RTC_CMOS_SIZE]; /* time bytes hold the frozen time while SET */
	uint8_t index;              /* last byte written to 0x70 (bit 7 is the NMI mask, not part of the index) */
	uint8_t reserved[7];        /* zero */
};

struct rtc {
	struct rtc_state s;
	const struct device_host *host;
	rtc_time_fn now;
	void *now_ctx;
	pthread_mutex_t lock; /* the index/data pair is shared state; vCPU threads, save and restore take it */
};

/* Resets the RTC and registers ports 0x70-0x71 on host->pio. now may be NULL for the host clock. */
int rtc_init(struct rtc *r, const struct device_host *host, rtc_time_fn now, void *now_ctx,
	     struct vmon_error *err);
void rtc_destroy(struct rtc *r);

/* io_access_fn for 0x70-0x71. Wider accesses act on the first byte; reads fill the rest with 0xff. */
void rtc_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write);

/*
 * The device model (kind "rtc-mc146818", state struct rtc_state) for the
 * object rtc_init() set up. reset acts like the chip's RESET pin on a machine
 * reset: the interrupt enables (PIE, AIE, UIE, SQWE) and register C clear;
 * the time, its format, the divider and the CMOS RAM are battery-backed and
 * stay. restore checks every field (read-only bits, register D, the time base
 * within what the registers can express). No pause/resume: there is no timer
 * and IRQ 8 is never raised, so nothing runs on its own; the clock is a wall
 * clock and keeps time across a pause.
 */
extern const struct device_ops rtc_device_ops;
/*
 * Its bus resources: ports 0x70-0x71 and line 8, the RTC's on a PC (claimed
 * though never raised, so no other device is given it). Returns 2.
 */
unsigned rtc_resources(const struct rtc *r, struct device_resource res[DEVICE_MAX_RESOURCES]);

#endif
