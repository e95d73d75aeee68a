/* SPDX-License-Identifier: MIT */
#ifndef VMON_IO_BUS_H
#define VMON_IO_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

/*
 * An address space (port I/O or MMIO) split into ranges owned by devices.
 * A device says "these addresses are mine" and receives (offset, data, size,
 * is_write). Reads fill data[0..size).
 *
 * Concurrency without a lock on the hot path: the machine freezes its buses
 * before any vCPU runs and thaws them only while every vCPU is stopped
 * (hot-plug, restore). Registering or unregistering a range on a frozen bus
 * is refused (-EBUSY), so lookups from vCPU threads always see a stable table.
 */
typedef void (*io_access_fn)(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write);

struct io_range {
	uint64_t base;
	uint64_t len;
	const char *name;
	io_access_fn access;
	void *dev;
};

#define IO_BUS_MAX_RANGES 64

struct io_bus {
	const char *name;                  /* "pio" or "mmio", for messages */
	unsigned nranges;
	bool frozen;                       /* vCPUs may be running: the table must not change */
	struct io_range ranges[IO_BUS_MAX_RANGES]; /* sorted by base */
};

void io_bus_init(struct io_bus *bus, const char *name);

/*
 * 0, or -EEXIST if it overlaps a registered range, -EINVAL for an empty/wrapping range, -ENOSPC when full,
 * -EBUSY when the bus is frozen.
 */
int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, const char *name,
		    io_access_fn access, void *dev, struct vmon_error *err);

/* Removes the range registered at base for dev. 0, -ENOENT, or -EBUSY when the bus is frozen. */
int io_bus_unregister(struct io_bus *bus, uint64_t base, const void *dev, struct vmon_error *err);

/* Freeze before vCPUs run; thaw only while none runs. */
static inline void io_bus_freeze(struct io_bus *bus) { bus->frozen = true; }
static inline void io_bus_thaw(struct io_bus *bus) { bus->frozen = false; }

/* The range holding addr, or NULL. */
const struct io_range *io_bus_find(const struct io_bus *bus, uint64_t addr);

/*
 * Dispatches one access. Returns false when no device owns addr; the data of
 * an unowned read is set to all ones (what an ISA bus floats to).
 */
bool io_bus_access(const struct io_bus *bus, uint64_t addr, uint8_t *data, unsigned size, bool is_write);

#endif
