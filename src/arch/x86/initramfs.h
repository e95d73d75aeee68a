/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_INITRAMFS_H
#define VMON_X86_INITRAMFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/decompress.h"
#include "base/error.h"

/*
 * Host-side decompression of an initramfs: Linux's unpack_to_rootfs
 * (init/initramfs.c) takes a sequence of members, each a plain newc cpio
 * archive (starting with '0' at a 4-byte-aligned offset) or one compressed
 * stream holding cpio archives, with zero bytes between members. Decompressing
 * it in a guest whose kernel runs in an instruction emulator takes minutes;
 * here it takes milliseconds.
 *
 * initramfs_unpack turns every compressed member into its plain cpio and
 * keeps plain members byte for byte; zero padding after a compressed member
 * is dropped, and each member starts 4-byte aligned in the result (padded
 * with zeros), as the kernel's parser needs. The result means to the kernel
 * what the original meant.
 *
 * What vmon cannot turn into plain cpio goes to the guest unchanged: from
 * the first member whose magic no decoder knows, whose cpio header Linux
 * would reject, or that decompresses to something other than complete cpio
 * entries (an old-style compressed initrd image is one), the rest of the
 * image is passed through byte for byte, and Linux meets it as it would have.
 * A member of a known format that does not decode (corrupt, truncated) is an
 * error: Linux would stop unpacking there too.
 */

/* One member: a plain cpio archive or one compressed stream. */
struct initramfs_member {
	uint64_t offset;                 /* in the image as given */
	uint64_t in_size;                /* bytes of the image it spans */
	uint64_t out_size;               /* bytes of plain cpio it became */
	enum decompress_format format;   /* DECOMPRESS_UNKNOWN: plain cpio */
};

/* The members listed in a report; more are counted only. */
#define INITRAMFS_REPORT_MEMBERS 8

/* What initramfs_unpack did, for -v and --stats. */
struct initramfs_report {
	unsigned members;                 /* members walked */
	unsigned decompressed;            /* of them compressed and decoded */
	unsigned by_format[DECOMPRESS_FORMAT_COUNT];  /* [DECOMPRESS_UNKNOWN]: plain cpio */
	struct initramfs_member member[INITRAMFS_REPORT_MEMBERS];
	uint64_t in_size, out_size;       /* the image as given, the image loaded */
	uint64_t passthrough_offset;      /* where the unchanged rest starts; in_size if none */
	double seconds;                   /* time spent walking and decompressing */
	char note[192];                   /* why bytes went through unchanged; "" when none did */
};

/*
 * Unpacks image[0 .. size) into a malloc'ed plain-cpio image of at most
 * max_output bytes. Returns 0 with *out (caller frees) and *out_size set,
 * or 0 with *out NULL when no member was decompressed (load the image as
 * given). Errors: -EFBIG when the result would exceed max_output, -EINVAL
 * for a member that does not decode, named by index (1-based), offset and
 * format; -ENOMEM. *report is filled in every case.
 */
int initramfs_unpack(const uint8_t *image, size_t size, size_t max_output, uint8_t **out, size_t *out_size,
		     struct initramfs_report *report, struct vmon_error *err);

/* One line: "3 members (1 cpio, 1 gzip, 1 xz), 1200 -> 4096 bytes in 1.234 ms" */
void initramfs_report_summary(const struct initramfs_report *report, char *buf, size_t len);

/* One line about member i (< min(members, INITRAMFS_REPORT_MEMBERS)). */
void initramfs_report_member(const struct initramfs_report *report, unsigned i, char *buf, size_t len);

#endif
