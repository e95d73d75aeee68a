/* SPDX-License-Identifier: MIT */
#ifndef VMON_DEVICE_H
#define VMON_DEVICE_H

#include <stdint.h>

#include <stdbool.h>

#include "base/guest_mem.h"
#include "base/io_bus.h"

/*
 * What a device may ask of the machine it is plugged into. Devices never see
 * struct vm: this narrow interface is all they get, so unit tests can plug a
 * device into fakes.
 */
enum vm_stop_reason {
	VM_STOP_NONE = 0,
	VM_STOP_RESET,      /* guest asked for a reset (i8042 0xFE, triple fault is separate) */
	VM_STOP_POWER_OFF,  /* guest powered off */
	VM_STOP_DEBUG_EXIT, /* guest wrote the debug-exit port */
	VM_STOP_USER,       /* Ctrl-A x, SIGINT, SIGTERM */
	VM_STOP_ERROR,      /* the monitor or KVM failed */
};

struct device_host {
	struct io_bus *pio;
	struct io_bus *mmio;
	/* Drive an interrupt line (GSI) to level 0 or 1. */
	void (*set_irq)(void *ctx, unsigned gsi, int level);
	/* Ask the VM to stop; exit_status is vmon's process exit status. */
	void (*request_stop)(void *ctx, enum vm_stop_reason reason, int exit_status);
	/*
	 * Optional (NULL: unavailable; devices fall back to set_irq / their own
	 * MMIO handler). add_irqfd: writing 1 to fd raises an edge on gsi (KVM
	 * irqfd). add_ioeventfd: a `len`-byte guest write of `value` to MMIO
	 * address addr signals fd without an exit to vmon (KVM ioeventfd with
	 * datamatch). Both return 0 or a negative errno.
	 */
	int (*add_irqfd)(void *ctx, unsigned gsi, int fd);
	void (*remove_irqfd)(void *ctx, unsigned gsi, int fd);
	int (*add_ioeventfd)(void *ctx, uint64_t addr, unsigned len, uint64_t value, int fd);
	void (*remove_ioeventfd)(void *ctx, uint64_t addr, unsigned len, uint64_t value, int fd);
	/* Guest RAM, for devices that DMA (virtio). */
	const struct guest_mem *mem;
	void *ctx;
};

static inline void device_set_irq(const struct device_host *host, unsigned gsi, int level)
{
	host->set_irq(host->ctx, gsi, level);
}

static inline void device_request_stop(const struct device_host *host, enum vm_stop_reason reason, int status)
{
	host->request_stop(host->ctx, reason, status);
}

#endif
