/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng's rate limiter through the real virtio-mmio transport and the
 * harness's event loop: a throttled queue waits for its timer (one wake-up
 * per refill, no polling), fills every buffer in order, and survives resets
 * and pauses. The bucket arithmetic is test_token_bucket's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "virtio/rng.h"
#include "virtio_harness.h"

#define MAX_RQ 8u

struct fixture {
	struct virtio_rng *rng;
	struct virtio_harness h;
	bool harness_up;
	uint16_t head[MAX_RQ];
	uint32_t len[MAX_RQ];
	unsigned submitted, used;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->harness_up)
		virtio_harness_destroy(&f->h);
	virtio_rng_destroy(f->rng);
	free(f);
	return 0;
}

static void start(struct fixture *f, const struct rate_limiter_config *limits)
{
	struct vmon_error err = { 0 };

	if (virtio_rng_create(&f->rng, &f->h.t.vdev, limits, &err))
		fail_msg("virtio_rng_create: %s", err.msg);
	virtio_harness_init(&f->h, NULL, &virtio_rng_ops, f->rng);
	f->harness_up = true;
	if (virtio_rng_attach_loop(f->rng, &f->h.loop, &err))
		fail_msg("virtio_rng_attach_loop: %s", err.msg);
	virtio_harness_start(&f->h, ~0ull, 1, 16);
}

/* Queues one writable buffer of len bytes without kicking. */
static void add_buffer(struct fixture *f, uint32_t len)
{
	struct virtq_driver *drv = &f->h.drv[0];
	struct virtq_driver_buf b = virtq_driver_buf_in(drv, len);
	unsigned i = f->submitted++;

	assert_true(i < MAX_RQ);
	f->len[i] = len;
	f->head[i] = virtq_driver_add(drv, &b, 1);
}

/* Takes what the device used since the last call; each must be the next buffer in order, filled whole. */
static unsigned take_used(struct fixture *f)
{
	unsigned got = 0;
	uint32_t id, len;

	while (virtq_driver_get_used(&f->h.drv[0], &id, &len)) {
		unsigned i = f->used++;
		assert_true(i < f->submitted);
		assert_int_equal(id, f->head[i]);
		assert_int_equal(len, f->len[i] < VIRTIO_RNG_MAX_REQUEST ? f->len[i] : VIRTIO_RNG_MAX_REQUEST);
		got++;
	}
	return got;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct virtio_rng_stats stats(struct fixture *f)
{
	struct virtio_rng_stats st;

	virtio_rng_get_stats(f->rng, &st);
	return st;
}

/* 2 ops per 100 ms: two buffers at once, then one per 50 ms timer wake-up, in order. */
static void test_ops_limit_is_resumed_by_the_timer(void **state)
{
	const struct rate_limiter_config limits = { .ops = { .size = 2, .refill_time_ms = 100 } };
	struct fixture *f = *state;

	start(f, &limits);
	for (unsigned i = 0; i < 5; i++)
		add_buffer(f, 64);
	uint64_t t0 = now_ms();
	virtio_harness_kick(&f->h, 0);
	assert_int_equal(take_used(f), 2);
	assert_int_equal(stats(f).rate_limiter_throttled_events, 1);
	/* A kick while throttled changes nothing: the timer decides. */
	virtio_harness_kick(&f->h, 0);
	assert_int_equal(take_used(f), 0);
	for (unsigned wakeups = 1; wakeups <= 3; wakeups++) {
		assert_int_equal(event_loop_run_once(&f->h.loop, 2000), 1);   /* the timer, once */
		assert_int_equal(take_used(f), 1);
		assert_true(now_ms() - t0 >= 50 * wakeups - 2);
	}
	assert_int_equal(stats(f).rate_limiter_throttled_events, 3);
	assert_int_equal(stats(f).requests, 5);
	assert_int_equal(stats(f).bytes, 5 * 64);
	assert_int_equal(event_loop_run_once(&f->h.loop, 200), 0);       /* nothing left armed */
}

/* 1 KiB per 100 ms: a 1 KiB buffer empties the bucket, the next 512 bytes wait 50 ms for theirs. */
static void test_bytes_limit(void **state)
{
	const struct rate_limiter_config limits = { .bandwidth = { .size = 1024, .refill_time_ms = 100 } };
	struct fixture *f = *state;

	start(f, &limits);
	add_buffer(f, 1024);
	add_buffer(f, 512);
	uint64_t t0 = now_ms();
	virtio_harness_kick(&f->h, 0);
	assert_int_equal(take_used(f), 1);
	assert_int_equal(stats(f).bytes, 1024);
	assert_int_equal(event_loop_run_once(&f->h.loop, 2000), 1);
	assert_int_equal(take_used(f), 1);
	assert_true(now_ms() - t0 >= 48);
	assert_int_equal(stats(f).bytes, 1536);
	assert_int_equal(stats(f).rate_limiter_throttled_events, 1);
}

/*
 * The cost is what the device fills: a 1 MiB buffer is charged 64 KiB
 * (VIRTIO_RNG_MAX_REQUEST), more than the 4 KiB bucket. It goes at once as a
 * debt; the next 4 KiB wait for 60 KiB + 4 KiB of refill: 64 * 100 / 4 ms.
 */
static void test_a_request_bigger_than_the_bucket_is_served(void **state)
{
	const struct rate_limiter_config limits = { .bandwidth = { .size = 4096, .refill_time_ms = 10 } };
	struct fixture *f = *state;

	start(f, &limits);
	add_buffer(f, 1u << 20);
	add_buffer(f, 4096);
	uint64_t t0 = now_ms();
	virtio_harness_kick(&f->h, 0);
	assert_int_equal(take_used(f), 1);
	assert_int_equal(stats(f).bytes, VIRTIO_RNG_MAX_REQUEST);
	/* -61440 tokens; 4096 more needed: 65536 bytes at 409.6 per ms, 160 ms. */
	assert_int_equal(event_loop_run_once(&f->h.loop, 2000), 1);
	assert_int_equal(take_used(f), 1);
	assert_true(now_ms() - t0 >= 158);
}

/* A reset drops the timer with the queue; a pause holds the queue past the timer until resume. */
static void test_reset_and_pause_while_throttled(void **state)
{
	const struct rate_limiter_config limits = { .ops = { .size = 1, .refill_time_ms = 200 } };
	struct fixture *f = *state;

	start(f, &limits);
	add_buffer(f, 16);
	add_buffer(f, 16);
	virtio_harness_kick(&f->h, 0);
	assert_int_equal(take_used(f), 1);
	assert_true(f->rng->throttle.throttled);
	virtio_harness_reset(&f->h);
	assert_false(f->rng->throttle.throttled);
	assert_int_equal(event_loop_run_once(&f->h.loop, 400), 0);       /* disarmed: no timer into a dead queue */

	virtio_harness_start(&f->h, ~0ull, 1, 16);
	f->submitted = f->used = 0;
	add_buffer(f, 16);
	add_buffer(f, 16);
	virtio_harness_kick(&f->h, 0);
	assert_int_equal(take_used(f), 1);                                /* the bucket refilled during the wait */
	assert_true(f->rng->throttle.throttled);
	virtio_dev_pause(&f->h.t.vdev);
	assert_int_equal(event_loop_run_once(&f->h.loop, 2000), 1);      /* the timer fires... */
	assert_int_equal(take_used(f), 0);                                /* ...and paused, nothing moves */
	assert_false(f->rng->throttle.throttled);
	virtio_dev_resume(&f->h.t.vdev);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(take_used(f), 1);
}

/* The limiter is host state: a save taken while throttled restores into a device that serves the ring. */
static void test_a_throttled_device_saves_and_restores(void **state)
{
	const struct rate_limiter_config limits = { .ops = { .size = 1, .refill_time_ms = 100 } };
	struct fixture *f = *state;
	uint8_t saved[sizeof(struct virtio_rng_state)];
	struct vmon_error err = { 0 };

	start(f, &limits);
	add_buffer(f, 32);
	add_buffer(f, 32);
	virtio_harness_kick(&f->h, 0);
	assert_int_equal(take_used(f), 1);
	virtio_rng_registry_ops.pause(&f->h.t.vdev);
	virtio_rng_registry_ops.save(&f->h.t.vdev, saved);
	virtio_rng_registry_ops.reset(&f->h.t.vdev);
	assert_false(f->rng->throttle.throttled);
	if (virtio_rng_registry_ops.restore(&f->h.t.vdev, saved, &err))
		fail_msg("restore: %s", err.msg);
	virtio_rng_registry_ops.resume(&f->h.t.vdev);
	/* The buffer the limiter held is still in the restored ring: served once the bucket allows. */
	for (int i = 0; i < 10 && !take_used(f); i++)
		event_loop_run_once(&f->h.loop, 300);
	assert_int_equal(f->used, 2);
}

static void test_bad_limits_are_refused(void **state)
{
	const struct rate_limiter_config too_big = { .ops = { .size = TOKEN_BUCKET_MAX_TOKENS + 1, .refill_time_ms = 1 } };
	const struct rate_limiter_config slow_refill = {
		.bandwidth = { .size = 1, .refill_time_ms = TOKEN_BUCKET_MAX_REFILL_MS + 1 } };
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	struct virtio_rng *rng = (struct virtio_rng *)1;

	assert_int_equal(virtio_rng_create(&rng, &f->h.t.vdev, &too_big, &err), -EINVAL);
	assert_string_equal(err.msg, "rate_limiter.ops: size exceeds 2^62");
	assert_null(rng);
	assert_int_equal(virtio_rng_create(&rng, &f->h.t.vdev, &slow_refill, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "rate_limiter.bandwidth: "));
	assert_null(rng);
}

/* Without a loop to resume with, the limiter is not applied (the request path's unit tests). */
static void test_unattached_device_is_not_limited(void **state)
{
	const struct rate_limiter_config limits = { .ops = { .size = 1, .refill_time_ms = 60000 } };
	struct fixture *f = *state;
	struct vmon_error err = { 0 };

	if (virtio_rng_create(&f->rng, &f->h.t.vdev, &limits, &err))
		fail_msg("virtio_rng_create: %s", err.msg);
	virtio_harness_init(&f->h, NULL, &virtio_rng_ops, f->rng);
	f->harness_up = true;
	virtio_harness_start(&f->h, ~0ull, 1, 16);
	for (unsigned i = 0; i < 3; i++)
		add_buffer(f, 8);
	virtio_harness_kick(&f->h, 0);
	assert_int_equal(take_used(f), 3);
	assert_int_equal(stats(f).rate_limiter_throttled_events, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ops_limit_is_resumed_by_the_timer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bytes_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_request_bigger_than_the_bucket_is_served, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_and_pause_while_throttled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_throttled_device_saves_and_restores, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_limits_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unattached_device_is_not_limited, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
