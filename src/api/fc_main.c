/* SPDX-License-Identifier: MIT */
#include "api/fc_main.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "api/http_server.h"
#include "api/instance.h"
#include "base/file_map.h"
#include "base/log.h"
#include "base/seccomp_filter.h"
#include "cli/fc_args.h"

#define CONFIG_FILE_MAX (1u << 20)

/* A whole small file as a NUL-terminated string (config file, metadata). */
static char *read_text_file(const char *path, const char *what, size_t max, struct vmon_error *err)
{
	struct file_map map = { 0 };
	char *text;

	if (file_map_open(&map, path, what, max, err))
		return NULL;
	text = malloc(map.size + 1);
	if (!text) {
		error_set(err, -ENOMEM, "out of memory");
	} else {
		memcpy(text, map.data, map.size);
		text[map.size] = '\0';
		if (strlen(text) != map.size) {
			error_set(err, -EINVAL, "%s %s: contains a NUL byte", what, path);
			free(text);
			text = NULL;
		}
	}
	file_map_close(&map);
	return text;
}

/* The flags that configure what the API's /logger, /metrics and /mmds would. */
static int apply_process_flags(struct instance *in, const struct fc_args *a, struct vmon_error *err)
{
	if (a->log_path || a->level || a->show_level || a->show_log_origin) {
		struct fc_logger l = { .set = true, .log_path = (char *)a->log_path, .level = FC_LOG_INFO,
				       .show_level = a->show_level, .show_log_origin = a->show_log_origin };
		enum log_level level;
		if (a->level) {
			if (log_parse_level(a->level, &level, err)) {
				error_prefix(err, "--level");
				return -EINVAL;
			}
			l.level = level == LOG_OFF ? FC_LOG_OFF : level == LOG_ERROR ? FC_LOG_ERROR
				: level == LOG_WARN ? FC_LOG_WARNING : level == LOG_INFO ? FC_LOG_INFO
				: level == LOG_DEBUG ? FC_LOG_DEBUG : FC_LOG_TRACE;
		}
		if (instance_apply_logger(in, &l, err))
			return -EINVAL;
	}
	if (a->metrics_path && instance_open_metrics(in, a->metrics_path, err))
		return -EINVAL;
	if (a->metadata_path) {
		char *text = read_text_file(a->metadata_path, "metadata", a->mmds_size_limit, err);
		if (!text)
			return -EINVAL;
		int r = mmds_put(in->mmds, text, err);
		free(text);
		if (r) {
			error_prefix(err, "--metadata %s", a->metadata_path);
			return r;
		}
	}
	if (a->config_file) {
		char *text = read_text_file(a->config_file, "config file", CONFIG_FILE_MAX, err);
		if (!text)
			return -EINVAL;
		int r = fc_spec_load_config_file(&in->spec, text, err);
		free(text);
		if (r) {
			error_prefix(err, "--config-file %s", a->config_file);
			return r;
		}
		/* Logger and metrics sections of the file take effect as the API's would. */
		if (in->spec.logger.set && !in->logger_configured && instance_apply_logger(in, &in->spec.logger, err))
			return -EINVAL;
		if (in->spec.metrics.set && !in->metrics_configured &&
		    instance_open_metrics(in, in->spec.metrics.metrics_path, err))
			return -EINVAL;
	}
	return 0;
}

/* Firecracker's api_server.process_startup_time_us / _cpu_us: from exec to serving (wall, then CPU). */
static void record_startup_time(struct instance *in, const struct timespec *start)
{
	struct timespec now;
	struct rusage ru;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&in->lock);
	in->counters.process_startup_time_us =
		(uint64_t)((now.tv_sec - start->tv_sec) * 1000000 + (now.tv_nsec - start->tv_nsec) / 1000);
	if (!getrusage(RUSAGE_SELF, &ru))
		in->counters.process_startup_time_cpu_us =
			(uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
			(uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	pthread_mutex_unlock(&in->lock);
}

static int run(int argc, char **argv, const struct timespec *start, bool restore, bool receive)
{
	struct vmon_error err = { 0 };
	struct http_server *server = NULL;
	struct fc_args args;
	struct instance in;
	sigset_t signals;
	int status;

	switch (receive ? fc_args_parse_receive(argc, argv, &args, stdout, &err)
		: restore ? fc_args_parse_restore(argc, argv, &args, stdout, &err)
			: fc_args_parse(argc, argv, &args, stdout, &err)) {
	case CLI_DONE:
		return VMON_EXIT_OK;
	case CLI_RUN:
		break;
	default:
		log_error("%s", err.msg);
		return VMON_EXIT_USAGE;
	}
	/* Firecracker's default level: what its clients expect to find in the log. */
	log_set_level(LOG_INFO);
	/* Before any thread exists: each installs its filter as it starts (src/base/seccomp_filter.h). */
	if (seccomp_setup((enum seccomp_level)args.seccomp_level, &err)) {
		log_error("%s", err.msg);
		return VMON_EXIT_HOST_ERROR;
	}
	/* Before any thread exists, so that every thread inherits the mask: the main thread takes these. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	/* A client that hangs up must not end the VM. */
	signal(SIGPIPE, SIG_IGN);

	if (instance_init(&in, &args, start, &err)) {
		log_error("%s", err.msg);
		return VMON_EXIT_HOST_ERROR;
	}
	if (apply_process_flags(&in, &args, &err) ||
	    (restore && instance_set_restore(&in, args.restore_snapshot, args.restore_mem, args.restore_uffd,
					     !args.restore_paused, &err)) ||
	    (receive && instance_set_receive(&in, args.receive_listen, &err))) {
		log_error("%s", err.msg);
		instance_destroy(&in);
		return VMON_EXIT_USAGE;
	}
	if (args.api_sock) {
		if (http_server_create(&server, args.api_sock, args.max_payload, instance_handle, &in, &err) ||
		    http_server_start(server, &err)) {
			log_error("API socket %s: %s", args.api_sock, err.msg);
			http_server_destroy(server);
			instance_destroy(&in);
			return VMON_EXIT_USAGE;
		}
		log_info("API server listening on %s", args.api_sock);
	}
	record_startup_time(&in, start);
	status = instance_main(&in, args.config_file != NULL || restore || receive);
	http_server_destroy(server);
	instance_destroy(&in);
	return status;
}

int fc_main(int argc, char **argv, const struct timespec *start)
{
	return run(argc, argv, start, false, false);
}

int fc_main_restore(int argc, char **argv, const struct timespec *start)
{
	return run(argc, argv, start, true, false);
}

int fc_main_receive(int argc, char **argv, const struct timespec *start)
{
	return run(argc, argv, start, false, true);
}
