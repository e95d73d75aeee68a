/* SPDX-License-Identifier: MIT */
#include "virtio/balloon.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "base/log.h"

#define PFN_BATCH 256u                 /* frame numbers read from a buffer at a time (Linux sends at most 256) */
#define STAT_ENTRY_SIZE 10u            /* le16 tag + le64 value, packed */

/* Queue number -> role for these negotiated features: absent queues take no number. */
static void compute_roles(uint64_t features, uint8_t role[VIRTIO_BALLOON_MAX_QUEUES])
{
	unsigned q = 0;

	for (unsigned i = 0; i < VIRTIO_BALLOON_MAX_QUEUES; i++)
		role[i] = BALLOON_Q_NONE;
	role[q++] = BALLOON_Q_INFLATE;
	role[q++] = BALLOON_Q_DEFLATE;
	if (features & (1ull << VIRTIO_BALLOON_F_STATS_VQ))
		role[q++] = BALLOON_Q_STATS;
	if (features & (1ull << VIRTIO_BALLOON_F_REPORTING))
		role[q++] = BALLOON_Q_REPORTING;
}

static int queue_of(const struct virtio_balloon *b, enum balloon_queue_role role)
{
	for (unsigned q = 0; q < b->ops.num_queues; q++)
		if (b->role[q] == role)
			return (int)q;
	return -1;
}

/* A guest mistake that is not worth a device reset: logged once per device, counted always. */
static void bad_input(struct virtio_balloon *b, const char *fmt, unsigned long long value)
{
	b->bad_frames++;
	if (b->bad_logged)
		return;
	b->bad_logged = true;
	char what[160];
	snprintf(what, sizeof(what), fmt, value);
	log_warn("%s: %s; skipped (further ones are counted, not logged)", b->vdev->label, what);
}

static void release(struct virtio_balloon *b, void *host, uint64_t len)
{
	int r = guest_mem_discard(b->vdev->mem, host, len);

	if (r) {
		/* The guest is fine either way (it gave the pages up); the host just keeps them. */
		if (!b->bad_logged)
			log_warn("%s: releasing %llu bytes: %s", b->vdev->label, (unsigned long long)len, strerror(-r));
		b->bad_logged = true;
		return;
	}
	b->released_bytes += len & ~(GUEST_MEM_PAGE - 1);
}

/* inflateq / deflateq: a readable array of 32-bit frame numbers. */
static int64_t serve_frames(struct virtio_balloon *b, const struct virtq_chain *c, bool inflate)
{
	uint32_t pfn[PFN_BATCH];
	uint8_t *run = NULL;            /* contiguous host run of frames to release at once */
	uint64_t run_len = 0;

	if (c->nin) {
		virtio_device_error(b->vdev, "%s buffer (descriptor %u) has %llu device-writable bytes; page frame "
				    "lists are read-only", inflate ? "inflate" : "deflate", c->head,
				    (unsigned long long)c->in_bytes);
		return -1;
	}
	uint64_t list_bytes = c->out_bytes;
	if (list_bytes % sizeof(uint32_t))
		bad_input(b, "page frame list of %llu bytes is not a whole number of 32-bit frames",
			  (unsigned long long)list_bytes);
	if (list_bytes / sizeof(uint32_t) > VIRTIO_BALLOON_MAX_FRAMES_PER_BUFFER) {
		bad_input(b, "page frame list of %llu frames is longer than a buffer may be (4096): the rest is "
			  "skipped", (unsigned long long)(list_bytes / sizeof(uint32_t)));
		list_bytes = VIRTIO_BALLOON_MAX_FRAMES_PER_BUFFER * sizeof(uint32_t);
	}
	for (uint64_t off = 0; off + sizeof(uint32_t) <= list_bytes;) {
		uint64_t want = list_bytes - off < sizeof(pfn) ? list_bytes - off : sizeof(pfn);
		size_t got = virtq_chain_read(c, off, pfn, want) / sizeof(uint32_t);
		for (size_t i = 0; i < got; i++) {
			uint64_t gpa = (uint64_t)le32toh(pfn[i]) << VIRTIO_BALLOON_PFN_SHIFT;
			uint8_t *host = guest_mem_ptr(b->vdev->mem, gpa, GUEST_MEM_PAGE);
			if (!host) {
				bad_input(b, "page frame 0x%llx is not guest RAM", (unsigned long long)le32toh(pfn[i]));
				continue;
			}
			if (!inflate) {
				b->st.deflated_pages++;
				continue;
			}
			b->st.inflated_pages++;
			if (run && host == run + run_len) {
				run_len += GUEST_MEM_PAGE;
				continue;
			}
			if (run)
				release(b, run, run_len);
			run = host;
			run_len = GUEST_MEM_PAGE;
		}
		if (!got)
			break;
		off += got * sizeof(uint32_t);
	}
	if (run)
		release(b, run, run_len);
	return 0;
}

/* reporting_vq: every descriptor is a range the guest freed (the queue checked each lies in guest RAM). */
static int64_t serve_report(struct virtio_balloon *b, const struct virtq_chain *c)
{
	for (unsigned i = 0; i < (unsigned)c->nout + c->nin; i++) {
		release(b, c->iov[i].iov_base, c->iov[i].iov_len);
		b->st.reported_bytes += c->iov[i].iov_len;
	}
	return 0;    /* nothing written: the driver only needs the buffer back */
}

struct serve_ctx {
	struct virtio_balloon *b;
	enum balloon_queue_role role;
};

static int64_t serve_one(void *ctx, const struct virtq_chain *c)
{
	struct serve_ctx *s = ctx;

	if (s->role == BALLOON_Q_REPORTING)
		return serve_report(s->b, c);
	return serve_frames(s->b, c, s->role == BALLOON_Q_INFLATE);
}

/* The driver's statistics: (le16 tag, le64 value) entries; unknown tags (newer kernels) are skipped. */
static int parse_stats(struct virtio_balloon *b, const struct virtq_chain *c)
{
	struct balloon_stats stats = { 0 };
	uint8_t entry[STAT_ENTRY_SIZE];

	if (c->nin) {
		virtio_device_error(b->vdev, "statistics buffer (descriptor %u) has %llu device-writable bytes; it "
				    "must be read-only", c->head, (unsigned long long)c->in_bytes);
		return -1;
	}
	if (c->out_bytes % STAT_ENTRY_SIZE)
		bad_input(b, "statistics buffer of %llu bytes is not a whole number of 10-byte entries",
			  (unsigned long long)c->out_bytes);
	for (uint64_t off = 0; off + STAT_ENTRY_SIZE <= c->out_bytes; off += STAT_ENTRY_SIZE) {
		uint16_t tag;
		uint64_t val;
		if (virtq_chain_read(c, off, entry, sizeof(entry)) != sizeof(entry))
			break;
		memcpy(&tag, entry, sizeof(tag));
		memcpy(&val, entry + 2, sizeof(val));
		tag = le16toh(tag);
		if (tag >= VIRTIO_BALLOON_NUM_STATS)
			continue;
		stats.valid |= 1ull << tag;
		stats.value[tag] = le64toh(val);
	}
	b->st.stats = stats;
	return 0;
}

/* Gives the held statistics buffer back (lock held). */
static void give_back_stats(struct virtio_balloon *b, unsigned q)
{
	const struct vring_used_elem elem = { .id = b->st.stats_head, .len = 0 };

	virtq_push_many(virtio_queue(b->vdev, q), &elem, 1);
	b->st.stats_held = 0;
}

static void serve_stats(struct virtio_balloon *b, unsigned q)
{
	struct virtq *vq = virtio_queue(b->vdev, q);
	bool pushed = false;

	for (;;) {
		enum virtq_pop_result r = virtq_pop(vq, &b->chain);
		if (r == VIRTQ_EMPTY)
			break;
		if (r == VIRTQ_BROKEN) {
			virtio_device_error(b->vdev, "%s", vq->error);
			break;
		}
		/* One buffer is the protocol; a second one replaces the first, which goes back. */
		if (b->st.stats_held) {
			give_back_stats(b, q);
			pushed = true;
		}
		if (parse_stats(b, &b->chain))
			break;
		b->st.stats_head = b->chain.head;
		b->st.stats_held = 1;
	}
	if (pushed)
		virtio_queue_done(b->vdev, q);
}

static void balloon_queue_notify(void *dev, unsigned q)
{
	struct virtio_balloon *b = dev;
	struct serve_ctx ctx = { .b = b, .role = q < VIRTIO_BALLOON_MAX_QUEUES ? b->role[q] : BALLOON_Q_NONE };

	switch (ctx.role) {
	case BALLOON_Q_STATS:
		serve_stats(b, q);
		return;
	case BALLOON_Q_NONE:
		virtio_device_error(b->vdev, "queue %u was kicked but has no role with the negotiated features "
				    "0x%llx", q, (unsigned long long)b->features);
		return;
	default:
		virtio_serve_queue(b->vdev, q, &b->chain, serve_one, &ctx);
	}
}

bool virtio_balloon_request_stats(struct virtio_balloon *b)
{
	bool done = false;

	virtio_lock(b->vdev);
	int q = queue_of(b, BALLOON_Q_STATS);
	if (q >= 0 && b->st.stats_held && virtio_device_running(b->vdev)) {
		give_back_stats(b, (unsigned)q);
		virtio_queue_done(b->vdev, (unsigned)q);
		done = true;
	}
	virtio_unlock(b->vdev);
	return done;
}

static void stats_timer_fired(void *ctx, uint32_t events)
{
	struct virtio_balloon *b = ctx;
	uint64_t expirations;

	(void)events;
	if (read(b->timer_fd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return;    /* EAGAIN: raced with a re-arm */
	virtio_balloon_request_stats(b);
}

static int arm_timer(struct virtio_balloon *b, uint32_t seconds, struct vmon_error *err)
{
	struct itimerspec its = { .it_interval = { .tv_sec = seconds }, .it_value = { .tv_sec = seconds } };

	if (b->timer_fd >= 0 && timerfd_settime(b->timer_fd, 0, &its, NULL) < 0)
		return error_set(err, -errno, "virtio-balloon: statistics timer: %s", strerror(errno));
	return 0;
}

static void balloon_config_bytes(const struct virtio_balloon *b, uint8_t cfg[VIRTIO_BALLOON_CONFIG_SIZE])
{
	uint32_t num_pages = htole32(b->st.num_pages), actual = htole32(b->st.actual);

	memset(cfg, 0, VIRTIO_BALLOON_CONFIG_SIZE);
	memcpy(cfg + offsetof(struct virtio_balloon_config, num_pages), &num_pages, 4);
	memcpy(cfg + offsetof(struct virtio_balloon_config, actual), &actual, 4);
}

static void balloon_config_read(void *dev, uint32_t offset, void *data, uint32_t size)
{
	uint8_t cfg[VIRTIO_BALLOON_CONFIG_SIZE];

	balloon_config_bytes(dev, cfg);
	memcpy(data, cfg + offset, size);
}

/* The driver writes `actual` (its balloon's size); num_pages is the host's, the rest is not offered. */
static void balloon_config_write(void *dev, uint32_t offset, const void *data, uint32_t size)
{
	struct virtio_balloon *b = dev;
	const uint32_t at = offsetof(struct virtio_balloon_config, actual);
	uint8_t cfg[VIRTIO_BALLOON_CONFIG_SIZE];
	uint32_t actual;

	if (offset + size <= at || offset >= at + 4)
		return;
	balloon_config_bytes(b, cfg);
	memcpy(cfg + offset, data, size);
	memcpy(&actual, cfg + at, 4);
	b->st.actual = le32toh(actual);
}

static int balloon_activate(void *dev, uint64_t features)
{
	struct virtio_balloon *b = dev;

	b->features = features;
	compute_roles(features, b->role);
	/*
	 * Linux primes the statistics queue and kicks it before DRIVER_OK (its
	 * init_vqs runs before virtio_device_ready); that kick was ignored, so
	 * the buffer is taken now (§3.1.1: no buffers are used before DRIVER_OK).
	 */
	int q = queue_of(b, BALLOON_Q_STATS);
	if (q >= 0 && virtio_queue(b->vdev, (unsigned)q)->enabled)
		serve_stats(b, (unsigned)q);
	return 0;
}

static void balloon_reset(void *dev)
{
	struct virtio_balloon *b = dev;

	/* The held statistics buffer belonged to the old rings; the target stays (it is the host's). */
	b->features = 0;
	compute_roles(0, b->role);
	b->st.stats_held = 0;
	b->st.stats_head = 0;
	b->st.actual = 0;
	memset(&b->st.stats, 0, sizeof(b->st.stats));
}

const struct virtio_device_ops virtio_balloon_ops = {
	.name = "virtio-balloon",
	.device_id = VIRTIO_ID_BALLOON,
	.num_queues = 2,
	.queue_max_size = VIRTIO_BALLOON_QUEUE_SIZE,
	.config_size = VIRTIO_BALLOON_CONFIG_SIZE,
	.features = VIRTIO_TRANSPORT_FEATURES,
	.config_read = balloon_config_read,
	.config_write = balloon_config_write,
	.activate = balloon_activate,
	.queue_notify = balloon_queue_notify,
	.reset = balloon_reset,
};

int virtio_balloon_create(struct virtio_balloon **out, struct virtio_dev *vdev, struct event_loop *loop,
			  const struct balloon_config *cfg, struct vmon_error *err)
{
	struct virtio_balloon *b;
	int r;

	*out = NULL;
	if (cfg->amount_mib > BALLOON_MAX_MIB)
		return error_set(err, -EINVAL, "amount_mib %u is more than the balloon's %u MiB", cfg->amount_mib,
				 BALLOON_MAX_MIB);
	if (!(b = calloc(1, sizeof(*b))))
		return error_set(err, -ENOMEM, "virtio-balloon: out of memory");
	b->vdev = vdev;
	b->cfg = *cfg;
	b->timer_fd = -1;
	b->ops = virtio_balloon_ops;
	if (cfg->deflate_on_oom)
		b->ops.features |= 1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
	if (cfg->stats_interval_s) {
		b->ops.features |= 1ull << VIRTIO_BALLOON_F_STATS_VQ;
		b->ops.num_queues++;
	}
	if (cfg->free_page_reporting) {
		b->ops.features |= 1ull << VIRTIO_BALLOON_F_REPORTING;
		b->ops.num_queues++;
	}
	compute_roles(0, b->role);
	b->st.num_pages = cfg->amount_mib << (20 - VIRTIO_BALLOON_PFN_SHIFT);
	b->st.stats_interval_s = cfg->stats_interval_s;
	if (loop && cfg->stats_interval_s) {
		b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (b->timer_fd < 0) {
			r = error_set(err, -errno, "virtio-balloon: timerfd: %s", strerror(errno));
			free(b);
			return r;
		}
		if ((r = arm_timer(b, cfg->stats_interval_s, err)) ||
		    (r = event_loop_add(loop, b->timer_fd, EPOLLIN, stats_timer_fired, b, err))) {
			close(b->timer_fd);
			free(b);
			return r;
		}
		b->loop = loop;
	}
	*out = b;
	return 0;
}

void virtio_balloon_stop(struct virtio_balloon *b)
{
	if (b && b->loop) {
		event_loop_remove(b->loop, b->timer_fd);
		b->loop = NULL;
	}
}

void virtio_balloon_destroy(struct virtio_balloon *b)
{
	if (!b)
		return;
	virtio_balloon_stop(b);
	if (b->timer_fd >= 0)
		close(b->timer_fd);
	free(b);
}

const struct virtio_device_ops *virtio_balloon_device_ops(const struct virtio_balloon *b)
{
	return &b->ops;
}

int virtio_balloon_set_target(struct virtio_balloon *b, uint32_t amount_mib, struct vmon_error *err)
{
	if (amount_mib > BALLOON_MAX_MIB)
		return error_set(err, -EINVAL, "amount_mib %u is more than the balloon's %u MiB", amount_mib,
				 BALLOON_MAX_MIB);
	virtio_lock(b->vdev);
	b->st.num_pages = amount_mib << (20 - VIRTIO_BALLOON_PFN_SHIFT);
	/* Before DRIVER_OK the driver reads num_pages when it probes. */
	if (b->vdev->status & VIRTIO_CONFIG_S_DRIVER_OK)
		virtio_config_changed(b->vdev);
	virtio_unlock(b->vdev);
	return 0;
}

int virtio_balloon_set_stats_interval(struct virtio_balloon *b, uint32_t seconds, struct vmon_error *err)
{
	int r = 0;

	virtio_lock(b->vdev);
	if (!b->st.stats_interval_s != !seconds)
		r = error_set(err, -EINVAL, "statistics were %s when the balloon started and cannot be turned %s "
			      "(stats_polling_interval_s %u)", b->st.stats_interval_s ? "on" : "off",
			      seconds ? "on" : "off", seconds);
	else if (!(r = arm_timer(b, seconds, err)))
		b->st.stats_interval_s = seconds;
	virtio_unlock(b->vdev);
	return r;
}

void virtio_balloon_status(struct virtio_balloon *b, struct balloon_status *out)
{
	memset(out, 0, sizeof(*out));
	virtio_lock(b->vdev);
	out->cfg = b->cfg;
	out->cfg.amount_mib = b->st.num_pages >> (20 - VIRTIO_BALLOON_PFN_SHIFT);
	out->cfg.stats_interval_s = b->st.stats_interval_s;
	out->target_pages = b->st.num_pages;
	out->actual_pages = b->st.actual;
	out->stats_enabled = b->st.stats_interval_s != 0;
	out->stats = b->st.stats;
	out->inflated_pages = b->st.inflated_pages;
	out->deflated_pages = b->st.deflated_pages;
	out->reported_bytes = b->st.reported_bytes;
	out->released_bytes = b->released_bytes;
	out->bad_frames = b->bad_frames;
	virtio_unlock(b->vdev);
}

/* ---- the registry's view (devices/device.h) ---------------------------- */

static void balloon_save(void *dev, void *state)
{
	struct virtio_dev *d = dev;
	struct virtio_balloon *b = d->model;
	struct virtio_balloon_state s;

	memset(&s, 0, sizeof(s));
	virtio_lock(d);
	virtio_dev_save(d, &s.core);
	s.model = b->st;
	virtio_unlock(d);
	memcpy(state, &s, sizeof(s));    /* the registry's buffer need not be aligned */
}

/* The model's part of a saved state, against the core's part it came with. */
static int check_model_state(const struct virtio_balloon *b, const struct virtio_balloon_state *s,
			     struct vmon_error *err)
{
	const struct virtio_balloon_model_state *m = &s->model;
	uint8_t role[VIRTIO_BALLOON_MAX_QUEUES];
	uint64_t features = (s->core.status & VIRTIO_CONFIG_S_DRIVER_OK) ? s->core.driver_features : 0;
	int q = -1;

	for (unsigned i = 0; i < sizeof(m->reserved); i++)
		if (m->reserved[i])
			return error_set(err, -EINVAL, "virtio-balloon reserved byte %u is 0x%x (must be 0)", i,
					 m->reserved[i]);
	if (m->stats.valid >> VIRTIO_BALLOON_NUM_STATS)
		return error_set(err, -EINVAL, "virtio-balloon statistics valid bits 0x%llx name unknown tags",
				 (unsigned long long)m->stats.valid);
	if (!m->stats_interval_s != !b->cfg.stats_interval_s)
		return error_set(err, -EINVAL, "virtio-balloon statistics interval %u s saved, this balloon has "
				 "statistics %s", m->stats_interval_s, b->cfg.stats_interval_s ? "on" : "off");
	if (m->stats_held > 1)
		return error_set(err, -EINVAL, "virtio-balloon stats_held is %u (0 or 1)", m->stats_held);
	compute_roles(features, role);
	for (unsigned i = 0; i < b->ops.num_queues; i++)
		if (role[i] == BALLOON_Q_STATS)
			q = (int)i;
	if (m->stats_held && (q < 0 || !s->core.queues[q].ready || m->stats_head >= s->core.queues[q].size))
		return error_set(err, -EINVAL, "virtio-balloon holds statistics buffer %u, but its queue %s",
				 m->stats_head, q < 0 ? "was not negotiated" : "is not ready or smaller");
	if (m->num_pages > (uint64_t)BALLOON_MAX_MIB << (20 - VIRTIO_BALLOON_PFN_SHIFT))
		return error_set(err, -EINVAL, "virtio-balloon target of %u pages is too large", m->num_pages);
	return 0;
}

static int balloon_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct virtio_dev *d = dev;
	struct virtio_balloon *b = d->model;
	struct virtio_balloon_state s;
	int r;

	memcpy(&s, state, sizeof(s));
	if ((r = check_model_state(b, &s, err)))
		return r;
	if ((r = virtio_dev_restore(d, &s.core, err))) {
		error_prefix(err, "virtio-balloon");
		return r;
	}
	virtio_lock(d);
	b->st = s.model;
	/* What activate() would have recorded. */
	b->features = (d->status & VIRTIO_CONFIG_S_DRIVER_OK) ? d->driver_features : 0;
	compute_roles(b->features, b->role);
	virtio_unlock(d);
	if (s.model.stats_interval_s && (r = arm_timer(b, s.model.stats_interval_s, err)))
		return r;
	return 0;
}

const struct device_ops virtio_balloon_registry_ops = {
	.kind = "virtio-balloon",
	.state_version = VIRTIO_BALLOON_STATE_VERSION,
	.state_size = sizeof(struct virtio_balloon_state),
	.reset = virtio_dev_ops_reset,
	.save = balloon_save,
	.restore = balloon_restore,
	.pause = virtio_dev_ops_pause,
	.resume = virtio_dev_ops_resume,
};
