/* SPDX-License-Identifier: MIT */
/* Firecracker's token buckets on a fake clock: refill, one-time burst, big requests, reconfiguration, waits. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "base/token_bucket.h"

#define MS 1000000ull

/* 1000 bytes per 1000 ms, no ops limit. */
static const struct rate_limiter_config bw_1000 = { .bandwidth = { .size = 1000, .refill_time_ms = 1000 } };

static void unlimited_buckets_admit_everything(void **state)
{
	static const struct rate_limiter_config none[] = {
		{ { 0, 0, 0 }, { 0, 0, 0 } },
		{ { 0, 500, 100 }, { 10, 0, 0 } },     /* size 0, refill_time 0: no limit (Firecracker: None) */
	};
	struct rate_limiter rl;
	(void)state;
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		assert_false(rate_limiter_config_limits(&none[i]));
		rate_limiter_init(&rl, &none[i], 0);
		for (int n = 0; n < 1000; n++)
			assert_true(rate_limiter_consume(&rl, UINT64_C(1) << 40, 0));
		assert_int_equal(rate_limiter_wait_ns(&rl, UINT64_C(1) << 40, 0), 0);
		assert_int_equal(rl.throttled, 0);
	}
}

static void a_full_bucket_empties_and_refills_linearly(void **state)
{
	struct rate_limiter rl;
	(void)state;
	rate_limiter_init(&rl, &bw_1000, 5 * MS);
	assert_true(rate_limiter_consume(&rl, 600, 5 * MS));
	assert_true(rate_limiter_consume(&rl, 400, 5 * MS));
	assert_false(rate_limiter_consume(&rl, 1, 5 * MS));
	assert_int_equal(rl.throttled, 1);
	/* 1 byte per ms: 100 bytes after 100 ms, not 101. */
	assert_int_equal(rate_limiter_wait_ns(&rl, 100, 5 * MS), 100 * MS);
	assert_false(rate_limiter_consume(&rl, 101, 105 * MS));
	assert_true(rate_limiter_consume(&rl, 100, 105 * MS));
	/* Fractions carry: 0.5 ms twice earns one byte. */
	assert_false(rate_limiter_consume(&rl, 1, 105 * MS + MS / 2));
	assert_true(rate_limiter_consume(&rl, 1, 106 * MS));
	/* Never above size, however long the pause. */
	assert_true(rate_limiter_consume(&rl, 1000, 100000 * MS));
	assert_false(rate_limiter_consume(&rl, 1, 100000 * MS));
	/* A clock read from before the last one earns nothing (and breaks nothing). */
	assert_false(rate_limiter_consume(&rl, 1, 99999 * MS));
}

static void the_rate_holds_over_many_requests(void **state)
{
	/* 4 MiB/s in 64 KiB requests, driven by the waits the limiter asks for: 10 s move 40 MiB + the bucket. */
	const struct rate_limiter_config cfg = { .bandwidth = { .size = 4u << 20, .refill_time_ms = 1000 } };
	struct rate_limiter rl;
	uint64_t now = 0, moved = 0;
	(void)state;
	rate_limiter_init(&rl, &cfg, 0);
	while (now <= 10000 * MS) {
		if (rate_limiter_consume(&rl, 65536, now)) {
			moved += 65536;
			continue;
		}
		uint64_t wait = rate_limiter_wait_ns(&rl, 65536, now);
		assert_true(wait > 0 && wait <= 16 * MS);   /* 64 KiB is 15.6 ms at this rate */
		now += wait;
		assert_true(rate_limiter_consume(&rl, 65536, now));   /* the wait is exact: admitted then */
		moved += 65536;
	}
	assert_true(moved >= (44u << 20) - 65536 && moved <= (44u << 20) + 65536);
}

static void the_one_time_burst_goes_first_and_never_returns(void **state)
{
	const struct rate_limiter_config cfg = {
		.bandwidth = { .size = 100, .one_time_burst = 1000, .refill_time_ms = 100 },
	};
	struct rate_limiter rl;
	(void)state;
	rate_limiter_init(&rl, &cfg, 0);
	assert_true(rate_limiter_consume(&rl, 900, 0));      /* all from the burst */
	assert_int_equal(rl.bandwidth.budget, 100);
	assert_true(rate_limiter_consume(&rl, 150, 0));      /* 100 burst + 50 budget */
	assert_int_equal(rl.bandwidth.burst_left, 0);
	assert_int_equal(rl.bandwidth.budget, 50);
	assert_true(rate_limiter_consume(&rl, 50, 0));
	assert_false(rate_limiter_consume(&rl, 1, 0));
	/* A long wait refills the bucket only. */
	assert_true(rate_limiter_consume(&rl, 100, 1000 * MS));
	assert_false(rate_limiter_consume(&rl, 1, 1000 * MS));
}

static void a_request_bigger_than_the_bucket_passes_then_pays_its_debt(void **state)
{
	struct rate_limiter rl;
	(void)state;
	rate_limiter_init(&rl, &bw_1000, 0);
	assert_true(rate_limiter_consume(&rl, 10, 0));
	/* Not full: a 3000-byte request waits for a full bucket (990 bytes have to come back... 10 ms). */
	assert_false(rate_limiter_consume(&rl, 3000, 0));
	assert_int_equal(rate_limiter_wait_ns(&rl, 3000, 0), 10 * MS);
	assert_true(rate_limiter_consume(&rl, 3000, 10 * MS));
	assert_int_equal(rl.bandwidth.budget, -2000);
	/* The debt: the next byte comes 2001 ms later, as at the steady rate. */
	assert_int_equal(rate_limiter_wait_ns(&rl, 1, 10 * MS), 2001 * MS);
	assert_false(rate_limiter_consume(&rl, 1, 2010 * MS));
	assert_true(rate_limiter_consume(&rl, 1, 2011 * MS));
}

static void ops_and_bandwidth_are_paid_together_or_not_at_all(void **state)
{
	const struct rate_limiter_config cfg = {
		.bandwidth = { .size = 1000, .refill_time_ms = 1000 },
		.ops = { .size = 2, .refill_time_ms = 100 },
	};
	struct rate_limiter rl;
	(void)state;
	rate_limiter_init(&rl, &cfg, 0);
	assert_true(rate_limiter_consume(&rl, 100, 0));
	assert_true(rate_limiter_consume(&rl, 100, 0));
	/* The ops bucket refuses: the bandwidth bucket keeps its 800 bytes. */
	assert_false(rate_limiter_consume(&rl, 100, 0));
	assert_int_equal(rl.bandwidth.budget, 800);
	assert_int_equal(rate_limiter_wait_ns(&rl, 100, 0), 50 * MS);
	/* The bandwidth bucket refuses: the op is not taken either. */
	assert_false(rate_limiter_consume(&rl, 900, 50 * MS));
	assert_int_equal(rl.ops.budget, 1);
	/* The longer of the two waits. */
	assert_int_equal(rate_limiter_wait_ns(&rl, 900, 50 * MS), 50 * MS);
	assert_true(rate_limiter_consume(&rl, 900, 100 * MS));
	assert_int_equal(rl.throttled, 2);
}

static void reconfiguring_starts_full_buckets(void **state)
{
	const struct rate_limiter_config ops_1 = { .ops = { .size = 1, .refill_time_ms = 1000 } };
	const struct rate_limiter_config none = { 0 };
	struct rate_limiter rl;
	(void)state;
	rate_limiter_init(&rl, &bw_1000, 0);
	assert_true(rate_limiter_consume(&rl, 1000, 0));
	assert_false(rate_limiter_consume(&rl, 1, 0));
	rate_limiter_init(&rl, &ops_1, 0);                   /* a PATCH: Firecracker's update_buckets */
	assert_true(rate_limiter_consume(&rl, 5000, 0));
	assert_false(rate_limiter_consume(&rl, 1, 0));
	assert_int_equal(rate_limiter_wait_ns(&rl, 1, 0), 1000 * MS);
	rate_limiter_init(&rl, &none, 0);
	assert_true(rate_limiter_consume(&rl, 1, 0));
}

static void the_state_is_a_plain_struct(void **state)
{
	struct rate_limiter a, b;
	(void)state;
	rate_limiter_init(&a, &bw_1000, 0);
	assert_true(rate_limiter_consume(&a, 700, 0));
	memcpy(&b, &a, sizeof(a));                           /* saved and loaded as bytes */
	assert_true(rate_limiter_consume(&b, 300, 0));
	assert_false(rate_limiter_consume(&b, 1, 0));
	assert_int_equal(rate_limiter_wait_ns(&a, 400, 0), rate_limiter_wait_ns(&b, 100, 0));
}

static void out_of_range_configurations_are_named(void **state)
{
	struct token_bucket_config c = { .size = TOKEN_BUCKET_MAX_TOKENS, .one_time_burst = TOKEN_BUCKET_MAX_TOKENS,
					 .refill_time_ms = TOKEN_BUCKET_MAX_REFILL_MS };
	(void)state;
	assert_null(token_bucket_config_problem(&c));
	c.size++;
	assert_string_equal(token_bucket_config_problem(&c), "size exceeds 2^62");
	c.size--;
	c.one_time_burst++;
	assert_string_equal(token_bucket_config_problem(&c), "one_time_burst exceeds 2^62");
	c.one_time_burst--;
	c.refill_time_ms++;
	assert_string_equal(token_bucket_config_problem(&c), "refill_time exceeds 2^64 nanoseconds");
	/* The extremes do not overflow. */
	struct rate_limiter rl;
	struct rate_limiter_config big = { .bandwidth = { .size = TOKEN_BUCKET_MAX_TOKENS, .refill_time_ms = 1 } };
	rate_limiter_init(&rl, &big, 0);
	assert_true(rate_limiter_consume(&rl, TOKEN_BUCKET_MAX_TOKENS, 0));
	assert_int_equal(rate_limiter_wait_ns(&rl, 1, 0), 1);
	assert_true(rate_limiter_consume(&rl, TOKEN_BUCKET_MAX_TOKENS, UINT64_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unlimited_buckets_admit_everything),
		cmocka_unit_test(a_full_bucket_empties_and_refills_linearly),
		cmocka_unit_test(the_rate_holds_over_many_requests),
		cmocka_unit_test(the_one_time_burst_goes_first_and_never_returns),
		cmocka_unit_test(a_request_bigger_than_the_bucket_passes_then_pays_its_debt),
		cmocka_unit_test(ops_and_bandwidth_are_paid_together_or_not_at_all),
		cmocka_unit_test(reconfiguring_starts_full_buckets),
		cmocka_unit_test(the_state_is_a_plain_struct),
		cmocka_unit_test(out_of_range_configurations_are_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
