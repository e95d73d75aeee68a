/* SPDX-License-Identifier: MIT */
#ifndef VMON_BOOT_TIMER_H
#define VMON_BOOT_TIMER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "devices/device.h"
#include "base/error.h"

/*
 * Boot-timing port, like Firecracker's boot timer: the guest writes a marker
 * when it reaches a milestone (vmon's initramfs writes BOOT_TIMER_INIT_REACHED
 * from /init) and vmon records how long after its own start that happened,
 * for --stats and benchmarks. Port 0x440 is free on QEMU's pc machine too
 * (0x510-0x51b is fw_cfg, 0x505 pvpanic), so the same initramfs runs on both.
 */
#define BOOT_TIMER_PORT 0x440
#define BOOT_TIMER_INIT_REACHED 1
#define BOOT_TIMER_MAX_MARKS 8

struct boot_timer_state {
	unsigned nmarks;
	uint8_t value[BOOT_TIMER_MAX_MARKS];
	int64_t elapsed_ns[BOOT_TIMER_MAX_MARKS];  /* since the VM's start */
};

typedef void (*boot_timer_clock_fn)(void *ctx, struct timespec *now);

struct boot_timer {
	struct boot_timer_state s;
	struct timespec start;
	boot_timer_clock_fn clock;   /* CLOCK_MONOTONIC unless a test injects one */
	void *clock_ctx;
};

/* Registers the port; start is the VM's start time on the same clock. */
int boot_timer_init(struct boot_timer *t, const struct device_host *host, const struct timespec *start,
		    boot_timer_clock_fn clock, void *clock_ctx, struct vmon_error *err);

/* io_access_fn: a 1-byte write records a mark (the first BOOT_TIMER_MAX_MARKS are kept); reads return 0xff. */
void boot_timer_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write);

/* Seconds from VM start to the first write of value, or -1 if it never came. */
double boot_timer_seconds(const struct boot_timer *t, uint8_t value);

#endif
