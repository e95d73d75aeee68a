/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <string.h>

#include "virtio/mmio.h"
#include "virtio_echo.h"
#include "virtio_harness.h"

/*
 * The virtio-mmio transport's registers, driven by the test as a driver
 * would: identification, feature negotiation, the status machine, queue
 * setup, config space, odd accesses, init/destroy. The device is the echo
 * model (virtio_echo.c); test_virtio_mmio_io.c covers kicks and interrupts.
 */

/* ---- identification ------------------------------------------------------- */

static void test_identification(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;
	char arg[64];

	assert_int_equal(virtio_harness_read32(h, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(virtio_harness_read32(h, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(virtio_harness_read32(h, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	assert_int_equal(virtio_harness_read32(h, VIRTIO_MMIO_VENDOR_ID), 0x4e4f4d56);
	assert_int_equal(virtio_harness_status(h), 0);
	assert_int_equal(virtio_harness_read32(h, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffffu);
	assert_int_equal(virtio_harness_read32(h, VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffffu);
	/* Legacy (version 1) registers do not exist. */
	assert_int_equal(virtio_harness_read32(h, VIRTIO_MMIO_QUEUE_PFN), 0);

	for (unsigned q = 0; q < ECHO_QUEUES; q++) {
		virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_SEL, q);
		assert_int_equal(virtio_harness_read32(h, VIRTIO_MMIO_QUEUE_NUM_MAX), ECHO_QUEUE_MAX);
		assert_int_equal(virtio_harness_read32(h, VIRTIO_MMIO_QUEUE_READY), 0);
	}
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_SEL, ECHO_QUEUES);
	assert_int_equal(virtio_harness_read32(h, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_SEL, 0xffffffffu);
	assert_int_equal(virtio_harness_read32(h, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);

	assert_int_equal(virtio_mmio_linux_arg(&h->t, arg, sizeof(arg)), 0);
	assert_string_equal(arg, "virtio_mmio.device=4K@0xd0000000:5");
	assert_int_equal(virtio_mmio_linux_arg(&h->t, arg, 20), -ENOSPC);
}

/* ---- features --------------------------------------------------------------- */

static void test_features_offered(void **state)
{
	static const struct virtio_device_ops greedy = {
		.name = "greedy", .device_id = 4, .num_queues = 1, .queue_max_size = 8,
		/* Transport bits the transport does not implement (packed ring, notify-on-empty) are dropped. */
		.features = ECHO_F_MODEL_A | F_EVENT_IDX | (1ull << VIRTIO_F_RING_PACKED) |
			    (1ull << VIRTIO_F_NOTIFY_ON_EMPTY) | (1ull << 50),
	};
	struct echo_fixture *f = *state;
	struct echo_fixture *g;

	assert_int_equal(virtio_harness_device_features(&f->h), echo_ops.features | F_VERSION_1);
	virtio_harness_write32(&f->h, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	assert_int_equal(virtio_harness_read32(&f->h, VIRTIO_MMIO_DEVICE_FEATURES), 0);

	g = echo_fixture_make(NULL, &greedy);
	assert_int_equal(virtio_harness_device_features(&g->h), ECHO_F_MODEL_A | F_EVENT_IDX | F_VERSION_1 | (1ull << 50));
	*state = g;
	echo_teardown(state);
	*state = f;
}

static void test_features_negotiated(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;

	/* The driver takes a subset; activate() sees exactly it, and the ring bits reach the queue. */
	virtio_harness_start(h, ECHO_F_MODEL_B | F_EVENT_IDX, 1, 16);
	assert_int_equal(f->echo.activations, 1);
	assert_int_equal(f->echo.activated_features, ECHO_F_MODEL_B | F_EVENT_IDX | F_VERSION_1);
	assert_true(h->t.vdev.queues[0].event_idx);
	assert_false(h->t.vdev.queues[0].indirect);

	/* Renegotiating after reset without EVENT_IDX. */
	virtio_harness_start(h, F_INDIRECT, 1, 16);
	assert_int_equal(f->echo.activated_features, F_INDIRECT | F_VERSION_1);
	assert_false(h->t.vdev.queues[0].event_idx);
	assert_true(h->t.vdev.queues[0].indirect);
}

static void test_features_refused(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;

	/* A bit that was not offered. */
	virtio_harness_reset(h);
	virtio_harness_add_status(h, S_ACK | S_DRIVER);
	virtio_harness_write_features(h, F_VERSION_1 | (1ull << 7));
	assert_int_equal(virtio_harness_add_status(h, S_FEATURES_OK), S_ACK | S_DRIVER);
	/* Without FEATURES_OK, DRIVER_OK does not stick and the device never starts. */
	assert_int_equal(virtio_harness_add_status(h, S_DRIVER_OK), S_ACK | S_DRIVER);
	assert_int_equal(f->echo.activations, 0);

	/* A legacy driver (no VERSION_1). */
	virtio_harness_reset(h);
	virtio_harness_add_status(h, S_ACK | S_DRIVER);
	virtio_harness_write_features(h, ECHO_F_MODEL_A);
	assert_int_equal(virtio_harness_add_status(h, S_FEATURES_OK), S_ACK | S_DRIVER);

	/* A high-half bit that was not offered (the selector matters). */
	virtio_harness_reset(h);
	virtio_harness_add_status(h, S_ACK | S_DRIVER);
	virtio_harness_write_features(h, F_VERSION_1 | (1ull << 63));
	assert_int_equal(virtio_harness_add_status(h, S_FEATURES_OK), S_ACK | S_DRIVER);

	/* The driver corrects itself: accepted. */
	virtio_harness_write_features(h, F_VERSION_1 | ECHO_F_MODEL_A);
	assert_int_equal(virtio_harness_add_status(h, S_FEATURES_OK), S_ACK | S_DRIVER | S_FEATURES_OK);

	/* After FEATURES_OK the set is frozen. */
	virtio_harness_write_features(h, F_VERSION_1 | ECHO_F_MODEL_B);
	virtio_harness_write32(h, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 5);
	virtio_harness_write32(h, VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffffu);
	assert_true(virtio_harness_setup_queue(h, 0, 8));
	assert_int_equal(virtio_harness_driver_ok(h), S_RUNNING);
	assert_int_equal(f->echo.activated_features, F_VERSION_1 | ECHO_F_MODEL_A);
}

/* ---- status machine -------------------------------------------------------- */

static void test_status_machine(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;

	/* Out of order: DRIVER without ACKNOWLEDGE, FEATURES_OK without DRIVER. */
	assert_int_equal(virtio_harness_add_status(h, S_DRIVER), 0);
	assert_int_equal(virtio_harness_add_status(h, S_ACK | S_FEATURES_OK), S_ACK);
	/* All steps in one write are taken in order. */
	virtio_harness_write_features(h, F_VERSION_1);
	assert_int_equal(virtio_harness_add_status(h, S_DRIVER | S_FEATURES_OK), S_ACK | S_DRIVER | S_FEATURES_OK);

	/* Clearing bits without a reset is ignored (the whole write). */
	virtio_harness_write32(h, VIRTIO_MMIO_STATUS, S_ACK | S_DRIVER_OK);
	assert_int_equal(virtio_harness_status(h), S_ACK | S_DRIVER | S_FEATURES_OK);
	assert_int_equal(f->echo.activations, 0);

	/* The driver cannot set NEEDS_RESET; other unknown bits are dropped too. */
	assert_int_equal(virtio_harness_add_status(h, VIRTIO_CONFIG_S_NEEDS_RESET | 0x100 | 0x10),
			 S_ACK | S_DRIVER | S_FEATURES_OK);

	assert_int_equal(virtio_harness_driver_ok(h), S_RUNNING);
	assert_int_equal(f->echo.activations, 1);
	assert_true(virtio_device_running(&h->t.vdev));
	/* DRIVER_OK again: no second activation. */
	assert_int_equal(virtio_harness_driver_ok(h), S_RUNNING);
	assert_int_equal(f->echo.activations, 1);

	/* FAILED is honoured: latched, and the device stops. */
	assert_int_equal(virtio_harness_add_status(h, VIRTIO_CONFIG_S_FAILED), S_RUNNING | VIRTIO_CONFIG_S_FAILED);
	assert_false(virtio_device_running(&h->t.vdev));

	virtio_harness_reset(h);
	assert_int_equal(virtio_harness_status(h), 0);
	assert_int_equal(f->echo.resets, 1);
	assert_false(virtio_device_running(&h->t.vdev));
}

/* ---- queue setup ------------------------------------------------------------ */

static void test_queue_setup_validation(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;
	uint64_t base = virtio_harness_queue_base(0);

	/* Before FEATURES_OK the ring layout is not known: refused. */
	virtio_harness_reset(h);
	virtio_harness_add_status(h, S_ACK | S_DRIVER);
	assert_false(virtio_harness_setup_queue(h, 0, 16));

	virtio_harness_negotiate(h, 0);
	assert_false(virtio_harness_setup_queue_raw(h, 0, 0, base, base + 0x1000, base + 0x2000));
	assert_false(virtio_harness_setup_queue_raw(h, 0, ECHO_QUEUE_MAX * 2, base, base + 0x1000, base + 0x2000));
	assert_false(virtio_harness_setup_queue_raw(h, 0, 12, base, base + 0x1000, base + 0x2000));
	/* 0x10010 would be 16 if truncated to the 16-bit register it feeds. */
	assert_false(virtio_harness_setup_queue_raw(h, 0, 0x10010, base, base + 0x1000, base + 0x2000));
	/* Rings outside RAM, wrapping, or misaligned. */
	assert_false(virtio_harness_setup_queue_raw(h, 0, 16, VIRTIO_HARNESS_RAM, base + 0x1000, base + 0x2000));
	assert_false(virtio_harness_setup_queue_raw(h, 0, 16, base, 1ull << 40, base + 0x2000));
	assert_false(virtio_harness_setup_queue_raw(h, 0, 16, base, base + 0x1000, VIRTIO_HARNESS_RAM - 8));
	assert_false(virtio_harness_setup_queue_raw(h, 0, 16, base, base + 0x1000, UINT64_MAX - 3));
	assert_false(virtio_harness_setup_queue_raw(h, 0, 16, base + 8, base + 0x1000, base + 0x2000));
	assert_false(h->t.vdev.queues[0].enabled);

	/* A nonexistent queue: nothing to set up, nothing reads back. */
	assert_false(virtio_harness_setup_queue_raw(h, ECHO_QUEUES, 16, base, base + 0x1000, base + 0x2000));
	assert_false(virtio_harness_setup_queue_raw(h, 0x80000000u, 16, base, base + 0x1000, base + 0x2000));

	/* A good one, then its registers are locked while ready. */
	assert_true(virtio_harness_setup_queue(h, 0, 16));
	assert_true(h->t.vdev.queues[0].enabled);
	assert_int_equal(h->t.vdev.queues[0].size, 16);
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_SEL, 0);
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_NUM, 32);
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1234);
	assert_int_equal(h->t.vdev.qregs[0].num, 16);
	assert_int_equal(h->t.vdev.qregs[0].desc, base);

	/* QueueReady = 0 takes the queue down (Linux's vm_del_vq checks it reads back 0). */
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(virtio_harness_read32(h, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_false(h->t.vdev.queues[0].enabled);
	/* ... and unlocks the registers. */
	virtio_harness_write32(h, VIRTIO_MMIO_QUEUE_NUM, 32);
	assert_int_equal(h->t.vdev.qregs[0].num, 32);
}

/* ---- odd accesses ------------------------------------------------------------------- */

static void test_non_word_register_access(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;
	uint64_t v;
	uint8_t b;
	uint16_t w;

	v = ~0ull;
	virtio_harness_access(h, VIRTIO_MMIO_MAGIC_VALUE, &v, 8, false);
	assert_int_equal(v, 0);
	b = 0xff;
	virtio_harness_access(h, VIRTIO_MMIO_MAGIC_VALUE, &b, 1, false);
	assert_int_equal(b, 0);
	w = 0xffff;
	virtio_harness_access(h, VIRTIO_MMIO_VERSION, &w, 2, false);
	assert_int_equal(w, 0);
	/* Unaligned word. */
	v = ~0ull;
	virtio_harness_access(h, VIRTIO_MMIO_MAGIC_VALUE + 1, &v, 4, false);
	assert_int_equal(v & 0xffffffff, 0);

	/* Writes of the wrong size change nothing. */
	b = S_ACK;
	virtio_harness_access(h, VIRTIO_MMIO_STATUS, &b, 1, true);
	v = 5;
	virtio_harness_access(h, VIRTIO_MMIO_QUEUE_SEL, &v, 8, true);
	assert_int_equal(virtio_harness_status(h), 0);
	assert_int_equal(h->t.vdev.queue_sel, 0);
	/* Read-only registers ignore writes. */
	virtio_harness_write32(h, VIRTIO_MMIO_MAGIC_VALUE, 0);
	virtio_harness_write32(h, VIRTIO_MMIO_INTERRUPT_STATUS, 3);
	assert_int_equal(virtio_harness_read32(h, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	/* Reserved space below the config reads 0. */
	assert_int_equal(virtio_harness_read32(h, 0xf0), 0);
}

static void test_config_space(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;
	uint8_t odd[3] = { 0xff, 0xff, 0xff };

	assert_int_equal(virtio_harness_config_read(h, 0, 1), 0xa0);
	assert_int_equal(virtio_harness_config_read(h, 2, 2), 0xa3a2);
	assert_int_equal(virtio_harness_config_read(h, 8, 4), 0xabaaa9a8);
	assert_int_equal(virtio_harness_config_read(h, 4, 8), 0xabaaa9a8a7a6a5a4ull);
	assert_int_equal(f->echo.config_reads, 4);

	/* Past the end, or straddling it: 0, and the model is not asked. */
	assert_int_equal(virtio_harness_config_read(h, ECHO_CONFIG_SIZE, 1), 0);
	assert_int_equal(virtio_harness_config_read(h, ECHO_CONFIG_SIZE - 2, 4), 0);
	assert_int_equal(virtio_harness_config_read(h, ECHO_CONFIG_SIZE - 4, 8), 0);
	assert_int_equal(virtio_harness_config_read(h, 0xefc, 4), 0);
	virtio_harness_access(h, VIRTIO_MMIO_CONFIG, odd, 3, false);
	assert_int_equal(odd[0] | odd[1] | odd[2], 0);
	assert_int_equal(f->echo.config_reads, 4);

	virtio_harness_config_write(h, 1, 0x5511, 2);
	assert_int_equal(f->echo.config[1], 0x11);
	assert_int_equal(f->echo.config[2], 0x55);
	virtio_harness_config_write(h, ECHO_CONFIG_SIZE - 1, 0xffff, 2);
	virtio_harness_config_write(h, 0x800, 0xffffffff, 4);
	assert_int_equal(f->echo.config_writes, 1);
	assert_int_equal(f->echo.config[ECHO_CONFIG_SIZE - 1], 0xab);
}

static void test_config_without_handlers(void **state)
{
	static const struct virtio_device_ops bare = {
		.name = "bare", .device_id = 4, .num_queues = 1, .queue_max_size = 8, .config_size = 8,
	};
	struct echo_fixture *f = echo_fixture_make(NULL, &bare);

	(void)state;
	/* No config_read: zeros; no config_write: ignored; no activate/reset/notify: still runs. */
	assert_int_equal(virtio_harness_config_read(&f->h, 0, 4), 0);
	virtio_harness_config_write(&f->h, 0, 1, 4);
	virtio_harness_start(&f->h, 0, 1, 8);
	virtio_harness_kick(&f->h, 0);
	assert_int_equal(f->h.t.notifies, 1);
	virtio_harness_reset(&f->h);
	*state = f;
	echo_teardown(state);
}

static void test_config_generation(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;
	uint32_t gen = virtio_harness_config_generation(h);

	virtio_harness_start(h, 0, 1, 16);
	f->echo.config[0] = 0x42;
	virtio_config_changed(&h->t.vdev);
	assert_int_equal(virtio_harness_config_generation(h), gen + 1);
	assert_int_equal(virtio_harness_config_read(h, 0, 1), 0x42);
	assert_int_equal(virtio_harness_interrupt_status(h), VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(virtio_harness_take_interrupts(h), 1);
	virtio_config_changed(&h->t.vdev);
	assert_int_equal(virtio_harness_config_generation(h), gen + 2);
	/* Reading does not bump it; a reset does not take it back. */
	assert_int_equal(virtio_harness_config_generation(h), gen + 2);
	virtio_harness_reset(h);
	assert_int_equal(virtio_harness_config_generation(h), gen + 2);
	assert_int_equal(virtio_harness_interrupt_status(h), 0);
}

/* ---- init and destroy -------------------------------------------------------------- */

static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void expect_init_fails(struct virtio_harness *h, const struct virtio_device_ops *ops, uint64_t base)
{
	struct virtio_transport t;
	struct vmon_error err = { 0 };

	int r = virtio_mmio_init(&t, &h->host, &h->loop, base, 6, ops, NULL, &err);

	assert_true(r < 0);
	assert_int_equal(err.code, r);
	assert_true(strlen(err.msg) > 0);
	assert_false(t.vdev.lock_ready);
	virtio_mmio_destroy(&t);     /* after a failed init: nothing to undo */
}

static void test_init_validation(void **state)
{
	struct echo_fixture *f = *state;
	struct virtio_harness *h = &f->h;
	struct virtio_device_ops ops = echo_ops;
	struct virtio_transport zeroed;
	unsigned fds;

	ops.num_queues = 0;
	expect_init_fails(h, &ops, 0xd0001000);
	ops.num_queues = VIRTIO_MMIO_MAX_QUEUES + 1;
	expect_init_fails(h, &ops, 0xd0001000);
	ops = echo_ops;
	ops.queue_max_size = 48;
	expect_init_fails(h, &ops, 0xd0001000);
	ops.queue_max_size = 0;
	expect_init_fails(h, &ops, 0xd0001000);
	ops = echo_ops;
	ops.config_size = 0xf01;
	expect_init_fails(h, &ops, 0xd0001000);
	/* Overlapping window: fails late, and undoes the eventfds it had set up. */
	fds = open_fds();
	expect_init_fails(h, &echo_ops, VIRTIO_HARNESS_BASE);
	assert_int_equal(open_fds(), fds);
	virtio_harness_kick(h, 0);                          /* the loop holds no stale watch */

	memset(&zeroed, 0, sizeof(zeroed));
	virtio_mmio_destroy(&zeroed);                       /* never initialised: harmless */

	/* Destroy twice. */
	virtio_mmio_destroy(&h->t);
	virtio_mmio_destroy(&h->t);
	assert_null(h->loop.sources);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identification, echo_setup, echo_teardown),
		cmocka_unit_test_setup_teardown(test_features_offered, echo_setup, echo_teardown),
		cmocka_unit_test_setup_teardown(test_features_negotiated, echo_setup, echo_teardown),
		cmocka_unit_test_setup_teardown(test_features_refused, echo_setup, echo_teardown),
		cmocka_unit_test_setup_teardown(test_status_machine, echo_setup, echo_teardown),
		cmocka_unit_test_setup_teardown(test_queue_setup_validation, echo_setup, echo_teardown),
		cmocka_unit_test_setup_teardown(test_non_word_register_access, echo_setup, echo_teardown),
		cmocka_unit_test_setup_teardown(test_config_space, echo_setup, echo_teardown),
		cmocka_unit_test(test_config_without_handlers),
		cmocka_unit_test_setup_teardown(test_config_generation, echo_setup, echo_teardown),
		cmocka_unit_test_setup_teardown(test_init_validation, echo_setup, echo_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
