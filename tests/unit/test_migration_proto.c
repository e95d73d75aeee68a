/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "snapshot/migration_proto.h"

#define RAM (4u << 20)
#define STALL_MS 2000

/* Stream bytes as a source writes them: preamble, hello, two pages, a zero page, the round end. */
static size_t make_stream(uint8_t *out, size_t cap)
{
	struct vmon_error err = { 0 };
	struct mig_stream s;
	uint8_t hello[MIG_HELLO_FIXED + 2] = { 0 }, page[MIG_PAGE_SIZE];
	int sv[2];
	size_t n = 0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(mig_stream_init(&s, sv[0], -1, NULL, STALL_MS, &err), 0);
	memcpy(hello + MIG_HELLO_FIXED, "{}", 2);
	assert_int_equal(mig_write_preamble(&s, &err), 0);
	assert_int_equal(mig_write_record(&s, MIG_HELLO, RAM, hello, sizeof(hello), &err), 0);
	for (unsigned i = 0; i < 2; i++) {
		memset(page, 0xa0 + i, sizeof(page));
		assert_int_equal(mig_write_record(&s, MIG_PAGE, (uint64_t)i * MIG_PAGE_SIZE, page, sizeof(page), &err), 0);
	}
	assert_int_equal(mig_write_record(&s, MIG_ZERO, 5 * MIG_PAGE_SIZE, NULL, 0, &err), 0);
	assert_int_equal(mig_write_round_end(&s, 1, 3, 1, &err), 0);
	assert_int_equal(mig_flush(&s, &err), 0);
	mig_stream_close(&s);
	for (;;) {
		ssize_t r = read(sv[1], out + n, cap - n);
		assert_true(r >= 0);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(sv[1]);
	return n;
}

/* Reads a stream from fd as a destination does: 0 when the whole stream checks out, else the first error. */
static int read_stream_fd(int fd, struct vmon_error *err)
{
	struct mig_stream s;
	struct mig_header h;
	uint8_t buf[MIG_HELLO_FIXED + MIG_PAGE_SIZE];
	uint64_t ram = 0, pages = 0, zeros = 0;
	int r;

	assert_int_equal(mig_stream_init(&s, fd, -1, NULL, STALL_MS, err), 0);
	if ((r = mig_read_preamble(&s, err)))
		goto out;
	for (;;) {
		if ((r = mig_read_header(&s, &h, ram, err)))
			goto out;
		if (h.type == MIG_HELLO)
			ram = h.arg;
		if (h.size > sizeof(buf)) {
			r = -EPROTO;
			goto out;
		}
		if ((r = mig_read_payload(&s, buf, h.size, err)))
			goto out;
		if (h.type == MIG_PAGE || h.type == MIG_ZERO) {
			pages++;
			zeros += h.type == MIG_ZERO;
			if (h.type == MIG_PAGE && h.arg < 2 * MIG_PAGE_SIZE)   /* make_stream's two pages */
				assert_int_equal(buf[100], 0xa0 + h.arg / MIG_PAGE_SIZE);
		}
		if (h.type == MIG_ROUND_END) {
			r = mig_check_round_end(&s, &h, buf, 1, pages, zeros, err);
			goto out;
		}
	}
out:
	mig_stream_close(&s);
	return r;
}

/* The same from bytes (small: they fit in the socket's buffer). */
static int read_stream(const uint8_t *bytes, size_t len, struct vmon_error *err)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], bytes, len), (ssize_t)len);
	close(sv[0]);   /* a short stream then ends early, as when the source dies */
	return read_stream_fd(sv[1], err);
}

static void intact_stream_reads_back(void **state)
{
	uint8_t bytes[64 << 10];
	struct vmon_error err = { 0 };
	size_t n = make_stream(bytes, sizeof(bytes));

	(void)state;
	assert_int_equal(n, MIG_PREAMBLE_SIZE + 5 * MIG_HEADER_SIZE + MIG_HELLO_FIXED + 2 + 2 * MIG_PAGE_SIZE +
			 MIG_ROUND_END_SIZE);
	assert_int_equal(read_stream(bytes, n, &err), 0);
}

static void damaged_streams_are_refused(void **state)
{
	static const struct {
		size_t off;          /* byte to change (from the stream's start) */
		uint8_t xor;
		int code;
		const char *words;
	} cases[] = {
		{ 0, 0x01, -EPROTO, "bad magic" },
		{ 8, 0x02, -EPROTONOSUPPORT, "protocol version 3" },
		{ 12, 0x01, -EPROTO, "unknown stream flags" },
		/* A page's data: only the round end's CRC can tell. */
		{ 16 + 16 + MIG_HELLO_FIXED + 2 + 16 + 7, 0x40, -EBADMSG, "checksum mismatch" },
		/* The second page's type becomes 3 (ZERO) with a payload size of 4096. */
		{ 16 + 16 + MIG_HELLO_FIXED + 2 + 16 + MIG_PAGE_SIZE, 0x01, -EPROTO, "zero-page record of 4096 bytes" },
		/* The first page's offset moves past RAM (bit 62). */
		{ 16 + 16 + MIG_HELLO_FIXED + 2 + 15, 0x40, -EPROTO, "not a 4 KiB page" },
		/* The hello's RAM size stops being whole pages. */
		{ 16 + 8, 0x01, -EPROTO, "hello: RAM of" },
		/* The record type of the hello becomes unknown. */
		{ 16, 0x40, -EPROTO, "unknown record type" },
	};
	uint8_t bytes[64 << 10];
	size_t n = make_stream(bytes, sizeof(bytes));

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vmon_error err = { 0 };
		uint8_t copy[64 << 10];
		memcpy(copy, bytes, n);
		copy[cases[i].off] ^= cases[i].xor;
		int r = read_stream(copy, n, &err);
		if (r != cases[i].code || !strstr(err.msg, cases[i].words))
			fail_msg("case %zu: got %d \"%s\", expected %d with \"%s\"", i, r, err.msg, cases[i].code,
				 cases[i].words);
	}
}

static void truncated_streams_are_refused(void **state)
{
	uint8_t bytes[64 << 10];
	size_t n = make_stream(bytes, sizeof(bytes));

	(void)state;
	for (size_t cut = 0; cut < n; cut += 97) {
		struct vmon_error err = { 0 };
		int r = read_stream(bytes, cut, &err);
		assert_int_equal(r, -EPIPE);
		assert_non_null(strstr(err.msg, "the stream ended"));
	}
}

static void headers_are_checked(void **state)
{
	static const struct {
		struct mig_header h;
		uint64_t ram;
		bool ok;
	} cases[] = {
		{ { MIG_PAGE, MIG_PAGE_SIZE, 0 }, RAM, true },
		{ { MIG_PAGE, MIG_PAGE_SIZE, RAM - MIG_PAGE_SIZE }, RAM, true },
		{ { MIG_PAGE, MIG_PAGE_SIZE, RAM }, RAM, false },             /* past RAM */
		{ { MIG_PAGE, MIG_PAGE_SIZE, 100 }, RAM, false },             /* unaligned */
		{ { MIG_PAGE, MIG_PAGE_SIZE, 0 }, 0, false },                 /* before the hello */
		{ { MIG_PAGE, 4095, 0 }, RAM, false },
		{ { MIG_ZERO, 0, 8192 }, RAM, true },
		{ { MIG_ZERO, 1, 8192 }, RAM, false },
		{ { MIG_HELLO, MIG_HELLO_FIXED - 1, RAM }, 0, false },
		{ { MIG_HELLO, MIG_HELLO_FIXED + MIG_CONFIG_MAX + 1, RAM }, 0, false },
		{ { MIG_HELLO, MIG_HELLO_FIXED, 1u << 20 }, 0, false },       /* under the smallest RAM */
		{ { MIG_ROUND_END, MIG_ROUND_END_SIZE, 1 }, RAM, true },
		{ { MIG_ROUND_END, 8, 1 }, RAM, false },
		{ { MIG_STATE, 0, 0 }, RAM, false },
		{ { MIG_STATE, 100, 1 }, RAM, false },
		{ { MIG_STATE, 100, 0 }, RAM, true },
		{ { MIG_READY, 0, 12345 }, RAM, true },
		{ { MIG_GO, 1, 0 }, RAM, false },
		{ { MIG_ERROR, MIG_ERROR_MAX, 0 }, RAM, true },
		{ { MIG_ERROR, MIG_ERROR_MAX + 1, 0 }, RAM, false },
		{ { 0, 0, 0 }, RAM, false },
		{ { 9, 0, 0 }, RAM, false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vmon_error err = { 0 };
		int r = mig_header_check(&cases[i].h, cases[i].ram, &err);
		if ((r == 0) != cases[i].ok)
			fail_msg("case %zu: %d \"%s\"", i, r, err.msg);
		if (r)
			assert_true(err.msg[0] != '\0');
	}
}

static void round_end_counts_must_match(void **state)
{
	uint8_t bytes[64 << 10];
	size_t n = make_stream(bytes, sizeof(bytes));
	/* The round end's payload: pages (3) at 16 + ... ; one fewer page announced than sent. */
	size_t payload = n - MIG_ROUND_END_SIZE;
	struct vmon_error err = { 0 };

	(void)state;
	bytes[payload] = 2;
	assert_int_equal(read_stream(bytes, n, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "the source sent 2 pages"));
}

static void addresses_parse(void **state)
{
	struct vmon_error err = { 0 };
	struct mig_addr a;

	(void)state;
	assert_int_equal(mig_addr_parse("unix:/tmp/x.sock", &a, &err), 0);
	assert_false(a.tcp);
	assert_string_equal(a.path, "/tmp/x.sock");
	assert_int_equal(mig_addr_parse("tcp:127.0.0.1:4444", &a, &err), 0);
	assert_true(a.tcp);
	assert_string_equal(a.host, "127.0.0.1");
	assert_string_equal(a.port, "4444");
	assert_int_equal(mig_addr_parse("tcp:[::1]:80", &a, &err), 0);
	assert_string_equal(a.host, "::1");
	static const char *const bad[] = { "", "unix:", "/tmp/x", "tcp:host", "tcp::80", "tcp:host:0",
					   "tcp:host:65536", "tcp:host:-1", "tcp:host:8x", "udp:host:1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err.msg[0] = '\0';
		if (!mig_addr_parse(bad[i], &a, &err))
			fail_msg("'%s' accepted", bad[i]);
		assert_true(err.msg[0] != '\0');
	}
	char longpath[200] = "unix:/";
	memset(longpath + 6, 'a', 150);
	assert_int_equal(mig_addr_parse(longpath, &a, &err), -ENAMETOOLONG);
}

/* ---- a page the guest writes while it is sent ------------------------------------------------- */

#define RACE_PAGES 4096

struct race {
	uint8_t page[MIG_PAGE_SIZE];
	atomic_bool stop;
	int fd;                        /* the destination's end */
	int result;                    /* read_stream_fd's */
	struct vmon_error err;
};

static void *mutate(void *arg)
{
	struct race *r = arg;
	volatile uint8_t *p = r->page;

	for (unsigned i = 0; !atomic_load(&r->stop); i++)
		p[(i * 67u) % MIG_PAGE_SIZE] = (uint8_t)(p[(i * 67u) % MIG_PAGE_SIZE] + 1);
	return NULL;
}

static void *destination(void *arg)
{
	struct race *r = arg;

	r->result = read_stream_fd(r->fd, &r->err);
	return NULL;
}

/*
 * A running guest writes its RAM while the source sends it: the stream's checksum must be that of the
 * bytes that went out (a page read once for the CRC and again for the copy disagreed: "stream checksum
 * mismatch" on the destination, now and then, in test_migration.py's dirtier).
 */
static void pages_written_while_sent_still_check_out(void **state)
{
	struct race *r = calloc(1, sizeof(*r));
	struct vmon_error err = { 0 };
	uint8_t hello[MIG_HELLO_FIXED + 2] = { 0 };
	struct mig_stream s;
	pthread_t writer, reader;
	int sv[2];

	(void)state;
	assert_non_null(r);
	memset(r->page, 0xa0, sizeof(r->page));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	r->fd = sv[1];
	assert_int_equal(pthread_create(&writer, NULL, mutate, r), 0);
	assert_int_equal(pthread_create(&reader, NULL, destination, r), 0);
	assert_int_equal(mig_stream_init(&s, sv[0], -1, NULL, STALL_MS, &err), 0);
	memcpy(hello + MIG_HELLO_FIXED, "{}", 2);
	assert_int_equal(mig_write_preamble(&s, &err), 0);
	assert_int_equal(mig_write_record(&s, MIG_HELLO, RAM, hello, sizeof(hello), &err), 0);
	for (unsigned i = 0; i < RACE_PAGES; i++)
		assert_int_equal(mig_write_record(&s, MIG_PAGE, 2 * MIG_PAGE_SIZE, r->page, MIG_PAGE_SIZE, &err), 0);
	assert_int_equal(mig_write_round_end(&s, 1, RACE_PAGES, 0, &err), 0);
	assert_int_equal(mig_flush(&s, &err), 0);
	mig_stream_close(&s);
	assert_int_equal(pthread_join(reader, NULL), 0);
	atomic_store(&r->stop, true);
	assert_int_equal(pthread_join(writer, NULL), 0);
	if (r->result)
		fail_msg("%s", r->err.msg);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(intact_stream_reads_back),
		cmocka_unit_test(damaged_streams_are_refused),
		cmocka_unit_test(truncated_streams_are_refused),
		cmocka_unit_test(headers_are_checked),
		cmocka_unit_test(round_end_counts_must_match),
		cmocka_unit_test(addresses_parse),
		cmocka_unit_test(pages_written_while_sent_still_check_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
