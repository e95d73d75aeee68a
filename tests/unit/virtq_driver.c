/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/memory.h"
#include "virtq_driver.h"

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

void *virtq_driver_host(struct virtq_driver *drv, uint64_t gpa, uint64_t len)
{
	void *p = guest_mem_ptr(drv->mem, gpa, len);

	if (!p)
		fail_msg("virtq_driver: 0x%llx+%llu is not guest RAM", (unsigned long long)gpa,
			 (unsigned long long)len);
	return p;
}

static void store16(struct virtq_driver *drv, uint64_t gpa, uint16_t v)
{
	__atomic_store_n((uint16_t *)virtq_driver_host(drv, gpa, 2), htole16(v), __ATOMIC_RELAXED);
}

static uint16_t load16(struct virtq_driver *drv, uint64_t gpa)
{
	return le16toh(__atomic_load_n((uint16_t *)virtq_driver_host(drv, gpa, 2), __ATOMIC_ACQUIRE));
}

static uint32_t load32(struct virtq_driver *drv, uint64_t gpa)
{
	return le32toh(__atomic_load_n((uint32_t *)virtq_driver_host(drv, gpa, 4), __ATOMIC_RELAXED));
}

void virtq_driver_init(struct virtq_driver *drv, struct guest_mem *mem, uint64_t base, uint16_t size)
{
	memset(drv, 0, sizeof(*drv));
	assert_true(base % 16 == 0);
	drv->mem = mem;
	drv->size = size;
	drv->desc_gpa = base;
	drv->avail_gpa = base + 16ull * size;
	drv->used_gpa = align_up(drv->avail_gpa + 6 + 2ull * size, 4);
	drv->rings_end = drv->used_gpa + 6 + 8ull * size;
	memset(virtq_driver_host(drv, base, drv->rings_end - base), 0, drv->rings_end - base);
	drv->alloc_next = align_up(drv->rings_end, 16);
	drv->alloc_end = guest_mem_low_end(mem);
}

int virtq_driver_enable(struct virtq_driver *drv, struct virtq *vq, uint64_t features)
{
	return virtq_enable(vq, drv->size, drv->desc_gpa, drv->avail_gpa, drv->used_gpa, features);
}

uint64_t virtq_driver_alloc(struct virtq_driver *drv, uint64_t len)
{
	uint64_t gpa = drv->alloc_next;

	if (len > drv->alloc_end - gpa)
		fail_msg("virtq_driver: out of guest memory for %llu bytes", (unsigned long long)len);
	drv->alloc_next = align_up(gpa + len, 16);
	if (len)
		memset(virtq_driver_host(drv, gpa, len), 0, len);
	return gpa;
}

struct virtq_driver_buf virtq_driver_buf_out(struct virtq_driver *drv, const void *data, uint32_t len)
{
	struct virtq_driver_buf b = { .gpa = virtq_driver_alloc(drv, len), .len = len, .writable = false };

	if (data && len)
		memcpy(virtq_driver_host(drv, b.gpa, len), data, len);
	return b;
}

struct virtq_driver_buf virtq_driver_buf_in(struct virtq_driver *drv, uint32_t len)
{
	return (struct virtq_driver_buf){ .gpa = virtq_driver_alloc(drv, len), .len = len, .writable = true };
}

static void write_desc(struct virtq_driver *drv, uint64_t gpa, uint64_t addr, uint32_t len, uint16_t flags,
		       uint16_t next)
{
	struct vring_desc d = { .addr = htole64(addr), .len = htole32(len), .flags = htole16(flags),
				.next = htole16(next) };

	memcpy(virtq_driver_host(drv, gpa, sizeof(d)), &d, sizeof(d));
}

void virtq_driver_set_desc(struct virtq_driver *drv, uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags,
			   uint16_t next)
{
	assert_true(idx < drv->size);
	write_desc(drv, drv->desc_gpa + 16ull * idx, addr, len, flags, next);
}

void virtq_driver_set_table_desc(struct virtq_driver *drv, uint64_t table_gpa, uint16_t idx, uint64_t addr,
				 uint32_t len, uint16_t flags, uint16_t next)
{
	write_desc(drv, table_gpa + 16ull * idx, addr, len, flags, next);
}

static uint16_t take_desc(struct virtq_driver *drv)
{
	uint16_t idx = drv->next_desc;

	drv->next_desc = (uint16_t)((drv->next_desc + 1) % drv->size);
	return idx;
}

uint16_t virtq_driver_write_chain(struct virtq_driver *drv, const struct virtq_driver_buf *bufs, unsigned n)
{
	uint16_t head, idx;

	assert_true(n >= 1 && n <= drv->size);
	head = idx = take_desc(drv);
	for (unsigned i = 0; i < n; i++) {
		bool last = i + 1 == n;
		uint16_t next = last ? 0 : take_desc(drv);
		uint16_t flags = (bufs[i].writable ? VRING_DESC_F_WRITE : 0) | (last ? 0 : VRING_DESC_F_NEXT);

		virtq_driver_set_desc(drv, idx, bufs[i].gpa, bufs[i].len, flags, next);
		idx = next;
	}
	return head;
}

uint16_t virtq_driver_write_indirect(struct virtq_driver *drv, const struct virtq_driver_buf *bufs, unsigned n)
{
	uint64_t table = virtq_driver_alloc(drv, 16ull * n);
	uint16_t head = take_desc(drv);

	assert_true(n >= 1);
	for (unsigned i = 0; i < n; i++) {
		bool last = i + 1 == n;
		uint16_t flags = (bufs[i].writable ? VRING_DESC_F_WRITE : 0) | (last ? 0 : VRING_DESC_F_NEXT);

		virtq_driver_set_table_desc(drv, table, (uint16_t)i, bufs[i].gpa, bufs[i].len, flags,
					    last ? 0 : (uint16_t)(i + 1));
	}
	virtq_driver_set_desc(drv, head, table, 16u * n, VRING_DESC_F_INDIRECT, 0);
	return head;
}

void virtq_driver_set_avail_ring(struct virtq_driver *drv, uint16_t slot, uint16_t head)
{
	assert_true(slot < drv->size);
	store16(drv, drv->avail_gpa + 4 + 2ull * slot, head);
}

void virtq_driver_set_avail_idx(struct virtq_driver *drv, uint16_t idx)
{
	drv->avail_idx = idx;
	/* Ring entries before the index that publishes them. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	store16(drv, drv->avail_gpa + 2, idx);
}

void virtq_driver_publish(struct virtq_driver *drv, uint16_t head)
{
	virtq_driver_set_avail_ring(drv, drv->avail_idx % drv->size, head);
	virtq_driver_set_avail_idx(drv, (uint16_t)(drv->avail_idx + 1));
}

uint16_t virtq_driver_add(struct virtq_driver *drv, const struct virtq_driver_buf *bufs, unsigned n)
{
	uint16_t head = virtq_driver_write_chain(drv, bufs, n);

	virtq_driver_publish(drv, head);
	return head;
}

uint16_t virtq_driver_add_indirect(struct virtq_driver *drv, const struct virtq_driver_buf *bufs, unsigned n)
{
	uint16_t head = virtq_driver_write_indirect(drv, bufs, n);

	virtq_driver_publish(drv, head);
	return head;
}

bool virtq_driver_get_used(struct virtq_driver *drv, uint32_t *id, uint32_t *len)
{
	uint64_t elem;

	if (virtq_driver_used_idx(drv) == drv->last_used_idx)
		return false;
	elem = drv->used_gpa + 4 + 8ull * (drv->last_used_idx % drv->size);
	*id = load32(drv, elem);
	*len = load32(drv, elem + 4);
	drv->last_used_idx++;
	return true;
}

void virtq_driver_set_avail_flags(struct virtq_driver *drv, uint16_t flags)
{
	store16(drv, drv->avail_gpa, flags);
}

void virtq_driver_set_used_event(struct virtq_driver *drv, uint16_t used_event)
{
	store16(drv, drv->avail_gpa + 4 + 2ull * drv->size, used_event);
}

uint16_t virtq_driver_used_idx(struct virtq_driver *drv)
{
	return load16(drv, drv->used_gpa + 2);
}

uint16_t virtq_driver_used_flags(struct virtq_driver *drv)
{
	return load16(drv, drv->used_gpa);
}

uint16_t virtq_driver_avail_event(struct virtq_driver *drv)
{
	return load16(drv, drv->used_gpa + 4 + 8ull * drv->size);
}

bool virtq_driver_needs_kick(struct virtq_driver *drv, bool event_idx, uint16_t old_idx, uint16_t new_idx)
{
	/* What Linux's virtqueue_kick_prepare does, after its full barrier. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (event_idx)
		return vring_need_event(virtq_driver_avail_event(drv), new_idx, old_idx);
	return !(virtq_driver_used_flags(drv) & VRING_USED_F_NO_NOTIFY);
}

struct virtq_fixture *virtq_fixture_new(uint64_t ram, uint16_t size, uint16_t max_size, uint64_t features)
{
	struct virtq_fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(x86_guest_mem_create(&f->mem, ram, NULL), 0);
	f->features = features;
	virtq_init(&f->vq, &f->mem, max_size);
	virtq_driver_init(&f->drv, &f->mem, VIRTQ_FIXTURE_RING_BASE, size);
	assert_int_equal(virtq_driver_enable(&f->drv, &f->vq, features), 0);
	assert_string_equal(f->vq.error, "");
	return f;
}

void virtq_fixture_free(struct virtq_fixture *f)
{
	guest_mem_destroy(&f->mem);
	free(f);
}

void virtq_fixture_expect_broken(struct virtq_fixture *f, const char *needle)
{
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_BROKEN);
	assert_true(f->vq.broken);
	if (!strstr(f->vq.error, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", f->vq.error, needle);
	/* Stays broken whatever the ring holds now. */
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_BROKEN);
	assert_false(virtq_has_available(&f->vq));
}

void virtq_fixture_expect_recovers(struct virtq_fixture *f)
{
	struct virtq_driver_buf b;

	virtq_reset(&f->vq);
	assert_false(f->vq.broken);
	assert_string_equal(f->vq.error, "");
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_EMPTY);
	virtq_driver_init(&f->drv, &f->mem, VIRTQ_FIXTURE_RING_BASE, f->drv.size);
	assert_int_equal(virtq_driver_enable(&f->drv, &f->vq, f->features), 0);
	b = virtq_driver_buf_out(&f->drv, "ok", 2);
	virtq_driver_add(&f->drv, &b, 1);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
	assert_int_equal(f->chain.out_bytes, 2);
}

int virtq_fixture_setup(void **state)
{
	*state = virtq_fixture_new(VIRTQ_FIXTURE_RAM, VIRTQ_FIXTURE_SIZE, 256,
				   (1ull << VIRTIO_RING_F_INDIRECT_DESC) | (1ull << VIRTIO_RING_F_EVENT_IDX));
	return 0;
}

int virtq_fixture_setup_plain(void **state)
{
	*state = virtq_fixture_new(VIRTQ_FIXTURE_RAM, VIRTQ_FIXTURE_SIZE, 256, 0);
	return 0;
}

int virtq_fixture_teardown(void **state)
{
	virtq_fixture_free(*state);
	return 0;
}
