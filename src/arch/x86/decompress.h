/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_DECOMPRESS_H
#define VMON_X86_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/*
 * Host-side decompression: the stream decoders for every format Linux takes
 * (lib/decompress.c), used for a bzImage payload (the compressed vmlinux)
 * and for initramfs members (arch/x86/initramfs.h).
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
	/* Kernel payloads in these formats are recognised (boot.rst, payload_offset)
	 * but left to the guest; decompress_stream decodes them all. */
	DECOMPRESS_BZIP2,
	DECOMPRESS_LZMA,
	DECOMPRESS_LZ4,
	DECOMPRESS_LZO,
};

#define DECOMPRESS_FORMAT_COUNT (DECOMPRESS_LZO + 1)

/* Largest decompressed kernel vmon accepts. */
#define DECOMPRESS_MAX_OUTPUT (512ull << 20)

/* Format by magic number; DECOMPRESS_UNKNOWN when none matches. */
enum decompress_format decompress_detect(const uint8_t *data, size_t len);

/* "gzip", "xz", "zstd", "bzip2", "lzma", "lz4", "lzo" or "unknown". */
const char *decompress_format_name(enum decompress_format format);

/* Output of the stream decoders: grows as needed, never past max bytes. */
struct decompress_out {
	uint8_t *data;   /* malloc'ed (may be preallocated by the caller); caller frees */
	size_t len;      /* bytes written */
	size_t cap;      /* bytes allocated */
	size_t max;      /* the most bytes len may reach */
	const char *what; /* the stream in messages ("payload"); NULL: "data" */
};

/*
 * Decodes the one stream of `format` that starts at in[0] (in may continue
 * past it, as with concatenated initramfs members), appending its output to
 * *out. Stream ends are Linux's (lib/decompress_*.c): gzip one member, xz
 * one stream, zstd one frame, bzip2 one stream, lzma its header's size or end
 * marker, lzop its zero block, legacy lz4 the end of the input or a zero chunk
 * size. *consumed: the bytes of in the stream took. Returns -EFBIG when the
 * output would pass out->max, -EINVAL for a corrupt or truncated stream,
 * -ENOTSUP for DECOMPRESS_UNKNOWN, -ENOMEM; messages name the format
 * ("xz data is truncated ...").
 */
int decompress_stream(enum decompress_format format, const uint8_t *in, size_t len,
		      struct decompress_out *out, size_t *consumed, struct vmon_error *err);

/*
 * Decompresses a kernel payload (compressed stream + 4-byte size trailer)
 * into a malloc'ed buffer of exactly the trailer's size, at most max_output
 * bytes. On success *out (caller frees) and *out_len are set. Errors name the
 * format and the offending size; unsupported formats return -ENOTSUP.
 */
int decompress_kernel_payload(const uint8_t *payload, size_t len, size_t max_output,
			      uint8_t **out, size_t *out_len, struct vmon_error *err);

#endif
