/* SPDX-License-Identifier: MIT */
#ifndef VMON_TEST_FAKE_HOST_H
#define VMON_TEST_FAKE_HOST_H

#include <stdint.h>

#include "devices/device.h"

#define FAKE_HOST_GSIS 16

/*
 * The machine a device under test is plugged into: a port I/O bus, and a
 * record of the interrupt levels and stop requests the device asked for.
 * .host points into the struct, so it must stay where fake_host_init() saw it.
 */
struct fake_host {
	struct io_bus pio;
	struct device_host host;      /* what the device is given */
	int irq[FAKE_HOST_GSIS];      /* last level driven on each GSI */
	int irq_sets;                 /* set_irq calls, any GSI */
	int stops;                    /* request_stop calls */
	enum vm_stop_reason reason;   /* of the last stop request */
	int status;                   /* its exit status */
	/* When set, a set_irq / request_stop call fails the test with this message. */
	const char *irq_forbidden;
	const char *stop_forbidden;
};

void fake_host_init(struct fake_host *h);

/* One-byte port accesses that must reach a device (the test fails if no device owns port). */
uint8_t fake_host_inb(struct fake_host *h, uint16_t port);
void fake_host_outb(struct fake_host *h, uint16_t port, uint8_t v);

#endif
