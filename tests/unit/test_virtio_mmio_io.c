/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "virtio/mmio.h"
#include "virtio_echo.h"
#include "virtio_harness.h"

/*
 * The virtio-mmio transport at work: notifications (MMIO exit and
 * ioeventfd), interrupts (set_irq pulses and irqfd), reset in the middle of
 * I/O, DEVICE_NEEDS_RESET, and the loop on its own thread. The device is the
 * echo model (virtio_echo.c).
 */

/* ---- notifications ----------------------------------------------------------- */

static void test_notify_before_driver_ok_ignored(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;
	struct virtq_driver_buf out;

	virtio_harness_negotiate(h, 0);
	assert_true(virtio_harness_setup_queue(h, 0, 16));
	out = virtq_driver_buf_out(&h->drv[0], "x", 1);
	virtq_driver_add(&h->drv[0], &out, 1);

	/* The kick reaches the loop, but the device is not running yet. */
	assert_int_equal(virtio_harness_kick(h, 0), 1);
	assert_int_equal(f->echo.notifies[0], 0);
	assert_int_equal(h->t.ignored_notifies, 1);
	assert_int_equal(h->t.notifies, 0);

	/* Queue 1 not ready, after DRIVER_OK: still ignored. */
	assert_int_equal(virtio_harness_driver_ok(h), S_RUNNING);
	virtio_harness_kick(h, 1);
	assert_int_equal(f->echo.notifies[1], 0);
	assert_int_equal(h->t.ignored_notifies, 2);

	/* Queue 0 now works, and finds the buffer made available before. */
	virtio_harness_kick(h, 0);
	assert_int_equal(f->echo.notifies[0], 1);
	assert_int_equal(h->t.notifies, 1);
	assert_int_equal(virtq_driver_used_idx(&h->drv[0]), 1);
}

static void test_notify_bad_queue_index(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;

	virtio_harness_start(h, 0, 1, 16);
	/* No handler runs for an index without a queue, whatever the value. */
	assert_int_equal(virtio_harness_kick(h, ECHO_QUEUES), 0);
	assert_int_equal(virtio_harness_kick(h, 0xffffffffu), 0);
	assert_int_equal(virtio_harness_kick(h, 0x10000), 0);
	assert_int_equal(f->echo.notifies[0] + f->echo.notifies[1], 0);
	assert_int_equal(h->t.ignored_notifies, 3);
	echo_once(f, 0, "still fine");
}

static void test_echo_end_to_end(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;

	virtio_harness_start(h, F_INDIRECT | F_EVENT_IDX, ECHO_QUEUES, 32);
	assert_int_equal(h->mmio_writes > 0, 1);
	echo_once(f, 0, "hello");
	assert_int_equal(virtio_harness_take_interrupts(h), 1);
	assert_int_equal(virtio_harness_interrupt_status(h), VIRTIO_MMIO_INT_VRING);
	virtio_harness_ack(h, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(virtio_harness_interrupt_status(h), 0);

	echo_once(f, 1, "queue one");
	assert_int_equal(virtio_harness_take_interrupts(h), 1);
	assert_int_equal(f->echo.notifies[1], 1);
	assert_int_equal(h->t.notifies, 2);
	assert_int_equal(h->t.interrupts, 2);
	assert_int_equal(h->irq_level, 0);        /* a pulse, not a level */
	assert_int_equal(h->irq_other_gsi, 0);
}

/* ---- interrupts ------------------------------------------------------------------ */

static void test_interrupt_edges(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;

	virtio_harness_start(h, 0, 1, 16);
	echo_once(f, 0, "one");
	assert_int_equal(virtio_harness_take_interrupts(h), 1);

	/* Not acked yet: a second completion rides on the pending edge (the driver handles after its ack). */
	echo_once(f, 0, "two");
	assert_int_equal(virtio_harness_take_interrupts(h), 0);
	assert_int_equal(virtio_harness_interrupt_status(h), VIRTIO_MMIO_INT_VRING);

	/* A new cause while the other is pending gets its own edge: the driver may have read the status already. */
	virtio_config_changed(&h->t.vdev);
	assert_int_equal(virtio_harness_take_interrupts(h), 1);
	assert_int_equal(virtio_harness_interrupt_status(h), VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);

	/* Acking one bit leaves the other. */
	virtio_harness_ack(h, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(virtio_harness_interrupt_status(h), VIRTIO_MMIO_INT_CONFIG);
	echo_once(f, 0, "three");
	assert_int_equal(virtio_harness_take_interrupts(h), 1);
	virtio_harness_ack(h, 0xffffffffu);
	assert_int_equal(virtio_harness_interrupt_status(h), 0);

	/* The driver asks for no interrupts: none (virtq_should_interrupt decides). */
	virtq_driver_set_avail_flags(&h->drv[0], VRING_AVAIL_F_NO_INTERRUPT);
	echo_once(f, 0, "quiet");
	assert_int_equal(virtio_harness_take_interrupts(h), 0);
	assert_int_equal(virtio_harness_interrupt_status(h), 0);
}

static void test_irqfd(void **state)
{
	struct virtio_harness_options opts = { .irqfd = true };
	struct echo_fixture *f = echo_fixture_make(&opts, NULL);
	struct virtio_harness *h = &f->h;

	(void)state;
	assert_true(h->irqfd >= 0);
	assert_int_equal(h->t.irq_fd, h->irqfd);
	virtio_harness_start(h, 0, 1, 16);
	echo_once(f, 0, "irqfd");
	assert_int_equal(h->irq_edges, 0);                 /* no set_irq pulses */
	assert_int_equal(virtio_harness_take_interrupts(h), 1);
	virtio_harness_ack(h, VIRTIO_MMIO_INT_VRING);
	echo_once(f, 0, "again");
	assert_int_equal(virtio_harness_take_interrupts(h), 1);

	virtio_mmio_destroy(&h->t);
	assert_int_equal(h->irqfd_removed, 1);
	assert_int_equal(h->t.irq_fd, -1);
	*state = f;
	echo_teardown(state);
}

/* ---- ioeventfd ------------------------------------------------------------------- */

static void test_ioeventfd_registered(void **state)
{
	struct virtio_harness_options opts = { .ioeventfd = true };
	struct echo_fixture *f = echo_fixture_make(&opts, NULL);
	struct virtio_harness *h = &f->h;
	unsigned writes;

	(void)state;
	assert_true(h->t.ioeventfd);
	assert_int_equal(h->nioeventfds, ECHO_QUEUES);
	for (unsigned q = 0; q < ECHO_QUEUES; q++) {
		assert_int_equal(h->ioeventfds[q].addr, VIRTIO_HARNESS_BASE + VIRTIO_MMIO_QUEUE_NOTIFY);
		assert_int_equal(h->ioeventfds[q].len, 4);
		assert_int_equal(h->ioeventfds[q].value, q);
		assert_int_equal(h->ioeventfds[q].fd, h->t.notify_fd[q]);
		assert_true(fcntl(h->ioeventfds[q].fd, F_GETFL) & O_NONBLOCK);
	}
	assert_int_not_equal(h->ioeventfds[0].fd, h->ioeventfds[1].fd);

	/* Kicks go straight to the eventfd: the transport's MMIO handler never sees them. */
	virtio_harness_start(h, 0, ECHO_QUEUES, 16);
	writes = h->mmio_writes;
	echo_once(f, 0, "no exit");
	echo_once(f, 1, "none here either");
	assert_int_equal(h->mmio_writes, writes);
	assert_int_equal(f->echo.notifies[0], 1);
	assert_int_equal(f->echo.notifies[1], 1);

	/* An index KVM does not match still exits, and is ignored. */
	assert_int_equal(virtio_harness_kick(h, 7), 0);
	assert_int_equal(h->mmio_writes, writes + 1);

	virtio_mmio_destroy(&h->t);
	for (unsigned q = 0; q < ECHO_QUEUES; q++)
		assert_false(h->ioeventfds[q].active);
	*state = f;
	echo_teardown(state);
}

static void test_ioeventfd_failure_falls_back(void **state)
{
	struct virtio_harness_options opts = { .ioeventfd = true, .ioeventfd_fail_at = 2 };
	struct echo_fixture *f = echo_fixture_make(&opts, NULL);
	struct virtio_harness *h = &f->h;
	unsigned writes;

	(void)state;
	assert_false(h->t.ioeventfd);
	assert_int_equal(h->ioeventfd_calls, 2);
	assert_false(h->ioeventfds[0].active);            /* the one that worked was taken back */

	virtio_harness_start(h, 0, ECHO_QUEUES, 16);
	writes = h->mmio_writes;
	echo_once(f, 1, "through the exit");
	assert_int_equal(h->mmio_writes, writes + 1);
	assert_int_equal(f->echo.notifies[1], 1);
	*state = f;
	echo_teardown(state);
}

static void test_no_ioeventfd_uses_mmio_exit(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;
	unsigned writes;

	assert_false(h->t.ioeventfd);
	virtio_harness_start(h, 0, 1, 16);
	writes = h->mmio_writes;
	echo_once(f, 0, "exit");
	assert_int_equal(h->mmio_writes, writes + 1);
	/* Two kicks before the loop runs are one notification (the eventfd counts, the handler drains). */
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(virtio_harness_run_loop(h), 1);
	assert_int_equal(f->echo.notifies[0], 2);
}

/* ---- reset and errors ---------------------------------------------------------------- */

static void test_reset_mid_io(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;
	struct virtq_driver_buf bufs[2];
	unsigned resets;

	virtio_harness_start(h, F_EVENT_IDX, ECHO_QUEUES, 16);
	resets = f->echo.resets;
	f->echo.hold = true;
	bufs[0] = virtq_driver_buf_out(&h->drv[0], "pending", 7);
	bufs[1] = virtq_driver_buf_in(&h->drv[0], 16);
	virtq_driver_add(&h->drv[0], bufs, 2);
	virtio_harness_kick(h, 0);
	assert_int_equal(f->echo.held, 1);
	virtio_config_changed(&h->t.vdev);

	/* A kick is in the eventfd when the driver resets. */
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	virtio_harness_reset(h);
	assert_int_equal(f->echo.resets, resets + 1);
	assert_int_equal(f->echo.held, 0);
	assert_int_equal(virtio_harness_status(h), 0);
	assert_int_equal(virtio_harness_interrupt_status(h), 0);
	for (unsigned q = 0; q < ECHO_QUEUES; q++) {
		virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_SEL, q);
		assert_int_equal(virtio_harness_read32(h, VIRTIO_MMIO_QUEUE_READY), 0);
		assert_false(h->t.vdev.queues[q].enabled);
		assert_int_equal(h->t.vdev.queues[q].last_avail_idx, 0);
	}
	assert_int_equal(h->t.vdev.queue_sel, ECHO_QUEUES - 1);   /* selectors are plain registers ... */
	virtio_harness_reset(h);
	assert_int_equal(h->t.vdev.queue_sel, 0);                 /* ... which a reset clears */
	assert_int_equal(h->t.vdev.driver_features, 0);

	/* The stale kick finds a device that is not running. */
	virtio_harness_run_loop(h);
	assert_int_equal(f->echo.notifies[0], 1);

	/* The driver starts over: fresh rings, and I/O works again. */
	f->echo.hold = false;
	virtio_harness_start(h, 0, ECHO_QUEUES, 16);
	assert_int_equal(f->echo.activations, 2);
	echo_once(f, 0, "after reset");
}

static void test_needs_reset_on_broken_queue(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;
	unsigned notifies;

	virtio_harness_start(h, 0, 1, 16);
	echo_once(f, 0, "fine");
	virtio_harness_ack(h, 0xffffffffu);
	virtio_harness_take_interrupts(h);

	/* The guest claims 1000 buffers in a queue of 16. */
	virtq_driver_set_avail_idx(&h->drv[0], 1000);
	virtio_harness_kick(h, 0);
	assert_true(virtio_harness_status(h) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_true(virtio_harness_interrupt_status(h) & VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(virtio_harness_take_interrupts(h), 1);
	assert_false(virtio_device_running(&h->t.vdev));
	assert_true(h->t.vdev.error_logged);

	/* The device no longer serves; a second error raises nothing new. */
	notifies = f->echo.notifies[0];
	virtio_harness_kick(h, 0);
	assert_int_equal(f->echo.notifies[0], notifies);
	virtio_device_error(&h->t.vdev, "again");
	assert_int_equal(virtio_harness_take_interrupts(h), 0);

	/* The driver's status writes keep NEEDS_RESET (it is the device's bit). */
	virtio_harness_write32(h, VIRTIO_MMIO_STATUS, S_RUNNING);
	assert_true(virtio_harness_status(h) & VIRTIO_CONFIG_S_NEEDS_RESET);

	virtio_harness_reset(h);
	assert_int_equal(virtio_harness_status(h), 0);
	virtio_harness_start(h, 0, 1, 16);
	echo_once(f, 0, "recovered");
}

static void test_broken_queue_reported_by_transport(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;
	struct virtq_driver_buf in;

	f->echo.ignore_broken = true;
	virtio_harness_start(h, 0, 1, 16);
	/* A chain whose descriptor points past RAM. */
	in = virtq_driver_buf_in(&h->drv[0], 16);
	in.gpa = VIRTIO_HARNESS_RAM - 8;
	virtq_driver_add(&h->drv[0], &in, 1);
	virtio_harness_kick(h, 0);
	assert_true(h->t.vdev.queues[0].broken);
	assert_true(virtio_harness_status(h) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(virtio_harness_interrupt_status(h), VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(virtq_driver_used_idx(&h->drv[0]), 0);
}

static void test_needs_reset_when_activate_fails(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;
	unsigned activations;

	f->echo.activate_result = -ENOTSUP;
	virtio_harness_negotiate(h, 0);
	assert_true(virtio_harness_setup_queue(h, 0, 16));
	assert_int_equal(virtio_harness_driver_ok(h), S_RUNNING | VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(virtio_harness_interrupt_status(h), VIRTIO_MMIO_INT_CONFIG);
	assert_false(virtio_device_running(&h->t.vdev));
	virtio_harness_kick(h, 0);
	assert_int_equal(f->echo.notifies[0], 0);

	f->echo.activate_result = 0;
	virtio_harness_start(h, 0, 1, 16);
	echo_once(f, 0, "ok now");

	/* An error before DRIVER_OK: DRIVER_OK is latched but the model is not started. */
	virtio_harness_negotiate(h, 0);
	virtio_device_error(&h->t.vdev, "early");
	activations = f->echo.activations;
	assert_int_equal(virtio_harness_driver_ok(h), S_RUNNING | VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(f->echo.activations, activations);
}

/* ---- threads: the loop on its own thread, a backend beside it ------------------------ */

struct backend {
	struct virtio_dev *t;
	atomic_bool stop;
	unsigned changes;
};

static void *backend_thread(void *arg)
{
	struct backend *b = arg;

	while (!atomic_load(&b->stop)) {
		virtio_lock(b->t);
		virtio_config_changed(b->t);
		virtio_unlock(b->t);
		b->changes++;
		sched_yield();
	}
	return NULL;
}

static void test_threaded(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;
	struct backend b = { .t = &h->t.vdev };
	struct vmon_error err = { 0 };
	pthread_t thread;
	uint32_t gen;

	virtio_harness_start(h, F_EVENT_IDX, 1, 16);
	gen = virtio_harness_config_generation(h);
	atomic_init(&b.stop, false);
	assert_int_equal(event_loop_start(&h->loop, &err), 0);
	assert_int_equal(pthread_create(&thread, NULL, backend_thread, &b), 0);
	for (unsigned i = 0; i < 300; i++) {
		struct virtq_driver *drv = &h->drv[0];
		struct virtq_driver_buf bufs[2] = { virtq_driver_buf_out(drv, "ping", 4), virtq_driver_buf_in(drv, 8) };
		uint32_t id, len;
		int spins = 0;

		virtq_driver_add(drv, bufs, 2);
		virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		while (!virtq_driver_get_used(drv, &id, &len)) {
			assert_true(++spins < 5000000);
			virtio_harness_ack(h, virtio_harness_interrupt_status(h));
			sched_yield();
		}
		assert_int_equal(len, 4);
	}
	atomic_store(&b.stop, true);
	pthread_join(thread, NULL);
	event_loop_stop(&h->loop);
	assert_int_equal(virtio_harness_config_generation(h), gen + b.changes);
	assert_true(f->echo.notifies[0] >= 1 && f->echo.notifies[0] <= 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_notify_before_driver_ok_ignored, echo_setup, echo_teardown),
		cmocka_unit_test_setup_teardown(test_notify_bad_queue_index, echo_setup, echo_teardown),
		cmocka_unit_test_setup_teardown(test_echo_end_to_end, echo_setup, echo_teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_edges, echo_setup, echo_teardown),
		cmocka_unit_test(test_irqfd),
		cmocka_unit_test(test_ioeventfd_registered),
		cmocka_unit_test(test_ioeventfd_failure_falls_back),
		cmocka_unit_test_setup_teardown(test_no_ioeventfd_uses_mmio_exit, echo_setup, echo_teardown),
		cmocka_unit_test_setup_teardown(test_reset_mid_io, echo_setup, echo_teardown),
		cmocka_unit_test_setup_teardown(test_needs_reset_on_broken_queue, echo_setup, echo_teardown),
		cmocka_unit_test_setup_teardown(test_broken_queue_reported_by_transport, echo_setup, echo_teardown),
		cmocka_unit_test_setup_teardown(test_needs_reset_when_activate_fails, echo_setup, echo_teardown),
		cmocka_unit_test_setup_teardown(test_threaded, echo_setup, echo_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
