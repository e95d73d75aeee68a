/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arch/x86/layout.h"
#include "virtio/queue.h"
#include "virtq_driver.h"

#define QSIZE VIRTQ_FIXTURE_SIZE
#define F_INDIRECT (1ull << VIRTIO_RING_F_INDIRECT_DESC)
#define F_EVENT_IDX (1ull << VIRTIO_RING_F_EVENT_IDX)
#define RAM VIRTQ_FIXTURE_RAM

/* ---- normal operation ---------------------------------------------------- */

static void empty_queue_pops_nothing(void **state)
{
	struct virtq_fixture *f = *state;

	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_EMPTY);
	assert_false(virtq_has_available(&f->vq));
	assert_false(f->vq.broken);
}

static void disabled_queue_pops_nothing(void **state)
{
	struct virtq_fixture *f = *state;
	struct virtq_driver_buf b = virtq_driver_buf_out(&f->drv, "x", 1);

	virtq_driver_add(&f->drv, &b, 1);
	virtq_reset(&f->vq);
	assert_false(f->vq.enabled);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_EMPTY);
	assert_false(virtq_has_available(&f->vq));
	assert_false(virtq_should_interrupt(&f->vq));
}

static void chain_of_readable_then_writable(void **state)
{
	struct virtq_fixture *f = *state;
	struct virtq_driver_buf bufs[3] = {
		virtq_driver_buf_out(&f->drv, "hello ", 6),
		virtq_driver_buf_out(&f->drv, "world", 5),
		virtq_driver_buf_in(&f->drv, 32),
	};
	char got[16] = { 0 };
	uint32_t id, len;
	uint16_t head = virtq_driver_add(&f->drv, bufs, 3);

	assert_true(virtq_has_available(&f->vq));
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
	assert_int_equal(f->chain.head, head);
	assert_int_equal(f->chain.nout, 2);
	assert_int_equal(f->chain.nin, 1);
	assert_int_equal(f->chain.out_bytes, 11);
	assert_int_equal(f->chain.in_bytes, 32);
	assert_ptr_equal(f->chain.iov[0].iov_base, guest_mem_ptr(&f->mem, bufs[0].gpa, 6));
	assert_ptr_equal(f->chain.iov[2].iov_base, guest_mem_ptr(&f->mem, bufs[2].gpa, 32));

	assert_int_equal(virtq_chain_read(&f->chain, 0, got, sizeof(got)), 11);
	assert_string_equal(got, "hello world");
	memset(got, 0, sizeof(got));
	assert_int_equal(virtq_chain_read(&f->chain, 4, got, 4), 4);
	assert_string_equal(got, "o wo");
	assert_int_equal(virtq_chain_read(&f->chain, 11, got, 4), 0);
	assert_int_equal(virtq_chain_write(&f->chain, 30, "abcd", 4), 2);
	assert_memory_equal(guest_mem_ptr(&f->mem, bufs[2].gpa + 30, 2), "ab", 2);

	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_EMPTY);
	virtq_push(&f->vq, &f->chain, 7);
	assert_true(virtq_driver_get_used(&f->drv, &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, 7);
	assert_false(virtq_driver_get_used(&f->drv, &id, &len));
}

static void written_length_is_clamped_to_the_writable_part(void **state)
{
	struct virtq_fixture *f = *state;
	struct virtq_driver_buf bufs[2] = { virtq_driver_buf_out(&f->drv, "r", 1), virtq_driver_buf_in(&f->drv, 8) };
	uint32_t id, len;

	virtq_driver_add(&f->drv, bufs, 2);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
	virtq_push(&f->vq, &f->chain, 1000);
	assert_true(virtq_driver_get_used(&f->drv, &id, &len));
	assert_int_equal(len, 8);
}

static void chains_come_out_in_order_and_may_be_used_out_of_order(void **state)
{
	struct virtq_fixture *f = *state;
	struct virtq_chain *second = malloc(sizeof(*second));
	uint16_t heads[2];
	uint32_t id, len;

	assert_non_null(second);
	for (int i = 0; i < 2; i++) {
		struct virtq_driver_buf b = virtq_driver_buf_in(&f->drv, 10 + i);
		heads[i] = virtq_driver_add(&f->drv, &b, 1);
	}
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
	assert_int_equal(virtq_pop(&f->vq, second), VIRTQ_GOT);
	assert_int_equal(f->chain.head, heads[0]);
	assert_int_equal(second->head, heads[1]);
	assert_int_equal(second->nout, 0);
	assert_int_equal(second->in_bytes, 11);
	virtq_push(&f->vq, second, 11);
	virtq_push(&f->vq, &f->chain, 3);
	assert_true(virtq_driver_get_used(&f->drv, &id, &len));
	assert_int_equal(id, heads[1]);
	assert_int_equal(len, 11);
	assert_true(virtq_driver_get_used(&f->drv, &id, &len));
	assert_int_equal(id, heads[0]);
	assert_int_equal(len, 3);
	free(second);
}

static void push_many_publishes_all_entries_with_one_index_update(void **state)
{
	struct virtq_fixture *f = *state;
	struct vring_used_elem elems[3];
	uint16_t before = virtq_driver_used_idx(&f->drv);
	uint32_t id, len;

	for (int i = 0; i < 3; i++) {
		struct virtq_driver_buf b = virtq_driver_buf_in(&f->drv, 100);
		virtq_driver_add(&f->drv, &b, 1);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
		elems[i] = (struct vring_used_elem){ .id = f->chain.head, .len = 10u * (unsigned)(i + 1) };
	}
	virtq_push_many(&f->vq, elems, 0);          /* nothing */
	virtq_push_many(&f->vq, elems, QSIZE + 1);  /* more than the ring: refused */
	assert_int_equal(virtq_driver_used_idx(&f->drv), before);
	virtq_push_many(&f->vq, elems, 3);
	assert_int_equal(virtq_driver_used_idx(&f->drv), (uint16_t)(before + 3));
	for (int i = 0; i < 3; i++) {
		assert_true(virtq_driver_get_used(&f->drv, &id, &len));
		assert_int_equal(id, elems[i].id);
		assert_int_equal(len, 10u * (unsigned)(i + 1));
	}
	assert_false(virtq_driver_get_used(&f->drv, &id, &len));
}

static void unpopped_chain_comes_back(void **state)
{
	struct virtq_fixture *f = *state;
	struct virtq_driver_buf b = virtq_driver_buf_in(&f->drv, 64);
	uint16_t head = virtq_driver_add(&f->drv, &b, 1);

	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
	assert_false(virtq_has_available(&f->vq));
	virtq_unpop(&f->vq);
	assert_true(virtq_has_available(&f->vq));
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
	assert_int_equal(f->chain.head, head);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_EMPTY);
}

/* Runs n one-buffer chains through the queue, checking ids, lengths and data on the way. */
static void cycle_chains(struct virtq_fixture *f, unsigned n)
{
	struct virtq_driver_buf b = virtq_driver_buf_in(&f->drv, 4);

	for (unsigned i = 0; i < n; i++) {
		uint32_t id, len, v = i;
		uint16_t head = virtq_driver_add(&f->drv, &b, 1);

		assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
		assert_int_equal(f->chain.head, head);
		assert_int_equal(virtq_chain_write(&f->chain, 0, &v, 4), 4);
		virtq_push(&f->vq, &f->chain, 4);
		assert_true(virtq_driver_get_used(&f->drv, &id, &len));
		assert_int_equal(id, head);
		assert_int_equal(len, 4);
		assert_memory_equal(guest_mem_ptr(&f->mem, b.gpa, 4), &v, 4);
	}
}

static void indices_wrap_at_16_bits(void **state)
{
	struct virtq_fixture *f = *state;

	/* Both sides start just below the wrap, as after a long uptime. */
	f->vq.last_avail_idx = f->vq.used_idx = 65530;
	f->drv.last_used_idx = 65530;
	virtq_driver_set_avail_idx(&f->drv, 65530);
	cycle_chains(f, 12);
	assert_int_equal(f->vq.last_avail_idx, 6);
	assert_int_equal(virtq_driver_used_idx(&f->drv), 6);
	/* And a full natural lap of the indices with a batch in flight. */
	cycle_chains(f, 70000);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_EMPTY);
	assert_false(f->vq.broken);
}

static void full_ring_of_available_chains(void **state)
{
	struct virtq_fixture *f = *state;
	struct virtq_driver_buf b = virtq_driver_buf_out(&f->drv, "z", 1);

	for (int i = 0; i < QSIZE; i++)
		virtq_driver_add(&f->drv, &b, 1);
	for (int i = 0; i < QSIZE; i++)
		assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_EMPTY);
}

static void chain_may_use_every_descriptor(void **state)
{
	struct virtq_fixture *f = *state;
	struct virtq_driver_buf bufs[QSIZE];

	for (int i = 0; i < QSIZE; i++)
		bufs[i] = virtq_driver_buf_in(&f->drv, 100);
	virtq_driver_add(&f->drv, bufs, QSIZE);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
	assert_int_equal(f->chain.nin, QSIZE);
	assert_int_equal(f->chain.in_bytes, 100 * QSIZE);
}

static void indirect_chain(void **state)
{
	struct virtq_fixture *f = *state;
	struct virtq_driver_buf bufs[3] = {
		virtq_driver_buf_out(&f->drv, "head", 4),
		virtq_driver_buf_in(&f->drv, 512),
		virtq_driver_buf_in(&f->drv, 1),
	};
	char got[5] = { 0 };
	uint16_t head = virtq_driver_add_indirect(&f->drv, bufs, 3);

	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
	assert_int_equal(f->chain.head, head);
	assert_int_equal(f->chain.nout, 1);
	assert_int_equal(f->chain.nin, 2);
	assert_int_equal(f->chain.in_bytes, 513);
	assert_int_equal(virtq_chain_read(&f->chain, 0, got, 4), 4);
	assert_string_equal(got, "head");
	assert_int_equal(virtq_chain_write(&f->chain, 511, "xy", 2), 2);
	assert_memory_equal(guest_mem_ptr(&f->mem, bufs[2].gpa, 1), "y", 1);
}

static void direct_descriptors_may_lead_to_an_indirect_table(void **state)
{
	struct virtq_fixture *f = *state;
	struct virtq_driver_buf out = virtq_driver_buf_out(&f->drv, "hdr", 3);
	struct virtq_driver_buf in = virtq_driver_buf_in(&f->drv, 8);
	/* An unaligned table: the spec asks no alignment of indirect tables. */
	uint64_t table = virtq_driver_alloc(&f->drv, 40) + 3;

	virtq_driver_set_table_desc(&f->drv, table, 0, in.gpa, in.len, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	virtq_driver_set_table_desc(&f->drv, table, 1, in.gpa, 4, VRING_DESC_F_WRITE, 0);
	virtq_driver_set_desc(&f->drv, 3, out.gpa, out.len, VRING_DESC_F_NEXT, 9);
	/* The write flag of an indirect descriptor means nothing (§2.7.5.3.2). */
	virtq_driver_set_desc(&f->drv, 9, table, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	virtq_driver_publish(&f->drv, 3);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
	assert_int_equal(f->chain.head, 3);
	assert_int_equal(f->chain.nout, 1);
	assert_int_equal(f->chain.nin, 2);
	assert_int_equal(f->chain.in_bytes, 12);
}

static void zero_length_descriptor_is_never_mapped(void **state)
{
	struct virtq_fixture *f = *state;
	struct virtq_driver_buf b = virtq_driver_buf_in(&f->drv, 8);

	/* Its address is nonsense, which does not matter: nothing is there to touch. */
	virtq_driver_set_desc(&f->drv, 0, 0xdead000000000000ull, 0, VRING_DESC_F_NEXT, 1);
	virtq_driver_set_desc(&f->drv, 1, b.gpa, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	virtq_driver_set_desc(&f->drv, 2, UINT64_MAX, 0, VRING_DESC_F_WRITE, 0);
	virtq_driver_publish(&f->drv, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
	assert_int_equal(f->chain.nout, 0);
	assert_int_equal(f->chain.nin, 1);
	assert_int_equal(f->chain.out_bytes, 0);
	assert_int_equal(f->chain.in_bytes, 8);
}

static void buffers_in_high_ram(void **state)
{
	struct virtq_fixture *f = virtq_fixture_new(4ull << 30, QSIZE, QSIZE, 0);
	uint64_t top = X86_HIGH_RAM_START + (1ull << 30);

	(void)state;
	virtq_driver_set_desc(&f->drv, 0, top - 4096, 4096, VRING_DESC_F_WRITE, 0);
	virtq_driver_publish(&f->drv, 0);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
	assert_ptr_equal(f->chain.iov[0].iov_base, guest_mem_ptr(&f->mem, top - 4096, 1));
	virtq_fixture_free(f);
}

/* ---- interrupts (device → driver) --------------------------------------- */

static void push_one(struct virtq_fixture *f)
{
	struct virtq_chain c = { .head = 0 };

	virtq_push(&f->vq, &c, 0);
}

static void no_interrupt_flag_suppresses_interrupts(void **state)
{
	struct virtq_fixture *f = *state;

	push_one(f);
	assert_true(virtq_should_interrupt(&f->vq));
	virtq_driver_set_avail_flags(&f->drv, VRING_AVAIL_F_NO_INTERRUPT);
	push_one(f);
	assert_false(virtq_should_interrupt(&f->vq));
	virtq_driver_set_avail_flags(&f->drv, 0);
	push_one(f);
	assert_true(virtq_should_interrupt(&f->vq));
}

static void used_event_chooses_when_to_interrupt(void **state)
{
	struct virtq_fixture *f = *state;

	virtq_driver_set_used_event(&f->drv, 0);
	push_one(f); /* used idx 1: entry 0 used */
	assert_true(virtq_should_interrupt(&f->vq));
	virtq_driver_set_used_event(&f->drv, 3);
	push_one(f); /* 2 */
	assert_false(virtq_should_interrupt(&f->vq));
	push_one(f); /* 3 */
	assert_false(virtq_should_interrupt(&f->vq));
	push_one(f); /* 4: entry 3 used */
	assert_true(virtq_should_interrupt(&f->vq));
	assert_false(virtq_should_interrupt(&f->vq)); /* nothing new */
	/* A batch that jumps over used_event still interrupts once. */
	virtq_driver_set_used_event(&f->drv, 5);
	for (int i = 0; i < 4; i++)
		push_one(f);
	assert_true(virtq_should_interrupt(&f->vq));
	/* With EVENT_IDX the NO_INTERRUPT flag means nothing. */
	virtq_driver_set_avail_flags(&f->drv, VRING_AVAIL_F_NO_INTERRUPT);
	virtq_driver_set_used_event(&f->drv, 8);
	push_one(f);
	assert_true(virtq_should_interrupt(&f->vq));
}

static void used_event_across_the_index_wrap(void **state)
{
	struct virtq_fixture *f = *state;

	f->vq.used_idx = 65534;
	push_one(f);
	assert_true(virtq_should_interrupt(&f->vq)); /* first: signalled state unknown */
	virtq_driver_set_used_event(&f->drv, 1);
	push_one(f); /* 0 */
	assert_false(virtq_should_interrupt(&f->vq));
	push_one(f); /* 1 */
	assert_false(virtq_should_interrupt(&f->vq));
	push_one(f); /* 2: entry 1 used */
	assert_true(virtq_should_interrupt(&f->vq));
}

static void lap_without_interrupt_check_forces_one(void **state)
{
	struct virtq_fixture *f = *state;

	push_one(f);
	assert_true(virtq_should_interrupt(&f->vq));
	/* used_event far behind: an exact lap would make it look "not crossed". */
	virtq_driver_set_used_event(&f->drv, 0);
	for (int i = 0; i < 65536; i++)
		push_one(f);
	assert_true(virtq_should_interrupt(&f->vq));
}

/* ---- notifications (driver → device) ------------------------------------ */

static void no_notify_flag_follows_set_notification(void **state)
{
	struct virtq_fixture *f = *state;
	struct virtq_driver_buf b = virtq_driver_buf_out(&f->drv, "n", 1);

	assert_true(virtq_driver_needs_kick(&f->drv, false, 0, 1));
	assert_false(virtq_set_notification(&f->vq, false));
	assert_int_equal(virtq_driver_used_flags(&f->drv), VRING_USED_F_NO_NOTIFY);
	assert_false(virtq_driver_needs_kick(&f->drv, false, 0, 1));
	assert_false(virtq_set_notification(&f->vq, true));
	assert_int_equal(virtq_driver_used_flags(&f->drv), 0);

	/* The race: a buffer made available while kicks were off must be reported. */
	virtq_set_notification(&f->vq, false);
	virtq_driver_add(&f->drv, &b, 1);
	assert_false(virtq_driver_needs_kick(&f->drv, false, 0, 1));
	assert_true(virtq_set_notification(&f->vq, true));
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);

	/* Popping until empty re-arms kicks even if the device forgot. */
	virtq_set_notification(&f->vq, false);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_EMPTY);
	assert_int_equal(virtq_driver_used_flags(&f->drv), 0);
}

static void avail_event_follows_set_notification(void **state)
{
	struct virtq_fixture *f = *state;
	struct virtq_driver_buf b = virtq_driver_buf_out(&f->drv, "n", 1);

	for (int i = 0; i < 3; i++)
		virtq_driver_add(&f->drv, &b, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
	/* Not empty yet as far as the device knows: no kick wanted for what it will find anyway. */
	assert_false(virtq_driver_needs_kick(&f->drv, true, 3, 4));
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_EMPTY);
	assert_int_equal(virtq_driver_avail_event(&f->drv), 3);
	assert_true(virtq_driver_needs_kick(&f->drv, true, 3, 4));

	/* Polling device: kicks off, then the race on enabling them again. */
	assert_false(virtq_set_notification(&f->vq, false));
	virtq_driver_add(&f->drv, &b, 1);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
	virtq_driver_add(&f->drv, &b, 1);
	assert_false(virtq_driver_needs_kick(&f->drv, true, 4, 5));
	assert_true(virtq_set_notification(&f->vq, true));
	assert_int_equal(virtq_driver_avail_event(&f->drv), 4);
	assert_int_equal(virtq_pop(&f->vq, &f->chain), VIRTQ_GOT);
	assert_false(virtq_set_notification(&f->vq, true));
	assert_int_equal(virtq_driver_avail_event(&f->drv), 5);
	assert_true(virtq_driver_needs_kick(&f->drv, true, 5, 6));
}

/* ---- a real driver on another CPU --------------------------------------- */

#define RACE_BUFFERS 200000

struct race {
	struct virtq_fixture *f;
	bool event_idx;
	sem_t kick;
	int device_timeouts;
	unsigned done;
};

static void *race_device(void *arg)
{
	struct race *r = arg;
	struct virtq_chain *c = malloc(sizeof(*c));

	assert_non_null(c);
	while (r->done < RACE_BUFFERS) {
		struct timespec deadline;
		enum virtq_pop_result res;

		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += 5;
		if (sem_timedwait(&r->kick, &deadline) < 0) {
			/* A lost kick: the driver waits for used buffers we never saw. */
			__atomic_store_n(&r->device_timeouts, 1, __ATOMIC_RELAXED);
			break;
		}
		while ((res = virtq_pop(&r->f->vq, c)) == VIRTQ_GOT) {
			virtq_push(&r->f->vq, c, 0);
			r->done++;
		}
		if (res == VIRTQ_BROKEN)
			break;
	}
	free(c);
	return NULL;
}

static void driver_and_device_race_without_losing_a_kick(void **state)
{
	struct virtq_fixture *f = *state;
	struct race r = { .f = f, .event_idx = f->vq.event_idx };
	struct virtq_driver_buf b = virtq_driver_buf_in(&f->drv, 16);
	unsigned sent = 0, inflight = 0;
	pthread_t dev;

	assert_int_equal(sem_init(&r.kick, 0, 0), 0);
	assert_int_equal(pthread_create(&dev, NULL, race_device, &r), 0);
	while (sent < RACE_BUFFERS && !__atomic_load_n(&r.device_timeouts, __ATOMIC_RELAXED)) {
		uint32_t id, len;

		while (virtq_driver_get_used(&f->drv, &id, &len))
			inflight--;
		if (inflight == QSIZE) {
			sched_yield();
			continue;
		}
		virtq_driver_add(&f->drv, &b, 1);
		sent++;
		inflight++;
		if (virtq_driver_needs_kick(&f->drv, r.event_idx, (uint16_t)(f->drv.avail_idx - 1), f->drv.avail_idx))
			sem_post(&r.kick);
	}
	pthread_join(dev, NULL);
	sem_destroy(&r.kick);
	assert_int_equal(r.device_timeouts, 0);
	assert_false(f->vq.broken);
	assert_int_equal(r.done, RACE_BUFFERS);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, virtq_fixture_setup, virtq_fixture_teardown)
#define T_PLAIN(fn) cmocka_unit_test_setup_teardown(fn, virtq_fixture_setup_plain, virtq_fixture_teardown)
#define T_NONE(fn) cmocka_unit_test(fn)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(empty_queue_pops_nothing),
		T(disabled_queue_pops_nothing),
		T(chain_of_readable_then_writable),
		T_PLAIN(written_length_is_clamped_to_the_writable_part),
		T(chains_come_out_in_order_and_may_be_used_out_of_order),
		T(push_many_publishes_all_entries_with_one_index_update),
		T(unpopped_chain_comes_back),
		T(indices_wrap_at_16_bits),
		T_PLAIN(indices_wrap_at_16_bits),
		T(full_ring_of_available_chains),
		T(chain_may_use_every_descriptor),
		T(indirect_chain),
		T(direct_descriptors_may_lead_to_an_indirect_table),
		T(zero_length_descriptor_is_never_mapped),
		T_NONE(buffers_in_high_ram),
		T_PLAIN(no_interrupt_flag_suppresses_interrupts),
		T(used_event_chooses_when_to_interrupt),
		T(used_event_across_the_index_wrap),
		T(lap_without_interrupt_check_forces_one),
		T_PLAIN(no_notify_flag_follows_set_notification),
		T(avail_event_follows_set_notification),
		T(driver_and_device_race_without_losing_a_kick),
		T_PLAIN(driver_and_device_race_without_losing_a_kick),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
