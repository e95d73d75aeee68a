/* SPDX-License-Identifier: MIT */
#include "arch/x86/decompress.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

/* Kernel xz streams use a dictionary of at most 32 MiB (scripts/xz_wrap.sh). */
#define XZ_MEMLIMIT (256ull << 20)
/* Kernel zstd streams are made with "zstd -22 --ultra": window up to 128 MiB. */
#define ZSTD_WINDOW_LOG_MAX 27

static bool starts_with(const uint8_t *data, size_t len, const uint8_t *magic, size_t n)
{
	return len >= n && memcmp(data, magic, n) == 0;
}

enum decompress_format decompress_detect(const uint8_t *data, size_t len)
{
	/* Magic numbers as listed in boot.rst (payload_offset) and the formats' specs. */
	static const uint8_t xz[] = { 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00 };
	static const uint8_t zstd[] = { 0x28, 0xb5, 0x2f, 0xfd };
	static const uint8_t gzip[] = { 0x1f, 0x8b };
	static const uint8_t bzip2[] = { 'B', 'Z', 'h' };
	static const uint8_t lzma[] = { 0x5d, 0x00 };
	static const uint8_t lz4[] = { 0x02, 0x21, 0x4c, 0x18 };   /* legacy frame */
	static const uint8_t lzo[] = { 0x89, 'L', 'Z', 'O' };       /* lzop */

	if (starts_with(data, len, xz, sizeof(xz)))
		return DECOMPRESS_XZ;
	if (starts_with(data, len, zstd, sizeof(zstd)))
		return DECOMPRESS_ZSTD;
	if (starts_with(data, len, gzip, sizeof(gzip)))
		return DECOMPRESS_GZIP;
	if (starts_with(data, len, bzip2, sizeof(bzip2)))
		return DECOMPRESS_BZIP2;
	if (starts_with(data, len, lzma, sizeof(lzma)))
		return DECOMPRESS_LZMA;
	if (starts_with(data, len, lz4, sizeof(lz4)))
		return DECOMPRESS_LZ4;
	if (starts_with(data, len, lzo, sizeof(lzo)))
		return DECOMPRESS_LZO;
	return DECOMPRESS_UNKNOWN;
}

const char *decompress_format_name(enum decompress_format format)
{
	switch (format) {
	case DECOMPRESS_GZIP: return "gzip";
	case DECOMPRESS_XZ: return "xz";
	case DECOMPRESS_ZSTD: return "zstd";
	case DECOMPRESS_BZIP2: return "bzip2";
	case DECOMPRESS_LZMA: return "lzma";
	case DECOMPRESS_LZ4: return "lz4";
	case DECOMPRESS_LZO: return "lzo";
	case DECOMPRESS_UNKNOWN: break;
	}
	return "unknown";
}

static int too_large(struct vmon_error *err, const char *fmt_name, size_t expected)
{
	return error_set(err, -EINVAL, "%s payload decompresses to more than the %zu bytes its size trailer says",
			 fmt_name, expected);
}

static int size_mismatch(struct vmon_error *err, const char *fmt_name, size_t got, size_t expected)
{
	return error_set(err, -EINVAL, "%s payload decompressed to %zu bytes but its size trailer says %zu",
			 fmt_name, got, expected);
}

/* The gzip stream includes the trailer: gzip's own ISIZE field is the size. */
static int inflate_gzip(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len,
			struct vmon_error *err)
{
	z_stream zs;
	int ret;

	if (in_len > UINT_MAX || out_len > UINT_MAX)
		return error_set(err, -EINVAL, "gzip payload of %zu bytes is too large", in_len);
	memset(&zs, 0, sizeof(zs));
	/* 16 + MAX_WBITS: expect the gzip wrapper, not zlib's. */
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return error_set(err, -ENOMEM, "cannot initialise the gzip decoder");
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)in_len;
	zs.next_out = out;
	zs.avail_out = (uInt)out_len;
	do
		ret = inflate(&zs, Z_FINISH);
	while (ret == Z_OK);
	size_t produced = zs.total_out;
	size_t left_in = zs.avail_in;
	inflateEnd(&zs);

	if (ret == Z_STREAM_END) {
		if (left_in)
			return error_set(err, -EINVAL, "gzip payload has %zu bytes after the end of the stream",
					 left_in);
		if (produced != out_len)
			return size_mismatch(err, "gzip", produced, out_len);
		return 0;
	}
	if (ret == Z_BUF_ERROR && produced == out_len)
		return too_large(err, "gzip", out_len);
	if (ret == Z_BUF_ERROR)
		return error_set(err, -EINVAL, "gzip payload is truncated (stream ends after %zu bytes of output)",
				 produced);
	return error_set(err, -EINVAL, "gzip payload is corrupt: %s (zlib error %d)",
			 zs.msg ? zs.msg : "invalid data", ret);
}

static const char *lzma_ret_text(lzma_ret ret)
{
	switch (ret) {
	case LZMA_FORMAT_ERROR: return "not an xz stream";
	case LZMA_OPTIONS_ERROR: return "unsupported xz options";
	case LZMA_DATA_ERROR: return "corrupt data";
	case LZMA_MEMLIMIT_ERROR: return "needs more than 256 MiB of decoder memory";
	case LZMA_MEM_ERROR: return "out of memory";
	default: return "decoder error";
	}
}

static int decode_xz(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len,
		     struct vmon_error *err)
{
	lzma_stream strm = LZMA_STREAM_INIT;
	lzma_ret ret;

	/* No LZMA_CONCATENATED: the stream must end exactly where the trailer starts. */
	ret = lzma_stream_decoder(&strm, XZ_MEMLIMIT, 0);
	if (ret != LZMA_OK)
		return error_set(err, -ENOMEM, "cannot initialise the xz decoder (%d)", (int)ret);
	strm.next_in = in;
	strm.avail_in = in_len;
	strm.next_out = out;
	strm.avail_out = out_len;
	/* LZMA_OK means progress; a call that can make none returns LZMA_BUF_ERROR. */
	do
		ret = lzma_code(&strm, LZMA_FINISH);
	while (ret == LZMA_OK);
	size_t produced = (size_t)strm.total_out;
	size_t left_in = strm.avail_in;
	lzma_end(&strm);

	if (ret == LZMA_STREAM_END) {
		if (left_in)
			return error_set(err, -EINVAL, "xz payload has %zu bytes after the end of the stream",
					 left_in);
		if (produced != out_len)
			return size_mismatch(err, "xz", produced, out_len);
		return 0;
	}
	if (ret == LZMA_BUF_ERROR && produced == out_len)
		return too_large(err, "xz", out_len);
	if (ret == LZMA_BUF_ERROR)
		return error_set(err, -EINVAL, "xz payload is truncated (stream ends after %zu bytes of output)",
				 produced);
	return error_set(err, -EINVAL, "xz payload is corrupt: %s (liblzma error %d)", lzma_ret_text(ret),
			 (int)ret);
}

static int decode_zstd(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len,
		       struct vmon_error *err)
{
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	size_t ret;

	if (!dctx)
		return error_set(err, -ENOMEM, "cannot initialise the zstd decoder");
	ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX);
	/* Decodes every frame in the input; trailing garbage is an error. */
	ret = ZSTD_decompressDCtx(dctx, out, out_len, in, in_len);
	ZSTD_freeDCtx(dctx);

	if (ZSTD_isError(ret)) {
		if (ZSTD_getErrorCode(ret) == ZSTD_error_dstSize_tooSmall)
			return too_large(err, "zstd", out_len);
		return error_set(err, -EINVAL, "zstd payload is corrupt: %s", ZSTD_getErrorName(ret));
	}
	if (ret != out_len)
		return size_mismatch(err, "zstd", ret, out_len);
	return 0;
}

int decompress_kernel_payload(const uint8_t *payload, size_t len, size_t max_output,
			      uint8_t **out, size_t *out_len, struct vmon_error *err)
{
	enum decompress_format format = decompress_detect(payload, len);
	const char *name = decompress_format_name(format);
	uint32_t expected;
	uint8_t *buf;
	int ret;

	*out = NULL;
	*out_len = 0;
	switch (format) {
	case DECOMPRESS_GZIP:
	case DECOMPRESS_XZ:
	case DECOMPRESS_ZSTD:
		break;
	case DECOMPRESS_UNKNOWN:
		if (len < 4)
			return error_set(err, -EINVAL, "payload of %zu bytes is too short to hold a compressed kernel",
					 len);
		return error_set(err, -EINVAL, "payload has an unknown compression (magic %02x %02x %02x %02x)",
				 payload[0], payload[1], payload[2], payload[3]);
	default:
		return error_set(err, -ENOTSUP,
				 "payload is %s-compressed, which vmon cannot decompress on the host "
				 "(supported: xz, zstd, gzip); use --bzimage-guest-decompress", name);
	}
	/* The smallest stream of any format plus the trailer is well over 8 bytes. */
	if (len < 8)
		return error_set(err, -EINVAL, "%s payload of %zu bytes is truncated", name, len);

	expected = (uint32_t)payload[len - 4] | (uint32_t)payload[len - 3] << 8 |
		   (uint32_t)payload[len - 2] << 16 | (uint32_t)payload[len - 1] << 24;
	if (expected == 0)
		return error_set(err, -EINVAL, "%s payload's size trailer is 0", name);
	if (expected > max_output)
		return error_set(err, -EFBIG, "%s payload's size trailer says %u bytes, more than the %zu MiB limit",
				 name, expected, max_output >> 20);

	buf = malloc(expected);
	if (!buf)
		return error_set(err, -ENOMEM, "cannot allocate %u bytes to decompress the %s payload",
				 expected, name);
	if (format == DECOMPRESS_GZIP)
		ret = inflate_gzip(payload, len, buf, expected, err);
	else if (format == DECOMPRESS_XZ)
		ret = decode_xz(payload, len - 4, buf, expected, err);
	else
		ret = decode_zstd(payload, len - 4, buf, expected, err);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	*out = buf;
	*out_len = expected;
	return 0;
}
