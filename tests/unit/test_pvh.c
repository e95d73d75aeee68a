/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <string.h>

#include "arch/x86/memory.h"
#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "arch/x86/pvh.h"
#include "elf_builder.h"
#include "guest_fixture.h"

/* PVH kernels (ELF32 and ELF64 with XEN_ELFNOTE_PHYS32_ENTRY) built in memory. */
#define MiB (1ull << 20)
#define KNAME "pvh-test"
#define KPHYS 0x100000ull
#define PVH_ENTRY 0x100040u
#define LONG_ENTRY 0x100800u

static _Alignas(16) uint8_t img[1 << 20];
static struct guest_mem mem;
static uint8_t notes[256];

/* Kernel at 1 MiB with a PT_NOTE holding notes[0 .. notes_len). */
static size_t pvh_kernel(bool is64, size_t notes_len)
{
	const struct elf_builder_segment s[] = {
		{ PT_LOAD, KPHYS, KPHYS, 0x1000, 0x2000, .fill = 0x90 /* nop */, .align = 4 },
		{ PT_NOTE, 0, 0, notes_len, notes_len, .align = 4, .data = notes },
	};
	return elf_builder_build(img, sizeof(img), is64, LONG_ENTRY, s, 2);
}

static size_t xen_note32(uint32_t entry)
{
	return elf_builder_note(notes, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry, 4);
}

static size_t xen_note64(uint64_t entry)
{
	return elf_builder_note(notes, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry, 8);
}

static uint64_t rsdp_addr;   /* what load() asks for */

static int load(size_t size, enum boot_protocol protocol, const uint8_t *initrd, size_t initrd_size,
		struct boot_result *res, struct vmon_error *err)
{
	struct boot_request req = { .kernel_name = KNAME, .kernel = img, .kernel_size = size,
				    .cmdline = "console=ttyS0", .protocol = protocol,
				    .initrd_name = "initrd-test", .initrd = initrd, .initrd_size = initrd_size,
				    .acpi_rsdp_addr = rsdp_addr };
	error_clear(err);
	return x86_boot_load(&mem, &req, res, err);
}

static void assert_rejected(size_t size, enum boot_protocol protocol, const char *what)
{
	struct boot_result res;
	struct vmon_error err;

	assert_int_equal(load(size, protocol, NULL, 0, &res, &err), -EINVAL);
	if (!strstr(err.msg, what) || strncmp(err.msg, KNAME ": ", strlen(KNAME) + 2) != 0)
		fail_msg("message \"%s\" lacks \"%s\" or the file name", err.msg, what);
}

static struct hvm_start_info start_info(void)
{
	struct hvm_start_info si;
	assert_int_equal(guest_mem_read(&mem, X86_PVH_START_INFO_ADDR, &si, sizeof(si)), 0);
	return si;
}

static void elf32_with_note_enters_pvh_entry_in_protected_mode(void **state)
{
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	assert_int_equal(load(pvh_kernel(false, xen_note32(PVH_ENTRY)), BOOT_PROTOCOL_AUTO, NULL, 0, &res, &err), 0);
	assert_int_equal(res.format, KERNEL_FORMAT_ELF32);
	assert_int_equal(res.mode, BOOT_ENTRY_PROTECTED);
	assert_int_equal(res.entry, PVH_ENTRY);
	assert_int_equal(res.boot_info_addr, X86_PVH_START_INFO_ADDR);
	assert_int_equal(*(uint8_t *)guest_mem_ptr(&mem, KPHYS, 1), 0x90);
}

static void start_info_follows_the_xen_abi(void **state)
{
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	assert_int_equal(load(pvh_kernel(false, xen_note32(PVH_ENTRY)), BOOT_PROTOCOL_PVH, NULL, 0, &res, &err), 0);
	struct hvm_start_info si = start_info();
	assert_int_equal(si.magic, 0x336ec578);
	assert_int_equal(si.version, 1);
	assert_int_equal(si.flags, 0);
	assert_int_equal(si.nr_modules, 0);
	assert_int_equal(si.modlist_paddr, 0);
	assert_int_equal(si.rsdp_paddr, 0);
	assert_int_equal(si.cmdline_paddr, X86_CMDLINE_ADDR);
	assert_string_equal((const char *)guest_mem_ptr(&mem, si.cmdline_paddr, 14), "console=ttyS0");
	assert_int_equal(si.reserved, 0);
}

static void start_info_points_at_the_acpi_rsdp(void **state)
{
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	rsdp_addr = X86_ACPI_ADDR;
	int r = load(pvh_kernel(false, xen_note32(PVH_ENTRY)), BOOT_PROTOCOL_PVH, NULL, 0, &res, &err);
	rsdp_addr = 0;
	assert_int_equal(r, 0);
	assert_int_equal(start_info().rsdp_paddr, X86_ACPI_ADDR);
}

static void memmap_describes_ram_and_the_bios_hole(void **state)
{
	struct hvm_memmap_table_entry m[4];
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	assert_int_equal(load(pvh_kernel(false, xen_note32(PVH_ENTRY)), BOOT_PROTOCOL_PVH, NULL, 0, &res, &err), 0);
	struct hvm_start_info si = start_info();
	assert_int_equal(si.memmap_entries, 4);
	assert_int_equal(guest_mem_read(&mem, si.memmap_paddr, m, sizeof(m)), 0);
	assert_int_equal(m[0].addr, 0);
	assert_int_equal(m[0].size, 0x9fc00);
	assert_int_equal(m[0].type, XEN_HVM_MEMMAP_TYPE_RAM);
	assert_int_equal(m[1].addr, 0x9fc00);
	assert_int_equal(m[1].size, 0x100000 - 0x9fc00);
	assert_int_equal(m[1].type, XEN_HVM_MEMMAP_TYPE_RESERVED);
	assert_int_equal(m[2].addr, 0x100000);
	assert_int_equal(m[2].size, 63 * MiB);
	assert_int_equal(m[2].type, XEN_HVM_MEMMAP_TYPE_RAM);
	assert_int_equal(m[2].reserved, 0);
	assert_int_equal(m[3].addr, X86_PCI_ECAM_BASE);
	assert_int_equal(m[3].size, X86_PCI_ECAM_SIZE);
	assert_int_equal(m[3].type, XEN_HVM_MEMMAP_TYPE_RESERVED);
	/* Start info, module list and map share the page below the zero page. */
	assert_true(si.memmap_paddr > X86_PVH_START_INFO_ADDR && si.memmap_paddr + sizeof(m) <= X86_ZERO_PAGE_ADDR);
}

static void memmap_includes_ram_above_4g(void **state)
{
	struct hvm_memmap_table_entry m[5];
	struct guest_mem big;
	struct boot_result res;
	struct vmon_error err;
	struct boot_request req = { .kernel_name = KNAME, .kernel = img, .cmdline = "",
				    .protocol = BOOT_PROTOCOL_PVH };
	(void)state;

	req.kernel_size = pvh_kernel(false, xen_note32(PVH_ENTRY));
	assert_int_equal(x86_guest_mem_create(&big, 3072 * MiB + 512 * MiB, NULL), 0);
	assert_int_equal(x86_boot_load(&big, &req, &res, &err), 0);
	struct hvm_start_info si;
	assert_int_equal(guest_mem_read(&big, X86_PVH_START_INFO_ADDR, &si, sizeof(si)), 0);
	assert_int_equal(si.memmap_entries, 5);
	assert_int_equal(guest_mem_read(&big, si.memmap_paddr, m, sizeof(m)), 0);
	assert_int_equal(m[2].addr + m[2].size, X86_MMIO_HOLE_START);
	assert_int_equal(m[3].addr, X86_PCI_ECAM_BASE);
	assert_int_equal(m[4].addr, X86_HIGH_RAM_START);
	assert_int_equal(m[4].size, 512 * MiB);
	assert_int_equal(m[4].type, XEN_HVM_MEMMAP_TYPE_RAM);
	guest_mem_destroy(&big);
}

static void initrd_is_module_zero(void **state)
{
	static const uint8_t initrd[5000] = { 1, 2, 3 };
	struct hvm_modlist_entry mod;
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	assert_int_equal(load(pvh_kernel(false, xen_note32(PVH_ENTRY)), BOOT_PROTOCOL_PVH, initrd, sizeof(initrd),
			      &res, &err), 0);
	struct hvm_start_info si = start_info();
	assert_int_equal(si.nr_modules, 1);
	assert_int_equal(si.modlist_paddr, PVH_MODLIST_ADDR);
	assert_int_equal(guest_mem_read(&mem, si.modlist_paddr, &mod, sizeof(mod)), 0);
	assert_int_equal(mod.paddr, res.initrd_addr);
	assert_int_equal(mod.size, sizeof(initrd));
	assert_int_equal(mod.cmdline_paddr, 0);
	assert_int_equal(mod.paddr % 4096, 0);
	assert_memory_equal(guest_mem_ptr(&mem, mod.paddr, sizeof(initrd)), initrd, sizeof(initrd));
}

static void elf64_with_8_byte_note_boots_pvh_under_auto(void **state)
{
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	assert_int_equal(load(pvh_kernel(true, xen_note64(PVH_ENTRY)), BOOT_PROTOCOL_AUTO, NULL, 0, &res, &err), 0);
	assert_int_equal(res.format, KERNEL_FORMAT_ELF64);
	assert_int_equal(res.mode, BOOT_ENTRY_PROTECTED);
	assert_int_equal(res.entry, PVH_ENTRY);
}

static void elf64_with_note_under_linux_protocol_enters_e_entry(void **state)
{
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	assert_int_equal(load(pvh_kernel(true, xen_note64(PVH_ENTRY)), BOOT_PROTOCOL_LINUX, NULL, 0, &res, &err), 0);
	assert_int_equal(res.mode, BOOT_ENTRY_LONG_MODE);
	assert_int_equal(res.entry, LONG_ENTRY);
	assert_int_equal(res.boot_info_addr, X86_ZERO_PAGE_ADDR);
}

static void other_owners_notes_are_skipped(void **state)
{
	struct boot_result res;
	struct vmon_error err;
	uint32_t entry = PVH_ENTRY, gnu = 0x12345678;
	size_t len;
	(void)state;

	/* A GNU note with the same type number, then the Xen one. */
	len = elf_builder_note(notes, "GNU", XEN_ELFNOTE_PHYS32_ENTRY, &gnu, 4);
	len += elf_builder_note(notes + len, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry, 4);
	assert_int_equal(load(pvh_kernel(false, len), BOOT_PROTOCOL_AUTO, NULL, 0, &res, &err), 0);
	assert_int_equal(res.entry, PVH_ENTRY);

	len = elf_builder_note(notes, "GNU", XEN_ELFNOTE_PHYS32_ENTRY, &gnu, 4);
	assert_int_equal(load(pvh_kernel(true, len), BOOT_PROTOCOL_AUTO, NULL, 0, &res, &err), 0);
	assert_int_equal(res.mode, BOOT_ENTRY_LONG_MODE);
}

static void pvh_without_note_is_rejected(void **state)
{
	uint32_t x = 0;
	(void)state;

	assert_rejected(pvh_kernel(true, elf_builder_note(notes, "GNU", 3, &x, 4)), BOOT_PROTOCOL_PVH,
			"has no PVH entry note");
}

static void elf32_without_note_is_rejected(void **state)
{
	uint32_t x = 0;
	(void)state;

	assert_rejected(pvh_kernel(false, elf_builder_note(notes, "GNU", 3, &x, 4)), BOOT_PROTOCOL_AUTO,
			"ELF32 kernel boots only with the PVH protocol, and it has no PVH entry note");
}

static void elf32_under_linux_protocol_is_rejected(void **state)
{
	(void)state;
	assert_rejected(pvh_kernel(false, xen_note32(PVH_ENTRY)), BOOT_PROTOCOL_LINUX,
			"the Linux protocol was requested");
}

static void pvh_entry_outside_segments_is_rejected(void **state)
{
	(void)state;
	/* 0x101800 is in the segment's bss (p_filesz 0x1000), not its code. */
	assert_rejected(pvh_kernel(false, xen_note32(0x101800)), BOOT_PROTOCOL_PVH,
			"PVH entry 0x101800 is not inside a loaded segment");
}

static void pvh_note_with_bad_descriptor_size_is_rejected(void **state)
{
	uint16_t entry = 0x40;
	size_t len = elf_builder_note(notes, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry, 2);
	(void)state;

	assert_rejected(pvh_kernel(false, len), BOOT_PROTOCOL_PVH, "XEN_ELFNOTE_PHYS32_ENTRY has a 2-byte descriptor");
}

static void pvh_entry_above_4g_is_rejected(void **state)
{
	(void)state;
	assert_rejected(pvh_kernel(true, xen_note64(0x100000040ull)), BOOT_PROTOCOL_PVH,
			"PVH entry 0x100000040 does not fit in 32 bits");
}

static void note_running_past_its_segment_is_rejected(void **state)
{
	size_t len = xen_note32(PVH_ENTRY);
	uint32_t descsz = 64;
	(void)state;

	memcpy(notes + 4, &descsz, 4);
	assert_rejected(pvh_kernel(false, len), BOOT_PROTOCOL_PVH, "runs past the segment");
}

int main(void)
{
#define T(f) cmocka_unit_test_prestate_setup_teardown(f, guest_fixture_setup, guest_fixture_teardown, &mem)
	const struct CMUnitTest tests[] = {
		T(elf32_with_note_enters_pvh_entry_in_protected_mode),
		T(start_info_follows_the_xen_abi),
		T(start_info_points_at_the_acpi_rsdp),
		T(memmap_describes_ram_and_the_bios_hole),
		T(memmap_includes_ram_above_4g),
		T(initrd_is_module_zero),
		T(elf64_with_8_byte_note_boots_pvh_under_auto),
		T(elf64_with_note_under_linux_protocol_enters_e_entry),
		T(other_owners_notes_are_skipped),
		T(pvh_without_note_is_rejected),
		T(elf32_without_note_is_rejected),
		T(elf32_under_linux_protocol_is_rejected),
		T(pvh_entry_outside_segments_is_rejected),
		T(pvh_note_with_bad_descriptor_size_is_rejected),
		T(pvh_entry_above_4g_is_rejected),
		T(note_running_past_its_segment_is_rejected),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
