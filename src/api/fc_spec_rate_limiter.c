/* SPDX-License-Identifier: MIT */
/* Firecracker's RateLimiter and TokenBucket bodies (fc_spec_internal.h). */
#include <errno.h>
#include <stdio.h>

#include "api/fc_json.h"
#include "api/fc_spec_internal.h"

/* A token bucket limits only with size > 0 and refill_time > 0 (Firecracker's TokenBucket::new returns None otherwise). */
int fc_refuse_bucket(json_object *bucket, const char *field, const char *device, struct vmon_error *err)
{
	if (bucket && fc_json_int(bucket, "size", 0) > 0 && fc_json_int(bucket, "refill_time", 0) > 0)
		return error_set(err, -EINVAL, "%s: vmon's %s has no rate limiter (vmon limits virtio-blk, "
				 "virtio-net and virtio-rng); only a bucket that does not limit (size or refill_time 0) is accepted",
				 field, device);
	return 0;
}

/* A TokenBucket (the schema checked its types and ranges): size and refill_time required. */
static int parse_bucket(json_object *bucket, const char *field, struct token_bucket_config *out,
			struct vmon_error *err)
{
	const char *problem;

	*out = (struct token_bucket_config){
		.size = (uint64_t)fc_json_int(bucket, "size", 0),
		.one_time_burst = (uint64_t)fc_json_int(bucket, "one_time_burst", 0),
		.refill_time_ms = (uint64_t)fc_json_int(bucket, "refill_time", 0),
	};
	if ((problem = token_bucket_config_problem(out)))
		return error_set(err, -EINVAL, "%s: %s", field, problem);
	return 0;
}

/*
 * body's RateLimiter `field` over *out: each bucket it names replaces out's
 * (Firecracker's RateLimiterUpdate), the others stay. Nothing changes on error.
 */
int fc_parse_rate_limiter(json_object *body, const char *field, struct rate_limiter_config *out,
			      struct vmon_error *err)
{
	json_object *rl = fc_json_get(body, field), *bw, *ops;
	struct rate_limiter_config next = *out;
	char path[64];
	int ret;

	if (!rl)
		return 0;
	snprintf(path, sizeof(path), "%s.bandwidth", field);
	if ((bw = fc_json_get(rl, "bandwidth")) && (ret = parse_bucket(bw, path, &next.bandwidth, err)))
		return ret;
	snprintf(path, sizeof(path), "%s.ops", field);
	if ((ops = fc_json_get(rl, "ops")) && (ret = parse_bucket(ops, path, &next.ops, err)))
		return ret;
	*out = next;
	return 0;
}
