/* SPDX-License-Identifier: MIT */
/*
 * The test guests' virtio-mmio v2 driver (see virtio.h). Written from the
 * virtio 1.2 split-ring rules as Linux's drivers/virtio/virtio_mmio.c and
 * virtio_ring.c apply them; small and strict rather than fast.
 */
#include "virtio.h"

#define READ_ONCE(x)     (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

#define PAGE_SIZE 4096u
#define VQ_POOL_QUEUES 12
#define CMOS_INDEX_PORT 0x70
#define CMOS_DATA_PORT  0x71
#define CMOS_SECONDS    0x00
#define DEADLINE_SPINS_PER_CHECK 1024u
#define DEADLINE_CHECKS_PER_SECOND_NO_RTC 4096u
#define CONFIG_GENERATION_TRIES 100

/*
 * Ring memory, one page per queue: desc at 0 (16 x 64 bytes), avail at 1 KiB
 * (6 + 2 x 64), used at 2 KiB (6 + 8 x 64). Not zeroed by start.S.
 */
#define VQ_AVAIL_OFFSET 1024u
#define VQ_USED_OFFSET  2048u
_Static_assert(VQ_MAX_SIZE * sizeof(struct vring_desc) <= VQ_AVAIL_OFFSET, "desc ring overlaps avail");
_Static_assert(VQ_AVAIL_OFFSET + 6 + 2 * VQ_MAX_SIZE <= VQ_USED_OFFSET, "avail ring overlaps used");
_Static_assert(VQ_USED_OFFSET + 6 + 8 * VQ_MAX_SIZE <= PAGE_SIZE, "used ring beyond the page");
static uint8_t vq_pool[VQ_POOL_QUEUES][PAGE_SIZE] __attribute__((section(".bss.noinit.virtio"), aligned(4096)));
static unsigned int vq_pool_used;
static const char *guest_name = "virtio";
static struct virtio_dev *irq_devs[16];
static virtio_fail_sink_fn fail_sink;

static const uint8_t vmon_gsi[VIRTIO_VMON_SLOTS] = { 5, 6, 7, 9, 10, 11, 14, 15 };

/* ---- messages ------------------------------------------------------------ */

void virtio_set_guest_name(const char *name)
{
	guest_name = name;
}

const char *virtio_guest_name(void)
{
	return guest_name;
}

static void emit_serial(char c, void *ctx)
{
	(void)ctx;
	serial_putc(c);
}

void virtio_set_fail_sink(virtio_fail_sink_fn sink)
{
	fail_sink = sink;
}

struct message_buf {
	char text[256];
	size_t len;
};

static void emit_message(char c, void *ctx)
{
	struct message_buf *m = ctx;

	if (m->len + 1 < sizeof(m->text))
		m->text[m->len++] = c;
}

static unsigned int current_cpl(void)
{
	uint16_t cs;

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return cs & 3u;
}

void virtio_fail(uint32_t code, const char *fmt, ...)
{
	va_list ap;

	if (fail_sink && current_cpl() != 0) {
		static struct message_buf m;

		m.len = 0;
		va_start(ap, fmt);
		vformat(emit_message, &m, fmt, ap);
		va_end(ap);
		m.text[m.len] = '\0';
		fail_sink(code, m.text);
	}
	cpu_cli();
	printf("%s: FAIL: ", guest_name);
	va_start(ap, fmt);
	vformat(emit_serial, NULL, fmt, ap);
	va_end(ap);
	printf("\n");
	debug_exit(code);
}

const char *virtio_id_name(uint32_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_NET: return "virtio-net";
	case VIRTIO_ID_BLOCK: return "virtio-blk";
	case VIRTIO_ID_CONSOLE: return "virtio-console";
	case VIRTIO_ID_RNG: return "virtio-rng";
	default: return "virtio-?";
	}
}

/* ---- bounded waits ------------------------------------------------------- */

static uint8_t cmos_seconds(void)
{
	outb(CMOS_INDEX_PORT, CMOS_SECONDS);
	return inb(CMOS_DATA_PORT);
}

void virtio_deadline_start(struct virtio_deadline *d, uint32_t seconds)
{
	d->last_second = cmos_seconds();
	d->rtc = d->last_second != 0xff;
	/* One more tick than asked: the first one may come at once. */
	d->seconds_left = seconds + 1;
	d->spins = 0;
}

bool virtio_deadline_expired(struct virtio_deadline *d)
{
	__asm__ volatile("pause");
	if (++d->spins % DEADLINE_SPINS_PER_CHECK)
		return false;
	if (d->rtc) {
		uint8_t now = cmos_seconds();

		if (now == d->last_second)
			return false;
		d->last_second = now;
	} else if (d->spins % (DEADLINE_SPINS_PER_CHECK * DEADLINE_CHECKS_PER_SECOND_NO_RTC)) {
		return false;
	}
	return --d->seconds_left == 0;
}

/* Checks happen every DEADLINE_SPINS_PER_CHECK polls: the moment for a (costly) register read too. */
static bool deadline_just_checked(const struct virtio_deadline *d)
{
	return d->spins % DEADLINE_SPINS_PER_CHECK == 0;
}

/* ---- discovery ----------------------------------------------------------- */

/* "SIZE@BASE:IRQ[:ID]" (Linux's virtio_mmio.device=, SIZE with an optional K/M/G). */
static bool parse_device_word(const char *s, uint64_t *base, unsigned int *irq)
{
	uint64_t size, v;

	if (!parse_number(&s, &size))
		return false;
	if (*s == 'K' || *s == 'k' || *s == 'M' || *s == 'm' || *s == 'G' || *s == 'g')
		s++;
	if (*s++ != '@' || !parse_number(&s, base) || *s++ != ':' || !parse_number(&s, &v) || v > 255)
		return false;
	*irq = (unsigned int)v;
	return *s == ':' || *s == ' ' || *s == '\0';
}

/* Candidate windows: the cmdline's words, else vmon's slots. Returns how many. */
static unsigned int candidates(const struct boot_info *bi, uint64_t *bases, unsigned int *irqs)
{
	static const char key[] = "virtio_mmio.device=";
	unsigned int n = 0;
	const char *p = bi->cmdline;

	while (*p && n < VIRTIO_MAX_DEVICES) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, sizeof(key) - 1)) {
			if (!parse_device_word(p + sizeof(key) - 1, &bases[n], &irqs[n]))
				virtio_fail(VIRTIO_EXIT_NO_DEVICE, "malformed virtio_mmio.device= word (want SIZE@BASE:IRQ)");
			n++;
		}
		while (*p && *p != ' ')
			p++;
	}
	if (n)
		return n;
	for (unsigned int i = 0; i < VIRTIO_VMON_SLOTS; i++) {
		bases[i] = VIRTIO_VMON_BASE + i * VIRTIO_VMON_STRIDE;
		irqs[i] = vmon_gsi[i];
	}
	return VIRTIO_VMON_SLOTS;
}

void virtio_find(const struct boot_info *bi, uint32_t device_id, unsigned int nth, struct virtio_dev *dev)
{
	uint64_t bases[VIRTIO_MAX_DEVICES];
	unsigned int irqs[VIRTIO_MAX_DEVICES];
	unsigned int n = candidates(bi, bases, irqs);
	unsigned int seen = 0;

	for (unsigned int i = 0; i < n; i++) {
		if (bases[i] < 0xc0000000ull || bases[i] >= 0x100000000ull)
			virtio_fail(VIRTIO_EXIT_NO_DEVICE, "virtio-mmio window 0x%lx is not mapped (3..4 GiB only)",
				    bases[i]);
		if (mmio_read32(bases[i] + VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC ||
		    mmio_read32(bases[i] + VIRTIO_MMIO_DEVICE_ID) != device_id || seen++ != nth)
			continue;
		*dev = (struct virtio_dev){ .base = bases[i], .irq = irqs[i], .device_id = device_id };
		uint32_t version = virtio_read(dev, VIRTIO_MMIO_VERSION);
		printf("virtio: %s at 0x%lx irq %u, version %u\n", virtio_id_name(device_id), dev->base, dev->irq,
		       version);
		if (version != 2)
			virtio_fail(VIRTIO_EXIT_BAD_DEVICE, "%s at 0x%lx: version %u, want 2 (no legacy)",
				    virtio_id_name(device_id), dev->base, version);
		return;
	}
	virtio_fail(VIRTIO_EXIT_NO_DEVICE, "no %s (device id %u, number %u) among %u windows",
		    virtio_id_name(device_id), device_id, nth, n);
}

/* ---- status and features ------------------------------------------------- */

uint32_t virtio_status(const struct virtio_dev *dev)
{
	return virtio_read(dev, VIRTIO_MMIO_STATUS);
}

bool virtio_needs_reset(const struct virtio_dev *dev)
{
	return virtio_status(dev) & VIRTIO_STATUS_NEEDS_RESET;
}

bool virtio_wait_needs_reset(const struct virtio_dev *dev, uint32_t seconds)
{
	struct virtio_deadline d;

	virtio_deadline_start(&d, seconds);
	while (!virtio_needs_reset(dev)) {
		/* Status is a register: a VM exit per read, so read it only at the checks. */
		while (!virtio_deadline_expired(&d) && !deadline_just_checked(&d))
			;
		if (d.seconds_left == 0)
			return virtio_needs_reset(dev);
	}
	return true;
}

bool virtio_try_reset(struct virtio_dev *dev)
{
	struct virtio_deadline d;

	virtio_write(dev, VIRTIO_MMIO_STATUS, 0);
	virtio_deadline_start(&d, VIRTIO_TIMEOUT_S);
	/* §4.2.3.1: the driver waits for Status to read 0 before reinitialising. */
	while (virtio_status(dev) != 0) {
		if (virtio_deadline_expired(&d))
			return false;
	}
	return true;
}

void virtio_reset(struct virtio_dev *dev)
{
	if (!virtio_try_reset(dev))
		virtio_fail(VIRTIO_EXIT_TIMEOUT, "%s: Status still 0x%x after writing 0 (reset)",
			    virtio_id_name(dev->device_id), virtio_status(dev));
}

static void set_status_bits(struct virtio_dev *dev, uint32_t bits)
{
	virtio_write(dev, VIRTIO_MMIO_STATUS, virtio_status(dev) | bits);
}

void virtio_negotiate(struct virtio_dev *dev, uint64_t wanted)
{
	const char *name = virtio_id_name(dev->device_id);

	virtio_reset(dev);
	set_status_bits(dev, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	set_status_bits(dev, VIRTIO_CONFIG_S_DRIVER);
	virtio_write(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	dev->offered = virtio_read(dev, VIRTIO_MMIO_DEVICE_FEATURES);
	virtio_write(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	dev->offered |= (uint64_t)virtio_read(dev, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	if (!(dev->offered & (1ull << VIRTIO_F_VERSION_1)))
		virtio_fail(VIRTIO_EXIT_BAD_DEVICE, "%s does not offer VIRTIO_F_VERSION_1 (features 0x%lx)", name,
			    dev->offered);
	dev->features = (wanted | (1ull << VIRTIO_F_VERSION_1)) & dev->offered;
	virtio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	virtio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)dev->features);
	virtio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	virtio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(dev->features >> 32));
	set_status_bits(dev, VIRTIO_CONFIG_S_FEATURES_OK);
	if (!(virtio_status(dev) & VIRTIO_CONFIG_S_FEATURES_OK))
		virtio_fail(VIRTIO_EXIT_BAD_DEVICE, "%s refused features 0x%lx (status 0x%x)", name, dev->features,
			    virtio_status(dev));
	printf("virtio: %s features offered 0x%lx, negotiated 0x%lx\n", name, dev->offered, dev->features);
}

void virtio_driver_ok(struct virtio_dev *dev)
{
	set_status_bits(dev, VIRTIO_CONFIG_S_DRIVER_OK);
}

/* ---- config space -------------------------------------------------------- */

uint8_t virtio_cfg8(const struct virtio_dev *dev, uint32_t off)
{
	return *(volatile uint8_t *)(uintptr_t)(dev->base + VIRTIO_MMIO_CONFIG + off);
}

uint16_t virtio_cfg16(const struct virtio_dev *dev, uint32_t off)
{
	return *(volatile uint16_t *)(uintptr_t)(dev->base + VIRTIO_MMIO_CONFIG + off);
}

uint32_t virtio_cfg32(const struct virtio_dev *dev, uint32_t off)
{
	return mmio_read32(dev->base + VIRTIO_MMIO_CONFIG + off);
}

uint64_t virtio_cfg64(const struct virtio_dev *dev, uint32_t off)
{
	for (int i = 0; i < CONFIG_GENERATION_TRIES; i++) {
		uint32_t gen = virtio_read(dev, VIRTIO_MMIO_CONFIG_GENERATION);
		uint64_t v = virtio_cfg32(dev, off) | (uint64_t)virtio_cfg32(dev, off + 4) << 32;

		if (virtio_read(dev, VIRTIO_MMIO_CONFIG_GENERATION) == gen)
			return v;
	}
	virtio_fail(VIRTIO_EXIT_BAD_DEVICE, "%s: ConfigGeneration never stable", virtio_id_name(dev->device_id));
}

/* ---- interrupts ---------------------------------------------------------- */

uint32_t virtio_ack_interrupt(struct virtio_dev *dev)
{
	uint32_t status = virtio_read(dev, VIRTIO_MMIO_INTERRUPT_STATUS);

	if (status)
		virtio_write(dev, VIRTIO_MMIO_INTERRUPT_ACK, status);
	return status;
}

static void virtio_isr(struct isr_frame *frame)
{
	unsigned int irq = (unsigned int)(frame->vector - PIC_MASTER_VECTOR);
	struct virtio_dev *dev = irq < 16 ? irq_devs[irq] : NULL;

	if (dev) {
		uint32_t status = virtio_ack_interrupt(dev);

		/* Nothing pending: a spurious IRQ7/IRQ15 or a shared edge already handled. */
		if (status) {
			dev->irqs = dev->irqs + 1;
			dev->irq_status_seen = dev->irq_status_seen | status;
		}
	}
	pic_eoi(irq);
}

bool virtio_irq_attach(struct virtio_dev *dev)
{
	uint16_t mask = 0;

	if (dev->irq >= 16 || dev->irq == 2)
		return false;
	cpu_cli();
	irq_devs[dev->irq] = dev;
	idt_set_handler(PIC_MASTER_VECTOR + dev->irq, virtio_isr);
	for (unsigned int i = 0; i < 16; i++) {
		if (irq_devs[i])
			mask = (uint16_t)(mask | 1u << i);
	}
	pic_init(mask);
	lapic_virtual_wire();
	cpu_sti();
	return true;
}

/* ---- virtqueues ---------------------------------------------------------- */

void virtio_notify(struct virtio_dev *dev, uint32_t index)
{
	virtio_mb();
	virtio_write(dev, VIRTIO_MMIO_QUEUE_NOTIFY, index);
}

void virtq_setup_raw(struct virtio_dev *dev, uint16_t index, uint16_t size, uint64_t desc, uint64_t avail,
		     uint64_t used)
{
	virtio_write(dev, VIRTIO_MMIO_QUEUE_SEL, index);
	virtio_write(dev, VIRTIO_MMIO_QUEUE_NUM, size);
	virtio_write(dev, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	virtio_write(dev, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	virtio_write(dev, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	virtio_write(dev, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
	virtio_write(dev, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	virtio_write(dev, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
	virtio_mb();
	virtio_write(dev, VIRTIO_MMIO_QUEUE_READY, 1);
}

void virtq_setup(struct vq *vq, struct virtio_dev *dev, uint16_t index, uint16_t size)
{
	const char *name = virtio_id_name(dev->device_id);
	uint32_t max;
	uint16_t n = 1;

	if (!vq->mem) {
		if (vq_pool_used == VQ_POOL_QUEUES)
			virtio_fail(VIRTIO_EXIT_RING_FULL, "out of ring memory (%u queues)", VQ_POOL_QUEUES);
		vq->mem = vq_pool[vq_pool_used++];
	}
	virtio_write(dev, VIRTIO_MMIO_QUEUE_SEL, index);
	if (virtio_read(dev, VIRTIO_MMIO_QUEUE_READY))
		virtio_fail(VIRTIO_EXIT_BAD_DEVICE, "%s queue %u is ready before set-up", name, index);
	max = virtio_read(dev, VIRTIO_MMIO_QUEUE_NUM_MAX);
	if (max == 0)
		virtio_fail(VIRTIO_EXIT_BAD_DEVICE, "%s has no queue %u (QueueNumMax 0)", name, index);
	while ((uint32_t)n * 2 <= size && (uint32_t)n * 2 <= max && n * 2u <= VQ_MAX_SIZE)
		n = (uint16_t)(n * 2);

	vq->dev = dev;
	vq->index = index;
	vq->size = n;
	vq->desc = (struct vring_desc *)vq->mem;
	vq->avail = (struct vring_avail *)(vq->mem + VQ_AVAIL_OFFSET);
	vq->used = (struct vring_used *)(vq->mem + VQ_USED_OFFSET);
	/* Only what this size uses: memset costs an emulated instruction per byte on some hosts. */
	memset(vq->desc, 0, sizeof(struct vring_desc) * n);
	memset(vq->avail, 0, sizeof(struct vring_avail) + sizeof(uint16_t) * (n + 1u));
	memset(vq->used, 0, sizeof(struct vring_used) + sizeof(struct vring_used_elem) * n + sizeof(uint16_t));
	memset(vq->chain_len, 0, sizeof(vq->chain_len));
	for (uint16_t i = 0; i < n; i++)
		vq->desc[i].next = (uint16_t)(i + 1);
	vq->free_head = 0;
	vq->num_free = n;
	vq->avail_idx = 0;
	vq->kicked_idx = 0;
	vq->last_used = 0;
	vq->event_idx = virtio_has_feature(dev, VIRTIO_RING_F_EVENT_IDX);

	virtq_setup_raw(dev, index, n, (uint64_t)(uintptr_t)vq->desc, (uint64_t)(uintptr_t)vq->avail,
			(uint64_t)(uintptr_t)vq->used);
	if (virtio_read(dev, VIRTIO_MMIO_QUEUE_READY) != 1)
		virtio_fail(VIRTIO_EXIT_BAD_DEVICE, "%s queue %u: QueueReady reads %u after writing 1", name, index,
			    virtio_read(dev, VIRTIO_MMIO_QUEUE_READY));
}

void vq_publish(struct vq *vq, uint16_t head)
{
	WRITE_ONCE(vq->avail->ring[vq->avail_idx % vq->size], head);
	/* The entry before the index (x86 keeps stores in order; the compiler must too). */
	compiler_barrier();
	vq->avail_idx = (uint16_t)(vq->avail_idx + 1);
	WRITE_ONCE(vq->avail->idx, vq->avail_idx);
}

uint16_t vq_add(struct vq *vq, const struct vq_seg *segs, unsigned int n)
{
	uint16_t head = vq->free_head, i = head, last = head;
	uint32_t writable = 0;

	if (n == 0 || n > vq->num_free)
		virtio_fail(VIRTIO_EXIT_RING_FULL, "queue %u: %u descriptors wanted, %u free", vq->index, n,
			    vq->num_free);
	for (unsigned int k = 0; k < n; k++) {
		struct vring_desc *d = &vq->desc[i];

		d->addr = (uint64_t)(uintptr_t)segs[k].addr;
		d->len = segs[k].len;
		/* The free list is threaded through next: it already names the following free entry. */
		d->flags = (uint16_t)((segs[k].write ? VRING_DESC_F_WRITE : 0) | (k + 1 < n ? VRING_DESC_F_NEXT : 0));
		if (segs[k].write)
			writable += segs[k].len;
		last = i;
		i = d->next;
	}
	vq->free_head = vq->desc[last].next;
	vq->num_free = (uint16_t)(vq->num_free - n);
	vq->chain_len[head] = (uint8_t)n;
	vq->chain_bytes[head] = writable;
	vq_publish(vq, head);
	return head;
}

/* §2.7.10: avail_event follows the used ring's elements. */
static const volatile uint16_t *avail_event(const struct vq *vq)
{
	const uint8_t *ring = (const uint8_t *)vq->used + offsetof(struct vring_used, ring);

	return (const volatile uint16_t *)(ring + sizeof(struct vring_used_elem) * vq->size);
}

void vq_kick(struct vq *vq)
{
	uint16_t old = vq->kicked_idx, now = vq->avail_idx;
	bool notify;

	/* The avail index must be visible before the device's suppression fields are read. */
	virtio_mb();
	vq->kicked_idx = now;
	if (vq->event_idx)
		notify = vring_need_event(*avail_event(vq), now, old);
	else
		notify = !(READ_ONCE(vq->used->flags) & VRING_USED_F_NO_NOTIFY);
	if (notify)
		virtio_write(vq->dev, VIRTIO_MMIO_QUEUE_NOTIFY, vq->index);
}

static void free_chain(struct vq *vq, uint16_t head)
{
	uint16_t last = head;

	for (unsigned int k = 1; k < vq->chain_len[head]; k++)
		last = vq->desc[last].next;
	vq->desc[last].next = vq->free_head;
	vq->free_head = head;
	vq->num_free = (uint16_t)(vq->num_free + vq->chain_len[head]);
	vq->chain_len[head] = 0;
}

bool vq_get_used(struct vq *vq, uint16_t *head, uint32_t *len)
{
	uint16_t idx = READ_ONCE(vq->used->idx);
	uint32_t id, written;

	if (idx == vq->last_used)
		return false;
	if ((uint16_t)(idx - vq->last_used) > vq->size)
		virtio_fail(VIRTIO_EXIT_BAD_USED, "queue %u: used idx %u is more than %u ahead of %u", vq->index,
			    idx, vq->size, vq->last_used);
	/* The element after the index (x86 keeps loads in order; the compiler must too). */
	compiler_barrier();
	id = READ_ONCE(vq->used->ring[vq->last_used % vq->size].id);
	written = READ_ONCE(vq->used->ring[vq->last_used % vq->size].len);
	if (id >= vq->size || !vq->chain_len[id])
		virtio_fail(VIRTIO_EXIT_BAD_USED, "queue %u: used id %u is not in flight", vq->index, id);
	if (written > vq->chain_bytes[id])
		virtio_fail(VIRTIO_EXIT_BAD_USED, "queue %u: used len %u for id %u, which has %u writable bytes",
			    vq->index, written, id, vq->chain_bytes[id]);
	vq->last_used = (uint16_t)(vq->last_used + 1);
	if (vq->event_idx)
		WRITE_ONCE(vq->avail->ring[vq->size], vq->last_used);
	free_chain(vq, (uint16_t)id);
	*head = (uint16_t)id;
	*len = written;
	return true;
}

enum vq_wait_result vq_try_wait_used(struct vq *vq, uint16_t *head, uint32_t *len, uint32_t seconds)
{
	struct virtio_deadline d;

	virtio_deadline_start(&d, seconds);
	for (;;) {
		if (vq_get_used(vq, head, len))
			return VQ_WAIT_USED;
		if (virtio_deadline_expired(&d))
			return VQ_WAIT_TIMEOUT;
		if (deadline_just_checked(&d) && virtio_needs_reset(vq->dev))
			return VQ_WAIT_NEEDS_RESET;
	}
}

void vq_wait_used(struct vq *vq, uint16_t *head, uint32_t *len, const char *what)
{
	switch (vq_try_wait_used(vq, head, len, VIRTIO_TIMEOUT_S)) {
	case VQ_WAIT_USED:
		return;
	case VQ_WAIT_TIMEOUT:
		virtio_fail(VIRTIO_EXIT_TIMEOUT, "%s: no used buffer on queue %u within %u s (status 0x%x)", what,
			    vq->index, VIRTIO_TIMEOUT_S, virtio_status(vq->dev));
	case VQ_WAIT_NEEDS_RESET:
		virtio_fail(VIRTIO_EXIT_NEEDS_RESET, "%s: device set DEVICE_NEEDS_RESET (status 0x%x)", what,
			    virtio_status(vq->dev));
	}
	virtio_fail(VIRTIO_EXIT_TIMEOUT, "%s: unreachable", what);
}

uint32_t vq_submit_wait(struct vq *vq, const struct vq_seg *segs, unsigned int n, const char *what)
{
	uint16_t head = vq_add(vq, segs, n), got;
	uint32_t len;

	vq_kick(vq);
	vq_wait_used(vq, &got, &len, what);
	if (got != head)
		virtio_fail(VIRTIO_EXIT_BAD_USED, "%s: used id %u, expected %u", what, got, head);
	return len;
}
