/* SPDX-License-Identifier: MIT */
#include "virtio/mmio.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/log.h"

/*
 * Register layout and semantics: virtio 1.2 §4.2.2. The driver side this
 * must satisfy is Linux's drivers/virtio/virtio_mmio.c.
 */
#define MAGIC_VALUE 0x74726976u        /* "virt", little-endian */
#define MMIO_VERSION 2u
/* VendorID: any value is allowed; "VMON" read as a little-endian word, so it is recognisable in dumps. */
#define VENDOR_ID 0x4e4f4d56u

/* Status bits only the driver sets (NEEDS_RESET is the device's). */
#define DRIVER_STATUS_BITS                                                                               \
	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |                \
	 VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FAILED)

/* Bits 24..40 belong to the transport (linux/virtio_config.h, plus the legacy 24 and 27). */
#define TRANSPORT_FEATURE_BITS (((1ull << VIRTIO_TRANSPORT_F_END) - 1) & ~((1ull << 24) - 1))

/* Guest mistakes logged once per device (t->logged). */
enum {
	LOGGED_ACCESS_SIZE = 1u << 0,
	LOGGED_CONFIG_BOUNDS = 1u << 1,
	LOGGED_NOTIFY_IGNORED = 1u << 2,
	LOGGED_QUEUE_LOCKED = 1u << 3,
	LOGGED_STATUS = 1u << 4,
	LOGGED_QUEUE_ENABLE = 1u << 5,
	LOGGED_FEATURES = 1u << 6,
	LOGGED_BAD_QUEUE = 1u << 7,
};

/* The event-loop context of queue q's eventfd: t with q in its low bits. */
_Static_assert(_Alignof(struct virtio_transport) >= VIRTIO_MMIO_MAX_QUEUES,
	       "queue index must fit in the alignment bits of the transport pointer");

static void *queue_ctx(struct virtio_transport *t, unsigned q)
{
	return (void *)((uintptr_t)t | q);
}

static struct virtio_transport *ctx_transport(void *ctx)
{
	return (struct virtio_transport *)((uintptr_t)ctx & ~(uintptr_t)(VIRTIO_MMIO_MAX_QUEUES - 1));
}

static unsigned ctx_queue(void *ctx)
{
	return (unsigned)((uintptr_t)ctx & (VIRTIO_MMIO_MAX_QUEUES - 1));
}

static bool first_time(struct virtio_transport *t, uint32_t what)
{
	bool first = !(t->logged & what);

	t->logged |= what;
	return first;
}

/* ---- interrupts ---------------------------------------------------------- */

/*
 * An edge only when the cause is new. Linux's vm_interrupt() reads
 * InterruptStatus, acks what it read, then handles: an event whose bit was
 * already pending is seen by that handling (it runs after the ack), and an
 * event whose bit was not pending (or was acked meanwhile) gets its own edge.
 * Edges coalesced by the guest's APIC are harmless for the same reason.
 */
static void raise_interrupt(struct virtio_transport *t, uint32_t bit)
{
	uint32_t before = t->interrupt_status;

	t->interrupt_status |= bit;
	if (before & bit)
		return;
	t->interrupts++;
	if (t->irq_fd >= 0) {
		uint64_t one = 1;
		if (write(t->irq_fd, &one, sizeof(one)) < 0)
			log_warn("%s: irqfd write: %s", t->ops->name, strerror(errno));
		return;
	}
	device_set_irq(t->host, t->gsi, 1);
	device_set_irq(t->host, t->gsi, 0);
}

/* ---- what the transport offers device models ------------------------------ */

void virtio_lock(struct virtio_transport *t)
{
	pthread_mutex_lock(&t->lock);
}

void virtio_unlock(struct virtio_transport *t)
{
	pthread_mutex_unlock(&t->lock);
}

struct virtq *virtio_queue(struct virtio_transport *t, unsigned q)
{
	return q < t->ops->num_queues ? &t->queues[q] : NULL;
}

static bool running(const struct virtio_transport *t)
{
	return (t->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(t->status & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED));
}

bool virtio_device_running(struct virtio_transport *t)
{
	bool r;

	virtio_lock(t);
	r = running(t);
	virtio_unlock(t);
	return r;
}

/* queue.h: a broken queue stays broken until reset; the transport tells the driver (§2.1.1), whatever the model did. */
static void check_broken(struct virtio_transport *t, unsigned q)
{
	if (t->queues[q].broken && !(t->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		virtio_device_error(t, "queue %u: %s", q, t->queues[q].error);
}

void virtio_queue_done(struct virtio_transport *t, unsigned q)
{
	virtio_lock(t);
	if (q < t->ops->num_queues) {
		check_broken(t, q);
		if (t->queues[q].enabled && virtq_should_interrupt(&t->queues[q]))
			raise_interrupt(t, VIRTIO_MMIO_INT_VRING);
	}
	virtio_unlock(t);
}

void virtio_config_changed(struct virtio_transport *t)
{
	virtio_lock(t);
	t->config_generation++;
	raise_interrupt(t, VIRTIO_MMIO_INT_CONFIG);
	virtio_unlock(t);
}

void virtio_device_error(struct virtio_transport *t, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	virtio_lock(t);
	if (!t->error_logged) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		log_warn("%s at 0x%" PRIx64 ": %s; the device needs a reset by its driver", t->ops->name, t->base,
			 why);
		t->error_logged = true;
	}
	if (!(t->status & VIRTIO_CONFIG_S_NEEDS_RESET)) {
		t->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
		raise_interrupt(t, VIRTIO_MMIO_INT_CONFIG);   /* §2.1.2: tell the driver */
	}
	virtio_unlock(t);
}

/* ---- reset, status, features -------------------------------------------- */

static void reset_queue_registers(struct virtio_transport *t, unsigned q)
{
	struct virtio_mmio_queue_regs *r = &t->qregs[q];

	/* QueueNum starts at the maximum, so a driver that never writes it still gets a valid size. */
	r->num = t->ops->queue_max_size;
	r->desc = r->avail = r->used = 0;
	r->ready = false;
	virtq_reset(&t->queues[q]);
}

static void reset_device(struct virtio_transport *t)
{
	if (t->ops->reset)
		t->ops->reset(t->dev);
	for (unsigned q = 0; q < t->ops->num_queues; q++)
		reset_queue_registers(t, q);
	t->status = 0;
	t->device_features_sel = t->driver_features_sel = 0;
	t->driver_features = 0;
	t->queue_sel = 0;
	t->interrupt_status = 0;
}

static bool features_acceptable(struct virtio_transport *t)
{
	uint64_t unoffered = t->driver_features & ~t->device_features;

	if (unoffered) {
		if (first_time(t, LOGGED_FEATURES))
			log_debug("%s: driver accepted features 0x%" PRIx64 " that were not offered; FEATURES_OK refused",
				  t->ops->name, unoffered);
		return false;
	}
	if (!(t->driver_features & (1ull << VIRTIO_F_VERSION_1))) {
		if (first_time(t, LOGGED_FEATURES))
			log_debug("%s: driver without VIRTIO_F_VERSION_1 (legacy); FEATURES_OK refused", t->ops->name);
		return false;
	}
	return true;
}

static void activate(struct virtio_transport *t)
{
	int r;

	if (t->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	r = t->ops->activate ? t->ops->activate(t->dev, t->driver_features) : 0;
	if (r)
		virtio_device_error(t, "cannot run with features 0x%" PRIx64 " (%s)", t->driver_features,
				    strerror(r < 0 ? -r : r));
}

/* May bit be added to status now? §3.1.1 gives the order; FAILED is always allowed. */
static bool status_step_allowed(struct virtio_transport *t, uint32_t bit)
{
	switch (bit) {
	case VIRTIO_CONFIG_S_DRIVER:
		return t->status & VIRTIO_CONFIG_S_ACKNOWLEDGE;
	case VIRTIO_CONFIG_S_FEATURES_OK:
		return (t->status & VIRTIO_CONFIG_S_DRIVER) && features_acceptable(t);
	case VIRTIO_CONFIG_S_DRIVER_OK:
		return t->status & VIRTIO_CONFIG_S_FEATURES_OK;
	default:
		return true;
	}
}

static void write_status(struct virtio_transport *t, uint32_t value)
{
	static const uint32_t order[] = { VIRTIO_CONFIG_S_ACKNOWLEDGE, VIRTIO_CONFIG_S_DRIVER,
					  VIRTIO_CONFIG_S_FEATURES_OK, VIRTIO_CONFIG_S_DRIVER_OK,
					  VIRTIO_CONFIG_S_FAILED };
	uint32_t added;

	if (value == 0) {
		reset_device(t);
		return;
	}
	/* Bits only go away through a reset (§2.1.1: the driver must not clear them). */
	if (t->status & DRIVER_STATUS_BITS & ~value) {
		if (first_time(t, LOGGED_STATUS))
			log_debug("%s: status 0x%x would clear bits of 0x%x; ignored", t->ops->name, value, t->status);
		return;
	}
	added = value & DRIVER_STATUS_BITS & ~t->status;
	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (!(added & order[i]))
			continue;
		if (!status_step_allowed(t, order[i])) {
			if (first_time(t, LOGGED_STATUS))
				log_debug("%s: status bit 0x%x out of order (status 0x%x); not set", t->ops->name,
					  order[i], t->status);
			continue;
		}
		t->status |= order[i];
		if (order[i] == VIRTIO_CONFIG_S_DRIVER_OK)
			activate(t);
	}
}

static uint32_t device_features_word(const struct virtio_transport *t)
{
	switch (t->device_features_sel) {
	case 0: return (uint32_t)t->device_features;
	case 1: return (uint32_t)(t->device_features >> 32);
	default: return 0;
	}
}

static void write_driver_features(struct virtio_transport *t, uint32_t value)
{
	/* §2.2: the feature set is fixed once FEATURES_OK is accepted. */
	if ((t->status & VIRTIO_CONFIG_S_FEATURES_OK) || t->driver_features_sel > 1)
		return;
	if (t->driver_features_sel == 0)
		t->driver_features = (t->driver_features & ~0xffffffffull) | value;
	else
		t->driver_features = (t->driver_features & 0xffffffffull) | (uint64_t)value << 32;
}

/* ---- queues -------------------------------------------------------------- */

static struct virtio_mmio_queue_regs *selected_queue(struct virtio_transport *t)
{
	return t->queue_sel < t->ops->num_queues ? &t->qregs[t->queue_sel] : NULL;
}

static void enable_queue(struct virtio_transport *t, unsigned q)
{
	struct virtio_mmio_queue_regs *r = &t->qregs[q];
	struct virtq *vq = &t->queues[q];

	/* The ring layout depends on the negotiated features (EVENT_IDX), fixed only by FEATURES_OK. */
	if (!(t->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		if (first_time(t, LOGGED_QUEUE_ENABLE))
			log_debug("%s: queue %u made ready before FEATURES_OK; refused", t->ops->name, q);
		return;
	}
	if (virtq_enable(vq, r->num, r->desc, r->avail, r->used, t->driver_features) < 0) {
		if (first_time(t, LOGGED_QUEUE_ENABLE))
			log_warn("%s at 0x%" PRIx64 ": queue %u refused: %s", t->ops->name, t->base, q, vq->error);
		virtq_reset(vq);
		return;
	}
	r->ready = true;
}

static void write_queue_ready(struct virtio_transport *t, uint32_t value)
{
	unsigned q = t->queue_sel;

	if (!selected_queue(t))
		return;
	if (value && !t->qregs[q].ready) {
		enable_queue(t, q);
	} else if (!value && t->qregs[q].ready) {
		/* Linux writes 0 when it deletes a queue and checks it reads back 0. */
		t->qregs[q].ready = false;
		virtq_reset(&t->queues[q]);
	}
}

static void set_low(uint64_t *reg, uint32_t value)
{
	*reg = (*reg & ~0xffffffffull) | value;
}

static void set_high(uint64_t *reg, uint32_t value)
{
	*reg = (*reg & 0xffffffffull) | (uint64_t)value << 32;
}

/* QueueNum and the ring addresses: only while the selected queue exists and is not ready. */
static void write_queue_register(struct virtio_transport *t, uint64_t offset, uint32_t value)
{
	struct virtio_mmio_queue_regs *r = selected_queue(t);

	if (!r || r->ready) {
		if (first_time(t, LOGGED_QUEUE_LOCKED))
			log_debug("%s: write to register 0x%" PRIx64 " of queue %u (%s); ignored", t->ops->name,
				  offset, t->queue_sel, r ? "ready" : "absent");
		return;
	}
	switch (offset) {
	/* A size that does not fit 16 bits becomes 0, which enabling refuses. */
	case VIRTIO_MMIO_QUEUE_NUM: r->num = value <= UINT16_MAX ? (uint16_t)value : 0; break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW: set_low(&r->desc, value); break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH: set_high(&r->desc, value); break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW: set_low(&r->avail, value); break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: set_high(&r->avail, value); break;
	case VIRTIO_MMIO_QUEUE_USED_LOW: set_low(&r->used, value); break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH: set_high(&r->used, value); break;
	}
}

/* A kick from the MMIO exit path (no ioeventfd, or a write KVM did not match): signal the eventfd. */
static void write_queue_notify(struct virtio_transport *t, uint32_t q)
{
	uint64_t one = 1;

	if (q >= t->ops->num_queues) {
		if (first_time(t, LOGGED_BAD_QUEUE))
			log_debug("%s: notify for queue %u of %u; ignored", t->ops->name, q, t->ops->num_queues);
		t->ignored_notifies++;
		return;
	}
	if (write(t->qregs[q].notify_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("%s: queue %u eventfd: %s", t->ops->name, q, strerror(errno));
}

/* The I/O thread's side of a kick on queue q's eventfd. */
static void queue_kicked(void *ctx, uint32_t events)
{
	struct virtio_transport *t = ctx_transport(ctx);
	unsigned q = ctx_queue(ctx);
	uint64_t count;

	(void)events;
	if (read(t->qregs[q].notify_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("%s: queue %u eventfd: %s", t->ops->name, q, strerror(errno));
	virtio_lock(t);
	if (running(t) && t->qregs[q].ready) {
		t->notifies++;
		if (t->ops->queue_notify)
			t->ops->queue_notify(t->dev, q);
		check_broken(t, q);
	} else {
		t->ignored_notifies++;
		if (first_time(t, LOGGED_NOTIFY_IGNORED))
			log_debug("%s: notify for queue %u while %s; ignored", t->ops->name, q,
				  running(t) ? "the queue is not ready" : "the device is not running");
	}
	virtio_unlock(t);
}

/* ---- register file -------------------------------------------------------- */

static uint32_t read_register(struct virtio_transport *t, uint64_t offset)
{
	struct virtio_mmio_queue_regs *r = selected_queue(t);

	switch (offset) {
	case VIRTIO_MMIO_MAGIC_VALUE: return MAGIC_VALUE;
	case VIRTIO_MMIO_VERSION: return MMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID: return t->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID: return VENDOR_ID;
	case VIRTIO_MMIO_DEVICE_FEATURES: return device_features_word(t);
	case VIRTIO_MMIO_QUEUE_NUM_MAX: return r ? t->ops->queue_max_size : 0;
	case VIRTIO_MMIO_QUEUE_READY: return r ? r->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS: return t->interrupt_status;
	case VIRTIO_MMIO_STATUS: return t->status;
	case VIRTIO_MMIO_CONFIG_GENERATION: return t->config_generation;
	/* No shared memory regions: a length of all ones says "absent" (§4.2.2). */
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH: return 0xffffffffu;
	default: return 0;   /* write-only, legacy-only or reserved */
	}
}

static void write_register(struct virtio_transport *t, uint64_t offset, uint32_t value)
{
	switch (offset) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL: t->device_features_sel = value; break;
	case VIRTIO_MMIO_DRIVER_FEATURES: write_driver_features(t, value); break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL: t->driver_features_sel = value; break;
	case VIRTIO_MMIO_QUEUE_SEL: t->queue_sel = value; break;
	case VIRTIO_MMIO_QUEUE_NUM:
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH: write_queue_register(t, offset, value); break;
	case VIRTIO_MMIO_QUEUE_READY: write_queue_ready(t, value); break;
	case VIRTIO_MMIO_QUEUE_NOTIFY: write_queue_notify(t, value); break;
	case VIRTIO_MMIO_INTERRUPT_ACK: t->interrupt_status &= ~value; break;
	case VIRTIO_MMIO_STATUS: write_status(t, value); break;
	default: break;      /* read-only, legacy-only or reserved */
	}
}

static void config_access(struct virtio_transport *t, uint32_t offset, uint8_t *data, unsigned size,
			  bool is_write)
{
	const struct virtio_device_ops *ops = t->ops;
	bool sized = size == 1 || size == 2 || size == 4 || size == 8;

	if (!sized || offset >= ops->config_size || size > ops->config_size - offset) {
		if (first_time(t, LOGGED_CONFIG_BOUNDS))
			log_debug("%s: %u-byte config %s at 0x%x, config space is %u bytes; ignored", ops->name, size,
				  is_write ? "write" : "read", offset, ops->config_size);
		if (!is_write)
			memset(data, 0, size);
		return;
	}
	if (!is_write) {
		memset(data, 0, size);
		if (ops->config_read)
			ops->config_read(t->dev, offset, data, size);
	} else if (ops->config_write) {
		ops->config_write(t->dev, offset, data, size);
	}
}

static void mmio_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct virtio_transport *t = dev;
	uint32_t value;

	virtio_lock(t);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		config_access(t, (uint32_t)(offset - VIRTIO_MMIO_CONFIG), data, size, is_write);
	} else if (size != 4 || offset % 4) {
		/* §4.2.2.2: registers are 32-bit and aligned; anything else is undefined, we make it harmless. */
		if (first_time(t, LOGGED_ACCESS_SIZE))
			log_debug("%s: %u-byte %s of register 0x%" PRIx64 "; ignored", t->ops->name, size,
				  is_write ? "write" : "read", offset);
		if (!is_write)
			memset(data, 0, size);
	} else if (is_write) {
		memcpy(&value, data, 4);     /* x86 hosts: guest and host are both little-endian */
		write_register(t, offset, value);
	} else {
		value = read_register(t, offset);
		memcpy(data, &value, 4);
	}
	virtio_unlock(t);
}

/* ---- setup and teardown ----------------------------------------------------- */

static bool power_of_two(unsigned v)
{
	return v && !(v & (v - 1));
}

static int check_model(const struct device_host *host, const struct virtio_device_ops *ops,
		       struct vmon_error *err)
{
	if (ops->num_queues == 0 || ops->num_queues > VIRTIO_MMIO_MAX_QUEUES)
		return error_set(err, -EINVAL, "%s: %u queues (1 to %u supported)", ops->name, ops->num_queues,
				 VIRTIO_MMIO_MAX_QUEUES);
	if (!power_of_two(ops->queue_max_size) || ops->queue_max_size > VIRTQ_MAX_SIZE)
		return error_set(err, -EINVAL, "%s: queue size %u is not a power of 2 up to %u", ops->name,
				 ops->queue_max_size, VIRTQ_MAX_SIZE);
	if (ops->config_size > VIRTIO_MMIO_WINDOW - VIRTIO_MMIO_CONFIG)
		return error_set(err, -EINVAL, "%s: config space of %u bytes does not fit the MMIO window",
				 ops->name, ops->config_size);
	if (!host->mem || !host->mmio)
		return error_set(err, -EINVAL, "%s: the host gives no guest memory or MMIO bus", ops->name);
	return 0;
}

static int init_lock(struct virtio_transport *t, struct vmon_error *err)
{
	pthread_mutexattr_t attr;
	int r;

	/* Recursive: models call virtio_queue_done() & co. both inside callbacks and under virtio_lock(). */
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	r = pthread_mutex_init(&t->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	return r ? error_set(err, -r, "%s: mutex: %s", t->ops->name, strerror(r)) : 0;
}

static int init_notify_fds(struct virtio_transport *t, struct event_loop *loop, struct vmon_error *err)
{
	t->loop = loop;
	for (unsigned q = 0; q < t->ops->num_queues; q++) {
		int r;

		t->qregs[q].notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->qregs[q].notify_fd < 0)
			return error_set(err, -errno, "%s: queue %u eventfd: %s", t->ops->name, q, strerror(errno));
		r = event_loop_add(loop, t->qregs[q].notify_fd, EPOLLIN, queue_kicked, queue_ctx(t, q), err);
		if (r < 0)
			return r;
	}
	return 0;
}

static void remove_ioeventfds(struct virtio_transport *t, unsigned count)
{
	for (unsigned q = 0; q < count; q++)
		if (t->host->remove_ioeventfd)
			t->host->remove_ioeventfd(t->host->ctx, t->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q,
						  t->qregs[q].notify_fd);
}

/* Optional: without it every kick is an MMIO exit, which write_queue_notify() handles. */
static void init_ioeventfds(struct virtio_transport *t)
{
	const struct device_host *host = t->host;

	if (!host->add_ioeventfd)
		return;
	for (unsigned q = 0; q < t->ops->num_queues; q++) {
		int r = host->add_ioeventfd(host->ctx, t->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q, t->qregs[q].notify_fd);
		if (r < 0) {
			log_info("%s: ioeventfd for queue %u: %s; kicks go through MMIO exits", t->ops->name, q,
				 strerror(-r));
			remove_ioeventfds(t, q);
			return;
		}
	}
	t->ioeventfd = true;
}

/* Optional: without it, interrupts are set_irq pulses. */
static void init_irqfd(struct virtio_transport *t)
{
	const struct device_host *host = t->host;
	int fd, r;

	if (!host->add_irqfd)
		return;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0) {
		log_info("%s: irqfd eventfd: %s; using set_irq", t->ops->name, strerror(errno));
		return;
	}
	r = host->add_irqfd(host->ctx, t->gsi, fd);
	if (r < 0) {
		log_info("%s: irqfd on GSI %u: %s; using set_irq", t->ops->name, t->gsi, strerror(-r));
		close(fd);
		return;
	}
	t->irq_fd = fd;
}

int virtio_mmio_init(struct virtio_transport *t, const struct device_host *host, struct event_loop *loop,
		     uint64_t base, unsigned gsi, const struct virtio_device_ops *ops, void *dev,
		     struct vmon_error *err)
{
	int r;

	memset(t, 0, sizeof(*t));
	t->irq_fd = -1;
	for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
		t->qregs[q].notify_fd = -1;
	r = check_model(host, ops, err);
	if (r < 0)
		return r;
	t->ops = ops;
	r = init_lock(t, err);
	if (r < 0) {
		t->ops = NULL;     /* tells destroy there is nothing to undo */
		return r;
	}
	t->dev = dev;
	t->host = host;
	t->base = base;
	t->gsi = gsi;
	t->device_features = (ops->features & ~TRANSPORT_FEATURE_BITS) | (ops->features & VIRTIO_TRANSPORT_FEATURES) |
			     (1ull << VIRTIO_F_VERSION_1);
	for (unsigned q = 0; q < ops->num_queues; q++) {
		virtq_init(&t->queues[q], host->mem, ops->queue_max_size);
		reset_queue_registers(t, q);
	}
	r = init_notify_fds(t, loop, err);
	if (r == 0) {
		init_ioeventfds(t);
		init_irqfd(t);
		/* Last: the bus has no unregister, so nothing may fail after this. */
		r = io_bus_register(host->mmio, base, VIRTIO_MMIO_WINDOW, ops->name, mmio_access, t, err);
	}
	if (r < 0)
		virtio_mmio_destroy(t);
	return r;
}

void virtio_mmio_destroy(struct virtio_transport *t)
{
	if (!t->ops)
		return;
	if (t->ioeventfd)
		remove_ioeventfds(t, t->ops->num_queues);
	t->ioeventfd = false;
	for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
		if (t->qregs[q].notify_fd < 0)
			continue;
		if (t->loop)
			event_loop_remove(t->loop, t->qregs[q].notify_fd);
		close(t->qregs[q].notify_fd);
		t->qregs[q].notify_fd = -1;
	}
	if (t->irq_fd >= 0) {
		if (t->host->remove_irqfd)
			t->host->remove_irqfd(t->host->ctx, t->gsi, t->irq_fd);
		close(t->irq_fd);
		t->irq_fd = -1;
	}
	pthread_mutex_destroy(&t->lock);
	t->loop = NULL;
	t->ops = NULL;
}

int virtio_mmio_linux_arg(const struct virtio_transport *t, char *buf, size_t size)
{
	int n = snprintf(buf, size, "virtio_mmio.device=4K@0x%llx:%u", (unsigned long long)t->base, t->gsi);

	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}
