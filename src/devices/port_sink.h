/* SPDX-License-Identifier: MIT */
#ifndef VMON_PORT_SINK_H
#define VMON_PORT_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"
#include "base/error.h"

/*
 * Absorbs I/O ports that Linux and firmware-style code touch on every PC but
 * that vmon has no device behind, so they are not reported as unknown: writes
 * are dropped, reads return all ones (an empty ISA bus). The ports of the
 * in-kernel PIC, ELCR and PIT are deliberately absent: KVM answers them
 * before they reach userspace. No guest-visible state.
 */

struct port_sink_range {
	uint16_t base;
	uint16_t len;
	const char *name;
	const char *reason; /* why a guest touches it and why all ones is right */
};

/* Plain data (the snapshot): nothing the guest can observe, one reserved word. */
#define PORT_SINK_STATE_VERSION 1

struct port_sink_state {
	uint32_t reserved;   /* zero */
};

struct port_sink {
	const struct device_host *host;
	bool without_pci_config;   /* set before init: a PCI host bridge owns 0xcf8-0xcff */
};

/* The ranges, sorted by port. */
const struct port_sink_range *port_sink_ranges(size_t *count);

/* Registers every range on host->pio. */
int port_sink_init(struct port_sink *ps, const struct device_host *host, struct vmon_error *err);

/* io_access_fn: reads fill data with 0xff, writes are ignored. */
void port_sink_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write);

/*
 * The device model (kind "port-sink", state struct port_sink_state). No
 * guest-visible state: the state is one reserved word (zero), so the registry
 * covers it like every other device. Nothing mutable, so no lock.
 */
extern const struct device_ops port_sink_device_ops;
/* Its bus resources: every range of port_sink_ranges(). Returns how many (10). */
unsigned port_sink_resources(const struct port_sink *ps, struct device_resource res[DEVICE_MAX_RESOURCES]);

#endif
