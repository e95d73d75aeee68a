/* SPDX-License-Identifier: MIT */
#include "api/migration_api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/fc_json.h"
#include "snapshot/migration.h"

static const struct fc_json_field send_fields[] = {
	{ .name = "destination", .type = FC_JSON_STRING, .required = true },
	{ .name = "downtime_ms", .type = FC_JSON_INT, .min = 1, .max = MIGRATION_DOWNTIME_MAX_MS },
};
static const struct fc_json_schema send_schema = FC_JSON_SCHEMA(send_fields);

static const struct fc_json_field receive_fields[] = {
	{ .name = "listen", .type = FC_JSON_STRING, .required = true },
};
static const struct fc_json_schema receive_schema = FC_JSON_SCHEMA(receive_fields);

/* The address field parsed once here, so that a bad one is a 400 naming it. */
static int checked_address(json_object *obj, const char *field, char **out, struct vmon_error *err)
{
	struct mig_addr addr;
	const char *text = fc_json_str(obj, field, "");

	if (mig_addr_parse(text, &addr, err)) {
		error_prefix(err, "%s", field);
		return -EINVAL;
	}
	if (!(*out = strdup(text)))
		return error_set(err, -ENOMEM, "out of memory");
	return 0;
}

int migration_send_req_parse(const char *body, struct migration_send_req *out, struct vmon_error *err)
{
	json_object *obj;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = fc_json_parse_object(body, &send_schema, &obj, err)))
		return r;
	r = checked_address(obj, "destination", &out->destination, err);
	out->downtime_ms = (unsigned)fc_json_int(obj, "downtime_ms", MIGRATION_DEFAULT_DOWNTIME_MS);
	json_object_put(obj);
	return r;
}

int migration_receive_req_parse(const char *body, char **listen, struct vmon_error *err)
{
	json_object *obj;
	int r;

	*listen = NULL;
	if ((r = fc_json_parse_object(body, &receive_schema, &obj, err)))
		return r;
	r = checked_address(obj, "listen", listen, err);
	json_object_put(obj);
	return r;
}

void migration_send_req_free(struct migration_send_req *r)
{
	free(r->destination);
	r->destination = NULL;
}
