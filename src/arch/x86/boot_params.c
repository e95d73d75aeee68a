/* SPDX-License-Identifier: MIT */
#include "arch/x86/boot_params.h"
#include "arch/x86/boot.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

static_assert(sizeof(struct boot_params) == 4096, "zero page is one page");
static_assert(offsetof(struct boot_params, hdr) == 0x1f1, "setup header at 0x1f1 (boot.rst)");
static_assert(offsetof(struct boot_params, e820_table) == 0x2d0, "e820 table at 0x2d0 (zero-page.rst)");
static_assert(E820_MAX_ENTRIES <= E820_MAX_ENTRIES_ZEROPAGE, "e820 map fits the zero page");

unsigned e820_build(const struct guest_mem *mem, struct e820_entry *tab)
{
	uint64_t low_end = guest_mem_low_end(mem);
	unsigned n = 0;

	/* Conventional memory up to the EBDA, then the EBDA + VGA/BIOS hole as reserved. */
	tab[n++] = (struct e820_entry){ 0, X86_EBDA_START, E820_TYPE_RAM };
	tab[n++] = (struct e820_entry){ X86_EBDA_START, X86_BIOS_HOLE_END - X86_EBDA_START, E820_TYPE_RESERVED };
	if (low_end > X86_BIOS_HOLE_END)
		tab[n++] = (struct e820_entry){ X86_BIOS_HOLE_END, low_end - X86_BIOS_HOLE_END, E820_TYPE_RAM };
	/* The PCI ECAM window: Linux uses MMCONFIG only where the firmware reserved it (arch/x86/pci/mmconfig-shared.c). */
	tab[n++] = (struct e820_entry){ X86_PCI_ECAM_BASE, X86_PCI_ECAM_SIZE, E820_TYPE_RESERVED };
	for (unsigned i = 1; i < mem->nregions; i++)
		tab[n++] = (struct e820_entry){ mem->regions[i].gpa, mem->regions[i].size, E820_TYPE_RAM };
	return n;
}

int e820_check_load_range(const struct guest_mem *mem, uint64_t gpa, uint64_t len, struct vmon_error *err)
{
	struct e820_entry tab[E820_MAX_ENTRIES];
	unsigned n = e820_build(mem, tab);
	uint64_t end;

	if (__builtin_add_overflow(gpa, len, &end))
		return error_set(err, -EINVAL, "range 0x%llx + 0x%llx wraps around the address space",
				 (unsigned long long)gpa, (unsigned long long)len);
	if (gpa < X86_BOOT_AREA_END)
		return error_set(err, -EINVAL,
				 "[0x%llx, 0x%llx) overlaps vmon's low boot area [0x0, 0x%llx) "
				 "(GDT, page tables, zero page, command line)",
				 (unsigned long long)gpa, (unsigned long long)end, X86_BOOT_AREA_END);
	for (unsigned i = 0; i < n; i++) {
		uint64_t e_end = tab[i].addr + tab[i].size;

		if (gpa >= e_end || end <= tab[i].addr)
			continue;
		if (tab[i].type != E820_TYPE_RAM)
			return error_set(err, -EINVAL, "[0x%llx, 0x%llx) overlaps the reserved EBDA/BIOS area "
					 "[0x%llx, 0x%llx)", (unsigned long long)gpa, (unsigned long long)end,
					 (unsigned long long)tab[i].addr, (unsigned long long)e_end);
		if (gpa >= tab[i].addr && end <= e_end && guest_mem_contains(mem, gpa, len))
			return 0;
	}
	return error_set(err, -EINVAL, "[0x%llx, 0x%llx) is outside guest RAM (%llu MiB, low RAM ends at 0x%llx)",
			 (unsigned long long)gpa, (unsigned long long)end,
			 (unsigned long long)(mem->ram_size >> 20),
			 (unsigned long long)guest_mem_low_end(mem));
}

void boot_params_from_header(struct boot_params *bp, const uint8_t *image, size_t hdr_end)
{
	size_t start = offsetof(struct boot_params, hdr);

	memset(bp, 0, sizeof(*bp));
	if (hdr_end > BOOT_PARAMS_HDR_MAX_END)
		hdr_end = BOOT_PARAMS_HDR_MAX_END;
	if (hdr_end > start)
		memcpy((uint8_t *)bp + start, image + start, hdr_end - start);
}

void boot_params_minimal(struct boot_params *bp)
{
	memset(bp, 0, sizeof(*bp));
	/* What a kernel reads to trust the header (kvmtool / Firecracker do the same). */
	bp->hdr.boot_flag = 0xaa55;
	bp->hdr.header = 0x53726448;  /* "HdrS" */
	bp->hdr.version = BOOT_PARAMS_MINIMAL_VERSION;
	bp->hdr.loadflags = LOADED_HIGH;
	bp->hdr.kernel_alignment = 0x1000000;
	bp->hdr.initrd_addr_max = BOOT_DEFAULT_INITRD_ADDR_MAX;
	bp->hdr.cmdline_size = X86_CMDLINE_MAX - 1;
}

void boot_params_set(struct boot_params *bp, const struct guest_mem *mem, uint64_t cmdline_addr,
		     uint64_t initrd_addr, uint64_t initrd_size)
{
	struct e820_entry tab[E820_MAX_ENTRIES];
	unsigned n = e820_build(mem, tab);

	bp->hdr.type_of_loader = BOOT_PARAMS_LOADER_ID;
	/* vid_mode is "modify (obligatory)"; 0xffff = "normal" (boot.rst, vga=). */
	bp->hdr.vid_mode = 0xffff;
	bp->hdr.loadflags |= CAN_USE_HEAP;
	bp->hdr.heap_end_ptr = BOOT_PARAMS_HEAP_END_PTR;
	bp->hdr.cmd_line_ptr = (uint32_t)cmdline_addr;
	bp->ext_cmd_line_ptr = (uint32_t)(cmdline_addr >> 32);
	bp->hdr.ramdisk_image = (uint32_t)initrd_addr;
	bp->hdr.ramdisk_size = (uint32_t)initrd_size;
	bp->ext_ramdisk_image = (uint32_t)(initrd_addr >> 32);
	bp->ext_ramdisk_size = (uint32_t)(initrd_size >> 32);
	bp->e820_entries = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		bp->e820_table[i].addr = tab[i].addr;
		bp->e820_table[i].size = tab[i].size;
		bp->e820_table[i].type = tab[i].type;
	}
}
