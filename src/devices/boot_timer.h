/* SPDX-License-Identifier: MIT */
#ifndef VMON_BOOT_TIMER_H
#define VMON_BOOT_TIMER_H

#include <pthread.h>
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

/*
 * The marks recorded so far; plain data (the snapshot), 80 bytes, no implicit
 * padding. Entries from nmarks on are zero; times are in recording order.
 */
#define BOOT_TIMER_STATE_VERSION 1

struct boot_timer_state {
	int64_t elapsed_ns[BOOT_TIMER_MAX_MARKS];  /* since the VM's start, >= 0 */
	uint32_t nmarks;
	uint8_t value[BOOT_TIMER_MAX_MARKS];
	uint8_t reserved[4];                       /* zero */
};

typedef void (*boot_timer_clock_fn)(void *ctx, struct timespec *now);

struct boot_timer {
	struct boot_timer_state s;
	struct timespec start;
	boot_timer_clock_fn clock;   /* CLOCK_MONOTONIC unless a test injects one */
	void *clock_ctx;
	pthread_mutex_t lock;        /* vCPU threads may write marks at once; save/restore take it too */
	bool announce;               /* log "Guest-boot-time = ..." at the init mark, as Firecracker's --boot-timer */
};

/* Registers the port; start is the VM's start time on the same clock. */
int boot_timer_init(struct boot_timer *t, const struct device_host *host, const struct timespec *start,
		    boot_timer_clock_fn clock, void *clock_ctx, struct vmon_error *err);
/* Frees the mutex; call after no thread can reach the timer any more. */
void boot_timer_destroy(struct boot_timer *t);

/* io_access_fn: a 1-byte write records a mark (the first BOOT_TIMER_MAX_MARKS are kept); reads return 0xff. */
void boot_timer_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write);

/* Seconds from VM start to the first write of value, or -1 if it never came. */
double boot_timer_seconds(struct boot_timer *t, uint8_t value);

/*
 * The device model (kind "boot-timer", state struct boot_timer_state) for the
 * object boot_timer_init() set up. reset forgets the marks (a rebooted guest
 * boots again). restore checks the count, the unused entries, the order and
 * sign of the times. Marks written after a restore count from the restoring
 * vmon's start. No activity of its own (no pause/resume).
 */
extern const struct device_ops boot_timer_device_ops;
/* Its bus resources: port BOOT_TIMER_PORT. Returns 1. */
unsigned boot_timer_resources(const struct boot_timer *t, struct device_resource res[DEVICE_MAX_RESOURCES]);

#endif
