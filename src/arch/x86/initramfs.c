/* SPDX-License-Identifier: MIT */
#include "arch/x86/initramfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* newc cpio (Documentation/driver-api/early-userspace/buffer-format.rst). */
#define CPIO_HEADER_LEN 110
#define CPIO_FIELD_FILESIZE 6
#define CPIO_FIELD_NAMESIZE 11
#define CPIO_PATH_MAX 4096
/* Header plus name is padded to 4 bytes: init/initramfs.c's N_ALIGN. */
#define CPIO_NAME_ALIGN(len) ((((len) + 1) & ~(size_t)3) + 2)
#define ALIGN4(x) (((x) + 3) & ~(size_t)3)

enum cpio_stop {
	CPIO_END,       /* the data ended after complete entries (and zeros) */
	CPIO_TRAILER,   /* after a TRAILER!!! entry and the zeros that follow it */
	CPIO_OTHER,     /* at a byte that starts no entry: neither 0 nor a 4-byte-aligned '0' */
	CPIO_BAD,       /* at an entry Linux would reject, or one cut off by the end of the data */
};

struct cpio_walk {
	size_t len;            /* bytes walked, up to where it stopped */
	enum cpio_stop stop;
	char why[96];          /* CPIO_BAD: what is wrong */
};

/* Parses 8 hex digits; false when any is not one (Linux would misread the header). */
static bool hex8(const uint8_t *p, uint32_t *value)
{
	uint32_t v = 0;

	for (int i = 0; i < 8; i++) {
		uint8_t c = p[i];
		uint32_t d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return false;
		v = v << 4 | d;
	}
	*value = v;
	return true;
}

static void walk_bad(struct cpio_walk *w, size_t pos, const char *why)
{
	w->len = pos;
	w->stop = CPIO_BAD;
	snprintf(w->why, sizeof(w->why), "cpio entry at byte %zu %s", pos, why);
}

/*
 * Walks newc entries and zero bytes from data[0] (offsets 4-byte aligned
 * relative to data, as the kernel's parser counts them), as far as they go.
 */
static void cpio_walk(const uint8_t *data, size_t len, struct cpio_walk *w)
{
	size_t pos = 0;

	w->why[0] = '\0';
	for (;;) {
		uint32_t field[13];
		while (pos < len && data[pos] == 0)
			pos++;
		w->len = pos;
		if (pos == len) {
			w->stop = CPIO_END;
			return;
		}
		if (data[pos] != '0' || (pos & 3)) {
			w->stop = CPIO_OTHER;
			return;
		}
		if (len - pos < CPIO_HEADER_LEN)
			return walk_bad(w, pos, "is cut off by the end of the data");
		if (memcmp(data + pos, "070701", 6) && memcmp(data + pos, "070702", 6))
			return walk_bad(w, pos, memcmp(data + pos, "070707", 6) ? "has no newc magic 070701"
					: "is old-format (odc) cpio; Linux needs newc");
		for (int i = 0; i < 13; i++)
			if (!hex8(data + pos + 6 + 8 * i, &field[i]))
				return walk_bad(w, pos, "has a header field that is not hex");

		size_t namesize = field[CPIO_FIELD_NAMESIZE], filesize = field[CPIO_FIELD_FILESIZE];
		size_t body = pos + CPIO_HEADER_LEN + CPIO_NAME_ALIGN(namesize);
		if (body > len || len - body < ALIGN4(filesize))
			return walk_bad(w, pos, "is cut off by the end of the data");
		/* Linux skips an entry with no name or one over PATH_MAX, and rejects an unterminated one. */
		const uint8_t *name = data + pos + CPIO_HEADER_LEN;
		if (namesize > 0 && namesize <= CPIO_PATH_MAX && name[namesize - 1] != '\0')
			return walk_bad(w, pos, "has a name without its terminating NUL");
		pos = body + ALIGN4(filesize);
		if (namesize == 11 && !memcmp(name, "TRAILER!!!", 11)) {
			while (pos < len && data[pos] == 0)
				pos++;
			w->len = pos;
			w->stop = CPIO_TRAILER;
			return;
		}
	}
}

/* True when data holds nothing but complete cpio archives and zero padding. */
static bool is_plain_cpio(const uint8_t *data, size_t len, char *why, size_t why_len)
{
	struct cpio_walk w;
	size_t pos = 0;

	do {
		cpio_walk(data + pos, len - pos, &w);
		pos += w.len;
	} while (w.stop == CPIO_TRAILER && pos < len);
	if (w.stop == CPIO_BAD)
		snprintf(why, why_len, "%s", w.why);
	else if (w.stop == CPIO_OTHER)
		snprintf(why, why_len, "byte %zu (%02x) starts no cpio entry", pos, data[pos]);
	return w.stop == CPIO_END || w.stop == CPIO_TRAILER;
}

struct unpack {
	const uint8_t *image;
	size_t size;
	struct decompress_out out;
	bool converting;               /* out holds the result so far (a member was decompressed) */
	struct initramfs_report *rep;
	struct vmon_error *err;
};

static int too_big(struct unpack *u, size_t offset)
{
	return error_set(u->err, -EFBIG, "initramfs unpacks to more than %zu bytes (reached at offset %zu of "
			 "the image)", u->out.max, offset);
}

/* Pads out to 4 bytes with zeros: every member starts aligned. */
static int align_out(struct unpack *u, size_t offset)
{
	size_t aligned = ALIGN4(u->out.len);

	if (aligned == u->out.len)
		return 0;
	if (aligned > u->out.max)
		return too_big(u, offset);
	if (aligned > u->out.cap) {
		uint8_t *grown = realloc(u->out.data, aligned);
		if (!grown)
			return error_set(u->err, -ENOMEM, "out of memory for the unpacked initramfs");
		u->out.data = grown;
		u->out.cap = aligned;
	}
	memset(u->out.data + u->out.len, 0, aligned - u->out.len);
	u->out.len = aligned;
	return 0;
}

/* Appends image[offset .. offset + n) unchanged, starting 4-byte aligned. */
static int append(struct unpack *u, size_t offset, size_t n)
{
	int ret = align_out(u, offset);

	if (ret < 0 || n == 0)
		return ret;
	if (n > u->out.max - u->out.len)
		return too_big(u, offset);
	if (u->out.len + n > u->out.cap) {
		size_t cap = u->out.cap * 2 > u->out.len + n ? u->out.cap * 2 : u->out.len + n;
		if (cap > u->out.max)
			cap = u->out.max;
		uint8_t *grown = realloc(u->out.data, cap);
		if (!grown)
			return error_set(u->err, -ENOMEM, "out of memory for the unpacked initramfs");
		u->out.data = grown;
		u->out.cap = cap;
	}
	memcpy(u->out.data + u->out.len, u->image + offset, n);
	u->out.len += n;
	return 0;
}

static void record(struct unpack *u, size_t offset, size_t in_size, size_t out_size, enum decompress_format f)
{
	struct initramfs_report *r = u->rep;

	if (r->members < INITRAMFS_REPORT_MEMBERS)
		r->member[r->members] = (struct initramfs_member){
			.offset = offset, .in_size = in_size, .out_size = out_size, .format = f,
		};
	r->members++;
	r->by_format[f]++;
	if (f != DECOMPRESS_UNKNOWN)
		r->decompressed++;
}

/* The rest of the image from offset goes to the guest as it is. */
static int pass_through(struct unpack *u, size_t offset)
{
	u->rep->passthrough_offset = offset;
	return u->converting ? append(u, offset, u->size - offset) : 0;
}

/* Decodes the compressed member at offset into out; *next: where the image goes on. */
static int unpack_compressed(struct unpack *u, size_t offset, size_t *next)
{
	enum decompress_format format = decompress_detect(u->image + offset, u->size - offset);
	const char *name = decompress_format_name(format);
	struct initramfs_report *r = u->rep;
	struct vmon_error why = { 0 };
	char reason[100];
	size_t start, consumed;
	int ret;

	*next = u->size;
	if (format == DECOMPRESS_UNKNOWN) {
		snprintf(r->note, sizeof(r->note), "member %u at offset %zu starts with %02x %02x, no compression "
			 "vmon knows", r->members + 1, offset, u->image[offset],
			 offset + 1 < u->size ? u->image[offset + 1] : 0);
		return pass_through(u, offset);
	}
	/* The first decompressed member: what came before goes to the result as it was. */
	if (!u->converting) {
		u->converting = true;
		if ((ret = append(u, 0, offset)) < 0)
			return ret;
	}
	if ((ret = align_out(u, offset)) < 0)
		return ret;
	start = u->out.len;
	ret = decompress_stream(format, u->image + offset, u->size - offset, &u->out, &consumed, &why);
	if (ret == -EFBIG)
		return error_set(u->err, -EFBIG, "initramfs member %u at offset %zu (%s) unpacks past %zu bytes",
				 r->members + 1, offset, name, u->out.max);
	if (ret < 0)
		return error_set(u->err, ret, "initramfs member %u at offset %zu (0x%zx, %s): %s", r->members + 1,
				 offset, offset, name, why.msg);
	/* An empty stream leaves out.data NULL: no pointer arithmetic on it. */
	if (u->out.len == start)
		snprintf(reason, sizeof(reason), "it holds no bytes");
	if (u->out.len == start || !is_plain_cpio(u->out.data + start, u->out.len - start, reason, sizeof(reason))) {
		snprintf(r->note, sizeof(r->note), "member %u at offset %zu (%s) does not decompress to cpio: %s",
			 r->members + 1, offset, name, reason);
		u->out.len = start;
		if (!r->decompressed)
			u->converting = false;    /* nothing decoded: the image goes in as given */
		return pass_through(u, offset);
	}
	record(u, offset, consumed, u->out.len - start, format);
	*next = offset + consumed;
	return 0;
}

static int unpack_members(struct unpack *u)
{
	size_t pos = 0;
	int ret;

	while (pos < u->size) {
		const uint8_t *p = u->image + pos;
		if (*p == 0) {
			pos++;    /* padding between members */
			continue;
		}
		if (*p == '0' && !(pos & 3)) {
			struct cpio_walk w;
			cpio_walk(p, u->size - pos, &w);
			if (w.stop == CPIO_BAD) {
				snprintf(u->rep->note, sizeof(u->rep->note), "member %u at offset %zu: %s",
					 u->rep->members + 1, pos, w.why);
				return pass_through(u, pos);
			}
			if (u->converting && (ret = append(u, pos, w.len)) < 0)
				return ret;
			record(u, pos, w.len, w.len, DECOMPRESS_UNKNOWN);
			pos += w.len;
			continue;
		}
		if ((ret = unpack_compressed(u, pos, &pos)) < 0)
			return ret;
	}
	return 0;
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

int initramfs_unpack(const uint8_t *image, size_t size, size_t max_output, uint8_t **out, size_t *out_size,
		     struct initramfs_report *report, struct vmon_error *err)
{
	struct unpack u = {
		.image = image, .size = size, .out = { .max = max_output }, .rep = report, .err = err,
	};
	struct timespec start;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &start);
	memset(report, 0, sizeof(*report));
	report->in_size = size;
	report->passthrough_offset = size;
	*out = NULL;
	*out_size = 0;
	ret = unpack_members(&u);
	report->seconds = seconds_since(&start);
	if (ret < 0 || !u.converting) {
		free(u.out.data);
		report->out_size = size;
		return ret;
	}
	report->out_size = u.out.len;
	*out = u.out.data;
	*out_size = u.out.len;
	return 0;
}

void initramfs_report_summary(const struct initramfs_report *r, char *buf, size_t len)
{
	char formats[128] = "";
	size_t used = 0;

	for (int f = 0; f < DECOMPRESS_FORMAT_COUNT; f++) {
		if (!r->by_format[f] || used >= sizeof(formats))
			continue;
		used += (size_t)snprintf(formats + used, sizeof(formats) - used, "%s%u %s", used ? ", " : "",
					 r->by_format[f], f == DECOMPRESS_UNKNOWN ? "cpio"
					 : decompress_format_name((enum decompress_format)f));
	}
	snprintf(buf, len, "%u member%s (%s), %llu -> %llu bytes in %.3f ms", r->members,
		 r->members == 1 ? "" : "s", formats, (unsigned long long)r->in_size,
		 (unsigned long long)r->out_size, r->seconds * 1e3);
}

void initramfs_report_member(const struct initramfs_report *r, unsigned i, char *buf, size_t len)
{
	const struct initramfs_member *m = &r->member[i];

	if (m->format == DECOMPRESS_UNKNOWN)
		snprintf(buf, len, "member %u at offset %llu: plain cpio, %llu bytes", i + 1,
			 (unsigned long long)m->offset, (unsigned long long)m->in_size);
	else
		snprintf(buf, len, "member %u at offset %llu: %s, %llu -> %llu bytes", i + 1,
			 (unsigned long long)m->offset, decompress_format_name(m->format),
			 (unsigned long long)m->in_size, (unsigned long long)m->out_size);
}
