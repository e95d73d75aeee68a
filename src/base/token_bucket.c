/* SPDX-License-Identifier: MIT */
#include "base/token_bucket.h"

#include <stddef.h>

bool token_bucket_limits(const struct token_bucket_config *cfg)
{
	return cfg->size > 0 && cfg->refill_time_ms > 0;
}

bool rate_limiter_config_limits(const struct rate_limiter_config *cfg)
{
	return token_bucket_limits(&cfg->bandwidth) || token_bucket_limits(&cfg->ops);
}

const char *token_bucket_config_problem(const struct token_bucket_config *cfg)
{
	if (cfg->size > TOKEN_BUCKET_MAX_TOKENS)
		return "size exceeds 2^62";
	if (cfg->one_time_burst > TOKEN_BUCKET_MAX_TOKENS)
		return "one_time_burst exceeds 2^62";
	if (cfg->refill_time_ms > TOKEN_BUCKET_MAX_REFILL_MS)
		return "refill_time exceeds 2^64 nanoseconds";
	return NULL;
}

static uint64_t refill_ns(const struct token_bucket *b)
{
	return b->cfg.refill_time_ms * 1000000u;
}

void token_bucket_init(struct token_bucket *b, const struct token_bucket_config *cfg, uint64_t now_ns)
{
	*b = (struct token_bucket){ .cfg = *cfg, .last_ns = now_ns };
	if (!token_bucket_limits(cfg))
		return;
	b->budget = (int64_t)cfg->size;
	b->burst_left = cfg->one_time_burst;
}

void rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_config *cfg, uint64_t now_ns)
{
	token_bucket_init(&rl->bandwidth, &cfg->bandwidth, now_ns);
	token_bucket_init(&rl->ops, &cfg->ops, now_ns);
	rl->throttled = 0;
}

/* Adds what the time since last_ns earned, up to size; the fraction of a token not yet earned carries over. */
static void refill(struct token_bucket *b, uint64_t now_ns)
{
	const uint64_t size = b->cfg.size, period = refill_ns(b);

	if (now_ns <= b->last_ns)
		return;       /* a clock read before the last one (another thread's): nothing earned */
	if (b->budget >= (int64_t)size) {
		b->last_ns = now_ns;
		return;
	}
	unsigned __int128 earned = (unsigned __int128)(now_ns - b->last_ns) * size / period;
	if (earned >= (unsigned __int128)((int64_t)size - b->budget)) {
		b->budget = (int64_t)size;
		b->last_ns = now_ns;
		return;
	}
	b->budget += (int64_t)earned;
	/* The time those tokens took, rounded up: never more than elapsed. */
	b->last_ns += (uint64_t)((earned * period + size - 1) / size);
}

/* Tokens of `cost` the budget must pay (after the burst), and the budget it needs to be admitted. */
static uint64_t from_budget(const struct token_bucket *b, uint64_t cost)
{
	return cost > b->burst_left ? cost - b->burst_left : 0;
}

static int64_t needed(const struct token_bucket *b, uint64_t rest)
{
	return (int64_t)(rest < b->cfg.size ? rest : b->cfg.size);
}

static bool admits(struct token_bucket *b, uint64_t cost, uint64_t now_ns)
{
	if (!token_bucket_limits(&b->cfg))
		return true;
	refill(b, now_ns);
	uint64_t rest = from_budget(b, cost);
	return rest == 0 || b->budget >= needed(b, rest);
}

static void pay(struct token_bucket *b, uint64_t cost)
{
	if (!token_bucket_limits(&b->cfg))
		return;
	uint64_t rest = from_budget(b, cost);
	b->burst_left -= cost - rest;
	b->budget -= (int64_t)rest;
}

bool rate_limiter_consume(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns)
{
	/* Both asked before either pays: a refusal takes nothing. */
	bool bw_ok = admits(&rl->bandwidth, bytes, now_ns);
	bool ops_ok = admits(&rl->ops, 1, now_ns);

	if (!bw_ok || !ops_ok) {
		rl->throttled++;
		return false;
	}
	pay(&rl->bandwidth, bytes);
	pay(&rl->ops, 1);
	return true;
}

static uint64_t bucket_wait_ns(struct token_bucket *b, uint64_t cost, uint64_t now_ns)
{
	if (admits(b, cost, now_ns))
		return 0;
	const uint64_t size = b->cfg.size;
	/* The refill left last_ns <= now_ns with budget < needed <= size, so the missing tokens are positive. */
	uint64_t missing = (uint64_t)(needed(b, from_budget(b, cost)) - b->budget);
	unsigned __int128 total = ((unsigned __int128)missing * refill_ns(b) + size - 1) / size;
	uint64_t carried = now_ns - b->last_ns;
	if (total <= carried)
		return 1;
	total -= carried;
	return total > UINT64_MAX ? UINT64_MAX : (uint64_t)total;
}

uint64_t rate_limiter_wait_ns(struct rate_limiter *rl, uint64_t bytes, uint64_t now_ns)
{
	uint64_t bw = bucket_wait_ns(&rl->bandwidth, bytes, now_ns);
	uint64_t ops = bucket_wait_ns(&rl->ops, 1, now_ns);

	return bw > ops ? bw : ops;
}
