/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_BOOT_PARAMS_H
#define VMON_X86_BOOT_PARAMS_H

#include <asm/bootparam.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/layout.h"
#include "base/error.h"
#include "base/guest_mem.h"

/*
 * The guest's physical memory map (e820 / PVH memmap) and the Linux zero
 * page (struct boot_params from <asm/bootparam.h>, Documentation/x86/zero-page.rst).
 */

/* vmon's own boot structures (GDT .. command line) live below this address. */
#define X86_BOOT_AREA_END (X86_CMDLINE_ADDR + X86_CMDLINE_MAX)

/* ACPI address range types, shared by e820 and the PVH memmap. */
#define E820_TYPE_RAM      1
#define E820_TYPE_RESERVED 2

#define E820_MAX_ENTRIES 5   /* low RAM, EBDA/BIOS hole, RAM above 1 MiB, PCI ECAM, RAM above 4 GiB */

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/* Fills tab (E820_MAX_ENTRIES) from the guest's RAM regions; returns the entry count. */
unsigned e820_build(const struct guest_mem *mem, struct e820_entry *tab);

/*
 * Checks that [gpa, gpa+len) may receive kernel code: inside one RAM entry of
 * the e820 map and clear of vmon's boot area below X86_BOOT_AREA_END.
 * Returns 0 or -EINVAL with a message naming the range and what it hits.
 */
int e820_check_load_range(const struct guest_mem *mem, uint64_t gpa, uint64_t len, struct vmon_error *err);

/* Protocol version vmon reports in a zero page built without a kernel header. */
#define BOOT_PARAMS_MINIMAL_VERSION 0x020f
/* Boot loader id "undefined" (boot.rst, type_of_loader). */
#define BOOT_PARAMS_LOADER_ID 0xff
/* boot.rst sample configuration: heap_end 0xe000, heap_end_ptr = heap_end - 0x200. */
#define BOOT_PARAMS_HEAP_END_PTR (0xe000 - 0x200)
/* The end of the setup header is bounded by the next zero-page field (0x290). */
#define BOOT_PARAMS_HDR_MAX_END offsetof(struct boot_params, edd_mbr_sig_buffer)

/*
 * Starts a zero page from a kernel's setup header: zeroes bp and copies image
 * bytes [0x1f1, hdr_end) (boot.rst "64-bit boot protocol"). hdr_end must be
 * within the image and <= BOOT_PARAMS_HDR_MAX_END.
 */
void boot_params_from_header(struct boot_params *bp, const uint8_t *image, size_t hdr_end);

/* Starts a zero page for a kernel without a setup header (plain ELF vmlinux). */
void boot_params_minimal(struct boot_params *bp);

/*
 * Fills what the boot loader writes: loader id, heap, vid_mode, command line
 * pointer, initrd (low and ext_ high halves), and the e820 table.
 */
void boot_params_set(struct boot_params *bp, const struct guest_mem *mem, uint64_t cmdline_addr,
		     uint64_t initrd_addr, uint64_t initrd_size);

#endif
