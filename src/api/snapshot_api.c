/* SPDX-License-Identifier: MIT */
#include "api/snapshot_api.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "api/fc_json.h"

static const char *const snapshot_types[] = { "Full", "Diff", NULL };
static const char *const backend_types[] = { "File", "Uffd", NULL };

static const struct fc_json_field create_fields[] = {
	{ .name = "snapshot_path", .type = FC_JSON_STRING, .required = true },
	{ .name = "mem_file_path", .type = FC_JSON_STRING, .required = true },
	{ .name = "snapshot_type", .type = FC_JSON_STRING, .choices = snapshot_types },
};
static const struct fc_json_schema create_schema = FC_JSON_SCHEMA(create_fields);

static const struct fc_json_field backend_fields[] = {
	{ .name = "backend_type", .type = FC_JSON_STRING, .required = true, .choices = backend_types },
	{ .name = "backend_path", .type = FC_JSON_STRING, .required = true },
};
static const struct fc_json_schema backend_schema = FC_JSON_SCHEMA(backend_fields);

/* network_overrides and vsock_override are checked by hand: arrays of objects are not in fc_json's types. */
static const struct fc_json_field load_fields[] = {
	{ .name = "snapshot_path", .type = FC_JSON_STRING, .required = true },
	{ .name = "mem_file_path", .type = FC_JSON_STRING },
	{ .name = "mem_backend", .type = FC_JSON_OBJECT, .object = &backend_schema },
	{ .name = "enable_diff_snapshots", .type = FC_JSON_BOOL },
	{ .name = "track_dirty_pages", .type = FC_JSON_BOOL },
	{ .name = "resume_vm", .type = FC_JSON_BOOL },
};

static const struct fc_json_field override_fields[] = {
	{ .name = "iface_id", .type = FC_JSON_STRING, .required = true },
	{ .name = "host_dev_name", .type = FC_JSON_STRING, .required = true },
};

/* network_overrides: an array of NetworkOverride objects, each checked like a body. */
static int parse_overrides(json_object *arr, struct snapshot_load_req *out, struct vmon_error *err)
{
	static const struct fc_json_schema schema = FC_JSON_SCHEMA(override_fields);
	size_t n = json_object_array_length(arr);
	char prefix[40];
	int r;

	if (n > SNAPSHOT_MAX_NET_OVERRIDES)
		return error_set(err, -EINVAL, "network_overrides: at most %d entries", SNAPSHOT_MAX_NET_OVERRIDES);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		struct snapshot_net_override *o = &out->overrides[i];
		snprintf(prefix, sizeof(prefix), "network_overrides[%zu]", i);
		if (!json_object_is_type(e, json_type_object))
			return error_set(err, -EINVAL, "%s: expected an object", prefix);
		if ((r = fc_json_check(e, &schema, prefix, err)))
			return r;
		const char *id = fc_json_str(e, "iface_id", ""), *dev = fc_json_str(e, "host_dev_name", "");
		if (strlen(id) >= sizeof(o->iface_id) || strlen(dev) >= sizeof(o->host_dev_name))
			return error_set(err, -EINVAL, "%s: a name is too long", prefix);
		strcpy(o->iface_id, id);
		strcpy(o->host_dev_name, dev);
	}
	out->noverrides = (unsigned)n;
	return 0;
}

static int nonempty_path(const char *field, const char *path, struct vmon_error *err)
{
	if (!path[0])
		return error_set(err, -EINVAL, "%s: must not be empty", field);
	return 0;
}

int snapshot_create_req_parse(const char *body, struct snapshot_create_req *out, struct vmon_error *err)
{
	json_object *obj;
	bool ok = true;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = fc_json_parse_object(body, &create_schema, &obj, err)))
		return r;
	if (!(r = nonempty_path("snapshot_path", fc_json_str(obj, "snapshot_path", ""), err)) &&
	    !(r = nonempty_path("mem_file_path", fc_json_str(obj, "mem_file_path", ""), err))) {
		out->snapshot_path = fc_json_strdup(fc_json_str(obj, "snapshot_path", NULL), &ok);
		out->mem_file_path = fc_json_strdup(fc_json_str(obj, "mem_file_path", NULL), &ok);
		out->diff = !strcmp(fc_json_str(obj, "snapshot_type", "Full"), "Diff");
		if (!ok)
			r = error_set(err, -ENOMEM, "out of memory");
	}
	json_object_put(obj);
	if (r)
		snapshot_create_req_free(out);
	return r;
}

/* vsock_override: VsockOverride {uds_path}, checked like a body. */
static int parse_vsock_override(json_object *v, struct snapshot_load_req *out, struct vmon_error *err)
{
	static const struct fc_json_field fields[] = { { .name = "uds_path", .type = FC_JSON_STRING, .required = true } };
	static const struct fc_json_schema schema = FC_JSON_SCHEMA(fields);
	int r;

	if (!json_object_is_type(v, json_type_object))
		return error_set(err, -EINVAL, "vsock_override: expected an object");
	if ((r = fc_json_check(v, &schema, NULL, err))) {
		error_prefix(err, "vsock_override");
		return r;
	}
	const char *path = fc_json_str(v, "uds_path", "");
	if (!path[0] || strlen(path) >= sizeof(out->vsock_uds_path))
		return error_set(err, -EINVAL, "vsock_override.uds_path: must be 1 to %zu bytes",
				 sizeof(out->vsock_uds_path) - 1);
	strcpy(out->vsock_uds_path, path);
	return 0;
}

/* Parses body with the hand-checked fields taken out first (their own checks), the rest by schema. */
int snapshot_load_req_parse(const char *body, struct snapshot_load_req *out, struct vmon_error *err)
{
	static const struct fc_json_schema load_schema = FC_JSON_SCHEMA(load_fields);
	json_object *obj, *overrides = NULL, *vsock = NULL;
	bool ok = true;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = fc_json_parse(body, strlen(body), &obj, err)))
		return r;
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return error_set(err, -EINVAL, "the body must be a JSON object");
	}
	if (json_object_object_get_ex(obj, "network_overrides", &overrides)) {
		json_object_get(overrides);
		json_object_object_del(obj, "network_overrides");
	}
	if (json_object_object_get_ex(obj, "vsock_override", &vsock)) {
		json_object_get(vsock);
		json_object_object_del(obj, "vsock_override");
	}
	if ((r = fc_json_check(obj, &load_schema, NULL, err)))
		goto out;
	if (overrides && !json_object_is_type(overrides, json_type_array)) {
		r = error_set(err, -EINVAL, "network_overrides: expected an array");
		goto out;
	}
	if (overrides && (r = parse_overrides(overrides, out, err)))
		goto out;
	if (vsock && (r = parse_vsock_override(vsock, out, err)))
		goto out;
	json_object *backend = fc_json_get(obj, "mem_backend");
	const char *mem_file = fc_json_str(obj, "mem_file_path", NULL);
	if (!backend == !mem_file) {
		r = error_set(err, -EINVAL, "exactly one of mem_backend and mem_file_path must be given");
		goto out;
	}
	const char *mem = backend ? fc_json_str(backend, "backend_path", "") : mem_file;
	if ((r = nonempty_path("snapshot_path", fc_json_str(obj, "snapshot_path", ""), err)) ||
	    (r = nonempty_path(backend ? "mem_backend.backend_path" : "mem_file_path", mem, err)))
		goto out;
	out->snapshot_path = fc_json_strdup(fc_json_str(obj, "snapshot_path", NULL), &ok);
	out->mem_path = fc_json_strdup(mem, &ok);
	out->uffd = backend && !strcmp(fc_json_str(backend, "backend_type", "File"), "Uffd");
	out->track_dirty_pages = fc_json_bool(obj, "track_dirty_pages", false) ||
				 fc_json_bool(obj, "enable_diff_snapshots", false);
	out->resume_vm = fc_json_bool(obj, "resume_vm", false);
	if (!ok)
		r = error_set(err, -ENOMEM, "out of memory");
out:
	json_object_put(overrides);
	json_object_put(vsock);
	json_object_put(obj);
	if (r)
		snapshot_load_req_free(out);
	return r;
}

void snapshot_create_req_free(struct snapshot_create_req *r)
{
	free(r->snapshot_path);
	free(r->mem_file_path);
	memset(r, 0, sizeof(*r));
}

void snapshot_load_req_free(struct snapshot_load_req *r)
{
	free(r->snapshot_path);
	free(r->mem_path);
	memset(r, 0, sizeof(*r));
}
