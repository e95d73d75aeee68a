/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "arch/x86/decompress.h"

/* Kernel payloads made with the real libraries: stream + 4-byte LE size (gzip: its ISIZE). */
#define DATA_SIZE (256 * 1024)

static uint8_t data[DATA_SIZE];
static uint8_t payload[DATA_SIZE + 4096];

/* Group setup: the input every test compresses, compressible but not trivial. */
static int fill_data(void **state)
{
	(void)state;
	for (size_t i = 0; i < DATA_SIZE; i++)
		data[i] = (uint8_t)((i * 7) ^ (i >> 9));
	return 0;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static size_t make_xz(const uint8_t *in, size_t len)
{
	size_t pos = 0;
	assert_int_equal(lzma_easy_buffer_encode(1, LZMA_CHECK_CRC32, NULL, in, len, payload, &pos,
						 sizeof(payload) - 4), LZMA_OK);
	put_le32(payload + pos, (uint32_t)len);
	return pos + 4;
}

static size_t make_zstd(const uint8_t *in, size_t len)
{
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	/* Like the zstd command the kernel build uses: content size and checksum in the frame. */
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 19);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	size_t n = ZSTD_compress2(cctx, payload, sizeof(payload) - 4, in, len);
	ZSTD_freeCCtx(cctx);
	assert_false(ZSTD_isError(n));
	put_le32(payload + n, (uint32_t)len);
	return n + 4;
}

static size_t make_gzip(const uint8_t *in, size_t len)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	/* 16 + 15: gzip wrapper, whose trailer ends with ISIZE. */
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = payload;
	zs.avail_out = sizeof(payload);
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t n = zs.total_out;
	deflateEnd(&zs);
	return n;
}

typedef size_t (*maker)(const uint8_t *, size_t);

static struct vmon_error err;
static uint8_t *out;
static size_t out_len;

/* Decompresses payload[0 .. len) into out, out_len and err. */
static int run(size_t len)
{
	error_clear(&err);
	return decompress_kernel_payload(payload, len, DECOMPRESS_MAX_OUTPUT, &out, &out_len, &err);
}

/* payload[0 .. len) is refused with code and a message containing what. */
static void assert_rejected(size_t len, int code, const char *what)
{
	assert_int_equal(run(len), code);
	if (!strstr(err.msg, what))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, what);
}

static void round_trip(maker make)
{
	assert_int_equal(run(make(data, DATA_SIZE)), 0);
	assert_int_equal(out_len, DATA_SIZE);
	assert_memory_equal(out, data, DATA_SIZE);
	free(out);
}

static void detects_formats_by_magic(void **state)
{
	static const struct { uint8_t magic[6]; enum decompress_format format; } cases[] = {
		{ { 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00 }, DECOMPRESS_XZ },
		{ { 0x28, 0xb5, 0x2f, 0xfd, 0, 0 }, DECOMPRESS_ZSTD },
		{ { 0x1f, 0x8b, 0x08, 0, 0, 0 }, DECOMPRESS_GZIP },
		{ { 'B', 'Z', 'h', '9', 0, 0 }, DECOMPRESS_BZIP2 },
		{ { 0x5d, 0x00, 0x00, 0x80, 0, 0 }, DECOMPRESS_LZMA },
		{ { 0x02, 0x21, 0x4c, 0x18, 0, 0 }, DECOMPRESS_LZ4 },
		{ { 0x89, 'L', 'Z', 'O', 0, 0 }, DECOMPRESS_LZO },
		{ { 0x7f, 'E', 'L', 'F', 0, 0 }, DECOMPRESS_UNKNOWN },
		{ { 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x01 }, DECOMPRESS_UNKNOWN },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(decompress_detect(cases[i].magic, 6), cases[i].format);
	/* A magic cut short by the end of the data does not match. */
	assert_int_equal(decompress_detect(cases[0].magic, 5), DECOMPRESS_UNKNOWN);
	assert_string_equal(decompress_format_name(DECOMPRESS_LZ4), "lz4");
}

static void xz_payload_round_trips(void **state)
{
	(void)state;
	round_trip(make_xz);
}

static void zstd_payload_round_trips(void **state)
{
	(void)state;
	round_trip(make_zstd);
}

static void gzip_payload_round_trips(void **state)
{
	(void)state;
	round_trip(make_gzip);
}

/* The trailer claims less than the stream holds: the bounded buffer overflows, refused. */
static void output_beyond_size_trailer_is_rejected(void **state)
{
	static const maker makers[] = { make_xz, make_zstd };
	(void)state;

	for (size_t i = 0; i < 2; i++) {
		size_t len = makers[i](data, DATA_SIZE);
		put_le32(payload + len - 4, DATA_SIZE - 1);
		assert_rejected(len, -EINVAL, "decompresses to more than the 262143 bytes its size trailer says");
		assert_null(out);
	}
}

static void output_short_of_size_trailer_is_rejected(void **state)
{
	static const maker makers[] = { make_xz, make_zstd };
	static const char *const names[] = { "xz", "zstd" };
	(void)state;

	for (size_t i = 0; i < 2; i++) {
		size_t len = makers[i](data, DATA_SIZE);
		put_le32(payload + len - 4, DATA_SIZE + 1);
		assert_rejected(len, -EINVAL, "262144 bytes but its size trailer says 262145");
		assert_non_null(strstr(err.msg, names[i]));
	}
}

static void gzip_with_wrong_isize_is_rejected(void **state)
{
	size_t len = make_gzip(data, DATA_SIZE);
	(void)state;

	put_le32(payload + len - 4, DATA_SIZE + 16);
	assert_rejected(len, -EINVAL, "gzip payload is corrupt");
}

static void corrupt_stream_is_rejected(void **state)
{
	static const maker makers[] = { make_xz, make_zstd, make_gzip };
	(void)state;

	for (size_t i = 0; i < 3; i++) {
		size_t len = makers[i](data, DATA_SIZE);
		for (size_t j = 16; j < 48; j++)
			payload[j] ^= 0x5a;
		assert_int_equal(run(len), -EINVAL);
		assert_null(out);
		assert_true(strstr(err.msg, "corrupt") || strstr(err.msg, "truncated") || strstr(err.msg, "more than"));
	}
}

static void truncated_stream_is_rejected(void **state)
{
	size_t len = make_xz(data, DATA_SIZE);
	(void)state;

	/* Drop the stream's last 100 bytes but keep the trailer. */
	memmove(payload + len - 104, payload + len - 4, 4);
	assert_rejected(len - 100, -EINVAL, "xz payload is");
}

static void bytes_after_the_stream_are_rejected(void **state)
{
	size_t len = make_xz(data, DATA_SIZE);
	(void)state;

	/* Four stray bytes between the stream and the trailer. */
	memmove(payload + len, payload + len - 4, 4);
	memset(payload + len - 4, 0x11, 4);
	assert_rejected(len + 4, -EINVAL, "xz payload");
}

static void size_trailer_over_the_limit_is_refused(void **state)
{
	size_t len = make_zstd(data, DATA_SIZE);
	(void)state;

	put_le32(payload + len - 4, 0x20000001);   /* 512 MiB + 1 */
	assert_rejected(len, -EFBIG, "536870913 bytes, more than the 512 MiB limit");
	put_le32(payload + len - 4, 0);
	assert_rejected(len, -EINVAL, "size trailer is 0");
}

static void other_compressions_name_themselves_and_the_flag(void **state)
{
	static const struct { uint8_t magic[4]; const char *name; } cases[] = {
		{ { 0x02, 0x21, 0x4c, 0x18 }, "lz4" },
		{ { 0x89, 'L', 'Z', 'O' }, "lzo" },
		{ { 'B', 'Z', 'h', '9' }, "bzip2" },
		{ { 0x5d, 0x00, 0x00, 0x80 }, "lzma" },
	};
	char expect[64];
	(void)state;

	for (size_t i = 0; i < 4; i++) {
		memset(payload, 0, 64);
		memcpy(payload, cases[i].magic, 4);
		snprintf(expect, sizeof(expect), "payload is %s-compressed", cases[i].name);
		assert_rejected(64, -ENOTSUP, expect);
		assert_non_null(strstr(err.msg, "--bzimage-guest-decompress"));
	}
}

static void unknown_magic_is_named(void **state)
{
	(void)state;

	memset(payload, 0, 64);
	memcpy(payload, "\x12\x34\x56\x78", 4);
	assert_rejected(64, -EINVAL, "unknown compression (magic 12 34 56 78)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(detects_formats_by_magic),
		cmocka_unit_test(xz_payload_round_trips),
		cmocka_unit_test(zstd_payload_round_trips),
		cmocka_unit_test(gzip_payload_round_trips),
		cmocka_unit_test(output_beyond_size_trailer_is_rejected),
		cmocka_unit_test(output_short_of_size_trailer_is_rejected),
		cmocka_unit_test(gzip_with_wrong_isize_is_rejected),
		cmocka_unit_test(corrupt_stream_is_rejected),
		cmocka_unit_test(truncated_stream_is_rejected),
		cmocka_unit_test(bytes_after_the_stream_are_rejected),
		cmocka_unit_test(size_trailer_over_the_limit_is_refused),
		cmocka_unit_test(other_compressions_name_themselves_and_the_flag),
		cmocka_unit_test(unknown_magic_is_named),
	};
	return cmocka_run_group_tests(tests, fill_data, NULL);
}
