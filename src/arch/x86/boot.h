/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_BOOT_H
#define VMON_X86_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/initramfs.h"
#include "base/error.h"
#include "base/guest_mem.h"

/*
 * Loading a kernel into guest memory and preparing what its boot protocol
 * needs (Linux zero page + e820 + cmdline + initrd, or PVH hvm_start_info).
 * Pure memory work: no KVM here, so all of it is unit-tested on buffers.
 */
enum boot_protocol {
	BOOT_PROTOCOL_AUTO,  /* PVH if an ELF has the PVH note, else Linux 64-bit */
	BOOT_PROTOCOL_LINUX, /* Linux boot protocol, 64-bit entry, boot_params in RSI */
	BOOT_PROTOCOL_PVH,   /* Xen PVH: 32-bit protected-mode entry, hvm_start_info in EBX */
};

enum kernel_format {
	KERNEL_FORMAT_ELF64,
	KERNEL_FORMAT_ELF32,
	KERNEL_FORMAT_BZIMAGE,
};

enum boot_entry_mode {
	BOOT_ENTRY_LONG_MODE,  /* 64-bit, identity-mapped paging, RSI = boot_params */
	BOOT_ENTRY_PROTECTED,  /* 32-bit flat protected mode, paging off, EBX = start_info */
};

struct boot_request {
	const char *kernel_name;     /* for messages */
	const uint8_t *kernel;
	size_t kernel_size;
	const char *initrd_name;     /* NULL when no initrd */
	const uint8_t *initrd;
	size_t initrd_size;
	const char *cmdline;         /* never NULL; may be "" */
	const char *linux_extra_args; /* appended for Linux kernels only (host profile); NULL: none */
	enum boot_protocol protocol;
	/* bzImage: true = enter its own 64-bit entry and let it decompress itself
	 * in the guest; false (default) = decompress the payload on the host and
	 * load the ELF inside. */
	bool bzimage_guest_decompress;
	/* Where the ACPI RSDP is (boot_params.acpi_rsdp_addr, PVH rsdp_paddr); 0: no ACPI tables. */
	uint64_t acpi_rsdp_addr;
	/* initrd: true = load it as given (the kernel decompresses its members);
	 * false (default) = decompress its compressed members on the host
	 * (initramfs.h) and load the plain cpio. */
	bool initrd_guest_decompress;
};

struct boot_result {
	enum kernel_format format;   /* of the file given */
	enum boot_entry_mode mode;
	uint64_t entry;              /* guest-physical RIP/EIP */
	uint64_t boot_info_addr;     /* zero page (RSI) or hvm_start_info (EBX) */
	uint64_t kernel_start, kernel_end;  /* loaded image range */
	uint64_t initrd_addr, initrd_size;  /* 0 when none */
	const char *payload_compression;    /* "xz", "zstd", "gzip", or NULL */
	/* The initrd: what host decompression did (members == 0: not tried).
	 * initrd_decompressed: the unpacked image was loaded; false with
	 * initrd_note set: it was tried and the image went in as given. */
	struct initramfs_report initramfs;
	bool initrd_decompressed;
	char initrd_note[512];
	bool is_linux;               /* a bzImage, or an ELF with a "Linux" note: Linux kernel arguments apply */
};

/* Kernel files larger than this are refused before parsing. */
#define BOOT_MAX_KERNEL_SIZE (1ull << 30)
/* initrd ceiling when the kernel gives none (plain ELF, PVH): boot.rst initrd_addr_max default. */
#define BOOT_DEFAULT_INITRD_ADDR_MAX 0x37ffffffull

/*
 * Loads req->kernel (ELF64, ELF32 with the PVH note, or bzImage), the initrd
 * and the command line into mem and writes the boot information (zero page
 * at X86_ZERO_PAGE_ADDR or hvm_start_info at X86_PVH_START_INFO_ADDR).
 * With BOOT_ENTRY_LONG_MODE the vCPU starts at entry with RSI = boot_info_addr;
 * with BOOT_ENTRY_PROTECTED at entry with EBX = boot_info_addr.
 * Returns 0 or a negative errno with err naming the file and the bad value.
 */
int x86_boot_load(struct guest_mem *mem, const struct boot_request *req, struct boot_result *out,
		  struct vmon_error *err);

const char *kernel_format_name(enum kernel_format format);

#endif
