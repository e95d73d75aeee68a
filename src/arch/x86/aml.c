/* SPDX-License-Identifier: MIT */
#include "arch/x86/aml.h"

#include <errno.h>
#include <string.h>

/* Opcodes and prefixes, ACPI 6.3 section 20.2. */
#define AML_ZERO_OP      0x00
#define AML_ONE_OP       0x01
#define AML_NAME_OP      0x08
#define AML_BYTE_PREFIX  0x0a
#define AML_WORD_PREFIX  0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP     0x10
#define AML_BUFFER_OP    0x11
#define AML_PACKAGE_OP   0x12
#define AML_DUAL_NAME_PREFIX  0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX 0x5b
#define AML_DEVICE_OP    0x82   /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR    0x5c   /* '\' */
#define AML_PARENT_CHAR  0x5e   /* '^' */

/* Resource data tags (6.4.2 small items, 6.4.3 large items). */
#define RES_IRQ_NO_FLAGS 0x22   /* small type 0x04, 2 bytes */
#define RES_IO           0x47   /* small type 0x08, 7 bytes */
#define RES_END_TAG      0x79   /* small type 0x0f, 1 byte */
#define RES_MEMORY32_FIXED 0x86 /* large type 0x06 */
#define RES_EXT_INTERRUPT 0x89  /* large type 0x09 */

#define PKGLENGTH_MAX 0x0fffffffu   /* 28 bits: 4 bits + 3 follow bytes */

static bool failed(const struct aml *a)
{
	return a->err.code != 0;
}

static void fail(struct aml *a, int code, const char *what)
{
	if (!failed(a))
		error_set(&a->err, code, "AML: %s", what);
}

static void emit(struct aml *a, const void *data, size_t n)
{
	if (failed(a))
		return;
	if (n > a->cap - a->len) {
		error_set(&a->err, -ENOSPC, "AML: the %zu-byte output buffer is full", a->cap);
		return;
	}
	memcpy(a->buf + a->len, data, n);
	a->len += n;
}

static void emit_byte(struct aml *a, uint8_t b)
{
	emit(a, &b, 1);
}

static void emit_le(struct aml *a, uint64_t v, unsigned bytes)
{
	uint8_t le[8];

	for (unsigned i = 0; i < bytes; i++)
		le[i] = (uint8_t)(v >> (8 * i));
	emit(a, le, bytes);
}

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	memset(a, 0, sizeof(*a));
	a->buf = buf;
	a->cap = cap;
}

int aml_finish(struct aml *a, size_t *len, struct vmon_error *err)
{
	if (!failed(a) && a->depth)
		fail(a, -EINVAL, "a Scope, Device, Package or Buffer was left open");
	if (failed(a))
		return error_set(err, a->err.code, "%s", a->err.msg);
	*len = a->len;
	return 0;
}

unsigned aml_pkglength_encode(uint32_t value, uint8_t out[4])
{
	unsigned follow;

	if (value <= 0x3f) {
		out[0] = (uint8_t)value;
		return 1;
	}
	if (value > PKGLENGTH_MAX)
		return 0;
	follow = value <= 0xfff ? 1 : value <= 0xfffff ? 2 : 3;
	/* Byte 0: follow count in bits 7-6, bits 5-4 zero, the low nibble; then 8 bits each. */
	out[0] = (uint8_t)((follow << 6) | (value & 0x0f));
	for (unsigned i = 1; i <= follow; i++)
		out[i] = (uint8_t)(value >> (4 + 8 * (i - 1)));
	return follow + 1;
}

uint32_t aml_pkglength_for_content(size_t content)
{
	for (unsigned n = 1; n <= 4; n++) {
		static const uint32_t max[] = { 0, 0x3f, 0xfff, 0xfffff, PKGLENGTH_MAX };

		if (content <= max[n] - n)
			return (uint32_t)(content + n);
	}
	return 0;
}

int aml_eisaid(const char *id, uint32_t *out)
{
	uint8_t b[4];

	if (strlen(id) != 7)
		return -EINVAL;
	for (unsigned i = 0; i < 3; i++)
		if (id[i] < 'A' || id[i] > 'Z')
			return -EINVAL;
	for (unsigned i = 3; i < 7; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'F')))
			return -EINVAL;
	/* Three 5-bit letters ('A' = 1) big endian in bytes 0-1, then the product number's 4 nibbles. */
	uint16_t vendor = (uint16_t)(((id[0] - 0x40) << 10) | ((id[1] - 0x40) << 5) | (id[2] - 0x40));
	b[0] = (uint8_t)(vendor >> 8);
	b[1] = (uint8_t)vendor;
	for (unsigned i = 0; i < 2; i++) {
		unsigned hi = id[3 + 2 * i], lo = id[4 + 2 * i];
		hi = hi <= '9' ? hi - '0' : hi - 'A' + 10;
		lo = lo <= '9' ? lo - '0' : lo - 'A' + 10;
		b[2 + i] = (uint8_t)(hi << 4 | lo);
	}
	*out = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return 0;
}

/* A data object inside a Package counts towards its NumElements. */
static void count_element(struct aml *a)
{
	if (a->depth && a->open[a->depth - 1].kind == AML_SCOPE_PACKAGE)
		a->open[a->depth - 1].elements++;
}

static bool in_package(const struct aml *a)
{
	return a->depth && a->open[a->depth - 1].kind == AML_SCOPE_PACKAGE;
}

void aml_integer(struct aml *a, uint64_t v)
{
	count_element(a);
	if (v == 0) {
		emit_byte(a, AML_ZERO_OP);
	} else if (v == 1) {
		emit_byte(a, AML_ONE_OP);
	} else if (v <= 0xff) {
		emit_byte(a, AML_BYTE_PREFIX);
		emit_le(a, v, 1);
	} else if (v <= 0xffff) {
		emit_byte(a, AML_WORD_PREFIX);
		emit_le(a, v, 2);
	} else if (v <= 0xffffffff) {
		emit_byte(a, AML_DWORD_PREFIX);
		emit_le(a, v, 4);
	} else {
		emit_byte(a, AML_QWORD_PREFIX);
		emit_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p > 0x7f)
			fail(a, -EINVAL, "a string holds a byte above 0x7f (AML strings are ASCII)");
	count_element(a);
	emit_byte(a, AML_STRING_PREFIX);
	emit(a, s, strlen(s) + 1);
}

void aml_eisaid_integer(struct aml *a, const char *id)
{
	uint32_t v;

	if (aml_eisaid(id, &v)) {
		if (!failed(a))
			error_set(&a->err, -EINVAL, "AML: EISA ID \"%.16s\" is not 3 capitals and 4 hex digits", id);
		return;
	}
	/* Always a DWordConst, as iasl's EISAID() emits it. */
	count_element(a);
	emit_byte(a, AML_DWORD_PREFIX);
	emit_le(a, v, 4);
}

static bool seg_char_ok(char c, bool lead)
{
	return (c >= 'A' && c <= 'Z') || c == '_' || (!lead && c >= '0' && c <= '9');
}

void aml_name_string(struct aml *a, const char *path)
{
	const char *p = path;
	uint8_t segs[255][4];
	unsigned nsegs = 0;

	if (failed(a))
		return;
	if (*p == '\\') {
		emit_byte(a, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == '^') {
			emit_byte(a, AML_PARENT_CHAR);
			p++;
		}
	}
	while (*p) {
		size_t n = strcspn(p, ".");

		if (n < 1 || n > 4 || nsegs == 255) {
			if (!failed(a))
				error_set(&a->err, -EINVAL, "AML: name \"%.64s\" has a segment that is not 1 to 4 "
					  "characters", path);
			return;
		}
		for (size_t i = 0; i < 4; i++) {
			char c = i < n ? p[i] : '_';
			if (!seg_char_ok(c, i == 0)) {
				if (!failed(a))
					error_set(&a->err, -EINVAL, "AML: name \"%.64s\": '%c' is not allowed there "
						  "(NameSegs are [A-Z_][A-Z0-9_]*)", path, c);
				return;
			}
			segs[nsegs][i] = (uint8_t)c;
		}
		nsegs++;
		p += n;
		if (*p == '.' && !*++p) {
			if (!failed(a))
				error_set(&a->err, -EINVAL, "AML: name \"%.64s\" ends with a dot", path);
			return;
		}
	}
	if (nsegs == 0) {
		if (p == path) {
			fail(a, -EINVAL, "name \"\" is empty");
			return;
		}
		emit_byte(a, AML_ZERO_OP);  /* NullName: "\" alone names the root */
		return;
	}
	if (nsegs == 2) {
		emit_byte(a, AML_DUAL_NAME_PREFIX);
	} else if (nsegs > 2) {
		emit_byte(a, AML_MULTI_NAME_PREFIX);
		emit_byte(a, (uint8_t)nsegs);
	}
	emit(a, segs, 4 * nsegs);
}

void aml_name(struct aml *a, const char *path)
{
	if (in_package(a))
		fail(a, -EINVAL, "Name() inside a Package");
	emit_byte(a, AML_NAME_OP);
	aml_name_string(a, path);
}

static void open_scope(struct aml *a, enum aml_scope_kind kind)
{
	if (failed(a))
		return;
	if (a->depth == AML_MAX_DEPTH) {
		fail(a, -EINVAL, "terms nested deeper than AML_MAX_DEPTH");
		return;
	}
	a->open[a->depth].start = a->len;
	a->open[a->depth].kind = kind;
	a->open[a->depth].elements = 0;
	a->depth++;
}

void aml_scope_begin(struct aml *a, const char *path)
{
	if (in_package(a))
		fail(a, -EINVAL, "Scope() inside a Package");
	emit_byte(a, AML_SCOPE_OP);
	open_scope(a, AML_SCOPE_TERMS);
	aml_name_string(a, path);
}

void aml_device_begin(struct aml *a, const char *path)
{
	if (in_package(a))
		fail(a, -EINVAL, "Device() inside a Package");
	emit_byte(a, AML_EXT_OP_PREFIX);
	emit_byte(a, AML_DEVICE_OP);
	open_scope(a, AML_SCOPE_TERMS);
	aml_name_string(a, path);
}

void aml_package_begin(struct aml *a)
{
	count_element(a);
	emit_byte(a, AML_PACKAGE_OP);
	open_scope(a, AML_SCOPE_PACKAGE);
	emit_byte(a, 0);   /* NumElements, filled in by aml_end() */
}

void aml_end(struct aml *a)
{
	uint8_t enc[4];

	if (failed(a))
		return;
	if (!a->depth) {
		fail(a, -EINVAL, "aml_end() without an open Scope, Device, Package or Buffer");
		return;
	}
	a->depth--;
	size_t start = a->open[a->depth].start, content = a->len - start;
	uint32_t value = aml_pkglength_for_content(content);
	unsigned n = aml_pkglength_encode(value, enc);

	if (!value || !n) {
		fail(a, -E2BIG, "a term is longer than PkgLength can encode (2^28 bytes)");
		return;
	}
	if (n > a->cap - a->len) {
		error_set(&a->err, -ENOSPC, "AML: the %zu-byte output buffer is full", a->cap);
		return;
	}
	/* The length precedes the content: shift the content up to make room. */
	memmove(a->buf + start + n, a->buf + start, content);
	memcpy(a->buf + start, enc, n);
	a->len += n;
	if (a->open[a->depth].kind == AML_SCOPE_PACKAGE) {
		if (a->open[a->depth].elements > 255) {
			fail(a, -E2BIG, "a Package has more than 255 elements");
			return;
		}
		a->buf[start + n] = (uint8_t)a->open[a->depth].elements;
	}
}

void aml_buffer(struct aml *a, const uint8_t *data, size_t len)
{
	count_element(a);
	emit_byte(a, AML_BUFFER_OP);
	open_scope(a, AML_SCOPE_TERMS);
	aml_integer(a, len);   /* BufferSize */
	emit(a, data, len);
	aml_end(a);
}

/* Resource descriptors. */

static void res_emit(struct aml_resources *r, const uint8_t *data, size_t n)
{
	if (r->err.code)
		return;
	/* Room is kept for the end tag (2 bytes). */
	if (n + 2 > sizeof(r->data) - r->len) {
		error_set(&r->err, -ENOSPC, "AML: resource template longer than %d bytes", AML_RESOURCES_MAX);
		return;
	}
	memcpy(r->data + r->len, data, n);
	r->len += n;
}

void aml_res_init(struct aml_resources *r)
{
	memset(r, 0, sizeof(*r));
}

void aml_res_io(struct aml_resources *r, uint16_t base, uint8_t len)
{
	/* Decode16, minimum = maximum = base, alignment 1, length. */
	const uint8_t d[] = { RES_IO, 0x01, (uint8_t)base, (uint8_t)(base >> 8), (uint8_t)base, (uint8_t)(base >> 8),
			      0x01, len };

	if (len == 0 && !r->err.code)
		error_set(&r->err, -EINVAL, "AML: IO descriptor at 0x%x with length 0", base);
	res_emit(r, d, sizeof(d));
}

void aml_res_irq(struct aml_resources *r, unsigned irq)
{
	if (irq > 15) {
		if (!r->err.code)
			error_set(&r->err, -EINVAL, "AML: IRQ descriptor for IRQ %u (ISA IRQs are 0-15)", irq);
		return;
	}
	const uint8_t d[] = { RES_IRQ_NO_FLAGS, (uint8_t)(1u << irq), (uint8_t)((1u << irq) >> 8) };
	res_emit(r, d, sizeof(d));
}

void aml_res_memory32_fixed(struct aml_resources *r, uint32_t base, uint32_t len)
{
	const uint8_t d[] = { RES_MEMORY32_FIXED, 9, 0, 0x01 /* read-write */,
			      (uint8_t)base, (uint8_t)(base >> 8), (uint8_t)(base >> 16), (uint8_t)(base >> 24),
			      (uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24) };

	if ((uint64_t)base + len > 0x100000000ull && !r->err.code)
		error_set(&r->err, -EINVAL, "AML: Memory32Fixed 0x%x + 0x%x runs past 4 GiB", base, len);
	res_emit(r, d, sizeof(d));
}

/* Address space descriptors' general flags: producer, positive decode, MinFixed | MaxFixed. */
#define ADDR_PRODUCER_FIXED 0x0c

void aml_res_word_bus_number(struct aml_resources *r, uint16_t min, uint16_t max)
{
	uint16_t len = (uint16_t)(max - min + 1);
	/* Word Address Space Descriptor (6.4.3.5.3): type 2 = bus number range. */
	const uint8_t d[] = { 0x88, 13, 0, 2, ADDR_PRODUCER_FIXED, 0,
			      0, 0, /* granularity */
			      (uint8_t)min, (uint8_t)(min >> 8), (uint8_t)max, (uint8_t)(max >> 8),
			      0, 0, /* translation */
			      (uint8_t)len, (uint8_t)(len >> 8) };

	if (max < min && !r->err.code)
		error_set(&r->err, -EINVAL, "AML: bus range %u-%u is empty", min, max);
	res_emit(r, d, sizeof(d));
}

void aml_res_dword_memory(struct aml_resources *r, uint32_t min, uint32_t max)
{
	uint32_t len = max - min + 1;
	/* DWord Address Space Descriptor (6.4.3.5.2): type 0 = memory, read-write, non-cacheable. */
	const uint8_t d[] = { 0x87, 23, 0, 0, ADDR_PRODUCER_FIXED, 0x01,
			      0, 0, 0, 0, /* granularity */
			      (uint8_t)min, (uint8_t)(min >> 8), (uint8_t)(min >> 16), (uint8_t)(min >> 24),
			      (uint8_t)max, (uint8_t)(max >> 8), (uint8_t)(max >> 16), (uint8_t)(max >> 24),
			      0, 0, 0, 0, /* translation */
			      (uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24) };

	if (max < min && !r->err.code)
		error_set(&r->err, -EINVAL, "AML: memory range 0x%x-0x%x is empty", min, max);
	res_emit(r, d, sizeof(d));
}

void aml_res_interrupt(struct aml_resources *r, uint32_t gsi, enum aml_irq_trigger trigger,
		       enum aml_irq_polarity polarity)
{
	/* Flags: bit 0 consumer, bit 1 edge, bit 2 active low, bit 3 shared (no), bit 4 wake (no). */
	uint8_t flags = 0x01 | (trigger == AML_EDGE ? 0x02 : 0) | (polarity == AML_ACTIVE_LOW ? 0x04 : 0);
	const uint8_t d[] = { RES_EXT_INTERRUPT, 6, 0, flags, 1 /* one interrupt */,
			      (uint8_t)gsi, (uint8_t)(gsi >> 8), (uint8_t)(gsi >> 16), (uint8_t)(gsi >> 24) };
	res_emit(r, d, sizeof(d));
}

void aml_resource_template(struct aml *a, const struct aml_resources *r)
{
	uint8_t data[AML_RESOURCES_MAX];
	uint8_t sum = 0;

	if (r->err.code) {
		if (!failed(a))
			a->err = r->err;
		return;
	}
	memcpy(data, r->data, r->len);
	data[r->len] = RES_END_TAG;
	for (size_t i = 0; i <= r->len; i++)
		sum += data[i];
	data[r->len + 1] = (uint8_t)-sum;   /* 6.4.2.9: all bytes, checksum included, sum to 0 */
	aml_buffer(a, data, r->len + 2);
}
