/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/core.h"
#include "virtio/rng.h"
#include "virtio_echo.h"

/*
 * The transport-neutral core's state (virtio/core.h): save -> a fresh
 * device on a copy of the guest's RAM -> restore, then the driver carries on;
 * pause/resume; every refused restore names its field and changes nothing.
 * The device model is the test's echo device (tests/unit/virtio_echo.c),
 * and virtio-rng through its registry ops.
 */

#define QSIZE 16u

static struct virtio_dev *core(struct echo_fixture *f)
{
	return &f->h.t.vdev;
}

/* A second device of the same model, the first one's guest RAM and driver state copied into it, paused. */
static struct echo_fixture *twin_of(struct echo_fixture *src)
{
	struct echo_fixture *f = echo_fixture_make(NULL, NULL);

	virtio_harness_copy_guest(&f->h, &src->h);
	virtio_dev_pause(core(f));
	return f;
}

static void free_fixture(struct echo_fixture *f)
{
	virtio_harness_destroy(&f->h);
	free(f);
}

static void save(struct echo_fixture *f, struct virtio_dev_state *s)
{
	memset(s, 0xa5, sizeof(*s));     /* whatever save leaves is in the comparison */
	virtio_dev_save(core(f), s);
}

/* A running echo device with traffic behind it on both queues, one request made available but not kicked. */
static struct echo_fixture *busy_device(uint16_t *pending_head)
{
	struct echo_fixture *f = echo_fixture_make(NULL, NULL);
	struct virtq_driver_buf bufs[2];

	virtio_harness_start(&f->h, F_EVENT_IDX | F_INDIRECT | ECHO_F_MODEL_B, ECHO_QUEUES, QSIZE);
	for (int i = 0; i < 5; i++)
		echo_once(f, 0, "before the snapshot");
	echo_once(f, 1, "queue one");
	bufs[0] = virtq_driver_buf_out(&f->h.drv[0], "pending", 7);
	bufs[1] = virtq_driver_buf_in(&f->h.drv[0], 64);
	*pending_head = virtq_driver_add(&f->h.drv[0], bufs, 2);
	virtio_harness_take_interrupts(&f->h);
	return f;
}

/* ---- round trip ------------------------------------------------------------ */

static void test_round_trip(void **state)
{
	struct virtio_dev_state saved, again;
	struct vmon_error err = { 0 };
	uint16_t head;
	uint32_t id, len;
	(void)state;

	struct echo_fixture *a = busy_device(&head);
	virtio_dev_pause(core(a));
	save(a, &saved);
	assert_int_equal(saved.queues[0].last_avail_idx, 5);
	assert_int_equal(saved.queues[0].used_idx, 5);
	assert_int_equal(saved.interrupt_status, VIRTIO_INT_USED_BUFFER);   /* never acked */

	struct echo_fixture *b = twin_of(a);
	free_fixture(a);
	if (virtio_dev_restore(core(b), &saved, &err))
		fail_msg("restore: %s", err.msg);
	save(b, &again);
	assert_memory_equal(&saved, &again, sizeof(saved));

	/* The guest sees the same device through the registers. */
	assert_int_equal(virtio_harness_status(&b->h), S_RUNNING);
	assert_int_equal(virtio_harness_interrupt_status(&b->h), VIRTIO_INT_USED_BUFFER);
	virtio_harness_write32(&b->h, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(virtio_harness_read32(&b->h, VIRTIO_MMIO_QUEUE_READY), 1);
	/* Host views recomputed into the new RAM, flags from the features. */
	assert_ptr_equal(core(b)->queues[0].desc, guest_mem_ptr(&b->h.mem, b->h.drv[0].desc_gpa, 16 * QSIZE));
	assert_true(core(b)->queues[0].event_idx);
	assert_true(core(b)->queues[0].indirect);

	/* Paused: nothing served, no interrupt. */
	assert_int_equal(virtio_harness_run_loop(&b->h), 0);
	assert_int_equal(virtio_harness_take_interrupts(&b->h), 0);
	assert_int_equal(b->echo.notifies[0], 0);

	/* Resume: the owed edge, and the request made available before the snapshot is served once. */
	virtio_dev_resume(core(b));
	assert_int_equal(virtio_harness_take_interrupts(&b->h), 1);
	virtio_harness_run_loop(&b->h);
	assert_int_equal(b->echo.notifies[0], 1);
	assert_true(virtq_driver_get_used(&b->h.drv[0], &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, 7);
	assert_false(virtq_driver_get_used(&b->h.drv[0], &id, &len));

	/* The driver carries on on both queues. */
	for (unsigned i = 0; i < 2 * QSIZE; i++)
		echo_once(b, 0, "after the restore");
	echo_once(b, 1, "queue one again");
	assert_int_equal(core(b)->queues[0].used_idx, 5 + 1 + 2 * QSIZE);
	assert_int_equal(virtq_driver_used_idx(&b->h.drv[0]), 5 + 1 + 2 * QSIZE);
	assert_int_equal(core(b)->queues[1].used_idx, 2);
	free_fixture(b);
}

/* A device that was never started round-trips too (queues not ready, status 0). */
static void test_round_trip_fresh(void **state)
{
	struct virtio_dev_state saved, again;
	struct vmon_error err = { 0 };
	(void)state;

	struct echo_fixture *a = echo_fixture_make(NULL, NULL);
	virtio_harness_write32(&a->h, VIRTIO_MMIO_QUEUE_SEL, 1);
	virtio_harness_write32(&a->h, VIRTIO_MMIO_QUEUE_NUM, 3);      /* a register value, not checked until ready */
	virtio_dev_pause(core(a));
	save(a, &saved);
	struct echo_fixture *b = twin_of(a);
	free_fixture(a);
	assert_int_equal(virtio_dev_restore(core(b), &saved, &err), 0);
	save(b, &again);
	assert_memory_equal(&saved, &again, sizeof(saved));
	virtio_dev_resume(core(b));
	assert_int_equal(virtio_harness_take_interrupts(&b->h), 0);
	virtio_harness_start(&b->h, F_EVENT_IDX, ECHO_QUEUES, QSIZE);
	echo_once(b, 1, "fresh");
	free_fixture(b);
}

/* ---- pause / resume ------------------------------------------------------------ */

static void test_pause_resume(void **state)
{
	struct echo_fixture *f = *state;
	struct virtq_driver_buf bufs[2];
	uint32_t id, len;

	virtio_harness_start(&f->h, F_EVENT_IDX, ECHO_QUEUES, QSIZE);
	echo_once(f, 0, "running");
	virtio_harness_ack(&f->h, VIRTIO_INT_USED_BUFFER);
	virtio_harness_take_interrupts(&f->h);

	virtio_dev_pause(core(f));
	assert_false(virtio_device_running(core(f)));
	bufs[0] = virtq_driver_buf_out(&f->h.drv[1], "while paused", 12);
	bufs[1] = virtq_driver_buf_in(&f->h.drv[1], 64);
	uint16_t head = virtq_driver_add(&f->h.drv[1], bufs, 2);
	virtio_harness_kick(&f->h, 1);
	assert_int_equal(f->echo.notifies[1], 0);                 /* ignored ... */
	assert_int_equal(f->h.t.ignored_notifies, 1);
	virtio_config_changed(core(f));                           /* ... and interrupts recorded, not sent */
	assert_int_equal(virtio_harness_interrupt_status(&f->h), VIRTIO_INT_CONFIG);
	assert_int_equal(virtio_harness_take_interrupts(&f->h), 0);
	/* The driver still sees the registers (vCPUs would be stopped, but nothing breaks). */
	assert_int_equal(virtio_harness_status(&f->h), S_RUNNING);

	virtio_dev_resume(core(f));
	assert_true(virtio_device_running(core(f)));
	assert_int_equal(virtio_harness_take_interrupts(&f->h), 1);
	virtio_harness_run_loop(&f->h);                           /* the re-kick */
	assert_int_equal(f->echo.notifies[1], 1);
	assert_int_equal(f->echo.notifies[0], 1);                 /* nothing pending there: not kicked */
	assert_true(virtq_driver_get_used(&f->h.drv[1], &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, 12);
	assert_int_equal(virtio_harness_interrupt_status(&f->h), VIRTIO_INT_CONFIG | VIRTIO_INT_USED_BUFFER);
	assert_int_equal(virtio_harness_take_interrupts(&f->h), 1);
}

/* A power-on reset through the core: back to status 0, generation 0, queues disabled. */
static void test_reset(void **state)
{
	struct echo_fixture *f = *state;

	virtio_harness_start(&f->h, F_EVENT_IDX, ECHO_QUEUES, QSIZE);
	echo_once(f, 0, "x");
	virtio_config_changed(core(f));
	virtio_dev_pause(core(f));
	virtio_dev_reset(core(f));
	virtio_dev_resume(core(f));
	assert_int_equal(virtio_harness_status(&f->h), 0);
	assert_int_equal(virtio_harness_config_generation(&f->h), 0);
	assert_int_equal(virtio_harness_interrupt_status(&f->h), 0);
	assert_false(core(f)->queues[0].enabled);
	assert_int_equal(f->echo.resets, 2);      /* the harness's reset at start, and this one */
	virtio_harness_start(&f->h, F_EVENT_IDX, ECHO_QUEUES, QSIZE);
	echo_once(f, 0, "again");
}

/* ---- refused restores ------------------------------------------------------------- */

struct bad_state {
	const char *needle;                  /* in the error message */
	void (*spoil)(struct virtio_dev_state *s, const struct echo_fixture *src);
};

static void bad_device_id(struct virtio_dev_state *s, const struct echo_fixture *src) { (void)src; s->device_id = 2; }
static void bad_num_queues(struct virtio_dev_state *s, const struct echo_fixture *src) { (void)src; s->num_queues = 3; }
static void bad_offer(struct virtio_dev_state *s, const struct echo_fixture *src) { (void)src; s->device_features ^= ECHO_F_MODEL_A; }
static void bad_unknown_status(struct virtio_dev_state *s, const struct echo_fixture *src) { (void)src; s->status |= 0x10; }
static void bad_status_order(struct virtio_dev_state *s, const struct echo_fixture *src)
{
	(void)src;
	s->status = S_ACK | S_DRIVER | S_DRIVER_OK;
}
static void bad_driver_before_ack(struct virtio_dev_state *s, const struct echo_fixture *src)
{
	(void)src;
	s->status &= ~(uint32_t)S_ACK;
}
static void bad_unoffered(struct virtio_dev_state *s, const struct echo_fixture *src) { (void)src; s->driver_features |= 1ull << 3; }
static void bad_legacy(struct virtio_dev_state *s, const struct echo_fixture *src) { (void)src; s->driver_features &= ~F_VERSION_1; }
static void bad_interrupt(struct virtio_dev_state *s, const struct echo_fixture *src) { (void)src; s->interrupt_status = 4; }
static void bad_size(struct virtio_dev_state *s, const struct echo_fixture *src) { (void)src; s->queues[0].size = 12; }
static void big_size(struct virtio_dev_state *s, const struct echo_fixture *src) { (void)src; s->queues[0].size = 2 * ECHO_QUEUE_MAX; }
static void bad_desc(struct virtio_dev_state *s, const struct echo_fixture *src) { (void)src; s->queues[1].desc_addr = VIRTIO_HARNESS_RAM - 64; }
static void bad_avail(struct virtio_dev_state *s, const struct echo_fixture *src) { (void)src; s->queues[0].avail_addr += 1; }
static void bad_used(struct virtio_dev_state *s, const struct echo_fixture *src) { (void)src; s->queues[0].used_addr = 0x1000000000ull; }
static void bad_in_flight(struct virtio_dev_state *s, const struct echo_fixture *src)
{
	(void)src;
	s->queues[0].last_avail_idx = (uint16_t)(s->queues[0].used_idx + QSIZE + 1);
}
static void bad_flag(struct virtio_dev_state *s, const struct echo_fixture *src) { (void)src; s->queues[1].broken = 2; }
static void bad_reserved(struct virtio_dev_state *s, const struct echo_fixture *src) { (void)src; s->queues[0].reserved[4] = 1; }
static void bad_not_ready(struct virtio_dev_state *s, const struct echo_fixture *src)
{
	(void)src;
	s->queues[1].ready = 0;          /* but its indices say it ran */
}
static void bad_ready_early(struct virtio_dev_state *s, const struct echo_fixture *src)
{
	(void)src;
	s->status = S_ACK | S_DRIVER;    /* queues ready before FEATURES_OK */
}
static void bad_absent_queue(struct virtio_dev_state *s, const struct echo_fixture *src)
{
	(void)src;
	s->queues[ECHO_QUEUES].size = 16;
}

static const struct bad_state bad_states[] = {
	{ "device_id 2", bad_device_id },
	{ "num_queues 3", bad_num_queues },
	{ "device_features", bad_offer },
	{ "status 0x1f has unknown bits 0x10", bad_unknown_status },
	{ "DRIVER_OK without FEATURES_OK", bad_status_order },
	{ "DRIVER without ACKNOWLEDGE", bad_driver_before_ack },
	{ "driver_features 0x", bad_unoffered },
	{ "lacks VIRTIO_F_VERSION_1", bad_legacy },
	{ "interrupt_status 0x4", bad_interrupt },
	{ "queue 0 size: queue size 12 is not a power of 2", bad_size },
	{ "queue 0 size: queue size 128", big_size },
	{ "queue 1 desc_addr: descriptor ring at 0x1ffffc0", bad_desc },
	{ "queue 0 avail_addr: available ring at", bad_avail },
	{ "queue 0 used_addr: used ring at 0x1000000000", bad_used },
	{ "queue 0 last_avail_idx", bad_in_flight },
	{ "queue 1 broken is 2", bad_flag },
	{ "queue 0 reserved byte 4", bad_reserved },
	{ "queue 1 is not ready but has ring state", bad_not_ready },
	{ "queue 0 is ready but status 0x3 lacks FEATURES_OK", bad_ready_early },
	{ "queue 2 does not exist", bad_absent_queue },
};

static void test_restore_refused(void **state)
{
	struct virtio_dev_state good, bad, before, after;
	uint16_t head;
	(void)state;

	struct echo_fixture *a = busy_device(&head);
	virtio_dev_pause(core(a));
	save(a, &good);
	struct echo_fixture *b = twin_of(a);
	/* b runs something of its own first, so "unchanged" is not just "fresh". */
	virtio_dev_resume(core(b));
	virtio_harness_start(&b->h, F_EVENT_IDX, ECHO_QUEUES, 8);
	echo_once(b, 0, "b's own");
	virtio_dev_pause(core(b));
	save(b, &before);

	for (size_t i = 0; i < sizeof(bad_states) / sizeof(bad_states[0]); i++) {
		struct vmon_error err = { 0 };

		bad = good;
		bad_states[i].spoil(&bad, a);
		assert_int_equal(virtio_dev_restore(core(b), &bad, &err), -EINVAL);
		if (!strstr(err.msg, bad_states[i].needle))
			fail_msg("case %zu: expected '%s' in '%s'", i, bad_states[i].needle, err.msg);
		save(b, &after);
		assert_memory_equal(&before, &after, sizeof(before));
	}
	/* b still works as it did. */
	virtio_dev_resume(core(b));
	echo_once(b, 0, "still b's");
	free_fixture(a);
	free_fixture(b);
}

/* ---- virtio-rng through its registry ops --------------------------------------- */

struct rng_device {
	struct virtio_harness h;
	struct virtio_rng *rng;
};

static struct rng_device *rng_new(void)
{
	struct rng_device *r = calloc(1, sizeof(*r));
	struct vmon_error err = { 0 };

	assert_non_null(r);
	assert_int_equal(virtio_rng_create(&r->rng, &r->h.t.vdev, NULL, &err), 0);
	virtio_harness_init(&r->h, NULL, &virtio_rng_ops, r->rng);
	return r;
}

static void rng_free(struct rng_device *r)
{
	virtio_harness_destroy(&r->h);
	virtio_rng_destroy(r->rng);
	free(r);
}

static void rng_request(struct rng_device *r, uint16_t expect_used_idx)
{
	struct virtq_driver_buf buf = virtq_driver_buf_in(&r->h.drv[0], 32);
	uint16_t head = virtq_driver_add(&r->h.drv[0], &buf, 1);
	uint32_t id, len;

	virtio_harness_kick(&r->h, 0);
	assert_true(virtq_driver_get_used(&r->h.drv[0], &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, 32);
	assert_int_equal(virtq_driver_used_idx(&r->h.drv[0]), expect_used_idx);
}

static void test_rng_round_trip(void **state)
{
	const struct device_ops *ops = &virtio_rng_registry_ops;
	uint8_t saved[sizeof(struct virtio_rng_state) + 1], again[sizeof(struct virtio_rng_state) + 1];
	struct vmon_error err = { 0 };
	(void)state;

	assert_string_equal(ops->kind, "virtio-rng");
	assert_int_equal(ops->state_size, sizeof(struct virtio_rng_state));
	struct rng_device *a = rng_new();
	virtio_harness_start(&a->h, F_EVENT_IDX, 1, 16);
	for (uint16_t i = 1; i <= 20; i++)
		rng_request(a, i);
	ops->pause(&a->h.t.vdev);
	ops->save(&a->h.t.vdev, saved + 1);        /* an unaligned buffer, as in a registry string */

	struct rng_device *b = rng_new();
	virtio_harness_copy_guest(&b->h, &a->h);
	rng_free(a);
	ops->pause(&b->h.t.vdev);
	if (ops->restore(&b->h.t.vdev, saved + 1, &err))
		fail_msg("restore: %s", err.msg);
	ops->save(&b->h.t.vdev, again + 1);
	assert_memory_equal(saved + 1, again + 1, ops->state_size);
	ops->resume(&b->h.t.vdev);
	for (uint16_t i = 21; i <= 40; i++)
		rng_request(b, i);

	/* Refused: another model's state under this kind (device_id), named and prefixed. */
	struct virtio_rng_state s;
	memcpy(&s, saved + 1, sizeof(s));
	s.core.device_id = 1;
	ops->pause(&b->h.t.vdev);
	assert_int_equal(ops->restore(&b->h.t.vdev, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "virtio-rng: device_id 1"));
	ops->resume(&b->h.t.vdev);
	rng_request(b, 41);
	rng_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_round_trip_fresh),
		cmocka_unit_test_setup_teardown(test_pause_resume, echo_setup, echo_teardown),
		cmocka_unit_test_setup_teardown(test_reset, echo_setup, echo_teardown),
		cmocka_unit_test(test_restore_refused),
		cmocka_unit_test(test_rng_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
