/* SPDX-License-Identifier: MIT */
#ifndef VMON_TOKEN_BUCKET_H
#define VMON_TOKEN_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Firecracker's rate limiter (docs/design.md "I/O rate limiting" there): up
 * to two token buckets, one counting bytes (bandwidth) and one counting
 * requests (ops). A bucket of `size` tokens refills completely in
 * `refill_time_ms`, linearly; it starts full. `one_time_burst` tokens are
 * spent first and never come back. A bucket with size 0 or refill time 0
 * limits nothing, as Firecracker's TokenBucket::new returns None for it.
 *
 * A request costing more than `size` still goes through (Firecracker's
 * OverConsumption): it is admitted once the bucket is full and drives the
 * budget negative, a debt that the refill pays back before the next request
 * is admitted; so the long-run rate stays size per refill time whatever the
 * request sizes. A request is admitted when every limiting bucket can pay
 * min(cost, size) from its budget (after the burst); then all pay, or none.
 *
 * Pure: time is passed in (nanoseconds of any monotonic clock), so tests run
 * on a fake clock. Not thread-safe: the owner serialises (the device lock).
 * The state is a plain struct.
 */

struct token_bucket_config {
	uint64_t size;                  /* tokens; 0: unlimited */
	uint64_t one_time_burst;        /* extra tokens at the start, not refilled */
	uint64_t refill_time_ms;        /* time to refill from empty to size; 0: unlimited */
};

struct rate_limiter_config {
	struct token_bucket_config bandwidth;   /* bytes */
	struct token_bucket_config ops;         /* requests */
};

struct token_bucket {
	struct token_bucket_config cfg;
	int64_t budget;                 /* tokens now; negative: a big request's debt */
	uint64_t burst_left;            /* of one_time_burst */
	uint64_t last_ns;               /* time up to which the refill is accounted */
};

struct rate_limiter {
	struct token_bucket bandwidth, ops;
	uint64_t throttled;             /* requests refused (counted once per refusal) */
};

/* Does this bucket limit anything (size and refill time both > 0)? */
bool token_bucket_limits(const struct token_bucket_config *cfg);
bool rate_limiter_config_limits(const struct rate_limiter_config *cfg);

/* A full bucket (and the whole burst) at now_ns. Also how a live update (PATCH) replaces a bucket. */
void token_bucket_init(struct token_bucket *b, const struct token_bucket_config *cfg, uint64_t now_ns);
void rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_config *cfg, uint64_t now_ns);

/*
 * Takes one request of `bytes` at now_ns: true and both buckets paid, or
 * false and nothing taken (throttled, counted). An unlimited limiter always
 * says true.
 */
bool rate_limiter_consume(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns);

/*
 * After a refusal: nanoseconds from now_ns until a request of `bytes` would
 * be admitted (>= 1), for the timer that resumes the queue; 0 when it would
 * be admitted now.
 */
uint64_t rate_limiter_wait_ns(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns);

/* The largest size / one_time_burst, and refill_time_ms, a bucket takes (the arithmetic stays in 64 bits). */
#define TOKEN_BUCKET_MAX_TOKENS (1ull << 62)
#define TOKEN_BUCKET_MAX_REFILL_MS (UINT64_MAX / 1000000u)

/* NULL when cfg is usable, else what is wrong with it ("size ... exceeds ..."), for a message naming the field. */
const char *token_bucket_config_problem(const struct token_bucket_config *cfg);

#endif
