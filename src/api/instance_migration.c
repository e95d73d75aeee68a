/* SPDX-License-Identifier: MIT */
/*
 * Live migration on an instance (docs/MIGRATION.md). Source: PUT
 * /migration/send connects and starts the "vmon-migrate" thread, which runs
 * migration_send without the instance lock so that GET /migration and PUT
 * /migration/cancel are answered meanwhile; after GO it stops the VM with
 * status 0. Destination: PUT /migration/receive (or `vmon receive`) listens,
 * and the main thread takes the machine in instead of booting.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "api/instance.h"
#include "api/migration_api.h"
#include "base/log.h"
#include "base/thread.h"

#define OUTCOME_LINGER_S 2   /* a completed source waits this long for its client to read the outcome */

static const char *state_name(enum instance_migration_state s)
{
	static const char *const names[] = { "none", "active", "completed", "failed", "cancelled" };
	return names[s];
}

bool instance_migration_active(const struct instance *in)
{
	return in->migration.state == MIGRATION_ACTIVE;
}

static void log_stats(const char *side, const struct migration_stats *st)
{
	char downtime[96] = "";

	if (!strcmp(side, "sent"))   /* only the source sees the whole pause, up to GO */
		snprintf(downtime, sizeof(downtime), "; downtime %.2f ms", st->downtime_ms);
	log_info("migration %s: %.1f ms in all, %llu bytes (%.1f MiB), %u rounds, %llu pages (%llu zero), "
		 "%llu in the final round%s (destination restore %.2f ms)", side, st->total_ms,
		 (unsigned long long)st->bytes, (double)st->bytes / (1 << 20), st->rounds,
		 (unsigned long long)st->pages, (unsigned long long)st->zero_pages,
		 (unsigned long long)st->final_pages, downtime, st->dest_restore_ms);
}

static void *migrate_thread(void *arg)
{
	struct instance *in = arg;
	struct instance_migration *mig = &in->migration;
	struct migration_stats stats;
	struct vmon_error err = { 0 };
	int r = migration_send(&in->machine, mig->fd, mig->downtime_ms, &mig->cancel, &stats, &err);

	pthread_mutex_lock(&in->lock);
	mig->fd = -1;
	mig->stats = stats;
	if (r) {
		mig->state = r == -ECANCELED ? MIGRATION_CANCELLED : MIGRATION_FAILED;
		snprintf(mig->error, sizeof(mig->error), "%s", err.msg);
		log_warn("migration to %s %s: %s; the VM carries on here", mig->destination,
			 r == -ECANCELED ? "cancelled" : "failed", err.msg);
	} else {
		mig->state = MIGRATION_COMPLETED;
		log_stats("sent", &stats);
	}
	pthread_cond_broadcast(&in->cond);
	pthread_mutex_unlock(&in->lock);
	if (!r)   /* the destination runs the VM now: this one ends, paused as it is */
		vm_request_stop(in->machine.vm, VM_STOP_USER, VMON_EXIT_OK);
	return NULL;
}

int instance_migration_send(struct instance *in, const char *body, struct vmon_error *err)
{
	struct instance_migration *mig = &in->migration;
	struct migration_send_req req;
	struct mig_addr addr;
	int r, fd;

	if ((r = migration_send_req_parse(body, &req, err)))
		return r;
	if (mig->state == MIGRATION_COMPLETED) {
		migration_send_req_free(&req);
		return error_set(err, -EINVAL, "the microVM has moved to %s already", mig->destination);
	}
	if (mig->thread_started && mig->state != MIGRATION_ACTIVE) {
		/* An earlier migration failed or was cancelled: its thread is past its last use of the lock. */
		pthread_join(mig->thread, NULL);
		mig->thread_started = false;
	}
	if (in->state != INSTANCE_RUNNING) {
		r = error_set(err, -EINVAL, "only a running microVM can be migrated (state: %s)",
			      instance_state_name(in->state));
	} else if (mig->state == MIGRATION_ACTIVE) {
		r = error_set(err, -EBUSY, "a migration to %s is in progress", mig->destination);
	} else if ((r = mig_addr_parse(req.destination, &addr, err)) || (fd = mig_connect(&addr, err)) < 0) {
		r = r ? r : -EINVAL;
		error_prefix(err, "destination");
	} else {
		free(mig->destination);
		mig->destination = req.destination;
		req.destination = NULL;
		mig->fd = fd;
		mig->downtime_ms = req.downtime_ms;
		mig->state = MIGRATION_ACTIVE;
		mig->error[0] = '\0';
		memset(&mig->stats, 0, sizeof(mig->stats));
		atomic_store(&mig->cancel, false);
		if ((r = thread_start_without_signals(&mig->thread, migrate_thread, in, "vmon-migrate"))) {
			close(fd);
			mig->state = MIGRATION_FAILED;
			r = error_set(err, -r, "cannot start the migration thread: %s", strerror(r));
		} else {
			mig->thread_started = true;
			log_info("migration to %s started (downtime target %u ms)", mig->destination, mig->downtime_ms);
		}
	}
	migration_send_req_free(&req);
	return r;
}

int instance_migration_cancel(struct instance *in, struct vmon_error *err)
{
	if (in->migration.state != MIGRATION_ACTIVE)
		return error_set(err, -EINVAL, "no migration in progress (state: %s)", state_name(in->migration.state));
	atomic_store(&in->migration.cancel, true);
	return 0;
}

char *instance_migration_json(struct instance *in)
{
	const struct instance_migration *mig = &in->migration;
	struct json_object *obj = json_object_new_object();
	char *text;

	json_object_object_add(obj, "state", json_object_new_string(state_name(mig->state)));
	if (mig->destination)
		json_object_object_add(obj, "destination", json_object_new_string(mig->destination));
	if (mig->state != MIGRATION_NONE && mig->state != MIGRATION_ACTIVE) {
		json_object_object_add(obj, "total_ms", json_object_new_double(mig->stats.total_ms));
		json_object_object_add(obj, "bytes", json_object_new_int64((int64_t)mig->stats.bytes));
		json_object_object_add(obj, "rounds", json_object_new_int((int)mig->stats.rounds));
		json_object_object_add(obj, "downtime_ms", json_object_new_double(mig->stats.downtime_ms));
		in->migration.outcome_read = true;
		pthread_cond_broadcast(&in->cond);
	}
	if (mig->error[0])
		json_object_object_add(obj, "error", json_object_new_string(mig->error));
	text = strdup(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
	json_object_put(obj);
	return text;
}

void instance_migration_finish(struct instance *in)
{
	struct instance_migration *mig = &in->migration;

	pthread_mutex_lock(&in->lock);
	if (!mig->thread_started) {
		pthread_mutex_unlock(&in->lock);
		return;
	}
	atomic_store(&mig->cancel, true);   /* the VM stopped on its own: a running migration gives up */
	pthread_mutex_unlock(&in->lock);
	pthread_join(mig->thread, NULL);
	pthread_mutex_lock(&in->lock);
	mig->thread_started = false;
	if (mig->state == MIGRATION_COMPLETED && in->args->api_sock) {
		struct timespec deadline;
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += OUTCOME_LINGER_S;
		while (!mig->outcome_read && pthread_cond_timedwait(&in->cond, &in->lock, &deadline) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&in->lock);
}

void instance_migration_destroy(struct instance *in)
{
	if (in->migration.fd > 0)
		close(in->migration.fd);
	free(in->migration.destination);
	in->migration.destination = NULL;
	if (in->receive_fd >= 0)
		close(in->receive_fd);
	in->receive_fd = -1;
	if (in->receive_addr && !strncmp(in->receive_addr, "unix:", 5))
		unlink(in->receive_addr + 5);
	free(in->receive_addr);
	in->receive_addr = NULL;
}

/* ---- destination --------------------------------------------------------------- */

int instance_set_receive(struct instance *in, const char *listen, struct vmon_error *err)
{
	struct mig_addr addr;
	char *copy;
	int fd;

	if (mig_addr_parse(listen, &addr, err))
		return -EINVAL;
	if (!(copy = strdup(listen)))
		return error_set(err, -ENOMEM, "out of memory");
	if ((fd = mig_listen(&addr, err)) < 0) {
		free(copy);
		return fd;
	}
	instance_migration_destroy(in);
	in->receive = true;
	in->receive_fd = fd;
	in->receive_addr = copy;
	log_info("waiting for a migration on %s", listen);
	return 0;
}

int instance_migration_receive(struct instance *in, const char *listen, struct vmon_error *err)
{
	int r;

	if ((r = instance_set_receive(in, listen, err)))
		return r;
	/* The main thread waits on the socket from here; this request does not wait for the source. */
	if ((r = instance_wake_main(in, err))) {
		in->receive = false;
		return r;
	}
	return 0;
}

int instance_receive_machine(struct instance *in, int signal_fd, struct vmon_error *err)
{
	struct migration_recv r;
	struct migration_stats stats;
	int status;

	if (migration_recv_accept(&r, in->receive_fd, signal_fd, &in->cfg, err)) {
		struct signalfd_siginfo si;
		migration_recv_close(&r);
		if (err->code == -EINTR && read(signal_fd, &si, sizeof(si)) == sizeof(si))
			return 128 + (int)si.ssi_signo;
		return VMON_EXIT_USAGE;
	}
	in->cfg.vcpus_on_own_threads = true;
	in->cfg.announce_boot_time = in->args->boot_timer;
	in->cfg.verbosity = 0;
	status = migration_recv_machine(&r, &in->machine, &in->cfg, &in->start_time, &stats, err);
	migration_recv_close(&r);
	if (!status)
		log_stats("received", &stats);
	return status;
}
