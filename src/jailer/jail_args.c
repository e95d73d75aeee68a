/* SPDX-License-Identifier: MIT */
#include "jailer/jail_args.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char jail_usage[] =
	"usage: vmon-jailer --id ID --exec-file PATH --uid UID --gid GID\n"
	"         [--chroot-base-dir DIR] [--netns PATH] [--cgroup-version 1|2]\n"
	"         [--cgroup FILE=VALUE]... [--parent-cgroup PATH]\n"
	"         [--resource-limit fsize=N|no-file=N]... [--daemonize] [--new-pid-ns]\n"
	"         [-- ARGUMENTS FOR THE EXEC FILE]\n"
	"Builds <chroot-base-dir>/<exec name>/<id>/root, copies the exec file in, sets\n"
	"cgroups and limits, pivots into the chroot, drops uid/gid and every capability,\n"
	"and execs /<exec name> --id ID [ARGUMENTS] (docs/JAILER.md).\n";

enum {
	OPT_ID = 256, OPT_EXEC_FILE, OPT_UID, OPT_GID, OPT_CHROOT_BASE, OPT_NETNS, OPT_CGROUP_VERSION,
	OPT_CGROUP, OPT_PARENT_CGROUP, OPT_RESOURCE_LIMIT, OPT_DAEMONIZE, OPT_NEW_PID_NS, OPT_HELP,
};

static const struct option jail_options[] = {
	{ "id", required_argument, NULL, OPT_ID },
	{ "exec-file", required_argument, NULL, OPT_EXEC_FILE },
	{ "uid", required_argument, NULL, OPT_UID },
	{ "gid", required_argument, NULL, OPT_GID },
	{ "chroot-base-dir", required_argument, NULL, OPT_CHROOT_BASE },
	{ "netns", required_argument, NULL, OPT_NETNS },
	{ "cgroup-version", required_argument, NULL, OPT_CGROUP_VERSION },
	{ "cgroup", required_argument, NULL, OPT_CGROUP },
	{ "parent-cgroup", required_argument, NULL, OPT_PARENT_CGROUP },
	{ "resource-limit", required_argument, NULL, OPT_RESOURCE_LIMIT },
	{ "daemonize", no_argument, NULL, OPT_DAEMONIZE },
	{ "new-pid-ns", no_argument, NULL, OPT_NEW_PID_NS },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static const char *const rlimit_names[JAIL_RLIMIT_COUNT] = { "fsize", "no-file" };

bool jail_id_valid(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > JAIL_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

bool jail_cgroup_path_valid(const char *path)
{
	if (!*path || *path == '/')
		return false;
	const char *p = path;
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		for (const char *c = p; c < end; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
			      *c == '_' || *c == '-' || *c == '.'))
				return false;
		p = *end ? end + 1 : end;
	}
	return path[strlen(path) - 1] != '/';
}

int jail_cgroup_parse(const char *text, int version, struct jail_cgroup_setting *out, struct vmon_error *err)
{
	const char *eq = strchr(text, '=');
	if (!eq)
		return error_set(err, -EINVAL, "--cgroup '%s': expected FILE=VALUE (e.g. pids.max=64)", text);
	size_t key_len = (size_t)(eq - text);
	const char *dot = memchr(text, '.', key_len);
	if (key_len == 0 || !dot || dot == text || dot == eq - 1)
		return error_set(err, -EINVAL, "--cgroup '%s': the file must be CONTROLLER.NAME (e.g. pids.max)", text);
	for (size_t i = 0; i < key_len; i++) {
		char c = text[i];
		/* Upper case for hugetlb's page sizes (hugetlb.2MB.max). */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
			return error_set(err, -EINVAL, "--cgroup '%s': the file name may hold only letters, digits, '_' "
					 "and '.'", text);
	}
	/* Membership is the jailer's to decide: writing these would move processes. */
	static const char *const refused[] = { "cgroup.procs", "cgroup.threads", "tasks" };
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (key_len == strlen(refused[i]) && !memcmp(text, refused[i], key_len))
			return error_set(err, -EINVAL, "--cgroup '%s': %s is set by the jailer itself", text, refused[i]);
	if (version == 1 && key_len > 7 && !memcmp(text, "cgroup.", 7))
		return error_set(err, -EINVAL, "--cgroup '%s': cgroup.* core files are cgroup v2's (--cgroup-version 2)",
				 text);
	const char *value = eq + 1;
	if (!*value || strlen(value) > 256 || strpbrk(value, "\n\r"))
		return error_set(err, -EINVAL, "--cgroup '%s': the value must be 1 to 256 characters on one line", text);
	out->key = text;
	out->key_len = key_len;
	out->value = value;
	return 0;
}

static int parse_u64(const char *text, unsigned long long max, unsigned long long *out)
{
	if (!*text || *text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || *end || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int jail_rlimit_parse(const char *text, struct jail_args *args, struct vmon_error *err)
{
	const char *eq = strchr(text, '=');
	for (int kind = 0; eq && kind < JAIL_RLIMIT_COUNT; kind++) {
		if ((size_t)(eq - text) != strlen(rlimit_names[kind]) || memcmp(text, rlimit_names[kind], (size_t)(eq - text)))
			continue;
		if (args->rlimit_set[kind])
			return error_set(err, -EINVAL, "--resource-limit '%s': %s is given twice", text, rlimit_names[kind]);
		unsigned long long v;
		/* RLIM_INFINITY is all ones; anything below it is a finite limit. */
		if (parse_u64(eq + 1, UINT64_MAX - 1, &v))
			return error_set(err, -EINVAL, "--resource-limit '%s': the value must be a decimal number", text);
		args->rlimit_set[kind] = true;
		args->rlimit[kind] = v;
		return 0;
	}
	return error_set(err, -EINVAL, "--resource-limit '%s': expected fsize=N or no-file=N", text);
}

/* An absolute path none of whose components is "..". */
static bool absolute_without_dotdot(const char *path)
{
	if (path[0] != '/')
		return false;
	for (const char *p = path; *p;) {
		const char *end = strchrnul(p, '/');
		if (end - p == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p = *end ? end + 1 : end;
	}
	return true;
}

/* error_set has filled the message; the caller's answer is the usage status. */
static int usage(int error_code)
{
	(void)error_code;
	return JAIL_EXIT_USAGE;
}

static int parse_id_number(const char *flag, const char *text, unsigned int *out, struct vmon_error *err)
{
	unsigned long long v;
	/* (uid_t)-1 means "unchanged" to setresuid: never a target. */
	if (parse_u64(text, UINT32_MAX - 1, &v))
		return error_set(err, -EINVAL, "--%s '%s': expected a number from 0 to %u", flag, text, UINT32_MAX - 1);
	*out = (unsigned int)v;
	return 0;
}

int jail_args_parse(int argc, char **argv, struct jail_args *out, struct vmon_error *err)
{
	memset(out, 0, sizeof(*out));
	out->chroot_base = JAIL_DEFAULT_CHROOT_BASE;
	out->cgroup_version = 1;
	bool have_uid = false, have_gid = false;
	static char *no_args[] = { NULL };
	out->exec_argv = no_args;

	optind = 0; /* glibc: a full re-initialisation, so parsing may run more than once */
	opterr = 0;
	int opt;
	/* '+': stop at the first non-option; "--" ends the jailer's own arguments. */
	while ((opt = getopt_long(argc, argv, "+:", jail_options, NULL)) != -1) {
		unsigned int number = 0;
		switch (opt) {
		case OPT_ID:
			if (!jail_id_valid(optarg))
				return usage(error_set(err, -EINVAL, "--id '%s': 1 to %d letters, digits or '-'", optarg,
							JAIL_ID_MAX));
			out->id = optarg;
			break;
		case OPT_EXEC_FILE:
			out->exec_file = optarg;
			break;
		case OPT_UID:
			if (parse_id_number("uid", optarg, &number, err))
				return JAIL_EXIT_USAGE;
			out->uid = number;
			have_uid = true;
			break;
		case OPT_GID:
			if (parse_id_number("gid", optarg, &number, err))
				return JAIL_EXIT_USAGE;
			out->gid = number;
			have_gid = true;
			break;
		case OPT_CHROOT_BASE:
			if (!absolute_without_dotdot(optarg))
				return usage(error_set(err, -EINVAL,
							"--chroot-base-dir '%s': expected an absolute path without '..'", optarg));
			out->chroot_base = optarg;
			break;
		case OPT_NETNS:
			if (!*optarg)
				return usage(error_set(err, -EINVAL, "--netns: expected the path of a network namespace"));
			out->netns = optarg;
			break;
		case OPT_CGROUP_VERSION:
			if (strcmp(optarg, "1") && strcmp(optarg, "2"))
				return usage(error_set(err, -EINVAL, "--cgroup-version '%s': expected 1 or 2", optarg));
			out->cgroup_version = optarg[0] - '0';
			break;
		case OPT_CGROUP:
			if (out->n_cgroups == JAIL_MAX_CGROUPS)
				return usage(error_set(err, -E2BIG, "--cgroup '%s': at most %d --cgroup settings", optarg,
							JAIL_MAX_CGROUPS));
			/* The version may come later on the line: keys are checked against it below. */
			out->cgroups[out->n_cgroups++].key = optarg;
			break;
		case OPT_PARENT_CGROUP:
			if (!jail_cgroup_path_valid(optarg))
				return usage(error_set(err, -EINVAL,
							"--parent-cgroup '%s': expected a relative path of [A-Za-z0-9_.-] names",
							optarg));
			out->parent_cgroup = optarg;
			break;
		case OPT_RESOURCE_LIMIT:
			if (jail_rlimit_parse(optarg, out, err))
				return JAIL_EXIT_USAGE;
			break;
		case OPT_DAEMONIZE:
			out->daemonize = true;
			break;
		case OPT_NEW_PID_NS:
			out->new_pid_ns = true;
			break;
		case OPT_HELP:
			out->help = true;
			return 0;
		case ':':
			return usage(error_set(err, -EINVAL, "%s: expects a value", argv[optind - 1]));
		default:
			return usage(error_set(err, -EINVAL, "%s: unknown argument (see --help)", argv[optind - 1]));
		}
	}
	if (optind < argc) {
		if (strcmp(argv[optind - 1], "--"))
			return usage(error_set(err, -EINVAL, "'%s': arguments for the exec file go after '--'",
						argv[optind]));
	}
	out->exec_argv = argv + optind;
	out->exec_argc = argc - optind;

	const char *missing = !out->id ? "--id" : !out->exec_file ? "--exec-file" : !have_uid ? "--uid" :
			      !have_gid ? "--gid" : NULL;
	if (missing)
		return usage(error_set(err, -EINVAL, "%s is required (see --help)", missing));
	const char *slash = strrchr(out->exec_file, '/');
	out->exec_name = slash ? slash + 1 : out->exec_file;
	if (!*out->exec_name || !strcmp(out->exec_name, ".") || !strcmp(out->exec_name, ".."))
		return usage(error_set(err, -EINVAL, "--exec-file '%s': expected the path of a file", out->exec_file));
	if (!out->parent_cgroup) {
		if (!jail_cgroup_path_valid(out->exec_name))
			return usage(error_set(err, -EINVAL, "--exec-file '%s': its name cannot name a cgroup; give "
						"--parent-cgroup", out->exec_file));
		out->parent_cgroup = out->exec_name;
	}
	for (size_t i = 0; i < out->n_cgroups; i++) {
		if (jail_cgroup_parse(out->cgroups[i].key, out->cgroup_version, &out->cgroups[i], err))
			return JAIL_EXIT_USAGE;
		for (size_t j = 0; j < i; j++)
			if (out->cgroups[j].key_len == out->cgroups[i].key_len &&
			    !memcmp(out->cgroups[j].key, out->cgroups[i].key, out->cgroups[i].key_len))
				return usage(error_set(err, -EINVAL, "--cgroup '%s': %.*s is given twice", out->cgroups[i].key,
							(int)out->cgroups[i].key_len, out->cgroups[i].key));
	}
	if (!out->rlimit_set[JAIL_RLIMIT_NO_FILE]) {
		out->rlimit_set[JAIL_RLIMIT_NO_FILE] = true;
		out->rlimit[JAIL_RLIMIT_NO_FILE] = JAIL_DEFAULT_NO_FILE;
	}
	return 0;
}
