/* SPDX-License-Identifier: MIT */
#include "base/io_bus.h"

#include <errno.h>
#include <string.h>

void io_bus_init(struct io_bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
}

int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, const char *name,
		    io_access_fn access, void *dev, struct vmon_error *err)
{
	unsigned pos;

	if (bus->frozen)
		return error_set(err, -EBUSY, "%s bus is frozen while vCPUs may run: cannot register %s", bus->name,
				 name);
	if (len == 0 || base + len - 1 < base)
		return error_set(err, -EINVAL, "%s range %s at 0x%llx length 0x%llx is empty or wraps",
				 bus->name, name, (unsigned long long)base, (unsigned long long)len);
	if (bus->nranges == IO_BUS_MAX_RANGES)
		return error_set(err, -ENOSPC, "%s bus is full (%d ranges) registering %s", bus->name,
				 IO_BUS_MAX_RANGES, name);
	for (pos = 0; pos < bus->nranges; pos++) {
		const struct io_range *r = &bus->ranges[pos];
		if (base <= r->base + r->len - 1 && r->base <= base + len - 1)
			return error_set(err, -EEXIST, "%s range %s at 0x%llx overlaps %s at 0x%llx", bus->name,
					 name, (unsigned long long)base, r->name, (unsigned long long)r->base);
		if (r->base > base)
			break;
	}
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos], (bus->nranges - pos) * sizeof(bus->ranges[0]));
	bus->ranges[pos] = (struct io_range){ .base = base, .len = len, .name = name, .access = access, .dev = dev };
	bus->nranges++;
	return 0;
}

int io_bus_unregister(struct io_bus *bus, uint64_t base, const void *dev, struct vmon_error *err)
{
	if (bus->frozen)
		return error_set(err, -EBUSY, "%s bus is frozen while vCPUs may run: cannot unregister 0x%llx",
				 bus->name, (unsigned long long)base);
	for (unsigned pos = 0; pos < bus->nranges; pos++) {
		if (bus->ranges[pos].base != base || bus->ranges[pos].dev != dev)
			continue;
		memmove(&bus->ranges[pos], &bus->ranges[pos + 1], (bus->nranges - pos - 1) * sizeof(bus->ranges[0]));
		bus->nranges--;
		return 0;
	}
	return error_set(err, -ENOENT, "%s bus has no range at 0x%llx for that device", bus->name,
			 (unsigned long long)base);
}

const struct io_range *io_bus_find(const struct io_bus *bus, uint64_t addr)
{
	unsigned lo = 0, hi = bus->nranges;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct io_range *r = &bus->ranges[mid];

		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

bool io_bus_access(const struct io_bus *bus, uint64_t addr, uint8_t *data, unsigned size, bool is_write)
{
	const struct io_range *r = io_bus_find(bus, addr);

	if (!r) {
		if (!is_write)
			memset(data, 0xff, size);
		return false;
	}
	r->access(r->dev, addr - r->base, data, size, is_write);
	return true;
}
