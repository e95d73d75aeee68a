/* SPDX-License-Identifier: MIT */
#include "virtio/mmio.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
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

_Static_assert(VIRTIO_INT_USED_BUFFER == VIRTIO_MMIO_INT_VRING && VIRTIO_INT_CONFIG == VIRTIO_MMIO_INT_CONFIG,
	       "the core's interrupt causes are InterruptStatus bits");

/* Register-level guest mistakes logged once per device (t->logged); the core logs its own. */
enum {
	LOGGED_ACCESS_SIZE = 1u << 0,
	LOGGED_BAD_QUEUE = 1u << 1,
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


static const char *name(const struct virtio_transport *t)
{
	return t->vdev.ops->name;
}

/* ---- the core's hooks (virtio_dev lock held) -------------------------------- */

/* An edge on the GSI: through the irqfd, or a set_irq pulse. */
static void mmio_interrupt(void *ctx)
{
	struct virtio_transport *t = ctx;
	uint64_t one = 1;

	atomic_fetch_add_explicit(&t->interrupts, 1, memory_order_relaxed);
	if (t->irq_fd >= 0) {
		if (write(t->irq_fd, &one, sizeof(one)) < 0)
			log_warn("%s: irqfd write: %s", name(t), strerror(errno));
		return;
	}
	device_set_irq(t->host, t->gsi, 1);
	device_set_irq(t->host, t->gsi, 0);
}

/* Queue q's eventfd, as a QueueNotify would: the I/O thread serves it. */
static void mmio_kick(void *ctx, unsigned q)
{
	struct virtio_transport *t = ctx;
	uint64_t one = 1;

	if (write(t->notify_fd[q], &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("%s: queue %u eventfd: %s", name(t), q, strerror(errno));
}

static const struct virtio_transport_hooks mmio_hooks = {
	.interrupt = mmio_interrupt,
	.kick = mmio_kick,
};

/* ---- queues -------------------------------------------------------------- */

static void set_low(uint64_t *reg, uint32_t value)
{
	*reg = (*reg & ~0xffffffffull) | value;
}

static void set_high(uint64_t *reg, uint32_t value)
{
	*reg = (*reg & 0xffffffffull) | (uint64_t)value << 32;
}

static const char *queue_register_name(uint64_t offset)
{
	switch (offset) {
	case VIRTIO_MMIO_QUEUE_NUM: return "QueueNum";
	case VIRTIO_MMIO_QUEUE_DESC_LOW: return "QueueDescLow";
	case VIRTIO_MMIO_QUEUE_DESC_HIGH: return "QueueDescHigh";
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW: return "QueueDriverLow";
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: return "QueueDriverHigh";
	case VIRTIO_MMIO_QUEUE_USED_LOW: return "QueueDeviceLow";
	default: return "QueueDeviceHigh";
	}
}

/* QueueNum and the ring addresses: only while the selected queue exists and is not ready. */
static void write_queue_register(struct virtio_transport *t, uint64_t offset, uint32_t value)
{
	struct virtio_queue_regs *r = virtio_dev_writable_queue(&t->vdev, queue_register_name(offset));

	if (!r)
		return;
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

	if (q >= t->vdev.ops->num_queues) {
		if (log_first_time(&t->logged, LOGGED_BAD_QUEUE))
			log_debug("%s: notify for queue %u of %u; ignored", name(t), q, t->vdev.ops->num_queues);
		atomic_fetch_add_explicit(&t->ignored_notifies, 1, memory_order_relaxed);
		return;
	}
	if (write(t->notify_fd[q], &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("%s: queue %u eventfd: %s", name(t), q, strerror(errno));
}

/* The I/O thread's side of a kick on queue q's eventfd. */
static void queue_kicked(void *ctx, uint32_t events)
{
	struct virtio_transport *t = ctx_transport(ctx);
	unsigned q = ctx_queue(ctx);
	uint64_t count;

	(void)events;
	if (read(t->notify_fd[q], &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("%s: queue %u eventfd: %s", name(t), q, strerror(errno));
	virtio_lock(&t->vdev);
	if (virtio_dev_queue_notify(&t->vdev, q))
		atomic_fetch_add_explicit(&t->notifies, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&t->ignored_notifies, 1, memory_order_relaxed);
	virtio_unlock(&t->vdev);
}

/* ---- register file -------------------------------------------------------- */

static uint32_t read_register(struct virtio_transport *t, uint64_t offset)
{
	struct virtio_dev *d = &t->vdev;
	struct virtio_queue_regs *r = virtio_dev_selected_queue(d);

	switch (offset) {
	case VIRTIO_MMIO_MAGIC_VALUE: return MAGIC_VALUE;
	case VIRTIO_MMIO_VERSION: return MMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID: return d->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID: return VENDOR_ID;
	case VIRTIO_MMIO_DEVICE_FEATURES: return virtio_dev_device_features_word(d);
	case VIRTIO_MMIO_QUEUE_NUM_MAX: return r ? d->ops->queue_max_size : 0;
	case VIRTIO_MMIO_QUEUE_READY: return r ? r->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS: return d->interrupt_status;
	case VIRTIO_MMIO_STATUS: return d->status;
	case VIRTIO_MMIO_CONFIG_GENERATION: return d->config_generation;
	/* No shared memory regions: a length of all ones says "absent" (§4.2.2). */
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH: return 0xffffffffu;
	default: return 0;   /* write-only, legacy-only or reserved */
	}
}

static void write_register(struct virtio_transport *t, uint64_t offset, uint32_t value)
{
	struct virtio_dev *d = &t->vdev;

	switch (offset) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL: d->device_features_sel = value; break;
	case VIRTIO_MMIO_DRIVER_FEATURES: virtio_dev_write_driver_features(d, value); break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL: d->driver_features_sel = value; break;
	case VIRTIO_MMIO_QUEUE_SEL: d->queue_sel = value; break;
	case VIRTIO_MMIO_QUEUE_NUM:
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH: write_queue_register(t, offset, value); break;
	case VIRTIO_MMIO_QUEUE_READY: virtio_dev_write_queue_ready(d, value); break;
	case VIRTIO_MMIO_QUEUE_NOTIFY: write_queue_notify(t, value); break;
	case VIRTIO_MMIO_INTERRUPT_ACK: virtio_dev_ack_interrupt(d, value); break;
	case VIRTIO_MMIO_STATUS: virtio_dev_write_status(d, value); break;
	default: break;      /* read-only, legacy-only or reserved */
	}
}

static void mmio_access(void *dev, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
	struct virtio_transport *t = dev;
	uint32_t value;

	virtio_lock(&t->vdev);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		virtio_dev_config_access(&t->vdev, (uint32_t)(offset - VIRTIO_MMIO_CONFIG), data, size, is_write);
	} else if (size != 4 || offset % 4) {
		/* §4.2.2.2: registers are 32-bit and aligned; anything else is undefined, we make it harmless. */
		if (log_first_time(&t->logged, LOGGED_ACCESS_SIZE))
			log_debug("%s: %u-byte %s of register 0x%" PRIx64 "; ignored", name(t), size,
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
	virtio_unlock(&t->vdev);
}

/* ---- setup and teardown ----------------------------------------------------- */

static int init_notify_fds(struct virtio_transport *t, struct event_loop *loop, struct vmon_error *err)
{
	t->loop = loop;
	for (unsigned q = 0; q < t->vdev.ops->num_queues; q++) {
		int r;

		t->notify_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->notify_fd[q] < 0)
			return error_set(err, -errno, "%s: queue %u eventfd: %s", name(t), q, strerror(errno));
		r = event_loop_add(loop, t->notify_fd[q], EPOLLIN, queue_kicked, queue_ctx(t, q), err);
		if (r < 0)
			return r;
	}
	return 0;
}

static void remove_ioeventfds(struct virtio_transport *t, unsigned count)
{
	for (unsigned q = 0; q < count; q++)
		if (t->host->remove_ioeventfd)
			t->host->remove_ioeventfd(t->host->ctx, t->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q, t->notify_fd[q]);
}

/* Optional: without it every kick is an MMIO exit, which write_queue_notify() handles. */
static void init_ioeventfds(struct virtio_transport *t)
{
	const struct device_host *host = t->host;

	if (!host->add_ioeventfd)
		return;
	for (unsigned q = 0; q < t->vdev.ops->num_queues; q++) {
		int r = host->add_ioeventfd(host->ctx, t->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q, t->notify_fd[q]);
		if (r < 0) {
			log_info("%s: ioeventfd for queue %u: %s; kicks go through MMIO exits", name(t), q,
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
		log_info("%s: irqfd eventfd: %s; using set_irq", name(t), strerror(errno));
		return;
	}
	r = host->add_irqfd(host->ctx, t->gsi, fd);
	if (r < 0) {
		log_info("%s: irqfd on GSI %u: %s; using set_irq", name(t), t->gsi, strerror(-r));
		close(fd);
		return;
	}
	t->irq_fd = fd;
}

int virtio_mmio_init(struct virtio_transport *t, const struct device_host *host, struct event_loop *loop,
		     uint64_t base, unsigned gsi, const struct virtio_device_ops *ops, void *dev,
		     struct vmon_error *err)
{
	char label[48];
	int r;

	memset(t, 0, sizeof(*t));
	t->irq_fd = -1;
	for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
		t->notify_fd[q] = -1;
	if (ops->config_size > VIRTIO_MMIO_WINDOW - VIRTIO_MMIO_CONFIG)
		return error_set(err, -EINVAL, "%s: config space of %u bytes does not fit the MMIO window",
				 ops->name, ops->config_size);
	if (!host->mem || !host->mmio)
		return error_set(err, -EINVAL, "%s: the host gives no guest memory or MMIO bus", ops->name);
	snprintf(label, sizeof(label), "%s at 0x%" PRIx64, ops->name, base);
	r = virtio_dev_init(&t->vdev, ops, dev, host->mem, label, &mmio_hooks, t, err);
	if (r < 0)
		return r;
	t->host = host;
	t->base = base;
	t->gsi = gsi;
	r = init_notify_fds(t, loop, err);
	if (r == 0) {
		init_ioeventfds(t);
		init_irqfd(t);
		/* Last: nothing may fail after the guest can reach the window. */
		r = io_bus_register(host->mmio, base, VIRTIO_MMIO_WINDOW, ops->name, mmio_access, t, err);
	}
	if (r < 0)
		virtio_mmio_destroy(t);
	return r;
}

void virtio_mmio_destroy(struct virtio_transport *t)
{
	if (!t->vdev.lock_ready)
		return;
	if (t->ioeventfd)
		remove_ioeventfds(t, t->vdev.ops->num_queues);
	t->ioeventfd = false;
	for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
		if (t->notify_fd[q] < 0)
			continue;
		if (t->loop)
			event_loop_remove(t->loop, t->notify_fd[q]);
		close(t->notify_fd[q]);
		t->notify_fd[q] = -1;
	}
	if (t->irq_fd >= 0) {
		if (t->host->remove_irqfd)
			t->host->remove_irqfd(t->host->ctx, t->gsi, t->irq_fd);
		close(t->irq_fd);
		t->irq_fd = -1;
	}
	virtio_dev_destroy(&t->vdev);
	t->loop = NULL;
}

int virtio_mmio_linux_arg(const struct virtio_transport *t, char *buf, size_t size)
{
	int n = snprintf(buf, size, "virtio_mmio.device=4K@0x%llx:%u", (unsigned long long)t->base, t->gsi);

	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}
