/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/aml.h"

/* Byte-exact expectations follow ACPI 6.3 chapter 20 (and what iasl emits for the same ASL). */

#define BUF 8192

struct out {
	struct aml a;
	uint8_t buf[BUF];
};

static struct out *start(void)
{
	struct out *o = calloc(1, sizeof(*o));

	assert_non_null(o);
	aml_init(&o->a, o->buf, sizeof(o->buf));
	return o;
}

static void expect(struct out *o, const uint8_t *bytes, size_t n)
{
	size_t len = 0;
	struct vmon_error err = { 0 };

	assert_int_equal(aml_finish(&o->a, &len, &err), 0);
	assert_int_equal(len, n);
	assert_memory_equal(o->buf, bytes, n);
	free(o);
}

static int finish_error(struct out *o, struct vmon_error *err)
{
	size_t len = 0;
	int r = aml_finish(&o->a, &len, err);

	free(o);
	return r;
}

#define EXPECT(o, ...) do { \
	const uint8_t want_[] = { __VA_ARGS__ }; \
	expect((o), want_, sizeof(want_)); \
} while (0)

static void pkglength_encodes_each_width_at_its_limits(void **state)
{
	static const struct {
		uint32_t value;
		unsigned n;
		uint8_t bytes[4];
	} cases[] = {
		{ 0, 1, { 0x00 } },
		{ 63, 1, { 0x3f } },
		{ 64, 2, { 0x40, 0x04 } },             /* follow count 1, low nibble 0, then 0x04 */
		{ 0x123, 2, { 0x43, 0x12 } },
		{ 4095, 2, { 0x4f, 0xff } },
		{ 4096, 3, { 0x80, 0x00, 0x01 } },
		{ 0xfffff, 3, { 0x8f, 0xff, 0xff } },
		{ 0x100000, 4, { 0xc0, 0x00, 0x00, 0x01 } },
		{ 0xfffffff, 4, { 0xcf, 0xff, 0xff, 0xff } },
	};
	uint8_t out[4];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 0xaa, sizeof(out));
		assert_int_equal(aml_pkglength_encode(cases[i].value, out), cases[i].n);
		assert_memory_equal(out, cases[i].bytes, cases[i].n);
	}
	assert_int_equal(aml_pkglength_encode(0x10000000, out), 0);
}

static void pkglength_counts_its_own_bytes(void **state)
{
	(void)state;
	assert_int_equal(aml_pkglength_for_content(0), 1);
	assert_int_equal(aml_pkglength_for_content(62), 63);     /* last one-byte length */
	assert_int_equal(aml_pkglength_for_content(63), 65);     /* 64 does not fit one byte: two */
	assert_int_equal(aml_pkglength_for_content(4093), 4095);
	assert_int_equal(aml_pkglength_for_content(4094), 4097);
	assert_int_equal(aml_pkglength_for_content(0xfffff - 3), 0xfffff);
	assert_int_equal(aml_pkglength_for_content(0xfffff - 2), 0x100001);
	assert_int_equal(aml_pkglength_for_content(0xfffffff - 4), 0xfffffff);
	assert_int_equal(aml_pkglength_for_content(0xfffffff - 3), 0);
}

/* A Buffer of n bytes: BufferOp, PkgLength, BufferSize, the bytes; checks the length bytes. */
static void check_buffer_pkglength(size_t n, const uint8_t *len_bytes, size_t len_n, const uint8_t *size_bytes,
				   size_t size_n)
{
	struct out *o = start();
	uint8_t *data = malloc(n);
	size_t len = 0;

	assert_non_null(data);
	memset(data, 0x5a, n);
	aml_buffer(&o->a, data, n);
	assert_int_equal(aml_finish(&o->a, &len, NULL), 0);
	assert_int_equal(len, 1 + len_n + size_n + n);
	assert_int_equal(o->buf[0], 0x11);
	assert_memory_equal(o->buf + 1, len_bytes, len_n);
	assert_memory_equal(o->buf + 1 + len_n, size_bytes, size_n);
	assert_memory_equal(o->buf + 1 + len_n + size_n, data, n);
	free(data);
	free(o);
}

static void terms_cross_the_pkglength_boundaries_exactly(void **state)
{
	(void)state;
	/* 60 data bytes + ByteConst size = 62 bytes of content: PkgLength 63 in one byte. */
	check_buffer_pkglength(60, (const uint8_t[]){ 0x3f }, 1, (const uint8_t[]){ 0x0a, 60 }, 2);
	/* 61 + 2 = 63 bytes: one byte would say 64, too big; two bytes say 65. */
	check_buffer_pkglength(61, (const uint8_t[]){ 0x41, 0x04 }, 2, (const uint8_t[]){ 0x0a, 61 }, 2);
	/* 4090 + WordConst 3 = 4093: PkgLength 4095, the last two-byte value. */
	check_buffer_pkglength(4090, (const uint8_t[]){ 0x4f, 0xff }, 2, (const uint8_t[]){ 0x0b, 0xfa, 0x0f }, 3);
	/* 4091 + 3 = 4094: 4096 does not fit two bytes; three bytes say 4097 = 0x1001. */
	check_buffer_pkglength(4091, (const uint8_t[]){ 0x81, 0x00, 0x01 }, 3, (const uint8_t[]){ 0x0b, 0xfb, 0x0f },
			       3);
}

static void integers_use_the_shortest_encoding(void **state)
{
	(void)state;
	struct out *o = start();
	aml_integer(&o->a, 0);
	aml_integer(&o->a, 1);
	aml_integer(&o->a, 2);
	aml_integer(&o->a, 0xff);
	aml_integer(&o->a, 0x100);
	aml_integer(&o->a, 0xffff);
	aml_integer(&o->a, 0x10000);
	aml_integer(&o->a, 0xffffffff);
	aml_integer(&o->a, 0x100000000ull);
	aml_integer(&o->a, 0x0123456789abcdefull);
	EXPECT(o, 0x00, 0x01, 0x0a, 0x02, 0x0a, 0xff, 0x0b, 0x00, 0x01, 0x0b, 0xff, 0xff,
	       0x0c, 0x00, 0x00, 0x01, 0x00, 0x0c, 0xff, 0xff, 0xff, 0xff,
	       0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	       0x0e, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01);
}

static void strings_are_nul_terminated_ascii(void **state)
{
	struct vmon_error err = { 0 };
	(void)state;

	struct out *o = start();
	aml_string(&o->a, "LNRO0005");
	aml_string(&o->a, "");
	EXPECT(o, 0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00, 0x0d, 0x00);

	o = start();
	aml_string(&o->a, "caf\xc3\xa9");
	assert_int_equal(finish_error(o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "0x7f"));
}

static void name_strings_pad_segments_and_use_prefixes(void **state)
{
	(void)state;
	struct out *o = start();
	aml_name_string(&o->a, "_HID");
	aml_name_string(&o->a, "RTC");
	aml_name_string(&o->a, "\\_SB_.COM1");
	aml_name_string(&o->a, "^^A.B.C");
	aml_name_string(&o->a, "\\");
	EXPECT(o, '_', 'H', 'I', 'D',
	       'R', 'T', 'C', '_',
	       0x5c, 0x2e, '_', 'S', 'B', '_', 'C', 'O', 'M', '1',
	       0x5e, 0x5e, 0x2f, 0x03, 'A', '_', '_', '_', 'B', '_', '_', '_', 'C', '_', '_', '_',
	       0x5c, 0x00);
}

static void bad_names_are_refused(void **state)
{
	static const char *const bad[] = { "1ABC", "ABCDE", "abc", "A..B", "A.", ".A", "", "A-B", "\\^A" };
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vmon_error err = { 0 };
		struct out *o = start();

		aml_name_string(&o->a, bad[i]);
		assert_int_equal(finish_error(o, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "AML: name"));
	}
}

static void eisaid_compresses_vendor_and_product(void **state)
{
	uint32_t v = 0;
	(void)state;

	assert_int_equal(aml_eisaid("PNP0501", &v), 0);
	assert_int_equal(v, 0x0105d041);
	assert_int_equal(aml_eisaid("PNP0303", &v), 0);
	assert_int_equal(v, 0x0303d041);
	assert_int_equal(aml_eisaid("PNP0B00", &v), 0);
	assert_int_equal(v, 0x000bd041);
	assert_int_equal(aml_eisaid("ZZZFFFF", &v), 0);
	assert_int_equal(v, 0xffff5a6b);  /* 'Z' = 26: 11010 11010 11010 -> 0x6b5a */
	assert_int_equal(aml_eisaid("pnp0501", &v), -EINVAL);
	assert_int_equal(aml_eisaid("PNP050", &v), -EINVAL);
	assert_int_equal(aml_eisaid("PNP05G1", &v), -EINVAL);
	assert_int_equal(aml_eisaid("PNP05011", &v), -EINVAL);

	struct out *o = start();
	aml_eisaid_integer(&o->a, "PNP0501");
	EXPECT(o, 0x0c, 0x41, 0xd0, 0x05, 0x01);
}

static void name_with_a_package_counts_its_elements(void **state)
{
	(void)state;
	struct out *o = start();
	aml_name(&o->a, "\\_S5_");
	aml_package_begin(&o->a);
	aml_integer(&o->a, 5);
	aml_integer(&o->a, 5);
	aml_integer(&o->a, 0);
	aml_integer(&o->a, 0);
	aml_end(&o->a);
	/* Name (\_S5_, Package (0x04) { 0x05, 0x05, Zero, Zero }) */
	EXPECT(o, 0x08, 0x5c, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00);

	o = start();
	aml_package_begin(&o->a);
	aml_package_begin(&o->a);
	aml_integer(&o->a, 1);
	aml_end(&o->a);
	aml_string(&o->a, "x");
	aml_end(&o->a);
	/* Package (0x02) { Package (0x01) { One }, "x" } */
	EXPECT(o, 0x12, 0x09, 0x02, 0x12, 0x03, 0x01, 0x01, 0x0d, 'x', 0x00);
}

static void device_in_scope_nests_lengths(void **state)
{
	(void)state;
	struct out *o = start();
	aml_scope_begin(&o->a, "\\_SB_");
	aml_device_begin(&o->a, "COM1");
	aml_name(&o->a, "_UID");
	aml_integer(&o->a, 0);
	aml_end(&o->a);
	aml_end(&o->a);
	/* Device: 5B 82, PkgLength 11 (itself 1 + "COM1" 4 + Name 08 "_UID" Zero 6). Scope: 1 + 5 + 13 = 19. */
	EXPECT(o, 0x10, 0x13, 0x5c, '_', 'S', 'B', '_',
	       0x5b, 0x82, 0x0b, 'C', 'O', 'M', '1', 0x08, '_', 'U', 'I', 'D', 0x00);
}

static void resource_template_ends_with_a_checksum(void **state)
{
	struct aml_resources r;
	(void)state;

	aml_res_init(&r);
	aml_res_io(&r, 0x3f8, 8);
	aml_res_irq(&r, 4);
	struct out *o = start();
	aml_resource_template(&o->a, &r);
	/* IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08) IRQNoFlags () {4}, EndTag: 13 bytes summing to 0. */
	EXPECT(o, 0x11, 0x10, 0x0a, 0x0d,
	       0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
	       0x22, 0x10, 0x00,
	       0x79, 0x0e);

	aml_res_init(&r);
	aml_res_memory32_fixed(&r, 0xd0000000, 0x1000);
	aml_res_interrupt(&r, 5, AML_EDGE, AML_ACTIVE_HIGH);
	aml_res_interrupt(&r, 0x12345678, AML_LEVEL, AML_ACTIVE_LOW);
	o = start();
	aml_resource_template(&o->a, &r);
	size_t len = 0;
	assert_int_equal(aml_finish(&o->a, &len, NULL), 0);
	const uint8_t want[] = { 0x11, 0x23, 0x0a, 0x20,
				 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x10, 0x00, 0x00,
				 0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00,
				 0x89, 0x06, 0x00, 0x05, 0x01, 0x78, 0x56, 0x34, 0x12,
				 0x79 };
	assert_int_equal(len, sizeof(want) + 1);
	assert_memory_equal(o->buf, want, sizeof(want));
	uint8_t sum = 0;
	for (size_t i = 4; i < len; i++)
		sum += o->buf[i];
	assert_int_equal(sum, 0);
	free(o);
}

static void resource_errors_reach_the_stream(void **state)
{
	struct aml_resources r;
	struct vmon_error err = { 0 };
	(void)state;

	aml_res_init(&r);
	aml_res_irq(&r, 16);
	struct out *o = start();
	aml_resource_template(&o->a, &r);
	assert_int_equal(finish_error(o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "IRQ 16"));

	aml_res_init(&r);
	aml_res_memory32_fixed(&r, 0xfffff000, 0x2000);
	o = start();
	aml_resource_template(&o->a, &r);
	assert_int_equal(finish_error(o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "past 4 GiB"));

	aml_res_init(&r);
	for (int i = 0; i < 40; i++)
		aml_res_io(&r, (uint16_t)(0x100 + i), 1);
	assert_int_equal(r.err.code, -ENOSPC);
	assert_true(r.len + 2 <= AML_RESOURCES_MAX);
}

static void a_full_buffer_is_an_error_not_an_overflow(void **state)
{
	uint8_t mem[64];
	struct aml a;
	struct vmon_error err = { 0 };
	size_t len = 0;
	(void)state;

	/* Room for 16 bytes; the canary behind them must survive. */
	memset(mem, 0xcc, sizeof(mem));
	aml_init(&a, mem, 16);
	aml_string(&a, "0123456789abcdefghij");
	aml_integer(&a, 7);
	assert_int_equal(aml_finish(&a, &len, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "16-byte output buffer is full"));
	for (size_t i = 16; i < sizeof(mem); i++)
		assert_int_equal(mem[i], 0xcc);

	/* Fits until the closing PkgLength needs its byte. */
	memset(mem, 0xcc, sizeof(mem));
	aml_init(&a, mem, 40);
	aml_package_begin(&a);
	for (int i = 0; i < 19; i++)
		aml_integer(&a, 2);   /* 2 bytes each: 1 + 1 + 38 = 40 bytes before the length */
	aml_end(&a);
	assert_int_equal(aml_finish(&a, &len, &err), -ENOSPC);
	for (size_t i = 40; i < sizeof(mem); i++)
		assert_int_equal(mem[i], 0xcc);
}

static void unbalanced_or_misplaced_terms_are_errors(void **state)
{
	struct vmon_error err = { 0 };
	(void)state;

	struct out *o = start();
	aml_end(&o->a);
	assert_int_equal(finish_error(o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "without an open"));

	o = start();
	aml_scope_begin(&o->a, "\\_SB_");
	assert_int_equal(finish_error(o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "left open"));

	o = start();
	aml_package_begin(&o->a);
	aml_name(&o->a, "X");
	assert_int_equal(finish_error(o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "inside a Package"));

	o = start();
	for (int i = 0; i <= AML_MAX_DEPTH; i++)
		aml_package_begin(&o->a);
	assert_int_equal(finish_error(o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "nested deeper"));

	o = start();
	aml_package_begin(&o->a);
	for (int i = 0; i < 256; i++)
		aml_integer(&o->a, 0);
	aml_end(&o->a);
	assert_int_equal(finish_error(o, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "255 elements"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pkglength_encodes_each_width_at_its_limits),
		cmocka_unit_test(pkglength_counts_its_own_bytes),
		cmocka_unit_test(terms_cross_the_pkglength_boundaries_exactly),
		cmocka_unit_test(integers_use_the_shortest_encoding),
		cmocka_unit_test(strings_are_nul_terminated_ascii),
		cmocka_unit_test(name_strings_pad_segments_and_use_prefixes),
		cmocka_unit_test(bad_names_are_refused),
		cmocka_unit_test(eisaid_compresses_vendor_and_product),
		cmocka_unit_test(name_with_a_package_counts_its_elements),
		cmocka_unit_test(device_in_scope_nests_lengths),
		cmocka_unit_test(resource_template_ends_with_a_checksum),
		cmocka_unit_test(resource_errors_reach_the_stream),
		cmocka_unit_test(a_full_buffer_is_an_error_not_an_overflow),
		cmocka_unit_test(unbalanced_or_misplaced_terms_are_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
