/* SPDX-License-Identifier: MIT */
#ifndef VMON_API_FC_SPEC_INTERNAL_H
#define VMON_API_FC_SPEC_INTERNAL_H

/*
 * Between fc_spec.c and fc_spec_file.c: applying one resource whose body is
 * already parsed and checked against its schema (fc_spec_schema.h). The same
 * contract as the fc_spec_put_*() calls: validate all, then change s, or
 * change nothing. path_id is the resource's id (NULL for resources without).
 */

#include <json-c/json.h>

#include "api/fc_spec.h"

typedef int (*fc_spec_apply_fn)(struct fc_spec *s, const char *path_id, json_object *body, struct vmon_error *err);

int fc_spec_apply_boot_source(struct fc_spec *s, const char *path_id, json_object *body, struct vmon_error *err);
int fc_spec_apply_drive(struct fc_spec *s, const char *path_id, json_object *body, struct vmon_error *err);
int fc_spec_apply_machine_config(struct fc_spec *s, const char *path_id, json_object *body, struct vmon_error *err);
int fc_spec_apply_network_interface(struct fc_spec *s, const char *path_id, json_object *body,
				    struct vmon_error *err);
int fc_spec_apply_logger(struct fc_spec *s, const char *path_id, json_object *body, struct vmon_error *err);
int fc_spec_apply_metrics(struct fc_spec *s, const char *path_id, json_object *body, struct vmon_error *err);
int fc_spec_apply_vsock(struct fc_spec *s, const char *path_id, json_object *body, struct vmon_error *err);
int fc_spec_apply_entropy(struct fc_spec *s, const char *path_id, json_object *body, struct vmon_error *err);
int fc_spec_apply_serial(struct fc_spec *s, const char *path_id, json_object *body, struct vmon_error *err);
int fc_spec_apply_balloon(struct fc_spec *s, const char *path_id, json_object *body, struct vmon_error *err);
int fc_spec_apply_mmds_config(struct fc_spec *s, const char *path_id, json_object *body, struct vmon_error *err);

/*
 * body's RateLimiter `field` over *out: each bucket it names (a TokenBucket:
 * size, one_time_burst, refill_time ms) replaces out's, as Firecracker's
 * RateLimiterUpdate; the others stay; nothing changes on error (a bucket out
 * of token_bucket.h's range, named "field.bucket: ...").
 */
int fc_parse_rate_limiter(json_object *body, const char *field, struct rate_limiter_config *out,
			  struct vmon_error *err);
/* For devices without a limiter (device: "serial device"): a limiting bucket is refused, naming the field. */
int fc_refuse_bucket(json_object *bucket, const char *field, const char *device, struct vmon_error *err);

#endif
