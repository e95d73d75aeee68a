/* SPDX-License-Identifier: MIT */
#ifndef VMON_SNAPSHOT_MIGRATION_PROTO_H
#define VMON_SNAPSHOT_MIGRATION_PROTO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/*
 * Live migration's stream (docs/MIGRATION.md, byte by byte): a 16-byte
 * preamble (magic, protocol version, flags), then records of a 16-byte
 * header (type, payload size, one 64-bit argument) and a payload, all
 * little-endian. Every byte each side sends is covered by a running CRC-64
 * that the round-end records carry, so a damaged stream is refused at the
 * latest at the end of the round it damaged, before anything runs.
 *
 * This module knows no machine: addresses, sockets, the buffered stream with
 * its CRC, and the check of each record header against the protocol's rules.
 */
#define MIG_MAGIC "VMONMIGR"
#define MIG_VERSION 1
#define MIG_PREAMBLE_SIZE 16
#define MIG_HEADER_SIZE 16
#define MIG_PAGE_SIZE 4096u
#define MIG_HELLO_FIXED 64            /* vcpus, page size, vmon version[32], CPU vendor[12], family, model, stepping */
#define MIG_CONFIG_MAX (1u << 20)     /* the machine description's JSON */
#define MIG_ERROR_MAX 512             /* an error record's text */
#define MIG_ROUND_END_SIZE 24         /* pages, zero pages, CRC-64 of the stream before this record */

enum mig_type {
	MIG_HELLO = 1,      /* arg: RAM bytes; payload: the fixed part, then the machine-config JSON */
	MIG_PAGE = 2,       /* arg: byte offset in RAM; payload: 4096 bytes */
	MIG_ZERO = 3,       /* arg: byte offset in RAM; no payload: the page is all zeros */
	MIG_ROUND_END = 4,  /* arg: round number (1, 2, ...); payload: counts and CRC */
	MIG_STATE = 5,      /* payload: devices and vCPUs as a snapshot file's bytes (docs/SNAPSHOT.md) */
	MIG_READY = 6,      /* destination: restored, waiting for GO; arg: its restore time in ns */
	MIG_GO = 7,         /* source: it will never run the VM again; the destination runs it */
	MIG_ERROR = 8,      /* either side: the migration is off; payload: why (text) */
};

struct mig_header {
	uint32_t type;
	uint32_t size;
	uint64_t arg;
};

/* Where a destination listens / a source connects: "unix:/path" or "tcp:HOST:PORT" ("tcp:[v6]:PORT"). */
struct mig_addr {
	bool tcp;
	char path[108];   /* unix */
	char host[256];   /* tcp */
	char port[8];
};

int mig_addr_parse(const char *text, struct mig_addr *out, struct vmon_error *err);
/* A listening socket (a stale UNIX socket file is replaced), or a connected one; the fd or a negative errno. */
int mig_listen(const struct mig_addr *a, struct vmon_error *err);
int mig_connect(const struct mig_addr *a, struct vmon_error *err);

/*
 * One end of the stream over a connected socket (made nonblocking). Every
 * wait polls the socket together with abort_fd (>= 0: readable means give
 * up, e.g. a signalfd) and *cancel (non-NULL: true means give up), and fails
 * after stall_ms without progress.
 */
struct mig_stream {
	int fd;
	int abort_fd;
	const atomic_bool *cancel;
	unsigned stall_ms;
	uint8_t *wbuf;
	size_t wlen;
	uint8_t *rbuf;
	size_t rpos, rlen;
	uint64_t crc_out, crc_in;
	uint64_t crc_in_before;          /* crc_in before the last header read: what a ROUND_END covers */
	uint64_t bytes_out, bytes_in;
};

int mig_stream_init(struct mig_stream *s, int fd, int abort_fd, const atomic_bool *cancel, unsigned stall_ms,
		    struct vmon_error *err);
/* Frees the buffers and closes the socket. */
void mig_stream_close(struct mig_stream *s);

int mig_write_preamble(struct mig_stream *s, struct vmon_error *err);
int mig_read_preamble(struct mig_stream *s, struct vmon_error *err);
/* Queues one record (flushed when the buffer fills or by mig_flush). */
int mig_write_record(struct mig_stream *s, uint32_t type, uint64_t arg, const void *payload, uint32_t size,
		     struct vmon_error *err);
int mig_flush(struct mig_stream *s, struct vmon_error *err);
/* A ROUND_END with the CRC of everything written before it. */
int mig_write_round_end(struct mig_stream *s, uint64_t round, uint64_t pages, uint64_t zero_pages,
			struct vmon_error *err);

/*
 * The next record's header, checked (mig_header_check with ram_size); then
 * exactly h->size payload bytes must be read with mig_read_payload.
 */
int mig_read_header(struct mig_stream *s, struct mig_header *h, uint64_t ram_size, struct vmon_error *err);
int mig_read_payload(struct mig_stream *s, void *buf, size_t size, struct vmon_error *err);
/* A ROUND_END's payload, checked against the counts the reader saw and the stream's CRC. */
int mig_check_round_end(const struct mig_stream *s, const struct mig_header *h, const uint8_t *payload,
			uint64_t want_round, uint64_t pages, uint64_t zero_pages, struct vmon_error *err);

/*
 * Whether a header obeys the protocol: a known type, the size its type
 * allows, a page offset 4 KiB aligned inside ram_size (0: no HELLO yet, so
 * no page may come). 0 or -EPROTO naming what is wrong.
 */
int mig_header_check(const struct mig_header *h, uint64_t ram_size, struct vmon_error *err);

void mig_put32(uint8_t *p, uint32_t v);
void mig_put64(uint8_t *p, uint64_t v);
uint32_t mig_get32(const uint8_t *p);
uint64_t mig_get64(const uint8_t *p);

#endif
