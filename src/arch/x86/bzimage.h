/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_BZIMAGE_H
#define VMON_X86_BZIMAGE_H

#include <asm/bootparam.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/guest_mem.h"

/*
 * Linux bzImage, boot protocol 2.06 or newer (Documentation/x86/boot.rst):
 * a real-mode setup area of (setup_sects + 1) sectors carrying the setup
 * header at 0x1f1, followed by the protected-mode part (the decompressor,
 * whose payload is the compressed vmlinux ELF).
 */
#define BZIMAGE_HDR_OFFSET      0x1f1
#define BZIMAGE_MAGIC           0x53726448u   /* "HdrS" at 0x202 */
#define BZIMAGE_BOOT_FLAG       0xaa55
/* Protocol versions are (major << 8) | minor: 2.10 is 0x020a. */
#define BZIMAGE_PROTOCOL(major, minor) ((major) << 8 | (minor))
#define BZIMAGE_MIN_VERSION     BZIMAGE_PROTOCOL(2, 6)
#define BZIMAGE_SECTOR          512
#define BZIMAGE_ENTRY64_OFFSET  0x200         /* 64-bit entry from the pm load address */

struct bzimage {
	struct setup_header hdr;   /* as in the image; fields newer than hdr.version are not used */
	size_t hdr_end;            /* 0x202 + byte at 0x201, capped at the zero page's limit */
	size_t setup_size;         /* (setup_sects, 0 meaning 4, + 1) * 512 */
	const uint8_t *pm;         /* protected-mode part: the rest of the file */
	size_t pm_size;
	const uint8_t *payload;    /* compressed vmlinux + size trailer; NULL before 2.08 */
	size_t payload_size;
};

/* Where the protected-mode part went (guest decompression). */
struct bzimage_placement {
	uint64_t load_addr;        /* code32_start */
	uint64_t entry;            /* load_addr + 0x200 */
	uint64_t start, end;       /* memory the kernel needs, init_size included */
};

/* True when the image carries the "HdrS" magic at 0x202. */
bool bzimage_probe(const uint8_t *image, size_t size);

/*
 * Validates the setup header (magic, boot_flag, version >= 2.06, LOADED_HIGH,
 * setup_sects and syssize within the file, payload within the protected-mode
 * part). Messages name the field and value (no file name).
 */
int bzimage_parse(const uint8_t *image, size_t size, struct bzimage *bz, struct vmon_error *err);

/*
 * Places the protected-mode part at code32_start for the 64-bit boot
 * protocol entry (needs XLF_KERNEL_64), checking that the range the kernel
 * needs during decompression (init_size from its runtime start, boot.rst)
 * is usable RAM. Writes nothing: the caller copies bz->pm to load_addr.
 */
int bzimage_place_pm(const struct guest_mem *mem, const struct bzimage *bz, struct bzimage_placement *out,
		    struct vmon_error *err);

#endif
