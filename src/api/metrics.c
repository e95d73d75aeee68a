/* SPDX-License-Identifier: MIT */
#include "api/metrics.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- counting ------------------------------------------------------------ */

enum api_method api_method_of(const char *method)
{
	static const char *const names[] = { "GET", "PUT", "PATCH" };

	for (unsigned i = 0; method && i < 3; i++)
		if (!strcmp(method, names[i]))
			return (enum api_method)i;
	return API_METHOD_OTHER;
}

const char *api_method_name(enum api_method m)
{
	static const char *const names[API_METHOD_COUNT] = { "GET", "PUT", "PATCH", "other" };

	return (unsigned)m < API_METHOD_COUNT ? names[m] : "other";
}

static const char *const endpoint_names[API_EP_COUNT] = {
	[API_EP_ROOT] = "root", [API_EP_ACTIONS] = "actions", [API_EP_BALLOON] = "balloon",
	[API_EP_BOOT_SOURCE] = "boot-source", [API_EP_CPU_CONFIG] = "cpu-config", [API_EP_DRIVES] = "drives",
	[API_EP_ENTROPY] = "entropy", [API_EP_HOTPLUG_MEMORY] = "hotplug-memory", [API_EP_LOGGER] = "logger",
	[API_EP_MACHINE_CONFIG] = "machine-config", [API_EP_METRICS] = "metrics", [API_EP_MMDS] = "mmds",
	[API_EP_NETWORK] = "network-interfaces", [API_EP_PMEM] = "pmem", [API_EP_SERIAL] = "serial",
	[API_EP_SNAPSHOT_CREATE] = "snapshot-create", [API_EP_SNAPSHOT_LOAD] = "snapshot-load",
	[API_EP_VERSION] = "version", [API_EP_VM] = "vm", [API_EP_VM_CONFIG] = "vm-config", [API_EP_VSOCK] = "vsock",
	[API_EP_OTHER] = "other",
};

const char *api_endpoint_name(enum api_endpoint e)
{
	return (unsigned)e < API_EP_COUNT ? endpoint_names[e] : "other";
}

/* Does path (from just after its leading '/', up to '?') equal s, or start with s and then '/' when sub? */
static bool segment_is(const char *path, size_t len, const char *s, bool sub)
{
	size_t n = strlen(s);

	return len >= n && !memcmp(path, s, n) && (len == n || (sub && path[n] == '/'));
}

enum api_endpoint api_endpoint_of_path(const char *path)
{
	static const struct { const char *path; bool sub; enum api_endpoint ep; } table[] = {
		{ "actions", false, API_EP_ACTIONS }, { "balloon", true, API_EP_BALLOON },
		{ "boot-source", false, API_EP_BOOT_SOURCE }, { "cpu-config", false, API_EP_CPU_CONFIG },
		{ "drives", true, API_EP_DRIVES }, { "entropy", false, API_EP_ENTROPY },
		{ "hotplug/memory", false, API_EP_HOTPLUG_MEMORY }, { "logger", false, API_EP_LOGGER },
		{ "machine-config", false, API_EP_MACHINE_CONFIG }, { "metrics", false, API_EP_METRICS },
		{ "mmds", true, API_EP_MMDS }, { "network-interfaces", true, API_EP_NETWORK },
		{ "pmem", true, API_EP_PMEM }, { "serial", false, API_EP_SERIAL },
		{ "snapshot/create", false, API_EP_SNAPSHOT_CREATE }, { "snapshot/load", false, API_EP_SNAPSHOT_LOAD },
		{ "version", false, API_EP_VERSION }, { "vm/config", false, API_EP_VM_CONFIG }, { "vm", false, API_EP_VM },
		{ "vsock", false, API_EP_VSOCK },
	};
	size_t len;

	if (!path || path[0] != '/')
		return API_EP_OTHER;
	path++;
	len = strcspn(path, "?#");
	if (len == 0)
		return API_EP_ROOT;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (segment_is(path, len, table[i].path, table[i].sub))
			return table[i].ep;
	return API_EP_OTHER;
}

void api_counters_record(struct api_counters *c, enum api_method m, enum api_endpoint e, bool ok,
			 uint64_t duration_us)
{
	struct api_request_counts *r;

	if ((unsigned)m >= API_METHOD_COUNT)
		m = API_METHOD_OTHER;
	if ((unsigned)e >= API_EP_COUNT)
		e = API_EP_OTHER;
	r = &c->requests[m][e];
	r->count++;
	r->fails += !ok;
	r->sum_us += duration_us;
	if (duration_us > r->max_us)
		r->max_us = duration_us;
}

void api_counters_sync_logger(struct api_counters *c, uint64_t log_missed, const struct metrics_sink *sink)
{
	c->missed_log_count = log_missed;
	if (sink) {
		c->missed_metrics_count = sink->missed;
		c->metrics_fails = sink->fails;
	}
}

void metrics_baseline_init(struct metrics_baseline *b)
{
	memset(b, 0, sizeof(*b));
}

void metrics_baseline_commit(struct metrics_baseline *b, const struct vm_metrics *vm, const struct api_counters *api)
{
	if (vm)
		b->vm = *vm;
	else
		memset(&b->vm, 0, sizeof(b->vm));
	b->api = *api;
}

/* ---- Firecracker's JSON line ---------------------------------------------- */

static const struct vm_metrics zero_vm;
static const struct api_counters zero_api;

/* The increase since the baseline; a counter below it belongs to a new VM: all of it is new. */
static uint64_t delta(uint64_t now, uint64_t then)
{
	return now >= then ? now - then : now;
}

static void put(json_object *group, const char *key, uint64_t value)
{
	json_object_object_add(group, key, json_object_new_uint64(value));
}

static json_object *add_group(json_object *root, const char *name)
{
	json_object *group = json_object_new_object();

	json_object_object_add(root, name, group);
	return group;
}

static void api_groups(json_object *root, const struct api_counters *api, const struct api_counters *old)
{
	static const struct { const char *key; enum api_endpoint ep; } gets[] = {
		{ "instance_info_count", API_EP_ROOT }, { "machine_cfg_count", API_EP_MACHINE_CONFIG },
		{ "mmds_count", API_EP_MMDS }, { "vmm_version_count", API_EP_VERSION },
		{ "hotplug_memory_count", API_EP_HOTPLUG_MEMORY },
	};
	static const struct { const char *prefix; enum api_endpoint ep; } puts[] = {
		{ "actions", API_EP_ACTIONS }, { "boot_source", API_EP_BOOT_SOURCE }, { "drive", API_EP_DRIVES },
		{ "logger", API_EP_LOGGER }, { "machine_cfg", API_EP_MACHINE_CONFIG }, { "cpu_cfg", API_EP_CPU_CONFIG },
		{ "metrics", API_EP_METRICS }, { "network", API_EP_NETWORK }, { "mmds", API_EP_MMDS },
		{ "vsock", API_EP_VSOCK }, { "pmem", API_EP_PMEM }, { "serial", API_EP_SERIAL },
		{ "hotplug_memory", API_EP_HOTPLUG_MEMORY },
	}, patches[] = {
		{ "drive", API_EP_DRIVES }, { "network", API_EP_NETWORK }, { "machine_cfg", API_EP_MACHINE_CONFIG },
		{ "mmds", API_EP_MMDS }, { "hotplug_memory", API_EP_HOTPLUG_MEMORY },
	};
	char key[64];
	json_object *g;

	g = add_group(root, "get_api_requests");
	for (size_t i = 0; i < sizeof(gets) / sizeof(gets[0]); i++)
		put(g, gets[i].key, delta(api->requests[API_METHOD_GET][gets[i].ep].count,
					  old->requests[API_METHOD_GET][gets[i].ep].count));
	for (int pass = 0; pass < 2; pass++) {
		enum api_method m = pass ? API_METHOD_PUT : API_METHOD_PATCH;
		size_t n = pass ? sizeof(puts) / sizeof(puts[0]) : sizeof(patches) / sizeof(patches[0]);
		g = add_group(root, pass ? "put_api_requests" : "patch_api_requests");
		for (size_t i = 0; i < n; i++) {
			const char *prefix = pass ? puts[i].prefix : patches[i].prefix;
			enum api_endpoint ep = pass ? puts[i].ep : patches[i].ep;
			snprintf(key, sizeof(key), "%s_count", prefix);
			put(g, key, delta(api->requests[m][ep].count, old->requests[m][ep].count));
			snprintf(key, sizeof(key), "%s_fails", prefix);
			put(g, key, delta(api->requests[m][ep].fails, old->requests[m][ep].fails));
		}
	}
}

static void latency_and_logger_groups(json_object *root, const struct api_counters *api,
				      const struct api_counters *old)
{
	static const char *const latencies[API_LATENCY_COUNT] = {
		"pause_vm", "resume_vm", "full_create_snapshot", "diff_create_snapshot", "load_snapshot",
	};
	json_object *g = add_group(root, "latencies_us");

	for (unsigned i = 0; i < API_LATENCY_COUNT; i++)
		put(g, latencies[i], api->latency_us[i]);
	g = add_group(root, "logger");
	put(g, "missed_metrics_count", delta(api->missed_metrics_count, old->missed_metrics_count));
	put(g, "metrics_fails", delta(api->metrics_fails, old->metrics_fails));
	put(g, "missed_log_count", delta(api->missed_log_count, old->missed_log_count));
}

/* The baseline's entry for the same device, or zeros. */
static const struct vm_metrics_virtio *old_device(const struct vm_metrics *old, unsigned i,
						  const struct vm_metrics_virtio *now)
{
	static const struct vm_metrics_virtio none;

	if (i < old->nvirtio && old->virtio[i].kind == now->kind && !strcmp(old->virtio[i].name, now->name))
		return &old->virtio[i];
	return &none;
}

struct blk_delta { uint64_t reads, writes, bytes_read, bytes_written, flushes, notifies, throttled; };
struct net_delta { uint64_t rx_bytes, rx_frames, tx_bytes, tx_frames, rx_no_space, rx_throttled, tx_throttled; };

static void put_blk(json_object *g, const struct blk_delta *d)
{
	put(g, "read_count", d->reads);
	put(g, "write_count", d->writes);
	put(g, "read_bytes", d->bytes_read);
	put(g, "write_bytes", d->bytes_written);
	put(g, "flush_count", d->flushes);
	put(g, "queue_event_count", d->notifies);
	put(g, "rate_limiter_throttled_events", d->throttled);
}

static void put_net(json_object *g, const struct net_delta *d)
{
	put(g, "rx_bytes_count", d->rx_bytes);
	put(g, "rx_packets_count", d->rx_frames);
	put(g, "tx_bytes_count", d->tx_bytes);
	put(g, "tx_packets_count", d->tx_frames);
	put(g, "no_rx_avail_buffer", d->rx_no_space);
	put(g, "rx_rate_limiter_throttled", d->rx_throttled);
	put(g, "tx_rate_limiter_throttled", d->tx_throttled);
}

/* Firecracker's EntropyDeviceMetrics, the fields vmon counts (one entropy device at most). */
static void entropy_group(json_object *root, const struct vm_metrics *vm, const struct vm_metrics *old)
{
	uint64_t events = 0, bytes = 0, throttled = 0;

	for (unsigned i = 0; i < vm->nvirtio; i++) {
		const struct vm_metrics_virtio *d = &vm->virtio[i], *o = old_device(old, i, d);
		if (d->kind == VM_METRICS_VIRTIO_RNG) {
			events += delta(d->notifies, o->notifies);
			bytes += delta(d->rng.bytes, o->rng.bytes);
			throttled += delta(d->rng.rate_limiter_throttled_events, o->rng.rate_limiter_throttled_events);
		}
	}
	json_object *g = add_group(root, "entropy");
	put(g, "entropy_event_count", events);
	put(g, "entropy_bytes", bytes);
	put(g, "entropy_rate_limiter_throttled", throttled);
}

/* block_<id> and net_<id> per device, then the "block" and "net" sums Firecracker always writes. */
static void device_groups(json_object *root, const struct vm_metrics *vm, const struct vm_metrics *old)
{
	struct blk_delta blk_sum = { 0 };
	struct net_delta net_sum = { 0 };
	char key[96];

	for (unsigned i = 0; i < vm->nvirtio; i++) {
		const struct vm_metrics_virtio *d = &vm->virtio[i], *o = old_device(old, i, d);
		if (d->kind == VM_METRICS_VIRTIO_BLK) {
			struct blk_delta b = {
				delta(d->blk.reads, o->blk.reads), delta(d->blk.writes, o->blk.writes),
				delta(d->blk.bytes_read, o->blk.bytes_read), delta(d->blk.bytes_written, o->blk.bytes_written),
				delta(d->blk.flushes, o->blk.flushes), delta(d->notifies, o->notifies),
				delta(d->blk.rate_limiter_throttled_events, o->blk.rate_limiter_throttled_events),
			};
			snprintf(key, sizeof(key), "block_%s", d->id);
			put_blk(add_group(root, key), &b);
			blk_sum.reads += b.reads;
			blk_sum.writes += b.writes;
			blk_sum.bytes_read += b.bytes_read;
			blk_sum.bytes_written += b.bytes_written;
			blk_sum.flushes += b.flushes;
			blk_sum.notifies += b.notifies;
			blk_sum.throttled += b.throttled;
		}
	}
	put_blk(add_group(root, "block"), &blk_sum);
	for (unsigned i = 0; i < vm->nvirtio; i++) {
		const struct vm_metrics_virtio *d = &vm->virtio[i], *o = old_device(old, i, d);
		if (d->kind == VM_METRICS_VIRTIO_NET) {
			struct net_delta n = {
				delta(d->net.rx_bytes, o->net.rx_bytes), delta(d->net.rx_frames, o->net.rx_frames),
				delta(d->net.tx_bytes, o->net.tx_bytes), delta(d->net.tx_frames, o->net.tx_frames),
				delta(d->net.rx_no_space, o->net.rx_no_space),
				delta(d->net.rx_rate_limiter_throttled, o->net.rx_rate_limiter_throttled),
				delta(d->net.tx_rate_limiter_throttled, o->net.tx_rate_limiter_throttled),
			};
			snprintf(key, sizeof(key), "net_%s", d->id);
			put_net(add_group(root, key), &n);
			net_sum.rx_bytes += n.rx_bytes;
			net_sum.rx_frames += n.rx_frames;
			net_sum.tx_bytes += n.tx_bytes;
			net_sum.tx_frames += n.tx_frames;
			net_sum.rx_no_space += n.rx_no_space;
			net_sum.rx_throttled += n.rx_throttled;
			net_sum.tx_throttled += n.tx_throttled;
		}
	}
	put_net(add_group(root, "net"), &net_sum);
	entropy_group(root, vm, old);
}

static void vcpu_group(json_object *root, const struct vm_metrics *vm, const struct vm_metrics *old)
{
	struct vm_metrics_vcpu now = { 0 }, then = { 0 };
	json_object *g = add_group(root, "vcpu");

	for (unsigned i = 0; i < vm->nvcpus; i++) {
		now.io_in += vm->vcpu[i].io_in;
		now.io_out += vm->vcpu[i].io_out;
		now.mmio_read += vm->vcpu[i].mmio_read;
		now.mmio_write += vm->vcpu[i].mmio_write;
		now.failures += vm->vcpu[i].failures;
	}
	for (unsigned i = 0; i < old->nvcpus; i++) {
		then.io_in += old->vcpu[i].io_in;
		then.io_out += old->vcpu[i].io_out;
		then.mmio_read += old->vcpu[i].mmio_read;
		then.mmio_write += old->vcpu[i].mmio_write;
		then.failures += old->vcpu[i].failures;
	}
	put(g, "exit_io_in", delta(now.io_in, then.io_in));
	put(g, "exit_io_out", delta(now.io_out, then.io_out));
	put(g, "exit_mmio_read", delta(now.mmio_read, then.mmio_read));
	put(g, "exit_mmio_write", delta(now.mmio_write, then.mmio_write));
	put(g, "failures", delta(now.failures, then.failures));
}

char *metrics_firecracker_json(const struct metrics_baseline *since, const struct vm_metrics *vm,
			       const struct api_counters *api, uint64_t utc_ms)
{
	const struct vm_metrics *old_vm = since ? &since->vm : &zero_vm;
	const struct api_counters *old_api = since ? &since->api : &zero_api;
	json_object *root = json_object_new_object(), *g;
	char *line;

	if (!root)
		return NULL;
	if (!vm)
		vm = &zero_vm;
	put(root, "utc_timestamp_ms", utc_ms);
	g = add_group(root, "api_server");
	put(g, "process_startup_time_us", api->process_startup_time_us);
	put(g, "process_startup_time_cpu_us", api->process_startup_time_cpu_us);
	device_groups(root, vm, old_vm);
	api_groups(root, api, old_api);
	g = add_group(root, "i8042");
	put(g, "read_count", delta(vm->i8042.reads, old_vm->i8042.reads));
	put(g, "write_count", delta(vm->i8042.writes, old_vm->i8042.writes));
	put(g, "reset_count", delta(vm->i8042.resets, old_vm->i8042.resets));
	g = add_group(root, "uart");
	put(g, "read_count", delta(vm->uart.rx_bytes, old_vm->uart.rx_bytes));
	put(g, "write_count", delta(vm->uart.tx_bytes, old_vm->uart.tx_bytes));
	latency_and_logger_groups(root, api, old_api);
	vcpu_group(root, vm, old_vm);
	g = add_group(root, "signals");
	put(g, "sighup", vm->signals.sighup);
	line = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return line;
}

/* ---- Prometheus text ------------------------------------------------------ */

struct text {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void __attribute__((format(printf, 2, 3))) emit(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->oom = true;
		return;
	}
	if ((size_t)n >= t->cap - t->len) {
		size_t cap = (t->cap + (size_t)n + 1) * 2;
		char *buf = realloc(t->buf, cap);
		if (!buf) {
			t->oom = true;
			return;
		}
		t->buf = buf;
		t->cap = cap;
		va_start(ap, fmt);
		vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
	}
	t->len += (size_t)n;
}

/* A label value: backslash, double quote and newline escaped (the format's rule). */
static void emit_label_value(struct text *t, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			emit(t, "\\%c", *v);
		else if (*v == '\n')
			emit(t, "\\n");
		else
			emit(t, "%c", *v);
	}
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
	emit(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

struct label {
	const char *key, *value;
};

static void sample_start(struct text *t, const char *name, const char *suffix, const struct label *labels, unsigned n)
{
	emit(t, "%s%s", name, suffix);
	for (unsigned i = 0; i < n; i++) {
		emit(t, "%s%s=\"", i ? "," : "{", labels[i].key);
		emit_label_value(t, labels[i].value);
		emit(t, "\"");
	}
	if (n)
		emit(t, "}");
}

static void sample(struct text *t, const char *name, const struct label *labels, unsigned n, uint64_t value)
{
	sample_start(t, name, "", labels, n);
	emit(t, " %llu\n", (unsigned long long)value);
}

static void sample_seconds(struct text *t, const char *name, const char *suffix, const struct label *labels,
			   unsigned n, uint64_t us)
{
	sample_start(t, name, suffix, labels, n);
	emit(t, " %llu.%06llu\n", (unsigned long long)(us / 1000000), (unsigned long long)(us % 1000000));
}

static void api_families(struct text *t, const struct api_counters *api)
{
	static const char *const latencies[API_LATENCY_COUNT] = {
		"pause_vm", "resume_vm", "full_create_snapshot", "diff_create_snapshot", "load_snapshot",
	};
	static const struct { const char *name, *type, *help; int what; } fams[] = {
		{ "vmon_api_requests_total", "counter", "API requests answered, by method and endpoint.", 0 },
		{ "vmon_api_request_failures_total", "counter", "API requests answered with an error.", 1 },
		{ "vmon_api_request_duration_seconds", "summary", "Time to answer API requests.", 2 },
		{ "vmon_api_request_duration_max_seconds", "gauge", "Longest time to answer one API request.", 3 },
	};

	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		family(t, fams[f].name, fams[f].type, fams[f].help);
		for (unsigned m = 0; m < API_METHOD_COUNT; m++) {
			for (unsigned e = 0; e < API_EP_COUNT; e++) {
				const struct api_request_counts *r = &api->requests[m][e];
				struct label l[2] = { { "method", api_method_name(m) }, { "endpoint", api_endpoint_name(e) } };
				if (!r->count)
					continue;
				if (fams[f].what == 0)
					sample(t, fams[f].name, l, 2, r->count);
				else if (fams[f].what == 1)
					sample(t, fams[f].name, l, 2, r->fails);
				else if (fams[f].what == 2) {
					sample_seconds(t, fams[f].name, "_sum", l, 2, r->sum_us);
					sample_start(t, fams[f].name, "_count", l, 2);
					emit(t, " %llu\n", (unsigned long long)r->count);
				} else
					sample_seconds(t, fams[f].name, "", l, 2, r->max_us);
			}
		}
	}
	family(t, "vmon_api_action_duration_seconds", "gauge",
	       "How long the last pause, resume or snapshot took (measured ones only).");
	for (unsigned i = 0; i < API_LATENCY_COUNT; i++) {
		struct label l = { "action", latencies[i] };
		if (api->latency_us[i])
			sample_seconds(t, "vmon_api_action_duration_seconds", "", &l, 1, api->latency_us[i]);
	}
	if (api->process_startup_time_us) {
		family(t, "vmon_process_startup_seconds", "gauge", "Time from the process start to the API being ready.");
		sample_seconds(t, "vmon_process_startup_seconds", "", NULL, 0, api->process_startup_time_us);
		family(t, "vmon_process_startup_cpu_seconds", "gauge", "CPU time the process used to start.");
		sample_seconds(t, "vmon_process_startup_cpu_seconds", "", NULL, 0, api->process_startup_time_cpu_us);
	}
	family(t, "vmon_log_lines_missed_total", "counter", "Log lines lost: the destination would block or failed.");
	sample(t, "vmon_log_lines_missed_total", NULL, 0, api->missed_log_count);
	family(t, "vmon_metrics_lines_missed_total", "counter", "Metrics lines dropped: the FIFO had no room.");
	sample(t, "vmon_metrics_lines_missed_total", NULL, 0, api->missed_metrics_count);
	family(t, "vmon_metrics_lines_failed_total", "counter", "Metrics lines that failed or were cut short.");
	sample(t, "vmon_metrics_lines_failed_total", NULL, 0, api->metrics_fails);
}

static void vcpu_families(struct text *t, const struct vm_metrics *vm)
{
	char index[16];
	uint64_t other = vm->exits_other_reason;

	family(t, "vmon_vcpu_exits_total", "counter", "KVM exits, by vCPU.");
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		snprintf(index, sizeof(index), "%u", i);
		sample(t, "vmon_vcpu_exits_total", &(struct label){ "vcpu", index }, 1, vm->vcpu[i].exits);
	}
	family(t, "vmon_vcpu_io_exits_total", "counter", "Port I/O exits, by vCPU and direction.");
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		snprintf(index, sizeof(index), "%u", i);
		sample(t, "vmon_vcpu_io_exits_total", (struct label[]){ { "vcpu", index }, { "direction", "in" } }, 2,
		       vm->vcpu[i].io_in);
		sample(t, "vmon_vcpu_io_exits_total", (struct label[]){ { "vcpu", index }, { "direction", "out" } }, 2,
		       vm->vcpu[i].io_out);
	}
	family(t, "vmon_vcpu_mmio_exits_total", "counter", "MMIO exits, by vCPU and direction.");
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		snprintf(index, sizeof(index), "%u", i);
		sample(t, "vmon_vcpu_mmio_exits_total", (struct label[]){ { "vcpu", index }, { "direction", "read" } },
		       2, vm->vcpu[i].mmio_read);
		sample(t, "vmon_vcpu_mmio_exits_total", (struct label[]){ { "vcpu", index }, { "direction", "write" } },
		       2, vm->vcpu[i].mmio_write);
	}
	family(t, "vmon_vcpu_failures_total", "counter", "Times the vCPU stopped on an error.");
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		snprintf(index, sizeof(index), "%u", i);
		sample(t, "vmon_vcpu_failures_total", &(struct label){ "vcpu", index }, 1, vm->vcpu[i].failures);
	}
	family(t, "vmon_exits_total", "counter", "KVM exits of all vCPUs, by exit reason.");
	for (unsigned r = 0; r < STATS_MAX_REASONS; r++) {
		const char *name = stats_exit_reason_name(r);
		if (!strcmp(name, "other"))
			other += vm->exits_by_reason[r];   /* one "other" series for every unnamed reason */
		else if (vm->exits_by_reason[r])
			sample(t, "vmon_exits_total", &(struct label){ "reason", name }, 1, vm->exits_by_reason[r]);
	}
	if (other)
		sample(t, "vmon_exits_total", &(struct label){ "reason", "other" }, 1, other);
}

/* One device family: a sample per device of the kind (kind -1: every device) for each of up to two directions. */
struct device_family {
	const char *name, *type, *help;
	int kind;
	const char *dir_key, *dir[2];
	uint64_t (*value)(const struct vm_metrics_virtio *d, unsigned dir);
};

static uint64_t v_notifies(const struct vm_metrics_virtio *d, unsigned x) { (void)x; return d->notifies; }
static uint64_t v_ignored(const struct vm_metrics_virtio *d, unsigned x) { (void)x; return d->ignored_notifies; }
static uint64_t v_interrupts(const struct vm_metrics_virtio *d, unsigned x) { (void)x; return d->interrupts; }
static uint64_t b_requests(const struct vm_metrics_virtio *d, unsigned x) { return x ? d->blk.writes : d->blk.reads; }
static uint64_t b_other(const struct vm_metrics_virtio *d, unsigned x)
{
	return x ? d->blk.discards + d->blk.write_zeroes : d->blk.flushes;
}
static uint64_t b_bytes(const struct vm_metrics_virtio *d, unsigned x)
{
	return x ? d->blk.bytes_written : d->blk.bytes_read;
}
static uint64_t b_errors(const struct vm_metrics_virtio *d, unsigned x) { (void)x; return d->blk.errors; }
static uint64_t n_frames(const struct vm_metrics_virtio *d, unsigned x) { return x ? d->net.tx_frames : d->net.rx_frames; }
static uint64_t n_bytes(const struct vm_metrics_virtio *d, unsigned x) { return x ? d->net.tx_bytes : d->net.rx_bytes; }
static uint64_t n_dropped(const struct vm_metrics_virtio *d, unsigned x)
{
	return x ? d->net.tx_dropped : d->net.rx_dropped;
}
static uint64_t n_no_space(const struct vm_metrics_virtio *d, unsigned x) { (void)x; return d->net.rx_no_space; }
static uint64_t b_throttled(const struct vm_metrics_virtio *d, unsigned x)
{
	(void)x;
	return d->blk.rate_limiter_throttled_events;
}
static uint64_t n_throttled(const struct vm_metrics_virtio *d, unsigned x)
{
	return x ? d->net.tx_rate_limiter_throttled : d->net.rx_rate_limiter_throttled;
}
static uint64_t r_requests(const struct vm_metrics_virtio *d, unsigned x) { (void)x; return d->rng.requests; }
static uint64_t r_bytes(const struct vm_metrics_virtio *d, unsigned x) { (void)x; return d->rng.bytes; }
static uint64_t r_throttled(const struct vm_metrics_virtio *d, unsigned x)
{
	(void)x;
	return d->rng.rate_limiter_throttled_events;
}
static uint64_t n_backend(const struct vm_metrics_virtio *d, unsigned x) { (void)x; return d->net.backend_rx_dropped; }

static void device_families(struct text *t, const struct vm_metrics *vm)
{
	static const struct device_family fams[] = {
		{ "vmon_virtio_notifications_total", "counter", "Queue notifications the device served.", -1,
		  NULL, { NULL }, v_notifies },
		{ "vmon_virtio_ignored_notifications_total", "counter",
		  "Queue notifications ignored (queue not ready, device stopped or paused).", -1, NULL, { NULL }, v_ignored },
		{ "vmon_virtio_interrupts_total", "counter", "Interrupts the device raised.", -1, NULL, { NULL },
		  v_interrupts },
		{ "vmon_block_requests_total", "counter", "Block requests done, by operation.", VM_METRICS_VIRTIO_BLK,
		  "op", { "read", "write" }, b_requests },
		{ "vmon_block_other_requests_total", "counter", "Flush and discard/write-zeroes requests done.",
		  VM_METRICS_VIRTIO_BLK, "op", { "flush", "discard" }, b_other },
		{ "vmon_block_bytes_total", "counter", "Bytes read from and written to the image.", VM_METRICS_VIRTIO_BLK,
		  "direction", { "read", "write" }, b_bytes },
		{ "vmon_block_errors_total", "counter", "Block requests answered IOERR or UNSUPP.", VM_METRICS_VIRTIO_BLK,
		  NULL, { NULL }, b_errors },
		{ "vmon_block_rate_limiter_throttled_total", "counter",
		  "Times the drive's rate limiter held a request back (each wait counted).", VM_METRICS_VIRTIO_BLK,
		  NULL, { NULL }, b_throttled },
		{ "vmon_net_frames_total", "counter", "Frames received (rx) and sent (tx) by the guest.",
		  VM_METRICS_VIRTIO_NET, "direction", { "rx", "tx" }, n_frames },
		{ "vmon_net_bytes_total", "counter", "Frame bytes received (rx) and sent (tx) by the guest.",
		  VM_METRICS_VIRTIO_NET, "direction", { "rx", "tx" }, n_bytes },
		{ "vmon_net_dropped_total", "counter", "Frames dropped (too large, malformed, refused by the host side).",
		  VM_METRICS_VIRTIO_NET, "direction", { "rx", "tx" }, n_dropped },
		{ "vmon_net_rx_no_space_total", "counter", "Frames refused for lack of guest receive buffers.",
		  VM_METRICS_VIRTIO_NET, NULL, { NULL }, n_no_space },
		{ "vmon_net_backend_rx_dropped_total", "counter", "Of those, frames the backend then dropped.",
		  VM_METRICS_VIRTIO_NET, NULL, { NULL }, n_backend },
		{ "vmon_net_rate_limiter_throttled_total", "counter",
		  "Times a rate limiter held a frame back, received (rx) or sent (tx).", VM_METRICS_VIRTIO_NET,
		  "direction", { "rx", "tx" }, n_throttled },
		{ "vmon_entropy_requests_total", "counter", "Buffers the entropy device filled.", VM_METRICS_VIRTIO_RNG,
		  NULL, { NULL }, r_requests },
		{ "vmon_entropy_bytes_total", "counter", "Random bytes the entropy device served.", VM_METRICS_VIRTIO_RNG,
		  NULL, { NULL }, r_bytes },
		{ "vmon_entropy_rate_limiter_throttled_total", "counter",
		  "Times the entropy device's rate limiter held a buffer back (each wait counted).",
		  VM_METRICS_VIRTIO_RNG, NULL, { NULL }, r_throttled },
	};

	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		bool any = false;
		for (unsigned i = 0; i < vm->nvirtio; i++)
			any |= fams[f].kind < 0 || vm->virtio[i].kind == (enum vm_metrics_virtio_kind)fams[f].kind;
		if (!any)
			continue;
		family(t, fams[f].name, fams[f].type, fams[f].help);
		for (unsigned i = 0; i < vm->nvirtio; i++) {
			const struct vm_metrics_virtio *d = &vm->virtio[i];
			if (fams[f].kind >= 0 && d->kind != (enum vm_metrics_virtio_kind)fams[f].kind)
				continue;
			struct label l[3] = { { "device", d->name }, { "id", d->id }, { fams[f].dir_key, NULL } };
			for (unsigned x = 0; x < (fams[f].dir_key ? 2u : 1u); x++) {
				l[2].value = fams[f].dir[x];
				sample(t, fams[f].name, l, fams[f].dir_key ? 3 : 2, fams[f].value(d, x));
			}
		}
	}
}

static void legacy_families(struct text *t, const struct vm_metrics *vm)
{
	family(t, "vmon_uart_bytes_total", "counter", "Bytes the guest sent (tx) and read (rx) on the serial port.");
	sample(t, "vmon_uart_bytes_total", (struct label[]){ { "device", "com1" }, { "direction", "rx" } }, 2,
	       vm->uart.rx_bytes);
	sample(t, "vmon_uart_bytes_total", (struct label[]){ { "device", "com1" }, { "direction", "tx" } }, 2,
	       vm->uart.tx_bytes);
	family(t, "vmon_i8042_accesses_total", "counter", "Guest reads of the i8042 data port and writes to it.");
	sample(t, "vmon_i8042_accesses_total", &(struct label){ "direction", "read" }, 1, vm->i8042.reads);
	sample(t, "vmon_i8042_accesses_total", &(struct label){ "direction", "write" }, 1, vm->i8042.writes);
	family(t, "vmon_i8042_resets_total", "counter", "CPU resets the guest asked the i8042 for.");
	sample(t, "vmon_i8042_resets_total", NULL, 0, vm->i8042.resets);
	family(t, "vmon_signals_total", "counter", "Stop signals handled.");
	sample(t, "vmon_signals_total", &(struct label){ "signal", "SIGINT" }, 1, vm->signals.sigint);
	sample(t, "vmon_signals_total", &(struct label){ "signal", "SIGTERM" }, 1, vm->signals.sigterm);
	sample(t, "vmon_signals_total", &(struct label){ "signal", "SIGHUP" }, 1, vm->signals.sighup);
}

char *metrics_prometheus_text(const struct vm_metrics *vm, const struct api_counters *api)
{
	struct text t = { .cap = 16384 };

	t.buf = malloc(t.cap);
	if (!t.buf)
		return NULL;
	t.buf[0] = '\0';
	api_families(&t, api);
	if (vm) {
		vcpu_families(&t, vm);
		device_families(&t, vm);
		legacy_families(&t, vm);
	}
	if (t.oom) {
		free(t.buf);
		return NULL;
	}
	return t.buf;
}
