/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the kernel loaders (src/arch/x86/boot.c and what it
 * calls: elf_loader.c, bzimage.c, decompress.c, initramfs.c, pvh.c,
 * boot_params.c): x86_boot_load() of a hostile kernel image and initrd into
 * 8 MiB of guest RAM, as `vmon --kernel K --initrd I` does.
 *
 * Input: byte 0 options: bits 0-1 protocol (auto, linux, pvh, auto),
 * bit 2 bzImage decompressed in the guest, bit 3 initrd decompressed in the
 * guest, bit 4 with an initrd, bit 5 host-profile Linux arguments, bit 6 an
 * ACPI RSDP address; bytes 1-2 the initrd's size (little-endian, taken from
 * the end); the rest is the kernel image then the initrd.
 *
 * Checked: a refusal is a negative errno with a message; a load puts the
 * kernel, the initrd, the command line and the boot information inside
 * guest RAM and off each other (the kernel off vmon's boot area and the
 * EBDA/BIOS hole), the initrd page-aligned above the kernel;
 * an ELF kernel's segments hold the file's bytes then zeros; an initrd
 * loaded as given holds its bytes; the command line in guest RAM is the one
 * asked for. The image is a heap copy of exactly its size (ASan sees any
 * read past it); RAM is mapped between inaccessible pages.
 */
#include "fuzz_device.h"

#include "arch/x86/boot.h"
#include "arch/x86/boot_params.h"
#include "arch/x86/elf_loader.h"
#include "arch/x86/layout.h"
#include "arch/x86/memory.h"
#include "base/log.h"

#define RAM_SIZE (8u << 20)
#define CMDLINE "console=ttyS0 reboot=k panic=1"
#define EXTRA_ARGS "noxsave"

static struct guest_mem mem;

static bool in_ram(uint64_t start, uint64_t len)
{
	return start <= RAM_SIZE && len <= RAM_SIZE - start;
}

/* [start, end) stays off the EBDA and the VGA/BIOS hole (e820-reserved). */
static bool off_bios_hole(uint64_t start, uint64_t end)
{
	return start >= X86_BIOS_HOLE_END || end <= X86_EBDA_START;
}

static bool all_zero(const uint8_t *p, uint64_t len)
{
	static const uint8_t zeros[4096];

	for (uint64_t n; len; p += n, len -= n) {
		n = len < sizeof(zeros) ? len : sizeof(zeros);
		if (memcmp(p, zeros, n))
			return false;
	}
	return true;
}

static void check_elf_segments(const uint8_t *image, size_t size)
{
	struct elf_kernel elf;
	struct vmon_error err = { 0 };

	FUZZ_CHECK(elf_parse(image, size, &elf, &err) == 0);
	for (unsigned i = 0; i < elf.nsegments; i++) {
		const struct elf_segment *s = &elf.segments[i];
		const uint8_t *ram = guest_mem_ptr(&mem, s->paddr, s->memsz);

		FUZZ_CHECK(ram != NULL);
		FUZZ_CHECK(s->paddr >= X86_BOOT_AREA_END && off_bios_hole(s->paddr, s->paddr + s->memsz));
		FUZZ_CHECK(s->offset + s->filesz <= size);
		/* A later segment may overlap an earlier one only if the parser allowed it: it must not. */
		FUZZ_CHECK(memcmp(ram, image + s->offset, s->filesz) == 0);
		FUZZ_CHECK(all_zero(ram + s->filesz, s->memsz - s->filesz));
	}
}

static void check_loaded(const struct boot_request *req, const struct boot_result *out)
{
	const char *cmdline = guest_mem_ptr(&mem, X86_CMDLINE_ADDR, 1);
	size_t base = strlen(req->cmdline);

	FUZZ_CHECK(out->kernel_start < out->kernel_end && in_ram(out->kernel_start, out->kernel_end - out->kernel_start));
	FUZZ_CHECK(out->entry < RAM_SIZE);
	FUZZ_CHECK(out->boot_info_addr == X86_ZERO_PAGE_ADDR || out->boot_info_addr == X86_PVH_START_INFO_ADDR);
	/* Off vmon's boot area (page tables, zero page, command line); the hole: per segment, below. */
	FUZZ_CHECK(out->kernel_start >= X86_BOOT_AREA_END);
	if (out->format == KERNEL_FORMAT_BZIMAGE && req->bzimage_guest_decompress)
		FUZZ_CHECK(off_bios_hole(out->kernel_start, out->kernel_end));
	if (out->initrd_size) {
		FUZZ_CHECK(in_ram(out->initrd_addr, out->initrd_size));
		FUZZ_CHECK(out->initrd_addr % 4096 == 0 && out->initrd_addr >= out->kernel_end);
		FUZZ_CHECK(out->initrd_addr >= X86_BIOS_HOLE_END);
		if (!out->initrd_decompressed) {
			FUZZ_CHECK(out->initrd_size == req->initrd_size);
			FUZZ_CHECK(!memcmp(guest_mem_ptr(&mem, out->initrd_addr, out->initrd_size), req->initrd,
					   req->initrd_size));
		}
	} else {
		FUZZ_CHECK(out->initrd_addr == 0 && (!req->initrd || out->initrd_decompressed));
	}
	/* The command line: the one asked for, with the Linux arguments after it for a Linux kernel. */
	FUZZ_CHECK(strncmp(cmdline, req->cmdline, base) == 0);
	if (out->is_linux && req->linux_extra_args)
		FUZZ_CHECK(!strcmp(cmdline + base, " " EXTRA_ARGS));
	else
		FUZZ_CHECK(cmdline[base] == '\0');
	if (out->format != KERNEL_FORMAT_BZIMAGE)
		check_elf_segments(req->kernel, req->kernel_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct boot_request req = { 0 };
	struct boot_result out;
	struct vmon_error err = { 0 };
	size_t initrd_size, kernel_size;
	uint8_t *kernel, *initrd = NULL;
	int r;

	if (!ready) {
		log_set_level(LOG_OFF);
		if (x86_guest_mem_create(&mem, RAM_SIZE, &err)) {
			fprintf(stderr, "fuzz_loader: set-up: %s\n", err.msg);
			abort();
		}
		ready = true;
	}
	if (size < 3)
		return 0;
	initrd_size = (data[0] & 16) ? (size_t)(data[1] | data[2] << 8) : 0;
	if (initrd_size > size - 3)
		initrd_size = size - 3;
	kernel_size = size - 3 - initrd_size;
	/* Exact-size heap copies: ASan reports any read past either. */
	kernel = malloc(kernel_size ? kernel_size : 1);
	FUZZ_CHECK(kernel != NULL);
	memcpy(kernel, data + 3, kernel_size);
	if (data[0] & 16) {
		initrd = malloc(initrd_size ? initrd_size : 1);
		FUZZ_CHECK(initrd != NULL);
		memcpy(initrd, data + 3 + kernel_size, initrd_size);
	}
	req = (struct boot_request){
		.kernel_name = "kernel", .kernel = kernel, .kernel_size = kernel_size,
		.initrd_name = initrd ? "initrd" : NULL, .initrd = initrd, .initrd_size = initrd_size,
		.cmdline = CMDLINE, .linux_extra_args = (data[0] & 32) ? EXTRA_ARGS : NULL,
		.protocol = (data[0] & 3) == 1 ? BOOT_PROTOCOL_LINUX : (data[0] & 3) == 2 ? BOOT_PROTOCOL_PVH :
			    BOOT_PROTOCOL_AUTO,
		.bzimage_guest_decompress = data[0] & 4, .initrd_guest_decompress = data[0] & 8,
		.acpi_rsdp_addr = (data[0] & 64) ? 0xe0000 : 0,
	};
	memset(&out, 0, sizeof(out));
	r = x86_boot_load(&mem, &req, &out, &err);
	if (getenv("FUZZ_LOADER_TRACE"))
		fprintf(stderr, "fuzz_loader: %d %s; format %s entry 0x%llx kernel 0x%llx-0x%llx initrd 0x%llx+%llu%s\n",
			r, err.msg, kernel_format_name(out.format), (unsigned long long)out.entry,
			(unsigned long long)out.kernel_start, (unsigned long long)out.kernel_end,
			(unsigned long long)out.initrd_addr, (unsigned long long)out.initrd_size,
			out.initrd_decompressed ? " (unpacked)" : "");
	if (r) {
		FUZZ_CHECK(r < 0 && r > -4096);
		FUZZ_CHECK(err.msg[0] != '\0');
	} else {
		check_loaded(&req, &out);
	}
	free(kernel);
	free(initrd);
	return 0;
}
