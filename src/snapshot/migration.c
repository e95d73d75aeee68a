/* SPDX-License-Identifier: MIT */
#include "snapshot/migration.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "snapshot/machine_config.h"
#include "snapshot/snapshot.h"
#include "vmm/dirty.h"

#define CHECK_EVERY_PAGES 1024      /* how often a round looks at cancel and the VM's stop */
#define IMAGE_RELOCK_TRIES 500     /* 10 ms apart: how long a failed source waits for the destination to let go */
#define REPLY_STALL_MS 200          /* how long a failing side waits to read the other's error record */

static const uint8_t zero_page[MIG_PAGE_SIZE];

static double ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Tells the other side why, best effort (the stream may be what failed). */
static void send_error(struct mig_stream *s, const char *why)
{
	struct vmon_error ignored = { 0 };
	size_t n = strnlen(why, MIG_ERROR_MAX);

	s->stall_ms = REPLY_STALL_MS;
	if (!mig_write_record(s, MIG_ERROR, 0, why, (uint32_t)n, &ignored))
		mig_flush(s, &ignored);
}

/* An ERROR record the other side may have sent before it hung up: its text appended to err. */
static void append_peer_error(struct mig_stream *s, uint64_t ram_size, struct vmon_error *err)
{
	struct vmon_error ignored = { 0 };
	struct mig_header h;
	char why[MIG_ERROR_MAX + 1];

	s->stall_ms = REPLY_STALL_MS;
	for (int i = 0; i < 4; i++) {   /* skip what the peer had queued before its error (a READY, say) */
		if (mig_read_header(s, &h, ram_size, &ignored))
			return;
		if (h.type == MIG_ERROR)
			break;
		if (h.size)
			return;
	}
	if (h.type != MIG_ERROR || mig_read_payload(s, why, h.size, &ignored))
		return;
	why[h.size] = '\0';
	size_t used = strlen(err->msg);
	snprintf(err->msg + used, sizeof(err->msg) - used, " (the other side: %s)", why);
}

/* ---- source ------------------------------------------------------------------ */

struct source {
	struct machine *m;
	struct vm *vm;
	struct mig_stream s;
	const atomic_bool *cancel;
	uint8_t *ram;
	uint64_t npages, words;
	uint64_t *bitmap;
	struct migration_stats *stats;
};

static int write_hello(struct source *src, struct vmon_error *err)
{
	struct snapshot_cpu cpu;
	char *config = snapshot_config_encode(src->m->cfg);
	uint8_t *p;
	size_t len;
	int r;

	if (!config)
		return error_set(err, -ENOMEM, "out of memory");
	len = strlen(config);
	if (len > MIG_CONFIG_MAX || !(p = calloc(1, MIG_HELLO_FIXED + len))) {
		free(config);
		return error_set(err, -ENOMEM, "machine description of %zu bytes: too large or out of memory", len);
	}
	snapshot_host_cpu(&cpu);
	mig_put32(p, src->vm->ncpus);
	mig_put32(p + 4, MIG_PAGE_SIZE);
	snprintf((char *)p + 8, 32, "%s", VMON_VERSION);
	memcpy(p + 40, cpu.vendor, 12);
	mig_put32(p + 52, cpu.family);
	mig_put32(p + 56, cpu.model);
	mig_put32(p + 60, cpu.stepping);
	memcpy(p + MIG_HELLO_FIXED, config, len);
	r = mig_write_preamble(&src->s, err);
	if (!r)
		r = mig_write_record(&src->s, MIG_HELLO, src->vm->mem.ram_size, p, (uint32_t)(MIG_HELLO_FIXED + len), err);
	free(p);
	free(config);
	return r;
}

/* One round: every page set in the bitmap, then the round's end. */
static int send_round(struct source *src, unsigned round, uint64_t *sent, struct vmon_error *err)
{
	uint64_t pages = 0, zeros = 0;
	int r;

	for (uint64_t w = 0; w < src->words; w++) {
		for (uint64_t bits = src->bitmap[w]; bits; bits &= bits - 1) {
			uint64_t page = w * 64 + (uint64_t)__builtin_ctzll(bits);
			if (page >= src->npages)
				break;
			const uint8_t *p = src->ram + page * MIG_PAGE_SIZE;
			bool zero = !memcmp(p, zero_page, MIG_PAGE_SIZE);
			if ((r = mig_write_record(&src->s, zero ? MIG_ZERO : MIG_PAGE, page * MIG_PAGE_SIZE, zero ? NULL : p,
						  zero ? 0 : MIG_PAGE_SIZE, err)))
				return r;
			pages++;
			zeros += zero;
			if (pages % CHECK_EVERY_PAGES == 0) {
				if (atomic_load(src->cancel))
					return error_set(err, -ECANCELED, "cancelled");
				if (vm_stopping(src->vm))
					return error_set(err, -ESHUTDOWN, "the VM stopped during the migration");
			}
		}
	}
	if ((r = mig_write_round_end(&src->s, round, pages, zeros, err)) || (r = mig_flush(&src->s, err)))
		return r;
	src->stats->pages += pages;
	src->stats->zero_pages += zeros;
	*sent = pages;
	return 0;
}

static uint64_t count_dirty(const struct source *src)
{
	uint64_t n = 0;

	for (uint64_t w = 0; w < src->words; w++)
		n += (uint64_t)__builtin_popcountll(src->bitmap[w]);
	return n;
}

static int fetch_dirty(struct source *src, struct vmon_error *err)
{
	memset(src->bitmap, 0, src->words * sizeof(uint64_t));
	return vm_dirty_log_fetch(src->vm, src->bitmap, err);
}

/* The destination's answer to the state: READY (its restore time in ns), or its ERROR. */
static int wait_ready(struct source *src, uint64_t *restore_ns, struct vmon_error *err)
{
	struct mig_header h;
	char why[MIG_ERROR_MAX + 1];
	int r;

	if ((r = mig_read_header(&src->s, &h, src->vm->mem.ram_size, err)))
		return r;
	if (h.type == MIG_READY) {
		*restore_ns = h.arg;
		return 0;
	}
	if (h.type == MIG_ERROR && !mig_read_payload(&src->s, why, h.size, err)) {
		why[h.size] = '\0';
		return error_set(err, -EREMOTEIO, "the destination refused the machine: %s", why);
	}
	return error_set(err, -EPROTO, "the destination answered with a record of type %" PRIu32 ", not READY", h.type);
}

static int run_source(struct source *src, unsigned downtime_ms, struct vmon_error *err, bool *paused)
{
	struct migration_stats *st = src->stats;
	uint64_t prev_dirty = src->npages, sent, restore_ns = 0;
	unsigned stalled = 0;
	struct timespec t_pause;
	uint8_t *state = NULL;
	size_t state_size;
	int r;

	if ((r = write_hello(src, err)) || (r = vm_dirty_log_start(src->vm, err)))
		return r;
	/* Round 1: all of RAM. */
	memset(src->bitmap, 0xff, src->words * sizeof(uint64_t));
	for (unsigned round = 1;; round++) {
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if ((r = send_round(src, round, &sent, err)))
			return r;
		double round_ms = ms_since(&t0);
		if ((r = fetch_dirty(src, err)))
			return r;
		uint64_t dirty = count_dirty(src);
		/* What the final round would take at this round's pace (pages per ms, zero markers included). */
		double est_ms = sent ? (double)dirty * round_ms / (double)sent : 0;
		stalled = dirty * 100 >= prev_dirty * 95 ? stalled + 1 : 0;
		log_info("migration: round %u: %" PRIu64 " pages in %.1f ms; %" PRIu64 " dirty since, about %.1f ms to send",
			 round, sent, round_ms, dirty, est_ms);
		st->rounds = round;
		if (dirty == 0 || est_ms <= downtime_ms || round >= MIGRATION_MAX_ROUNDS || stalled >= MIGRATION_STALL_ROUNDS)
			break;
		prev_dirty = dirty;
	}
	/* The final round: the VM stands still from here until GO (or resumes on a failure). */
	clock_gettime(CLOCK_MONOTONIC, &t_pause);
	vm_pause(src->vm);
	*paused = true;
	/* Nothing writes the images from here (the pause completed the requests): the destination takes them. */
	vm_unlock_images(src->vm);
	uint64_t *pre = malloc(src->words * sizeof(uint64_t));
	if (!pre)
		return error_set(err, -ENOMEM, "out of memory");
	memcpy(pre, src->bitmap, src->words * sizeof(uint64_t));
	r = fetch_dirty(src, err);   /* the pages written after the last fetch, on top of those found then */
	for (uint64_t w = 0; w < src->words; w++)
		src->bitmap[w] |= pre[w];
	free(pre);
	if (r || (r = send_round(src, ++st->rounds, &st->final_pages, err)))
		return r;
	if ((r = snapshot_state_encode(src->m, &state, &state_size, err)))
		return r;
	r = mig_write_record(&src->s, MIG_STATE, 0, state, (uint32_t)state_size, err);
	free(state);
	if (r || (r = mig_flush(&src->s, err)) || (r = wait_ready(src, &restore_ns, err)))
		return r;
	if (atomic_load(src->cancel))
		return error_set(err, -ECANCELED, "cancelled");
	if ((r = mig_write_record(&src->s, MIG_GO, 0, NULL, 0, err)) || (r = mig_flush(&src->s, err)))
		return r;
	st->downtime_ms = ms_since(&t_pause);
	st->dest_restore_ms = (double)restore_ns / 1e6;
	return 0;
}

/*
 * A failed migration's source takes its images' locks back. A destination that took them lets go when
 * it exits, which may come a little after the source saw the failure: retried for a while. The VM
 * carries on even without them (it still owns the disks: the destination never ran).
 */
static void take_back_images(struct vm *vm)
{
	struct vmon_error err = { 0 };

	for (int i = 0; vm_lock_images(vm, &err); i++) {
		if (i == IMAGE_RELOCK_TRIES) {
			log_warn("migration: the disk images stay unlocked: %s", err.msg);
			return;
		}
		struct timespec pause = { 0, 10 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
}

int migration_send(struct machine *m, int fd, unsigned downtime_ms, const atomic_bool *cancel,
		   struct migration_stats *stats, struct vmon_error *err)
{
	struct source src = { .m = m, .vm = m->vm, .cancel = cancel, .stats = stats };
	struct timespec t0;
	bool paused = false;
	int r;

	memset(stats, 0, sizeof(*stats));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!src.vm) {
		close(fd);
		return error_set(err, -EINVAL, "no running machine to migrate");
	}
	if ((r = mig_stream_init(&src.s, fd, -1, cancel, MIGRATION_STALL_MS, err))) {
		mig_stream_close(&src.s);
		return r;
	}
	src.ram = src.vm->mem.regions[0].host;   /* guest RAM is one contiguous host range */
	src.npages = src.vm->mem.ram_size / MIG_PAGE_SIZE;
	src.words = (src.npages + 63) / 64;
	src.bitmap = calloc(src.words, sizeof(uint64_t));
	if (!src.bitmap)
		r = error_set(err, -ENOMEM, "out of memory for the dirty bitmap");
	else
		r = run_source(&src, downtime_ms, err, &paused);
	if (r) {
		if (r == -EPIPE || r == -ECONNRESET)
			append_peer_error(&src.s, src.vm->mem.ram_size, err);
		else if (r != -EREMOTEIO)
			send_error(&src.s, err->msg);
	}
	stats->bytes = src.s.bytes_out;
	stats->total_ms = ms_since(&t0);
	if (vm_dirty_log_active(src.vm))
		vm_dirty_log_stop(src.vm);
	if (r && paused) {
		take_back_images(src.vm);
		vm_resume(src.vm);   /* before GO the source still owns the VM: it carries on */
	}
	free(src.bitmap);
	mig_stream_close(&src.s);
	return r;
}

/* ---- destination ----------------------------------------------------------------- */

static int accept_one(int listen_fd, int abort_fd, struct vmon_error *err)
{
	struct pollfd fds[2] = { { .fd = listen_fd, .events = POLLIN }, { .fd = abort_fd, .events = POLLIN } };

	for (;;) {
		int n = poll(fds, abort_fd >= 0 ? 2 : 1, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_set(err, -errno, "poll: %s", strerror(errno));
		if (abort_fd >= 0 && fds[1].revents)
			return error_set(err, -EINTR, "interrupted by a signal while waiting for the source");
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			return fd;
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			return error_set(err, -errno, "accept: %s", strerror(errno));
	}
}

static int read_hello(struct migration_recv *r, struct vm_config *cfg, struct vmon_error *err)
{
	struct snapshot_cpu saved = { 0 }, host;
	struct mig_header h;
	uint8_t *p;
	char warning[192] = "";
	int rc;

	if ((rc = mig_read_preamble(&r->stream, err)) || (rc = mig_read_header(&r->stream, &h, 0, err)))
		return rc;
	if (h.type != MIG_HELLO)
		return error_set(err, -EPROTO, "the stream starts with a record of type %" PRIu32 ", not the hello", h.type);
	if (!(p = malloc(h.size + 1)))
		return error_set(err, -ENOMEM, "out of memory");
	if ((rc = mig_read_payload(&r->stream, p, h.size, err)))
		goto out;
	p[h.size] = '\0';
	uint32_t vcpus = mig_get32(p), page_size = mig_get32(p + 4);
	memcpy(saved.vendor, p + 40, 12);
	saved.family = mig_get32(p + 52);
	saved.model = mig_get32(p + 56);
	saved.stepping = mig_get32(p + 60);
	if (page_size != MIG_PAGE_SIZE) {
		rc = error_set(err, -EPROTO, "hello: pages of %" PRIu32 " bytes (this vmon: %u)", page_size, MIG_PAGE_SIZE);
		goto out;
	}
	if (strnlen((char *)p + 8, 32) == 32) {
		rc = error_set(err, -EPROTO, "hello: the source's version is not NUL-terminated");
		goto out;
	}
	snapshot_host_cpu(&host);
	if ((rc = snapshot_cpu_check(&saved, &host, warning, sizeof(warning), err)))
		goto out;
	if (warning[0])
		log_warn("migration: %s", warning);
	if (strlen((char *)p + MIG_HELLO_FIXED) != h.size - MIG_HELLO_FIXED) {
		rc = error_set(err, -EPROTO, "hello: the machine description contains a NUL byte");
		goto out;
	}
	if (!(r->config_text = strdup((char *)p + MIG_HELLO_FIXED))) {
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = snapshot_config_decode(r->config_text, cfg, err)))
		goto out;
	if (cfg->mem_size != h.arg || cfg->ncpus != vcpus) {
		rc = error_set(err, -EPROTO, "hello: the machine description (%" PRIu64 " bytes, %u vCPUs) disagrees "
			       "with the hello (%" PRIu64 " bytes, %" PRIu32 " vCPUs)", (uint64_t)cfg->mem_size,
			       cfg->ncpus, h.arg, vcpus);
		goto out;
	}
	/* The source holds the images' locks until its final pause: taken before READY (receive_stream). */
	for (unsigned i = 0; i < cfg->ndrives; i++)
		cfg->drives[i].lock_later = true;
	r->ram_size = h.arg;
	log_info("migration: from vmon %s: %" PRIu64 " MiB, %" PRIu32 " vCPUs", (char *)p + 8, h.arg >> 20, vcpus);
out:
	free(p);
	return rc;
}

int migration_recv_accept(struct migration_recv *r, int listen_fd, int abort_fd, struct vm_config *cfg,
			  struct vmon_error *err)
{
	int fd, rc;

	memset(r, 0, sizeof(*r));
	r->stream.fd = -1;
	if ((fd = accept_one(listen_fd, abort_fd, err)) < 0)
		return fd;
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	rc = mig_stream_init(&r->stream, fd, abort_fd, NULL, MIGRATION_STALL_MS, err);
	r->connected = true;
	if (!rc)
		rc = read_hello(r, cfg, err);
	if (rc)
		send_error(&r->stream, err->msg);
	return rc;
}

/* The state record: verified as a snapshot file is, the same machine as the hello's, restored. */
static int receive_state(struct migration_recv *r, struct machine *m, const struct mig_header *h,
			 struct vmon_error *err)
{
	struct snapshot_desc desc;
	const struct snapshot_section *cfg_section;
	uint8_t *buf = malloc(h->size);
	int rc;

	if (!buf)
		return error_set(err, -ENOMEM, "out of memory for %" PRIu32 " bytes of state", h->size);
	if ((rc = mig_read_payload(&r->stream, buf, h->size, err))) {
		free(buf);
		return rc;
	}
	if ((rc = snapshot_decode(buf, h->size, &desc, err))) {
		error_prefix(err, "the machine state");
		return rc;
	}
	cfg_section = snapshot_find(&desc, SNAPSHOT_SECTION_CONFIG);
	if (desc.ram_size != r->ram_size || !cfg_section || cfg_section->size != strlen(r->config_text) ||
	    memcmp(cfg_section->data, r->config_text, cfg_section->size))
		rc = error_set(err, -EPROTO, "the machine state describes another machine than the hello");
	else
		rc = snapshot_restore_state(m, &desc, err);
	snapshot_desc_free(&desc);
	return rc;
}

/* Pages, round ends and the state, up to READY sent and GO received. */
static int receive_stream(struct migration_recv *r, struct machine *m, struct migration_stats *st,
			  struct vmon_error *err)
{
	uint8_t *ram = m->vm->mem.regions[0].host;
	uint64_t npages = r->ram_size / MIG_PAGE_SIZE, pages = 0, zeros = 0;
	uint64_t *written = calloc((npages + 63) / 64, sizeof(uint64_t));   /* pages not known to be zero */
	uint8_t payload[MIG_ROUND_END_SIZE];
	char why[MIG_ERROR_MAX + 1];
	struct mig_header h;
	unsigned round = 1;
	bool restored = false;
	int rc = 0;

	if (!written)
		return error_set(err, -ENOMEM, "out of memory");
	while (!rc) {
		if ((rc = mig_read_header(&r->stream, &h, r->ram_size, err)))
			break;
		uint64_t page = h.arg / MIG_PAGE_SIZE;
		switch (restored ? (h.type == MIG_GO || h.type == MIG_ERROR ? h.type : 0) : h.type) {
		case MIG_PAGE:
			rc = mig_read_payload(&r->stream, ram + h.arg, MIG_PAGE_SIZE, err);
			written[page / 64] |= 1ull << (page % 64);
			pages++;
			break;
		case MIG_ZERO:
			/* Fresh anonymous RAM reads as zeros: only a page written earlier needs clearing. */
			if (written[page / 64] & (1ull << (page % 64))) {
				memset(ram + h.arg, 0, MIG_PAGE_SIZE);
				written[page / 64] &= ~(1ull << (page % 64));
			}
			pages++;
			zeros++;
			break;
		case MIG_ROUND_END:
			if (!(rc = mig_read_payload(&r->stream, payload, sizeof(payload), err)) &&
			    !(rc = mig_check_round_end(&r->stream, &h, payload, round, pages, zeros, err))) {
				st->pages += pages;
				st->zero_pages += zeros;
				st->final_pages = pages;
				st->rounds = round++;
				pages = zeros = 0;
			}
			break;
		case MIG_STATE: {
			struct timespec t0;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			if (round == 1 || pages) {
				rc = error_set(err, -EPROTO, "the state arrived inside a round (round %u, %" PRIu64 " pages)",
					       round, pages);
				break;
			}
			if ((rc = receive_state(r, m, &h, err)))
				break;
			/* The source let go of the images when it paused for the final round. */
			if ((rc = vm_lock_images(m->vm, err))) {
				error_prefix(err, "taking over the disk images");
				break;
			}
			restored = true;
			st->dest_restore_ms = ms_since(&t0);
			uint64_t ns = (uint64_t)(st->dest_restore_ms * 1e6);
			if (!(rc = mig_write_record(&r->stream, MIG_READY, ns, NULL, 0, err)))
				rc = mig_flush(&r->stream, err);
			break;
		}
		case MIG_GO:
			free(written);
			return 0;
		case MIG_ERROR:
			if (!(rc = mig_read_payload(&r->stream, why, h.size, err))) {
				why[h.size] = '\0';
				rc = error_set(err, -ECANCELED, "the source gave up: %s", why);
			}
			free(written);
			return rc;
		default:
			rc = error_set(err, -EPROTO, "a record of type %" PRIu32 " %s", h.type,
				       restored ? "after the state (expected GO)" : "in the middle of the stream");
			break;
		}
	}
	free(written);
	return rc;
}

int migration_recv_machine(struct migration_recv *r, struct machine *m, const struct vm_config *cfg,
			   const struct timespec *start, struct migration_stats *stats, struct vmon_error *err)
{
	int status;

	memset(stats, 0, sizeof(*stats));
	/* The machine is built while the first round streams in: no KVM set-up is left for the downtime. */
	if ((status = machine_prepare(m, cfg, start, err)) || (status = machine_build(m, err))) {
		send_error(&r->stream, err->msg);
		machine_destroy(m);
		return status;
	}
	int rc = receive_stream(r, m, stats, err);
	stats->bytes = r->stream.bytes_in;
	stats->total_ms = ms_since(&r->start);
	if (rc) {
		if (rc != -ECANCELED)
			send_error(&r->stream, err->msg);
		machine_destroy(m);
		return rc == -EPROTO || rc == -EBADMSG || rc == -EINVAL ? VMON_EXIT_USAGE : VMON_EXIT_HOST_ERROR;
	}
	return 0;
}

void migration_recv_close(struct migration_recv *r)
{
	if (r->connected)
		mig_stream_close(&r->stream);
	r->connected = false;
	free(r->config_text);
	r->config_text = NULL;
}
