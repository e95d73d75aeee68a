/* SPDX-License-Identifier: MIT */
#include "snapshot/migration_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lzma.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/guest_mem.h"
#include "base/unix_socket.h"
#include "snapshot/snapshot_file.h"

#define WBUF_SIZE (256u << 10)
#define RBUF_SIZE (256u << 10)
#define POLL_SLICE_MS 50

void mig_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void mig_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t mig_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t mig_get64(const uint8_t *p)
{
	return (uint64_t)mig_get32(p) | (uint64_t)mig_get32(p + 4) << 32;
}

/* ---- addresses and sockets ---------------------------------------------------- */

int mig_addr_parse(const char *text, struct mig_addr *out, struct vmon_error *err)
{
	memset(out, 0, sizeof(*out));
	if (!strncmp(text, "unix:", 5)) {
		const char *path = text + 5;
		if (!path[0])
			return error_set(err, -EINVAL, "address '%s': no socket path after unix:", text);
		if (strlen(path) >= sizeof(out->path))
			return error_set(err, -ENAMETOOLONG, "address '%s': a UNIX socket path has at most %zu bytes",
					 text, sizeof(out->path) - 1);
		strcpy(out->path, path);
		return 0;
	}
	if (strncmp(text, "tcp:", 4))
		return error_set(err, -EINVAL, "address '%s': expected unix:PATH or tcp:HOST:PORT", text);
	const char *host = text + 4, *colon = strrchr(host, ':');
	if (!colon || colon == host || !colon[1])
		return error_set(err, -EINVAL, "address '%s': expected tcp:HOST:PORT", text);
	size_t hlen = (size_t)(colon - host);
	if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {   /* tcp:[::1]:4444 */
		host++;
		hlen -= 2;
	}
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port == 0 || port > 65535 || colon[1] == '-' || colon[1] == '+')
		return error_set(err, -EINVAL, "address '%s': port '%s' is not a number from 1 to 65535", text, colon + 1);
	if (hlen == 0 || hlen >= sizeof(out->host))
		return error_set(err, -EINVAL, "address '%s': bad host", text);
	out->tcp = true;
	memcpy(out->host, host, hlen);
	snprintf(out->port, sizeof(out->port), "%lu", port);
	return 0;
}

static int unix_addr(const struct mig_addr *a, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, a->path, strlen(a->path) + 1);
	return 0;
}

static int tcp_socket(const struct mig_addr *a, bool listening, struct vmon_error *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = listening ? AI_PASSIVE : 0 }, *res, *ai;
	int fd = -1, e = 0, one = 1;
	int r = getaddrinfo(a->host, a->port, &hints, &res);

	if (r)
		return error_set(err, -EINVAL, "tcp:%s:%s: %s", a->host, a->port, gai_strerror(r));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (listening) {
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (!bind(fd, ai->ai_addr, ai->ai_addrlen) && !listen(fd, 1))
				break;
		} else if (!connect(fd, ai->ai_addr, ai->ai_addrlen)) {
			/* Pages go out in 16-byte-header records: no Nagle delay on the last ones. */
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			break;
		}
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return error_set(err, -e, "tcp:%s:%s: %s: %s", a->host, a->port, listening ? "listen" : "connect",
				 strerror(e));
	return fd;
}

int mig_listen(const struct mig_addr *a, struct vmon_error *err)
{
	struct sockaddr_un sun;
	int fd;

	if (a->tcp)
		return tcp_socket(a, true, err);
	unix_addr(a, &sun);
	/* A socket file left by an earlier run is replaced; a live one or anything else at the path is refused. */
	if ((fd = unix_socket_clear_stale(a->path, &sun, err))) {
		error_prefix(err, "unix");
		return fd;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, -errno, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) || listen(fd, 1)) {
		int e = errno;
		close(fd);
		return error_set(err, -e, "unix:%s: %s", a->path, strerror(e));
	}
	return fd;
}

int mig_connect(const struct mig_addr *a, struct vmon_error *err)
{
	struct sockaddr_un sun;
	int fd;

	if (a->tcp)
		return tcp_socket(a, false, err);
	unix_addr(a, &sun);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, -errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		int e = errno;
		close(fd);
		return error_set(err, -e, "unix:%s: connect: %s", a->path, strerror(e));
	}
	return fd;
}

/* ---- the buffered stream --------------------------------------------------------- */

int mig_stream_init(struct mig_stream *s, int fd, int abort_fd, const atomic_bool *cancel, unsigned stall_ms,
		    struct vmon_error *err)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->abort_fd = abort_fd;
	s->cancel = cancel;
	s->stall_ms = stall_ms;
	s->wbuf = malloc(WBUF_SIZE);
	s->rbuf = malloc(RBUF_SIZE);
	if (!s->wbuf || !s->rbuf) {
		free(s->wbuf);
		free(s->rbuf);
		s->wbuf = s->rbuf = NULL;
		return error_set(err, -ENOMEM, "out of memory");
	}
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return error_set(err, -errno, "fcntl O_NONBLOCK: %s", strerror(errno));
	return 0;
}

void mig_stream_close(struct mig_stream *s)
{
	free(s->wbuf);
	free(s->rbuf);
	s->wbuf = s->rbuf = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* Waits until fd has events, or fails: cancelled, aborted, no progress for stall_ms. */
static int wait_fd(struct mig_stream *s, short events, struct vmon_error *err)
{
	struct pollfd fds[2] = { { .fd = s->fd, .events = events }, { .fd = s->abort_fd, .events = POLLIN } };
	unsigned waited = 0;

	for (;;) {
		if (s->cancel && atomic_load(s->cancel))
			return error_set(err, -ECANCELED, "cancelled");
		int n = poll(fds, s->abort_fd >= 0 ? 2 : 1, POLL_SLICE_MS);
		if (n < 0 && errno != EINTR)
			return error_set(err, -errno, "poll: %s", strerror(errno));
		if (n > 0 && s->abort_fd >= 0 && fds[1].revents)
			return error_set(err, -EINTR, "interrupted by a signal");
		if (n > 0 && fds[0].revents)
			return 0;   /* readable, writable, or an error the next read/write reports */
		waited += POLL_SLICE_MS;
		if (s->stall_ms && waited >= s->stall_ms)
			return error_set(err, -ETIMEDOUT, "the other side made no progress for %u ms", s->stall_ms);
	}
}

static int send_all(struct mig_stream *s, const uint8_t *p, size_t n, struct vmon_error *err)
{
	while (n) {
		ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(s, POLLOUT, err);
			if (r)
				return r;
			continue;
		}
		return error_set(err, w < 0 ? -errno : -EPIPE, "sending: %s", w < 0 ? strerror(errno) : "connection closed");
	}
	return 0;
}

int mig_flush(struct mig_stream *s, struct vmon_error *err)
{
	int r = send_all(s, s->wbuf, s->wlen, err);

	s->wlen = 0;
	return r;
}

/*
 * The checksum is taken over the copy in the buffer, never over p: p is
 * guest RAM that a running vCPU may write at any moment, and a page written
 * between the checksum and the copy would reach the destination as a
 * damaged stream (the page itself is dirty again and goes in a later round).
 */
static int put_bytes(struct mig_stream *s, const void *p, size_t n, struct vmon_error *err)
{
	const uint8_t *src = p;

	s->bytes_out += n;
	while (n) {
		if (s->wlen == WBUF_SIZE) {
			int r = mig_flush(s, err);
			if (r)
				return r;
		}
		size_t chunk = n < WBUF_SIZE - s->wlen ? n : WBUF_SIZE - s->wlen;
		memcpy(s->wbuf + s->wlen, src, chunk);
		s->crc_out = lzma_crc64(s->wbuf + s->wlen, chunk, s->crc_out);
		s->wlen += chunk;
		src += chunk;
		n -= chunk;
	}
	return 0;
}

int mig_write_preamble(struct mig_stream *s, struct vmon_error *err)
{
	uint8_t p[MIG_PREAMBLE_SIZE] = { 0 };

	memcpy(p, MIG_MAGIC, 8);
	mig_put32(p + 8, MIG_VERSION);
	return put_bytes(s, p, sizeof(p), err);
}

int mig_write_record(struct mig_stream *s, uint32_t type, uint64_t arg, const void *payload, uint32_t size,
		     struct vmon_error *err)
{
	uint8_t h[MIG_HEADER_SIZE];
	int r;

	mig_put32(h, type);
	mig_put32(h + 4, size);
	mig_put64(h + 8, arg);
	if ((r = put_bytes(s, h, sizeof(h), err)))
		return r;
	return size ? put_bytes(s, payload, size, err) : 0;
}

int mig_write_round_end(struct mig_stream *s, uint64_t round, uint64_t pages, uint64_t zero_pages,
			struct vmon_error *err)
{
	uint8_t p[MIG_ROUND_END_SIZE];

	mig_put64(p, pages);
	mig_put64(p + 8, zero_pages);
	mig_put64(p + 16, s->crc_out);
	return mig_write_record(s, MIG_ROUND_END, round, p, sizeof(p), err);
}

static int get_bytes(struct mig_stream *s, void *buf, size_t n, struct vmon_error *err)
{
	uint8_t *dst = buf;
	size_t want = n;

	while (n) {
		if (s->rpos < s->rlen) {
			size_t k = s->rlen - s->rpos < n ? s->rlen - s->rpos : n;
			memcpy(dst, s->rbuf + s->rpos, k);
			s->rpos += k;
			dst += k;
			n -= k;
			continue;
		}
		ssize_t got = recv(s->fd, s->rbuf, RBUF_SIZE, 0);
		if (got > 0) {
			s->rpos = 0;
			s->rlen = (size_t)got;
			continue;
		}
		if (got == 0)
			return error_set(err, -EPIPE, "the stream ended after %" PRIu64 " bytes (the other side went away)",
					 s->bytes_in + (want - n));
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int r = wait_fd(s, POLLIN, err);
			if (r)
				return r;
			continue;
		}
		return error_set(err, -errno, "receiving: %s", strerror(errno));
	}
	s->crc_in = lzma_crc64(buf, want, s->crc_in);
	s->bytes_in += want;
	return 0;
}

int mig_read_preamble(struct mig_stream *s, struct vmon_error *err)
{
	uint8_t p[MIG_PREAMBLE_SIZE];
	int r;

	if ((r = get_bytes(s, p, sizeof(p), err)))
		return r;
	if (memcmp(p, MIG_MAGIC, 8))
		return error_set(err, -EPROTO, "not a vmon migration stream (bad magic)");
	uint32_t version = mig_get32(p + 8);
	if (version != MIG_VERSION)
		return error_set(err, -EPROTONOSUPPORT, "migration protocol version %" PRIu32 " (this vmon speaks %u)",
				 version, MIG_VERSION);
	if (mig_get32(p + 12))
		return error_set(err, -EPROTO, "unknown stream flags 0x%" PRIx32, mig_get32(p + 12));
	return 0;
}

int mig_header_check(const struct mig_header *h, uint64_t ram_size, struct vmon_error *err)
{
	switch (h->type) {
	case MIG_HELLO:
		if (h->size < MIG_HELLO_FIXED || h->size > MIG_HELLO_FIXED + MIG_CONFIG_MAX)
			return error_set(err, -EPROTO, "hello of %" PRIu32 " bytes (expected %u to %u)", h->size,
					 MIG_HELLO_FIXED, MIG_HELLO_FIXED + MIG_CONFIG_MAX);
		if (h->arg < GUEST_MEM_MIN || h->arg > GUEST_MEM_MAX || h->arg % MIG_PAGE_SIZE)
			return error_set(err, -EPROTO, "hello: RAM of %" PRIu64 " bytes (4 KiB pages, %llu MiB to %llu TiB)",
					 h->arg, GUEST_MEM_MIN >> 20, GUEST_MEM_MAX >> 40);
		return 0;
	case MIG_PAGE:
	case MIG_ZERO:
		if (h->size != (h->type == MIG_PAGE ? MIG_PAGE_SIZE : 0))
			return error_set(err, -EPROTO, "%s record of %" PRIu32 " bytes", h->type == MIG_PAGE ? "page" :
					 "zero-page", h->size);
		if (!ram_size)
			return error_set(err, -EPROTO, "a page before the hello");
		if (h->arg % MIG_PAGE_SIZE || h->arg >= ram_size)
			return error_set(err, -EPROTO, "page at offset 0x%" PRIx64 ": not a 4 KiB page of the %" PRIu64
					 " bytes of RAM", h->arg, ram_size);
		return 0;
	case MIG_ROUND_END:
		if (h->size != MIG_ROUND_END_SIZE)
			return error_set(err, -EPROTO, "round end of %" PRIu32 " bytes (expected %u)", h->size,
					 MIG_ROUND_END_SIZE);
		return 0;
	case MIG_STATE:
		if (h->size == 0 || h->size > SNAPSHOT_MAX_FILE || h->arg)
			return error_set(err, -EPROTO, "state record of %" PRIu32 " bytes, argument %" PRIu64
					 " (expected 1 to %u bytes, 0)", h->size, h->arg, SNAPSHOT_MAX_FILE);
		return 0;
	case MIG_READY:
	case MIG_GO:
		if (h->size)
			return error_set(err, -EPROTO, "%s record with %" PRIu32 " payload bytes",
					 h->type == MIG_GO ? "go" : "ready", h->size);
		return 0;
	case MIG_ERROR:
		if (h->size > MIG_ERROR_MAX)
			return error_set(err, -EPROTO, "error record of %" PRIu32 " bytes (at most %u)", h->size,
					 MIG_ERROR_MAX);
		return 0;
	}
	return error_set(err, -EPROTO, "unknown record type %" PRIu32, h->type);
}

int mig_read_header(struct mig_stream *s, struct mig_header *h, uint64_t ram_size, struct vmon_error *err)
{
	uint8_t b[MIG_HEADER_SIZE];
	int r;

	s->crc_in_before = s->crc_in;
	if ((r = get_bytes(s, b, sizeof(b), err)))
		return r;
	h->type = mig_get32(b);
	h->size = mig_get32(b + 4);
	h->arg = mig_get64(b + 8);
	return mig_header_check(h, ram_size, err);
}

int mig_read_payload(struct mig_stream *s, void *buf, size_t size, struct vmon_error *err)
{
	return get_bytes(s, buf, size, err);
}

int mig_check_round_end(const struct mig_stream *s, const struct mig_header *h, const uint8_t *payload,
			uint64_t want_round, uint64_t pages, uint64_t zero_pages, struct vmon_error *err)
{
	uint64_t sent = mig_get64(payload), sent_zero = mig_get64(payload + 8), crc = mig_get64(payload + 16);

	if (h->arg != want_round)
		return error_set(err, -EPROTO, "round end %" PRIu64 " where round %" PRIu64 " ends", h->arg, want_round);
	if (sent != pages || sent_zero != zero_pages)
		return error_set(err, -EPROTO, "round %" PRIu64 ": the source sent %" PRIu64 " pages (%" PRIu64
				 " zero), %" PRIu64 " (%" PRIu64 ") arrived", h->arg, sent, sent_zero, pages, zero_pages);
	if (crc != s->crc_in_before)
		return error_set(err, -EBADMSG, "round %" PRIu64 ": stream checksum mismatch (sent CRC-64 %016" PRIx64
				 ", received bytes give %016" PRIx64 "): the stream is damaged", h->arg, crc,
				 s->crc_in_before);
	return 0;
}
