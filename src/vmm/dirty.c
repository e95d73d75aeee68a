/* SPDX-License-Identifier: MIT */
/*
 * TEMPORARY stand-in for the dirty page log (src/vmm/dirty.h), so that live
 * migration builds and runs before the real log (KVM's dirty log plus vmon's
 * own device writes) is merged: it reports EVERY page dirty at every fetch.
 * Correct (nothing written is ever missed) but slow: a pre-copy round then
 * never shrinks, so the migration goes to its final round after the
 * non-converging rounds (docs/MIGRATION.md) and the downtime covers a scan
 * of all of RAM. Replaced whole by the real implementation at merge time.
 */
#include "vmm/dirty.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#define DIRTY_STUB_MAX_VMS 8

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const struct vm *active[DIRTY_STUB_MAX_VMS];

static int slot_of(const struct vm *vm)
{
	for (int i = 0; i < DIRTY_STUB_MAX_VMS; i++)
		if (active[i] == vm)
			return i;
	return -1;
}

int vm_dirty_log_start(struct vm *vm, struct vmon_error *err)
{
	int r = 0;

	pthread_mutex_lock(&lock);
	if (slot_of(vm) < 0) {
		int free_slot = slot_of(NULL);
		if (free_slot < 0)
			r = error_set(err, -EBUSY, "dirty page log: too many VMs logging at once");
		else
			active[free_slot] = vm;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

int vm_dirty_log_fetch(struct vm *vm, uint64_t *bitmap, struct vmon_error *err)
{
	uint64_t pages = vm->mem.ram_size / 4096;

	if (!vm_dirty_log_active(vm))
		return error_set(err, -EINVAL, "dirty page log: not started");
	memset(bitmap, 0xff, (size_t)(pages / 64) * sizeof(uint64_t));
	if (pages % 64)
		bitmap[pages / 64] |= (1ull << (pages % 64)) - 1;
	return 0;
}

void vm_dirty_log_stop(struct vm *vm)
{
	pthread_mutex_lock(&lock);
	int i = slot_of(vm);
	if (i >= 0)
		active[i] = NULL;
	pthread_mutex_unlock(&lock);
}

bool vm_dirty_log_active(const struct vm *vm)
{
	pthread_mutex_lock(&lock);
	bool on = slot_of(vm) >= 0;
	pthread_mutex_unlock(&lock);
	return on;
}
