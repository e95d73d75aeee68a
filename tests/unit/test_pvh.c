/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "arch/x86/pvh.h"

/* PVH kernels (ELF32 and ELF64 with XEN_ELFNOTE_PHYS32_ENTRY) built in memory. */
#define MiB (1ull << 20)
#define KNAME "pvh-test"
#define KPHYS 0x100000ull
#define PVH_ENTRY 0x100040u
#define LONG_ENTRY 0x100800u

struct tseg {
	uint32_t type;
	uint64_t paddr, filesz, memsz;
	const void *data;    /* file bytes, or NULL for 0x90 (nop) */
};

static _Alignas(16) uint8_t img[1 << 20];
static struct guest_mem mem;

static size_t elf_build(bool is64, uint64_t entry, const struct tseg *s, unsigned n)
{
	size_t off = is64 ? sizeof(Elf64_Ehdr) + n * sizeof(Elf64_Phdr) : sizeof(Elf32_Ehdr) + n * sizeof(Elf32_Phdr);

	memset(img, 0, off);
	for (unsigned i = 0; i < n; i++) {
		off = (off + 15) & ~(size_t)15;
		if (s[i].data)
			memcpy(img + off, s[i].data, s[i].filesz);
		else
			memset(img + off, 0x90, s[i].filesz);
		if (is64) {
			Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)) + i;
			*ph = (Elf64_Phdr){ .p_type = s[i].type, .p_offset = off, .p_vaddr = s[i].paddr,
					    .p_paddr = s[i].paddr, .p_filesz = s[i].filesz, .p_memsz = s[i].memsz,
					    .p_align = 4 };
		} else {
			Elf32_Phdr *ph = (Elf32_Phdr *)(img + sizeof(Elf32_Ehdr)) + i;
			*ph = (Elf32_Phdr){ .p_type = s[i].type, .p_offset = off, .p_vaddr = s[i].paddr,
					    .p_paddr = s[i].paddr, .p_filesz = s[i].filesz, .p_memsz = s[i].memsz,
					    .p_align = 4 };
		}
		off += s[i].filesz;
	}
	if (is64) {
		Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
		eh->e_type = ET_EXEC; eh->e_machine = EM_X86_64; eh->e_version = EV_CURRENT;
		eh->e_entry = entry; eh->e_phoff = sizeof(Elf64_Ehdr); eh->e_ehsize = sizeof(Elf64_Ehdr);
		eh->e_phentsize = sizeof(Elf64_Phdr); eh->e_phnum = n;
	} else {
		Elf32_Ehdr *eh = (Elf32_Ehdr *)img;
		eh->e_type = ET_EXEC; eh->e_machine = EM_386; eh->e_version = EV_CURRENT;
		eh->e_entry = (uint32_t)entry; eh->e_phoff = sizeof(Elf32_Ehdr); eh->e_ehsize = sizeof(Elf32_Ehdr);
		eh->e_phentsize = sizeof(Elf32_Phdr); eh->e_phnum = n;
	}
	memcpy(img, ELFMAG, SELFMAG);
	img[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
	img[EI_DATA] = ELFDATA2LSB;
	img[EI_VERSION] = EV_CURRENT;
	return off;
}

/* One ELF note: namesz, descsz, type, name padded to 4, desc padded to 4. Returns its length. */
static size_t note(uint8_t *p, const char *owner, uint32_t type, const void *desc, uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(owner) + 1;
	size_t name_pad = (namesz + 3) & ~3u, desc_pad = (descsz + 3) & ~3u;

	memset(p, 0, 12 + name_pad + desc_pad);
	memcpy(p, &namesz, 4);
	memcpy(p + 4, &descsz, 4);
	memcpy(p + 8, &type, 4);
	memcpy(p + 12, owner, namesz);
	memcpy(p + 12 + name_pad, desc, descsz);
	return 12 + name_pad + desc_pad;
}

static uint8_t notes[256];

/* Kernel at 1 MiB with a PT_NOTE holding notes[0 .. notes_len). */
static size_t pvh_kernel(bool is64, size_t notes_len)
{
	const struct tseg s[] = {
		{ PT_LOAD, KPHYS, 0x1000, 0x2000, NULL },
		{ PT_NOTE, 0, notes_len, notes_len, notes },
	};
	return elf_build(is64, LONG_ENTRY, s, 2);
}

static size_t xen_note32(uint32_t entry)
{
	return note(notes, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry, 4);
}

static size_t xen_note64(uint64_t entry)
{
	return note(notes, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry, 8);
}

static int mem_setup(void **state)
{
	(void)state;
	return guest_mem_create(&mem, 64 * MiB, NULL);
}

static int mem_teardown(void **state)
{
	(void)state;
	guest_mem_destroy(&mem);
	return 0;
}

static int load(size_t size, enum boot_protocol protocol, const uint8_t *initrd, size_t initrd_size,
		struct boot_result *res, struct vmon_error *err)
{
	struct boot_request req = { .kernel_name = KNAME, .kernel = img, .kernel_size = size,
				    .cmdline = "console=ttyS0", .protocol = protocol,
				    .initrd_name = "initrd-test", .initrd = initrd, .initrd_size = initrd_size };
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

static void memmap_describes_ram_and_the_bios_hole(void **state)
{
	struct hvm_memmap_table_entry m[3];
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	assert_int_equal(load(pvh_kernel(false, xen_note32(PVH_ENTRY)), BOOT_PROTOCOL_PVH, NULL, 0, &res, &err), 0);
	struct hvm_start_info si = start_info();
	assert_int_equal(si.memmap_entries, 3);
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
	/* Start info, module list and map share the page below the zero page. */
	assert_true(si.memmap_paddr > X86_PVH_START_INFO_ADDR && si.memmap_paddr + sizeof(m) <= X86_ZERO_PAGE_ADDR);
}

static void memmap_includes_ram_above_4g(void **state)
{
	struct hvm_memmap_table_entry m[4];
	struct guest_mem big;
	struct boot_result res;
	struct vmon_error err;
	struct boot_request req = { .kernel_name = KNAME, .kernel = img, .cmdline = "",
				    .protocol = BOOT_PROTOCOL_PVH };
	(void)state;

	req.kernel_size = pvh_kernel(false, xen_note32(PVH_ENTRY));
	assert_int_equal(guest_mem_create(&big, 3072 * MiB + 512 * MiB, NULL), 0);
	assert_int_equal(x86_boot_load(&big, &req, &res, &err), 0);
	struct hvm_start_info si;
	assert_int_equal(guest_mem_read(&big, X86_PVH_START_INFO_ADDR, &si, sizeof(si)), 0);
	assert_int_equal(si.memmap_entries, 4);
	assert_int_equal(guest_mem_read(&big, si.memmap_paddr, m, sizeof(m)), 0);
	assert_int_equal(m[2].addr + m[2].size, X86_MMIO_HOLE_START);
	assert_int_equal(m[3].addr, X86_HIGH_RAM_START);
	assert_int_equal(m[3].size, 512 * MiB);
	assert_int_equal(m[3].type, XEN_HVM_MEMMAP_TYPE_RAM);
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
	len = note(notes, "GNU", XEN_ELFNOTE_PHYS32_ENTRY, &gnu, 4);
	len += note(notes + len, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry, 4);
	assert_int_equal(load(pvh_kernel(false, len), BOOT_PROTOCOL_AUTO, NULL, 0, &res, &err), 0);
	assert_int_equal(res.entry, PVH_ENTRY);

	len = note(notes, "GNU", XEN_ELFNOTE_PHYS32_ENTRY, &gnu, 4);
	assert_int_equal(load(pvh_kernel(true, len), BOOT_PROTOCOL_AUTO, NULL, 0, &res, &err), 0);
	assert_int_equal(res.mode, BOOT_ENTRY_LONG_MODE);
}

static void pvh_without_note_is_rejected(void **state)
{
	uint32_t x = 0;
	(void)state;

	assert_rejected(pvh_kernel(true, note(notes, "GNU", 3, &x, 4)), BOOT_PROTOCOL_PVH, "has no PVH entry note");
}

static void elf32_without_note_is_rejected(void **state)
{
	uint32_t x = 0;
	(void)state;

	assert_rejected(pvh_kernel(false, note(notes, "GNU", 3, &x, 4)), BOOT_PROTOCOL_AUTO,
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
	(void)state;

	assert_rejected(pvh_kernel(false, note(notes, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry, 2)), BOOT_PROTOCOL_PVH,
			"XEN_ELFNOTE_PHYS32_ENTRY has a 2-byte descriptor");
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
#define T(f) cmocka_unit_test_setup_teardown(f, mem_setup, mem_teardown)
	const struct CMUnitTest tests[] = {
		T(elf32_with_note_enters_pvh_entry_in_protected_mode),
		T(start_info_follows_the_xen_abi),
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
