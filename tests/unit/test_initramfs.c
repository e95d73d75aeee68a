/* SPDX-License-Identifier: MIT */
/*
 * Host-side initramfs decompression on images made at test time with the
 * real tools: cpio -o -H newc and gzip, xz, lzma, zstd, lz4 -l, bzip2, lzop
 * (scripts/install-deps.sh installs them; a test whose tool is missing is
 * skipped, saying which). The result must be exactly the plain cpio archives.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "arch/x86/initramfs.h"
#include "elf_builder.h"
#include "guest_fixture.h"

#define MiB (1ull << 20)

struct buf {
	uint8_t *data;
	size_t len;
};

static char dir[64];
/* Plain cpio archives: a small tree, a larger compressible file, one file, and 2 MiB of zeros. */
static struct buf cpio_a, cpio_b, cpio_c, cpio_zeros;

static void buf_add(struct buf *b, const void *data, size_t len)
{
	b->data = realloc(b->data, b->len + len + 1);
	assert_non_null(b->data);
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

static void buf_pad4(struct buf *b)
{
	static const uint8_t zeros[4];
	buf_add(b, zeros, (4 - b->len % 4) % 4);
}

static void buf_free(struct buf *b)
{
	free(b->data);
	*b = (struct buf){ 0 };
}

/* Runs a shell command (in dir) with `in` on its stdin and returns its stdout; fails the test on a non-zero exit. */
static struct buf run_filter(const char *cmd, const struct buf *in)
{
	char path[128], line[512];
	struct buf out = { 0 };
	uint8_t chunk[65536];
	size_t n;

	snprintf(path, sizeof(path), "%s/stdin", dir);   /* absolute: cmd may change directory */
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	if (in && in->len)
		assert_int_equal(fwrite(in->data, 1, in->len, f), in->len);
	assert_int_equal(fclose(f), 0);
	snprintf(line, sizeof(line), "cd '%s' && { %s; } < '%s'", dir, cmd, path);
	FILE *p = popen(line, "r");
	assert_non_null(p);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		buf_add(&out, chunk, n);
	int status = pclose(p);
	if (status != 0)
		fail_msg("'%s' failed (status %d)", line, status);
	return out;
}

static bool have_tool(const char *tool)
{
	char cmd[96];
	/* command -v prints the path on success and nothing on failure. */
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null", tool);
	return system(cmd) == 0;
}

static void write_file(const char *rel, const void *data, size_t len)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	if (len)
		assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* A newc archive of the tree under dir/sub, in a stable order. */
static struct buf make_cpio(const char *sub)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "cd %s && find . | LC_ALL=C sort | cpio -o -H newc --quiet", sub);
	return run_filter(cmd, NULL);
}

static int make_archives(void **state)
{
	static uint8_t big[300 * 1024];
	char cmd[160];
	(void)state;

	if (!have_tool("cpio")) {
		fprintf(stderr, "test_initramfs: the cpio command is missing (scripts/install-deps.sh)\n");
		return -1;
	}
	strcpy(dir, "/tmp/vmon-initramfs-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)((i * 7) ^ (i >> 9) ^ (i % 251 == 0 ? 0x5a : 0));
	snprintf(cmd, sizeof(cmd), "cd %s && mkdir -p a/etc b c zeros && ln -s etc/motd a/link && "
		 "truncate -s 2M zeros/empty", dir);
	if (system(cmd) != 0)
		return -1;
	write_file("a/init", "#!/bin/sh\necho hello\n", 21);
	write_file("a/etc/motd", "vmon initramfs test\n", 20);
	write_file("b/big", big, sizeof(big));
	write_file("c/one", "c", 1);
	cpio_a = make_cpio("a");
	cpio_b = make_cpio("b");
	cpio_c = make_cpio("c");
	cpio_zeros = make_cpio("zeros");
	return 0;
}

static int remove_archives(void **state)
{
	char cmd[96];
	(void)state;
	buf_free(&cpio_a);
	buf_free(&cpio_b);
	buf_free(&cpio_c);
	buf_free(&cpio_zeros);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct codec {
	const char *tool;
	const char *cmd;
	enum decompress_format format;
};

static const struct codec codecs[] = {
	{ "gzip", "gzip -9 -c", DECOMPRESS_GZIP },
	{ "xz", "xz --check=crc32 -c", DECOMPRESS_XZ },
	{ "lzma", "lzma -c", DECOMPRESS_LZMA },
	{ "zstd", "zstd -q -19 -c", DECOMPRESS_ZSTD },
	{ "lz4", "lz4 -l -q -c", DECOMPRESS_LZ4 },
	{ "bzip2", "bzip2 -c", DECOMPRESS_BZIP2 },
	{ "lzop", "lzop -c", DECOMPRESS_LZO },
};

static const struct codec *codec(enum decompress_format f)
{
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		if (codecs[i].format == f)
			return &codecs[i];
	fail_msg("no codec for format %d", (int)f);
	return NULL;
}

static struct buf compress(enum decompress_format f, const struct buf *in)
{
	const struct codec *c = codec(f);
	if (!have_tool(c->tool)) {
		fprintf(stderr, "test_initramfs: %s is missing (scripts/install-deps.sh); skipped\n", c->tool);
		skip();
	}
	return run_filter(c->cmd, in);
}

static struct vmon_error err;
static struct initramfs_report rep;
static uint8_t *out;
static size_t out_len;

static int unpack(const struct buf *image, size_t max)
{
	error_clear(&err);
	out = NULL;
	return initramfs_unpack(image->data, image->len, max, &out, &out_len, &rep, &err);
}

static void assert_contains(const char *text, const char *what)
{
	if (!strstr(text, what))
		fail_msg("\"%s\" lacks \"%s\"", text, what);
}

static void each_format_alone_becomes_its_cpio(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
		struct buf image = compress(codecs[i].format, &cpio_b);
		assert_int_equal(decompress_detect(image.data, image.len), codecs[i].format);
		assert_int_equal(unpack(&image, 64 * MiB), 0);
		assert_non_null(out);
		assert_int_equal(out_len, cpio_b.len);
		assert_memory_equal(out, cpio_b.data, cpio_b.len);
		assert_int_equal(rep.members, 1);
		assert_int_equal(rep.decompressed, 1);
		assert_int_equal(rep.by_format[codecs[i].format], 1);
		assert_int_equal(rep.member[0].in_size, image.len);
		assert_int_equal(rep.member[0].out_size, cpio_b.len);
		assert_int_equal(rep.out_size, cpio_b.len);
		assert_string_equal(rep.note, "");
		free(out);
		buf_free(&image);
	}
}

/* plain + gzip + padding + xz + zstd + lz4 (zero word ends it) + bzip2 + lzma + lzop. */
static void concatenated_members_become_the_concatenated_cpios(void **state)
{
	static const enum decompress_format order[] = {
		DECOMPRESS_GZIP, DECOMPRESS_XZ, DECOMPRESS_ZSTD, DECOMPRESS_LZ4, DECOMPRESS_BZIP2, DECOMPRESS_LZMA,
		DECOMPRESS_LZO,
	};
	const struct buf *plain[] = { &cpio_b, &cpio_c, &cpio_a };
	struct buf image = { 0 }, expect = { 0 };
	size_t offsets[8];
	char line[256];
	(void)state;

	buf_add(&image, cpio_a.data, cpio_a.len);
	buf_add(&expect, cpio_a.data, cpio_a.len);
	offsets[0] = 0;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		const struct buf *p = plain[i % 3];
		struct buf member = compress(order[i], p);
		offsets[i + 1] = image.len;
		buf_add(&image, member.data, member.len);
		/* Zero padding to 4 bytes as the kernel's own initramfs build does (8 after lz4: a zero word ends it). */
		buf_pad4(&image);
		if (order[i] == DECOMPRESS_LZ4)
			buf_add(&image, "\0\0\0\0", 4);
		buf_add(&expect, p->data, p->len);
		buf_free(&member);
	}
	assert_int_equal(unpack(&image, 64 * MiB), 0);
	assert_non_null(out);
	assert_int_equal(out_len, expect.len);
	assert_memory_equal(out, expect.data, expect.len);
	assert_int_equal(rep.members, 8);
	assert_int_equal(rep.decompressed, 7);
	assert_int_equal(rep.by_format[DECOMPRESS_UNKNOWN], 1);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(rep.member[i].offset, offsets[i]);
	assert_int_equal(rep.member[0].format, DECOMPRESS_UNKNOWN);
	assert_int_equal(rep.member[2].format, DECOMPRESS_XZ);
	assert_int_equal(rep.in_size, image.len);
	assert_int_equal(rep.out_size, expect.len);
	initramfs_report_summary(&rep, line, sizeof(line));
	assert_contains(line, "8 members (1 cpio, 1 gzip, 1 xz, 1 zstd, 1 bzip2, 1 lzma, 1 lz4, 1 lzo)");
	initramfs_report_member(&rep, 2, line, sizeof(line));
	assert_contains(line, "member 3 at offset");
	assert_contains(line, ": xz, ");
	free(out);
	buf_free(&image);
	buf_free(&expect);
}

/*
 * A plain cpio after a compressed member is realigned: its entries must
 * start 4-byte aligned, and the decompressed archive here ends 2 bytes past
 * a multiple of 4 (cpio's own padding may be any number of zeros).
 */
static void plain_member_after_a_compressed_one_stays_aligned(void **state)
{
	struct buf padded = { 0 }, image = { 0 }, expect = { 0 };
	(void)state;

	buf_add(&padded, cpio_c.data, cpio_c.len);
	buf_add(&padded, "\0\0", 2);
	struct buf gz = compress(DECOMPRESS_GZIP, &padded);
	buf_add(&image, gz.data, gz.len);
	buf_pad4(&image);
	buf_add(&image, cpio_a.data, cpio_a.len);
	buf_add(&expect, padded.data, padded.len);
	buf_pad4(&expect);
	buf_add(&expect, cpio_a.data, cpio_a.len);
	assert_int_equal(unpack(&image, 64 * MiB), 0);
	assert_int_equal(out_len, expect.len);
	assert_memory_equal(out, expect.data, expect.len);
	assert_int_equal(rep.members, 2);
	assert_int_equal(rep.member[1].format, DECOMPRESS_UNKNOWN);
	free(out);
	buf_free(&gz);
	buf_free(&padded);
	buf_free(&image);
	buf_free(&expect);
}

static void plain_image_is_left_alone(void **state)
{
	struct buf image = { 0 };
	(void)state;

	buf_add(&image, cpio_a.data, cpio_a.len);
	buf_add(&image, cpio_c.data, cpio_c.len);
	assert_int_equal(unpack(&image, 64 * MiB), 0);
	assert_null(out);
	assert_int_equal(rep.members, 2);
	assert_int_equal(rep.decompressed, 0);
	assert_int_equal(rep.out_size, image.len);
	buf_free(&image);
}

/* After a decoded member, bytes no decoder knows go through exactly, 4-byte aligned. */
static void unknown_member_is_passed_through(void **state)
{
	static const uint8_t junk[] = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde };
	struct buf padded = { 0 }, image = { 0 }, expect = { 0 };
	(void)state;

	buf_add(&padded, cpio_a.data, cpio_a.len);
	buf_add(&padded, "\0", 1);
	struct buf gz = compress(DECOMPRESS_GZIP, &padded);
	buf_add(&image, gz.data, gz.len);
	size_t junk_at = image.len;
	buf_add(&image, junk, sizeof(junk));
	buf_add(&expect, padded.data, padded.len);
	buf_pad4(&expect);
	buf_add(&expect, junk, sizeof(junk));
	assert_int_equal(unpack(&image, 64 * MiB), 0);
	assert_int_equal(out_len, expect.len);
	assert_memory_equal(out, expect.data, expect.len);
	assert_int_equal(rep.passthrough_offset, junk_at);
	assert_contains(rep.note, "member 2 at offset");
	assert_contains(rep.note, "starts with 12 34, no compression vmon knows");
	free(out);
	buf_free(&gz);
	buf_free(&padded);
	buf_free(&image);
	buf_free(&expect);
}

/* An old-style initrd (a compressed filesystem image): the whole image goes in as given. */
static void compressed_non_cpio_is_left_to_the_kernel(void **state)
{
	struct buf text = { 0 };
	(void)state;

	for (int i = 0; i < 200; i++)
		buf_add(&text, "not a cpio archive\n", 19);
	struct buf image = compress(DECOMPRESS_XZ, &text);
	assert_int_equal(unpack(&image, 64 * MiB), 0);
	assert_null(out);
	assert_int_equal(rep.passthrough_offset, 0);
	assert_contains(rep.note, "member 1 at offset 0 (xz) does not decompress to cpio: byte 0 (6e)");
	buf_free(&image);
	buf_free(&text);
}

/* A stream that decompresses to nothing (found by fuzz_loader: no arithmetic on the empty output's NULL). */
static void compressed_empty_member_is_left_to_the_kernel(void **state)
{
	struct buf empty = { 0 };
	(void)state;

	struct buf image = compress(DECOMPRESS_GZIP, &empty);
	assert_int_equal(unpack(&image, 64 * MiB), 0);
	assert_null(out);
	assert_int_equal(rep.passthrough_offset, 0);
	assert_contains(rep.note, "member 1 at offset 0 (gzip) does not decompress to cpio: it holds no bytes");
	buf_free(&image);
}

/* Every format notices its end is missing, lz4 (no end marker) included: its last chunk is cut. */
static void truncated_member_is_an_error_naming_it(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
		struct buf member = compress(codecs[i].format, &cpio_b);
		struct buf image = { 0 };
		char expect[128];

		buf_add(&image, cpio_a.data, cpio_a.len);
		buf_add(&image, member.data, member.len - 20);
		assert_int_equal(unpack(&image, 64 * MiB), -EINVAL);
		assert_null(out);
		snprintf(expect, sizeof(expect), "initramfs member 2 at offset %zu (0x%zx, %s): %s data is truncated",
			 cpio_a.len, cpio_a.len, decompress_format_name(codecs[i].format),
			 decompress_format_name(codecs[i].format));
		assert_contains(err.msg, expect);
		buf_free(&member);
		buf_free(&image);
	}
}

/* The formats with a checksum (lzop's per block) catch flipped bytes; lz4 -l and lzma have none. */
static void corrupt_member_is_an_error_naming_it(void **state)
{
	static const enum decompress_format formats[] = {
		DECOMPRESS_GZIP, DECOMPRESS_XZ, DECOMPRESS_ZSTD, DECOMPRESS_BZIP2, DECOMPRESS_LZO,
	};
	char expect[64];
	(void)state;

	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		struct buf image = compress(formats[i], &cpio_b);
		/* Past every header: the middle of the compressed data. */
		for (size_t j = image.len / 2; j < image.len / 2 + 16; j++)
			image.data[j] ^= 0xa5;
		assert_int_equal(unpack(&image, 64 * MiB), -EINVAL);
		assert_null(out);
		snprintf(expect, sizeof(expect), "initramfs member 1 at offset 0 (0x0, %s): %s data",
			 decompress_format_name(formats[i]), decompress_format_name(formats[i]));
		assert_contains(err.msg, expect);
		buf_free(&image);
	}
}

/* 2 MiB of zeros compress to a few KiB: the limit stops it, whatever the format. */
static void decompression_bomb_hits_the_limit(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
		struct buf image = compress(codecs[i].format, &cpio_zeros);
		char expect[96];
		assert_true(image.len < 1 * MiB);
		assert_int_equal(unpack(&image, 1 * MiB), -EFBIG);
		assert_null(out);
		snprintf(expect, sizeof(expect), "initramfs member 1 at offset 0 (%s) unpacks past 1048576 bytes",
			 decompress_format_name(codecs[i].format));
		assert_contains(err.msg, expect);
		/* With room for it, the same image unpacks. */
		assert_int_equal(unpack(&image, 3 * MiB), 0);
		assert_int_equal(out_len, cpio_zeros.len);
		free(out);
		buf_free(&image);
	}
}

/* --- through the boot loader --- */

static struct guest_mem mem;
static _Alignas(16) uint8_t kernel[0x2000];

static struct boot_request boot_request_with(const struct buf *initrd, uint64_t kernel_memsz)
{
	const struct elf_builder_segment s[] = {
		{ PT_LOAD, 0x1000000, 0x1000000, 0x1000, kernel_memsz, .fill = 0xc3, .align = 0x1000 },
	};
	size_t size = elf_builder_build(kernel, sizeof(kernel), true, 0x1000000, s, 1);
	return (struct boot_request){ .kernel_name = "vmlinux", .kernel = kernel, .kernel_size = size,
				      .cmdline = "", .initrd_name = "initrd.gz", .initrd = initrd->data,
				      .initrd_size = initrd->len, .protocol = BOOT_PROTOCOL_LINUX };
}

static void boot_loads_the_decompressed_initramfs(void **state)
{
	struct buf gz = compress(DECOMPRESS_GZIP, &cpio_b);
	struct boot_request req = boot_request_with(&gz, 0x1000);
	struct boot_result res;
	(void)state;

	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), 0);
	assert_true(res.initrd_decompressed);
	assert_int_equal(res.initrd_size, cpio_b.len);
	assert_memory_equal(guest_mem_ptr(&mem, res.initrd_addr, cpio_b.len), cpio_b.data, cpio_b.len);
	assert_int_equal(res.initramfs.decompressed, 1);
	assert_string_equal(res.initrd_note, "");

	/* --initrd-guest-decompress: the file as given. */
	req.initrd_guest_decompress = true;
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), 0);
	assert_false(res.initrd_decompressed);
	assert_int_equal(res.initramfs.members, 0);
	assert_int_equal(res.initrd_size, gz.len);
	assert_memory_equal(guest_mem_ptr(&mem, res.initrd_addr, gz.len), gz.data, gz.len);
	buf_free(&gz);
}

/* Kernel up to 63 MiB of the 64: 1 MiB of room, too little for 2 MiB unpacked but enough packed. */
static void boot_falls_back_to_the_compressed_image_when_unpacked_does_not_fit(void **state)
{
	struct buf gz = compress(DECOMPRESS_GZIP, &cpio_zeros);
	struct boot_request req = boot_request_with(&gz, 47 * MiB);
	struct boot_result res;
	(void)state;

	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), 0);
	assert_false(res.initrd_decompressed);
	assert_int_equal(res.initrd_size, gz.len);
	assert_memory_equal(guest_mem_ptr(&mem, res.initrd_addr, gz.len), gz.data, gz.len);
	assert_contains(res.initrd_note, "initrd.gz: initramfs member 1 at offset 0 (gzip) unpacks past");
	assert_contains(res.initrd_note, "loading it as given (the guest decompresses it)");
	buf_free(&gz);
}

static void boot_reports_a_corrupt_initrd_with_its_name(void **state)
{
	struct buf gz = compress(DECOMPRESS_GZIP, &cpio_b);
	(void)state;

	gz.len -= 30;
	struct boot_request req = boot_request_with(&gz, 0x1000);
	struct boot_result res;
	assert_int_equal(x86_boot_load(&mem, &req, &res, &err), -EINVAL);
	assert_contains(err.msg, "initrd.gz: initramfs member 1 at offset 0 (0x0, gzip): gzip data is truncated");
	buf_free(&gz);
}

int main(void)
{
#define G(f) cmocka_unit_test_prestate_setup_teardown(f, guest_fixture_setup, guest_fixture_teardown, &mem)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_format_alone_becomes_its_cpio),
		cmocka_unit_test(concatenated_members_become_the_concatenated_cpios),
		cmocka_unit_test(plain_member_after_a_compressed_one_stays_aligned),
		cmocka_unit_test(plain_image_is_left_alone),
		cmocka_unit_test(compressed_empty_member_is_left_to_the_kernel),
		cmocka_unit_test(unknown_member_is_passed_through),
		cmocka_unit_test(compressed_non_cpio_is_left_to_the_kernel),
		cmocka_unit_test(truncated_member_is_an_error_naming_it),
		cmocka_unit_test(corrupt_member_is_an_error_naming_it),
		cmocka_unit_test(decompression_bomb_hits_the_limit),
		G(boot_loads_the_decompressed_initramfs),
		G(boot_falls_back_to_the_compressed_image_when_unpacked_does_not_fit),
		G(boot_reports_a_corrupt_initrd_with_its_name),
	};
	return cmocka_run_group_tests(tests, make_archives, remove_archives);
}
