/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_MEMORY_H
#define VMON_X86_MEMORY_H

#include "arch/x86/layout.h"
#include "base/guest_mem.h"

/* Guest RAM of a PC: below the 32-bit MMIO hole, the rest from 4 GiB on. */
static inline int x86_guest_mem_create(struct guest_mem *mem, uint64_t ram_size, struct vmon_error *err)
{
	return guest_mem_create_split(mem, ram_size, X86_MMIO_HOLE_START, X86_HIGH_RAM_START, err);
}

#endif
