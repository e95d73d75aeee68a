/* SPDX-License-Identifier: MIT */
#ifndef VMON_API_MMDS_H
#define VMON_API_MMDS_H

/*
 * The microVM metadata store (Firecracker's MMDS data store): one JSON
 * object that PUT /mmds replaces, PATCH /mmds merges into (JSON Merge
 * Patch, RFC 7396) and GET /mmds returns. Its serialized size is capped like
 * Firecracker's --mmds-size-limit (default 51200 bytes): a request that
 * would make it larger is refused with -E2BIG (HTTP 413 in Firecracker) and
 * changes nothing. Thread-safe: the API thread writes, and the guest side
 * (the MMDS network endpoint, not there yet) will read.
 */

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

#define MMDS_DEFAULT_SIZE_LIMIT 51200

struct mmds;

/* size_limit: bytes of the serialized store; 0 means MMDS_DEFAULT_SIZE_LIMIT. */
int mmds_create(struct mmds **out, size_t size_limit, struct vmon_error *err);
void mmds_destroy(struct mmds *m);   /* NULL is fine */

/*
 * PUT: body must be a JSON object (MmdsContentsObject); it replaces the
 * store. -EINVAL (not JSON, not an object, a number that is not finite),
 * -E2BIG (over the limit), -ENOMEM; the store is unchanged on error.
 */
int mmds_put(struct mmds *m, const char *body, struct vmon_error *err);
/* PATCH: a JSON object merged into the store (a null member removes it). Refused before the first PUT. */
int mmds_patch(struct mmds *m, const char *body, struct vmon_error *err);
/* GET: the store serialized (malloc'd), "{}" before the first PUT; NULL when out of memory. */
char *mmds_get_json(struct mmds *m);
/* Whether a PUT has set the store (Firecracker answers GET with 404 before). */
bool mmds_is_set(struct mmds *m);
size_t mmds_size_limit(const struct mmds *m);

#endif
