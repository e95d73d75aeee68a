/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "arch/x86/boot.h"
#include "arch/x86/boot_params.h"
#include "arch/x86/bzimage.h"
#include "arch/x86/layout.h"
#include "arch/x86/pvh.h"
#include "arch/x86/x86_test_tools.h"
#include "elf_builder.h"
#include "guest_fixture.h"

/*
 * bzImages with the layout tests/integration/mkbzimage.py writes: setup_sects 4,
 * protocol 2.15, code32_start 0x100000, protected-mode part = flat image
 * (64-bit entry at +0x200) + payload (compressed ELF + size trailer).
 */
#define MiB (1ull << 20)
#define KNAME "bzImage-test"
#define KPHYS 0x1000000ull
#define SETUP_SECTS 4
#define SETUP_SIZE ((SETUP_SECTS + 1) * 512)
#define FLAT_SIZE 0x600
#define FLAT_ENTRY_BYTE 0xe9

enum method { XZ, ZSTD, GZIP };

static _Alignas(16) uint8_t img[4 << 20];
static _Alignas(16) uint8_t elf[1 << 20];
static uint8_t flat[FLAT_SIZE];
static uint8_t payload[1 << 20];
static size_t elf_size, payload_size;
static struct guest_mem mem;

static size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }
static struct setup_header *hdr(void) { return (struct setup_header *)(img + BZIMAGE_HDR_OFFSET); }

/* A vmlinux-like ELF64: one segment of 0xaa bytes (+ bss) at paddr, optional PVH note. */
static void make_elf(uint64_t paddr, uint64_t pvh_entry)
{
	uint8_t note[64];
	size_t note_len = elf_builder_note(note, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &pvh_entry, 8);
	const struct elf_builder_segment s[] = {
		{ PT_LOAD, paddr, paddr, 0x1000, 0x3000, .fill = 0xaa },
		{ PT_NOTE, 0, 0, note_len, note_len, .align = 4, .data = note },
	};

	elf_size = elf_builder_build(elf, sizeof(elf), true, paddr, s, pvh_entry ? 2 : 1);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* payload = compressed in[] + trailer, as the kernel build (and mkbzimage.py) makes it. */
static void make_payload(enum method m, const uint8_t *in, size_t len)
{
	if (m == XZ) {
		lzma_options_lzma opt;
		lzma_lzma_preset(&opt, 1);   /* small encoder: tests run with MALLOC_PERTURB_ */
		lzma_filter filters[] = { { LZMA_FILTER_X86, NULL }, { LZMA_FILTER_LZMA2, &opt },
					  { LZMA_VLI_UNKNOWN, NULL } };
		size_t pos = 0;
		assert_int_equal(lzma_stream_buffer_encode(filters, LZMA_CHECK_CRC32, NULL, in, len, payload, &pos,
							   sizeof(payload) - 4), LZMA_OK);
		put_le32(payload + pos, (uint32_t)len);
		payload_size = pos + 4;
	} else if (m == ZSTD) {
		size_t n = ZSTD_compress(payload, sizeof(payload) - 4, in, len, 19);
		assert_false(ZSTD_isError(n));
		put_le32(payload + n, (uint32_t)len);
		payload_size = n + 4;
	} else {
		z_stream zs;
		memset(&zs, 0, sizeof(zs));
		assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
		zs.next_in = (Bytef *)in; zs.avail_in = (uInt)len;
		zs.next_out = payload; zs.avail_out = sizeof(payload);
		assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
		payload_size = zs.total_out;   /* gzip's ISIZE is the trailer */
		deflateEnd(&zs);
	}
}

/* The bzImage mkbzimage.py builds from flat[], payload[] and an ELF spanning [elf_start, elf_end). */
static size_t bz_assemble(uint64_t elf_start, uint64_t elf_end)
{
	struct setup_header *h = hdr();
	uint8_t *pm = img + SETUP_SIZE;
	size_t pm_mem = FLAT_SIZE, payload_offset, pm_size;

	if (elf_start == X86_KERNEL_DEFAULT_ADDR && elf_end - X86_KERNEL_DEFAULT_ADDR > pm_mem)
		pm_mem = elf_end - X86_KERNEL_DEFAULT_ADDR;
	payload_offset = align_up(pm_mem, 16);
	pm_size = align_up(payload_offset + payload_size, 16);
	memset(img, 0, SETUP_SIZE + pm_size);
	memcpy(pm, flat, FLAT_SIZE);
	memcpy(pm + payload_offset, payload, payload_size);

	h->setup_sects = SETUP_SECTS;
	h->syssize = (uint32_t)(pm_size / 16);
	h->vid_mode = 0xffff;
	h->boot_flag = 0xaa55;
	h->jump = 0xeb | (0x6a << 8);         /* header ends at 0x26c */
	h->header = BZIMAGE_MAGIC;
	h->version = 0x020f;
	h->start_sys_seg = 0x1000;
	h->loadflags = LOADED_HIGH;
	h->setup_move_size = 0x8000;
	h->code32_start = 0x100000;
	h->initrd_addr_max = 0x7fffffff;
	h->kernel_alignment = 0x200000;
	h->min_alignment = 21;
	h->xloadflags = XLF_KERNEL_64;
	h->cmdline_size = 2047;
	h->payload_offset = (uint32_t)payload_offset;
	h->payload_length = (uint32_t)payload_size;
	h->pref_address = 0x100000;
	h->init_size = (uint32_t)align_up(pm_size, 4096);
	return SETUP_SIZE + pm_size;
}

static size_t build(enum method m)
{
	make_elf(KPHYS, 0);
	make_payload(m, elf, elf_size);
	return bz_assemble(KPHYS, KPHYS + 0x3000);
}

static int setup(void **state)
{
	memset(flat, 0x90, sizeof(flat));
	flat[0x200] = FLAT_ENTRY_BYTE;
	return guest_fixture_setup(state);
}

static int load_with(const uint8_t *image, size_t size, bool guest_decompress, enum boot_protocol protocol,
		     const char *cmdline, struct boot_result *res, struct vmon_error *err)
{
	struct boot_request req = { .kernel_name = KNAME, .kernel = image, .kernel_size = size,
				    .cmdline = cmdline, .protocol = protocol,
				    .bzimage_guest_decompress = guest_decompress };
	error_clear(err);
	return x86_boot_load(&mem, &req, res, err);
}

static int load(size_t size, bool guest_decompress, struct boot_result *res, struct vmon_error *err)
{
	return load_with(img, size, guest_decompress, BOOT_PROTOCOL_AUTO, "console=ttyS0", res, err);
}

static void assert_rejected(size_t size, bool guest_decompress, int code, const char *what)
{
	struct boot_result res;
	struct vmon_error err;

	assert_int_equal(load(size, guest_decompress, &res, &err), code);
	if (!strstr(err.msg, what) || strncmp(err.msg, KNAME ": ", strlen(KNAME) + 2) != 0)
		fail_msg("message \"%s\" lacks \"%s\" or the file name", err.msg, what);
	assert_int_equal(res.entry, 0);
}

static void boots_decompressed_vmlinux(enum method m, const char *name)
{
	struct boot_result res;
	struct vmon_error err;

	assert_int_equal(load(build(m), false, &res, &err), 0);
	assert_int_equal(res.format, KERNEL_FORMAT_BZIMAGE);
	assert_int_equal(res.mode, BOOT_ENTRY_LONG_MODE);
	assert_int_equal(res.entry, KPHYS);
	assert_int_equal(res.boot_info_addr, X86_ZERO_PAGE_ADDR);
	assert_int_equal(res.kernel_start, KPHYS);
	assert_int_equal(res.kernel_end, KPHYS + 0x3000);
	assert_string_equal(res.payload_compression, name);
	const uint8_t *k = guest_mem_ptr(&mem, KPHYS, 0x3000);
	assert_int_equal(k[0], 0xaa);
	assert_int_equal(k[0xfff], 0xaa);
	assert_int_equal(k[0x1000], 0);
	/* Host decompression does not load the protected-mode part. */
	assert_int_equal(*(uint8_t *)guest_mem_ptr(&mem, 0x100200, 1), 0);
}

static void xz_payload_boots_decompressed_vmlinux(void **state)
{
	(void)state;
	boots_decompressed_vmlinux(XZ, "xz");
}

static void zstd_payload_boots_decompressed_vmlinux(void **state)
{
	(void)state;
	boots_decompressed_vmlinux(ZSTD, "zstd");
}

static void gzip_payload_boots_decompressed_vmlinux(void **state)
{
	(void)state;
	boots_decompressed_vmlinux(GZIP, "gzip");
}

static void zero_page_carries_the_setup_header(void **state)
{
	struct boot_params bp;
	struct boot_result res;
	struct vmon_error err;
	size_t size = build(XZ);
	(void)state;

	img[0x26c] = 0x77;   /* code after the header (0x202 + 0x6a) must not be copied */
	assert_int_equal(load(size, false, &res, &err), 0);
	assert_int_equal(guest_mem_read(&mem, X86_ZERO_PAGE_ADDR, &bp, sizeof(bp)), 0);
	/* Read from the image. */
	assert_int_equal(bp.hdr.header, BZIMAGE_MAGIC);
	assert_int_equal(bp.hdr.version, 0x020f);
	assert_int_equal(bp.hdr.setup_sects, SETUP_SECTS);
	assert_int_equal(bp.hdr.code32_start, 0x100000);
	assert_int_equal(bp.hdr.xloadflags, XLF_KERNEL_64);
	assert_int_equal(bp.hdr.cmdline_size, 2047);
	assert_int_equal(bp.hdr.init_size, hdr()->init_size);
	assert_int_equal(bp.hdr.payload_length, payload_size);
	assert_int_equal(((uint8_t *)&bp)[0x26c], 0);
	/* Written by the loader. */
	assert_int_equal(bp.hdr.type_of_loader, 0xff);
	assert_int_equal(bp.hdr.loadflags, LOADED_HIGH | CAN_USE_HEAP);
	assert_int_equal(bp.hdr.heap_end_ptr, 0xe000 - 0x200);
	assert_int_equal(bp.hdr.vid_mode, 0xffff);
	assert_int_equal(bp.hdr.cmd_line_ptr, X86_CMDLINE_ADDR);
	assert_string_equal((const char *)guest_mem_ptr(&mem, X86_CMDLINE_ADDR, 14), "console=ttyS0");
	assert_int_equal(bp.hdr.ramdisk_image, 0);
	assert_int_equal(bp.hdr.ramdisk_size, 0);
	assert_int_equal(bp.e820_entries, 4);   /* low RAM, BIOS hole, RAM, PCI ECAM (reserved) */
	assert_int_equal(bp.e820_table[2].addr, 0x100000);
	assert_int_equal(bp.e820_table[2].size, 63 * MiB);
	assert_int_equal(bp.e820_table[2].type, E820_TYPE_RAM);
}

static void initrd_respects_the_kernels_initrd_addr_max(void **state)
{
	static uint8_t initrd[MiB];
	struct boot_params bp;
	struct boot_result res;
	struct vmon_error err;
	size_t size = build(ZSTD);
	(void)state;

	hdr()->initrd_addr_max = 48 * MiB - 1;   /* highest byte it may use */
	memset(initrd, 0x42, sizeof(initrd));
	struct boot_request req = { .kernel_name = KNAME, .kernel = img, .kernel_size = size, .cmdline = "",
				    .initrd_name = "initrd.img", .initrd = initrd, .initrd_size = sizeof(initrd) - 100 };
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), 0);
	assert_int_equal(res.initrd_addr, 47 * MiB);
	assert_int_equal(res.initrd_size, sizeof(initrd) - 100);
	assert_int_equal(guest_mem_read(&mem, X86_ZERO_PAGE_ADDR, &bp, sizeof(bp)), 0);
	assert_int_equal(bp.hdr.ramdisk_image, 47 * MiB);
	assert_int_equal(bp.hdr.ramdisk_size, sizeof(initrd) - 100);
	assert_int_equal(bp.ext_ramdisk_image, 0);
	assert_memory_equal(guest_mem_ptr(&mem, 47 * MiB, sizeof(initrd) - 100), initrd, sizeof(initrd) - 100);
}

static void guest_decompression_loads_protected_mode_code_at_code32_start(void **state)
{
	struct boot_params bp;
	struct boot_result res;
	struct vmon_error err;
	size_t size = build(XZ);
	(void)state;

	assert_int_equal(load(size, true, &res, &err), 0);
	assert_int_equal(res.format, KERNEL_FORMAT_BZIMAGE);
	assert_int_equal(res.mode, BOOT_ENTRY_LONG_MODE);
	assert_int_equal(res.entry, 0x100200);
	assert_int_equal(res.kernel_start, 0x100000);
	assert_int_equal(res.kernel_end, 0x100000 + hdr()->init_size);
	assert_null(res.payload_compression);
	assert_memory_equal(guest_mem_ptr(&mem, 0x100000, size - SETUP_SIZE), img + SETUP_SIZE, size - SETUP_SIZE);
	assert_int_equal(*(uint8_t *)guest_mem_ptr(&mem, res.entry, 1), FLAT_ENTRY_BYTE);
	/* The payload stays compressed; nothing appears at the vmlinux address. */
	assert_int_equal(*(uint8_t *)guest_mem_ptr(&mem, KPHYS, 1), 0);
	assert_int_equal(guest_mem_read(&mem, X86_ZERO_PAGE_ADDR, &bp, sizeof(bp)), 0);
	assert_int_equal(bp.hdr.code32_start, 0x100000);
	assert_int_equal(bp.hdr.cmd_line_ptr, X86_CMDLINE_ADDR);
}

static void relocatable_kernel_needs_init_size_from_its_runtime_start(void **state)
{
	struct boot_result res;
	struct vmon_error err;
	size_t size = build(XZ);
	(void)state;

	/* Like Linux: relocatable, 2 MiB aligned, LOAD_PHYSICAL_ADDR 16 MiB. */
	hdr()->relocatable_kernel = 1;
	hdr()->pref_address = 0x1000000;
	hdr()->init_size = 0x2000000;
	assert_int_equal(load(size, true, &res, &err), 0);
	assert_int_equal(res.kernel_end, 0x3000000);
	hdr()->init_size = 0x3000000;   /* 16 + 48 MiB: exactly the 64 MiB guest */
	assert_int_equal(load(size, true, &res, &err), 0);
	hdr()->init_size = 0x3001000;
	assert_rejected(size, true, -EINVAL, "kernel at code32_start 0x100000 with init_size 0x3001000");
}

static void init_size_beyond_ram_is_rejected(void **state)
{
	size_t size = build(XZ);
	(void)state;

	hdr()->init_size = 64 * MiB;
	assert_rejected(size, true, -EINVAL, "is outside guest RAM");
}

static void guest_decompression_needs_the_64_bit_entry(void **state)
{
	size_t size = build(XZ);
	(void)state;

	hdr()->xloadflags = 0;
	assert_rejected(size, true, -EINVAL, "xloadflags 0x0 lacks XLF_KERNEL_64");
	/* xloadflags exists from protocol 2.12 on; before, the bits mean nothing. */
	hdr()->xloadflags = XLF_KERNEL_64;
	hdr()->version = 0x020b;
	assert_rejected(size, true, -EINVAL, "has no 64-bit entry (protocol 2.11");
}

static void guest_decompression_refuses_pvh(void **state)
{
	struct boot_result res;
	struct vmon_error err;
	size_t size = build(XZ);
	(void)state;

	assert_int_equal(load_with(img, size, true, BOOT_PROTOCOL_PVH, "", &res, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "boots only with the Linux protocol, not PVH"));
}

static void pvh_boots_the_decompressed_vmlinux_note(void **state)
{
	struct boot_result res;
	struct vmon_error err;
	(void)state;

	make_elf(KPHYS, KPHYS + 0x40);
	make_payload(XZ, elf, elf_size);
	size_t size = bz_assemble(KPHYS, KPHYS + 0x3000);
	assert_int_equal(load_with(img, size, false, BOOT_PROTOCOL_PVH, "", &res, &err), 0);
	assert_int_equal(res.format, KERNEL_FORMAT_BZIMAGE);
	assert_int_equal(res.mode, BOOT_ENTRY_PROTECTED);
	assert_int_equal(res.entry, KPHYS + 0x40);
	assert_int_equal(res.boot_info_addr, X86_PVH_START_INFO_ADDR);
	/* AUTO keeps the Linux protocol for a bzImage. */
	assert_int_equal(load_with(img, size, false, BOOT_PROTOCOL_AUTO, "", &res, &err), 0);
	assert_int_equal(res.mode, BOOT_ENTRY_LONG_MODE);
}

static void old_boot_protocol_is_rejected(void **state)
{
	size_t size = build(XZ);
	(void)state;

	hdr()->version = 0x0205;
	assert_rejected(size, false, -EINVAL, "boot protocol 2.05 is older than 2.06");
}

static void setup_sects_past_end_is_rejected(void **state)
{
	size_t size = build(XZ);
	(void)state;

	hdr()->setup_sects = 200;
	assert_rejected(size, false, -EINVAL, "setup_sects 200: setup area of 102912 bytes");
}

static void zero_setup_sects_means_four(void **state)
{
	struct boot_result res;
	struct vmon_error err;
	size_t size = build(GZIP);
	(void)state;

	hdr()->setup_sects = 0;
	assert_int_equal(load(size, false, &res, &err), 0);
}

static void missing_hdrs_magic_is_rejected(void **state)
{
	size_t size = build(XZ);
	(void)state;

	hdr()->header = 0x12345678;
	assert_rejected(size, false, -EINVAL, "not an ELF or bzImage kernel");
}

static void bad_boot_flag_is_rejected(void **state)
{
	size_t size = build(XZ);
	(void)state;

	hdr()->boot_flag = 0x1234;
	assert_rejected(size, false, -EINVAL, "boot_flag 0x1234 is not 0xaa55");
}

static void zimage_is_rejected(void **state)
{
	size_t size = build(XZ);
	(void)state;

	hdr()->loadflags = 0;
	assert_rejected(size, false, -EINVAL, "lack LOADED_HIGH");
}

static void truncated_bzimage_is_rejected(void **state)
{
	(void)state;
	build(XZ);
	assert_rejected(0x240, false, -EINVAL, "truncated: 576 bytes");
	assert_rejected(SETUP_SIZE + 0x100, false, -EINVAL, "syssize");
}

static void syssize_past_end_is_rejected(void **state)
{
	size_t size = build(XZ);
	(void)state;

	hdr()->syssize += 1;
	assert_rejected(size, false, -EINVAL, "syssize");
}

static void payload_outside_protected_mode_part_is_rejected(void **state)
{
	size_t size = build(XZ);
	(void)state;

	hdr()->payload_length += 16 + 1;
	assert_rejected(size, false, -EINVAL, "payload [0x600, +0x");
	hdr()->payload_offset = 0xfffffff0;
	assert_rejected(size, false, -EINVAL, "lies outside the");
}

static void missing_payload_needs_guest_decompression(void **state)
{
	size_t size = build(XZ);
	(void)state;

	hdr()->payload_length = 0;
	assert_rejected(size, false, -EINVAL, "no payload to decompress on the host");
	assert_rejected(size, false, -EINVAL, "--bzimage-guest-decompress");
}

static void unsupported_compression_names_itself_and_the_flag(void **state)
{
	size_t size = build(XZ);
	uint8_t *p = img + SETUP_SIZE + hdr()->payload_offset;
	(void)state;

	memcpy(p, "\x02\x21\x4c\x18", 4);   /* lz4 legacy frame */
	assert_rejected(size, false, -ENOTSUP, "payload is lz4-compressed");
	assert_rejected(size, false, -ENOTSUP, "use --bzimage-guest-decompress");
	/* The same image boots when the guest decompresses it. */
	struct boot_result res;
	struct vmon_error err;
	assert_int_equal(load(size, true, &res, &err), 0);
}

static void corrupt_payload_is_rejected(void **state)
{
	size_t size = build(XZ);
	uint8_t *p = img + SETUP_SIZE + hdr()->payload_offset;
	(void)state;

	for (unsigned i = 24; i < 64; i++)
		p[i] ^= 0xa5;
	assert_rejected(size, false, -EINVAL, "xz payload");
}

static void payload_size_mismatch_is_rejected(void **state)
{
	size_t size = build(ZSTD);
	uint8_t *trailer = img + SETUP_SIZE + hdr()->payload_offset + payload_size - 4;
	(void)state;

	put_le32(trailer, (uint32_t)elf_size + 1);
	assert_rejected(size, false, -EINVAL, "but its size trailer says");
	put_le32(trailer, (uint32_t)elf_size - 1);
	assert_rejected(size, false, -EINVAL, "decompresses to more than");
	put_le32(trailer, 0x40000000);
	assert_rejected(size, false, -EFBIG, "more than the 512 MiB limit");
}

static void payload_that_is_not_elf_is_rejected(void **state)
{
	(void)state;
	memset(elf, 0x33, 0x1000);
	make_payload(GZIP, elf, 0x1000);
	size_t size = bz_assemble(0, 0);
	assert_rejected(size, false, -EINVAL, "decompressed gzip payload is not an ELF (starts with 33 33 33 33)");
}

static void broken_vmlinux_names_the_payload(void **state)
{
	(void)state;
	make_elf(KPHYS, 0);
	elf_builder_ehdr64(elf)->e_machine = EM_386;
	make_payload(XZ, elf, elf_size);
	size_t size = bz_assemble(KPHYS, KPHYS + 0x3000);
	assert_rejected(size, false, -EINVAL, KNAME ": xz payload: ELF64 e_machine 3 is not x86-64");
}

static void cmdline_longer_than_cmdline_size_is_rejected(void **state)
{
	static char cmdline[2100];
	struct boot_result res;
	struct vmon_error err;
	size_t size = build(XZ);
	(void)state;

	memset(cmdline, 'x', 2047);
	assert_int_equal(load_with(img, size, false, BOOT_PROTOCOL_AUTO, cmdline, &res, &err), 0);
	cmdline[2047] = 'y';
	assert_int_equal(load_with(img, size, false, BOOT_PROTOCOL_AUTO, cmdline, &res, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "command line is 2048 bytes, longer than the kernel's cmdline_size 2047"));
	assert_int_equal(load_with(img, size, true, BOOT_PROTOCOL_AUTO, cmdline, &res, &err), -E2BIG);
}

/* ---- mkbzimage.py and this file's builder agree ---- */

static char tmpdir[64];

static void write_file(const char *name, const uint8_t *data, size_t len)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* Runs mkbzimage.py into img; returns the image size. */
static size_t run_mkbzimage(const char *compression)
{
	char elf_path[128], pm_path[128], out_path[128];
	int status;
	pid_t pid;

	snprintf(elf_path, sizeof(elf_path), "%s/guest.elf", tmpdir);
	snprintf(pm_path, sizeof(pm_path), "%s/guest.flat", tmpdir);
	snprintf(out_path, sizeof(out_path), "%s/guest.bzImage", tmpdir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(PYTHON3, PYTHON3, MKBZIMAGE_PY, "--elf", elf_path, "--pm", pm_path, "--compression",
		      compression, "-o", out_path, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	FILE *f = fopen(out_path, "rb");
	assert_non_null(f);
	size_t n = fread(img, 1, sizeof(img), f);
	fclose(f);
	unlink(out_path);
	return n;
}

static void tool_matches_builder(const char *compression, uint64_t elf_paddr, uint64_t elf_end)
{
	static uint8_t tool_img[sizeof(img)];
	struct boot_result res;
	struct vmon_error err;

	if (PYTHON3[0] == '\0')
		fail_msg("no python3 found by meson: mkbzimage.py cannot run");
	strcpy(tmpdir, "/tmp/vmon-mkbzimage-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	write_file("guest.elf", elf, elf_size);
	write_file("guest.flat", flat, FLAT_SIZE);
	size_t size = run_mkbzimage(compression);
	char path[128];
	snprintf(path, sizeof(path), "%s/guest.elf", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/guest.flat", tmpdir);
	unlink(path);
	rmdir(tmpdir);

	/* Host decompression of the tool's image gives back the ELF. */
	assert_int_equal(load(size, false, &res, &err), 0);
	assert_string_equal(res.payload_compression, compression);
	assert_int_equal(res.entry, elf_paddr);
	assert_int_equal(res.kernel_end, elf_end);
	assert_int_equal(load(size, true, &res, &err), 0);
	assert_int_equal(res.entry, 0x100200);
	assert_int_equal(*(uint8_t *)guest_mem_ptr(&mem, res.entry, 1), FLAT_ENTRY_BYTE);

	/* Same flat image and payload through this file's builder: the same bytes. */
	memcpy(tool_img, img, size);
	payload_size = hdr()->payload_length;
	memcpy(payload, img + SETUP_SIZE + hdr()->payload_offset, payload_size);
	assert_int_equal(bz_assemble(elf_paddr, elf_end), size);
	assert_memory_equal(img, tool_img, size);
}

static void mkbzimage_xz_image_matches_the_parser(void **state)
{
	(void)state;
	make_elf(KPHYS, 0);
	tool_matches_builder("xz", KPHYS, KPHYS + 0x3000);
}

static void mkbzimage_gzip_image_matches_the_parser(void **state)
{
	(void)state;
	make_elf(KPHYS, 0);
	tool_matches_builder("gzip", KPHYS, KPHYS + 0x3000);
}

static void mkbzimage_zstd_image_matches_the_parser(void **state)
{
	(void)state;
	if (!HAVE_ZSTD_COMMAND)
		fail_msg("the zstd command was not found at meson setup: install the Debian package zstd");
	make_elf(KPHYS, 0);
	tool_matches_builder("zstd", KPHYS, KPHYS + 0x3000);
}

static void mkbzimage_keeps_the_flat_programs_bss_clear(void **state)
{
	(void)state;
	/* A guest linked at 1 MiB whose memory (0x3000) outgrows its flat image (0x600). */
	make_elf(0x100000, 0);
	tool_matches_builder("xz", 0x100000, 0x103000);
	assert_int_equal(hdr()->payload_offset, 0x3000);
}

int main(void)
{
#define T(f) cmocka_unit_test_prestate_setup_teardown(f, setup, guest_fixture_teardown, &mem)
	const struct CMUnitTest tests[] = {
		T(xz_payload_boots_decompressed_vmlinux),
		T(zstd_payload_boots_decompressed_vmlinux),
		T(gzip_payload_boots_decompressed_vmlinux),
		T(zero_page_carries_the_setup_header),
		T(initrd_respects_the_kernels_initrd_addr_max),
		T(guest_decompression_loads_protected_mode_code_at_code32_start),
		T(relocatable_kernel_needs_init_size_from_its_runtime_start),
		T(init_size_beyond_ram_is_rejected),
		T(guest_decompression_needs_the_64_bit_entry),
		T(guest_decompression_refuses_pvh),
		T(pvh_boots_the_decompressed_vmlinux_note),
		T(old_boot_protocol_is_rejected),
		T(setup_sects_past_end_is_rejected),
		T(zero_setup_sects_means_four),
		T(missing_hdrs_magic_is_rejected),
		T(bad_boot_flag_is_rejected),
		T(zimage_is_rejected),
		T(truncated_bzimage_is_rejected),
		T(syssize_past_end_is_rejected),
		T(payload_outside_protected_mode_part_is_rejected),
		T(missing_payload_needs_guest_decompression),
		T(unsupported_compression_names_itself_and_the_flag),
		T(corrupt_payload_is_rejected),
		T(payload_size_mismatch_is_rejected),
		T(payload_that_is_not_elf_is_rejected),
		T(broken_vmlinux_names_the_payload),
		T(cmdline_longer_than_cmdline_size_is_rejected),
		T(mkbzimage_xz_image_matches_the_parser),
		T(mkbzimage_gzip_image_matches_the_parser),
		T(mkbzimage_zstd_image_matches_the_parser),
		T(mkbzimage_keeps_the_flat_programs_bss_clear),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
