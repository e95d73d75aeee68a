/* SPDX-License-Identifier: MIT */
#ifndef VMON_VMM_DIRTY_H
#define VMON_VMM_DIRTY_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

struct vm;

/*
 * Dirty-page tracking of a VM's guest RAM, for diff snapshots and live
 * migration: the guest's writes from KVM's dirty log (KVM_MEM_LOG_DIRTY_PAGES
 * on every RAM memslot), vmon's own writes (virtio rings and buffers, the
 * instruction emulator) from guest_mem's written bitmap.
 *
 * Bitmaps have one bit per 4 KiB page of guest RAM: bit i = RAM offset
 * i*4096 in the one contiguous host range (low region, then high region),
 * guest_mem_bitmap_words(&vm->mem) = (ram_size/4096 + 63)/64 words.
 *
 * Not thread-safe against itself: one thread (the API's, or the migration's)
 * starts, fetches and stops; the VM may run meanwhile.
 */

/* Starts tracking: KVM_MEM_LOG_DIRTY_PAGES on every guest RAM memslot and device-write tracking. */
int vm_dirty_log_start(struct vm *vm, struct vmon_error *err);

/*
 * ORs into bitmap every page written since start or the last fetch, by the
 * guest (KVM_GET_DIRTY_LOG per slot, mapped from GPA to RAM offset) and by
 * vmon's devices, and clears both logs. -EINVAL when tracking is off.
 */
int vm_dirty_log_fetch(struct vm *vm, uint64_t *bitmap, struct vmon_error *err);

/* Stops tracking (the memslots lose the flag); nothing when it is off. */
void vm_dirty_log_stop(struct vm *vm);

bool vm_dirty_log_active(const struct vm *vm);

#endif
