/* SPDX-License-Identifier: MIT */
#include "api/fc_spec_schema.h"

#include <stdint.h>

#include "base/guest_mem.h"

const char *const fc_cache_types[] = { "Unsafe", "Writeback", NULL };
const char *const fc_io_engines[] = { "Sync", "Async", NULL };
const char *const fc_log_levels[] = { "Error", "Warning", "Info", "Debug", "Trace", "Off", NULL };
const char *const fc_mmds_versions[] = { "V1", "V2", NULL };
const char *const fc_cpu_templates[] = { "C3", "T2", "T2S", "T2CL", "T2A", "V1N1", "None", NULL };
const char *const fc_huge_pages[] = { "None", "Transparent", "2M", NULL };

#define STR(n, req) { .name = (n), .type = FC_JSON_STRING, .required = (req) }
#define ENUM(n, list) { .name = (n), .type = FC_JSON_STRING, .choices = (list) }
#define BOOL(n, req) { .name = (n), .type = FC_JSON_BOOL, .required = (req) }
#define INT(n, req, lo, hi) { .name = (n), .type = FC_JSON_INT, .required = (req), .min = (lo), .max = (hi) }
#define OBJ(n, schema) { .name = (n), .type = FC_JSON_OBJECT, .object = &(schema) }

static const struct fc_json_field token_bucket[] = {
	INT("one_time_burst", false, 0, INT64_MAX),
	INT("refill_time", true, 0, INT64_MAX),
	INT("size", true, 0, INT64_MAX),
};
const struct fc_json_schema fc_schema_token_bucket = FC_JSON_SCHEMA(token_bucket);

static const struct fc_json_field rate_limiter[] = {
	OBJ("bandwidth", fc_schema_token_bucket),
	OBJ("ops", fc_schema_token_bucket),
};
const struct fc_json_schema fc_schema_rate_limiter = FC_JSON_SCHEMA(rate_limiter);

static const struct fc_json_field boot_source[] = {
	STR("boot_args", false),
	STR("initrd_path", false),
	STR("kernel_image_path", true),
};
const struct fc_json_schema fc_schema_boot_source = FC_JSON_SCHEMA(boot_source);

static const struct fc_json_field drive[] = {
	STR("drive_id", true),
	STR("partuuid", false),
	BOOL("is_root_device", true),
	ENUM("cache_type", fc_cache_types),
	BOOL("is_read_only", false),
	STR("path_on_host", false),
	OBJ("rate_limiter", fc_schema_rate_limiter),
	ENUM("io_engine", fc_io_engines),
	STR("socket", false),
};
const struct fc_json_schema fc_schema_drive = FC_JSON_SCHEMA(drive);

static const struct fc_json_field partial_drive[] = {
	STR("drive_id", true),
	STR("path_on_host", false),
	OBJ("rate_limiter", fc_schema_rate_limiter),
};
const struct fc_json_schema fc_schema_partial_drive = FC_JSON_SCHEMA(partial_drive);

/*
 * mem_size_mib has no bounds in the document (Firecracker refuses 0); the
 * bounds here are vmon's guest memory limits, GUEST_MEM_MIN to GUEST_MEM_MAX.
 */
#define MEM_MIB_MIN ((int64_t)(GUEST_MEM_MIN >> 20))
#define MEM_MIB_MAX ((int64_t)(GUEST_MEM_MAX >> 20))

static const struct fc_json_field machine_config[] = {
	ENUM("cpu_template", fc_cpu_templates),
	BOOL("smt", false),
	INT("mem_size_mib", true, MEM_MIB_MIN, MEM_MIB_MAX),
	BOOL("track_dirty_pages", false),
	INT("vcpu_count", true, 1, 32),
	ENUM("huge_pages", fc_huge_pages),
};
const struct fc_json_schema fc_schema_machine_config = FC_JSON_SCHEMA(machine_config);

static const struct fc_json_field partial_machine_config[] = {
	ENUM("cpu_template", fc_cpu_templates),
	BOOL("smt", false),
	INT("mem_size_mib", false, MEM_MIB_MIN, MEM_MIB_MAX),
	BOOL("track_dirty_pages", false),
	INT("vcpu_count", false, 1, 32),
	ENUM("huge_pages", fc_huge_pages),
};
const struct fc_json_schema fc_schema_partial_machine_config = FC_JSON_SCHEMA(partial_machine_config);

static const struct fc_json_field network_interface[] = {
	STR("guest_mac", false),
	STR("host_dev_name", true),
	STR("iface_id", true),
	INT("mtu", false, 68, 65535),
	OBJ("rx_rate_limiter", fc_schema_rate_limiter),
	OBJ("tx_rate_limiter", fc_schema_rate_limiter),
};
const struct fc_json_schema fc_schema_network_interface = FC_JSON_SCHEMA(network_interface);

static const struct fc_json_field partial_network_interface[] = {
	STR("iface_id", true),
	OBJ("rx_rate_limiter", fc_schema_rate_limiter),
	OBJ("tx_rate_limiter", fc_schema_rate_limiter),
};
const struct fc_json_schema fc_schema_partial_network_interface = FC_JSON_SCHEMA(partial_network_interface);

static const struct fc_json_field logger[] = {
	{ .name = "level", .type = FC_JSON_STRING, .choices = fc_log_levels, .choices_nocase = true },
	STR("log_path", false),
	BOOL("show_level", false),
	BOOL("show_log_origin", false),
	STR("module", false),
};
const struct fc_json_schema fc_schema_logger = FC_JSON_SCHEMA(logger);

static const struct fc_json_field metrics[] = {
	STR("metrics_path", true),
	BOOL("emit_id", false),
	{ .name = "properties", .type = FC_JSON_STRING_MAP },
};
const struct fc_json_schema fc_schema_metrics = FC_JSON_SCHEMA(metrics);

static const struct fc_json_field entropy[] = {
	OBJ("rate_limiter", fc_schema_rate_limiter),
};
const struct fc_json_schema fc_schema_entropy = FC_JSON_SCHEMA(entropy);

static const struct fc_json_field serial[] = {
	STR("serial_out_path", false),
	OBJ("rate_limiter", fc_schema_token_bucket),
};
const struct fc_json_schema fc_schema_serial = FC_JSON_SCHEMA(serial);

static const struct fc_json_field mmds_config[] = {
	ENUM("version", fc_mmds_versions),
	{ .name = "network_interfaces", .type = FC_JSON_STRING_ARRAY, .required = true },
	STR("ipv4_address", false),
	BOOL("imds_compat", false),
};
const struct fc_json_schema fc_schema_mmds_config = FC_JSON_SCHEMA(mmds_config);

static const struct fc_json_field vsock[] = {
	INT("guest_cid", true, 3, UINT32_MAX),
	STR("uds_path", true),
	STR("vsock_id", false),
};
const struct fc_json_schema fc_schema_vsock = FC_JSON_SCHEMA(vsock);

static const struct fc_json_field balloon[] = {
	INT("amount_mib", true, 0, 0),
	BOOL("deflate_on_oom", true),
	INT("stats_polling_interval_s", false, 0, 0),
	BOOL("free_page_hinting", false),
	BOOL("free_page_reporting", false),
};
const struct fc_json_schema fc_schema_balloon = FC_JSON_SCHEMA(balloon);

static const struct fc_json_field balloon_update[] = {
	INT("amount_mib", true, 0, 0),
};
const struct fc_json_schema fc_schema_balloon_update = FC_JSON_SCHEMA(balloon_update);

static const struct fc_json_field balloon_stats_update[] = {
	INT("stats_polling_interval_s", true, 0, 0),
};
const struct fc_json_schema fc_schema_balloon_stats_update = FC_JSON_SCHEMA(balloon_stats_update);
