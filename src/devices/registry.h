/* SPDX-License-Identifier: MIT */
#ifndef VMON_DEVICES_REGISTRY_H
#define VMON_DEVICES_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "devices/device.h"

/*
 * The machine's devices, in the order they were added: the one place that
 * resets, pauses, resumes, saves, restores and destroys them. Pause and
 * destroy go in reverse order (a device added later may depend on an
 * earlier one), everything else in order.
 *
 * Saved states are a byte string of sections, one per device in registry
 * order: a struct registry_section header, then state_size bytes of the
 * device's state struct. registry_restore() checks every header (name, kind,
 * version, size; every device present, none twice, nothing left over) before
 * it restores any device, so a mismatched string changes nothing.
 */
#define REGISTRY_MAX_DEVICES 48

struct device_registry {
	unsigned count;
	struct device devices[REGISTRY_MAX_DEVICES];
};

struct registry_section {
	char name[DEVICE_NAME_MAX];   /* NUL-padded */
	char kind[DEVICE_NAME_MAX];
	uint32_t version;
	uint32_t size;                /* bytes of state that follow */
};

void registry_init(struct device_registry *reg);

/*
 * Adds a device (name unique, ops complete: kind, state_size, reset, save,
 * restore). res: its bus resources, nres <= DEVICE_MAX_RESOURCES. The
 * registry owns it from now on: registry_destroy() calls ops->destroy.
 * 0, -EEXIST, -ENOSPC or -EINVAL (err names the device).
 */
int registry_add(struct device_registry *reg, const char *name, const struct device_ops *ops, void *dev,
		 const struct device_resource *res, unsigned nres, struct vmon_error *err);

/* The device called name, or NULL. */
struct device *registry_find(struct device_registry *reg, const char *name);

void registry_reset(struct device_registry *reg);
void registry_pause(struct device_registry *reg);    /* reverse order */
void registry_resume(struct device_registry *reg);
void registry_destroy(struct device_registry *reg);  /* reverse order; the registry is empty afterwards */

/* Bytes registry_save() writes for the devices registered now. */
size_t registry_state_size(const struct device_registry *reg);

/* Writes every device's section into buf (size >= registry_state_size()). Returns the bytes written. */
size_t registry_save(struct device_registry *reg, void *buf, size_t size);

/* Restores every device from a string registry_save() wrote. 0, or -EINVAL with err naming the problem. */
int registry_restore(struct device_registry *reg, const void *buf, size_t size, struct vmon_error *err);

#endif
