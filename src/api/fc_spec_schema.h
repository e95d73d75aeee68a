/* SPDX-License-Identifier: MIT */
#ifndef VMON_API_FC_SPEC_SCHEMA_H
#define VMON_API_FC_SPEC_SCHEMA_H

/*
 * The request bodies' definitions of Firecracker's OpenAPI document
 * (firecracker-api.yaml, "definitions:"), one table each: names, types,
 * required fields, enums and ranges as the document gives them. What vmon
 * refuses on top (values it cannot honour) is in fc_spec.c, not here, so that
 * these tables stay a transcription that tests/integration/test_api_schema.py
 * checks against the document.
 */

#include "api/fc_json.h"

/* Enum values, NULL-terminated; the order is that of the matching C enum in fc_spec.h. */
extern const char *const fc_cache_types[];     /* Drive.cache_type */
extern const char *const fc_io_engines[];      /* Drive.io_engine */
extern const char *const fc_log_levels[];      /* Logger.level (case-insensitive) */
extern const char *const fc_mmds_versions[];   /* MmdsConfig.version */
extern const char *const fc_cpu_templates[];   /* CpuTemplate */
extern const char *const fc_huge_pages[];      /* MachineConfiguration.huge_pages */

extern const struct fc_json_schema fc_schema_token_bucket;
extern const struct fc_json_schema fc_schema_rate_limiter;
extern const struct fc_json_schema fc_schema_boot_source;
extern const struct fc_json_schema fc_schema_drive;
extern const struct fc_json_schema fc_schema_partial_drive;
extern const struct fc_json_schema fc_schema_machine_config;
extern const struct fc_json_schema fc_schema_partial_machine_config;   /* PATCH: the same fields, none required */
extern const struct fc_json_schema fc_schema_network_interface;
extern const struct fc_json_schema fc_schema_partial_network_interface;
extern const struct fc_json_schema fc_schema_logger;
extern const struct fc_json_schema fc_schema_metrics;
extern const struct fc_json_schema fc_schema_entropy;
extern const struct fc_json_schema fc_schema_serial;
extern const struct fc_json_schema fc_schema_mmds_config;
extern const struct fc_json_schema fc_schema_vsock;
extern const struct fc_json_schema fc_schema_balloon;
extern const struct fc_json_schema fc_schema_balloon_update;        /* PATCH /balloon (BalloonUpdate) */
extern const struct fc_json_schema fc_schema_balloon_stats_update;  /* PATCH /balloon/statistics (BalloonStatsUpdate) */

#endif
