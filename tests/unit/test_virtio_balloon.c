/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/balloon.h"
#include "virtio_harness.h"

/*
 * virtio-balloon through the real virtio-mmio transport, the test playing
 * Linux's driver (tests/unit/virtio_harness.h): frame lists, statistics,
 * reported ranges, written into a fake guest's rings.
 */

#define F(bit) (1ull << (bit))
#define PATTERN_GPA 0x40000ull             /* pages the tests fill and give back (below the queue area) */

struct fixture {
	struct virtio_balloon *b;
	struct virtio_harness h;
};

static struct fixture *fixture_new(const struct balloon_config *cfg)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vmon_error err = { 0 };

	assert_non_null(f);
	if (virtio_balloon_create(&f->b, &f->h.t.vdev, NULL, cfg, &err))
		fail_msg("virtio_balloon_create: %s", err.msg);
	virtio_harness_init(&f->h, NULL, virtio_balloon_device_ops(f->b), f->b);
	return f;
}

static void fixture_free(struct fixture *f)
{
	virtio_harness_destroy(&f->h);
	virtio_balloon_destroy(f->b);
	free(f);
}

static const struct balloon_config all_on = {
	.enabled = true, .amount_mib = 16, .deflate_on_oom = true, .stats_interval_s = 1, .free_page_reporting = true,
};

static bool needs_reset(struct fixture *f)
{
	return virtio_harness_status(&f->h) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

static uint8_t *ram(struct fixture *f, uint64_t gpa, uint64_t len)
{
	uint8_t *p = guest_mem_ptr(&f->h.mem, gpa, len);

	assert_non_null(p);
	return p;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* Sends frame numbers on queue q, waits for the buffer back. */
static void send_frames(struct fixture *f, unsigned q, const uint32_t *pfns, unsigned n)
{
	struct virtq_driver *drv = &f->h.drv[q];
	struct virtq_driver_buf buf = virtq_driver_buf_out(drv, pfns, n * 4);
	uint32_t id, len;

	virtq_driver_add(drv, &buf, 1);
	virtio_harness_kick(&f->h, q);
	assert_true(virtq_driver_get_used(drv, &id, &len));
	assert_int_equal(len, 0);
}

static void test_identity_and_offer(void **state)
{
	(void)state;
	struct balloon_config plain = { .enabled = true, .amount_mib = 3 };
	struct fixture *f = fixture_new(&plain);

	assert_int_equal(virtio_harness_read32(&f->h, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BALLOON);
	uint64_t offered = virtio_harness_device_features(&f->h);
	assert_false(offered & (F(VIRTIO_BALLOON_F_STATS_VQ) | F(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) |
				F(VIRTIO_BALLOON_F_REPORTING) | F(VIRTIO_BALLOON_F_FREE_PAGE_HINT) |
				F(VIRTIO_BALLOON_F_MUST_TELL_HOST) | F(VIRTIO_BALLOON_F_PAGE_POISON)));
	assert_int_equal(f->b->ops.num_queues, 2);
	assert_int_equal(virtio_harness_config_read(&f->h, 0, 4), 3 * 256);
	assert_int_equal(virtio_harness_config_read(&f->h, 4, 4), 0);
	assert_int_equal(virtio_harness_config_read(&f->h, 8, 8), 0);
	fixture_free(f);

	f = fixture_new(&all_on);
	offered = virtio_harness_device_features(&f->h);
	assert_true(offered & F(VIRTIO_BALLOON_F_STATS_VQ));
	assert_true(offered & F(VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
	assert_true(offered & F(VIRTIO_BALLOON_F_REPORTING));
	assert_int_equal(f->b->ops.num_queues, 4);
	fixture_free(f);

	struct vmon_error err = { 0 };
	struct balloon_config huge = { .enabled = true, .amount_mib = BALLOON_MAX_MIB + 1 };
	struct virtio_balloon *b;
	struct virtio_dev vdev = { 0 };
	assert_int_equal(virtio_balloon_create(&b, &vdev, NULL, &huge, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "amount_mib"));
}

/* Inflated frames are released (read zero again), deflated ones counted; bad ones skipped. */
static void test_inflate_deflate(void **state)
{
	(void)state;
	struct balloon_config cfg = { .enabled = true, .amount_mib = 1 };
	struct fixture *f = fixture_new(&cfg);
	struct balloon_status st;

	virtio_harness_start(&f->h, ~0ull, 2, 64);
	memset(ram(f, PATTERN_GPA, 4 * 4096), 0xa5, 4 * 4096);
	uint32_t pfns[] = {
		PATTERN_GPA / 4096, PATTERN_GPA / 4096 + 1, PATTERN_GPA / 4096 + 3,   /* a run and a single */
		(uint32_t)(VIRTIO_HARNESS_RAM / 4096),                                /* just past RAM */
		0xffffffffu,                                                          /* far past it */
	};
	send_frames(f, 0, pfns, 5);
	assert_true(all_zero(ram(f, PATTERN_GPA, 2 * 4096), 2 * 4096));
	assert_int_equal(ram(f, PATTERN_GPA + 2 * 4096, 4096)[0], 0xa5);    /* not named: kept */
	assert_true(all_zero(ram(f, PATTERN_GPA + 3 * 4096, 4096), 4096));
	virtio_balloon_status(f->b, &st);
	assert_int_equal(st.inflated_pages, 3);
	assert_int_equal(st.bad_frames, 2);
	assert_int_equal(st.released_bytes, 3 * 4096);
	assert_false(needs_reset(f));

	/* The driver's accounting: actual is its, num_pages the host's. */
	virtio_harness_config_write(&f->h, 4, 3, 4);
	virtio_harness_config_write(&f->h, 0, 12345, 4);      /* ignored */
	virtio_balloon_status(f->b, &st);
	assert_int_equal(st.actual_pages, 3);
	assert_int_equal(st.target_pages, 256);
	assert_int_equal(virtio_harness_config_read(&f->h, 4, 4), 3);

	uint32_t back[] = { PATTERN_GPA / 4096, PATTERN_GPA / 4096 + 1, 0x7fffffffu };
	send_frames(f, 1, back, 3);
	virtio_balloon_status(f->b, &st);
	assert_int_equal(st.deflated_pages, 2);
	assert_int_equal(st.bad_frames, 3);
	assert_int_equal(ram(f, PATTERN_GPA + 2 * 4096, 4096)[0], 0xa5);   /* deflate touches nothing */

	/* A frame list with a tail that is not a whole frame: the whole frames count, the tail is skipped. */
	uint8_t odd[6] = { 0 };
	uint32_t one = PATTERN_GPA / 4096 + 2;
	memcpy(odd, &one, 4);
	struct virtq_driver_buf buf = virtq_driver_buf_out(&f->h.drv[0], odd, sizeof(odd));
	uint32_t id, len;
	virtq_driver_add(&f->h.drv[0], &buf, 1);
	virtio_harness_kick(&f->h, 0);
	assert_true(virtq_driver_get_used(&f->h.drv[0], &id, &len));
	assert_true(all_zero(ram(f, PATTERN_GPA + 2 * 4096, 4096), 4096));
	virtio_balloon_status(f->b, &st);
	assert_int_equal(st.inflated_pages, 4);
	assert_int_equal(st.bad_frames, 4);
	fixture_free(f);
}

/* A list longer than a buffer may be: its first VIRTIO_BALLOON_MAX_FRAMES_PER_BUFFER frames count, the rest not. */
static void test_overlong_frame_list_is_cut(void **state)
{
	(void)state;
	struct balloon_config cfg = { .enabled = true, .amount_mib = 1 };
	struct fixture *f = fixture_new(&cfg);
	unsigned n = VIRTIO_BALLOON_MAX_FRAMES_PER_BUFFER + 100;
	uint32_t *pfns = calloc(n, sizeof(*pfns));
	struct balloon_status st;

	assert_non_null(pfns);
	virtio_harness_start(&f->h, ~0ull, 2, 64);
	/* Two pages far apart, in turn: no two frames adjacent, one release each (the costly case). */
	for (unsigned i = 0; i < n; i++)
		pfns[i] = (uint32_t)(PATTERN_GPA / 4096 + (i % 2) * 2);
	pfns[n - 1] = PATTERN_GPA / 4096 + 1;      /* past the limit: must stay untouched */
	memset(ram(f, PATTERN_GPA, 3 * 4096), 0xa5, 3 * 4096);
	send_frames(f, 0, pfns, n);
	virtio_balloon_status(f->b, &st);
	assert_int_equal(st.inflated_pages, VIRTIO_BALLOON_MAX_FRAMES_PER_BUFFER);
	assert_int_equal(st.bad_frames, 1);
	assert_true(all_zero(ram(f, PATTERN_GPA, 4096), 4096));
	assert_int_equal(ram(f, PATTERN_GPA + 4096, 4096)[0], 0xa5);
	assert_false(needs_reset(f));
	free(pfns);
	fixture_free(f);
}

static void test_writable_frame_list_is_a_driver_bug(void **state)
{
	(void)state;
	struct balloon_config cfg = { .enabled = true };
	struct fixture *f = fixture_new(&cfg);
	struct virtq_driver_buf buf;
	uint32_t id, len;

	virtio_harness_start(&f->h, ~0ull, 2, 64);
	memset(ram(f, PATTERN_GPA, 4096), 0x5a, 4096);
	buf = virtq_driver_buf_in(&f->h.drv[0], 8);
	uint32_t *p = virtq_driver_host(&f->h.drv[0], buf.gpa, 8);
	p[0] = PATTERN_GPA / 4096;
	virtq_driver_add(&f->h.drv[0], &buf, 1);
	virtio_harness_kick(&f->h, 0);
	assert_false(virtq_driver_get_used(&f->h.drv[0], &id, &len));
	assert_true(needs_reset(f));
	assert_int_equal(ram(f, PATTERN_GPA, 4096)[0], 0x5a);
	fixture_free(f);
}

/* A new target: num_pages changes and the driver gets a configuration interrupt. */
static void test_target_change(void **state)
{
	(void)state;
	struct balloon_config cfg = { .enabled = true, .amount_mib = 0 };
	struct fixture *f = fixture_new(&cfg);
	struct vmon_error err = { 0 };

	virtio_harness_start(&f->h, ~0ull, 2, 64);
	virtio_harness_take_interrupts(&f->h);
	uint32_t gen = virtio_harness_config_generation(&f->h);
	assert_int_equal(virtio_balloon_set_target(f->b, 64, &err), 0);
	assert_int_equal(virtio_harness_config_read(&f->h, 0, 4), 64 * 256);
	assert_int_equal(virtio_harness_take_interrupts(&f->h), 1);
	assert_true(virtio_harness_interrupt_status(&f->h) & 2);
	assert_int_not_equal(virtio_harness_config_generation(&f->h), gen);
	assert_int_equal(virtio_balloon_set_target(f->b, BALLOON_MAX_MIB + 1, &err), -EINVAL);
	assert_int_equal(virtio_harness_config_read(&f->h, 0, 4), 64 * 256);
	fixture_free(f);
}

static void put_stat(uint8_t *p, uint16_t tag, uint64_t val)
{
	memcpy(p, &tag, 2);
	memcpy(p + 2, &val, 8);
}

/* The statistics buffer is held, given back on request, and read again when re-queued. */
static void test_statistics(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(&all_on);
	struct virtq_driver *drv = &f->h.drv[2];
	struct balloon_status st;
	uint8_t stats[4 * 10];
	uint32_t id, len;

	uint64_t got = virtio_harness_start(&f->h, ~0ull, 4, 64);
	assert_true(got & F(VIRTIO_BALLOON_F_STATS_VQ));
	put_stat(stats, VIRTIO_BALLOON_S_MEMFREE, 100 << 20);
	put_stat(stats + 10, VIRTIO_BALLOON_S_MEMTOT, 512 << 20);
	put_stat(stats + 20, 77, 1);                                  /* a tag from a newer kernel: skipped */
	put_stat(stats + 30, VIRTIO_BALLOON_S_SWAP_IN, 7);
	struct virtq_driver_buf buf = virtq_driver_buf_out(drv, stats, sizeof(stats));
	uint16_t head = virtq_driver_add(drv, &buf, 1);
	virtio_harness_kick(&f->h, 2);
	assert_false(virtq_driver_get_used(drv, &id, &len));         /* held */
	virtio_balloon_status(f->b, &st);
	assert_true(st.stats_enabled);
	assert_int_equal(st.stats.valid, F(VIRTIO_BALLOON_S_MEMFREE) | F(VIRTIO_BALLOON_S_MEMTOT) |
					  F(VIRTIO_BALLOON_S_SWAP_IN));
	assert_int_equal(st.stats.value[VIRTIO_BALLOON_S_MEMFREE], 100 << 20);
	assert_int_equal(st.stats.value[VIRTIO_BALLOON_S_MEMTOT], 512 << 20);
	assert_int_equal(st.stats.value[VIRTIO_BALLOON_S_SWAP_IN], 7);

	virtio_harness_take_interrupts(&f->h);
	assert_true(virtio_balloon_request_stats(f->b));
	assert_false(virtio_balloon_request_stats(f->b));             /* nothing held any more */
	assert_true(virtq_driver_get_used(drv, &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
	assert_int_equal(virtio_harness_take_interrupts(&f->h), 1);

	/* The driver refills it (fewer entries now) and puts it back. */
	put_stat(stats, VIRTIO_BALLOON_S_MEMFREE, 90 << 20);
	buf = virtq_driver_buf_out(drv, stats, 10);
	virtq_driver_add(drv, &buf, 1);
	virtio_harness_kick(&f->h, 2);
	virtio_balloon_status(f->b, &st);
	assert_int_equal(st.stats.valid, F(VIRTIO_BALLOON_S_MEMFREE));
	assert_int_equal(st.stats.value[VIRTIO_BALLOON_S_MEMFREE], 90 << 20);

	/* The interval: changed, never turned off (Firecracker's rule). */
	struct vmon_error err = { 0 };
	assert_int_equal(virtio_balloon_set_stats_interval(f->b, 5, &err), 0);
	assert_int_equal(virtio_balloon_set_stats_interval(f->b, 0, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "cannot be turned off"));
	virtio_balloon_status(f->b, &st);
	assert_int_equal(st.cfg.stats_interval_s, 5);
	assert_string_equal(virtio_balloon_stat_name(VIRTIO_BALLOON_S_AVAIL), "available_memory");
	assert_null(virtio_balloon_stat_name(VIRTIO_BALLOON_NUM_STATS));
	fixture_free(f);
}

/* Linux queues and kicks its first statistics buffer before DRIVER_OK: the device takes it at DRIVER_OK. */
static void test_statistics_primed_before_driver_ok(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(&all_on);
	struct balloon_status st;
	uint8_t stats[10];
	uint32_t id, len;

	virtio_harness_negotiate(&f->h, ~0ull);
	for (unsigned q = 0; q < 4; q++)
		assert_true(virtio_harness_setup_queue(&f->h, q, 64));
	put_stat(stats, VIRTIO_BALLOON_S_MEMTOT, 1234);
	struct virtq_driver_buf buf = virtq_driver_buf_out(&f->h.drv[2], stats, sizeof(stats));
	virtq_driver_add(&f->h.drv[2], &buf, 1);
	virtio_harness_kick(&f->h, 2);
	virtio_balloon_status(f->b, &st);
	assert_int_equal(st.stats.valid, 0);                          /* not before DRIVER_OK */
	assert_false(virtio_harness_driver_ok(&f->h) & VIRTIO_CONFIG_S_NEEDS_RESET);
	virtio_balloon_status(f->b, &st);
	assert_int_equal(st.stats.value[VIRTIO_BALLOON_S_MEMTOT], 1234);
	assert_false(virtq_driver_get_used(&f->h.drv[2], &id, &len)); /* held */
	assert_true(virtio_balloon_request_stats(f->b));
	assert_true(virtq_driver_get_used(&f->h.drv[2], &id, &len));
	fixture_free(f);
}

/* Reported ranges are released and given back; queue numbers follow the negotiated features. */
static void test_free_page_reporting(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(&all_on);
	struct balloon_status st;
	uint32_t id, len;

	/* The driver takes reporting but not statistics: reporting is queue 2. */
	virtio_harness_negotiate(&f->h, ~F(VIRTIO_BALLOON_F_STATS_VQ));
	for (unsigned q = 0; q < 3; q++)
		assert_true(virtio_harness_setup_queue(&f->h, q, 64));
	assert_false(virtio_harness_driver_ok(&f->h) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(f->b->role[2], BALLOON_Q_REPORTING);

	memset(ram(f, PATTERN_GPA, 8 * 4096), 0x3c, 8 * 4096);
	struct virtq_driver_buf ranges[2] = {
		{ .gpa = PATTERN_GPA, .len = 2 * 4096, .writable = true },
		{ .gpa = PATTERN_GPA + 4 * 4096, .len = 4 * 4096, .writable = true },
	};
	virtq_driver_add(&f->h.drv[2], ranges, 2);
	virtio_harness_kick(&f->h, 2);
	assert_true(virtq_driver_get_used(&f->h.drv[2], &id, &len));
	assert_int_equal(len, 0);
	assert_true(all_zero(ram(f, PATTERN_GPA, 2 * 4096), 2 * 4096));
	assert_int_equal(ram(f, PATTERN_GPA + 2 * 4096, 2 * 4096)[4096], 0x3c);
	assert_true(all_zero(ram(f, PATTERN_GPA + 4 * 4096, 4 * 4096), 4 * 4096));
	virtio_balloon_status(f->b, &st);
	assert_int_equal(st.reported_bytes, 6 * 4096);
	assert_int_equal(st.released_bytes, 6 * 4096);

	/* A range outside guest RAM never reaches the model: the queue refuses it (device error). */
	struct virtq_driver_buf outside = { .gpa = VIRTIO_HARNESS_RAM - 4096, .len = 2 * 4096, .writable = true };
	virtq_driver_add(&f->h.drv[2], &outside, 1);
	virtio_harness_kick(&f->h, 2);
	assert_false(virtq_driver_get_used(&f->h.drv[2], &id, &len));
	assert_true(needs_reset(f));
	virtio_balloon_status(f->b, &st);
	assert_int_equal(st.reported_bytes, 6 * 4096);
	fixture_free(f);
}

/* Dirty tracking sees released pages: a diff snapshot / migration then carries what they read as now. */
static void test_release_marks_dirty(void **state)
{
	(void)state;
	struct balloon_config cfg = { .enabled = true };
	struct fixture *f = fixture_new(&cfg);
	size_t words = guest_mem_bitmap_words(&f->h.mem);
	uint64_t *bits = calloc(words, sizeof(uint64_t));

	assert_non_null(bits);
	virtio_harness_start(&f->h, ~0ull, 2, 64);
	assert_int_equal(guest_mem_track_writes(&f->h.mem, true), 0);
	uint32_t pfn = PATTERN_GPA / 4096 + 5;
	send_frames(f, 0, &pfn, 1);
	guest_mem_fetch_written(&f->h.mem, bits);
	assert_true(bits[pfn / 64] & (1ull << (pfn % 64)));
	assert_false(bits[(pfn + 1) / 64] & (1ull << ((pfn + 1) % 64)));
	free(bits);
	fixture_free(f);
}

/* save() into a buffer, one byte off alignment like a registry section may be. */
static uint8_t *save_state(struct fixture *f)
{
	uint8_t *buf = calloc(1, virtio_balloon_registry_ops.state_size + 1);

	assert_non_null(buf);
	virtio_balloon_registry_ops.save(&f->h.t.vdev, buf + 1);
	return buf;
}

/* The whole state goes across: target, actual, statistics, the held buffer (given back after restore). */
static void test_state_round_trip(void **state)
{
	(void)state;
	struct fixture *a = fixture_new(&all_on), *b = fixture_new(&all_on);
	struct vmon_error err = { 0 };
	struct balloon_status sa, sb;
	uint8_t stats[10];
	uint32_t id, len;

	virtio_harness_start(&a->h, ~0ull, 4, 64);
	assert_int_equal(virtio_balloon_set_target(a->b, 40, &err), 0);
	virtio_harness_config_write(&a->h, 4, 1000, 4);
	put_stat(stats, VIRTIO_BALLOON_S_AVAIL, 4242);
	struct virtq_driver_buf buf = virtq_driver_buf_out(&a->h.drv[2], stats, sizeof(stats));
	uint16_t head = virtq_driver_add(&a->h.drv[2], &buf, 1);
	virtio_harness_kick(&a->h, 2);
	uint32_t pfn = PATTERN_GPA / 4096;
	send_frames(a, 0, &pfn, 1);

	virtio_dev_pause(&a->h.t.vdev);
	uint8_t *saved = save_state(a);
	virtio_harness_copy_guest(&b->h, &a->h);
	virtio_dev_pause(&b->h.t.vdev);
	if (virtio_balloon_registry_ops.restore(&b->h.t.vdev, saved + 1, &err))
		fail_msg("restore: %s", err.msg);
	uint8_t *again = save_state(b);
	assert_memory_equal(saved + 1, again + 1, virtio_balloon_registry_ops.state_size);
	virtio_dev_resume(&b->h.t.vdev);
	virtio_harness_run_loop(&b->h);

	virtio_balloon_status(a->b, &sa);
	virtio_balloon_status(b->b, &sb);
	assert_int_equal(sb.target_pages, 40 * 256);
	assert_int_equal(sb.actual_pages, 1000);
	assert_int_equal(sb.stats.value[VIRTIO_BALLOON_S_AVAIL], 4242);
	assert_int_equal(sb.inflated_pages, sa.inflated_pages);
	assert_int_equal(b->b->role[3], BALLOON_Q_REPORTING);
	assert_true(virtio_balloon_request_stats(b->b));
	assert_true(virtq_driver_get_used(&b->h.drv[2], &id, &len));
	assert_int_equal(id, head);

	/* Damaged states are refused, naming the field; the device keeps its state. */
	struct virtio_balloon_state s;
	memcpy(&s, saved + 1, sizeof(s));
	s.model.reserved[3] = 1;
	assert_int_equal(virtio_balloon_registry_ops.restore(&b->h.t.vdev, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "reserved byte 3"));
	memcpy(&s, saved + 1, sizeof(s));
	s.model.stats_held = 2;
	assert_int_equal(virtio_balloon_registry_ops.restore(&b->h.t.vdev, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "stats_held"));
	memcpy(&s, saved + 1, sizeof(s));
	s.model.stats_head = 64;
	assert_int_equal(virtio_balloon_registry_ops.restore(&b->h.t.vdev, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "statistics buffer 64"));
	memcpy(&s, saved + 1, sizeof(s));
	s.model.stats_interval_s = 0;
	assert_int_equal(virtio_balloon_registry_ops.restore(&b->h.t.vdev, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "statistics interval"));
	memcpy(&s, saved + 1, sizeof(s));
	s.model.stats.valid = 1ull << 40;
	assert_int_equal(virtio_balloon_registry_ops.restore(&b->h.t.vdev, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unknown tags"));
	virtio_balloon_status(b->b, &sb);
	assert_int_equal(sb.actual_pages, 1000);
	free(saved);
	free(again);
	fixture_free(a);
	fixture_free(b);
}

/* A driver reset drops the held buffer and actual; the target stays. */
static void test_reset(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(&all_on);
	struct balloon_status st;
	uint8_t stats[10];

	virtio_harness_start(&f->h, ~0ull, 4, 64);
	put_stat(stats, VIRTIO_BALLOON_S_MEMFREE, 1);
	struct virtq_driver_buf buf = virtq_driver_buf_out(&f->h.drv[2], stats, sizeof(stats));
	virtq_driver_add(&f->h.drv[2], &buf, 1);
	virtio_harness_kick(&f->h, 2);
	virtio_harness_config_write(&f->h, 4, 9, 4);
	virtio_harness_reset(&f->h);
	virtio_balloon_status(f->b, &st);
	assert_int_equal(st.actual_pages, 0);
	assert_int_equal(st.target_pages, 16 * 256);
	assert_int_equal(st.stats.valid, 0);
	assert_false(virtio_balloon_request_stats(f->b));
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity_and_offer),
		cmocka_unit_test(test_inflate_deflate),
		cmocka_unit_test(test_overlong_frame_list_is_cut),
		cmocka_unit_test(test_writable_frame_list_is_a_driver_bug),
		cmocka_unit_test(test_target_change),
		cmocka_unit_test(test_statistics),
		cmocka_unit_test(test_statistics_primed_before_driver_ok),
		cmocka_unit_test(test_free_page_reporting),
		cmocka_unit_test(test_release_marks_dirty),
		cmocka_unit_test(test_state_round_trip),
		cmocka_unit_test(test_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
