/* SPDX-License-Identifier: MIT */
#include "arch/x86/decompress.h"

#include <bzlib.h>
#include <errno.h>
#include <limits.h>
#include <lz4.h>
#include <lzma.h>
#include <lzo/lzo1x.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

/* Kernel xz streams use a dictionary of at most 32 MiB (scripts/xz_wrap.sh); lzma -9 uses 64 MiB. */
#define XZ_MEMLIMIT (256ull << 20)
/* Kernel zstd streams are made with "zstd -22 --ultra": window up to 128 MiB (also Linux's limit). */
#define ZSTD_WINDOW_LOG_MAX 27
/* First allocation of a stream decoder's output; it doubles from there. */
#define OUT_FIRST_CAP (1u << 20)
/* Legacy lz4 chunks decompress to at most 8 MiB (lib/decompress_unlz4.c). */
#define LZ4_LEGACY_MAGIC 0x184c2102u
#define LZ4_LEGACY_CHUNK (8u << 20)
/* lzop: blocks of at most 256 KiB (lib/decompress_unlzo.c), header flags of lzop's format. */
#define LZOP_BLOCK_MAX (256u * 1024)
#define LZOP_F_ADLER32_D 0x1u
#define LZOP_F_H_FILTER 0x800u
/* zlib, bzip2 take at most UINT_MAX bytes per call; larger inputs are fed in pieces. */
#define FEED_MAX ((size_t)UINT_MAX)

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

/* --- output buffer --- */

/* Makes cap at least len + need (need 0: just more room), never above max + extra. */
static int out_reserve(struct decompress_out *out, size_t need, size_t extra, const char *name,
		       struct vmon_error *err)
{
	size_t limit = out->max + extra, want = need ? out->len + need : out->len + 1, cap;
	uint8_t *grown;

	if (want <= out->cap)
		return 0;
	cap = out->cap ? out->cap : OUT_FIRST_CAP;
	while (cap < want && cap < limit)
		cap = cap > limit / 2 ? limit : cap * 2;
	if (cap > limit)
		cap = limit;
	if (cap < want)
		cap = want;
	grown = realloc(out->data, cap);
	if (!grown)
		return error_set(err, -ENOMEM, "cannot allocate %zu bytes for the %s output", cap, name);
	out->data = grown;
	out->cap = cap;
	return 0;
}

/*
 * Streaming decoders get room up to max + 1 bytes: output that reaches the
 * extra byte is a stream longer than allowed.
 */
static int out_room(struct decompress_out *out, const char *name, struct vmon_error *err)
{
	return out_reserve(out, 0, 1, name, err);
}

/* What messages call the stream: "data" unless the caller names it. */
static const char *noun(const struct decompress_out *out)
{
	return out->what ? out->what : "data";
}

static int too_much(const struct decompress_out *out, const char *name, struct vmon_error *err)
{
	return error_set(err, -EFBIG, "%s %s decompresses to more than %zu bytes", name, noun(out), out->max);
}

static int truncated(const struct decompress_out *out, const char *name, struct vmon_error *err)
{
	return error_set(err, -EINVAL, "%s %s is truncated (input ends after %zu bytes of output)", name,
			 noun(out), out->len);
}

/* --- one decoder per format --- */

static int stream_gzip(const uint8_t *in, size_t len, struct decompress_out *out, size_t *consumed,
		       struct vmon_error *err)
{
	size_t start = out->len, fed = 0;
	z_stream zs;
	int ret;

	memset(&zs, 0, sizeof(zs));
	/* 16 + MAX_WBITS: the gzip wrapper (header, CRC32 and ISIZE checked), one member. */
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return error_set(err, -ENOMEM, "cannot initialise the gzip decoder");
	for (;;) {
		if (zs.avail_in == 0 && fed < len) {
			zs.next_in = (Bytef *)(in + fed);
			zs.avail_in = (uInt)(len - fed < FEED_MAX ? len - fed : FEED_MAX);
			fed += zs.avail_in;
		}
		if ((ret = out_room(out, "gzip", err)) < 0)
			break;
		size_t room = out->cap - out->len < FEED_MAX ? out->cap - out->len : FEED_MAX;
		zs.next_out = out->data + out->len;
		zs.avail_out = (uInt)room;
		ret = inflate(&zs, Z_NO_FLUSH);
		out->len += room - zs.avail_out;
		if (out->len > out->max) {
			ret = too_much(out, "gzip", err);
			break;
		}
		if (ret == Z_STREAM_END) {
			ret = 0;
			break;
		}
		if (ret == Z_BUF_ERROR && zs.avail_in == 0 && fed == len) {
			ret = truncated(out, "gzip", err);
			break;
		}
		if (ret != Z_OK && ret != Z_BUF_ERROR) {
			ret = error_set(err, -EINVAL, "gzip %s is corrupt: %s (zlib error %d)",
					noun(out), zs.msg ? zs.msg : "invalid data", ret);
			break;
		}
	}
	*consumed = zs.total_in;
	inflateEnd(&zs);
	if (ret < 0)
		out->len = start;
	return ret;
}

static const char *lzma_ret_text(lzma_ret ret)
{
	switch (ret) {
	case LZMA_FORMAT_ERROR: return "not in this format";
	case LZMA_OPTIONS_ERROR: return "unsupported options";
	case LZMA_DATA_ERROR: return "corrupt data";
	case LZMA_MEMLIMIT_ERROR: return "needs more than 256 MiB of decoder memory";
	case LZMA_MEM_ERROR: return "out of memory";
	default: return "decoder error";
	}
}

/* xz (one stream, no LZMA_CONCATENATED: what follows is the next member) and legacy .lzma. */
static int stream_lzma(enum decompress_format format, const uint8_t *in, size_t len,
		       struct decompress_out *out, size_t *consumed, struct vmon_error *err)
{
	const char *name = decompress_format_name(format);
	lzma_stream strm = LZMA_STREAM_INIT;
	size_t start = out->len;
	lzma_ret lr;
	int ret;

	lr = format == DECOMPRESS_XZ ? lzma_stream_decoder(&strm, XZ_MEMLIMIT, 0)
				     : lzma_alone_decoder(&strm, XZ_MEMLIMIT);
	if (lr != LZMA_OK)
		return error_set(err, -ENOMEM, "cannot initialise the %s decoder (%d)", name, (int)lr);
	strm.next_in = in;
	strm.avail_in = len;
	for (;;) {
		if ((ret = out_room(out, name, err)) < 0)
			break;
		size_t room = out->cap - out->len;
		strm.next_out = out->data + out->len;
		strm.avail_out = room;
		/* LZMA_RUN: LZMA_FINISH would call a stream cut short by the input's end "corrupt". */
		lr = lzma_code(&strm, LZMA_RUN);
		out->len += room - strm.avail_out;
		if (out->len > out->max) {
			ret = too_much(out, name, err);
			break;
		}
		if (lr == LZMA_STREAM_END) {
			ret = 0;
			break;
		}
		if ((lr == LZMA_OK || lr == LZMA_BUF_ERROR) && strm.avail_in == 0 && strm.avail_out != 0) {
			ret = truncated(out, name, err);
			break;
		}
		if (lr != LZMA_OK && lr != LZMA_BUF_ERROR) {
			ret = error_set(err, -EINVAL, "%s %s is corrupt: %s (liblzma error %d)", name, noun(out),
					lzma_ret_text(lr), (int)lr);
			break;
		}
	}
	*consumed = (size_t)strm.total_in;
	lzma_end(&strm);
	if (ret < 0)
		out->len = start;
	return ret;
}

/* One frame, as Linux's unzstd (window at most 128 MiB). */
static int stream_zstd(const uint8_t *in, size_t len, struct decompress_out *out, size_t *consumed,
		       struct vmon_error *err)
{
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	ZSTD_inBuffer ib = { .src = in, .size = len, .pos = 0 };
	size_t start = out->len, zr;
	int ret;

	if (!dctx)
		return error_set(err, -ENOMEM, "cannot initialise the zstd decoder");
	ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX);
	for (;;) {
		if ((ret = out_room(out, "zstd", err)) < 0)
			break;
		ZSTD_outBuffer ob = { .dst = out->data, .size = out->cap, .pos = out->len };
		zr = ZSTD_decompressStream(dctx, &ob, &ib);
		out->len = ob.pos;
		if (ZSTD_isError(zr)) {
			ret = error_set(err, -EINVAL, "zstd %s is corrupt: %s", noun(out), ZSTD_getErrorName(zr));
			break;
		}
		if (out->len > out->max) {
			ret = too_much(out, "zstd", err);
			break;
		}
		if (zr == 0) {
			ret = 0;
			break;
		}
		if (ib.pos == ib.size && ob.pos < ob.size) {
			ret = truncated(out, "zstd", err);
			break;
		}
	}
	*consumed = ib.pos;
	ZSTD_freeDCtx(dctx);
	if (ret < 0)
		out->len = start;
	return ret;
}

static int stream_bzip2(const uint8_t *in, size_t len, struct decompress_out *out, size_t *consumed,
			struct vmon_error *err)
{
	size_t start = out->len, fed = 0;
	bz_stream bs;
	int ret, br;

	memset(&bs, 0, sizeof(bs));
	if (BZ2_bzDecompressInit(&bs, 0, 0) != BZ_OK)
		return error_set(err, -ENOMEM, "cannot initialise the bzip2 decoder");
	for (;;) {
		if (bs.avail_in == 0 && fed < len) {
			bs.next_in = (char *)(in + fed);
			bs.avail_in = (unsigned)(len - fed < FEED_MAX ? len - fed : FEED_MAX);
			fed += bs.avail_in;
		}
		if ((ret = out_room(out, "bzip2", err)) < 0)
			break;
		size_t room = out->cap - out->len < FEED_MAX ? out->cap - out->len : FEED_MAX;
		bs.next_out = (char *)(out->data + out->len);
		bs.avail_out = (unsigned)room;
		br = BZ2_bzDecompress(&bs);
		out->len += room - bs.avail_out;
		if (out->len > out->max) {
			ret = too_much(out, "bzip2", err);
			break;
		}
		if (br == BZ_STREAM_END) {
			ret = 0;
			break;
		}
		if (br != BZ_OK) {
			ret = error_set(err, -EINVAL, "bzip2 %s is corrupt (libbz2 error %d)", noun(out), br);
			break;
		}
		if (bs.avail_in == 0 && fed == len && bs.avail_out != 0) {
			ret = truncated(out, "bzip2", err);
			break;
		}
	}
	*consumed = (size_t)bs.total_in_hi32 << 32 | bs.total_in_lo32;
	BZ2_bzDecompressEnd(&bs);
	if (ret < 0)
		out->len = start;
	return ret;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/*
 * Legacy lz4 (lz4 -l): magic, then chunks of [le32 compressed size][data]
 * each decompressing to at most 8 MiB. There is no end marker: like Linux,
 * the stream runs until fewer than 4 bytes are left or a chunk size is 0
 * (neither consumed), and a repeated magic just continues it.
 */
static int stream_lz4(const uint8_t *in, size_t len, struct decompress_out *out, size_t *consumed,
		      struct vmon_error *err)
{
	size_t pos = 4, start = out->len;
	int ret = 0;

	while (len - pos >= 4) {
		uint32_t chunk = le32(in + pos);
		if (chunk == LZ4_LEGACY_MAGIC) {
			pos += 4;
			continue;
		}
		if (chunk == 0)
			break;
		if (chunk > (uint32_t)LZ4_compressBound(LZ4_LEGACY_CHUNK)) {
			ret = error_set(err, -EINVAL, "lz4 %s is corrupt: chunk at byte %zu claims %u bytes, more "
					"than an 8 MiB chunk can compress to", noun(out), pos, chunk);
			break;
		}
		if (chunk > len - pos - 4) {
			ret = truncated(out, "lz4", err);
			break;
		}
		/* The room is reserved whole (up to 8 MiB past max): LZ4 cannot say "output full". */
		if ((ret = out_reserve(out, LZ4_LEGACY_CHUNK, LZ4_LEGACY_CHUNK, "lz4", err)) < 0)
			break;
		int n = LZ4_decompress_safe((const char *)in + pos + 4, (char *)out->data + out->len, (int)chunk,
					    (int)LZ4_LEGACY_CHUNK);
		if (n < 0) {
			ret = error_set(err, -EINVAL, "lz4 %s is corrupt: chunk at byte %zu does not decode", noun(out),
					pos);
			break;
		}
		out->len += (size_t)n;
		pos += 4 + chunk;
		if (out->len > out->max) {
			ret = too_much(out, "lz4", err);
			break;
		}
	}
	*consumed = pos;
	if (ret < 0)
		out->len = start;
	return ret;
}

/*
 * lzop header as Linux's unlzo parses it (lib/decompress_unlzo.c): magic,
 * version, library version, version needed, method, level (version >=
 * 0x0940), flags, filter (F_H_FILTER), mode, mtime (high half from 0x0940),
 * file name, header checksum. Returns the header length, 0 if malformed.
 */
static size_t lzop_header(const uint8_t *in, size_t len, uint32_t *flags)
{
	static const uint8_t magic[] = { 0x89, 'L', 'Z', 'O', 0x00, 0x0d, 0x0a, 0x1a, 0x0a };
	size_t pos = sizeof(magic);
	uint16_t version;

	/* Shortest header: magic, 7 version/method bytes, flags, mode + mtime, name length, checksum. */
	if (len < 9 + 7 + 4 + 8 + 1 + 4 || memcmp(in, magic, sizeof(magic)))
		return 0;
	version = (uint16_t)(in[pos] << 8 | in[pos + 1]);
	pos += 7 + (version >= 0x0940);
	if (len - pos < 4)
		return 0;
	*flags = be32(in + pos);
	pos += *flags & LZOP_F_H_FILTER ? 8 : 4;
	pos += 8 + (version >= 0x0940 ? 4 : 0);
	if (len < pos + 1)
		return 0;
	pos += 1 + in[pos];
	if (len < pos + 4)
		return 0;
	return pos + 4;
}

/* lzop: blocks of [be32 size][be32 compressed size][be32 checksum][data] up to a zero size. */
static int stream_lzo(const uint8_t *in, size_t len, struct decompress_out *out, size_t *consumed,
		      struct vmon_error *err)
{
	size_t start = out->len, pos;
	uint32_t flags = 0;
	int ret = 0;

	pos = lzop_header(in, len, &flags);
	*consumed = pos;
	if (!pos)
		return error_set(err, -EINVAL, "lzo %s is corrupt: malformed or truncated lzop header",
				 noun(out));
	if (lzo_init() != LZO_E_OK)
		return error_set(err, -ENOMEM, "cannot initialise the lzo decoder");
	for (;;) {
		if (len - pos < 4) {
			ret = truncated(out, "lzo", err);
			break;
		}
		uint32_t dst_len = be32(in + pos);
		if (dst_len == 0) {
			pos += 4;
			break;
		}
		/* Linux skips one 4-byte checksum per block whatever the flags say; so does vmon. */
		if (len - pos < 12) {
			ret = truncated(out, "lzo", err);
			break;
		}
		uint32_t src_len = be32(in + pos + 4), check = be32(in + pos + 8);
		if (dst_len > LZOP_BLOCK_MAX || src_len == 0 || src_len > dst_len) {
			ret = error_set(err, -EINVAL, "lzo %s is corrupt: block at byte %zu has sizes %u -> %u "
					"(at most 256 KiB, compressed no larger)", noun(out), pos, src_len, dst_len);
			break;
		}
		if (len - pos - 12 < src_len) {
			ret = truncated(out, "lzo", err);
			break;
		}
		if (out->len + dst_len > out->max) {
			ret = too_much(out, "lzo", err);
			break;
		}
		if ((ret = out_reserve(out, dst_len, 0, "lzo", err)) < 0)
			break;
		uint8_t *dst = out->data + out->len;
		const uint8_t *src = in + pos + 12;
		lzo_uint got = dst_len;
		if (src_len == dst_len)
			memcpy(dst, src, dst_len);    /* a block stored as is */
		else if (lzo1x_decompress_safe(src, src_len, dst, &got, NULL) != LZO_E_OK || got != dst_len) {
			ret = error_set(err, -EINVAL, "lzo %s is corrupt: block at byte %zu does not decode", noun(out),
					pos);
			break;
		}
		/* LZO has no check of its own: use lzop's Adler-32 of the block when there is one. */
		if ((flags & LZOP_F_ADLER32_D) && adler32(1, dst, dst_len) != check) {
			ret = error_set(err, -EINVAL, "lzo %s is corrupt: block at byte %zu fails its Adler-32 "
					"check", noun(out), pos);
			break;
		}
		out->len += dst_len;
		pos += 12 + src_len;
	}
	*consumed = pos;
	if (ret < 0)
		out->len = start;
	return ret;
}

int decompress_stream(enum decompress_format format, const uint8_t *in, size_t len,
		      struct decompress_out *out, size_t *consumed, struct vmon_error *err)
{
	*consumed = 0;
	switch (format) {
	case DECOMPRESS_GZIP: return stream_gzip(in, len, out, consumed, err);
	case DECOMPRESS_XZ:
	case DECOMPRESS_LZMA: return stream_lzma(format, in, len, out, consumed, err);
	case DECOMPRESS_ZSTD: return stream_zstd(in, len, out, consumed, err);
	case DECOMPRESS_BZIP2: return stream_bzip2(in, len, out, consumed, err);
	case DECOMPRESS_LZ4: return stream_lz4(in, len, out, consumed, err);
	case DECOMPRESS_LZO: return stream_lzo(in, len, out, consumed, err);
	case DECOMPRESS_UNKNOWN: break;
	}
	return error_set(err, -ENOTSUP, "data has no compression format vmon knows");
}

/* --- bzImage payloads --- */

int decompress_kernel_payload(const uint8_t *payload, size_t len, size_t max_output,
			      uint8_t **out, size_t *out_len, struct vmon_error *err)
{
	enum decompress_format format = decompress_detect(payload, len);
	const char *name = decompress_format_name(format);
	struct decompress_out buf = { 0 };
	size_t stream_len, consumed;
	uint32_t expected;
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

	expected = le32(payload + len - 4);
	if (expected == 0)
		return error_set(err, -EINVAL, "%s payload's size trailer is 0", name);
	if (expected > max_output)
		return error_set(err, -EFBIG, "%s payload's size trailer says %u bytes, more than the %zu MiB limit",
				 name, expected, max_output >> 20);

	/* One allocation: the trailer's size plus the byte that shows a longer stream. */
	buf.max = expected;
	buf.what = "payload";
	buf.cap = (size_t)expected + 1;
	buf.data = malloc(buf.cap);
	if (!buf.data)
		return error_set(err, -ENOMEM, "cannot allocate %u bytes to decompress the %s payload",
				 expected, name);
	/* gzip's own ISIZE is the trailer: the stream includes it. */
	stream_len = format == DECOMPRESS_GZIP ? len : len - 4;
	ret = decompress_stream(format, payload, stream_len, &buf, &consumed, err);
	if (ret == -EFBIG)
		ret = error_set(err, -EINVAL, "%s payload decompresses to more than the %u bytes its size trailer "
				"says", name, expected);
	else if (ret == 0 && consumed != stream_len)
		ret = error_set(err, -EINVAL, "%s payload has %zu bytes after the end of the stream", name,
				stream_len - consumed);
	else if (ret == 0 && buf.len != expected)
		ret = error_set(err, -EINVAL, "%s payload decompressed to %zu bytes but its size trailer says %u",
				name, buf.len, expected);
	if (ret < 0) {
		free(buf.data);
		return ret;
	}
	*out = buf.data;
	*out_len = expected;
	return 0;
}
