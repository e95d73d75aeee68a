/* SPDX-License-Identifier: MIT */
#ifndef VMON_JAIL_ARGS_H
#define VMON_JAIL_ARGS_H

/*
 * vmon-jailer's command line, with Firecracker's jailer argument names
 * (docs/JAILER.md). Parsing is pure: every value is checked here, before the
 * jailer touches the system, and a bad one is named in the error.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

#define JAIL_ID_MAX 64
#define JAIL_MAX_CGROUPS 32
#define JAIL_DEFAULT_CHROOT_BASE "/srv/jailer"
/* Firecracker's jailer bounds no-file to this when no --resource-limit is given. */
#define JAIL_DEFAULT_NO_FILE 2048

/* Exit statuses: one per stage, so a caller can tell what failed. */
enum jail_exit {
	JAIL_EXIT_USAGE = 64,      /* a bad or missing argument */
	JAIL_EXIT_EXEC_FILE = 65,  /* the exec file is missing, not ELF or dynamically linked */
	JAIL_EXIT_NOT_ROOT = 66,   /* the jailer needs root (CAP_SYS_ADMIN and more) */
	JAIL_EXIT_CHROOT = 67,     /* creating the chroot or copying the exec file */
	JAIL_EXIT_CGROUP = 68,     /* creating, writing or joining a cgroup */
	JAIL_EXIT_RLIMIT = 69,     /* setrlimit */
	JAIL_EXIT_NETNS = 70,      /* opening or joining the network namespace */
	JAIL_EXIT_MOUNT = 71,      /* the mount namespace, pivot_root, device nodes */
	JAIL_EXIT_PID_NS = 72,     /* the new pid namespace, the pid file, daemonizing */
	JAIL_EXIT_PRIVS = 73,      /* dropping uid/gid/capabilities */
	JAIL_EXIT_EXEC = 74,       /* execve itself */
};

enum jail_rlimit_kind { JAIL_RLIMIT_FSIZE, JAIL_RLIMIT_NO_FILE, JAIL_RLIMIT_COUNT };

struct jail_cgroup_setting {
	const char *key;   /* e.g. "memory.limit_in_bytes" (points into argv) */
	size_t key_len;
	const char *value; /* after '=' */
};

struct jail_args {
	const char *id;
	const char *exec_file;
	const char *exec_name;   /* the last component of exec_file */
	uid_t uid;
	gid_t gid;
	const char *chroot_base;
	const char *netns;
	int cgroup_version;      /* 1 or 2 */
	const char *parent_cgroup; /* default: exec_name */
	struct jail_cgroup_setting cgroups[JAIL_MAX_CGROUPS];
	size_t n_cgroups;
	bool rlimit_set[JAIL_RLIMIT_COUNT];
	unsigned long long rlimit[JAIL_RLIMIT_COUNT];
	bool daemonize;
	bool new_pid_ns;
	char **exec_argv;        /* the arguments after "--" (NULL-terminated, may be empty) */
	int exec_argc;
	bool help;
};

/* Parses argv; returns 0, or JAIL_EXIT_USAGE with err naming the bad argument. */
int jail_args_parse(int argc, char **argv, struct jail_args *out, struct vmon_error *err);

/* The checks behind jail_args_parse, exposed for the unit tests. */
bool jail_id_valid(const char *id);
int jail_cgroup_parse(const char *text, int version, struct jail_cgroup_setting *out, struct vmon_error *err);
int jail_rlimit_parse(const char *text, struct jail_args *args, struct vmon_error *err);
/* A relative cgroup path: components of [A-Za-z0-9_.-], no "." or "..", no empty ones. */
bool jail_cgroup_path_valid(const char *path);

extern const char jail_usage[];

#endif
