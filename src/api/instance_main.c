/* SPDX-License-Identifier: MIT */
/*
 * The instance's main-thread side: set-up and tear-down, and the start —
 * boot the description, restore a snapshot, or take in a live migration —
 * then the run until the VM ends. The endpoints are in instance.c.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "api/instance.h"
#include "base/log.h"
#include "snapshot/machine_config.h"
#include "snapshot/snapshot.h"
#include "vmm/dirty.h"

int instance_init(struct instance *in, const struct fc_args *args, const struct timespec *start,
		  struct vmon_error *err)
{
	memset(in, 0, sizeof(*in));
	in->args = args;
	in->start_time = *start;
	in->state = INSTANCE_NOT_STARTED;
	in->receive_fd = -1;
	in->migration.fd = -1;
	fc_spec_init(&in->spec);
	metrics_sink_init(&in->metrics);
	metrics_baseline_init(&in->baseline);
	if (mmds_create(&in->mmds, args->mmds_size_limit, err))
		return -ENOMEM;
	in->start_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (in->start_eventfd < 0) {
		mmds_destroy(in->mmds);
		return error_set(err, -errno, "eventfd: %s", strerror(errno));
	}
	pthread_mutex_init(&in->lock, NULL);
	pthread_cond_init(&in->cond, NULL);
	return 0;
}

void instance_destroy(struct instance *in)
{
	pthread_mutex_lock(&in->lock);
	in->shutting_down = true;
	pthread_cond_broadcast(&in->cond);
	pthread_mutex_unlock(&in->lock);
	if (in->metrics_thread_started)
		pthread_join(in->metrics_thread, NULL);
	metrics_sink_close(&in->metrics);
	instance_migration_destroy(in);
	free(in->restore_snapshot);
	free(in->restore_mem);
	fc_spec_free(&in->spec);
	mmds_destroy(in->mmds);
	if (in->start_eventfd >= 0)
		close(in->start_eventfd);
	pthread_cond_destroy(&in->cond);
	pthread_mutex_destroy(&in->lock);
}

/*
 * PUT /serial's serial_out_path: the guest console's output goes there (a
 * file, created if missing and appended to, or a FIFO, opened read-write so
 * that no reader is needed yet) instead of vmon's standard output.
 */
static int redirect_serial(const struct fc_serial *serial, struct vmon_error *err)
{
	struct stat st;
	int fd;

	if (!serial->set || !serial->serial_out_path)
		return 0;
	if (!stat(serial->serial_out_path, &st) && S_ISFIFO(st.st_mode))
		fd = open(serial->serial_out_path, O_RDWR | O_CLOEXEC);
	else
		fd = open(serial->serial_out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return error_set(err, -errno, "serial_out_path %s: %s", serial->serial_out_path, strerror(errno));
	if (dup2(fd, STDOUT_FILENO) < 0) {
		int e = errno;
		close(fd);
		return error_set(err, -e, "serial_out_path %s: dup2: %s", serial->serial_out_path, strerror(e));
	}
	close(fd);
	return 0;
}

/* Builds and boots the machine from in->cfg; 0 or an exit status with err. */
static int build_and_boot(struct instance *in, struct vmon_error *err)
{
	int status;

	if (redirect_serial(&in->spec.serial, err))
		return VMON_EXIT_USAGE;

	if ((status = machine_prepare(&in->machine, &in->cfg, &in->start_time, err)) ||
	    (status = machine_load(&in->machine, err)) || (status = machine_build(&in->machine, err)) ||
	    (status = machine_boot(&in->machine, err)))
		machine_destroy(&in->machine);
	return status;
}

/* The machine a snapshot describes, its states loaded: in->cfg from the file, adjusted for this process. */
static int restore_snapshot(struct instance *in, struct vmon_error *err)
{
	struct snapshot_desc desc;
	struct timespec t0, t1;
	int status;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (snapshot_open(in->restore_snapshot, &desc, &in->cfg, err))
		return VMON_EXIT_USAGE;
	in->cfg.vcpus_on_own_threads = true;
	in->cfg.announce_boot_time = in->args->boot_timer;
	in->cfg.verbosity = 0;
	for (unsigned i = 0; i < in->restore_noverrides; i++) {
		const struct snapshot_net_override *o = &in->restore_overrides[i];
		if (snapshot_config_override_net(&in->cfg, o->iface_id, o->host_dev_name, err)) {
			snapshot_desc_free(&desc);
			return VMON_EXIT_USAGE;
		}
		log_info("network interface %s: now on %s", o->iface_id, o->host_dev_name);
	}
	if (in->restore_vsock_uds_path[0]) {
		if (snapshot_config_override_vsock(&in->cfg, in->restore_vsock_uds_path, err)) {
			snapshot_desc_free(&desc);
			return VMON_EXIT_USAGE;
		}
		log_info("vsock: now on %s", in->restore_vsock_uds_path);
	}
	status = snapshot_restore(&in->machine, &in->cfg, &desc, in->restore_mem,
				  in->restore_uffd ? SNAPSHOT_MEM_UFFD : SNAPSHOT_MEM_FILE, &in->start_time, err);
	snapshot_desc_free(&desc);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (status)
		return status;
	log_info("snapshot %s restored in %.3f ms (memory: %s)", in->restore_snapshot,
		 (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
		 in->restore_uffd ? "Uffd" : "File, MAP_PRIVATE");
	/* Restored paused, the first KVM_RUN waits for a resume: no restore figure then. */
	if (in->restore_resume)
		vm_time_first_run(in->machine.vm, &in->restore_requested,
				  in->start_requested ? "snapshot load request" : "start of vmon");
	return 0;
}

/* track_dirty_pages (machine-config, or the snapshot load's): the log starts before any vCPU runs. */
static int start_dirty_log(struct instance *in, struct vmon_error *err)
{
	if (!(in->restore ? in->restore_track_dirty : in->spec.machine.track_dirty_pages))
		return 0;
	if (!vm_dirty_log_start(in->machine.vm, err))
		return 0;
	machine_destroy(&in->machine);
	return VMON_EXIT_HOST_ERROR;
}

/* Waits for InstanceStart or a stop signal: 0 to start, or the exit status. */
static int wait_for_start(struct instance *in, int signal_fd)
{
	struct pollfd fds[2] = { { .fd = signal_fd, .events = POLLIN }, { .fd = in->start_eventfd, .events = POLLIN } };

	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			return VMON_EXIT_HOST_ERROR;
		}
		if (fds[0].revents) {
			struct signalfd_siginfo si;
			if (read(signal_fd, &si, sizeof(si)) == sizeof(si)) {
				log_info("received signal %u before the VM started; exiting", si.ssi_signo);
				return 128 + (int)si.ssi_signo;
			}
		}
		if (fds[1].revents) {
			uint64_t n;
			if (read(in->start_eventfd, &n, sizeof(n)) == sizeof(n))
				return 0;
		}
	}
}

int instance_main(struct instance *in, bool start_now)
{
	sigset_t signals;
	int signal_fd, status;

	sigemptyset(&signals);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGHUP);
	signal_fd = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
	if (signal_fd < 0) {
		log_error("signalfd: %s", strerror(errno));
		return VMON_EXIT_HOST_ERROR;
	}
	for (;;) {
		struct vmon_error err = { 0 };

		if (start_now) {
			pthread_mutex_lock(&in->lock);
			status = !in->restore && !in->receive && instance_description_to_config(in, &err) ? VMON_EXIT_USAGE : 0;
			in->state = INSTANCE_STARTING;
			pthread_mutex_unlock(&in->lock);
			if (status) {
				log_error("%s", err.msg);
				close(signal_fd);
				return status;
			}
		} else if ((status = wait_for_start(in, signal_fd))) {
			close(signal_fd);
			return status;
		}
		/* The API thread waits in request_start (lock released) until start_done. */
		status = in->receive ? instance_receive_machine(in, signal_fd, &err)
			 : in->restore ? restore_snapshot(in, &err) : build_and_boot(in, &err);
		if (!status)
			status = start_dirty_log(in, &err);
		pthread_mutex_lock(&in->lock);
		in->start_done = true;
		in->start_status = status;
		in->start_err = err;
		in->state = status ? INSTANCE_NOT_STARTED : in->restore && !in->restore_resume ? INSTANCE_PAUSED
			    : INSTANCE_RUNNING;
		if (!status && in->state == INSTANCE_PAUSED)
			vm_pause(in->machine.vm);   /* no vCPU runs yet: they park as they start */
		pthread_cond_broadcast(&in->cond);
		pthread_mutex_unlock(&in->lock);
		if (!status)
			break;
		log_error("%s: %s", in->receive ? "migration" : in->restore ? "snapshot load" : "InstanceStart", err.msg);
		if (start_now || in->receive) {   /* a failed incoming migration ends the destination */
			close(signal_fd);
			return status;
		}
	}
	close(signal_fd);   /* vm_run reads these signals from here on */
	log_info("VM %s started", in->args->id);
	status = machine_run(&in->machine);
	instance_migration_finish(in);

	pthread_mutex_lock(&in->lock);
	if (in->metrics_configured) {
		struct vmon_error err = { 0 };
		if (instance_write_metrics_line(in, &err))
			log_warn("final metrics: %s", err.msg);
	}
	in->state = INSTANCE_STOPPED;
	pthread_mutex_unlock(&in->lock);
	machine_destroy(&in->machine);
	return status;
}
