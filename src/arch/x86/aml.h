/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_AML_H
#define VMON_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/*
 * A small encoder for ACPI Machine Language (ACPI 6.3, chapter 20): the few
 * terms a DSDT describing vmon's devices needs — Scope, Device, Name, integers,
 * strings, packages, EISA IDs and ResourceTemplate buffers.
 *
 * Output goes into a caller-owned buffer of fixed size. Errors are sticky: the
 * first one (no room, a bad name, unbalanced scopes) is kept in `err`, every
 * later call does nothing, and aml_finish() reports it. Callers emit a whole
 * table and check once.
 */

#define AML_MAX_DEPTH 16   /* nested Scope/Device/Package/Buffer terms */

enum aml_scope_kind { AML_SCOPE_TERMS, AML_SCOPE_PACKAGE };

struct aml {
	uint8_t *buf;
	size_t cap;
	size_t len;
	struct vmon_error err;              /* err.code != 0 once anything failed */
	unsigned depth;
	struct {
		size_t start;                   /* where the PkgLength goes */
		enum aml_scope_kind kind;
		unsigned elements;              /* packages: NumElements so far */
	} open[AML_MAX_DEPTH];
};

void aml_init(struct aml *a, uint8_t *buf, size_t cap);

/* 0 and the byte count in *len, or the first error (and its message in err). */
int aml_finish(struct aml *a, size_t *len, struct vmon_error *err);

/*
 * PkgLength (20.2.4) for a value (which counts the encoding's own bytes):
 * writes 1 to 4 bytes to out and returns how many, or 0 when value does not
 * fit 28 bits.
 */
unsigned aml_pkglength_encode(uint32_t value, uint8_t out[4]);

/* The PkgLength value for `content` bytes following it (content + its own size); 0 when too long. */
uint32_t aml_pkglength_for_content(size_t content);

/* EISA ID compression ("PNP0501" -> 0x0105d041): 0 or -EINVAL (3 capitals, 4 hex digits). */
int aml_eisaid(const char *id, uint32_t *out);

/* Data objects (each one element when inside a Package). */
void aml_integer(struct aml *a, uint64_t v);   /* Zero, One, Byte/Word/DWord/QWord constants */
void aml_string(struct aml *a, const char *s); /* ASCII 0x01-0x7f */
void aml_eisaid_integer(struct aml *a, const char *id);
void aml_buffer(struct aml *a, const uint8_t *data, size_t len);

/*
 * A NameString: "\\" (root) and "^" (parent) prefixes, then dot-separated
 * NameSegs of 1-4 characters ([A-Z_] then [A-Z0-9_]; short ones padded with '_').
 */
void aml_name_string(struct aml *a, const char *path);

/* Name(path, <the object emitted next>). */
void aml_name(struct aml *a, const char *path);

/* Scope(path) { ... }, Device(path) { ... }, Package() { ... }: close each with aml_end(). */
void aml_scope_begin(struct aml *a, const char *path);
void aml_device_begin(struct aml *a, const char *path);
void aml_package_begin(struct aml *a);
void aml_end(struct aml *a);

/*
 * Resource descriptors for _CRS (6.4): collected in a struct aml_resources,
 * then emitted as one ResourceTemplate buffer with its end tag and checksum.
 */
#define AML_RESOURCES_MAX 256

struct aml_resources {
	uint8_t data[AML_RESOURCES_MAX];
	size_t len;
	struct vmon_error err;              /* sticky, as in struct aml */
};

enum aml_irq_trigger { AML_EDGE, AML_LEVEL };
enum aml_irq_polarity { AML_ACTIVE_HIGH, AML_ACTIVE_LOW };

void aml_res_init(struct aml_resources *r);
/* IO(Decode16, base, base, 1, len): a fixed range of len ports. */
void aml_res_io(struct aml_resources *r, uint16_t base, uint8_t len);
/* IRQNoFlags() {irq}: an ISA IRQ 0-15, edge triggered, active high. */
void aml_res_irq(struct aml_resources *r, unsigned irq);
/* Memory32Fixed(ReadWrite, base, len). */
void aml_res_memory32_fixed(struct aml_resources *r, uint32_t base, uint32_t len);
/* WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, min, max, 0, max - min + 1). */
void aml_res_word_bus_number(struct aml_resources *r, uint16_t min, uint16_t max);
/* DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, 0, min, max, 0, len). */
void aml_res_dword_memory(struct aml_resources *r, uint32_t min, uint32_t max);
/* Interrupt(ResourceConsumer, trigger, polarity, Exclusive) {gsi}. */
void aml_res_interrupt(struct aml_resources *r, uint32_t gsi, enum aml_irq_trigger trigger,
		       enum aml_irq_polarity polarity);

/* Emits the Buffer: r's descriptors, then EndTag with a checksum making all its bytes sum to 0. */
void aml_resource_template(struct aml *a, const struct aml_resources *r);

#endif
