/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk's rate limiter through the real virtio-mmio transport and the
 * harness's event loop: a throttled queue waits for its timer (one wake-up
 * per refill, no polling), serves every request in order, and follows live
 * updates, resets and pauses. The bucket arithmetic is test_token_bucket's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "virtio/blk.h"
#include "virtio_harness.h"

#define SECTOR 512u
#define IMAGE_SECTORS 64u
#define MAX_RQ 8u

struct fixture {
	char path[64];
	struct virtio_blk *blk;
	struct virtio_harness h;
	bool harness_up;
	uint16_t head[MAX_RQ];
	uint64_t status_gpa[MAX_RQ], data_gpa[MAX_RQ];
	unsigned submitted, used;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint8_t sector[SECTOR];
	int fd;

	assert_non_null(f);
	strcpy(f->path, "/dev/shm/vmon-blk-throttle-XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	for (unsigned s = 0; s < IMAGE_SECTORS; s++) {     /* sector s holds the byte s + 1 */
		memset(sector, (int)(s + 1), SECTOR);
		assert_int_equal(pwrite(fd, sector, SECTOR, (off_t)s * SECTOR), SECTOR);
	}
	close(fd);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->harness_up)
		virtio_harness_destroy(&f->h);
	virtio_blk_destroy(f->blk);
	unlink(f->path);
	free(f);
	return 0;
}

static void start(struct fixture *f, const struct rate_limiter_config *limits)
{
	struct drive_config cfg = { .path = f->path, .rate_limiter = *limits };
	struct vmon_error err = { 0 };

	if (virtio_blk_create(&f->blk, &f->h.t.vdev, &cfg, 0, &err))
		fail_msg("virtio_blk_create: %s", err.msg);
	virtio_harness_init(&f->h, NULL, virtio_blk_device_ops(f->blk), f->blk);
	f->harness_up = true;
	if (virtio_blk_attach_loop(f->blk, &f->h.loop, &err))
		fail_msg("virtio_blk_attach_loop: %s", err.msg);
	virtio_harness_start(&f->h, ~0ull, 1, 64);
}

/* Queues a read of `sectors` sectors at `sector` without kicking. */
static void add_read(struct fixture *f, uint64_t sector, uint32_t sectors)
{
	struct virtq_driver *drv = &f->h.drv[0];
	struct virtio_blk_outhdr hdr = { .type = htole32(VIRTIO_BLK_T_IN), .sector = htole64(sector) };
	unsigned i = f->submitted++;

	assert_true(i < MAX_RQ);
	struct virtq_driver_buf b[3] = { virtq_driver_buf_out(drv, &hdr, sizeof(hdr)),
					 virtq_driver_buf_in(drv, sectors * SECTOR), virtq_driver_buf_in(drv, 1) };
	f->data_gpa[i] = b[1].gpa;
	f->status_gpa[i] = b[2].gpa;
	*(uint8_t *)virtq_driver_host(drv, b[2].gpa, 1) = 0xee;
	f->head[i] = virtq_driver_add(drv, b, 3);
}

/* Takes what the device used since the last call; each must be the next request in order, served OK. */
static unsigned take_used(struct fixture *f)
{
	unsigned got = 0;
	uint32_t id, len;

	while (virtq_driver_get_used(&f->h.drv[0], &id, &len)) {
		unsigned i = f->used++;
		assert_true(i < f->submitted);
		assert_int_equal(id, f->head[i]);
		assert_int_equal(*(uint8_t *)virtq_driver_host(&f->h.drv[0], f->status_gpa[i], 1), VIRTIO_BLK_S_OK);
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

static uint64_t throttled_events(struct fixture *f)
{
	struct virtio_blk_stats st;

	virtio_blk_get_stats(f->blk, &st);
	return st.rate_limiter_throttled_events;
}

/* 2 ops per 100 ms: two requests at once, then one per 50 ms timer wake-up, in order. */
static void test_ops_limit_is_resumed_by_the_timer(void **state)
{
	const struct rate_limiter_config limits = { .ops = { .size = 2, .refill_time_ms = 100 } };
	struct fixture *f = *state;

	start(f, &limits);
	for (unsigned i = 0; i < 5; i++)
		add_read(f, i, 1);
	uint64_t t0 = now_ms();
	virtio_harness_kick(&f->h, 0);
	assert_int_equal(take_used(f), 2);
	assert_int_equal(throttled_events(f), 1);
	/* A kick while throttled changes nothing: the timer decides. */
	virtio_harness_kick(&f->h, 0);
	assert_int_equal(take_used(f), 0);
	for (unsigned wakeups = 1; wakeups <= 3; wakeups++) {
		assert_int_equal(event_loop_run_once(&f->h.loop, 2000), 1);   /* the timer, once */
		assert_int_equal(take_used(f), 1);
		assert_true(now_ms() - t0 >= 50 * wakeups - 2);
	}
	assert_int_equal(throttled_events(f), 3);
	assert_int_equal(event_loop_run_once(&f->h.loop, 200), 0);       /* nothing left armed */
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(*(uint8_t *)virtq_driver_host(&f->h.drv[0], f->data_gpa[i], SECTOR), i + 1);
}

/*
 * A driver that takes a while between a completion and its next request (as
 * dd does): the refill runs meanwhile, so the pace stays one request per
 * refill period as long as the driver is faster than the limit.
 */
static void test_a_slow_driver_keeps_the_pace(void **state)
{
	const struct rate_limiter_config limits = { .ops = { .size = 1, .refill_time_ms = 50 } };
	const struct timespec think = { 0, 20 * 1000000 };
	struct fixture *f = *state;

	start(f, &limits);
	uint64_t t0 = now_ms();
	for (unsigned i = 0; i < 8; i++) {
		f->submitted = f->used = 0;   /* reuse the bookkeeping: one request at a time */
		add_read(f, i, 1);
		virtio_harness_kick(&f->h, 0);
		while (!take_used(f))
			assert_int_equal(event_loop_run_once(&f->h.loop, 2000), 1);
		nanosleep(&think, NULL);
	}
	/* The first goes at once, 7 more at 50 ms each; the last think time adds 20 ms. */
	uint64_t took = now_ms() - t0;
	print_message("8 requests at 20 per second, 20 ms between a completion and the next: %llu ms\n",
		      (unsigned long long)took);
	assert_true(took >= 365 && took <= 450);
}

/* 4 KiB per 100 ms and an 8 KiB read: it goes through at once, and the next one waits out the debt. */
static void test_a_request_bigger_than_the_bucket_is_served(void **state)
{
	const struct rate_limiter_config limits = { .bandwidth = { .size = 4096, .refill_time_ms = 100 } };
	struct fixture *f = *state;

	start(f, &limits);
	add_read(f, 0, 16);
	add_read(f, 16, 1);
	uint64_t t0 = now_ms();
	virtio_harness_kick(&f->h, 0);
	assert_int_equal(take_used(f), 1);
	/* -4096 tokens; the 512-byte read needs 512: 4608 bytes at 40.96 per ms, 112.5 ms. */
	assert_int_equal(event_loop_run_once(&f->h.loop, 2000), 1);
	assert_int_equal(take_used(f), 1);
	assert_true(now_ms() - t0 >= 110);
}

/* A PATCH that lifts the limit lets the waiting request go at once. */
static void test_a_live_update_releases_the_queue(void **state)
{
	const struct rate_limiter_config slow = { .ops = { .size = 1, .refill_time_ms = 60000 } }, none = { 0 };
	struct fixture *f = *state;
	struct vmon_error err = { 0 };

	start(f, &slow);
	add_read(f, 0, 1);
	add_read(f, 1, 1);
	virtio_harness_kick(&f->h, 0);
	assert_int_equal(take_used(f), 1);
	uint64_t t0 = now_ms();
	assert_int_equal(virtio_blk_set_rate_limiter(f->blk, &none, &err), 0);
	assert_int_equal(event_loop_run_once(&f->h.loop, 2000), 1);
	assert_int_equal(take_used(f), 1);
	assert_true(now_ms() - t0 < 1000);
	/* And a limit set live takes hold. */
	assert_int_equal(virtio_blk_set_rate_limiter(f->blk, &slow, &err), 0);
	add_read(f, 2, 1);
	add_read(f, 3, 1);
	virtio_harness_kick(&f->h, 0);
	assert_int_equal(take_used(f), 1);
}

/* A reset drops the timer with the queue; a pause holds the queue past the timer until resume. */
static void test_reset_and_pause_while_throttled(void **state)
{
	const struct rate_limiter_config limits = { .ops = { .size = 1, .refill_time_ms = 200 } };
	struct fixture *f = *state;
	struct vmon_error err = { 0 };

	start(f, &limits);
	add_read(f, 0, 1);
	add_read(f, 1, 1);
	virtio_harness_kick(&f->h, 0);
	assert_int_equal(take_used(f), 1);
	assert_true(f->blk->throttle.throttled);
	virtio_harness_reset(&f->h);
	assert_false(f->blk->throttle.throttled);
	assert_int_equal(event_loop_run_once(&f->h.loop, 400), 0);       /* disarmed */

	virtio_harness_start(&f->h, ~0ull, 1, 64);
	f->submitted = f->used = 0;
	assert_int_equal(virtio_blk_set_rate_limiter(f->blk, &limits, &err), 0);   /* a full bucket again */
	add_read(f, 0, 1);
	add_read(f, 1, 1);
	virtio_harness_kick(&f->h, 0);
	assert_int_equal(take_used(f), 1);
	virtio_dev_pause(&f->h.t.vdev);
	assert_int_equal(event_loop_run_once(&f->h.loop, 2000), 1);      /* the timer fires... */
	assert_int_equal(take_used(f), 0);                                /* ...and paused, nothing moves */
	virtio_dev_resume(&f->h.t.vdev);
	virtio_harness_run_loop(&f->h);
	assert_int_equal(take_used(f), 1);
}

static void test_bad_limits_are_refused(void **state)
{
	const struct rate_limiter_config too_big = { .ops = { .size = TOKEN_BUCKET_MAX_TOKENS + 1, .refill_time_ms = 1 } };
	const struct rate_limiter_config limits = { .ops = { .size = 1, .refill_time_ms = 10 } };
	struct fixture *f = *state;
	struct drive_config cfg = { .path = f->path, .rate_limiter = too_big };
	struct vmon_error err = { 0 };
	struct virtio_blk *blk;

	assert_int_equal(virtio_blk_create(&blk, &f->h.t.vdev, &cfg, 0, &err), -EINVAL);
	assert_string_equal(err.msg, "rate_limiter.ops: size exceeds 2^62");
	assert_null(blk);
	cfg.rate_limiter = (struct rate_limiter_config){ 0 };
	assert_int_equal(virtio_blk_create(&blk, &f->h.t.vdev, &cfg, 0, &err), 0);
	/* No loop to resume a throttled queue: a limit is refused, none is fine. */
	assert_int_equal(virtio_blk_set_rate_limiter(blk, &limits, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "no I/O loop"));
	assert_int_equal(virtio_blk_set_rate_limiter(blk, &cfg.rate_limiter, &err), 0);
	virtio_blk_destroy(blk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ops_limit_is_resumed_by_the_timer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_slow_driver_keeps_the_pace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_request_bigger_than_the_bucket_is_served, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_live_update_releases_the_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_and_pause_while_throttled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_limits_are_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
