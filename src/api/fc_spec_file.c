/* SPDX-License-Identifier: MIT */
/*
 * Firecracker's --config-file: one JSON object whose sections are the PUT
 * bodies of the API, each checked and applied as the request would be.
 */
#include "api/fc_spec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/fc_json.h"
#include "api/fc_spec_internal.h"
#include "api/fc_spec_schema.h"

/* One object section: schema check with the section's name as the prefix, then apply. */
static int config_section(struct fc_spec *s, json_object *sec, const char *name, const char *id,
			  const struct fc_json_schema *schema, fc_spec_apply_fn apply, struct vmon_error *err)
{
	int ret;

	if (!json_object_is_type(sec, json_type_object))
		return error_set(err, -EINVAL, "%s: expected an object", name);
	if ((ret = fc_json_check(sec, schema, NULL, err)) || (ret = apply(s, id, sec, err)))
		error_prefix(err, "%s", name);
	return ret;
}

/* "drives" and "network-interfaces": arrays of PUT bodies, each applied with its own id as the path's. */
static int config_list(struct fc_spec *s, json_object *list, const char *name, const char *id_field,
		       const struct fc_json_schema *schema, fc_spec_apply_fn apply, struct vmon_error *err)
{
	int ret;

	if (!json_object_is_type(list, json_type_array))
		return error_set(err, -EINVAL, "%s: expected an array", name);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *item = json_object_array_get_idx(list, i);
		char where[48];

		snprintf(where, sizeof(where), "%s[%zu]", name, i);
		if (!json_object_is_type(item, json_type_object))
			return error_set(err, -EINVAL, "%s: expected an object", where);
		if ((ret = config_section(s, item, where, fc_json_str(item, id_field, ""), schema, apply, err)))
			return ret;
	}
	return 0;
}

static int config_apply(struct fc_spec *s, json_object *root, struct vmon_error *err)
{
	static const char *const refused[][2] = {
		{ "cpu-config", "custom CPU templates are not supported by vmon" },
		{ "pmem", "virtio-pmem is not supported by vmon" },
		{ "memory-hotplug", "memory hotplug (virtio-mem) is not supported by vmon" },
	};
	static const char *const sections[] = { "boot-source", "drives", "machine-config", "network-interfaces",
		"logger", "metrics", "entropy", "serial", "mmds-config", "balloon",
		"vsock" };
	json_object *v;
	int ret = 0;

	json_object_object_foreach(root, key, val) {
		bool known = false;
		for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
			known = known || !strcmp(key, sections[i]);
		for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
			if (!strcmp(key, refused[i][0])) {
				/* null, or the empty list GET /vm/config shows for pmem */
				if (!json_object_is_type(val, json_type_null) &&
				    !(json_object_is_type(val, json_type_array) && json_object_array_length(val) == 0))
					return error_set(err, -EINVAL, "%s: %s", key, refused[i][1]);
				known = true;
			}
		}
		if (!known)
			return error_set(err, -EINVAL, "unknown field \"%.64s\"", key);
	}
	if (!(v = fc_json_get(root, "boot-source")))
		return error_set(err, -EINVAL, "boot-source: required");
	/* Network interfaces before mmds-config, which names them. */
	if ((ret = config_section(s, v, "boot-source", NULL, &fc_schema_boot_source, fc_spec_apply_boot_source, err)))
		return ret;
	if ((v = fc_json_get(root, "machine-config")) &&
	    (ret = config_section(s, v, "machine-config", NULL, &fc_schema_machine_config, fc_spec_apply_machine_config,
				  err)))
		return ret;
	if ((v = fc_json_get(root, "drives")) &&
	    (ret = config_list(s, v, "drives", "drive_id", &fc_schema_drive, fc_spec_apply_drive, err)))
		return ret;
	if ((v = fc_json_get(root, "network-interfaces")) &&
	    (ret = config_list(s, v, "network-interfaces", "iface_id", &fc_schema_network_interface, fc_spec_apply_network_interface, err)))
		return ret;
	static const struct {
		const char *name;
		const struct fc_json_schema *schema;
		fc_spec_apply_fn apply;
	} rest[] = {
		{ "logger", &fc_schema_logger, fc_spec_apply_logger },
		{ "metrics", &fc_schema_metrics, fc_spec_apply_metrics },
		{ "entropy", &fc_schema_entropy, fc_spec_apply_entropy },
		{ "serial", &fc_schema_serial, fc_spec_apply_serial },
		{ "mmds-config", &fc_schema_mmds_config, fc_spec_apply_mmds_config },
		{ "balloon", &fc_schema_balloon, fc_spec_apply_balloon },
		{ "vsock", &fc_schema_vsock, fc_spec_apply_vsock },
	};
	for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
		if ((v = fc_json_get(root, rest[i].name)) &&
		    (ret = config_section(s, v, rest[i].name, NULL, rest[i].schema, rest[i].apply, err)))
			return ret;
	return 0;
}

int fc_spec_load_config_file(struct fc_spec *s, const char *json, struct vmon_error *err)
{
	struct fc_spec next;
	json_object *root;
	int ret;

	if (!json)
		return error_set(err, -EINVAL, "config file: missing");
	if ((ret = fc_json_parse(json, strlen(json), &root, err)))
		return ret;
	if (!json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return error_set(err, -EINVAL, "config file: expected a JSON object");
	}
	fc_spec_init(&next);
	ret = config_apply(&next, root, err);
	json_object_put(root);
	if (ret) {
		fc_spec_free(&next);
		return ret;
	}
	fc_spec_free(s);
	*s = next;
	return 0;
}
