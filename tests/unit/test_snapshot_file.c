/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/vcpu_state.h"
#include "snapshot/snapshot_file.h"

/* Offsets from docs/SNAPSHOT.md, restated here so a layout change fails the tests. */
#define OFF_VERSION 8
#define OFF_FILE_SIZE 16
#define OFF_VENDOR 56
#define OFF_MODEL 72
#define OFF_RAM_SIZE 80
#define OFF_VCPU_COUNT 88
#define OFF_NSECTIONS 96
#define HEADER 104
#define FACT 48
#define SECTION_HDR 48

#define NFACTS 2

struct fixture {
	char dir[64];
	char path[128];
	uint8_t config[37];                 /* odd sizes: the padding is exercised */
	uint8_t devices[300];
	struct x86_vcpu_state vcpus[2];
	uint8_t extra[3];
	struct snapshot_fact facts[NFACTS];
	struct snapshot_section sections[5];
	struct snapshot_desc desc;
};

static void fill(void *p, size_t n, unsigned seed)
{
	uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/vmon-snap-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/vm.snap", f->dir);
	fill(f->config, sizeof(f->config), 1);
	fill(f->devices, sizeof(f->devices), 2);
	fill(f->vcpus, sizeof(f->vcpus), 3);
	fill(f->extra, sizeof(f->extra), 4);
	f->facts[0] = (struct snapshot_fact){ .name = "xsave_size", .rule = SNAPSHOT_FACT_AT_LEAST, .value = 4096 };
	f->facts[1] = (struct snapshot_fact){ .name = "vcpu_parts", .rule = SNAPSHOT_FACT_BITS, .value = 3 };
	f->sections[0] = (struct snapshot_section){ SNAPSHOT_SECTION_CONFIG, 1, f->config, sizeof(f->config) };
	f->sections[1] = (struct snapshot_section){ SNAPSHOT_SECTION_DEVICES, 1, f->devices, sizeof(f->devices) };
	f->sections[2] = (struct snapshot_section){ "vcpu.0", X86_VCPU_STATE_VERSION, (const uint8_t *)&f->vcpus[0],
						    sizeof(f->vcpus[0]) };
	f->sections[3] = (struct snapshot_section){ "vcpu.1", X86_VCPU_STATE_VERSION, (const uint8_t *)&f->vcpus[1],
						    sizeof(f->vcpus[1]) };
	f->sections[4] = (struct snapshot_section){ "future-extra", 7, f->extra, sizeof(f->extra) };
	f->desc = (struct snapshot_desc){ .ram_size = 256ull << 20, .vcpu_count = 2, .facts = f->facts,
					  .nfacts = NFACTS, .sections = f->sections, .nsections = 5 };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static uint8_t *load(const char *path, size_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	uint8_t *b = malloc((size_t)st.st_size + 1);
	assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
	close(fd);
	*size = (size_t)st.st_size;
	return b;
}

static void store(const char *path, const uint8_t *b, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, size), (ssize_t)size);
	close(fd);
}

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

/* A new valid CRC-64 after a deliberate change, so the checks behind the checksum are reached. */
static void reseal(uint8_t *b, size_t size)
{
	put64(b + size - 8, lzma_crc64(b, size - 8, 0));
}

static void expect_refused(const char *path, int code, const char *reason)
{
	struct snapshot_desc d;
	struct vmon_error err = { 0 };
	int rc = snapshot_read(path, &d, &err);
	if (rc != code || !strstr(err.msg, reason) || !strstr(err.msg, path))
		fail_msg("expected %d '%s', got %d '%s'", code, reason, rc, err.msg);
	assert_null(d.buf);
	assert_null(d.sections);
}

/* Writes the fixture, applies change to its bytes (resealed if asked), expects the refusal. */
static void damage(struct fixture *f, void (*change)(uint8_t *b, size_t *size), int reseal_it, int code,
		   const char *reason)
{
	struct vmon_error err = { 0 };
	size_t size;
	assert_int_equal(snapshot_write(f->path, &f->desc, &err), 0);
	uint8_t *b = load(f->path, &size);
	change(b, &size);
	if (reseal_it)
		reseal(b, size);
	store(f->path, b, size);
	free(b);
	expect_refused(f->path, code, reason);
}

/* ---- round trip ---- */

static void round_trip(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	struct snapshot_desc d;
	struct snapshot_cpu host;

	assert_int_equal(snapshot_write(f->path, &f->desc, &err), 0);
	if (snapshot_read(f->path, &d, &err))
		fail_msg("%s", err.msg);
	snapshot_host_cpu(&host);
	assert_string_equal(d.vmon_version, VMON_VERSION);
	assert_memory_equal(&d.cpu, &host, sizeof(host));
	assert_string_equal(d.warning, "");
	assert_int_equal(d.ram_size, 256ull << 20);
	assert_int_equal(d.vcpu_count, 2);
	assert_int_equal(d.nfacts, NFACTS);
	for (unsigned i = 0; i < NFACTS; i++) {
		assert_string_equal(d.facts[i].name, f->facts[i].name);
		assert_int_equal(d.facts[i].rule, f->facts[i].rule);
		assert_int_equal(d.facts[i].value, f->facts[i].value);
	}
	assert_int_equal(d.nsections, 5);
	for (unsigned i = 0; i < 5; i++) {
		assert_string_equal(d.sections[i].name, f->sections[i].name);
		assert_int_equal(d.sections[i].version, f->sections[i].version);
		assert_int_equal(d.sections[i].size, f->sections[i].size);
		assert_memory_equal(d.sections[i].data, f->sections[i].data, f->sections[i].size);
	}
	const struct snapshot_section *v1 = snapshot_find(&d, "vcpu.1");
	assert_non_null(v1);
	assert_memory_equal(v1->data, &f->vcpus[1], sizeof(f->vcpus[1]));
	assert_null(snapshot_find(&d, "vcpu.2"));
	snapshot_desc_free(&d);
	assert_null(d.buf);

	/* The file is exactly what docs/SNAPSHOT.md says: header, facts, padded sections, checksum. */
	size_t size, expect = HEADER + NFACTS * FACT + 8;
	for (unsigned i = 0; i < 5; i++)
		expect += SECTION_HDR + ((f->sections[i].size + 7) & ~(size_t)7);
	uint8_t *b = load(f->path, &size);
	assert_int_equal(size, expect);
	assert_memory_equal(b, "VMONSNAP\x01\0\0\0", 12);
	assert_int_equal(b[OFF_FILE_SIZE] | b[OFF_FILE_SIZE + 1] << 8, expect);
	free(b);
}

/* ---- refusals ---- */

static void flip_magic(uint8_t *b, size_t *size)
{
	(void)size;
	b[3] ^= 0x20;
}

static void refuses_bad_magic(void **state)
{
	damage(*state, flip_magic, 0, -EINVAL, "not a vmon snapshot (bad magic)");
	struct fixture *f = *state;
	store(f->path, (const uint8_t *)"#!/bin/sh\necho hello\n", 21);
	expect_refused(f->path, -EINVAL, "bad magic");
}

static void refuses_truncation_at_every_length(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	struct stat st;

	assert_int_equal(snapshot_write(f->path, &f->desc, &err), 0);
	assert_int_equal(stat(f->path, &st), 0);
	for (off_t len = st.st_size - 1; len >= 0; len--) {
		assert_int_equal(truncate(f->path, len), 0);
		expect_refused(f->path, -EINVAL, "truncated");
	}
}

static void refuses_trailing_bytes(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	assert_int_equal(snapshot_write(f->path, &f->desc, &err), 0);
	int fd = open(f->path, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	expect_refused(f->path, -EINVAL, "more than the");
}

static void bump_version(uint8_t *b, size_t *size)
{
	(void)size;
	put32(b + OFF_VERSION, SNAPSHOT_FORMAT_VERSION + 1);
}

static void refuses_newer_version(void **state)
{
	/* Not resealed: a newer format may checksum differently, the version alone decides. */
	damage(*state, bump_version, 0, -ENOTSUP, "newer format version 2 (this vmon reads up to 1)");
}

static void refuses_any_flipped_byte(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	size_t size;

	assert_int_equal(snapshot_write(f->path, &f->desc, &err), 0);
	uint8_t *orig = load(f->path, &size);
	uint8_t *b = malloc(size);
	/* Past magic, version, flags and length, every byte is under the checksum (the checksum itself too). */
	for (size_t i = 24; i < size; i++) {
		memcpy(b, orig, size);
		b[i] ^= 0x01;
		store(f->path, b, size);
		expect_refused(f->path, -EBADMSG, "checksum mismatch");
	}
	free(b);
	free(orig);
}

static size_t section_offset(const uint8_t *b, unsigned index)
{
	size_t off = HEADER + NFACTS * FACT;
	for (unsigned i = 0; i < index; i++) {
		uint64_t len = 0;
		for (int k = 7; k >= 0; k--)
			len = (len << 8) | b[off + 40 + k];
		off += SECTION_HDR + ((len + 7) & ~7ull);
	}
	return off;
}

static void section_len_huge(uint8_t *b, size_t *size)
{
	(void)size;
	put64(b + section_offset(b, 1) + 40, UINT64_MAX - 3);
}

static void section_len_past_end(uint8_t *b, size_t *size)
{
	(void)size;
	put64(b + section_offset(b, 4) + 40, 20);
}

static void section_len_short(uint8_t *b, size_t *size)
{
	(void)size;
	put64(b + section_offset(b, 4) + 40, 0);
}

static void one_section_more(uint8_t *b, size_t *size)
{
	(void)size;
	put32(b + OFF_NSECTIONS, 6);
}

static void section_padding_dirty(uint8_t *b, size_t *size)
{
	(void)size;
	b[section_offset(b, 4) + SECTION_HDR + 3] = 0xaa;
}

static void refuses_inconsistent_lengths(void **state)
{
	damage(*state, section_len_huge, 1, -EINVAL, "section devices: 18446744073709551612 bytes");
	damage(*state, section_len_past_end, 1, -EINVAL, "section future-extra: 20 bytes at offset");
	damage(*state, section_len_short, 1, -EINVAL, "8 bytes between the last section and the checksum");
	damage(*state, one_section_more, 1, -EINVAL, "section 5: header at offset");
	damage(*state, section_padding_dirty, 1, -EINVAL, "section future-extra: padding byte 3 is not zero");
}

static void too_many_sections(uint8_t *b, size_t *size)
{
	(void)size;
	put32(b + OFF_NSECTIONS, SNAPSHOT_MAX_SECTIONS + 1);
}

static void rename_vcpu1_to_vcpu0(uint8_t *b, size_t *size)
{
	(void)size;
	b[section_offset(b, 3) + 5] = '0';
}

static void ram_size_zero(uint8_t *b, size_t *size)
{
	(void)size;
	put64(b + OFF_RAM_SIZE, 0);
}

static void vcpu_count_absurd(uint8_t *b, size_t *size)
{
	(void)size;
	put32(b + OFF_VCPU_COUNT, 0x7fffffff);
}

static void vcpu_count_three(uint8_t *b, size_t *size)
{
	(void)size;
	put32(b + OFF_VCPU_COUNT, 3);
}

static void refuses_bad_section_table(void **state)
{
	damage(*state, too_many_sections, 1, -E2BIG, "too many sections: 1025 (at most 1024)");
	damage(*state, rename_vcpu1_to_vcpu0, 1, -EINVAL, "duplicate section vcpu.0");
	damage(*state, ram_size_zero, 1, -EINVAL, "guest RAM size is 0");
	damage(*state, vcpu_count_absurd, 1, -EINVAL, "vCPU count 2147483647 is outside");
	damage(*state, vcpu_count_three, 1, -EINVAL, "no section vcpu.2 for vCPU 2 of 3");
}

static void refuses_oversized_file_before_reading(void **state)
{
	struct fixture *f = *state;
	/* A sparse file past the cap, with a valid start: refused from its size, nothing allocated for it. */
	store(f->path, (const uint8_t *)"VMONSNAP\x01\0\0\0", 12);
	assert_int_equal(truncate(f->path, (off_t)SNAPSHOT_MAX_FILE + 1), 0);
	expect_refused(f->path, -EFBIG, "more than a snapshot file may be");
}

static struct snapshot_cpu other_vendor_cpu;

static void change_vendor(uint8_t *b, size_t *size)
{
	(void)size;
	memcpy(b + OFF_VENDOR, other_vendor_cpu.vendor, 12);
}

static void change_model(uint8_t *b, size_t *size)
{
	(void)size;
	put32(b + OFF_MODEL, (b[OFF_MODEL] + 1u) & 0xff);
}

static void refuses_other_cpu_vendor_warns_other_model(void **state)
{
	struct fixture *f = *state;
	struct snapshot_cpu host;
	struct vmon_error err = { 0 };
	struct snapshot_desc d;

	snapshot_host_cpu(&host);
	strcpy(other_vendor_cpu.vendor, strcmp(host.vendor, "AuthenticAMD") ? "AuthenticAMD" : "GenuineIntel");
	damage(f, change_vendor, 1, -ENOTSUP, "does not move between CPU vendors");

	damage(f, change_model, 0, -EBADMSG, "checksum mismatch");
	size_t size;
	assert_int_equal(snapshot_write(f->path, &f->desc, &err), 0);
	uint8_t *b = load(f->path, &size);
	change_model(b, &size);
	reseal(b, size);
	store(f->path, b, size);
	free(b);
	if (snapshot_read(f->path, &d, &err))
		fail_msg("%s", err.msg);
	assert_non_null(strstr(d.warning, "model"));
	snapshot_desc_free(&d);
}

static void cpu_check_rules(void **state)
{
	struct snapshot_cpu a = { "GenuineIntel", 6, 85, 7 }, b = a;
	struct vmon_error err = { 0 };
	char warning[192];
	(void)state;

	assert_int_equal(snapshot_cpu_check(&a, &b, warning, sizeof(warning), &err), 0);
	assert_string_equal(warning, "");
	b.stepping = 4;
	assert_int_equal(snapshot_cpu_check(&a, &b, warning, sizeof(warning), &err), 0);
	assert_string_equal(warning, "saved on CPU family 6 model 85 stepping 7, this host is family 6 model 85 stepping 4");
	strcpy(b.vendor, "AuthenticAMD");
	assert_int_equal(snapshot_cpu_check(&a, &b, warning, sizeof(warning), &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, "saved on a GenuineIntel CPU, this host's is AuthenticAMD"));
}

static void facts_check_rules(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	struct snapshot_fact host[2] = {
		{ .name = "vcpu_parts", .value = 7 },
		{ .name = "xsave_size", .value = 8192 },
	};

	assert_int_equal(snapshot_facts_check(&f->desc, host, 2, &err), 0);
	host[1].value = 2688;
	assert_int_equal(snapshot_facts_check(&f->desc, host, 2, &err), -ENOTSUP);
	assert_string_equal(err.msg, "KVM fact xsave_size: the snapshot needs at least 0x1000, this host has 0xa80");
	host[1].value = 4096;
	host[0].value = 1;
	assert_int_equal(snapshot_facts_check(&f->desc, host, 2, &err), -ENOTSUP);
	assert_string_equal(err.msg, "KVM fact vcpu_parts: the snapshot needs the bits 0x3, this host has 0x1");
	assert_int_equal(snapshot_facts_check(&f->desc, host + 1, 1, &err), -ENOTSUP);
	assert_string_equal(err.msg, "the snapshot needs KVM fact vcpu_parts, this host does not report it");
	f->facts[0].rule = SNAPSHOT_FACT_EQUAL;
	host[0].value = 3;
	host[1].value = 8192;
	assert_int_equal(snapshot_facts_check(&f->desc, host, 2, &err), -ENOTSUP);
	assert_string_equal(err.msg, "KVM fact xsave_size: the snapshot needs 0x1000, this host has 0x2000");
}

static void writer_refuses_bad_desc(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };

	strcpy(f->sections[4].name, "vcpu.0");
	assert_int_equal(snapshot_write(f->path, &f->desc, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "refusing to write: duplicate section vcpu.0"));
	strcpy(f->sections[4].name, "has space");
	assert_int_equal(snapshot_write(f->path, &f->desc, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "section 4: name has byte 0x20 at 3"));
	strcpy(f->sections[4].name, "extra");
	f->desc.nsections = 4;
	f->sections[1] = f->sections[4];
	assert_int_equal(snapshot_write(f->path, &f->desc, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "no section devices"));
	assert_int_equal(access(f->path, F_OK), -1);
}

/* ---- atomic write ---- */

static unsigned count_entries(const char *dir)
{
	unsigned n = 0;
	DIR *d = opendir(dir);
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void failed_write_keeps_old_snapshot(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	struct rlimit old, small;
	size_t before_size, after_size;

	assert_int_equal(snapshot_write(f->path, &f->desc, &err), 0);
	uint8_t *before = load(f->path, &before_size);

	/* The next write fails halfway: the file size limit stops it with EFBIG. */
	f->desc.ram_size = 512ull << 20;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 1000;
	void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	int rc = snapshot_write(f->path, &f->desc, &err);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, prev);
	assert_int_equal(rc, -EFBIG);
	assert_non_null(strstr(err.msg, "write: File too large"));

	uint8_t *after = load(f->path, &after_size);
	assert_int_equal(after_size, before_size);
	assert_memory_equal(after, before, before_size);
	assert_int_equal(count_entries(f->dir), 1);     /* no temporary left behind */
	free(before);
	free(after);

	/* Replacing works, and gives the new contents. */
	struct snapshot_desc d;
	assert_int_equal(snapshot_write(f->path, &f->desc, &err), 0);
	assert_int_equal(snapshot_read(f->path, &d, &err), 0);
	assert_int_equal(d.ram_size, 512ull << 20);
	snapshot_desc_free(&d);
	assert_int_equal(count_entries(f->dir), 1);
}

/* ---- memory file ---- */

static void mem_file_sparse_and_private(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	const size_t size = (4u << 20) + 100;    /* 1024 pages and a partial one */
	char mem[160];
	size_t written;
	struct stat st;

	snprintf(mem, sizeof(mem), "%s/vm.mem", f->dir);
	uint8_t *ram = calloc(1, size);
	memset(ram + 3 * 4096, 0x11, 4096);
	ram[4 * 4096 + 4095] = 0x22;              /* pages 3 and 4: one run */
	ram[100 * 4096] = 0x33;
	ram[size - 1] = 0x44;                     /* the partial last page */
	assert_int_equal(snapshot_mem_write(mem, ram, size, &written, &err), 0);
	assert_int_equal(written, 3 * 4096 + 100);
	assert_int_equal(stat(mem, &st), 0);
	assert_int_equal(st.st_size, size);
	/* Holes: the file holds what was written, not 4 MiB (slack for the filesystem's block size). */
	if ((size_t)st.st_blocks * 512 > 16 * 4096)
		fail_msg("memory file uses %lld bytes on disk, expected about %zu", (long long)st.st_blocks * 512,
			 written);

	void *m;
	assert_int_equal(snapshot_mem_map(mem, size, &m, &err), 0);
	assert_memory_equal(m, ram, size);
	/* Copy-on-write: the guest's writes stay in this process. */
	memset(m, 0x55, 8192);
	((uint8_t *)m)[size - 1] = 0;
	assert_int_equal(munmap(m, size), 0);
	size_t fsize;
	uint8_t *back = load(mem, &fsize);
	assert_int_equal(fsize, size);
	assert_memory_equal(back, ram, size);
	free(back);

	assert_int_equal(snapshot_mem_map(mem, size + 4096, &m, &err), -EINVAL);
	assert_null(m);
	assert_non_null(strstr(err.msg, "4194404 bytes, the snapshot's guest RAM is 4198500"));
	assert_int_equal(snapshot_mem_map(f->dir, size, &m, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a regular file"));
	free(ram);
}

static void mem_file_all_zero_and_failed_write(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	const size_t size = 1u << 20;
	char mem[160];
	size_t written = 1;
	struct rlimit old, small;
	void *m;

	snprintf(mem, sizeof(mem), "%s/vm.mem", f->dir);
	uint8_t *ram = calloc(1, size);
	assert_int_equal(snapshot_mem_write(mem, ram, size, &written, &err), 0);
	assert_int_equal(written, 0);
	assert_int_equal(snapshot_mem_map(mem, size, &m, &err), 0);
	assert_memory_equal(m, ram, size);
	munmap(m, size);

	/* A write cut short keeps the previous memory file. */
	memset(ram, 0x77, size);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = size / 2;
	void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	int rc = snapshot_mem_write(mem, ram, size, &written, &err);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, prev);
	assert_int_equal(rc, -EFBIG);
	assert_int_equal(written, 0);
	assert_int_equal(count_entries(f->dir), 1);
	assert_int_equal(snapshot_mem_map(mem, size, &m, &err), 0);
	memset(ram, 0, size);
	assert_memory_equal(m, ram, size);
	munmap(m, size);
	free(ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_bad_magic, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_truncation_at_every_length, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_trailing_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_newer_version, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_any_flipped_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_inconsistent_lengths, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_bad_section_table, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_oversized_file_before_reading, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_other_cpu_vendor_warns_other_model, setup, teardown),
		cmocka_unit_test(cpu_check_rules),
		cmocka_unit_test_setup_teardown(facts_check_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(writer_refuses_bad_desc, setup, teardown),
		cmocka_unit_test_setup_teardown(failed_write_keeps_old_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(mem_file_sparse_and_private, setup, teardown),
		cmocka_unit_test_setup_teardown(mem_file_all_zero_and_failed_write, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
