/* SPDX-License-Identifier: MIT */
#ifndef VMON_API_METRICS_H
#define VMON_API_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "api/metrics_sink.h"
#include "vmm/metrics_source.h"

/*
 * Metrics: what the API layer counts (struct api_counters) and what the VM
 * counts (struct vm_metrics, vmm/metrics_source.h), formatted two ways.
 *
 * 1. Firecracker's metrics line (docs/metrics.md, src/vmm/src/logger/
 *    metrics.rs upstream): one JSON object per flush, "utc_timestamp_ms"
 *    first. As in Firecracker, counters (SharedIncMetric) report the
 *    increase since the last flush and values (SharedStoreMetric: start-up
 *    and action latencies, signals) report what they are. The increase is
 *    taken against a struct metrics_baseline, which the caller commits once
 *    the line is written, so a line that could not be written loses nothing.
 *
 *    Groups and fields present (vmon counts these):
 *      api_server: process_startup_time_us, process_startup_time_cpu_us
 *      get_api_requests: instance_info_count, machine_cfg_count, mmds_count,
 *        vmm_version_count, hotplug_memory_count
 *      put_api_requests: actions, boot_source, drive, logger, machine_cfg,
 *        cpu_cfg, metrics, network, mmds, vsock, pmem, serial,
 *        hotplug_memory (each _count and _fails)
 *      patch_api_requests: drive, network, machine_cfg, mmds,
 *        hotplug_memory (each _count and _fails)
 *      latencies_us: pause_vm, resume_vm, full_create_snapshot,
 *        diff_create_snapshot, load_snapshot (the last one of each)
 *      logger: missed_metrics_count, metrics_fails, missed_log_count
 *      block, block_<id>: read_count, write_count, read_bytes, write_bytes,
 *        flush_count, queue_event_count, rate_limiter_throttled_events
 *      net, net_<id>: rx_bytes_count, rx_packets_count, tx_bytes_count,
 *        tx_packets_count, no_rx_avail_buffer, rx_rate_limiter_throttled,
 *        tx_rate_limiter_throttled
 *      entropy: entropy_event_count, entropy_bytes,
 *        entropy_rate_limiter_throttled
 *      i8042: read_count, write_count, reset_count
 *      uart: write_count (bytes the guest sent), read_count (bytes it read)
 *      vcpu: exit_io_in, exit_io_out, exit_mmio_read, exit_mmio_write, failures
 *      signals: sighup
 *    Absent (vmon does not count them; no zero stands in for a count that
 *    was never taken): balloon, deprecated_api, mmds, rtc, seccomp,
 *    vmm (panic_count), vsock, vhost_user_*, interrupts, memory_hotplug,
 *    pmem groups; api_server's other fields; latencies_us.vmm_*;
 *    entropy: activate_fails, entropy_event_fails, host_rng_fails,
 *    rate_limiter_event_count;
 *    block: activate_fails, cfg_fails, no_avail_buffer, event_fails,
 *    execute_fails, invalid_reqs_count, rate_limiter_event_count, update_count,
 *    update_fails, read_agg, write_agg, io_engine_throttled_events,
 *    remaining_reqs_count; net: activate_fails, cfg_fails,
 *    mac_address_updates, no_tx_avail_buffer, event_fails,
 *    rx/tx_queue_event_count, rx/tx_rate_limiter_event_count, rx_tap_event_count,
 *    rx_fails, rx_count, tap_read_fails, tap_write_fails, tap_write_agg,
 *    tx_malformed_frames, tx_fails, tx_count, tx_partial_reads,
 *    tx_spoofed_mac_count, tx_remaining_reqs_count; uart: error_count,
 *    flush_count, missed_read_count, missed_write_count; i8042: error_count,
 *    missed_read_count, missed_write_count; vcpu: kvmclock_ctrl_fails and
 *    the *_agg latencies; signals other than sighup.
 *    Before the VM exists (vm NULL) its groups report zeros: nothing ran.
 *
 * 2. Prometheus text exposition format 0.0.4: cumulative counters named
 *    vmon_*, with labels for the vCPU, device, method and endpoint; # HELP
 *    and # TYPE once per metric, its samples together.
 */

enum api_method { API_METHOD_GET, API_METHOD_PUT, API_METHOD_PATCH, API_METHOD_OTHER, API_METHOD_COUNT };

/* Firecracker's resources (firecracker-api.yaml paths); OTHER: no such resource. */
enum api_endpoint {
	API_EP_ROOT,              /* /: instance info */
	API_EP_ACTIONS,
	API_EP_BALLOON,           /* /balloon and below */
	API_EP_BOOT_SOURCE,
	API_EP_CPU_CONFIG,
	API_EP_DRIVES,            /* /drives/{drive_id} */
	API_EP_ENTROPY,
	API_EP_HOTPLUG_MEMORY,
	API_EP_LOGGER,
	API_EP_MACHINE_CONFIG,
	API_EP_METRICS,
	API_EP_MMDS,              /* /mmds, /mmds/config */
	API_EP_NETWORK,           /* /network-interfaces/{iface_id} */
	API_EP_PMEM,              /* /pmem/{id} */
	API_EP_SERIAL,
	API_EP_SNAPSHOT_CREATE,
	API_EP_SNAPSHOT_LOAD,
	API_EP_VERSION,
	API_EP_VM,
	API_EP_VM_CONFIG,
	API_EP_VSOCK,
	API_EP_OTHER,
	API_EP_COUNT
};

/* Firecracker's latencies_us (SharedStoreMetric: the last value), in microseconds. */
enum api_latency {
	API_LATENCY_PAUSE_VM,
	API_LATENCY_RESUME_VM,
	API_LATENCY_FULL_CREATE_SNAPSHOT,
	API_LATENCY_DIFF_CREATE_SNAPSHOT,
	API_LATENCY_LOAD_SNAPSHOT,
	API_LATENCY_COUNT
};

struct api_request_counts {
	uint64_t count;           /* requests answered */
	uint64_t fails;           /* of those, answered with an error */
	uint64_t sum_us, max_us;  /* time to answer */
};

/*
 * What the API layer counts. One thread owns it (the API thread): it bumps
 * the counters and formats them. Plain data: a baseline copies it.
 */
struct api_counters {
	struct api_request_counts requests[API_METHOD_COUNT][API_EP_COUNT];
	uint64_t latency_us[API_LATENCY_COUNT];
	uint64_t process_startup_time_us;      /* 0 until measured */
	uint64_t process_startup_time_cpu_us;
	/* The logger group, brought up to date by api_counters_sync_logger() before formatting. */
	uint64_t missed_log_count;             /* log_missed_lines() */
	uint64_t missed_metrics_count;         /* metrics lines dropped: the FIFO had no room */
	uint64_t metrics_fails;                /* metrics lines that failed or were cut */
};

/* "GET" -> API_METHOD_GET, ...; anything else API_METHOD_OTHER. */
enum api_method api_method_of(const char *method);
/* The resource a request path names ("/drives/rootfs" -> API_EP_DRIVES); a query string is ignored. */
enum api_endpoint api_endpoint_of_path(const char *path);
/* The label Prometheus shows: "GET"; "drives", "network-interfaces", "root", ... */
const char *api_method_name(enum api_method m);
const char *api_endpoint_name(enum api_endpoint e);

/* One request answered (ok: 2xx), and how long it took. */
void api_counters_record(struct api_counters *c, enum api_method m, enum api_endpoint e, bool ok,
			 uint64_t duration_us);
/* The logger group: lines the logger lost, and the sink's missed and failed lines (sink may be NULL). */
void api_counters_sync_logger(struct api_counters *c, uint64_t log_missed, const struct metrics_sink *sink);

/* What the last written Firecracker line reported: the next reports the increase since. */
struct metrics_baseline {
	struct vm_metrics vm;       /* zeros where there was no VM */
	struct api_counters api;
};

/* Zeros: the first line then reports everything counted so far. */
void metrics_baseline_init(struct metrics_baseline *b);
/* After the line formatted from these counters was written. */
void metrics_baseline_commit(struct metrics_baseline *b, const struct vm_metrics *vm_or_NULL,
			     const struct api_counters *api);

/*
 * One Firecracker metrics line (no newline), malloc'd; NULL when out of
 * memory. since: the baseline (NULL: report cumulative values).
 */
char *metrics_firecracker_json(const struct metrics_baseline *since, const struct vm_metrics *vm_or_NULL,
			       const struct api_counters *api, uint64_t utc_ms);

/* The Prometheus text (cumulative), malloc'd; NULL when out of memory. */
char *metrics_prometheus_text(const struct vm_metrics *vm_or_NULL, const struct api_counters *api);

#endif
