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
#include "arch/x86/elf_loader.h"
#include "arch/x86/layout.h"
#include "elf_builder.h"
#include "guest_fixture.h"

/* ELF64 vmlinux-like images built in memory, loaded into a 64 MiB guest. */
#define MiB (1ull << 20)
#define KNAME "vmlinux-test"
#define KPHYS 0x1000000ull
#define KVIRT 0xffffffff81000000ull

static _Alignas(16) uint8_t img[1 << 20];
static struct guest_mem mem;

/* An ELF64 kernel entered at KPHYS with the segments s[0 .. n). */
static size_t build(const struct elf_builder_segment *s, unsigned n)
{
	return elf_builder_build(img, sizeof(img), true, KPHYS, s, n);
}

static Elf64_Ehdr *ehdr(void) { return elf_builder_ehdr64(img); }
static Elf64_Phdr *phdr(unsigned i) { return elf_builder_phdr64(img, i); }

/* Linux's layout: text at p_paddr 16 MiB / p_vaddr 0xffffffff81000000, then data with bss. */
static size_t vmlinux_like(void)
{
	const struct elf_builder_segment s[] = {
		{ PT_LOAD, KPHYS, KVIRT, 0x3000, 0x3000, .fill = 0xaa },
		{ PT_LOAD, KPHYS + 0x200000, KVIRT + 0x200000, 0x1000, 0x5000, .fill = 0xbb },
	};
	return build(s, 2);
}

static int load(size_t size, struct boot_result *res, struct vmon_error *err)
{
	struct boot_request req = { .kernel_name = KNAME, .kernel = img, .kernel_size = size, .cmdline = "",
				    .protocol = BOOT_PROTOCOL_LINUX };
	error_clear(err);
	return x86_boot_load(&mem, &req, res, err);
}

/* Asserts the load fails with code and a message naming the file and containing what. */
static void assert_rejected(size_t size, int code, const char *what)
{
	struct boot_result res;
	struct vmon_error err;

	assert_int_equal(load(size, &res, &err), code);
	assert_int_equal(err.code, code);
	if (!strstr(err.msg, what) || strncmp(err.msg, KNAME ": ", strlen(KNAME) + 2) != 0)
		fail_msg("message \"%s\" lacks \"%s\" or the file name", err.msg, what);
}

static void segments_land_at_physical_addresses(void **state)
{
	struct boot_result res;
	struct vmon_error err;
	size_t size = vmlinux_like();
	(void)state;

	/* Dirty the bss first: the loader must zero p_memsz - p_filesz. */
	memset(guest_mem_ptr(&mem, KPHYS + 0x200000, 0x5000), 0xcc, 0x5000);
	assert_int_equal(load(size, &res, &err), 0);
	const uint8_t *text = guest_mem_ptr(&mem, KPHYS, 0x3000);
	const uint8_t *data = guest_mem_ptr(&mem, KPHYS + 0x200000, 0x5000);
	assert_int_equal(text[0], 0xaa);
	assert_int_equal(text[0x2fff], 0xaa);
	assert_int_equal(data[0xfff], 0xbb);
	assert_int_equal(data[0x1000], 0);
	assert_int_equal(data[0x4fff], 0);
	assert_int_equal(res.kernel_start, KPHYS);
	assert_int_equal(res.kernel_end, KPHYS + 0x205000);
}

static void elf64_enters_e_entry_in_long_mode(void **state)
{
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	assert_int_equal(load(vmlinux_like(), &res, &err), 0);
	assert_int_equal(res.format, KERNEL_FORMAT_ELF64);
	assert_int_equal(res.mode, BOOT_ENTRY_LONG_MODE);
	assert_int_equal(res.entry, KPHYS);
	assert_int_equal(res.boot_info_addr, X86_ZERO_PAGE_ADDR);
	assert_null(res.payload_compression);
}

static void virtual_entry_is_translated_to_physical(void **state)
{
	struct boot_result res;
	struct vmon_error err;
	size_t size = vmlinux_like();
	(void)state;

	ehdr()->e_entry = KVIRT + 0x10;
	assert_int_equal(load(size, &res, &err), 0);
	assert_int_equal(res.entry, KPHYS + 0x10);
}

static void zero_memsz_segments_are_ignored(void **state)
{
	struct elf_kernel elf;
	const struct elf_builder_segment s[] = {
		{ PT_LOAD, 0x40000, 0x40000, 0, 0, .fill = 0 },
		{ PT_LOAD, KPHYS, KPHYS, 0x100, 0x100, .fill = 1 },
	};
	(void)state;

	assert_int_equal(elf_parse(img, build(s, 2), &elf, NULL), 0);
	assert_int_equal(elf.nsegments, 1);
	assert_int_equal(elf.start, KPHYS);
}

static void failed_load_writes_nothing(void **state)
{
	struct boot_result res;
	struct vmon_error err;
	const struct elf_builder_segment s[] = {
		{ PT_LOAD, KPHYS, KPHYS, 0x100, 0x100, .fill = 0xaa },
		{ PT_LOAD, 63 * MiB, 63 * MiB, 0x100, 2 * MiB, .fill = 0xbb },
	};
	size_t size = build(s, 2);
	(void)state;

	assert_int_equal(load(size, &res, &err), -EINVAL);
	assert_int_equal(*(uint8_t *)guest_mem_ptr(&mem, KPHYS, 1), 0);
	assert_int_equal(res.entry, 0);
}

static void truncated_file_is_rejected(void **state)
{
	(void)state;
	vmlinux_like();
	assert_rejected(40, -EINVAL, "truncated: 40 bytes is shorter than the ELF64 header");
	assert_rejected(12, -EINVAL, "truncated: 12 bytes");
}

static void wrong_magic_is_rejected(void **state)
{
	struct elf_kernel elf;
	struct vmon_error err;
	size_t size = vmlinux_like();
	(void)state;

	img[1] = 'X';
	assert_rejected(size, -EINVAL, "not an ELF or bzImage kernel (starts with 7f 58 4c 46");
	assert_int_equal(elf_parse(img, size, &elf, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "bad ELF magic 7f 58 4c 46"));
}

static void wrong_class_is_rejected(void **state)
{
	size_t size = vmlinux_like();
	(void)state;

	img[EI_CLASS] = 3;
	assert_rejected(size, -EINVAL, "unsupported ELF class 3");
}

static void big_endian_is_rejected(void **state)
{
	size_t size = vmlinux_like();
	(void)state;

	img[EI_DATA] = ELFDATA2MSB;
	assert_rejected(size, -EINVAL, "data encoding 2 is not little-endian");
}

static void wrong_machine_is_rejected(void **state)
{
	size_t size = vmlinux_like();
	(void)state;

	ehdr()->e_machine = EM_AARCH64;
	assert_rejected(size, -EINVAL, "ELF64 e_machine 183 is not x86-64");
}

static void non_executable_type_is_rejected(void **state)
{
	size_t size = vmlinux_like();
	(void)state;

	ehdr()->e_type = ET_REL;
	assert_rejected(size, -EINVAL, "e_type 1 is not an executable");
}

static void phdr_table_outside_file_is_rejected(void **state)
{
	size_t size = vmlinux_like();
	(void)state;

	ehdr()->e_phoff = size - 8;
	assert_rejected(size, -EINVAL, "program header table at e_phoff");
	ehdr()->e_phoff = UINT64_MAX - 8;   /* offset + size wraps */
	assert_rejected(size, -EINVAL, "lies outside the file");
}

static void phdr_entry_size_mismatch_is_rejected(void **state)
{
	size_t size = vmlinux_like();
	(void)state;

	ehdr()->e_phentsize = 32;
	assert_rejected(size, -EINVAL, "e_phentsize 32 is not 56");
}

static void absurd_phdr_count_is_rejected(void **state)
{
	size_t size = vmlinux_like();
	(void)state;

	ehdr()->e_phnum = 1000;
	assert_rejected(size, -EINVAL, "e_phnum 1000 is absurd");
	ehdr()->e_phnum = 0;
	assert_rejected(size, -EINVAL, "no program headers");
}

static void segment_file_range_outside_file_is_rejected(void **state)
{
	size_t size = vmlinux_like();
	(void)state;

	phdr(1)->p_offset = size - 0x10;
	assert_rejected(size, -EINVAL, "segment 1 file range");
	phdr(1)->p_offset = UINT64_MAX;
	assert_rejected(size, -EINVAL, "lies outside the file");
}

static void overlapping_segments_are_rejected(void **state)
{
	size_t size = vmlinux_like();
	(void)state;

	phdr(1)->p_paddr = KPHYS + 0x2000;   /* inside segment 0's [KPHYS, KPHYS + 0x3000) */
	assert_rejected(size, -EINVAL, "segment 1 [0x1002000, 0x1007000) overlaps an earlier segment");
}

static void segment_outside_ram_is_rejected(void **state)
{
	size_t size = vmlinux_like();
	(void)state;

	phdr(1)->p_paddr = 64 * MiB - 0x1000;    /* 0x5000 bytes, only 0x1000 in RAM */
	assert_rejected(size, -EINVAL, "is outside guest RAM");
}

static void segment_in_low_boot_area_is_rejected(void **state)
{
	size_t size = vmlinux_like();
	(void)state;

	phdr(1)->p_paddr = X86_ZERO_PAGE_ADDR;
	assert_rejected(size, -EINVAL, "overlaps vmon's low boot area");
	phdr(1)->p_paddr = X86_CMDLINE_ADDR + X86_CMDLINE_MAX - 0x1000;   /* tail of the command line */
	assert_rejected(size, -EINVAL, "overlaps vmon's low boot area");
}

static void segment_in_bios_hole_is_rejected(void **state)
{
	size_t size = vmlinux_like();
	(void)state;

	phdr(1)->p_paddr = 0x9e000;   /* reaches into the EBDA at 0x9fc00 */
	assert_rejected(size, -EINVAL, "overlaps the reserved EBDA/BIOS area");
}

static void segment_address_overflow_is_rejected(void **state)
{
	size_t size = vmlinux_like();
	(void)state;

	phdr(1)->p_paddr = UINT64_MAX - 0x1000;
	assert_rejected(size, -EINVAL, "p_paddr 0xffffffffffffefff + p_memsz 0x5000 overflows");
}

static void absurd_segment_size_is_rejected(void **state)
{
	size_t size = vmlinux_like();
	(void)state;

	phdr(1)->p_memsz = 2ull << 30;
	assert_rejected(size, -EINVAL, "p_memsz 0x80000000 is absurd");
}

static void filesz_larger_than_memsz_is_rejected(void **state)
{
	size_t size = vmlinux_like();
	(void)state;

	phdr(0)->p_memsz = 0x2000;
	assert_rejected(size, -EINVAL, "segment 0 p_filesz 0x3000 exceeds p_memsz 0x2000");
}

static void image_without_pt_load_is_rejected(void **state)
{
	const struct elf_builder_segment s[] = { { PT_NOTE, 0, 0, 0x10, 0x10, .fill = 0 } };
	size_t size = build(s, 1);
	(void)state;

	assert_rejected(size, -EINVAL, "no loadable (PT_LOAD) segment");
}

static void too_many_segments_are_rejected(void **state)
{
	struct elf_builder_segment s[ELF_MAX_LOAD_SEGMENTS + 1];
	(void)state;

	for (unsigned i = 0; i < ELF_MAX_LOAD_SEGMENTS + 1; i++)
		s[i] = (struct elf_builder_segment){ PT_LOAD, KPHYS + i * 0x1000, KPHYS + i * 0x1000, 0x10, 0x10, .fill = 1 };
	assert_rejected(build(s, ELF_MAX_LOAD_SEGMENTS + 1), -EINVAL, "more than 32 PT_LOAD");
}

static void entry_outside_segments_is_rejected(void **state)
{
	size_t size = vmlinux_like();
	(void)state;

	ehdr()->e_entry = 0x5000000;
	assert_rejected(size, -EINVAL, "e_entry 0x5000000 is not inside a loaded segment");
	/* The bss is loaded but holds no code. */
	ehdr()->e_entry = KPHYS + 0x201000;
	assert_rejected(size, -EINVAL, "e_entry 0x1201000 is not inside");
}

int main(void)
{
#define T(f) cmocka_unit_test_prestate_setup_teardown(f, guest_fixture_setup, guest_fixture_teardown, &mem)
	const struct CMUnitTest tests[] = {
		T(segments_land_at_physical_addresses),
		T(elf64_enters_e_entry_in_long_mode),
		T(virtual_entry_is_translated_to_physical),
		T(zero_memsz_segments_are_ignored),
		T(failed_load_writes_nothing),
		T(truncated_file_is_rejected),
		T(wrong_magic_is_rejected),
		T(wrong_class_is_rejected),
		T(big_endian_is_rejected),
		T(wrong_machine_is_rejected),
		T(non_executable_type_is_rejected),
		T(phdr_table_outside_file_is_rejected),
		T(phdr_entry_size_mismatch_is_rejected),
		T(absurd_phdr_count_is_rejected),
		T(segment_file_range_outside_file_is_rejected),
		T(overlapping_segments_are_rejected),
		T(segment_outside_ram_is_rejected),
		T(segment_in_low_boot_area_is_rejected),
		T(segment_in_bios_hole_is_rejected),
		T(segment_address_overflow_is_rejected),
		T(absurd_segment_size_is_rejected),
		T(filesz_larger_than_memsz_is_rejected),
		T(image_without_pt_load_is_rejected),
		T(too_many_segments_are_rejected),
		T(entry_outside_segments_is_rejected),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
