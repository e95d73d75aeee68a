/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_DECOMPRESS_H
#define VMON_X86_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/*
 * Host-side decompression of a bzImage payload (the compressed vmlinux).
 *
 * Kernel payloads end with a 4-byte little-endian uncompressed size
 * (arch/x86/boot/compressed/Makefile: size_append for xz, zstd, bzip2, lzma,
 * lzo, lz4; gzip's own ISIZE trailer for gzip). The size bounds the output
 * buffer and the result must match it exactly.
 */
enum decompress_format {
	DECOMPRESS_UNKNOWN,
	DECOMPRESS_GZIP,
	DECOMPRESS_XZ,
	DECOMPRESS_ZSTD,
	/* Recognised (boot.rst, payload_offset) but not decompressed on the host. */
	DECOMPRESS_BZIP2,
	DECOMPRESS_LZMA,
	DECOMPRESS_LZ4,
	DECOMPRESS_LZO,
};

/* Largest decompressed kernel vmon accepts. */
#define DECOMPRESS_MAX_OUTPUT (512ull << 20)

/* Format by magic number; DECOMPRESS_UNKNOWN when none matches. */
enum decompress_format decompress_detect(const uint8_t *data, size_t len);

/* "gzip", "xz", "zstd", "bzip2", "lzma", "lz4", "lzo" or "unknown". */
const char *decompress_format_name(enum decompress_format format);

/*
 * Decompresses a kernel payload (compressed stream + 4-byte size trailer)
 * into a malloc'ed buffer of exactly the trailer's size, at most max_output
 * bytes. On success *out (caller frees) and *out_len are set. Errors name the
 * format and the offending size; unsupported formats return -ENOTSUP.
 */
int decompress_kernel_payload(const uint8_t *payload, size_t len, size_t max_output,
			      uint8_t **out, size_t *out_len, struct vmon_error *err);

#endif
