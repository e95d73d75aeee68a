/* SPDX-License-Identifier: MIT */
#include "arch/x86/pvh.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/boot_params.h"

static_assert(PVH_MEMMAP_ADDR + E820_MAX_ENTRIES * sizeof(struct hvm_memmap_table_entry) <= X86_ZERO_PAGE_ADDR,
	      "PVH start info, module list and memory map fit below the zero page");
static_assert(PVH_MODLIST_ADDR % 8 == 0 && PVH_MEMMAP_ADDR % 8 == 0, "PVH tables are 8-byte aligned");
static_assert(E820_TYPE_RAM == XEN_HVM_MEMMAP_TYPE_RAM && E820_TYPE_RESERVED == XEN_HVM_MEMMAP_TYPE_RESERVED,
	      "e820 and PVH memmap share the ACPI range types");

int pvh_write_start_info(const struct guest_mem *mem, uint64_t cmdline_addr, uint64_t initrd_addr,
			 uint64_t initrd_size, uint64_t rsdp_addr, struct vmon_error *err)
{
	struct e820_entry tab[E820_MAX_ENTRIES];
	struct hvm_memmap_table_entry memmap[E820_MAX_ENTRIES];
	struct hvm_modlist_entry mod;
	struct hvm_start_info info;
	unsigned n = e820_build(mem, tab);

	memset(&info, 0, sizeof(info));
	info.magic = XEN_HVM_START_MAGIC_VALUE;
	info.version = XEN_HVM_START_INFO_VERSION;
	info.cmdline_paddr = cmdline_addr;
	info.rsdp_paddr = rsdp_addr;    /* 0: no ACPI tables */
	info.memmap_paddr = PVH_MEMMAP_ADDR;
	info.memmap_entries = n;

	memset(memmap, 0, sizeof(memmap));
	for (unsigned i = 0; i < n; i++) {
		memmap[i].addr = tab[i].addr;
		memmap[i].size = tab[i].size;
		memmap[i].type = tab[i].type;
	}
	if (guest_mem_write(mem, PVH_MEMMAP_ADDR, memmap, n * sizeof(memmap[0])) < 0)
		return error_set(err, -EFAULT, "PVH memory map at 0x%llx is not in guest RAM",
				 (unsigned long long)PVH_MEMMAP_ADDR);

	if (initrd_size) {
		memset(&mod, 0, sizeof(mod));
		mod.paddr = initrd_addr;
		mod.size = initrd_size;
		if (guest_mem_write(mem, PVH_MODLIST_ADDR, &mod, sizeof(mod)) < 0)
			return error_set(err, -EFAULT, "PVH module list at 0x%llx is not in guest RAM",
					 (unsigned long long)PVH_MODLIST_ADDR);
		info.nr_modules = 1;
		info.modlist_paddr = PVH_MODLIST_ADDR;
	}
	if (guest_mem_write(mem, X86_PVH_START_INFO_ADDR, &info, sizeof(info)) < 0)
		return error_set(err, -EFAULT, "PVH start info at 0x%llx is not in guest RAM",
				 (unsigned long long)X86_PVH_START_INFO_ADDR);
	return 0;
}
