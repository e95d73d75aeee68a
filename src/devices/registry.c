/* SPDX-License-Identifier: MIT */
#include "devices/registry.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void registry_init(struct device_registry *reg)
{
	memset(reg, 0, sizeof(*reg));
}

int registry_add(struct device_registry *reg, const char *name, const struct device_ops *ops, void *dev,
		 const struct device_resource *res, unsigned nres, struct vmon_error *err)
{
	if (!name || !name[0] || strlen(name) >= DEVICE_NAME_MAX)
		return error_set(err, -EINVAL, "device name '%s' must be 1 to %d characters", name ? name : "",
				 DEVICE_NAME_MAX - 1);
	if (!ops || !ops->kind || strlen(ops->kind) >= DEVICE_NAME_MAX || !ops->reset || !ops->save ||
	    !ops->restore || !ops->state_size)
		return error_set(err, -EINVAL, "device %s: incomplete device_ops", name);
	if (nres > DEVICE_MAX_RESOURCES)
		return error_set(err, -EINVAL, "device %s: %u resources, at most %d", name, nres,
				 DEVICE_MAX_RESOURCES);
	if (registry_find(reg, name))
		return error_set(err, -EEXIST, "device %s is registered twice", name);
	if (reg->count >= REGISTRY_MAX_DEVICES)
		return error_set(err, -ENOSPC, "device %s: the registry is full (%d devices)", name,
				 REGISTRY_MAX_DEVICES);
	struct device *d = &reg->devices[reg->count++];
	memset(d, 0, sizeof(*d));
	strcpy(d->name, name);
	d->ops = ops;
	d->dev = dev;
	d->nres = nres;
	if (nres)
		memcpy(d->res, res, nres * sizeof(*res));
	return 0;
}

struct device *registry_find(struct device_registry *reg, const char *name)
{
	for (unsigned i = 0; i < reg->count; i++)
		if (!strcmp(reg->devices[i].name, name))
			return &reg->devices[i];
	return NULL;
}

void registry_reset(struct device_registry *reg)
{
	for (unsigned i = 0; i < reg->count; i++)
		reg->devices[i].ops->reset(reg->devices[i].dev);
}

void registry_pause(struct device_registry *reg)
{
	for (unsigned i = reg->count; i-- > 0;)
		if (reg->devices[i].ops->pause)
			reg->devices[i].ops->pause(reg->devices[i].dev);
}

void registry_resume(struct device_registry *reg)
{
	for (unsigned i = 0; i < reg->count; i++)
		if (reg->devices[i].ops->resume)
			reg->devices[i].ops->resume(reg->devices[i].dev);
}

void registry_destroy(struct device_registry *reg)
{
	for (unsigned i = reg->count; i-- > 0;)
		if (reg->devices[i].ops->destroy)
			reg->devices[i].ops->destroy(reg->devices[i].dev);
	reg->count = 0;
}

size_t registry_state_size(const struct device_registry *reg)
{
	size_t n = 0;

	for (unsigned i = 0; i < reg->count; i++)
		n += sizeof(struct registry_section) + reg->devices[i].ops->state_size;
	return n;
}

size_t registry_save(struct device_registry *reg, void *buf, size_t size)
{
	uint8_t *p = buf;
	size_t used = 0;

	for (unsigned i = 0; i < reg->count; i++) {
		const struct device *d = &reg->devices[i];
		struct registry_section h;

		if (size - used < sizeof(h) + d->ops->state_size)
			return 0;
		memset(&h, 0, sizeof(h));
		strcpy(h.name, d->name);
		strcpy(h.kind, d->ops->kind);
		h.version = d->ops->state_version;
		h.size = d->ops->state_size;
		memcpy(p + used, &h, sizeof(h));
		used += sizeof(h);
		memset(p + used, 0, h.size);   /* padding in the state struct is saved as zeros */
		d->ops->save(d->dev, p + used);
		used += h.size;
	}
	return used;
}

/* A NUL-terminated field of at most max - 1 characters. */
static bool field_is_string(const char *field, size_t max)
{
	return memchr(field, '\0', max) != NULL;
}

int registry_restore(struct device_registry *reg, const void *buf, size_t size, struct vmon_error *err)
{
	const uint8_t *p = buf;
	size_t offsets[REGISTRY_MAX_DEVICES];
	size_t used = 0;

	/* Pass 1: every section matches a device, in order, with its kind, version and size. */
	for (unsigned i = 0; i < reg->count; i++) {
		const struct device *d = &reg->devices[i];
		struct registry_section h;

		if (size - used < sizeof(h))
			return error_set(err, -EINVAL, "saved device state ends before device %s (%zu bytes)", d->name,
					 size);
		memcpy(&h, p + used, sizeof(h));
		if (!field_is_string(h.name, sizeof(h.name)) || !field_is_string(h.kind, sizeof(h.kind)))
			return error_set(err, -EINVAL, "saved device state: section %u has an unterminated name", i);
		if (strcmp(h.name, d->name))
			return error_set(err, -EINVAL, "saved device state: section %u is '%s', expected device %s", i,
					 h.name, d->name);
		if (strcmp(h.kind, d->ops->kind))
			return error_set(err, -EINVAL, "saved device state: %s is a %s, this machine's is a %s", d->name,
					 h.kind, d->ops->kind);
		if (h.version != d->ops->state_version)
			return error_set(err, -EINVAL, "saved device state: %s has state version %u, this vmon reads %u",
					 d->name, h.version, d->ops->state_version);
		if (h.size != d->ops->state_size)
			return error_set(err, -EINVAL, "saved device state: %s has %u bytes of state, expected %u",
					 d->name, h.size, d->ops->state_size);
		used += sizeof(h);
		if (size - used < h.size)
			return error_set(err, -EINVAL, "saved device state: %s's state is cut short", d->name);
		offsets[i] = used;
		used += h.size;
	}
	if (used != size)
		return error_set(err, -EINVAL, "saved device state: %zu bytes after the last device", size - used);
	/*
	 * Pass 2: each device checks its own fields before it changes anything;
	 * if one refuses, the devices already restored get their states back
	 * from a copy taken first, so a refused restore changes nothing.
	 */
	size_t backup_size = registry_state_size(reg);
	uint8_t *backup = malloc(backup_size);
	if (!backup)
		return error_set(err, -ENOMEM, "out of memory saving the devices' states before a restore");
	registry_save(reg, backup, backup_size);
	for (unsigned i = 0; i < reg->count; i++) {
		const struct device *d = &reg->devices[i];
		int r = d->ops->restore(d->dev, p + offsets[i], err);

		if (r) {
			error_prefix(err, "restoring %s", d->name);
			struct vmon_error ignored = { 0 };
			for (unsigned j = 0; j < i; j++)
				reg->devices[j].ops->restore(reg->devices[j].dev, backup + offsets[j], &ignored);
			free(backup);
			return r;
		}
	}
	free(backup);
	return 0;
}
