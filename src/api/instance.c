/* SPDX-License-Identifier: MIT */
/*
 * The API's endpoints (Firecracker's paths, bodies, status codes and error
 * shape) on one instance, and the main thread's side: start, run, stop.
 */
#include "api/instance.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/fc_json.h"
#include "base/log.h"
#include "base/thread.h"
#include "snapshot/snapshot.h"
#include "vmm/dirty.h"
#include "base/utf8.h"
#include "api/migration_api.h"
#include "vmm/metrics_source.h"

/* Firecracker's own texts for requests in the wrong phase: clients match on them. */
#define MSG_AFTER_START "The requested operation is not supported after starting the microVM."
#define MSG_BEFORE_START "The requested operation is not supported before starting the microVM."

const char *instance_state_name(enum instance_state s)
{
	switch (s) {
	case INSTANCE_NOT_STARTED:
	case INSTANCE_STARTING:
		return "Not started";
	case INSTANCE_RUNNING:
		return "Running";
	case INSTANCE_PAUSED:
		return "Paused";
	case INSTANCE_STOPPED:
		return "Stopped";
	}
	return "Not started";
}

/* ---- responses ------------------------------------------------------------- */

static void respond_json(struct http_response *resp, int status, struct json_object *obj)
{
	const char *text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);

	resp->status = status;
	resp->body = strdup(text);
	resp->body_len = resp->body ? strlen(resp->body) : 0;
	if (!resp->body)
		resp->status = 500;
	json_object_put(obj);
}

static void respond_text(struct http_response *resp, int status, char *owned_body, const char *content_type)
{
	resp->status = owned_body ? status : 500;
	resp->body = owned_body;
	resp->body_len = owned_body ? strlen(owned_body) : 0;
	resp->content_type = content_type;
}

static void respond_fault(struct http_response *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void respond_fault(struct http_response *resp, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	utf8_repair(msg);   /* it may quote the client's bytes (the path), or be cut inside a character */
	struct json_object *obj = json_object_new_object();
	json_object_object_add(obj, "fault_message", json_object_new_string(msg));
	respond_json(resp, status, obj);
}

static void respond_no_content(struct http_response *resp)
{
	resp->status = 204;
	resp->body = NULL;
	resp->body_len = 0;
}

/* 204 on success, 400 with the error's text otherwise. */
static void respond_result(struct http_response *resp, int r, const struct vmon_error *err)
{
	if (r)
		respond_fault(resp, 400, "%s", err->msg[0] ? err->msg : strerror(-r));
	else
		respond_no_content(resp);
}

/* ---- request helpers ------------------------------------------------------- */

bool instance_started(const struct instance *in)
{
	return in->state != INSTANCE_NOT_STARTED;
}

bool instance_running(const struct instance *in)
{
	return in->state == INSTANCE_RUNNING || in->state == INSTANCE_PAUSED;
}

/*
 * "/drives/ID" -> "ID" when path is prefix + one non-empty segment; NULL
 * otherwise. The id is checked here once for every resource with one.
 */
static const char *path_id(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(path, prefix, n) || path[n] != '/' || !path[n + 1] || strchr(path + n + 1, '/'))
		return NULL;
	return path + n + 1;
}

/*
 * A body that is exactly {"KEY": "<one of values>"} (values NULL-terminated),
 * checked like every other body (fc_json: strict JSON, unknown fields,
 * required, the enum): the value's index, or -1 with err.
 */
static int parse_enum_body(const char *body, const char *key, const char *const *values, struct vmon_error *err)
{
	const struct fc_json_field field = { .name = key, .type = FC_JSON_STRING, .required = true, .choices = values };
	const struct fc_json_schema schema = { &field, 1 };
	json_object *obj;
	int found;

	if (fc_json_parse_object(body, &schema, &obj, err))
		return -1;
	found = fc_json_choice(values, fc_json_str(obj, key, ""), false);
	json_object_put(obj);
	return found;
}

/* ---- endpoints ------------------------------------------------------------- */

static void get_instance_info(struct instance *in, struct http_response *resp)
{
	struct json_object *obj = json_object_new_object();

	json_object_object_add(obj, "id", json_object_new_string(in->args->id));
	json_object_object_add(obj, "state", json_object_new_string(instance_state_name(in->state)));
	json_object_object_add(obj, "vmm_version", json_object_new_string(VMON_VERSION));
	json_object_object_add(obj, "app_name", json_object_new_string("vmon"));
	respond_json(resp, 200, obj);
}

static void get_version(struct http_response *resp)
{
	struct json_object *obj = json_object_new_object();

	json_object_object_add(obj, "firecracker_version", json_object_new_string(VMON_VERSION));
	respond_json(resp, 200, obj);
}

/* One Firecracker metrics line to the sink; the lock is held. */
int instance_write_metrics_line(struct instance *in, struct vmon_error *err)
{
	struct vm_metrics *vmm = NULL;
	struct timespec now;
	int r;

	if (!in->metrics_configured)
		return error_set(err, -EINVAL, "the metrics system is not initialized (PUT /metrics first)");
	if (instance_running(in) && (vmm = malloc(sizeof(*vmm))))
		vm_metrics_snapshot(in->machine.vm, vmm);
	clock_gettime(CLOCK_REALTIME, &now);
	api_counters_sync_logger(&in->counters, log_missed_lines(), &in->metrics);
	char *line = metrics_firecracker_json(&in->baseline, vmm, &in->counters,
					      (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000);
	if (!line) {
		free(vmm);
		return error_set(err, -ENOMEM, "out of memory");
	}
	r = metrics_sink_write_line(&in->metrics, line, 100);
	if (!r)
		metrics_baseline_commit(&in->baseline, vmm, &in->counters);
	else
		error_set(err, r, "writing the metrics line: %s",
			  r == -EAGAIN ? "nobody reads the FIFO and it is full" : strerror(-r));
	free(line);
	free(vmm);
	return r;
}

static void *metrics_timer(void *arg)
{
	struct instance *in = arg;

	pthread_mutex_lock(&in->lock);
	while (!in->shutting_down) {
		struct timespec deadline;
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += FC_METRICS_PERIOD_S;
		int r = 0;
		while (!in->shutting_down && r != ETIMEDOUT)
			r = pthread_cond_timedwait(&in->cond, &in->lock, &deadline);
		struct vmon_error err = { 0 };
		if (!in->shutting_down && instance_write_metrics_line(in, &err))
			log_warn("periodic metrics: %s", err.msg);
	}
	pthread_mutex_unlock(&in->lock);
	return NULL;
}

int instance_open_metrics(struct instance *in, const char *path, struct vmon_error *err)
{
	if (in->metrics_configured)
		return error_set(err, -EINVAL, "the metrics system is already initialized");
	if (metrics_sink_open(&in->metrics, path, err))
		return -EINVAL;
	in->metrics_configured = true;
	int r = thread_start_without_signals(&in->metrics_thread, metrics_timer, in, "fc_metrics");
	if (r)
		log_warn("no periodic metrics: cannot start a thread: %s", strerror(r));
	in->metrics_thread_started = r == 0;
	return 0;
}

int instance_apply_logger(struct instance *in, const struct fc_logger *l, struct vmon_error *err)
{
	static const enum log_level levels[] = {
		[FC_LOG_ERROR] = LOG_ERROR, [FC_LOG_WARNING] = LOG_WARN, [FC_LOG_INFO] = LOG_INFO,
		[FC_LOG_DEBUG] = LOG_DEBUG, [FC_LOG_TRACE] = LOG_TRACE, [FC_LOG_OFF] = LOG_OFF,
	};

	if (log_set_instance_id(in->args->id, err))
		return -EINVAL;
	if (l->log_path && log_set_output_path(l->log_path, err))
		return -EINVAL;
	log_set_format(LOG_FORMAT_FIRECRACKER);
	log_configure(levels[l->level], l->show_level, l->show_log_origin);
	in->logger_configured = true;
	return 0;
}

/* The boot's vm_config from the API's description (the lock is held). */
int instance_description_to_config(struct instance *in, struct vmon_error *err)
{
	const char *field = NULL;
	int r;

	vm_config_init(&in->cfg);
	/* Firecracker's default is virtio-mmio; --enable-pci (Firecracker >= 1.13) puts devices on PCI. */
	in->cfg.virtio_transport = in->args->enable_pci ? VIRTIO_TRANSPORT_PCI : VIRTIO_TRANSPORT_MMIO;
	if ((r = fc_spec_to_vm_config(&in->spec, &in->cfg, err)))
		return r;
	in->cfg.vcpus_on_own_threads = true;
	in->cfg.announce_boot_time = in->args->boot_timer;
	return vm_config_check(&in->cfg, &field, err);
}

int instance_set_restore(struct instance *in, const char *snapshot_path, const char *mem_path, bool uffd,
			 bool resume, struct vmon_error *err)
{
	char *snap = strdup(snapshot_path), *mem = strdup(mem_path);

	if (!snap || !mem) {
		free(snap);
		free(mem);
		return error_set(err, -ENOMEM, "out of memory");
	}
	free(in->restore_snapshot);
	free(in->restore_mem);
	in->restore = true;
	in->restore_snapshot = snap;
	in->restore_mem = mem;
	in->restore_resume = resume;
	in->restore_track_dirty = false;
	in->restore_noverrides = 0;
	in->restore_uffd = uffd;
	in->restore_requested = in->start_time;
	return 0;
}

int instance_wake_main(struct instance *in, struct vmon_error *err)
{
	uint64_t one = 1;

	in->state = INSTANCE_STARTING;
	in->start_requested = true;
	in->start_done = false;
	if (write(in->start_eventfd, &one, sizeof(one)) != sizeof(one)) {
		in->state = INSTANCE_NOT_STARTED;
		return error_set(err, -errno, "waking the main thread: %s", strerror(errno));
	}
	return 0;
}

/* The main thread builds and boots; this waits for its answer (the API is one request at a time anyway). */
static int request_start(struct instance *in, struct vmon_error *err)
{
	int r;

	if (!in->restore && (r = instance_description_to_config(in, err)))
		return r;
	if ((r = instance_wake_main(in, err)))
		return r;
	while (!in->start_done)
		pthread_cond_wait(&in->cond, &in->lock);
	if (in->start_status) {
		*err = in->start_err;
		return -EINVAL;
	}
	return 0;
}

static void put_actions(struct instance *in, const char *body, struct http_response *resp)
{
	static const char *const actions[] = { "InstanceStart", "SendCtrlAltDel", "FlushMetrics", NULL };
	struct vmon_error err = { 0 };
	int r = 0;

	switch (parse_enum_body(body, "action_type", actions, &err)) {
	case 0:
		if (instance_started(in)) {
			respond_fault(resp, 400, MSG_AFTER_START);
			return;
		}
		r = request_start(in, &err);
		break;
	case 1:
		if (!instance_running(in)) {
			respond_fault(resp, 400, MSG_BEFORE_START);
			return;
		}
		r = vm_send_ctrl_alt_del(in->machine.vm, &err);
		break;
	case 2:
		r = instance_write_metrics_line(in, &err);
		break;
	default:
		r = -EINVAL;
		break;
	}
	respond_result(resp, r, &err);
}

static void patch_vm(struct instance *in, const char *body, struct http_response *resp)
{
	static const char *const states[] = { "Paused", "Resumed", NULL };
	struct vmon_error err = { 0 };
	int want = parse_enum_body(body, "state", states, &err);

	if (want < 0) {
		respond_fault(resp, 400, "%s", err.msg);
		return;
	}
	if (!instance_running(in)) {
		respond_fault(resp, 400, in->state == INSTANCE_STOPPED ? "the microVM has stopped" : MSG_BEFORE_START);
		return;
	}
	if (want == 0 && in->state == INSTANCE_RUNNING) {
		vm_pause(in->machine.vm);
		in->state = INSTANCE_PAUSED;
		log_info("VM paused");
	} else if (want == 1 && in->state == INSTANCE_PAUSED) {
		vm_resume(in->machine.vm);
		in->state = INSTANCE_RUNNING;
		log_info("VM resumed");
	}
	respond_no_content(resp);
}

static void put_logger(struct instance *in, const char *body, struct http_response *resp)
{
	struct vmon_error err = { 0 };
	int r = fc_spec_put_logger(&in->spec, body, &err);

	if (!r)
		r = instance_apply_logger(in, &in->spec.logger, &err);
	respond_result(resp, r, &err);
}

static void put_metrics(struct instance *in, const char *body, struct http_response *resp)
{
	struct vmon_error err = { 0 };
	int r;

	if (in->metrics_configured) {
		respond_fault(resp, 400, "the metrics system is already initialized");
		return;
	}
	r = fc_spec_put_metrics(&in->spec, body, &err);
	if (!r)
		r = instance_open_metrics(in, in->spec.metrics.metrics_path, &err);
	respond_result(resp, r, &err);
}

static const struct fc_drive *spec_drive(const struct fc_spec *spec, const char *id)
{
	for (unsigned i = 0; i < spec->ndrives; i++)
		if (!strcmp(spec->drives[i].drive_id, id))
			return &spec->drives[i];
	return NULL;
}

/* Does the (already validated) JSON object body have this top-level key? */
static bool body_has(const char *body, const char *key)
{
	struct json_object *o = json_tokener_parse(body);
	bool has = o && json_object_object_get_ex(o, key, NULL);

	json_object_put(o);
	return has;
}

/*
 * PATCH /drives/{id} on a running VM (Firecracker: post-boot only): a new
 * path_on_host goes behind the guest's disk at once (Kata hot-plugs so);
 * the description follows only when the device took it.
 */
static void patch_drive(struct instance *in, const char *id, const char *body, struct http_response *resp)
{
	struct vmon_error err = { 0 };
	const struct fc_drive *d;
	char *old_path;
	int r;

	if (!instance_running(in))
		return respond_fault(resp, 400, in->state == INSTANCE_STOPPED ? "the microVM has stopped" : MSG_BEFORE_START);
	if (!(d = spec_drive(&in->spec, id)))
		return respond_fault(resp, 400, "drive_id: no drive \"%s\" (PUT /drives/%s before the start)", id, id);
	if (!(old_path = strdup(d->path_on_host)))
		return respond_fault(resp, 500, "out of memory");
	struct rate_limiter_config old_limiter = d->rate_limiter;
	r = fc_spec_patch_drive(&in->spec, id, body, &err);
	d = spec_drive(&in->spec, id);
	/* New buckets, full, as Firecracker's update_buckets (the same ones again refill them too). */
	if (!r && d && body_has(body, "rate_limiter") &&
	    (r = vm_set_drive_rate_limiter(in->machine.vm, id, &d->rate_limiter, &err)))
		in->spec.drives[d - in->spec.drives].rate_limiter = old_limiter;
	if (!r && d && strcmp(d->path_on_host, old_path) &&
	    (r = vm_replace_drive_image(in->machine.vm, id, d->path_on_host, &err))) {
		/* The guest keeps the old image: so does the description. */
		struct json_object *undo = json_object_new_object();
		struct vmon_error ignored = { 0 };
		json_object_object_add(undo, "drive_id", json_object_new_string(id));
		json_object_object_add(undo, "path_on_host", json_object_new_string(old_path));
		fc_spec_patch_drive(&in->spec, id, json_object_to_json_string(undo), &ignored);
		json_object_put(undo);
	}
	free(old_path);
	respond_result(resp, r, &err);
}

static const struct fc_net *spec_net(const struct fc_spec *spec, const char *id)
{
	for (unsigned i = 0; i < spec->nnets; i++)
		if (!strcmp(spec->nets[i].iface_id, id))
			return &spec->nets[i];
	return NULL;
}

/* PATCH /network-interfaces/{id} on a running VM (Firecracker: post-boot only): the rate limiters, live. */
static void patch_network_interface(struct instance *in, const char *id, const char *body,
				    struct http_response *resp)
{
	struct vmon_error err = { 0 };
	const struct fc_net *n;
	int r;

	if (!instance_running(in))
		return respond_fault(resp, 400, in->state == INSTANCE_STOPPED ? "the microVM has stopped" : MSG_BEFORE_START);
	if (!(n = spec_net(&in->spec, id)))
		return respond_fault(resp, 400, "iface_id: no network interface \"%s\" (PUT /network-interfaces/%s "
				     "before the start)", id, id);
	struct rate_limiter_config old_rx = n->rx_rate_limiter, old_tx = n->tx_rate_limiter;
	r = fc_spec_patch_network_interface(&in->spec, id, body, &err);
	n = spec_net(&in->spec, id);
	if (!r && (r = vm_set_net_rate_limiters(in->machine.vm, id, &n->rx_rate_limiter, &n->tx_rate_limiter, &err))) {
		struct fc_net *w = &in->spec.nets[n - in->spec.nets];
		w->rx_rate_limiter = old_rx;
		w->tx_rate_limiter = old_tx;
	}
	respond_result(resp, r, &err);
}

/* PUT /snapshot/create: a full snapshot of the paused VM (Firecracker's rule: pause first). */
static void put_snapshot_create(struct instance *in, const char *body, struct http_response *resp)
{
	struct snapshot_create_req req;
	struct vmon_error err = { 0 };
	int r;

	if ((r = snapshot_create_req_parse(body, &req, &err)))
		return respond_fault(resp, 400, "%s", err.msg);
	if (in->state != INSTANCE_PAUSED)
		r = error_set(&err, -EINVAL, "%s", instance_running(in) ? "the microVM must be paused first (PATCH /vm Paused)"
					      : MSG_BEFORE_START);
	else if (req.diff)
		r = snapshot_create_diff(&in->machine, req.snapshot_path, req.mem_file_path, &err);
	else
		r = snapshot_create(&in->machine, req.snapshot_path, req.mem_file_path, &err);
	snapshot_create_req_free(&req);
	respond_result(resp, r, &err);
}

/* PUT /snapshot/load: before anything was configured, the main thread restores instead of booting. */
static void put_snapshot_load(struct instance *in, const char *body, struct http_response *resp)
{
	struct snapshot_load_req req;
	struct vmon_error err = { 0 };
	struct timespec arrival;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &arrival);
	if ((r = snapshot_load_req_parse(body, &req, &err)))
		return respond_fault(resp, 400, "%s", err.msg);
	if (instance_started(in))
		r = error_set(&err, -EINVAL, MSG_AFTER_START);
	else if (in->spec.boot_source.set || in->spec.ndrives || in->spec.nnets)
		r = error_set(&err, -EINVAL, "Loading a microVM snapshot not allowed after configuring boot-specific "
			      "resources.");
	else if (!(r = instance_set_restore(in, req.snapshot_path, req.mem_path, req.uffd, req.resume_vm,
						  &err))) {
		in->restore_track_dirty = req.track_dirty_pages;
		in->restore_noverrides = req.noverrides;
		memcpy(in->restore_overrides, req.overrides, sizeof(req.overrides));
		memcpy(in->restore_vsock_uds_path, req.vsock_uds_path, sizeof(req.vsock_uds_path));
		in->restore_requested = arrival;
		r = request_start(in, &err);
	}
	if (r && !instance_started(in))
		in->restore = false;
	snapshot_load_req_free(&req);
	respond_result(resp, r, &err);
}

/* A NUL-terminated field of size bytes equals want (memcmp: GCC's -Wstringop-overread misjudges strcmp here under ASan). */
static bool field_is(const char *field, size_t size, const char *want)
{
	size_t n = strlen(want);

	return n < size && !memcmp(field, want, n + 1);
}

static bool is(const struct http_request *req, const char *method, const char *path)
{
	return field_is(req->method, sizeof(req->method), method) && field_is(req->path, sizeof(req->path), path);
}

/* vmon's live migration endpoints (docs/MIGRATION.md; instance_migration.c). */
static void route_migration(struct instance *in, const struct http_request *req, const char *body,
			    struct http_response *resp)
{
	struct vmon_error err = { 0 };
	char *listen;
	int r;

	if (is(req, "GET", "/migration"))
		return respond_text(resp, 200, instance_migration_json(in), NULL);
	if (is(req, "PUT", "/migration/send"))
		return respond_result(resp, instance_migration_send(in, body, &err), &err);
	if (is(req, "PUT", "/migration/cancel"))
		return respond_result(resp, instance_migration_cancel(in, &err), &err);
	if (!is(req, "PUT", "/migration/receive"))
		return respond_fault(resp, 400, "Invalid request method and/or path: %s %s.", req->method, req->path);
	if ((r = migration_receive_req_parse(body, &listen, &err)))
		return respond_fault(resp, 400, "%s", err.msg);
	if (instance_started(in))
		r = error_set(&err, -EINVAL, MSG_AFTER_START);
	else if (in->spec.boot_source.set || in->spec.ndrives || in->spec.nnets)
		r = error_set(&err, -EINVAL, "a migration brings its own machine: receive it before configuring "
			      "boot-specific resources");
	else
		r = instance_migration_receive(in, listen, &err);
	free(listen);
	respond_result(resp, r, &err);
}

/* Endpoints of later issues: a clear answer instead of a generic 400. */
static const struct {
	const char *prefix;
	const char *what;
} not_yet[] = {
	{ "/snapshot", "only /snapshot/create and /snapshot/load are served" },
	{ "/cpu-config", "custom CPU templates are not supported" },
	{ "/hotplug", "hot-plug is not supported" },
};

/* Pre-boot PUT/PATCH of the description: 400 once started, else the spec call's result. */
#define PRE_BOOT(call)                                                              \
	do {                                                                        \
		struct vmon_error e_ = { 0 };                                       \
		if (instance_started(in)) {                                                  \
			respond_fault(resp, 400, MSG_AFTER_START);                  \
		} else {                                                            \
			int r_ = (call);                                            \
			respond_result(resp, r_, &e_);                              \
		}                                                                   \
		return;                                                             \
	} while (0)

/*
 * /balloon and /balloon/statistics. Before the start they configure (PUT) or
 * show (GET) the description; once running, the device is the truth (a
 * restored machine has its balloon from the snapshot, not from a PUT).
 */
static void route_balloon(struct instance *in, const struct http_request *req, const char *body,
			  struct http_response *resp)
{
	struct virtio_balloon *b = instance_running(in) ? virtio_devices_balloon(in->machine.vm->virtio) : NULL;
	struct vmon_error err = { 0 };
	struct balloon_status st;
	int r;

	if (b)
		virtio_balloon_status(b, &st);
	if (is(req, "PUT", "/balloon"))
		PRE_BOOT(fc_spec_put_balloon(&in->spec, body, &e_));
	if (is(req, "GET", "/balloon")) {
		if (b)
			return respond_text(resp, 200, fc_spec_balloon_json(&st.cfg), NULL);
		if (instance_started(in) || !in->spec.balloon.set)
			return respond_fault(resp, 400, "the balloon device is not configured (PUT /balloon before the start)");
		const struct balloon_config c = { .enabled = true, .amount_mib = in->spec.balloon.amount_mib,
			.deflate_on_oom = in->spec.balloon.deflate_on_oom,
			.stats_interval_s = in->spec.balloon.stats_polling_interval_s,
			.free_page_reporting = in->spec.balloon.free_page_reporting };
		return respond_text(resp, 200, fc_spec_balloon_json(&c), NULL);
	}
	bool patch = is(req, "PATCH", "/balloon"), patch_stats = is(req, "PATCH", "/balloon/statistics");
	if (!patch && !patch_stats && !is(req, "GET", "/balloon/statistics")) {
		if (!strncmp(req->path, "/balloon/hinting", 16))
			return respond_fault(resp, 400, "free page hinting is not implemented by vmon (its balloon gives "
					     "freed pages back through free_page_reporting)");
		return respond_fault(resp, 400, "Invalid request method and/or path: %s %s.", req->method, req->path);
	}
	if (!b)
		return respond_fault(resp, 400, !instance_running(in) ? MSG_BEFORE_START
					       : "the balloon device is not configured (PUT /balloon before the start)");
	if (!patch && !patch_stats) {
		if (!st.stats_enabled)
			return respond_fault(resp, 400, "balloon statistics are not enabled (stats_polling_interval_s was 0 "
					     "at the start)");
		return respond_text(resp, 200, fc_spec_balloon_stats_json(&st), NULL);
	}
	/* The body checked against what the device runs with (after a restore the description has no balloon). */
	struct fc_spec now;
	fc_spec_init(&now);
	now.machine.mem_size_mib = in->machine.vm->mem.ram_size >> 20;
	now.balloon = (struct fc_balloon){ .set = true, .amount_mib = st.cfg.amount_mib,
		.stats_polling_interval_s = st.cfg.stats_interval_s };
	if (patch)
		r = fc_spec_patch_balloon(&now, body, &err) ||
		    virtio_balloon_set_target(b, now.balloon.amount_mib, &err) ? -EINVAL : 0;
	else
		r = fc_spec_patch_balloon_stats(&now, body, &err) ||
		    virtio_balloon_set_stats_interval(b, now.balloon.stats_polling_interval_s, &err) ? -EINVAL : 0;
	if (!r && in->spec.balloon.set) {
		in->spec.balloon.amount_mib = now.balloon.amount_mib;
		in->spec.balloon.stats_polling_interval_s = now.balloon.stats_polling_interval_s;
	}
	fc_spec_free(&now);
	respond_result(resp, r, &err);
}

static void route(struct instance *in, const struct http_request *req, struct http_response *resp)
{
	const char *body = req->body ? req->body : "";
	const char *id;

	if (is(req, "GET", "/"))
		return get_instance_info(in, resp);
	if (is(req, "GET", "/version"))
		return get_version(resp);
	if (is(req, "GET", "/machine-config"))
		return respond_text(resp, 200, fc_spec_machine_config_json(&in->spec), NULL);
	if (is(req, "GET", "/vm/config"))
		return respond_text(resp, 200, fc_spec_vm_config_json(&in->spec), NULL);
	if (is(req, "GET", "/metrics")) {
		struct vm_metrics *vmm = instance_running(in) ? malloc(sizeof(*vmm)) : NULL;
		if (vmm)
			vm_metrics_snapshot(in->machine.vm, vmm);
		char *text = metrics_prometheus_text(vmm, &in->counters);
		free(vmm);
		return respond_text(resp, 200, text, "text/plain; version=0.0.4");
	}
	if (is(req, "PUT", "/actions"))
		return put_actions(in, body, resp);
	if (is(req, "PUT", "/snapshot/create"))
		return put_snapshot_create(in, body, resp);
	if (is(req, "PUT", "/snapshot/load"))
		return put_snapshot_load(in, body, resp);
	if (!strncmp(req->path, "/migration", 10) && (!req->path[10] || req->path[10] == '/'))
		return route_migration(in, req, body, resp);
	if (instance_migration_active(in) && (is(req, "PATCH", "/vm") || is(req, "PUT", "/snapshot/create") ||
					      path_id(req->path, "/drives")))
		return respond_fault(resp, 400, "a live migration is in progress (PUT /migration/cancel to stop it)");
	if (is(req, "PATCH", "/vm"))
		return patch_vm(in, body, resp);
	if (is(req, "PUT", "/boot-source"))
		PRE_BOOT(fc_spec_put_boot_source(&in->spec, body, &e_));
	if (is(req, "PUT", "/machine-config"))
		PRE_BOOT(fc_spec_put_machine_config(&in->spec, body, &e_));
	if (is(req, "PATCH", "/machine-config"))
		PRE_BOOT(fc_spec_patch_machine_config(&in->spec, body, &e_));
	if (is(req, "PUT", "/vsock"))
		PRE_BOOT(fc_spec_put_vsock(&in->spec, body, &e_));
	if (is(req, "PUT", "/entropy"))
		PRE_BOOT(fc_spec_put_entropy(&in->spec, body, &e_));
	if (!strncmp(req->path, "/balloon", 8) && (!req->path[8] || req->path[8] == '/'))
		return route_balloon(in, req, body, resp);
	if (is(req, "PUT", "/serial"))
		PRE_BOOT(fc_spec_put_serial(&in->spec, body, &e_));
	if (is(req, "PUT", "/mmds/config"))
		PRE_BOOT(fc_spec_put_mmds_config(&in->spec, body, &e_));
	if (is(req, "PUT", "/logger")) {
		if (instance_started(in))
			return respond_fault(resp, 400, MSG_AFTER_START);
		return put_logger(in, body, resp);
	}
	if (is(req, "PUT", "/metrics")) {
		if (instance_started(in))
			return respond_fault(resp, 400, MSG_AFTER_START);
		return put_metrics(in, body, resp);
	}
	if ((id = path_id(req->path, "/drives"))) {
		if (!strcmp(req->method, "PUT"))
			PRE_BOOT(fc_spec_put_drive(&in->spec, id, body, &e_));
		if (!strcmp(req->method, "PATCH"))
			return patch_drive(in, id, body, resp);
	}
	if ((id = path_id(req->path, "/network-interfaces"))) {
		if (!strcmp(req->method, "PUT"))
			PRE_BOOT(fc_spec_put_network_interface(&in->spec, id, body, &e_));
		if (!strcmp(req->method, "PATCH"))
			return patch_network_interface(in, id, body, resp);
	}
	if (!strcmp(req->path, "/mmds")) {
		struct vmon_error err = { 0 };
		bool put = !strcmp(req->method, "PUT"), patch = !strcmp(req->method, "PATCH");
		if (!strcmp(req->method, "GET")) {
			if (!mmds_is_set(in->mmds))
				return respond_fault(resp, 404, "The MMDS data store is not initialized.");
			return respond_text(resp, 200, mmds_get_json(in->mmds), NULL);
		}
		if (put || patch) {
			int r = put ? mmds_put(in->mmds, body, &err) : mmds_patch(in->mmds, body, &err);
			if (r == -E2BIG)   /* Firecracker's answer to content over --mmds-size-limit */
				return respond_fault(resp, 413, "%s", err.msg);
			return respond_result(resp, r, &err);
		}
	}
	for (size_t i = 0; i < sizeof(not_yet) / sizeof(not_yet[0]); i++) {
		size_t n = strlen(not_yet[i].prefix);
		if (!strncmp(req->path, not_yet[i].prefix, n) && (req->path[n] == '\0' || req->path[n] == '/'))
			return respond_fault(resp, 400, "%s", not_yet[i].what);
	}
	respond_fault(resp, 400, "Invalid request method and/or path: %s %s.", req->method, req->path);
}

void instance_handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct instance *in = ctx;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_mutex_lock(&in->lock);
	route(in, req, resp);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	uint64_t us = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000ll + (t1.tv_nsec - t0.tv_nsec)) / 1000;
	api_counters_record(&in->counters, api_method_of(req->method), api_endpoint_of_path(req->path),
			    resp->status < 300, us);
	if (is(req, "PATCH", "/vm") && resp->status < 300)
		in->counters.latency_us[strstr(req->body, "Paused") ? API_LATENCY_PAUSE_VM : API_LATENCY_RESUME_VM] = us;
	pthread_mutex_unlock(&in->lock);
	if (resp->status >= 400)
		log_warn("API %s %s: %d %.*s", req->method, req->path, resp->status, (int)resp->body_len,
			 resp->body ? resp->body : "");
	else
		log_debug("API %s %s: %d", req->method, req->path, resp->status);
}

