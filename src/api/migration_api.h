/* SPDX-License-Identifier: MIT */
#ifndef VMON_API_MIGRATION_API_H
#define VMON_API_MIGRATION_API_H

#include "base/error.h"

/*
 * vmon's extension of the API for live migration (docs/MIGRATION.md):
 * PUT /migration/send {"destination": ADDR, "downtime_ms": N} on the source,
 * PUT /migration/receive {"listen": ADDR} on a destination not configured
 * yet, PUT /migration/cancel and GET /migration on the source. ADDR is
 * "unix:/path" or "tcp:HOST:PORT".
 */
#define MIGRATION_DOWNTIME_MAX_MS 60000

struct migration_send_req {
	char *destination;
	unsigned downtime_ms;
};

/* Each checks the whole body (unknown fields, types, ranges, the address); 0 or -EINVAL naming the field. */
int migration_send_req_parse(const char *body, struct migration_send_req *out, struct vmon_error *err);
int migration_receive_req_parse(const char *body, char **listen, struct vmon_error *err);
void migration_send_req_free(struct migration_send_req *r);

#endif
