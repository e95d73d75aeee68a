/* SPDX-License-Identifier: MIT */
#include "snapshot/snapshot_file.h"

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Layout (docs/SNAPSHOT.md): little-endian fixed-width fields, every record
 * a multiple of 8 bytes. The first 16 bytes (magic, format version, flags)
 * keep their place in every future version, so any vmon can tell a newer
 * file from a damaged one.
 */
#define HDR_MAGIC 0
#define HDR_VERSION 8
#define HDR_FLAGS 12
#define HDR_FILE_SIZE 16
#define HDR_VMON_VERSION 24
#define HDR_CPU_VENDOR 56
#define HDR_CPU_FAMILY 68
#define HDR_CPU_MODEL 72
#define HDR_CPU_STEPPING 76
#define HDR_RAM_SIZE 80
#define HDR_VCPU_COUNT 88
#define HDR_NFACTS 92
#define HDR_NSECTIONS 96
#define HDR_RESERVED 100
#define HDR_SIZE 104

#define FACT_SIZE 48            /* name[32], rule u32, reserved u32, value u64 */
#define SECTION_HDR_SIZE 48     /* name[32], version u32, reserved u32, size u64; data; zero pad to 8 */
#define CHECKSUM_SIZE 8
#define VENDOR_LEN 12
#define MEM_PAGE 4096

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t pad8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

/* ---- host CPU -------------------------------------------------------------- */

void snapshot_host_cpu(struct snapshot_cpu *cpu)
{
	unsigned a = 0, b = 0, c = 0, d = 0;

	memset(cpu, 0, sizeof(*cpu));
	__cpuid(0, a, b, c, d);
	memcpy(cpu->vendor, &b, 4);
	memcpy(cpu->vendor + 4, &d, 4);
	memcpy(cpu->vendor + 8, &c, 4);
	if (a < 1)
		return;
	__cpuid(1, a, b, c, d);
	/* SDM vol. 2A, CPUID leaf 01H: display family and model. */
	uint32_t family = (a >> 8) & 0xf, model = (a >> 4) & 0xf;
	if (family == 0xf)
		family += (a >> 20) & 0xff;
	if (family == 0x6 || family >= 0xf)
		model += ((a >> 16) & 0xf) << 4;
	cpu->family = family;
	cpu->model = model;
	cpu->stepping = a & 0xf;
}

int snapshot_cpu_check(const struct snapshot_cpu *saved, const struct snapshot_cpu *host, char *warning,
		       size_t warning_size, struct vmon_error *err)
{
	if (warning_size)
		warning[0] = '\0';
	if (strncmp(saved->vendor, host->vendor, sizeof(saved->vendor)))
		return error_set(err, -ENOTSUP, "saved on a %.12s CPU, this host's is %.12s: a vCPU state does not move "
				 "between CPU vendors", saved->vendor, host->vendor);
	if ((saved->family != host->family || saved->model != host->model || saved->stepping != host->stepping) &&
	    warning_size)
		snprintf(warning, warning_size, "saved on CPU family %" PRIu32 " model %" PRIu32 " stepping %" PRIu32
			 ", this host is family %" PRIu32 " model %" PRIu32 " stepping %" PRIu32,
			 saved->family, saved->model, saved->stepping, host->family, host->model, host->stepping);
	return 0;
}

int snapshot_facts_check(const struct snapshot_desc *desc, const struct snapshot_fact *host, unsigned nhost,
			 struct vmon_error *err)
{
	for (unsigned i = 0; i < desc->nfacts; i++) {
		const struct snapshot_fact *f = &desc->facts[i];
		const struct snapshot_fact *h = NULL;
		for (unsigned j = 0; j < nhost && !h; j++)
			if (!strncmp(host[j].name, f->name, SNAPSHOT_NAME_MAX))
				h = &host[j];
		if (!h)
			return error_set(err, -ENOTSUP, "the snapshot needs KVM fact %s, this host does not report it",
					 f->name);
		bool ok = f->rule == SNAPSHOT_FACT_EQUAL ? h->value == f->value :
			  f->rule == SNAPSHOT_FACT_AT_LEAST ? h->value >= f->value :
			  f->rule == SNAPSHOT_FACT_BITS ? (f->value & ~h->value) == 0 : false;
		if (!ok)
			return error_set(err, -ENOTSUP, "KVM fact %s: the snapshot needs %s0x%" PRIx64 ", this host has 0x%"
					 PRIx64, f->name, f->rule == SNAPSHOT_FACT_EQUAL ? "" :
					 f->rule == SNAPSHOT_FACT_AT_LEAST ? "at least " : "the bits ", f->value, h->value);
	}
	return 0;
}

const struct snapshot_section *snapshot_find(const struct snapshot_desc *desc, const char *name)
{
	for (unsigned i = 0; i < desc->nsections; i++)
		if (!strncmp(desc->sections[i].name, name, SNAPSHOT_NAME_MAX))
			return &desc->sections[i];
	return NULL;
}

/* ---- structure rules, shared by the writer and the reader ------------------ */

/* A name: 1..31 printable ASCII characters without spaces, NUL-terminated in its field. */
static int check_name(const char *name, const char *what, unsigned i, struct vmon_error *err)
{
	size_t n = strnlen(name, SNAPSHOT_NAME_MAX);
	if (n == 0 || n == SNAPSHOT_NAME_MAX)
		return error_set(err, -EINVAL, "%s %u: name is %s", what, i, n ? "not NUL-terminated in 32 bytes" : "empty");
	for (size_t k = 0; k < n; k++)
		if (name[k] <= 0x20 || name[k] >= 0x7f)
			return error_set(err, -EINVAL, "%s %u: name has byte 0x%02x at %zu (printable ASCII only)", what, i,
					 (unsigned char)name[k], k);
	return 0;
}

/* Counts, names (unique), fact rules and the sections every snapshot has. */
static int check_structure(const struct snapshot_desc *d, struct vmon_error *err)
{
	int rc;

	if (d->ram_size == 0)
		return error_set(err, -EINVAL, "guest RAM size is 0");
	if (d->vcpu_count == 0 || d->vcpu_count > SNAPSHOT_MAX_VCPUS)
		return error_set(err, -EINVAL, "vCPU count %" PRIu32 " is outside 1..%u", d->vcpu_count,
				 SNAPSHOT_MAX_VCPUS);
	if (d->nfacts > SNAPSHOT_MAX_FACTS)
		return error_set(err, -E2BIG, "too many KVM facts: %u (at most %u)", d->nfacts, SNAPSHOT_MAX_FACTS);
	if (d->nsections > SNAPSHOT_MAX_SECTIONS)
		return error_set(err, -E2BIG, "too many sections: %u (at most %u)", d->nsections, SNAPSHOT_MAX_SECTIONS);
	for (unsigned i = 0; i < d->nfacts; i++) {
		if ((rc = check_name(d->facts[i].name, "KVM fact", i, err)))
			return rc;
		if (d->facts[i].rule < SNAPSHOT_FACT_EQUAL || d->facts[i].rule > SNAPSHOT_FACT_BITS)
			return error_set(err, -EINVAL, "KVM fact %s: unknown rule %" PRIu32, d->facts[i].name,
					 d->facts[i].rule);
		for (unsigned j = 0; j < i; j++)
			if (!strncmp(d->facts[j].name, d->facts[i].name, SNAPSHOT_NAME_MAX))
				return error_set(err, -EINVAL, "duplicate KVM fact %s", d->facts[i].name);
	}
	for (unsigned i = 0; i < d->nsections; i++) {
		if ((rc = check_name(d->sections[i].name, "section", i, err)))
			return rc;
		if (d->sections[i].size && !d->sections[i].data)
			return error_set(err, -EINVAL, "section %s: %zu bytes but no data", d->sections[i].name,
					 d->sections[i].size);
		for (unsigned j = 0; j < i; j++)
			if (!strncmp(d->sections[j].name, d->sections[i].name, SNAPSHOT_NAME_MAX))
				return error_set(err, -EINVAL, "duplicate section %s", d->sections[i].name);
	}
	if (!snapshot_find(d, SNAPSHOT_SECTION_CONFIG))
		return error_set(err, -EINVAL, "no section %s", SNAPSHOT_SECTION_CONFIG);
	if (!snapshot_find(d, SNAPSHOT_SECTION_DEVICES))
		return error_set(err, -EINVAL, "no section %s", SNAPSHOT_SECTION_DEVICES);
	for (uint32_t n = 0; n < d->vcpu_count; n++) {
		char name[SNAPSHOT_NAME_MAX];
		snprintf(name, sizeof(name), SNAPSHOT_SECTION_VCPU_PREFIX "%" PRIu32, n);
		if (!snapshot_find(d, name))
			return error_set(err, -EINVAL, "no section %s for vCPU %" PRIu32 " of %" PRIu32, name, n,
					 d->vcpu_count);
	}
	return 0;
}

/* ---- atomic file replacement ------------------------------------------------ */

struct tmp_file {
	char path[PATH_MAX];
	int fd;
};

static int tmp_open(struct tmp_file *t, const char *path, struct vmon_error *err)
{
	if ((size_t)snprintf(t->path, sizeof(t->path), "%s.tmp-XXXXXX", path) >= sizeof(t->path))
		return error_set(err, -ENAMETOOLONG, "%s: path too long", path);
	t->fd = mkostemp(t->path, O_CLOEXEC);
	if (t->fd < 0)
		return error_set(err, -errno, "%s: cannot create a temporary file: %s", t->path, strerror(errno));
	return 0;
}

static void tmp_abort(struct tmp_file *t)
{
	close(t->fd);
	unlink(t->path);
}

static int write_all(int fd, const uint8_t *p, size_t n, off_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w, n -= (size_t)w, off += w;
	}
	return 0;
}

/* fsync, rename over path, fsync the directory so the rename itself is durable. */
static int tmp_commit(struct tmp_file *t, const char *path, struct vmon_error *err)
{
	char dir[PATH_MAX];
	int rc;

	if (fsync(t->fd)) {
		rc = error_set(err, -errno, "%s: fsync: %s", t->path, strerror(errno));
		tmp_abort(t);
		return rc;
	}
	if (close(t->fd)) {
		rc = error_set(err, -errno, "%s: close: %s", t->path, strerror(errno));
		unlink(t->path);
		return rc;
	}
	if (rename(t->path, path)) {
		rc = error_set(err, -errno, "%s: rename to %s: %s", t->path, path, strerror(errno));
		unlink(t->path);
		return rc;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd)) {
		rc = error_set(err, -errno, "%s: directory fsync after writing %s: %s", dir, path, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return rc;
	}
	close(dfd);
	return 0;
}

/* ---- writer ----------------------------------------------------------------- */

static void put_name(uint8_t *p, const char *name, size_t field)
{
	size_t n = strnlen(name, field - 1);
	memset(p, 0, field);
	memcpy(p, name, n);
}

int snapshot_encode(const struct snapshot_desc *desc, uint8_t **out, size_t *out_size, struct vmon_error *err)
{
	struct snapshot_cpu cpu;
	uint64_t total;
	int rc;

	if ((rc = check_structure(desc, err)))
		return rc;
	total = HDR_SIZE + (uint64_t)desc->nfacts * FACT_SIZE + CHECKSUM_SIZE;
	for (unsigned i = 0; i < desc->nsections; i++) {
		if (desc->sections[i].size > SNAPSHOT_MAX_FILE)
			return error_set(err, -EFBIG, "section %s is %zu bytes, more than a snapshot may hold (%u)",
					 desc->sections[i].name, desc->sections[i].size, SNAPSHOT_MAX_FILE);
		total += SECTION_HDR_SIZE + pad8(desc->sections[i].size);
	}
	if (total > SNAPSHOT_MAX_FILE)
		return error_set(err, -EFBIG, "%" PRIu64 " bytes of state, more than a snapshot may hold (%u)", total,
				 SNAPSHOT_MAX_FILE);

	uint8_t *buf = calloc(1, total);
	if (!buf)
		return error_set(err, -ENOMEM, "no memory for %" PRIu64 " bytes", total);
	snapshot_host_cpu(&cpu);
	memcpy(buf + HDR_MAGIC, SNAPSHOT_MAGIC, 8);
	put32(buf + HDR_VERSION, SNAPSHOT_FORMAT_VERSION);
	put64(buf + HDR_FILE_SIZE, total);
	put_name(buf + HDR_VMON_VERSION, VMON_VERSION, SNAPSHOT_VERSION_MAX);
	memcpy(buf + HDR_CPU_VENDOR, cpu.vendor, VENDOR_LEN);
	put32(buf + HDR_CPU_FAMILY, cpu.family);
	put32(buf + HDR_CPU_MODEL, cpu.model);
	put32(buf + HDR_CPU_STEPPING, cpu.stepping);
	put64(buf + HDR_RAM_SIZE, desc->ram_size);
	put32(buf + HDR_VCPU_COUNT, desc->vcpu_count);
	put32(buf + HDR_NFACTS, desc->nfacts);
	put32(buf + HDR_NSECTIONS, desc->nsections);
	uint64_t off = HDR_SIZE;
	for (unsigned i = 0; i < desc->nfacts; i++, off += FACT_SIZE) {
		put_name(buf + off, desc->facts[i].name, SNAPSHOT_NAME_MAX);
		put32(buf + off + 32, desc->facts[i].rule);
		put64(buf + off + 40, desc->facts[i].value);
	}
	for (unsigned i = 0; i < desc->nsections; i++) {
		const struct snapshot_section *s = &desc->sections[i];
		put_name(buf + off, s->name, SNAPSHOT_NAME_MAX);
		put32(buf + off + 32, s->version);
		put64(buf + off + 40, s->size);
		if (s->size)
			memcpy(buf + off + SECTION_HDR_SIZE, s->data, s->size);
		off += SECTION_HDR_SIZE + pad8(s->size);
	}
	put64(buf + off, lzma_crc64(buf, off, 0));
	*out = buf;
	*out_size = total;
	return 0;
}

int snapshot_write(const char *path, const struct snapshot_desc *desc, struct vmon_error *err)
{
	struct tmp_file t;
	uint8_t *buf;
	size_t total;
	int rc;

	if ((rc = snapshot_encode(desc, &buf, &total, err))) {
		error_prefix(err, "%s: refusing to write", path);
		return rc;
	}
	if ((rc = tmp_open(&t, path, err))) {
		free(buf);
		return rc;
	}
	rc = write_all(t.fd, buf, total, 0);
	free(buf);
	if (rc) {
		error_set(err, rc, "%s: write: %s", t.path, strerror(-rc));
		tmp_abort(&t);
		return rc;
	}
	return tmp_commit(&t, path, err);
}

/* ---- reader ----------------------------------------------------------------- */

static int read_whole(const char *path, uint8_t **out, size_t *size, struct vmon_error *err)
{
	struct stat st;
	int rc = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return error_set(err, -errno, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st)) {
		rc = error_set(err, -errno, "fstat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = error_set(err, -EINVAL, "not a regular file");
		goto out;
	}
	if (st.st_size > SNAPSHOT_MAX_FILE) {
		rc = error_set(err, -EFBIG, "%lld bytes, more than a snapshot file may be (%u): not read",
			       (long long)st.st_size, SNAPSHOT_MAX_FILE);
		goto out;
	}
	*size = (size_t)st.st_size;
	*out = malloc(*size ? *size : 1);
	if (!*out) {
		rc = error_set(err, -ENOMEM, "no memory for %zu bytes", *size);
		goto out;
	}
	for (size_t got = 0; got < *size;) {
		ssize_t r = pread(fd, *out + got, *size - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? error_set(err, -errno, "read: %s", strerror(errno)) :
				     error_set(err, -EIO, "file shrank to %zu bytes while read", got);
			free(*out);
			*out = NULL;
			goto out;
		}
		got += (size_t)r;
	}
out:
	close(fd);
	return rc;
}

/* Magic, version, length and checksum: whether these bytes are an intact snapshot of a format we read. */
static int check_envelope(const uint8_t *buf, size_t size, struct vmon_error *err)
{
	if (memcmp(buf, SNAPSHOT_MAGIC, size < 8 ? size : 8))
		return error_set(err, -EINVAL, "not a vmon snapshot (bad magic)");
	if (size < HDR_FLAGS)
		return error_set(err, -EINVAL, "truncated: %zu bytes, the header alone is %u", size, HDR_SIZE);
	uint32_t version = get32(buf + HDR_VERSION);
	if (version > SNAPSHOT_FORMAT_VERSION)
		return error_set(err, -ENOTSUP, "newer format version %" PRIu32 " (this vmon reads up to %u)", version,
				 SNAPSHOT_FORMAT_VERSION);
	if (version == 0)
		return error_set(err, -EINVAL, "format version 0 does not exist");
	if (size < HDR_SIZE)
		return error_set(err, -EINVAL, "truncated: %zu bytes, the header alone is %u", size, HDR_SIZE);
	uint64_t file_size = get64(buf + HDR_FILE_SIZE);
	if (file_size > size)
		return error_set(err, -EINVAL, "truncated: %zu bytes of the %" PRIu64 " the header gives", size,
				 file_size);
	if (file_size < size)
		return error_set(err, -EINVAL, "%zu bytes, more than the %" PRIu64 " the header gives", size, file_size);
	if (file_size < HDR_SIZE + CHECKSUM_SIZE)
		return error_set(err, -EINVAL, "header gives a file size of %" PRIu64 ", less than a header and checksum",
				 file_size);
	uint64_t stored = get64(buf + size - CHECKSUM_SIZE), computed = lzma_crc64(buf, size - CHECKSUM_SIZE, 0);
	if (stored != computed)
		return error_set(err, -EBADMSG, "checksum mismatch (stored CRC-64 %016" PRIx64 ", contents give %016"
				 PRIx64 "): the file is damaged", stored, computed);
	return 0;
}

/* A NUL-terminated name field whose bytes after the NUL are zero too. */
static int get_name(char *dst, const uint8_t *src, size_t field, const char *what, unsigned i,
		    struct vmon_error *err)
{
	memcpy(dst, src, field);
	size_t n = strnlen(dst, field);
	if (n == field)
		return error_set(err, -EINVAL, "%s %u: name is not NUL-terminated in %zu bytes", what, i, field);
	for (size_t k = n; k < field; k++)
		if (src[k])
			return error_set(err, -EINVAL, "%s %u: byte %zu after the name is not zero", what, i, k);
	return 0;
}

/* Everything past the envelope, into d (whose facts and sections arrays it allocates). */
static int parse(uint8_t *buf, size_t size, struct snapshot_desc *d, struct vmon_error *err)
{
	const size_t end = size - CHECKSUM_SIZE;
	int rc;

	if (get32(buf + HDR_FLAGS))
		return error_set(err, -EINVAL, "unknown header flags 0x%" PRIx32, get32(buf + HDR_FLAGS));
	if (get32(buf + HDR_RESERVED))
		return error_set(err, -EINVAL, "reserved header field is 0x%" PRIx32 ", not 0", get32(buf + HDR_RESERVED));
	if ((rc = get_name(d->vmon_version, buf + HDR_VMON_VERSION, SNAPSHOT_VERSION_MAX, "vmon version", 0, err)))
		return rc;
	memcpy(d->cpu.vendor, buf + HDR_CPU_VENDOR, VENDOR_LEN);
	d->cpu.family = get32(buf + HDR_CPU_FAMILY);
	d->cpu.model = get32(buf + HDR_CPU_MODEL);
	d->cpu.stepping = get32(buf + HDR_CPU_STEPPING);
	d->ram_size = get64(buf + HDR_RAM_SIZE);
	d->vcpu_count = get32(buf + HDR_VCPU_COUNT);
	uint32_t nfacts = get32(buf + HDR_NFACTS), nsections = get32(buf + HDR_NSECTIONS);
	/* Caps before the arrays are allocated. */
	if (nfacts > SNAPSHOT_MAX_FACTS)
		return error_set(err, -E2BIG, "too many KVM facts: %" PRIu32 " (at most %u)", nfacts, SNAPSHOT_MAX_FACTS);
	if (nsections > SNAPSHOT_MAX_SECTIONS)
		return error_set(err, -E2BIG, "too many sections: %" PRIu32 " (at most %u)", nsections,
				 SNAPSHOT_MAX_SECTIONS);
	if ((uint64_t)nfacts * FACT_SIZE + (uint64_t)nsections * SECTION_HDR_SIZE > end - HDR_SIZE)
		return error_set(err, -EINVAL, "%" PRIu32 " facts and %" PRIu32 " sections do not fit in %zu bytes",
				 nfacts, nsections, size);
	d->facts = calloc(nfacts ? nfacts : 1, sizeof(*d->facts));
	d->sections = calloc(nsections ? nsections : 1, sizeof(*d->sections));
	if (!d->facts || !d->sections)
		return error_set(err, -ENOMEM, "no memory for the section table");

	size_t off = HDR_SIZE;
	for (unsigned i = 0; i < nfacts; i++, off += FACT_SIZE) {
		if ((rc = get_name(d->facts[i].name, buf + off, SNAPSHOT_NAME_MAX, "KVM fact", i, err)))
			return rc;
		d->facts[i].rule = get32(buf + off + 32);
		if (get32(buf + off + 36))
			return error_set(err, -EINVAL, "KVM fact %u: reserved field is not 0", i);
		d->facts[i].value = get64(buf + off + 40);
	}
	d->nfacts = nfacts;
	for (unsigned i = 0; i < nsections; i++) {
		struct snapshot_section *s = &d->sections[i];
		if (end - off < SECTION_HDR_SIZE)
			return error_set(err, -EINVAL, "section %u: header at offset %zu runs past the end (%zu)", i, off, end);
		if ((rc = get_name(s->name, buf + off, SNAPSHOT_NAME_MAX, "section", i, err)))
			return rc;
		s->version = get32(buf + off + 32);
		if (get32(buf + off + 36))
			return error_set(err, -EINVAL, "section %s: reserved field is not 0", s->name);
		uint64_t len = get64(buf + off + 40);
		off += SECTION_HDR_SIZE;
		if (len > end - off || pad8(len) > end - off)
			return error_set(err, -EINVAL, "section %s: %" PRIu64 " bytes at offset %zu run past the end (%zu)",
					 s->name, len, off, end);
		s->data = buf + off;
		s->size = (size_t)len;
		for (uint64_t k = len; k < pad8(len); k++)
			if (buf[off + k])
				return error_set(err, -EINVAL, "section %s: padding byte %" PRIu64 " is not zero", s->name, k);
		off += pad8(len);
		d->nsections = i + 1;
	}
	if (off != end)
		return error_set(err, -EINVAL, "%zu bytes between the last section and the checksum", end - off);
	return check_structure(d, err);
}

int snapshot_decode(uint8_t *buf, size_t size, struct snapshot_desc *out, struct vmon_error *err)
{
	struct snapshot_cpu host;
	int rc;

	memset(out, 0, sizeof(*out));
	out->buf = buf;
	if ((rc = check_envelope(buf, size, err)) || (rc = parse(buf, size, out, err)))
		goto fail;
	snapshot_host_cpu(&host);
	if ((rc = snapshot_cpu_check(&out->cpu, &host, out->warning, sizeof(out->warning), err)))
		goto fail;
	return 0;
fail:
	snapshot_desc_free(out);
	return rc;
}

int snapshot_read(const char *path, struct snapshot_desc *out, struct vmon_error *err)
{
	uint8_t *buf = NULL;
	size_t size = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = read_whole(path, &buf, &size, err)) || (rc = snapshot_decode(buf, size, out, err))) {
		error_prefix(err, "%s", path);
		return rc;
	}
	return 0;
}

void snapshot_desc_free(struct snapshot_desc *desc)
{
	free(desc->facts);
	free(desc->sections);
	free(desc->buf);
	memset(desc, 0, sizeof(*desc));
}

/* ---- memory file -------------------------------------------------------------- */

static bool all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

/* A memory file's end: its length covers trailing holes, then the atomic rename; *written = done. */
static int finish_mem_file(struct tmp_file *t, const char *path, size_t size, size_t done, size_t *written,
			   struct vmon_error *err)
{
	int rc;

	if (ftruncate(t->fd, (off_t)size)) {
		rc = error_set(err, -errno, "%s: ftruncate to %zu: %s", t->path, size, strerror(errno));
		tmp_abort(t);
		return rc;
	}
	if ((rc = tmp_commit(t, path, err)))
		return rc;
	if (written)
		*written = done;
	return 0;
}

int snapshot_mem_write(const char *path, const void *ram, size_t size, size_t *written, struct vmon_error *err)
{
	const uint8_t *p = ram;
	struct tmp_file t;
	size_t done = 0;
	int rc;

	if (written)
		*written = 0;
	if (size == 0 || !ram)
		return error_set(err, -EINVAL, "%s: no guest RAM to write", path);
	if ((rc = tmp_open(&t, path, err)))
		return rc;
	/* Runs of non-zero pages are written in one call; zero pages stay holes. */
	for (size_t off = 0; off < size;) {
		size_t len = size - off < MEM_PAGE ? size - off : MEM_PAGE;
		if (all_zero(p + off, len)) {
			off += len;
			continue;
		}
		size_t run = off;
		while (run < size) {
			size_t l = size - run < MEM_PAGE ? size - run : MEM_PAGE;
			if (all_zero(p + run, l))
				break;
			run += l;
		}
		if ((rc = write_all(t.fd, p + off, run - off, (off_t)off))) {
			error_set(err, rc, "%s: write at offset %zu: %s", t.path, off, strerror(-rc));
			tmp_abort(&t);
			return rc;
		}
		done += run - off;
		off = run;
	}
	return finish_mem_file(&t, path, size, done, written, err);
}

int snapshot_mem_write_diff(const char *path, const void *ram, size_t size, const uint64_t *dirty, size_t *written,
			    struct vmon_error *err)
{
	const uint8_t *p = ram;
	const size_t pages = (size + MEM_PAGE - 1) / MEM_PAGE;
	struct tmp_file t;
	size_t done = 0;
	int rc;

	if (written)
		*written = 0;
	if (size == 0 || !ram || !dirty)
		return error_set(err, -EINVAL, "%s: no guest RAM or dirty page bitmap to write", path);
	if ((rc = tmp_open(&t, path, err)))
		return rc;
	/*
	 * Runs of dirty pages in one pwrite each, zero pages included: a page
	 * the guest zeroed must overwrite the base when merged. Clean pages stay
	 * holes, which is how the merge tells them apart (SEEK_DATA/SEEK_HOLE).
	 */
	for (size_t page = 0; page < pages;) {
		if (!(dirty[page / 64] & (1ull << (page % 64)))) {
			page++;
			continue;
		}
		size_t end = page + 1;
		while (end < pages && (dirty[end / 64] & (1ull << (end % 64))))
			end++;
		size_t off = page * MEM_PAGE, len = (end * MEM_PAGE < size ? end * MEM_PAGE : size) - off;
		if ((rc = write_all(t.fd, p + off, len, (off_t)off))) {
			error_set(err, rc, "%s: write at offset %zu: %s", t.path, off, strerror(-rc));
			tmp_abort(&t);
			return rc;
		}
		done += len;
		page = end;
	}
	return finish_mem_file(&t, path, size, done, written, err);
}

int snapshot_mem_map(const char *path, size_t expected, void **out, struct vmon_error *err)
{
	struct stat st;
	int rc = 0;

	*out = NULL;
	if (expected == 0)
		return error_set(err, -EINVAL, "%s: guest RAM size 0", path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, -errno, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st)) {
		rc = error_set(err, -errno, "%s: fstat: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		rc = error_set(err, -EINVAL, "%s: not a regular file", path);
	} else if ((uint64_t)st.st_size != expected) {
		rc = error_set(err, -EINVAL, "%s: %lld bytes, the snapshot's guest RAM is %zu", path,
			       (long long)st.st_size, expected);
	} else {
		/* NORESERVE: only pages the guest writes get private copies; no commit charge for all of RAM. */
		void *m = mmap(NULL, expected, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
		if (m == MAP_FAILED)
			rc = error_set(err, -errno, "%s: mmap %zu bytes: %s", path, expected, strerror(errno));
		else
			*out = m;
	}
	close(fd);
	return rc;
}
