/* SPDX-License-Identifier: MIT */
#ifndef VMON_DEBUG_EXIT_H
#define VMON_DEBUG_EXIT_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "base/error.h"

/*
 * QEMU isa-debug-exit compatible port: writing value v stops the VM with exit
 * status (v << 1) | 1, so a test guest can report pass/fail without a
 * console. The device has no guest-visible state (nothing to snapshot).
 */

#define DEBUG_EXIT_PORT 0xf4

/* Plain data (the snapshot): nothing the guest can observe, one reserved word. */
#define DEBUG_EXIT_STATE_VERSION 1

struct debug_exit_state {
	uint32_t reserved;   /* zero */
};

struct debug_exit {
	const struct device_host *host;
	uint16_t port;
	unsigned iosize;
};

/* The status vmon stops with for a write of value (truncated to 32 bits, like the value). */
static inline int debug_exit_status(uint32_t value)
{
	return (int)((value << 1) | 1u);
}

/* Registers iosize (1, 2, 3 or 4) ports at port on host->pio. */
int debug_exit_init(struct debug_exit *d, const struct device_host *host, uint16_t port, unsigned iosize,
		    struct vmon_error *err);

/*
 * io_access_fn. A write of 1..4 bytes (little endian) at any offset requests
 * VM_STOP_DEBUG_EXIT with debug_exit_status(value); reads return all ones.
 */
void debug_exit_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write);

/*
 * The device model (kind "debug-exit", state struct debug_exit_state). The
 * device has no guest-visible state: the state is one reserved word (zero),
 * so the registry covers it like every other device. reset and restore change
 * nothing; no mutable state, so no lock: concurrent writes each request a
 * stop, and the host's request_stop must take concurrent callers.
 */
extern const struct device_ops debug_exit_device_ops;
/* Its bus resources: ports port..port+iosize-1. Returns 1. */
unsigned debug_exit_resources(const struct debug_exit *d, struct device_resource res[DEVICE_MAX_RESOURCES]);

#endif
