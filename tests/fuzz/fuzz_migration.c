/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for live migration's stream as a destination reads it
 * (src/snapshot/migration_proto.c: preamble, record headers and their
 * protocol check, payloads, round ends with the stream's CRC-64), and for
 * the addresses `vmon migrate` takes (mig_addr_parse). The input is what a
 * hostile source sends on the socket; it arrives through a socketpair whose
 * other end is closed after it, so a short stream ends in EOF.
 *
 * Input: byte 0 bit 0: parse bytes 1.. up to the first NUL as a migration
 * address first; the rest is the stream. The reader follows
 * src/snapshot/migration.c's destination: a HELLO first (its arg: the RAM
 * size, at most 4 MiB here), then PAGE / ZERO / ROUND_END / STATE / ERROR
 * records until GO, an error or the end.
 * FUZZ_MIGRATION_SEEDS=DIR writes seed streams made by the source's writer
 * functions to DIR and exits.
 *
 * Checked: refusals are negative errnos with a message; every PAGE or ZERO
 * header accepted lies 4 KiB-aligned inside the RAM size the hello gave; a payload is
 * never longer than its type allows; the CRC checked at a round end is that
 * of the bytes before it.
 */
#include "fuzz_device.h"

#include <lzma.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "snapshot/migration_proto.h"

#define RAM_MAX (4u << 20)

static void check_refusal(int r, const struct vmon_error *err)
{
	if (getenv("FUZZ_MIGRATION_TRACE"))
		fprintf(stderr, "fuzz_migration: refused (%d): %s\n", r, err->msg);
	FUZZ_CHECK(r < 0 && r > -4096);
	FUZZ_CHECK(err->msg[0] != '\0');
}

static void read_stream(struct mig_stream *s)
{
	struct vmon_error err = { 0 };
	struct mig_header h;
	static uint8_t ram[RAM_MAX]; /* a global: ASan keeps a red zone after it */
	uint64_t ram_size, round = 1, pages = 0, zeros = 0;
	uint8_t *payload = NULL;
	int r;

	if ((r = mig_read_preamble(s, &err)) || (r = mig_read_header(s, &h, 0, &err)))
		goto refused;
	if (h.type != MIG_HELLO || h.arg == 0 || h.arg > RAM_MAX || h.arg % MIG_PAGE_SIZE)
		return; /* migration.c refuses these itself, or the RAM would be too big to fuzz quickly */
	ram_size = h.arg;
	payload = malloc(h.size ? h.size : 1);
	FUZZ_CHECK(payload != NULL);
	if ((r = mig_read_payload(s, payload, h.size, &err)))
		goto refused;
	for (;;) {
		free(payload);
		payload = NULL;
		if ((r = mig_read_header(s, &h, ram_size, &err)))
			goto refused;
		switch (h.type) {
		case MIG_PAGE:
			FUZZ_CHECK(h.size == MIG_PAGE_SIZE && h.arg % MIG_PAGE_SIZE == 0 && h.arg < ram_size);
			if ((r = mig_read_payload(s, ram + h.arg, MIG_PAGE_SIZE, &err)))
				goto refused;
			pages++;
			continue;
		case MIG_ZERO:
			FUZZ_CHECK(h.size == 0 && h.arg % MIG_PAGE_SIZE == 0 && h.arg < ram_size);
			memset(ram + h.arg, 0, MIG_PAGE_SIZE);
			zeros++;
			continue;
		case MIG_ROUND_END: {
			uint64_t crc_before = s->crc_in_before;
			FUZZ_CHECK(h.size == MIG_ROUND_END_SIZE);
			payload = malloc(h.size);
			FUZZ_CHECK(payload != NULL);
			if ((r = mig_read_payload(s, payload, h.size, &err)))
				goto refused;
			r = mig_check_round_end(s, &h, payload, round, pages, zeros, &err);
			if (r)
				goto refused;
			/* Accepted: the CRC it carried is that of the stream before its header. */
			FUZZ_CHECK(mig_get64(payload + 16) == crc_before);
			round++;
			pages = zeros = 0;
			continue;
		}
		case MIG_STATE:
		case MIG_ERROR:
			FUZZ_CHECK(h.type != MIG_ERROR || h.size <= MIG_ERROR_MAX);
			payload = malloc(h.size ? h.size : 1);
			FUZZ_CHECK(payload != NULL);
			if ((r = mig_read_payload(s, payload, h.size, &err)))
				goto refused;
			if (h.type == MIG_ERROR)
				goto out;
			continue;
		default:
			goto out; /* GO, or a record only a source receives: migration.c acts or refuses */
		}
	}
refused:
	check_refusal(r, &err);
out:
	free(payload);
}

static void fuzz_stream(const uint8_t *data, size_t size)
{
	struct mig_stream s;
	struct vmon_error err = { 0 };
	int sv[2];

	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	FUZZ_CHECK(size == 0 || write(sv[1], data, size) == (ssize_t)size);
	close(sv[1]);
	if (mig_stream_init(&s, sv[0], -1, NULL, 1000, &err)) {
		fprintf(stderr, "fuzz_migration: %s\n", err.msg);
		abort();
	}
	read_stream(&s);
	mig_stream_close(&s);
}

static void fuzz_addr(const char *text)
{
	struct mig_addr a;
	struct vmon_error err = { 0 };
	int r = mig_addr_parse(text, &a, &err);

	if (r) {
		check_refusal(r, &err);
		return;
	}
	if (a.tcp)
		FUZZ_CHECK(memchr(a.host, 0, sizeof(a.host)) && memchr(a.port, 0, sizeof(a.port)) && a.port[0]);
	else
		FUZZ_CHECK(memchr(a.path, 0, sizeof(a.path)) && a.path[0]);
}

/* ---- seeds: streams as a source writes them ------------------------------------ */

static void write_seed(const char *dir, const char *name, const char *addr, int pages, bool state)
{
	static uint8_t page[MIG_PAGE_SIZE], buf[1 << 16];
	uint8_t hello[MIG_HELLO_FIXED + 32] = { 0 };
	struct vmon_error err = { 0 };
	struct mig_stream s;
	char path[512];
	ssize_t n;
	FILE *f;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) || mig_stream_init(&s, sv[1], -1, NULL, 1000, &err))
		abort();
	mig_put32(hello, 1);
	mig_put32(hello + 4, MIG_PAGE_SIZE);
	memcpy(hello + MIG_HELLO_FIXED, "{\"version\":1,\"mem_size\":2097152}", 32);
	memset(page, 0xa5, sizeof(page));
	if (mig_write_preamble(&s, &err) || mig_write_record(&s, MIG_HELLO, 2 << 20, hello, sizeof(hello), &err))
		abort();
	for (int i = 0; i < pages; i++)
		if (mig_write_record(&s, i % 2 ? MIG_ZERO : MIG_PAGE, (uint64_t)i * MIG_PAGE_SIZE, page,
				     i % 2 ? 0 : MIG_PAGE_SIZE, &err))
			abort();
	if (mig_write_round_end(&s, 1, (pages + 1) / 2, pages / 2, &err) ||
	    (state && mig_write_record(&s, MIG_STATE, 0, "VMONSNAP", 8, &err)) ||
	    mig_write_record(&s, state ? MIG_GO : MIG_ERROR, 0, "no", state ? 0 : 2, &err) || mig_flush(&s, &err))
		abort();
	n = read(sv[0], buf, sizeof(buf));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n <= 0 || !(f = fopen(path, "wb")) || fputc(addr ? 1 : 0, f) == EOF ||
	    (addr && fwrite(addr, 1, strlen(addr) + 1, f) != strlen(addr) + 1) || fwrite(buf, 1, (size_t)n, f) != (size_t)n ||
	    fclose(f)) {
		perror(path);
		exit(1);
	}
	mig_stream_close(&s);
	close(sv[0]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_MIGRATION_SEEDS");

	(void)argc, (void)argv;
	log_set_level(LOG_OFF);
	if (dir) {
		write_seed(dir, "two_pages_round_state_go", NULL, 2, true);
		write_seed(dir, "six_pages_error", "tcp:[::1]:4444", 6, false);
		write_seed(dir, "unix_addr_hello_only", "unix:/run/vmon/mig.sock", 0, true);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		const uint8_t *nul = memchr(data + 1, 0, size - 1);
		size_t len = nul ? (size_t)(nul - data - 1) : size - 1;
		char *text = strndup((const char *)data + 1, len);

		FUZZ_CHECK(text != NULL);
		fuzz_addr(text);
		free(text);
		data += len + 1 + (nul != NULL);
		size -= len + 1 + (nul != NULL);
		fuzz_stream(data, size);
		return 0;
	}
	fuzz_stream(data + 1, size - 1);
	return 0;
}
