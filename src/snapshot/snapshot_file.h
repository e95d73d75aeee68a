/* SPDX-License-Identifier: MIT */
#ifndef VMON_SNAPSHOT_FILE_H
#define VMON_SNAPSHOT_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/*
 * The snapshot file: everything but guest RAM that a new vmon process needs
 * to rebuild a saved machine, as named, versioned sections behind a header
 * and followed by a CRC-64. Guest RAM goes in a separate raw memory file
 * (snapshot_mem_*), as Firecracker splits them. The layout, byte by byte, is
 * in docs/SNAPSHOT.md; this module knows no KVM and treats every section as
 * opaque bytes (the caller checks their content, e.g. x86_vcpu_state_check).
 *
 * snapshot_read() verifies the whole file (size, checksum, structure, host
 * CPU vendor) before it hands anything back: a damaged file is refused with
 * a message naming what is wrong, so a restore never starts from one.
 */
#define SNAPSHOT_MAGIC "VMONSNAP"
#define SNAPSHOT_FORMAT_VERSION 1
#define SNAPSHOT_NAME_MAX 32            /* section and fact names, NUL included */
#define SNAPSHOT_VERSION_MAX 32         /* the vmon version string, NUL included */
#define SNAPSHOT_MAX_SECTIONS 1024
#define SNAPSHOT_MAX_FACTS 64
#define SNAPSHOT_MAX_VCPUS 1024
#define SNAPSHOT_MAX_FILE (64u << 20)   /* read cap: vCPU and device state is kilobytes */

/* The sections every snapshot has; "vcpu.N" for N < vcpu_count. */
#define SNAPSHOT_SECTION_CONFIG "machine-config"
#define SNAPSHOT_SECTION_DEVICES "devices"
#define SNAPSHOT_SECTION_VCPU_PREFIX "vcpu."

/* The host CPU as CPUID leaves 0 and 1 describe it. */
struct snapshot_cpu {
	char vendor[13];                /* "GenuineIntel", "AuthenticAMD", NUL-terminated */
	uint32_t family;                /* display family (base + extended) */
	uint32_t model;                 /* display model (extended model folded in) */
	uint32_t stepping;
};

/* How a restoring host's value of a fact must relate to the saved one. */
enum snapshot_fact_rule {
	SNAPSHOT_FACT_EQUAL = 1,        /* the same value */
	SNAPSHOT_FACT_AT_LEAST = 2,     /* host >= saved (a size, a count) */
	SNAPSHOT_FACT_BITS = 3,         /* host has every bit saved has (capabilities the state used) */
};

/* A KVM fact the saved state depends on, e.g. {"xsave_size", AT_LEAST, 4096}. */
struct snapshot_fact {
	char name[SNAPSHOT_NAME_MAX];
	uint32_t rule;                  /* enum snapshot_fact_rule */
	uint64_t value;
};

struct snapshot_section {
	char name[SNAPSHOT_NAME_MAX];   /* printable ASCII, unique in the file */
	uint32_t version;               /* the producer's own version of these bytes */
	const uint8_t *data;
	size_t size;
};

/*
 * A snapshot in memory. For snapshot_write() the caller fills ram_size,
 * vcpu_count, facts and sections (vmon_version and cpu are taken from this
 * build and this host). snapshot_read() fills everything; sections point
 * into one buffer the desc owns: release with snapshot_desc_free().
 */
struct snapshot_desc {
	char vmon_version[SNAPSHOT_VERSION_MAX];
	struct snapshot_cpu cpu;        /* the CPU that saved it */
	uint64_t ram_size;              /* bytes of guest RAM in the memory file */
	uint32_t vcpu_count;
	struct snapshot_fact *facts;
	unsigned nfacts;
	struct snapshot_section *sections;
	unsigned nsections;
	/* Read only: non-empty when the file is accepted with a caveat (another CPU model). */
	char warning[192];
	void *buf;
};

/* This host's CPU (CPUID leaves 0 and 1). */
void snapshot_host_cpu(struct snapshot_cpu *cpu);

/*
 * Whether a snapshot saved on `saved` may be restored on `host`. A different
 * vendor is refused (-ENOTSUP): Intel and AMD differ in MSRs, SYSCALL/SYSRET
 * and the XSAVE layout the vCPU state was taken with. A different family,
 * model or stepping is accepted with a warning written to warning (empty
 * otherwise): what a saved vCPU state needs from the host is checked
 * precisely by the KVM facts (snapshot_facts_check) and
 * x86_vcpu_state_check_host(), and the guest's CPUID is vmon's, not the host's.
 */
int snapshot_cpu_check(const struct snapshot_cpu *saved, const struct snapshot_cpu *host, char *warning,
		       size_t warning_size, struct vmon_error *err);

/*
 * Whether this host offers every fact the snapshot needs (each under its
 * rule); host facts are the same names with the host's values, rule unused.
 * 0, or -ENOTSUP naming the fact and both values.
 */
int snapshot_facts_check(const struct snapshot_desc *desc, const struct snapshot_fact *host, unsigned nhost,
			 struct vmon_error *err);

/* The section called name, or NULL. */
const struct snapshot_section *snapshot_find(const struct snapshot_desc *desc, const char *name);

/*
 * Writes desc to path atomically: a temporary file in the same directory,
 * fsync, rename over path, fsync of the directory. A failure (bad desc,
 * full disk, ...) leaves any existing file at path as it was and no
 * temporary behind. 0 or a negative errno, err naming the problem.
 */
int snapshot_write(const char *path, const struct snapshot_desc *desc, struct vmon_error *err);

/*
 * Reads and verifies path into out (zeroed first). 0, or a negative errno
 * with err naming the reason: not a snapshot, truncated, newer format
 * version, checksum mismatch, inconsistent sections, another CPU vendor,
 * sizes past the caps above. On failure out holds nothing to free.
 */
int snapshot_read(const char *path, struct snapshot_desc *out, struct vmon_error *err);

/*
 * The same bytes in memory, for a stream (live migration sends the state so):
 * snapshot_encode gives a malloc'd image of desc; snapshot_decode verifies
 * size bytes at buf exactly as snapshot_read does a file and takes buf over
 * (freed with the desc, or at once on failure).
 */
int snapshot_encode(const struct snapshot_desc *desc, uint8_t **out, size_t *out_size, struct vmon_error *err);
int snapshot_decode(uint8_t *buf, size_t size, struct snapshot_desc *out, struct vmon_error *err);

void snapshot_desc_free(struct snapshot_desc *desc);

/*
 * Writes guest RAM to path (atomically, as snapshot_write) as a sparse file:
 * 4 KiB pages that are all zero are skipped with lseek and read back as
 * zeros from the file's holes, so an idle guest's mostly empty RAM costs
 * neither disk nor write time. written (optional) gets the bytes actually
 * written. 0 or a negative errno.
 */
int snapshot_mem_write(const char *path, const void *ram, size_t size, size_t *written, struct vmon_error *err);

/*
 * A diff memory file (Firecracker's Diff snapshot): size bytes like a full
 * one, but only the pages set in dirty (bit i = RAM offset i*4096) are
 * written, at their offsets, zero pages included; every other page is a
 * hole. Merged onto the base memory file (snapshot_mem_merge) it gives the
 * RAM at the time of the diff. Atomic as snapshot_mem_write; written
 * (optional) gets the bytes written.
 */
int snapshot_mem_write_diff(const char *path, const void *ram, size_t size, const uint64_t *dirty, size_t *written,
			    struct vmon_error *err);

/*
 * Copies every data extent of the diff memory file onto base (in place,
 * then fsync), found with SEEK_DATA/SEEK_HOLE: what `vmon snapshot-merge`
 * does (Firecracker ships rebase-snap for it). Both files must have the same
 * size; a filesystem that does not report holes is refused rather than
 * merged wrongly. copied (optional) gets the bytes copied.
 */
int snapshot_mem_merge(const char *base, const char *diff, uint64_t *copied, struct vmon_error *err);

/*
 * Maps the memory file MAP_PRIVATE (copy-on-write: pages are read on first
 * touch, guest writes never reach the file), so a restore does no work
 * proportional to RAM size. The file must be exactly expected bytes. Unmap
 * with munmap(*out, expected). 0 or a negative errno.
 */
int snapshot_mem_map(const char *path, size_t expected, void **out, struct vmon_error *err);

#endif
