/* SPDX-License-Identifier: MIT */
#include "virtio/queue.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/*
 * Split virtqueues, device side (virtio 1.2 §2.7). Every value the guest
 * wrote is loaded once (guest_load*) into a local and checked before use;
 * the ring areas were checked at enable, so indexing them with `% size` is
 * safe; every buffer address goes through guest_mem_ptr().
 */

/* A chain may carry at most this many bytes: used.len is 32 bits, and devices may count in 32 bits. */
#define CHAIN_BYTES_MAX UINT32_MAX

/* ---- single loads/stores of guest-shared fields ----------------------- */

static inline uint16_t guest_load16(const void *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED));
}

static inline void guest_store16(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELAXED);
}

static inline void guest_store32(void *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)p, htole32(v), __ATOMIC_RELAXED);
}

/*
 * Dirty-page tracking (guest_mem_track_writes: diff snapshots, migration).
 * KVM's dirty log sees only the guest's own writes; what vmon writes into
 * guest RAM is marked here, where the device-writable buffers and the used
 * ring become host pointers. Conservative: a chain's whole writable part
 * counts as written when it is popped (devices rarely fill less, and a page
 * marked but unchanged costs one page copy). It is marked again when the
 * chain is pushed and where virtq_chain_write copies, i.e. after the device
 * wrote: a dirty log fetched between pop and write still sees the page
 * later. Each mark is one predictable branch while tracking is off.
 */
static inline void mark_guest_write(const struct virtq *vq, const void *host, size_t len)
{
	guest_mem_mark_host(vq->mem, host, len);
}

/*
 * One descriptor, each field read once. The descriptor table is 16-aligned
 * (checked at enable); an indirect table need not be (the spec does not
 * require it), so a misaligned one is read byte by byte through volatile.
 */
static void load_desc(const void *src, struct vring_desc *d)
{
	if (((uintptr_t)src & 7) == 0) {
		const struct vring_desc *s = src;
		d->addr = le64toh(__atomic_load_n(&s->addr, __ATOMIC_RELAXED));
		d->len = le32toh(__atomic_load_n(&s->len, __ATOMIC_RELAXED));
		d->flags = le16toh(__atomic_load_n(&s->flags, __ATOMIC_RELAXED));
		d->next = le16toh(__atomic_load_n(&s->next, __ATOMIC_RELAXED));
	} else {
		const volatile uint8_t *b = src;
		uint8_t raw[sizeof(*d)];
		for (size_t i = 0; i < sizeof(raw); i++)
			raw[i] = b[i];
		memcpy(d, raw, sizeof(raw));
		d->addr = le64toh(d->addr);
		d->len = le32toh(d->len);
		d->flags = le16toh(d->flags);
		d->next = le16toh(d->next);
	}
}

/* ---- ring layout ------------------------------------------------------- */

static uint64_t desc_area_size(uint16_t size)
{
	return (uint64_t)sizeof(struct vring_desc) * size;
}

/* flags, idx, ring[size], and used_event with EVENT_IDX. */
static uint64_t avail_area_size(uint16_t size, bool event_idx)
{
	return 4 + 2ull * size + (event_idx ? 2 : 0);
}

/* flags, idx, ring[size], and avail_event with EVENT_IDX. */
static uint64_t used_area_size(uint16_t size, bool event_idx)
{
	return 4 + (uint64_t)sizeof(struct vring_used_elem) * size + (event_idx ? 2 : 0);
}

static uint16_t *used_event_field(const struct virtq *vq)
{
	return (uint16_t *)&vq->avail->ring[vq->size];
}

static uint16_t *avail_event_field(const struct virtq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

static bool is_power_of_2(unsigned v)
{
	return v && !(v & (v - 1));
}

/* ---- errors ------------------------------------------------------------ */

static void __attribute__((format(printf, 2, 3))) set_error(struct virtq *vq, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vq->error, sizeof(vq->error), fmt, ap);
	va_end(ap);
}

/* The guest broke a ring rule: no pop succeeds until virtq_reset(). */
#define break_queue(vq, ...) \
	do { \
		set_error((vq), __VA_ARGS__); \
		(vq)->broken = true; \
	} while (0)

/* ---- lifecycle --------------------------------------------------------- */

void virtq_init(struct virtq *vq, const struct guest_mem *mem, uint16_t max_size)
{
	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
	vq->max_size = max_size;
}

void virtq_reset(struct virtq *vq)
{
	virtq_init(vq, vq->mem, vq->max_size);
}

static void *ring_area(struct virtq *vq, const char *what, const char *field, uint64_t gpa, uint64_t len,
		       uint64_t align)
{
	void *p;

	vq->bad_field = field;
	if (gpa % align) {
		set_error(vq, "%s ring at 0x%" PRIx64 " is not %" PRIu64 "-byte aligned", what, gpa, align);
		return NULL;
	}
	p = guest_mem_ptr(vq->mem, gpa, len);
	if (!p)
		set_error(vq, "%s ring at 0x%" PRIx64 " (%" PRIu64 " bytes) is outside guest RAM", what, gpa, len);
	else
		vq->bad_field = NULL;
	return p;
}

int virtq_enable(struct virtq *vq, uint16_t size, uint64_t desc_addr, uint64_t avail_addr, uint64_t used_addr,
		 uint64_t features)
{
	bool event_idx = features & (1ull << VIRTIO_RING_F_EVENT_IDX);
	void *desc, *avail, *used;

	virtq_reset(vq);
	if (!is_power_of_2(size) || size > vq->max_size || size > VIRTQ_MAX_SIZE) {
		set_error(vq, "queue size %u is not a power of 2 in 1 .. %u", size, vq->max_size);
		vq->bad_field = "size";
		return -EINVAL;
	}
	desc = ring_area(vq, "descriptor", "desc_addr", desc_addr, desc_area_size(size), 16);
	if (!desc)
		return -EINVAL;
	avail = ring_area(vq, "available", "avail_addr", avail_addr, avail_area_size(size, event_idx), 2);
	if (!avail)
		return -EINVAL;
	used = ring_area(vq, "used", "used_addr", used_addr, used_area_size(size, event_idx), 4);
	if (!used)
		return -EINVAL;

	vq->size = size;
	vq->desc_addr = desc_addr;
	vq->avail_addr = avail_addr;
	vq->used_addr = used_addr;
	vq->event_idx = event_idx;
	vq->indirect = features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->enabled = true;
	return 0;
}

/* ---- popping ----------------------------------------------------------- */

/* Where the chain walk is, for the error message. */
struct walk {
	const void *table;          /* host view of the current descriptor table */
	uint32_t table_len;         /* its number of descriptors */
	uint16_t indirect_from;     /* the direct descriptor that points at the table */
	bool in_indirect;
	uint32_t visited;           /* descriptors visited in the current table */
	bool seen_writable;
};

static void describe(const struct walk *w, uint32_t idx, char *buf, size_t len)
{
	if (w->in_indirect)
		snprintf(buf, len, "indirect descriptor %" PRIu32 " (table of descriptor %u)", idx, w->indirect_from);
	else
		snprintf(buf, len, "descriptor %" PRIu32, idx);
}

/* Switches the walk into the table a direct INDIRECT descriptor points at. */
static int enter_indirect(struct virtq *vq, struct walk *w, uint32_t idx, const struct vring_desc *d)
{
	const void *table;
	char where[64];

	describe(w, idx, where, sizeof(where));
	if (!vq->indirect) {
		break_queue(vq, "%s: indirect descriptor but VIRTIO_RING_F_INDIRECT_DESC was not negotiated", where);
		return -1;
	}
	if (w->in_indirect) {
		break_queue(vq, "%s: indirect descriptor inside an indirect table", where);
		return -1;
	}
	if (d->flags & VRING_DESC_F_NEXT) {
		break_queue(vq, "%s: indirect descriptor has NEXT set too (next %u)", where, d->next);
		return -1;
	}
	if (d->len == 0 || d->len % sizeof(struct vring_desc)) {
		break_queue(vq, "%s: indirect table length %" PRIu32 " is not a non-zero multiple of 16", where,
			    d->len);
		return -1;
	}
	table = guest_mem_ptr(vq->mem, d->addr, d->len);
	if (!table) {
		break_queue(vq, "%s: indirect table at 0x%" PRIx64 " length %" PRIu32 " outside guest RAM", where,
			    (uint64_t)d->addr, d->len);
		return -1;
	}
	w->table = table;
	w->table_len = d->len / sizeof(struct vring_desc);
	w->indirect_from = (uint16_t)idx;
	w->in_indirect = true;
	w->visited = 0;
	return 0;
}

/* Adds one buffer descriptor to the chain. */
static int add_segment(struct virtq *vq, struct walk *w, uint32_t idx, const struct vring_desc *d,
		       struct virtq_chain *chain)
{
	bool writable = d->flags & VRING_DESC_F_WRITE;
	unsigned n = chain->nout + chain->nin;
	char where[64];
	void *host;

	describe(w, idx, where, sizeof(where));
	if (!writable && w->seen_writable) {
		break_queue(vq, "%s: device-readable descriptor after a device-writable one", where);
		return -1;
	}
	w->seen_writable |= writable;
	if (chain->out_bytes + chain->in_bytes + d->len > CHAIN_BYTES_MAX) {
		break_queue(vq, "%s: chain length exceeds %" PRIu32 " bytes (length %" PRIu32 " after %" PRIu64 ")",
			    where, CHAIN_BYTES_MAX, d->len, chain->out_bytes + chain->in_bytes);
		return -1;
	}
	/* A zero-length buffer holds nothing: it needs no address and gets no iovec. */
	if (d->len == 0)
		return 0;
	host = guest_mem_ptr(vq->mem, d->addr, d->len);
	if (!host) {
		break_queue(vq, "%s: address 0x%" PRIx64 " length %" PRIu32 " outside guest RAM", where,
			    (uint64_t)d->addr, d->len);
		return -1;
	}
	chain->iov[n] = (struct iovec){ .iov_base = host, .iov_len = d->len };
	if (writable) {
		mark_guest_write(vq, host, d->len);
		chain->nin++;
		chain->in_bytes += d->len;
	} else {
		chain->nout++;
		chain->out_bytes += d->len;
	}
	return 0;
}

/* Follows the chain from `head`, filling *chain; on a rule broken, breaks the queue and returns -1. */
static int walk_chain(struct virtq *vq, uint16_t head, struct virtq_chain *chain)
{
	struct walk w = { .table = vq->desc, .table_len = vq->size };
	uint32_t idx = head;
	unsigned segments = 0;
	char where[64];

	chain->head = head;
	chain->mem = vq->mem;
	chain->nout = chain->nin = 0;
	chain->out_bytes = chain->in_bytes = 0;
	for (;;) {
		struct vring_desc d;

		/* Loop guard: a table of n descriptors holds no chain longer than n. */
		if (++w.visited > w.table_len) {
			break_queue(vq, "chain from head %u loops: more than %" PRIu32 " descriptors in %s table", head,
				    w.table_len, w.in_indirect ? "an indirect" : "the");
			return -1;
		}
		load_desc((const struct vring_desc *)w.table + idx, &d);

		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (enter_indirect(vq, &w, idx, &d) < 0)
				return -1;
			idx = 0;
			continue;
		}
		if (++segments > VIRTQ_CHAIN_MAX) {
			break_queue(vq, "chain from head %u has more than %u segments", head, VIRTQ_CHAIN_MAX);
			return -1;
		}
		if (add_segment(vq, &w, idx, &d, chain) < 0)
			return -1;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= w.table_len) {
			describe(&w, idx, where, sizeof(where));
			break_queue(vq, "%s: next %u is outside the table of %" PRIu32 " descriptors", where, d.next,
				    w.table_len);
			return -1;
		}
		idx = d.next;
	}
}

/* Buffers the driver made available and we did not pop; > size means the driver broke the ring. */
static uint16_t pending(const struct virtq *vq, uint16_t *avail_idx)
{
	*avail_idx = guest_load16(&vq->avail->idx);
	return (uint16_t)(*avail_idx - vq->last_avail_idx);
}

/*
 * Asks the driver to notify on its next buffer (avail_event with EVENT_IDX,
 * else clears NO_NOTIFY), then re-reads avail->idx behind a full fence, so a
 * buffer the driver added concurrently is either seen here or kicked.
 */
static uint16_t arm_notification(struct virtq *vq, uint16_t *avail_idx)
{
	if (vq->event_idx) {
		guest_store16(avail_event_field(vq), vq->last_avail_idx);
		mark_guest_write(vq, avail_event_field(vq), 2);
	} else {
		guest_store16(&vq->used->flags, 0);
		mark_guest_write(vq, &vq->used->flags, 2);
	}
	atomic_thread_fence(memory_order_seq_cst);
	return pending(vq, avail_idx);
}

enum virtq_pop_result virtq_pop(struct virtq *vq, struct virtq_chain *chain)
{
	uint16_t avail_idx, n, slot, head;

	if (vq->broken)
		return VIRTQ_BROKEN;
	if (!vq->enabled)
		return VIRTQ_EMPTY;

	n = pending(vq, &avail_idx);
	/* Empty: re-arm driver notifications, so a device that pops until EMPTY never misses a kick. */
	if (n == 0)
		n = arm_notification(vq, &avail_idx);
	if (n == 0)
		return VIRTQ_EMPTY;
	if (n > vq->size) {
		break_queue(vq, "available index %u is %u ahead of the last one taken (%u), queue size %u", avail_idx,
			    n, vq->last_avail_idx, vq->size);
		return VIRTQ_BROKEN;
	}
	/* The ring entries were written before avail->idx: read them after it. */
	atomic_thread_fence(memory_order_acquire);

	slot = vq->last_avail_idx % vq->size;
	head = guest_load16(&vq->avail->ring[slot]);
	if (head >= vq->size) {
		break_queue(vq, "available ring entry %u: head descriptor %u >= queue size %u", slot, head, vq->size);
		return VIRTQ_BROKEN;
	}
	if (walk_chain(vq, head, chain) < 0)
		return VIRTQ_BROKEN;
	vq->last_avail_idx++;
	return VIRTQ_GOT;
}

void virtq_unpop(struct virtq *vq)
{
	if (vq->enabled)
		vq->last_avail_idx--;
}

bool virtq_has_available(struct virtq *vq)
{
	uint16_t avail_idx;

	if (!vq->enabled || vq->broken)
		return false;
	return pending(vq, &avail_idx) != 0;
}

/* ---- used ring and notifications --------------------------------------- */

void virtq_push_many(struct virtq *vq, const struct vring_used_elem *elems, unsigned count)
{
	uint16_t old = vq->used_idx;

	if (!vq->enabled || count == 0 || count > vq->size)
		return;
	for (unsigned i = 0; i < count; i++) {
		struct vring_used_elem *elem = &vq->used->ring[(uint16_t)(old + i) % vq->size];
		guest_store32(&elem->id, elems[i].id);
		guest_store32(&elem->len, elems[i].len);
	}
	vq->used_idx = (uint16_t)(old + count);
	/* The entries must be visible before the index that publishes them. */
	atomic_thread_fence(memory_order_release);
	guest_store16(&vq->used->idx, vq->used_idx);
	if (guest_mem_tracking_writes(vq->mem)) {
		mark_guest_write(vq, &vq->used->idx, 2);
		for (unsigned i = 0; i < count; i++)
			mark_guest_write(vq, &vq->used->ring[(uint16_t)(old + i) % vq->size], sizeof(vq->used->ring[0]));
	}
	/* 65536 pushes without an interrupt check: "signalled" no longer tells old from new. */
	if ((uint16_t)(vq->signalled_used - old - 1) < count)
		vq->signalled_used_valid = false;
}

void virtq_push(struct virtq *vq, const struct virtq_chain *chain, uint32_t written)
{
	const struct vring_used_elem elem = {
		.id = chain->head,
		.len = written > chain->in_bytes ? (uint32_t)chain->in_bytes : written,
	};

	/* Again after the device wrote (see mark_guest_write): the whole writable part, conservatively. */
	if (guest_mem_tracking_writes(vq->mem))
		for (unsigned i = chain->nout; i < chain->nout + chain->nin; i++)
			mark_guest_write(vq, chain->iov[i].iov_base, chain->iov[i].iov_len);
	virtq_push_many(vq, &elem, 1);
}

bool virtq_should_interrupt(struct virtq *vq)
{
	uint16_t old, used_event;
	bool valid;

	if (!vq->enabled)
		return false;
	/* used->idx is published before we read what the driver asked for (it does the reverse). */
	atomic_thread_fence(memory_order_seq_cst);
	if (!vq->event_idx)
		return !(guest_load16(&vq->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);

	old = vq->signalled_used;
	valid = vq->signalled_used_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;
	if (!valid)
		return true;
	used_event = guest_load16(used_event_field(vq));
	return vring_need_event(used_event, vq->used_idx, old);
}

bool virtq_set_notification(struct virtq *vq, bool enable)
{
	uint16_t avail_idx;

	if (!vq->enabled || vq->broken)
		return false;
	if (!enable) {
		/* With EVENT_IDX, leaving avail_event behind last_avail_idx is what suppresses kicks. */
		if (!vq->event_idx) {
			guest_store16(&vq->used->flags, VRING_USED_F_NO_NOTIFY);
			mark_guest_write(vq, &vq->used->flags, 2);
		}
		return false;
	}
	return arm_notification(vq, &avail_idx) != 0;
}

/* ---- data access ------------------------------------------------------- */

static size_t chain_copy(const struct guest_mem *mem, const struct iovec *iov, unsigned n, size_t offset, void *buf,
			 size_t len, bool to_chain)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t seg = iov[i].iov_len, chunk;

		if (offset >= seg) {
			offset -= seg;
			continue;
		}
		chunk = seg - offset;
		if (chunk > len - done)
			chunk = len - done;
		if (to_chain) {
			memcpy((uint8_t *)iov[i].iov_base + offset, (const uint8_t *)buf + done, chunk);
			if (mem)
				guest_mem_mark_host(mem, (uint8_t *)iov[i].iov_base + offset, chunk);
		} else
			memcpy((uint8_t *)buf + done, (const uint8_t *)iov[i].iov_base + offset, chunk);
		done += chunk;
		offset = 0;
	}
	return done;
}

size_t virtq_chain_read(const struct virtq_chain *chain, size_t offset, void *dst, size_t len)
{
	return chain_copy(NULL, chain->iov, chain->nout, offset, dst, len, false);
}

size_t virtq_chain_write(const struct virtq_chain *chain, size_t offset, const void *src, size_t len)
{
	return chain_copy(chain->mem, chain->iov + chain->nout, chain->nin, offset, (void *)src, len, true);
}
