/* SPDX-License-Identifier: MIT */
#ifndef VMON_VMM_DIRTY_H
#define VMON_VMM_DIRTY_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "vmm/vm.h"

/*
 * Which pages of guest RAM were written: what live migration's pre-copy
 * rounds resend. One bit per 4 KiB page, in the order of guest RAM's one
 * contiguous host range (low region, then high): (ram_size/4096+63)/64
 * 64-bit words.
 */
int vm_dirty_log_start(struct vm *vm, struct vmon_error *err);
/*
 * ORs into bitmap every page written since start or the last fetch, guest
 * and vmon's devices alike, and clears the logs.
 */
int vm_dirty_log_fetch(struct vm *vm, uint64_t *bitmap, struct vmon_error *err);
void vm_dirty_log_stop(struct vm *vm);
bool vm_dirty_log_active(const struct vm *vm);

#endif
