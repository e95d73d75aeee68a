/* SPDX-License-Identifier: MIT */
#include "cli/fc_args.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/seccomp_filter.h"

#define FC_DEFAULT_MAX_PAYLOAD 51200u
#define FC_DEFAULT_MMDS_LIMIT 51200u

enum {
	OPT_API_SOCK = 256, OPT_NO_API, OPT_CONFIG_FILE, OPT_ID, OPT_METADATA, OPT_LOG_PATH, OPT_LEVEL,
	OPT_SHOW_LEVEL, OPT_SHOW_LOG_ORIGIN, OPT_METRICS_PATH, OPT_BOOT_TIMER, OPT_SECCOMP_FILTER,
	OPT_NO_SECCOMP, OPT_SECCOMP_LEVEL, OPT_MAX_PAYLOAD, OPT_MMDS_LIMIT, OPT_START_TIME_US, OPT_START_TIME_CPU_US,
	OPT_PARENT_CPU_TIME_US, OPT_VERSION, OPT_HELP, OPT_SNAPSHOT, OPT_MEM, OPT_PAUSED, OPT_UFFD, OPT_LISTEN,
	OPT_ENABLE_PCI,
};

static const struct option fc_options[] = {
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "no-api", no_argument, NULL, OPT_NO_API },
	{ "config-file", required_argument, NULL, OPT_CONFIG_FILE },
	{ "id", required_argument, NULL, OPT_ID },
	{ "metadata", required_argument, NULL, OPT_METADATA },
	{ "log-path", required_argument, NULL, OPT_LOG_PATH },
	{ "level", required_argument, NULL, OPT_LEVEL },
	{ "show-level", no_argument, NULL, OPT_SHOW_LEVEL },
	{ "show-log-origin", no_argument, NULL, OPT_SHOW_LOG_ORIGIN },
	{ "metrics-path", required_argument, NULL, OPT_METRICS_PATH },
	{ "boot-timer", no_argument, NULL, OPT_BOOT_TIMER },
	{ "seccomp-filter", required_argument, NULL, OPT_SECCOMP_FILTER },
	{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
	{ "seccomp-level", required_argument, NULL, OPT_SECCOMP_LEVEL },
	{ "enable-pci", no_argument, NULL, OPT_ENABLE_PCI },
	{ "http-api-max-payload-size", required_argument, NULL, OPT_MAX_PAYLOAD },
	{ "mmds-size-limit", required_argument, NULL, OPT_MMDS_LIMIT },
	/* Set by Firecracker's jailer for its start-up metrics; accepted and ignored. */
	{ "start-time-us", required_argument, NULL, OPT_START_TIME_US },
	{ "start-time-cpu-us", required_argument, NULL, OPT_START_TIME_CPU_US },
	{ "parent-cpu-time-us", required_argument, NULL, OPT_PARENT_CPU_TIME_US },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, OPT_HELP },
	/* `vmon restore` only (fc_args_match never matches them: a restore is asked for by name). */
	{ "snapshot", required_argument, NULL, OPT_SNAPSHOT },
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "paused", no_argument, NULL, OPT_PAUSED },
	{ "uffd", no_argument, NULL, OPT_UFFD },
	/* `vmon receive` only. */
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ NULL, 0, NULL, 0 },
};

bool fc_args_match(int argc, char **argv)
{
	if (argc < 2 || strncmp(argv[1], "--", 2))
		return false;
	for (const struct option *o = fc_options; o->name; o++) {
		size_t n = strlen(o->name);
		if (o->val != OPT_VERSION && o->val != OPT_HELP && o->val < OPT_SNAPSHOT && !strncmp(argv[1] + 2, o->name, n) &&
		    (argv[1][2 + n] == '\0' || argv[1][2 + n] == '='))
			return true;
	}
	return false;
}

enum fc_mode { FC_API, FC_RESTORE, FC_RECEIVE };

static enum cli_action parse(int argc, char **argv, enum fc_mode mode, struct fc_args *a, FILE *out,
			     struct vmon_error *err);

enum cli_action fc_args_parse(int argc, char **argv, struct fc_args *a, FILE *out, struct vmon_error *err)
{
	return parse(argc, argv, FC_API, a, out, err);
}

enum cli_action fc_args_parse_restore(int argc, char **argv, struct fc_args *a, FILE *out, struct vmon_error *err)
{
	return parse(argc, argv, FC_RESTORE, a, out, err);
}

enum cli_action fc_args_parse_receive(int argc, char **argv, struct fc_args *a, FILE *out, struct vmon_error *err)
{
	return parse(argc, argv, FC_RECEIVE, a, out, err);
}

bool fc_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > FC_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') ||
		      id[i] == '-'))
			return false;
	return true;
}

static int parse_bytes(const char *flag, const char *text, size_t *out, struct vmon_error *err)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);

	if (errno || end == text || *end || text[0] == '-' || v == 0 || v > (1ull << 30))
		return error_set(err, -EINVAL, "--%s '%s': expected a number of bytes from 1 to %llu", flag, text,
				 1ull << 30);
	*out = (size_t)v;
	return 0;
}

static void print_usage(FILE *out)
{
	fputs("usage: vmon [--api-sock PATH | --no-api] [--config-file FILE] [--id ID] [options]\n"
	      "  Firecracker-compatible start: serve Firecracker's REST API on PATH (default\n"
	      "  " FC_DEFAULT_API_SOCK "), and/or build and boot the VM a Firecracker config file\n"
	      "  describes. See docs/API.md.\n"
	      "      --api-sock PATH          the API's UNIX socket (created 0600; a stale one is replaced)\n"
	      "      --no-api                 no API (needs --config-file)\n"
	      "      --config-file FILE       Firecracker's JSON VM configuration: boot it at once\n"
	      "      --id ID                  the instance id (letters, digits, '-'; up to 64)\n"
	      "      --metadata FILE          initial MMDS content (JSON)\n"
	      "      --log-path PATH          log to PATH (file or FIFO); --level, --show-level, --show-log-origin\n"
	      "      --metrics-path PATH      metrics to PATH (file or FIFO)\n"
	      "      --boot-timer             log the guest's boot time when it writes the boot-done mark\n"
	      "      --enable-pci             virtio devices on PCI (MSI-X) instead of virtio-mmio\n"
	      "      --http-api-max-payload-size N   largest request body (default 51200 bytes)\n"
	      "      --mmds-size-limit N      largest MMDS content (default 51200 bytes)\n"
	      "      --seccomp-level 0|1|2    seccomp-bpf filter per thread: 0 off, 1 system calls only,\n"
	      "                               2 also their arguments (default); --no-seccomp is level 0.\n"
	      "                               A forbidden system call ends vmon with status 148\n"
	      "      --seccomp-filter FILE    (custom BPF filters) refused: use --seccomp-level\n"
	      "  vmon restore --snapshot FILE --mem FILE [--paused] [--uffd] [flags above]: start from a\n"
	      "  snapshot (PUT /snapshot/create writes one); without --api-sock, no API. --uffd: guest RAM\n"
	      "  filled on first touch through userfaultfd, from the memory file FILE by vmon itself, or by\n"
	      "  the external handler listening on FILE when it is a UNIX socket (docs/SNAPSHOT.md).\n"
	      "  vmon receive --listen unix:PATH|tcp:HOST:PORT [flags above]: take in a live migration\n"
	      "  (vmon ctl migrate on the source; docs/MIGRATION.md); without --api-sock, no API.\n"
	      "  Other commands: vmon run ..., vmon ctl ..., vmon --help\n",
	      out);
}

static enum cli_action parse(int argc, char **argv, enum fc_mode mode, struct fc_args *a, FILE *out,
			     struct vmon_error *err)
{
	bool restore = mode == FC_RESTORE, receive = mode == FC_RECEIVE;
	bool no_api = false, api_sock_given = false;
	int opt;

	memset(a, 0, sizeof(*a));
	a->api_sock = FC_DEFAULT_API_SOCK;
	a->id = FC_DEFAULT_ID;
	a->max_payload = FC_DEFAULT_MAX_PAYLOAD;
	a->mmds_size_limit = FC_DEFAULT_MMDS_LIMIT;
	a->seccomp_level = SECCOMP_LEVEL_FILTERED;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", fc_options, NULL)) != -1) {
		switch (opt) {
		case OPT_API_SOCK:
			a->api_sock = optarg;
			api_sock_given = true;
			break;
		case OPT_SNAPSHOT:
		case OPT_MEM:
		case OPT_PAUSED:
		case OPT_UFFD:
			if (!restore) {
				error_set(err, -EINVAL, "%s belongs to `vmon restore`", argv[optind - 1]);
				return CLI_ERROR;
			}
			if (opt == OPT_SNAPSHOT)
				a->restore_snapshot = optarg;
			else if (opt == OPT_MEM)
				a->restore_mem = optarg;
			else if (opt == OPT_PAUSED)
				a->restore_paused = true;
			else
				a->restore_uffd = true;
			break;
		case OPT_LISTEN:
			if (!receive) {
				error_set(err, -EINVAL, "%s belongs to `vmon receive`", argv[optind - 1]);
				return CLI_ERROR;
			}
			a->receive_listen = optarg;
			break;
		case OPT_NO_API:
			no_api = true;
			break;
		case OPT_CONFIG_FILE:
			a->config_file = optarg;
			break;
		case OPT_ID:
			if (!fc_id_valid(optarg)) {
				error_set(err, -EINVAL, "--id '%s': 1 to %d letters, digits or '-'", optarg, FC_ID_MAX);
				return CLI_ERROR;
			}
			a->id = optarg;
			break;
		case OPT_METADATA:
			a->metadata_path = optarg;
			break;
		case OPT_LOG_PATH:
			a->log_path = optarg;
			break;
		case OPT_LEVEL:
			a->level = optarg;
			break;
		case OPT_SHOW_LEVEL:
			a->show_level = true;
			break;
		case OPT_SHOW_LOG_ORIGIN:
			a->show_log_origin = true;
			break;
		case OPT_METRICS_PATH:
			a->metrics_path = optarg;
			break;
		case OPT_BOOT_TIMER:
			a->boot_timer = true;
			break;
		case OPT_SECCOMP_FILTER:
			a->seccomp_filter = optarg;
			break;
		case OPT_NO_SECCOMP:
			a->no_seccomp = true;
			break;
		case OPT_SECCOMP_LEVEL: {
			enum seccomp_level level;
			if (seccomp_parse_level(optarg, &level, err))
				return CLI_ERROR;
			a->seccomp_level = (int)level;
			a->seccomp_level_given = true;
			break;
		}
		case OPT_ENABLE_PCI:
			a->enable_pci = true;
			break;
		case OPT_MAX_PAYLOAD:
			if (parse_bytes("http-api-max-payload-size", optarg, &a->max_payload, err))
				return CLI_ERROR;
			break;
		case OPT_MMDS_LIMIT:
			if (parse_bytes("mmds-size-limit", optarg, &a->mmds_size_limit, err))
				return CLI_ERROR;
			break;
		case OPT_START_TIME_US:
		case OPT_START_TIME_CPU_US:
		case OPT_PARENT_CPU_TIME_US:
			break;
		case OPT_VERSION:
			fprintf(out, "vmon v%s\n", VMON_VERSION);
			return CLI_DONE;
		case OPT_HELP:
			print_usage(out);
			return CLI_DONE;
		case ':':
			error_set(err, -EINVAL, "option '%s' needs a value", argv[optind - 1]);
			return CLI_ERROR;
		default:
			error_set(err, -EINVAL, "unknown option '%s' (try 'vmon --api-sock PATH --help')", argv[optind - 1]);
			return CLI_ERROR;
		}
	}
	if (optind < argc) {
		error_set(err, -EINVAL, "unexpected argument '%s'", argv[optind]);
		return CLI_ERROR;
	}
	if (a->seccomp_filter) {
		error_set(err, -EINVAL, "--seccomp-filter %s: custom BPF filters are not supported; vmon installs "
			  "its own per-thread filters (--seccomp-level 0|1|2, --no-seccomp)", a->seccomp_filter);
		return CLI_ERROR;
	}
	if (a->no_seccomp && a->seccomp_level_given && a->seccomp_level != SECCOMP_LEVEL_OFF) {
		error_set(err, -EINVAL, "--no-seccomp and --seccomp-level %d exclude each other", a->seccomp_level);
		return CLI_ERROR;
	}
	if (a->no_seccomp)
		a->seccomp_level = SECCOMP_LEVEL_OFF;
	if (receive) {
		if (!a->receive_listen) {
			error_set(err, -EINVAL, "vmon receive needs --listen unix:PATH or tcp:HOST:PORT");
			return CLI_ERROR;
		}
		if (a->config_file) {
			error_set(err, -EINVAL, "vmon receive takes no --config-file: the source describes the machine");
			return CLI_ERROR;
		}
		if (!api_sock_given)
			a->api_sock = NULL;
		return CLI_RUN;
	}
	if (restore) {
		if (!a->restore_snapshot || !a->restore_mem) {
			error_set(err, -EINVAL, "vmon restore needs --snapshot FILE and --mem FILE");
			return CLI_ERROR;
		}
		if (a->config_file) {
			error_set(err, -EINVAL, "vmon restore takes no --config-file: the snapshot describes the machine");
			return CLI_ERROR;
		}
		if (a->restore_paused && !api_sock_given) {
			error_set(err, -EINVAL, "--paused needs --api-sock (nothing could resume the VM)");
			return CLI_ERROR;
		}
		if (!api_sock_given)
			a->api_sock = NULL;
		return CLI_RUN;
	}
	if (no_api) {
		if (!a->config_file) {
			error_set(err, -EINVAL, "--no-api needs --config-file (nothing could start the VM)");
			return CLI_ERROR;
		}
		a->api_sock = NULL;
	}
	return CLI_RUN;
}
