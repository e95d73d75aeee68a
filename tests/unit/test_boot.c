/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/memory.h"
#include "arch/x86/boot.h"
#include "arch/x86/boot_params.h"
#include "arch/x86/layout.h"
#include "elf_builder.h"
#include "guest_fixture.h"

/* What every kernel gets: command line, initrd placement, e820 map, zero page. */
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define KNAME "vmlinux-boot"
#define KPHYS 0x1000000ull

static _Alignas(16) uint8_t img[0x2000];
static struct guest_mem mem;

/* An ELF64 kernel with one PT_LOAD: 0x1000 bytes of code at paddr, memsz bytes in memory. */
static size_t kernel_at(uint64_t paddr, uint64_t memsz)
{
	const struct elf_builder_segment s[] = {
		{ PT_LOAD, paddr, paddr, 0x1000, memsz, .fill = 0xc3 /* ret */, .align = 0x1000 },
	};
	return elf_builder_build(img, sizeof(img), true, paddr, s, 1);
}

static struct boot_request request(size_t size, const char *cmdline)
{
	return (struct boot_request){ .kernel_name = KNAME, .kernel = img, .kernel_size = size, .cmdline = cmdline,
				      .protocol = BOOT_PROTOCOL_AUTO };
}

static struct boot_params zero_page(const struct guest_mem *m)
{
	struct boot_params bp;
	assert_int_equal(guest_mem_read(m, X86_ZERO_PAGE_ADDR, &bp, sizeof(bp)), 0);
	return bp;
}

static void plain_elf_gets_a_minimal_zero_page(void **state)
{
	struct boot_request req = request(kernel_at(KPHYS, 0x1000), "root=/dev/vda");
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), 0);
	assert_int_equal(res.boot_info_addr, X86_ZERO_PAGE_ADDR);
	struct boot_params bp = zero_page(&mem);
	assert_int_equal(bp.hdr.boot_flag, 0xaa55);
	assert_int_equal(bp.hdr.header, 0x53726448);
	assert_int_equal(bp.hdr.version, 0x020f);
	assert_int_equal(bp.hdr.type_of_loader, 0xff);
	assert_int_equal(bp.hdr.loadflags, LOADED_HIGH | CAN_USE_HEAP);
	assert_int_equal(bp.hdr.vid_mode, 0xffff);
	assert_int_equal(bp.hdr.cmd_line_ptr, X86_CMDLINE_ADDR);
	assert_int_equal(bp.ext_cmd_line_ptr, 0);
	assert_int_equal(bp.hdr.cmdline_size, X86_CMDLINE_MAX - 1);
	assert_int_equal(bp.hdr.initrd_addr_max, 0x37ffffff);
	assert_int_equal(bp.hdr.ramdisk_image, 0);
	assert_int_equal(bp.hdr.ramdisk_size, 0);
	assert_int_equal(bp.acpi_rsdp_addr, 0);   /* no ACPI tables asked for */
}

static void zero_page_points_at_the_acpi_rsdp(void **state)
{
	struct boot_request req = request(kernel_at(KPHYS, 0x1000), "");
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	req.acpi_rsdp_addr = X86_ACPI_ADDR;
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), 0);
	assert_int_equal(zero_page(&mem).acpi_rsdp_addr, X86_ACPI_ADDR);
	/* At 0x70, where boot protocol 2.14 put it (zero-page.rst). */
	assert_int_equal(*(uint64_t *)guest_mem_ptr(&mem, X86_ZERO_PAGE_ADDR + 0x70, 8), X86_ACPI_ADDR);
}

static void e820_map_covers_low_ram_bios_hole_and_ram_above_1m(void **state)
{
	struct boot_request req = request(kernel_at(KPHYS, 0x1000), "");
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), 0);
	struct boot_params bp = zero_page(&mem);
	assert_int_equal(bp.e820_entries, 4);
	assert_int_equal(bp.e820_table[0].addr, 0);
	assert_int_equal(bp.e820_table[0].size, X86_EBDA_START);
	assert_int_equal(bp.e820_table[0].type, E820_TYPE_RAM);
	assert_int_equal(bp.e820_table[1].addr, X86_EBDA_START);
	assert_int_equal(bp.e820_table[1].size, X86_BIOS_HOLE_END - X86_EBDA_START);
	assert_int_equal(bp.e820_table[1].type, E820_TYPE_RESERVED);
	assert_int_equal(bp.e820_table[2].addr, X86_BIOS_HOLE_END);
	assert_int_equal(bp.e820_table[2].size, 64 * MiB - X86_BIOS_HOLE_END);
	assert_int_equal(bp.e820_table[2].type, E820_TYPE_RAM);
	/* The PCI ECAM window: Linux takes MMCONFIG only where the firmware reserved it. */
	assert_int_equal(bp.e820_table[3].addr, X86_PCI_ECAM_BASE);
	assert_int_equal(bp.e820_table[3].size, X86_PCI_ECAM_SIZE);
	assert_int_equal(bp.e820_table[3].type, E820_TYPE_RESERVED);
}

static void e820_map_adds_ram_above_4g(void **state)
{
	struct guest_mem big;
	struct e820_entry tab[E820_MAX_ENTRIES];
	(void)state;

	assert_int_equal(x86_guest_mem_create(&big, 3 * GiB + 256 * MiB, NULL), 0);
	assert_int_equal(e820_build(&big, tab), 5);
	assert_int_equal(tab[2].addr + tab[2].size, X86_MMIO_HOLE_START);
	assert_int_equal(tab[3].addr, X86_PCI_ECAM_BASE);
	assert_int_equal(tab[4].addr, X86_HIGH_RAM_START);
	assert_int_equal(tab[4].size, 256 * MiB);
	assert_int_equal(tab[4].type, E820_TYPE_RAM);
	guest_mem_destroy(&big);
}

static void kernel_stays_out_of_the_mmio_hole_and_below_4g(void **state)
{
	struct guest_mem big;
	struct boot_result res;
	struct vmon_error err;
	struct boot_request req = request(kernel_at(X86_MMIO_HOLE_START + KPHYS, 0x1000), "");
	(void)state;

	assert_int_equal(x86_guest_mem_create(&big, 3 * GiB + 256 * MiB, NULL), 0);
	assert_int_equal(x86_boot_load(&big, &req, &res, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "[0xc1000000, 0xc1001000) is outside guest RAM"));
	/* RAM above 4 GiB exists, but the boot page tables do not reach it. */
	assert_int_equal(e820_check_load_range(&big, X86_HIGH_RAM_START + KPHYS, 0x1000, &err), 0);
	req = request(kernel_at(X86_HIGH_RAM_START + KPHYS, 0x1000), "");
	assert_int_equal(x86_boot_load(&big, &req, &res, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "entry point 0x101000000 is above 4 GiB"));
	guest_mem_destroy(&big);
}

static void load_range_check_names_the_problem(void **state)
{
	struct vmon_error err;
	(void)state;

	assert_int_equal(e820_check_load_range(&mem, X86_BOOT_AREA_END, 0x1000, &err), 0);
	assert_int_equal(e820_check_load_range(&mem, X86_BOOT_AREA_END - 1, 0x1000, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "low boot area [0x0, 0x30000)"));
	assert_int_equal(e820_check_load_range(&mem, 0x9f000, 0x1000, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "reserved EBDA/BIOS area [0x9fc00, 0x100000)"));
	assert_int_equal(e820_check_load_range(&mem, 64 * MiB - 0x1000, 0x1000, &err), 0);
	assert_int_equal(e820_check_load_range(&mem, 64 * MiB - 0x1000, 0x1001, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "outside guest RAM (64 MiB"));
	assert_int_equal(e820_check_load_range(&mem, UINT64_MAX, 2, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "wraps around"));
}

static void cmdline_is_copied_nul_terminated(void **state)
{
	struct boot_request req = request(kernel_at(KPHYS, 0x1000), "console=ttyS0 quiet");
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	memset(guest_mem_ptr(&mem, X86_CMDLINE_ADDR, 64), 'z', 64);
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), 0);
	assert_string_equal((const char *)guest_mem_ptr(&mem, X86_CMDLINE_ADDR, 20), "console=ttyS0 quiet");
	req.cmdline = NULL;   /* same as "" */
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), 0);
	assert_int_equal(*(uint8_t *)guest_mem_ptr(&mem, X86_CMDLINE_ADDR, 1), 0);
}

/* An ELF64 Linux kernel: one PT_LOAD plus a PT_NOTE holding a note owned by "Linux". */
static size_t linux_kernel_at(uint64_t paddr)
{
	static uint8_t note[64];
	const uint32_t version = 0x060100;
	size_t n = elf_builder_note(note, "Linux", 0x101, &version, sizeof(version));
	const struct elf_builder_segment s[] = {
		{ PT_NOTE, 0, 0, n, n, .align = 4, .data = note },
		{ PT_LOAD, paddr, paddr, 0x800, 0x1000, .fill = 0xc3, .align = 0x1000 },
	};
	return elf_builder_build(img, sizeof(img), true, paddr, s, 2);
}

static void linux_kernels_get_the_extra_arguments_others_do_not(void **state)
{
	struct boot_request req = request(linux_kernel_at(KPHYS), "console=ttyS0");
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	req.linux_extra_args = "pci=off noxsave";
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), 0);
	assert_true(res.is_linux);
	assert_string_equal((const char *)guest_mem_ptr(&mem, X86_CMDLINE_ADDR, 32), "console=ttyS0 pci=off noxsave");
	/* An empty user command line gets no leading space. */
	req.cmdline = "";
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), 0);
	assert_string_equal((const char *)guest_mem_ptr(&mem, X86_CMDLINE_ADDR, 16), "pci=off noxsave");
	/* Not a Linux kernel (no "Linux" note): the command line is the user's alone. */
	req = request(kernel_at(KPHYS, 0x1000), "console=ttyS0");
	req.linux_extra_args = "pci=off noxsave";
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), 0);
	assert_false(res.is_linux);
	assert_string_equal((const char *)guest_mem_ptr(&mem, X86_CMDLINE_ADDR, 16), "console=ttyS0");
}

static void cmdline_longer_than_the_buffer_is_rejected(void **state)
{
	char *cmdline = malloc(X86_CMDLINE_MAX + 1);
	struct boot_request req = request(kernel_at(KPHYS, 0x1000), cmdline);
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	memset(cmdline, 'a', X86_CMDLINE_MAX - 1);
	cmdline[X86_CMDLINE_MAX - 1] = '\0';
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), 0);
	cmdline[X86_CMDLINE_MAX - 1] = 'a';
	cmdline[X86_CMDLINE_MAX] = '\0';
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), -E2BIG);
	assert_non_null(strstr(err.msg, KNAME ": command line is longer than vmon's 65535-byte limit"));
	free(cmdline);
}

static void initrd_goes_page_aligned_to_the_top_of_low_ram(void **state)
{
	static uint8_t initrd[5000];
	struct boot_request req = request(kernel_at(KPHYS, 0x1000), "");
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	memset(initrd, 0x5a, sizeof(initrd));
	req.initrd_name = "initrd.img";
	req.initrd = initrd;
	req.initrd_size = sizeof(initrd);
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), 0);
	assert_int_equal(res.initrd_addr, 64 * MiB - 0x2000);
	assert_int_equal(res.initrd_size, sizeof(initrd));
	assert_memory_equal(guest_mem_ptr(&mem, res.initrd_addr, sizeof(initrd)), initrd, sizeof(initrd));
	struct boot_params bp = zero_page(&mem);
	assert_int_equal(bp.hdr.ramdisk_image, 64 * MiB - 0x2000);
	assert_int_equal(bp.hdr.ramdisk_size, sizeof(initrd));
	assert_int_equal(bp.ext_ramdisk_image, 0);
	assert_int_equal(bp.ext_ramdisk_size, 0);
}

static void initrd_stays_below_the_default_initrd_addr_max(void **state)
{
	static uint8_t initrd[0x1000];
	struct guest_mem big;
	struct boot_request req = request(kernel_at(KPHYS, 0x1000), "");
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	req.initrd = initrd;
	req.initrd_size = sizeof(initrd);
	assert_int_equal(x86_guest_mem_create(&big, 2 * GiB, NULL), 0);
	assert_int_equal(x86_boot_load(&big, &req, &res, &err), 0);
	/* Its last byte is 0x37ffffff, the highest the kernel allows. */
	assert_int_equal(res.initrd_addr, 0x38000000 - 0x1000);
	guest_mem_destroy(&big);
}

static void initrd_too_big_is_rejected(void **state)
{
	uint8_t *initrd = calloc(1, 48 * MiB);
	struct boot_request req = request(kernel_at(KPHYS, 0x1000), "");
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	req.initrd_name = "initrd.img";
	req.initrd = initrd;
	req.initrd_size = 48 * MiB;   /* 64 MiB guest, kernel ends just above 16 MiB */
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "initrd.img: initrd of 50331648 bytes is too big"));
	assert_non_null(strstr(err.msg, "kernel's end 0x1001000"));
	req.initrd_size = 47 * MiB;
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), 0);
	assert_int_equal(res.initrd_addr, 17 * MiB);
	free(initrd);
}

static void initrd_never_overlaps_the_kernels_bss(void **state)
{
	static uint8_t initrd[5 * MiB];
	struct boot_request req = request(kernel_at(KPHYS, 44 * MiB), "");
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	req.initrd_name = "initrd.img";
	req.initrd = initrd;
	req.initrd_size = sizeof(initrd);   /* 64 - 5 = 59 MiB < kernel end 60 MiB */
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "kernel's end 0x3c00000"));
	req.initrd_size = 4 * MiB;
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), 0);
	assert_int_equal(res.initrd_addr, 60 * MiB);
}

static void empty_initrd_is_rejected(void **state)
{
	static uint8_t initrd[1];
	struct boot_request req = request(kernel_at(KPHYS, 0x1000), "");
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	req.initrd_name = "empty.img";
	req.initrd = initrd;
	req.initrd_size = 0;
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), -EINVAL);
	assert_string_equal(err.msg, "empty.img: initrd is empty");
}

static void empty_kernel_is_rejected(void **state)
{
	struct boot_request req = request(0, "");
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), -EINVAL);
	assert_string_equal(err.msg, KNAME ": kernel image is empty (0 bytes)");
}

static void kernel_over_1g_is_rejected(void **state)
{
	/* The size is checked before the data is read. */
	struct boot_request req = request(GiB + 1, "");
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), -EFBIG);
	assert_non_null(strstr(err.msg, KNAME ": kernel image of 1073741825 bytes is larger than the 1024 MiB limit"));
}

static void unknown_format_is_rejected(void **state)
{
	struct boot_request req = request(sizeof(img), "");
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	memset(img, 0, sizeof(img));
	memcpy(img, "MZ\x90\x00", 4);
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not an ELF or bzImage kernel (starts with 4d 5a 90 00"));
	req.kernel_size = 2;
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "starts with 4d 5a 00 00"));
}

static void missing_kernel_name_still_names_something(void **state)
{
	struct boot_request req = request(0, "");
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	req.kernel_name = NULL;
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), -EINVAL);
	assert_string_equal(err.msg, "kernel: kernel image is empty (0 bytes)");
}

static void result_is_cleared_on_failure(void **state)
{
	struct boot_request req = request(kernel_at(KPHYS, 0x1000), "");
	struct boot_result res, zero;
	struct vmon_error err;
	(void)state;

	elf_builder_ehdr64(img)->e_entry = 0x100;   /* not in the segment */
	memset(&res, 0xff, sizeof(res));
	memset(&zero, 0, sizeof(zero));
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), -EINVAL);
	assert_memory_equal(&res, &zero, sizeof(res));
}

static void setup_header_copy_stops_before_the_next_zero_page_field(void **state)
{
	static uint8_t image[0x400];
	struct boot_params bp;
	(void)state;

	memset(image, 0xee, sizeof(image));
	boot_params_from_header(&bp, image, 0x202 + 0xff);
	assert_int_equal(((uint8_t *)&bp)[0x1f0], 0);
	assert_int_equal(((uint8_t *)&bp)[0x1f1], 0xee);
	assert_int_equal(((uint8_t *)&bp)[0x28f], 0xee);
	assert_int_equal(((uint8_t *)&bp)[0x290], 0);
}

static void format_names(void **state)
{
	(void)state;
	assert_string_equal(kernel_format_name(KERNEL_FORMAT_ELF64), "ELF64");
	assert_string_equal(kernel_format_name(KERNEL_FORMAT_ELF32), "ELF32");
	assert_string_equal(kernel_format_name(KERNEL_FORMAT_BZIMAGE), "bzImage");
}

int main(void)
{
#define T(f) cmocka_unit_test_prestate_setup_teardown(f, guest_fixture_setup, guest_fixture_teardown, &mem)
	const struct CMUnitTest tests[] = {
		T(plain_elf_gets_a_minimal_zero_page),
		T(zero_page_points_at_the_acpi_rsdp),
		T(e820_map_covers_low_ram_bios_hole_and_ram_above_1m),
		T(e820_map_adds_ram_above_4g),
		T(kernel_stays_out_of_the_mmio_hole_and_below_4g),
		T(load_range_check_names_the_problem),
		T(cmdline_is_copied_nul_terminated),
		T(linux_kernels_get_the_extra_arguments_others_do_not),
		T(cmdline_longer_than_the_buffer_is_rejected),
		T(initrd_goes_page_aligned_to_the_top_of_low_ram),
		T(initrd_stays_below_the_default_initrd_addr_max),
		T(initrd_too_big_is_rejected),
		T(initrd_never_overlaps_the_kernels_bss),
		T(empty_initrd_is_rejected),
		T(empty_kernel_is_rejected),
		T(kernel_over_1g_is_rejected),
		T(unknown_format_is_rejected),
		T(missing_kernel_name_still_names_something),
		T(result_is_cleared_on_failure),
		T(setup_header_copy_stops_before_the_next_zero_page_field),
		T(format_names),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
