/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_PVH_H
#define VMON_X86_PVH_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/layout.h"
#include "base/error.h"
#include "base/guest_mem.h"

/*
 * Xen PVH boot (a direct 32-bit entry, used by Linux with CONFIG_PVH and by
 * many unikernels). The kernel advertises the entry in an ELF note; the VMM
 * passes struct hvm_start_info in EBX. Layouts follow Xen's public ABI,
 * xen/include/public/arch-x86/hvm/start_info.h (all fields little-endian).
 */
#define XEN_ELFNOTE_PHYS32_ENTRY 18       /* owner "Xen", desc: 32-bit physical entry */
#define XEN_HVM_START_MAGIC_VALUE 0x336ec578
#define XEN_HVM_START_INFO_VERSION 1      /* version 1 adds the memory map */

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;            /* SIF_xxx; 0 for an unprivileged guest */
	uint32_t nr_modules;
	uint64_t modlist_paddr;    /* array of struct hvm_modlist_entry */
	uint64_t cmdline_paddr;    /* NUL-terminated */
	uint64_t rsdp_paddr;
	/* version 1 and newer */
	uint64_t memmap_paddr;     /* array of struct hvm_memmap_table_entry */
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;             /* XEN_HVM_MEMMAP_TYPE_*, the ACPI/e820 types */
	uint32_t reserved;
};

static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info is 56 bytes (ABI)");
static_assert(offsetof(struct hvm_start_info, memmap_paddr) == 40, "memmap_paddr at 40 (ABI)");
static_assert(offsetof(struct hvm_start_info, memmap_entries) == 48, "memmap_entries at 48 (ABI)");
static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry is 32 bytes (ABI)");
static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry is 24 bytes (ABI)");

#define XEN_HVM_MEMMAP_TYPE_RAM      1
#define XEN_HVM_MEMMAP_TYPE_RESERVED 2

/* Where the pieces go: start info, then the module list, then the memory map. */
#define PVH_MODLIST_ADDR (X86_PVH_START_INFO_ADDR + sizeof(struct hvm_start_info))
#define PVH_MAX_MODULES 1          /* the initrd */
#define PVH_MEMMAP_ADDR (PVH_MODLIST_ADDR + PVH_MAX_MODULES * sizeof(struct hvm_modlist_entry))

/*
 * Writes hvm_start_info at X86_PVH_START_INFO_ADDR with the command line
 * address, the initrd as module 0 when initrd_size > 0, the ACPI RSDP
 * address (0: none) and the guest's memory map. Returns 0 or a negative errno.
 */
int pvh_write_start_info(const struct guest_mem *mem, uint64_t cmdline_addr, uint64_t initrd_addr,
			 uint64_t initrd_size, uint64_t rsdp_addr, struct vmon_error *err);

#endif
