/* SPDX-License-Identifier: MIT */
#include "virtio/core.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/virtio_config.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"

/*
 * The transport-neutral half of a virtio device: status, features, queues,
 * interrupt causes (virtio 1.2 §2, §3). The driver side this must satisfy
 * is Linux's drivers/virtio/virtio.c and virtio_ring.c.
 */

/* Status bits only the driver sets (NEEDS_RESET is the device's). */
#define DRIVER_STATUS_BITS                                                                               \
	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |                \
	 VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FAILED)

/* Bits 24..40 belong to the transport (linux/virtio_config.h, plus the legacy 24 and 27). */
#define TRANSPORT_FEATURE_BITS (((1ull << VIRTIO_TRANSPORT_F_END) - 1) & ~((1ull << 24) - 1))

/* Guest mistakes logged once per device (d->logged). */
enum {
	LOGGED_CONFIG_BOUNDS = 1u << 0,
	LOGGED_NOTIFY_IGNORED = 1u << 1,
	LOGGED_QUEUE_LOCKED = 1u << 2,
	LOGGED_STATUS = 1u << 3,
	LOGGED_QUEUE_ENABLE = 1u << 4,
	LOGGED_FEATURES = 1u << 5,
};


static const char *name(const struct virtio_dev *d)
{
	return d->ops->name;
}

/* ---- interrupts ---------------------------------------------------------- */

/*
 * An edge only when the cause is new. Linux's vm_interrupt() reads the
 * causes, acks what it read, then handles: an event whose bit was already
 * pending is seen by that handling (it runs after the ack), and an event
 * whose bit was not pending (or was acked meanwhile) gets its own edge.
 * Edges coalesced by the guest's APIC are harmless for the same reason.
 */
static void raise_interrupt(struct virtio_dev *d, uint32_t bit, unsigned source)
{
	uint32_t before = d->interrupt_status;

	d->interrupt_status |= bit;
	if (d->hooks->interrupt_source) {
		/* One message per event: nothing to coalesce on (the driver reads no status register). */
		if (d->paused)
			d->interrupt_deferred = true;
		else
			d->hooks->interrupt_source(d->hooks_ctx, source);
		return;
	}
	if (before & bit)
		return;
	if (d->paused) {
		d->interrupt_deferred = true;    /* resume delivers it */
		return;
	}
	d->hooks->interrupt(d->hooks_ctx);
}

void virtio_dev_ack_interrupt(struct virtio_dev *d, uint32_t bits)
{
	d->interrupt_status &= ~bits;
}

/* ---- what the core offers device models ------------------------------------ */

void virtio_lock(struct virtio_dev *d)
{
	pthread_mutex_lock(&d->lock);
}

void virtio_unlock(struct virtio_dev *d)
{
	pthread_mutex_unlock(&d->lock);
}

struct virtq *virtio_queue(struct virtio_dev *d, unsigned q)
{
	return q < d->ops->num_queues ? &d->queues[q] : NULL;
}

static bool running(const struct virtio_dev *d)
{
	return (d->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(d->status & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED)) && !d->paused;
}

bool virtio_device_running(struct virtio_dev *d)
{
	bool r;

	virtio_lock(d);
	r = running(d);
	virtio_unlock(d);
	return r;
}

/* queue.h: a broken queue stays broken until reset; the core tells the driver (§2.1.1), whatever the model did. */
static void check_broken(struct virtio_dev *d, unsigned q)
{
	if (d->queues[q].broken && !(d->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		virtio_device_error(d, "queue %u: %s", q, d->queues[q].error);
}

void virtio_queue_done(struct virtio_dev *d, unsigned q)
{
	virtio_lock(d);
	if (q < d->ops->num_queues && !d->paused) {
		check_broken(d, q);
		if (d->queues[q].enabled && virtq_should_interrupt(&d->queues[q]))
			raise_interrupt(d, VIRTIO_INT_USED_BUFFER, q);
	}
	virtio_unlock(d);
}

void virtio_config_changed(struct virtio_dev *d)
{
	virtio_lock(d);
	d->config_generation++;
	raise_interrupt(d, VIRTIO_INT_CONFIG, VIRTIO_INT_SOURCE_CONFIG);
	virtio_unlock(d);
}

void virtio_device_error(struct virtio_dev *d, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	virtio_lock(d);
	if (!d->error_logged) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		log_warn("%s: %s; the device needs a reset by its driver", d->label, why);
		d->error_logged = true;
	}
	if (!(d->status & VIRTIO_CONFIG_S_NEEDS_RESET)) {
		d->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
		raise_interrupt(d, VIRTIO_INT_CONFIG, VIRTIO_INT_SOURCE_CONFIG);   /* §2.1.2: tell the driver */
	}
	virtio_unlock(d);
}

/* ---- reset, status, features -------------------------------------------- */

static void reset_queue(struct virtio_dev *d, unsigned q)
{
	struct virtio_queue_regs *r = &d->qregs[q];

	/* The size starts at the maximum, so a driver that never writes it still gets a valid one. */
	r->num = d->ops->queue_max_size;
	r->desc = r->avail = r->used = 0;
	r->ready = false;
	virtq_reset(&d->queues[q]);
}

/* What the driver's status 0 does (§2.1.2); a power-on reset does a little more (virtio_dev_reset). */
static void driver_reset(struct virtio_dev *d)
{
	if (d->ops->reset)
		d->ops->reset(d->model);
	for (unsigned q = 0; q < d->ops->num_queues; q++)
		reset_queue(d, q);
	d->status = 0;
	d->device_features_sel = d->driver_features_sel = 0;
	d->driver_features = 0;
	d->queue_sel = 0;
	d->interrupt_status = 0;
	d->interrupt_deferred = false;
}

static bool features_acceptable(struct virtio_dev *d)
{
	uint64_t unoffered = d->driver_features & ~d->device_features;

	if (unoffered) {
		if (log_first_time(&d->logged, LOGGED_FEATURES))
			log_debug("%s: driver accepted features 0x%" PRIx64 " that were not offered; FEATURES_OK refused",
				  name(d), unoffered);
		return false;
	}
	if (!(d->driver_features & (1ull << VIRTIO_F_VERSION_1))) {
		if (log_first_time(&d->logged, LOGGED_FEATURES))
			log_debug("%s: driver without VIRTIO_F_VERSION_1 (legacy); FEATURES_OK refused", name(d));
		return false;
	}
	return true;
}

static void activate(struct virtio_dev *d)
{
	int r;

	if (d->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	r = d->ops->activate ? d->ops->activate(d->model, d->driver_features) : 0;
	if (r)
		virtio_device_error(d, "cannot run with features 0x%" PRIx64 " (%s)", d->driver_features,
				    strerror(r < 0 ? -r : r));
}

/* May bit be added to status now? §3.1.1 gives the order; FAILED is always allowed. */
static bool status_step_allowed(struct virtio_dev *d, uint32_t bit)
{
	switch (bit) {
	case VIRTIO_CONFIG_S_DRIVER:
		return d->status & VIRTIO_CONFIG_S_ACKNOWLEDGE;
	case VIRTIO_CONFIG_S_FEATURES_OK:
		return (d->status & VIRTIO_CONFIG_S_DRIVER) && features_acceptable(d);
	case VIRTIO_CONFIG_S_DRIVER_OK:
		return d->status & VIRTIO_CONFIG_S_FEATURES_OK;
	default:
		return true;
	}
}

void virtio_dev_write_status(struct virtio_dev *d, uint32_t value)
{
	static const uint32_t order[] = { VIRTIO_CONFIG_S_ACKNOWLEDGE, VIRTIO_CONFIG_S_DRIVER,
					  VIRTIO_CONFIG_S_FEATURES_OK, VIRTIO_CONFIG_S_DRIVER_OK,
					  VIRTIO_CONFIG_S_FAILED };
	uint32_t added;

	if (value == 0) {
		driver_reset(d);
		return;
	}
	/* Bits only go away through a reset (§2.1.1: the driver must not clear them). */
	if (d->status & DRIVER_STATUS_BITS & ~value) {
		if (log_first_time(&d->logged, LOGGED_STATUS))
			log_debug("%s: status 0x%x would clear bits of 0x%x; ignored", name(d), value, d->status);
		return;
	}
	added = value & DRIVER_STATUS_BITS & ~d->status;
	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (!(added & order[i]))
			continue;
		if (!status_step_allowed(d, order[i])) {
			if (log_first_time(&d->logged, LOGGED_STATUS))
				log_debug("%s: status bit 0x%x out of order (status 0x%x); not set", name(d), order[i],
					  d->status);
			continue;
		}
		d->status |= order[i];
		if (order[i] == VIRTIO_CONFIG_S_DRIVER_OK)
			activate(d);
	}
}

uint32_t virtio_dev_device_features_word(const struct virtio_dev *d)
{
	switch (d->device_features_sel) {
	case 0: return (uint32_t)d->device_features;
	case 1: return (uint32_t)(d->device_features >> 32);
	default: return 0;
	}
}

void virtio_dev_write_driver_features(struct virtio_dev *d, uint32_t value)
{
	/* §2.2: the feature set is fixed once FEATURES_OK is accepted. */
	if ((d->status & VIRTIO_CONFIG_S_FEATURES_OK) || d->driver_features_sel > 1)
		return;
	if (d->driver_features_sel == 0)
		d->driver_features = (d->driver_features & ~0xffffffffull) | value;
	else
		d->driver_features = (d->driver_features & 0xffffffffull) | (uint64_t)value << 32;
}

/* ---- queues -------------------------------------------------------------- */

struct virtio_queue_regs *virtio_dev_selected_queue(struct virtio_dev *d)
{
	return d->queue_sel < d->ops->num_queues ? &d->qregs[d->queue_sel] : NULL;
}

struct virtio_queue_regs *virtio_dev_writable_queue(struct virtio_dev *d, const char *what)
{
	struct virtio_queue_regs *r = virtio_dev_selected_queue(d);

	if (r && !r->ready)
		return r;
	if (log_first_time(&d->logged, LOGGED_QUEUE_LOCKED))
		log_debug("%s: write to %s of queue %u (%s); ignored", name(d), what, d->queue_sel,
			  r ? "ready" : "absent");
	return NULL;
}

static void enable_queue(struct virtio_dev *d, unsigned q)
{
	struct virtio_queue_regs *r = &d->qregs[q];
	struct virtq *vq = &d->queues[q];

	/* The ring layout depends on the negotiated features (EVENT_IDX), fixed only by FEATURES_OK. */
	if (!(d->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		if (log_first_time(&d->logged, LOGGED_QUEUE_ENABLE))
			log_debug("%s: queue %u made ready before FEATURES_OK; refused", name(d), q);
		return;
	}
	if (virtq_enable(vq, r->num, r->desc, r->avail, r->used, d->driver_features) < 0) {
		if (log_first_time(&d->logged, LOGGED_QUEUE_ENABLE))
			log_warn("%s: queue %u refused: %s", d->label, q, vq->error);
		virtq_reset(vq);
		return;
	}
	r->ready = true;
}

void virtio_dev_write_queue_ready(struct virtio_dev *d, uint32_t value)
{
	unsigned q = d->queue_sel;

	if (!virtio_dev_selected_queue(d))
		return;
	if (value && !d->qregs[q].ready) {
		enable_queue(d, q);
	} else if (!value && d->qregs[q].ready) {
		/* Linux writes 0 when it deletes a queue and checks it reads back 0. */
		d->qregs[q].ready = false;
		virtq_reset(&d->queues[q]);
	}
}

bool virtio_dev_queue_notify(struct virtio_dev *d, unsigned q)
{
	if (q < d->ops->num_queues && running(d) && d->qregs[q].ready) {
		if (d->ops->queue_notify)
			d->ops->queue_notify(d->model, q);
		check_broken(d, q);
		return true;
	}
	if (log_first_time(&d->logged, LOGGED_NOTIFY_IGNORED))
		log_debug("%s: notify for queue %u while %s; ignored", name(d), q,
			  q >= d->ops->num_queues ? "it does not exist"
			  : d->paused		 ? "the device is paused (resume re-kicks it)"
			  : running(d)		 ? "the queue is not ready"
						 : "the device is not running");
	return false;
}

/* ---- config space ----------------------------------------------------------- */

void virtio_dev_config_access(struct virtio_dev *d, uint32_t offset, void *data, unsigned size, bool is_write)
{
	const struct virtio_device_ops *ops = d->ops;
	bool sized = size == 1 || size == 2 || size == 4 || size == 8;

	if (!sized || offset >= ops->config_size || size > ops->config_size - offset) {
		if (log_first_time(&d->logged, LOGGED_CONFIG_BOUNDS))
			log_debug("%s: %u-byte config %s at 0x%x, config space is %u bytes; ignored", ops->name, size,
				  is_write ? "write" : "read", offset, ops->config_size);
		if (!is_write)
			memset(data, 0, size);
		return;
	}
	if (!is_write) {
		memset(data, 0, size);
		if (ops->config_read)
			ops->config_read(d->model, offset, data, size);
	} else if (ops->config_write) {
		ops->config_write(d->model, offset, data, size);
	}
}

/* ---- lifecycle ------------------------------------------------------------------ */

static bool power_of_two(unsigned v)
{
	return v && !(v & (v - 1));
}

int virtio_dev_init(struct virtio_dev *d, const struct virtio_device_ops *ops, void *model,
		    const struct guest_mem *mem, const char *label, const struct virtio_transport_hooks *hooks,
		    void *hooks_ctx, struct vmon_error *err)
{
	pthread_mutexattr_t attr;
	int r;

	memset(d, 0, sizeof(*d));
	if (ops->num_queues == 0 || ops->num_queues > VIRTIO_MAX_QUEUES)
		return error_set(err, -EINVAL, "%s: %u queues (1 to %u supported)", ops->name, ops->num_queues,
				 VIRTIO_MAX_QUEUES);
	if (!power_of_two(ops->queue_max_size) || ops->queue_max_size > VIRTQ_MAX_SIZE)
		return error_set(err, -EINVAL, "%s: queue size %u is not a power of 2 up to %u", ops->name,
				 ops->queue_max_size, VIRTQ_MAX_SIZE);
	if (!mem)
		return error_set(err, -EINVAL, "%s: no guest memory", ops->name);
	/* Recursive: models call virtio_queue_done() & co. both inside callbacks and under virtio_lock(). */
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	r = pthread_mutex_init(&d->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (r)
		return error_set(err, -r, "%s: mutex: %s", ops->name, strerror(r));
	d->lock_ready = true;
	d->ops = ops;
	d->model = model;
	d->mem = mem;
	d->hooks = hooks;
	d->hooks_ctx = hooks_ctx;
	snprintf(d->label, sizeof(d->label), "%s", label);
	d->device_features = (ops->features & ~TRANSPORT_FEATURE_BITS) |
			     (ops->features & VIRTIO_TRANSPORT_FEATURES) | (1ull << VIRTIO_F_VERSION_1);
	for (unsigned q = 0; q < ops->num_queues; q++) {
		virtq_init(&d->queues[q], mem, ops->queue_max_size);
		reset_queue(d, q);
	}
	return 0;
}

void virtio_dev_destroy(struct virtio_dev *d)
{
	if (d->lock_ready)
		pthread_mutex_destroy(&d->lock);
	d->lock_ready = false;
}

void virtio_dev_reset(struct virtio_dev *d)
{
	virtio_lock(d);
	driver_reset(d);
	d->config_generation = 0;
	d->error_logged = false;
	d->logged = 0;
	virtio_unlock(d);
}

void virtio_dev_pause(struct virtio_dev *d)
{
	/* Handlers hold the lock for their whole run: once we have it, none is running, and none starts work. */
	virtio_lock(d);
	d->paused = true;
	virtio_unlock(d);
}

/* Lock held, not paused: what resume and a restore of a running device owe the driver. */
static void catch_up(struct virtio_dev *d)
{
	if (d->interrupt_deferred && d->interrupt_status)
		d->hooks->interrupt(d->hooks_ctx);
	d->interrupt_deferred = false;
	/* Kicks that came while paused were ignored: have every queue with work looked at again. */
	if (!running(d))
		return;
	for (unsigned q = 0; q < d->ops->num_queues; q++)
		if (d->qregs[q].ready && virtq_has_available(&d->queues[q]))
			d->hooks->kick(d->hooks_ctx, q);
}

void virtio_dev_resume(struct virtio_dev *d)
{
	virtio_lock(d);
	d->paused = false;
	catch_up(d);
	virtio_unlock(d);
}

void virtio_dev_ops_reset(void *dev)
{
	virtio_dev_reset(dev);
}

void virtio_dev_ops_pause(void *dev)
{
	virtio_dev_pause(dev);
}

void virtio_dev_ops_resume(void *dev)
{
	virtio_dev_resume(dev);
}

/* ---- state --------------------------------------------------------------------- */

void virtio_dev_save(struct virtio_dev *d, struct virtio_dev_state *s)
{
	memset(s, 0, sizeof(*s));
	virtio_lock(d);
	s->device_id = d->ops->device_id;
	s->num_queues = d->ops->num_queues;
	s->device_features = d->device_features;
	s->driver_features = d->driver_features;
	s->status = d->status;
	s->device_features_sel = d->device_features_sel;
	s->driver_features_sel = d->driver_features_sel;
	s->queue_sel = d->queue_sel;
	s->interrupt_status = d->interrupt_status;
	s->config_generation = d->config_generation;
	for (unsigned q = 0; q < d->ops->num_queues; q++) {
		const struct virtio_queue_regs *r = &d->qregs[q];
		const struct virtq *vq = &d->queues[q];
		struct virtio_queue_state *qs = &s->queues[q];

		qs->desc_addr = r->desc;
		qs->avail_addr = r->avail;
		qs->used_addr = r->used;
		qs->size = r->num;
		qs->ready = r->ready;
		qs->last_avail_idx = vq->last_avail_idx;
		qs->used_idx = vq->used_idx;
		qs->signalled_used = vq->signalled_used;
		qs->signalled_used_valid = vq->signalled_used_valid;
		qs->broken = vq->broken;
	}
	virtio_unlock(d);
}

/* The status bits a driver can reach, in order: each one needs the one before (FAILED and NEEDS_RESET aside). */
static int check_status(const struct virtio_dev *d, const struct virtio_dev_state *s, struct vmon_error *err)
{
	const uint32_t known = DRIVER_STATUS_BITS | VIRTIO_CONFIG_S_NEEDS_RESET;
	const uint32_t st = s->status;
	static const struct { uint32_t bit, needs; const char *what; } steps[] = {
		{ VIRTIO_CONFIG_S_DRIVER, VIRTIO_CONFIG_S_ACKNOWLEDGE, "DRIVER without ACKNOWLEDGE" },
		{ VIRTIO_CONFIG_S_FEATURES_OK, VIRTIO_CONFIG_S_DRIVER, "FEATURES_OK without DRIVER" },
		{ VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_FEATURES_OK, "DRIVER_OK without FEATURES_OK" },
	};
	uint64_t unoffered = s->driver_features & ~d->device_features;

	if (st & ~known)
		return error_set(err, -EINVAL, "status 0x%x has unknown bits 0x%x", st, st & ~known);
	for (unsigned i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if ((st & steps[i].bit) && !(st & steps[i].needs))
			return error_set(err, -EINVAL, "status 0x%x: %s", st, steps[i].what);
	if (!(st & VIRTIO_CONFIG_S_FEATURES_OK))
		return 0;
	if (unoffered)
		return error_set(err, -EINVAL, "driver_features 0x%" PRIx64 " has bits 0x%" PRIx64
				 " this device does not offer, with FEATURES_OK in status", s->driver_features, unoffered);
	if (!(s->driver_features & (1ull << VIRTIO_F_VERSION_1)))
		return error_set(err, -EINVAL, "driver_features 0x%" PRIx64 " lacks VIRTIO_F_VERSION_1, with "
				 "FEATURES_OK in status", s->driver_features);
	return 0;
}

static int check_flag(unsigned q, const char *field, uint8_t v, struct vmon_error *err)
{
	return v > 1 ? error_set(err, -EINVAL, "queue %u %s is %u (0 or 1)", q, field, v) : 0;
}

/* One queue's state; a ready one is enabled into *vq (a scratch virtq), through the driver's checks. */
static int check_queue(const struct virtio_dev *d, const struct virtio_dev_state *s, unsigned q, struct virtq *vq,
		       struct vmon_error *err)
{
	const struct virtio_queue_state *qs = &s->queues[q];
	int r;

	if ((r = check_flag(q, "ready", qs->ready, err)) ||
	    (r = check_flag(q, "signalled_used_valid", qs->signalled_used_valid, err)) ||
	    (r = check_flag(q, "broken", qs->broken, err)))
		return r;
	for (unsigned i = 0; i < sizeof(qs->reserved); i++)
		if (qs->reserved[i])
			return error_set(err, -EINVAL, "queue %u reserved byte %u is 0x%x (must be 0)", q, i,
					 qs->reserved[i]);
	virtq_init(vq, d->mem, d->ops->queue_max_size);
	if (!qs->ready) {
		/* A queue that is not ready has no ring state (virtq_reset); its registers may hold anything. */
		if (qs->last_avail_idx || qs->used_idx || qs->signalled_used || qs->signalled_used_valid || qs->broken)
			return error_set(err, -EINVAL, "queue %u is not ready but has ring state (last_avail_idx %u, "
					 "used_idx %u, signalled_used %u, broken %u)", q, qs->last_avail_idx,
					 qs->used_idx, qs->signalled_used, qs->broken);
		return 0;
	}
	if (!(s->status & VIRTIO_CONFIG_S_FEATURES_OK))
		return error_set(err, -EINVAL, "queue %u is ready but status 0x%x lacks FEATURES_OK", q, s->status);
	/* The driver's own checks (virtq_enable): size, alignment, rings inside guest RAM; host views recomputed. */
	if (virtq_enable(vq, qs->size, qs->desc_addr, qs->avail_addr, qs->used_addr, s->driver_features) < 0)
		return error_set(err, -EINVAL, "queue %u %s: %s", q, vq->bad_field ? vq->bad_field : "rings",
				 vq->error);
	/* Popped but not yet used: at most the whole ring. */
	if ((uint16_t)(qs->last_avail_idx - qs->used_idx) > qs->size)
		return error_set(err, -EINVAL, "queue %u last_avail_idx %u is %u ahead of used_idx %u, queue size %u",
				 q, qs->last_avail_idx, (uint16_t)(qs->last_avail_idx - qs->used_idx), qs->used_idx,
				 qs->size);
	vq->last_avail_idx = qs->last_avail_idx;
	vq->used_idx = qs->used_idx;
	vq->signalled_used = qs->signalled_used;
	vq->signalled_used_valid = qs->signalled_used_valid;
	if (qs->broken) {
		vq->broken = true;
		snprintf(vq->error, sizeof(vq->error), "broken before the state was saved");
	}
	return 0;
}

int virtio_dev_restore(struct virtio_dev *d, const struct virtio_dev_state *s, struct vmon_error *err)
{
	struct virtq queues[VIRTIO_MAX_QUEUES];
	int r = 0;

	if (s->device_id != d->ops->device_id)
		return error_set(err, -EINVAL, "device_id %u, this device is %u (%s)", s->device_id, d->ops->device_id,
				 name(d));
	if (s->num_queues != d->ops->num_queues)
		return error_set(err, -EINVAL, "num_queues %u, this device has %u", s->num_queues, d->ops->num_queues);
	if (s->device_features != d->device_features)
		return error_set(err, -EINVAL, "device_features 0x%" PRIx64 ", this device offers 0x%" PRIx64,
				 s->device_features, d->device_features);
	if ((r = check_status(d, s, err)))
		return r;
	if (s->interrupt_status & ~(VIRTIO_INT_USED_BUFFER | VIRTIO_INT_CONFIG))
		return error_set(err, -EINVAL, "interrupt_status 0x%x has unknown bits", s->interrupt_status);
	for (unsigned q = d->ops->num_queues; q < VIRTIO_MAX_QUEUES; q++)
		for (const uint8_t *b = (const uint8_t *)&s->queues[q]; b < (const uint8_t *)&s->queues[q + 1]; b++)
			if (*b)
				return error_set(err, -EINVAL, "queue %u does not exist but its state is not zero", q);

	virtio_lock(d);
	for (unsigned q = 0; q < d->ops->num_queues && !r; q++)
		r = check_queue(d, s, q, &queues[q], err);
	if (r) {
		virtio_unlock(d);
		return r;
	}
	d->status = s->status;
	d->device_features_sel = s->device_features_sel;
	d->driver_features_sel = s->driver_features_sel;
	d->driver_features = s->driver_features;
	d->queue_sel = s->queue_sel;
	d->interrupt_status = s->interrupt_status;
	d->config_generation = s->config_generation;
	for (unsigned q = 0; q < d->ops->num_queues; q++) {
		const struct virtio_queue_state *qs = &s->queues[q];

		d->qregs[q] = (struct virtio_queue_regs){ .num = qs->size, .desc = qs->desc_addr,
							  .avail = qs->avail_addr, .used = qs->used_addr,
							  .ready = qs->ready };
		d->queues[q] = queues[q];
	}
	/* The edge for pending causes may not have reached this guest's interrupt controller: send one more. */
	d->interrupt_deferred = s->interrupt_status != 0;
	d->error_logged = (s->status & VIRTIO_CONFIG_S_NEEDS_RESET) != 0;
	if (!d->paused)
		catch_up(d);
	virtio_unlock(d);
	return 0;
}
