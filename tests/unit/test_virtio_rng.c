/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/rng.h"
#include "virtio_harness.h"

/* virtio-rng through the real virtio-mmio transport (tests/unit/virtio_harness.h). */

struct fixture {
	struct virtio_rng *rng;
	struct virtio_harness h;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vmon_error err = { 0 };

	assert_non_null(f);
	if (virtio_rng_create(&f->rng, &f->h.t.vdev, NULL, &err))
		fail_msg("virtio_rng_create: %s", err.msg);
	virtio_harness_init(&f->h, NULL, &virtio_rng_ops, f->rng);
	virtio_harness_start(&f->h, ~0ull, 1, 16);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_harness_destroy(&f->h);
	virtio_rng_destroy(f->rng);
	free(f);
	return 0;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static bool needs_reset(struct fixture *f)
{
	return virtio_harness_status(&f->h) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

/* One writable buffer of len bytes; returns its host view after the device used it (used length in *used). */
static uint8_t *fetch(struct fixture *f, uint32_t len, uint32_t *used)
{
	struct virtq_driver *drv = &f->h.drv[0];
	struct virtq_driver_buf b = virtq_driver_buf_in(drv, len);
	uint32_t id;

	virtq_driver_add(drv, &b, 1);
	virtio_harness_kick(&f->h, 0);
	assert_true(virtq_driver_get_used(drv, &id, used));
	/* As a driver with EVENT_IDX does: interrupt me for the next one. */
	virtq_driver_set_used_event(drv, drv->last_used_idx);
	return virtq_driver_host(drv, b.gpa, len);
}

static void test_identity(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(virtio_harness_read32(&f->h, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	assert_int_equal(virtio_harness_read32(&f->h, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_RNG_QUEUE_SIZE);
}

static void test_random_bytes(void **state)
{
	struct fixture *f = *state;
	uint32_t used1, used2;

	uint8_t *a = fetch(f, 64, &used1);
	assert_int_equal(virtio_harness_take_interrupts(&f->h), 1);
	virtio_harness_ack(&f->h, virtio_harness_interrupt_status(&f->h));
	uint8_t *b = fetch(f, 64, &used2);
	assert_int_equal(virtio_harness_take_interrupts(&f->h), 1);
	assert_int_equal(used1, 64);
	assert_int_equal(used2, 64);
	/* 2^-512 chance of a false failure for each. */
	assert_false(all_zero(a, 64));
	assert_memory_not_equal(a, b, 64);
	assert_int_equal(f->rng->requests, 2);
	assert_int_equal(f->rng->bytes, 128);
}

/* A buffer over several descriptors (an indirect table) is filled in all of them. */
static void test_split_buffer(void **state)
{
	struct fixture *f = *state;
	struct virtq_driver *drv = &f->h.drv[0];
	struct virtq_driver_buf b[3] = { virtq_driver_buf_in(drv, 40), virtq_driver_buf_in(drv, 1),
					 virtq_driver_buf_in(drv, 40) };
	uint32_t id, used;

	virtq_driver_add_indirect(drv, b, 3);
	virtio_harness_kick(&f->h, 0);
	assert_true(virtq_driver_get_used(drv, &id, &used));
	assert_int_equal(used, 81);
	assert_false(all_zero(virtq_driver_host(drv, b[0].gpa, 40), 40));
	assert_false(all_zero(virtq_driver_host(drv, b[2].gpa, 40), 40));
}

/* At most VIRTIO_RNG_MAX_REQUEST per buffer: the rest is left alone. */
static void test_request_cap(void **state)
{
	struct fixture *f = *state;
	uint32_t len = VIRTIO_RNG_MAX_REQUEST + 4096, used;

	uint8_t *p = fetch(f, len, &used);
	assert_int_equal(used, VIRTIO_RNG_MAX_REQUEST);
	assert_false(all_zero(p + VIRTIO_RNG_MAX_REQUEST - 64, 64));
	assert_true(all_zero(p + VIRTIO_RNG_MAX_REQUEST, 4096));
}

/* Several buffers, one kick: all filled, one interrupt. */
static void test_batch(void **state)
{
	struct fixture *f = *state;
	struct virtq_driver *drv = &f->h.drv[0];
	uint32_t id, used;

	for (unsigned i = 0; i < 5; i++) {
		struct virtq_driver_buf b = virtq_driver_buf_in(drv, 32);
		virtq_driver_add(drv, &b, 1);
	}
	virtio_harness_kick(&f->h, 0);
	for (unsigned i = 0; i < 5; i++) {
		assert_true(virtq_driver_get_used(drv, &id, &used));
		assert_int_equal(used, 32);
	}
	assert_int_equal(virtio_harness_take_interrupts(&f->h), 1);
}

static void test_readable_segment_is_a_driver_bug(void **state)
{
	struct fixture *f = *state;
	struct virtq_driver *drv = &f->h.drv[0];
	uint8_t secret[16];
	memset(secret, 0x11, sizeof(secret));
	struct virtq_driver_buf b[2] = { virtq_driver_buf_out(drv, secret, sizeof(secret)),
					 virtq_driver_buf_in(drv, 16) };
	uint32_t id, used;

	virtq_driver_add(drv, b, 2);
	virtio_harness_kick(&f->h, 0);
	assert_false(virtq_driver_get_used(drv, &id, &used));
	assert_true(needs_reset(f));
	assert_true(all_zero(virtq_driver_host(drv, b[1].gpa, 16), 16));
	assert_int_equal(f->rng->bytes, 0);

	/* Nothing served until the driver resets; then it works again. */
	struct virtq_driver_buf ok = virtq_driver_buf_in(drv, 8);
	virtq_driver_add(drv, &ok, 1);
	virtio_harness_kick(&f->h, 0);
	assert_false(virtq_driver_get_used(drv, &id, &used));
	virtio_harness_start(&f->h, ~0ull, 1, 16);
	fetch(f, 8, &used);
	assert_int_equal(used, 8);
}

static void test_no_writable_byte_is_a_driver_bug(void **state)
{
	struct fixture *f = *state;
	struct virtq_driver *drv = &f->h.drv[0];
	struct virtq_driver_buf empty = { .gpa = virtq_driver_alloc(drv, 16), .len = 0, .writable = true };
	uint32_t id, used;

	virtq_driver_add(drv, &empty, 1);
	virtio_harness_kick(&f->h, 0);
	assert_false(virtq_driver_get_used(drv, &id, &used));
	assert_true(needs_reset(f));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readable_segment_is_a_driver_bug, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_writable_byte_is_a_driver_bug, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
