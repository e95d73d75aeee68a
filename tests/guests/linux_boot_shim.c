/* SPDX-License-Identifier: MIT */
/*
 * linux_boot_shim: a test tool, not a test guest. QEMU boots ELF kernels only
 * through PVH, so to exercise the guests' 64-bit Linux entry under QEMU this
 * PVH kernel (linked at 8 MiB) plays the Linux-protocol loader:
 *
 *   qemu-system-x86_64 ... -kernel linux_boot_shim.elf \
 *       -device loader,file=GUEST.flat,addr=0x100000,force-raw=on -append "..."
 *
 * It builds a zero page (struct boot_params) from what PVH gave it (same
 * cmdline, memory map as e820) and enters GUEST.flat at 0x100200 in long mode
 * with the shim's identity mapping still active and RSI = the zero page, as
 * Documentation/x86/boot.rst's 64-bit boot protocol describes.
 * It prints nothing unless something is wrong, so the guest's output is
 * the same as under PVH.
 */
#include "lib.h"

#define GUEST_LOAD_ADDR   0x100000ul
#define GUEST_ENTRY64     (GUEST_LOAD_ADDR + 0x200)

/* Documentation/x86/zero-page.rst and boot.rst */
#define ZP_E820_ENTRIES     0x1e8
#define ZP_BOOT_FLAG        0x1fe
#define ZP_HEADER           0x202
#define ZP_VERSION          0x206
#define ZP_TYPE_OF_LOADER   0x210
#define ZP_LOADFLAGS        0x211
#define ZP_CMD_LINE_PTR     0x228
#define ZP_CMDLINE_SIZE     0x238
#define ZP_E820_TABLE       0x2d0
#define ZP_E820_MAX         128
#define ZP_E820_ENTRY_SIZE  20
#define LOADED_HIGH         0x01

static uint8_t zero_page[4096] __attribute__((section(".bss.noinit.zp"), aligned(4096)));
static char cmdline[BOOT_CMDLINE_MAX] __attribute__((section(".bss.noinit.cmdline")));

static void put32(uint32_t off, uint32_t v)
{
	memcpy(zero_page + off, &v, sizeof(v));
}

static void put16(uint32_t off, uint16_t v)
{
	memcpy(zero_page + off, &v, sizeof(v));
}

void guest_main(const struct boot_info *bi)
{
	size_t len = strlen(bi->cmdline);
	uint32_t magic;

	/* The guest's 64-bit entry starts with "cli; cld" (fa fc). */
	memcpy(&magic, (const void *)GUEST_ENTRY64, sizeof(magic));
	if ((magic & 0xffff) != 0xfcfa) {
		printf("linux_boot_shim: no test guest at 0x%lx (found 0x%x)\n", GUEST_ENTRY64, magic);
		debug_exit(GUEST_EXIT_BAD_BOOT);
	}
	if (bi->mem_total > ZP_E820_MAX || bi->mem_total > bi->mem_count) {
		printf("linux_boot_shim: %u memory map entries, cannot pass them on\n", bi->mem_total);
		debug_exit(GUEST_EXIT_BAD_BOOT);
	}

	memset(zero_page, 0, sizeof(zero_page));
	memcpy(cmdline, bi->cmdline, len + 1);
	put16(ZP_BOOT_FLAG, 0xaa55);
	memcpy(zero_page + ZP_HEADER, "HdrS", 4);
	put16(ZP_VERSION, 0x020f);
	zero_page[ZP_TYPE_OF_LOADER] = 0xff;   /* undefined loader */
	zero_page[ZP_LOADFLAGS] = LOADED_HIGH;
	put32(ZP_CMD_LINE_PTR, (uint32_t)(uintptr_t)cmdline);
	put32(ZP_CMDLINE_SIZE, BOOT_CMDLINE_MAX - 1);
	zero_page[ZP_E820_ENTRIES] = (uint8_t)bi->mem_count;
	for (uint32_t i = 0; i < bi->mem_count; i++) {
		uint8_t *e = zero_page + ZP_E820_TABLE + i * ZP_E820_ENTRY_SIZE;

		memcpy(e, &bi->mem[i].base, 8);
		memcpy(e + 8, &bi->mem[i].size, 8);
		memcpy(e + 16, &bi->mem[i].type, 4);
	}

	__asm__ volatile("cli\n\t"
			 "jmp *%1"
			 :
			 : "S"(zero_page), "r"(GUEST_ENTRY64)
			 : "memory");
	__builtin_unreachable();
}
