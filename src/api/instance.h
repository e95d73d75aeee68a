/* SPDX-License-Identifier: MIT */
#ifndef VMON_API_INSTANCE_H
#define VMON_API_INSTANCE_H

#include <pthread.h>
#include <stdbool.h>

#include "api/fc_spec.h"
#include "api/http_server.h"
#include "api/metrics.h"
#include "api/metrics_sink.h"
#include "api/mmds.h"
#include "api/snapshot_api.h"
#include "cli/fc_args.h"
#include "snapshot/migration.h"
#include "vmm/machine.h"

/*
 * One Firecracker-style microVM instance: its description (built up by the
 * API's pre-boot requests or a config file), its state, and the machine once
 * started. Threads: the API server's thread answers requests
 * (instance_handle); the main thread builds, boots and runs the machine
 * (instance_main). The lock guards everything here; the API thread touches
 * the running machine only under it and only in RUNNING or PAUSED, and the
 * main thread leaves those states under it before destroying the machine.
 */
/* Firecracker writes a metrics line this often, besides FlushMetrics. */
#define FC_METRICS_PERIOD_S 60

/* The source's side of a live migration (instance_migration.c). */
enum instance_migration_state {
	MIGRATION_NONE,
	MIGRATION_ACTIVE,
	MIGRATION_COMPLETED,
	MIGRATION_FAILED,
	MIGRATION_CANCELLED,
};

struct instance_migration {
	enum instance_migration_state state;
	pthread_t thread;                   /* "vmon-migrate": runs migration_send without the lock */
	bool thread_started;
	atomic_bool cancel;
	int fd;                             /* connected to the destination, handed to the thread */
	unsigned downtime_ms;
	char *destination;
	struct migration_stats stats;
	char error[320];
	bool outcome_read;                  /* a GET /migration saw the end: the source may exit */
};

enum instance_state {
	INSTANCE_NOT_STARTED,
	INSTANCE_STARTING,
	INSTANCE_RUNNING,
	INSTANCE_PAUSED,
	INSTANCE_STOPPED,
};

struct instance {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	const struct fc_args *args;
	enum instance_state state;
	struct fc_spec spec;
	struct mmds *mmds;
	struct api_counters counters;
	struct metrics_sink metrics;
	struct metrics_baseline baseline;   /* what the last metrics line reported */
	bool metrics_configured;
	bool logger_configured;
	pthread_t metrics_thread;           /* flushes a line every FC_METRICS_PERIOD_S */
	bool metrics_thread_started;
	bool shutting_down;
	int start_eventfd;            /* the API thread asks the main thread to start */
	bool start_requested;
	/* What the start does: boot the description, or restore a snapshot (PUT /snapshot/load, vmon restore). */
	bool restore;
	char *restore_snapshot, *restore_mem;
	bool restore_resume;
	bool restore_track_dirty;     /* PUT /snapshot/load's track_dirty_pages */
	struct timespec restore_requested;   /* the load request's arrival (vmon restore: vmon's start) */
	/* What the start does instead: receive a live migration (PUT /migration/receive, vmon receive). */
	bool receive;
	int receive_fd;               /* the listening socket, -1 when none */
	char *receive_addr;
	struct instance_migration migration;
	bool restore_uffd;
	unsigned restore_noverrides;  /* PUT /snapshot/load's network_overrides */
	struct snapshot_net_override restore_overrides[SNAPSHOT_MAX_NET_OVERRIDES];
	char restore_vsock_uds_path[108];  /* PUT /snapshot/load's vsock_override ("" when none) */
	bool start_done;              /* the main thread answered: start_status, start_err */
	int start_status;
	struct vmon_error start_err;
	struct vm_config cfg;         /* from spec at InstanceStart */
	struct machine machine;
	struct timespec start_time;
};

int instance_init(struct instance *in, const struct fc_args *args, const struct timespec *start, struct vmon_error *err);
void instance_destroy(struct instance *in);

/* http_handler_fn: one API request. */
void instance_handle(void *ctx, const struct http_request *req, struct http_response *resp);

/*
 * Main thread: starts the VM at once (start_now: a config file was loaded)
 * or when InstanceStart comes, runs it until it stops, and returns vmon's
 * exit status. A SIGINT/SIGTERM/SIGHUP before the start ends it too.
 */
int instance_main(struct instance *in, bool start_now);

/*
 * Makes the start (instance_main's start_now, or the next request) a restore
 * of these files; uffd: mem_path through the Uffd backend (a memory file
 * served in-process, or an external handler's socket).
 */
int instance_set_restore(struct instance *in, const char *snapshot_path, const char *mem_path, bool uffd,
			 bool resume, struct vmon_error *err);

/* Live migration (instance_migration.c); the lock is held unless said otherwise. */
int instance_set_receive(struct instance *in, const char *listen, struct vmon_error *err);
/* PUT /migration/receive once checked: listens, and the main thread takes the migration in. */
int instance_migration_receive(struct instance *in, const char *listen, struct vmon_error *err);
int instance_migration_send(struct instance *in, const char *body, struct vmon_error *err);
int instance_migration_cancel(struct instance *in, struct vmon_error *err);
/* GET /migration: malloc'd JSON ({"state": ..., figures, "error"}), or NULL when out of memory. */
char *instance_migration_json(struct instance *in);
bool instance_migration_active(const struct instance *in);
/* Main thread, lock not held: the machine from the incoming migration (0 or an exit status). */
int instance_receive_machine(struct instance *in, int signal_fd, struct vmon_error *err);
/* Main thread, lock not held, after machine_run: the migration thread ended and its outcome told. */
void instance_migration_finish(struct instance *in);
void instance_migration_destroy(struct instance *in);

const char *instance_state_name(enum instance_state s);

/* Shared by the instance's files (instance.c: endpoints; instance_main.c: the main thread); lock held. */
bool instance_started(const struct instance *in);
bool instance_running(const struct instance *in);   /* Running or Paused: the machine exists */
int instance_description_to_config(struct instance *in, struct vmon_error *err);
int instance_write_metrics_line(struct instance *in, struct vmon_error *err);
/* Asks the main thread to start (state STARTING); 0, or the error (state back to NOT_STARTED). */
int instance_wake_main(struct instance *in, struct vmon_error *err);

/* PUT /logger's settings (or the --log-path/--level flags) applied to the logger. */
int instance_apply_logger(struct instance *in, const struct fc_logger *l, struct vmon_error *err);
/* PUT /metrics' path (or --metrics-path): opens the sink and starts the periodic flush. */
int instance_open_metrics(struct instance *in, const char *path, struct vmon_error *err);

#endif
