/* SPDX-License-Identifier: MIT */
/*
 * The jail, in Firecracker's jailer's order (docs/JAILER.md): validate, make
 * the chroot and copy the exec file in, cgroups, rlimits, join the netns, a
 * private mount namespace pivoted into the chroot, device nodes, a new pid
 * namespace, drop uid/gid and every capability, daemonize, close fds, exec.
 */
#include "jailer/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jailer/elf_check.h"
#include "jailer/jail_cgroup.h"

/* The device nodes vmon may open, made in the jail with the host's numbers. */
static const char *const jail_devices[] = { "/dev/kvm", "/dev/net/tun", "/dev/urandom", "/dev/userfaultfd" };
#define N_DEVICES (sizeof(jail_devices) / sizeof(jail_devices[0]))

struct jail_state {
	char root[PATH_MAX];      /* <base>/<exec name>/<id>/root */
	dev_t rdev[N_DEVICES];
	bool have[N_DEVICES];
	int dev_null;             /* for --daemonize, opened before the pivot */
	int cap_last;             /* the highest capability this kernel knows (read before the pivot) */
	unsigned long long start_us, start_cpu_us;
};

static int fail(struct vmon_error *err, int status, int code, const char *fmt, const char *what)
{
	error_set(err, code, fmt, what, strerror(-code));
	return status;
}

static unsigned long long clock_us(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || !*p) {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, mode) && errno != EEXIST)
				return -errno;
			struct stat st;
			if (lstat(buf, &st))
				return -errno;
			if (!S_ISDIR(st.st_mode))
				return -ENOTDIR;
			if (!c)
				return 0;
			*p = c;
		}
	}
}

/* Copies the exec file into the chroot: a fresh file (O_EXCL | O_NOFOLLOW), so
 * nothing a previous jailed process left at that name is written through. */
static int copy_exec_file(const struct jail_args *args, const char *root, struct vmon_error *err)
{
	int in = open(args->exec_file, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return fail(err, JAIL_EXIT_EXEC_FILE, -errno, "--exec-file %s: %s", args->exec_file);
	int dir = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0) {
		close(in);
		return fail(err, JAIL_EXIT_CHROOT, -errno, "%s: %s", root);
	}
	if (unlinkat(dir, args->exec_name, 0) && errno != ENOENT) {
		error_set(err, -errno, "%s/%s: cannot replace: %s", root, args->exec_name, strerror(errno));
		close(in);
		close(dir);
		return JAIL_EXIT_CHROOT;
	}
	int out = openat(dir, args->exec_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0755);
	close(dir);
	if (out < 0) {
		close(in);
		return fail(err, JAIL_EXIT_CHROOT, -errno, "creating the exec file's copy in %s: %s", root);
	}
	char buf[1 << 16];
	ssize_t n;
	int rc = 0;
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0) {
				rc = -errno;
				break;
			}
			off += w;
		}
		if (rc)
			break;
	}
	if (n < 0)
		rc = -errno;
	if (!rc && fchmod(out, 0755))
		rc = -errno;
	if (close(out) && !rc)
		rc = -errno;
	close(in);
	if (rc)
		return fail(err, JAIL_EXIT_CHROOT, rc, "copying the exec file into %s: %s", root);
	return 0;
}

/* Everything that can be checked before the system is changed. */
static int validate(const struct jail_args *args, struct jail_state *st, struct vmon_error *err)
{
	if (geteuid() != 0) {
		error_set(err, -EPERM, "vmon-jailer must run as root (it creates namespaces, cgroups and device nodes)");
		return JAIL_EXIT_NOT_ROOT;
	}
	if (elf_check_static_file(args->exec_file, err)) {
		error_prefix(err, "--exec-file");
		return JAIL_EXIT_EXEC_FILE;
	}
	struct stat s;
	errno = 0;
	if (args->netns && (stat(args->netns, &s) || !S_ISREG(s.st_mode)))
		return fail(err, JAIL_EXIT_NETNS, errno ? -errno : -EINVAL, "--netns %s: %s", args->netns);
	int n = snprintf(st->root, sizeof(st->root), "%s/%s/%s/root", args->chroot_base, args->exec_name, args->id);
	if (n >= (int)sizeof(st->root))
		return fail(err, JAIL_EXIT_USAGE, -ENAMETOOLONG, "--chroot-base-dir %s: %s", args->chroot_base);
	/* Newer kernels know more capabilities than these headers: ask the kernel. */
	st->cap_last = CAP_LAST_CAP;
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	if (!f || fscanf(f, "%d", &st->cap_last) != 1 || st->cap_last < 0 || st->cap_last > 63) {
		error_set(err, -EIO, "/proc/sys/kernel/cap_last_cap: unreadable (is /proc mounted?)");
		if (f)
			fclose(f);
		return JAIL_EXIT_PRIVS;
	}
	fclose(f);
	for (size_t i = 0; i < N_DEVICES; i++) {
		if (stat(jail_devices[i], &s) == 0 && S_ISCHR(s.st_mode)) {
			st->rdev[i] = s.st_rdev;
			st->have[i] = true;
		} else {
			fprintf(stderr, "vmon-jailer: warning: this host has no %s; the jail gets none either\n",
				jail_devices[i]);
		}
	}
	return 0;
}

static int make_chroot(const struct jail_args *args, struct jail_state *st, struct vmon_error *err)
{
	errno = 0;
	int rc = mkdir_p(st->root, 0755);
	if (rc)
		return fail(err, JAIL_EXIT_CHROOT, rc, "creating the chroot %s: %s", st->root);
	struct statvfs vfs;
	if (statvfs(st->root, &vfs))
		return fail(err, JAIL_EXIT_CHROOT, -errno, "%s: %s", st->root);
	/* Device nodes do not open on a nodev mount, nor does the exec file run from a noexec one. */
	if (vfs.f_flag & (ST_NODEV | ST_NOEXEC)) {
		error_set(err, -EPERM, "--chroot-base-dir %s: the file system is mounted %s; choose another base",
			  args->chroot_base, vfs.f_flag & ST_NODEV ? "nodev" : "noexec");
		return JAIL_EXIT_CHROOT;
	}
	return copy_exec_file(args, st->root, err);
}

static int set_rlimits(const struct jail_args *args, struct vmon_error *err)
{
	static const int resource[JAIL_RLIMIT_COUNT] = { RLIMIT_FSIZE, RLIMIT_NOFILE };
	static const char *const name[JAIL_RLIMIT_COUNT] = { "fsize", "no-file" };
	for (int k = 0; k < JAIL_RLIMIT_COUNT; k++) {
		if (!args->rlimit_set[k])
			continue;
		struct rlimit rl = { .rlim_cur = args->rlimit[k], .rlim_max = args->rlimit[k] };
		if (setrlimit(resource[k], &rl))
			return fail(err, JAIL_EXIT_RLIMIT, -errno, "--resource-limit %s: %s", name[k]);
	}
	return 0;
}

static int join_netns(const struct jail_args *args, struct vmon_error *err)
{
	if (!args->netns)
		return 0;
	int fd = open(args->netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, JAIL_EXIT_NETNS, -errno, "--netns %s: %s", args->netns);
	int rc = setns(fd, CLONE_NEWNET) ? -errno : 0;
	close(fd);
	if (rc)
		return fail(err, JAIL_EXIT_NETNS, rc, "--netns %s: joining it: %s", args->netns);
	return 0;
}

/* A private mount namespace whose root is the chroot (pivot_root, as
 * Firecracker: unlike chroot alone, nothing of the host's tree stays mounted). */
static int enter_chroot(struct jail_state *st, struct vmon_error *err)
{
	if (unshare(CLONE_NEWNS))
		return fail(err, JAIL_EXIT_MOUNT, -errno, "%s: unshare(CLONE_NEWNS): %s", "mount namespace");
	if (mount(NULL, "/", NULL, MS_PRIVATE | MS_REC, NULL))
		return fail(err, JAIL_EXIT_MOUNT, -errno, "%s: making mounts private: %s", "/");
	if (mount(st->root, st->root, NULL, MS_BIND | MS_REC, NULL))
		return fail(err, JAIL_EXIT_MOUNT, -errno, "%s: binding onto itself: %s", st->root);
	if (chdir(st->root))
		return fail(err, JAIL_EXIT_MOUNT, -errno, "%s: %s", st->root);
	if (rmdir("old_root") && errno != ENOENT)
		return fail(err, JAIL_EXIT_MOUNT, -errno, "%s/old_root: a stale entry is in the way: %s", st->root);
	if (mkdir("old_root", 0700))
		return fail(err, JAIL_EXIT_MOUNT, -errno, "%s/old_root: %s", st->root);
	if (syscall(SYS_pivot_root, ".", "old_root"))
		return fail(err, JAIL_EXIT_MOUNT, -errno, "pivot_root into %s: %s", st->root);
	if (chdir("/"))
		return fail(err, JAIL_EXIT_MOUNT, -errno, "%s: %s", "/");
	if (umount2("/old_root", MNT_DETACH))
		return fail(err, JAIL_EXIT_MOUNT, -errno, "%s: unmounting the old root: %s", "/old_root");
	if (rmdir("/old_root"))
		return fail(err, JAIL_EXIT_MOUNT, -errno, "%s: %s", "/old_root");
	if (chroot("."))
		return fail(err, JAIL_EXIT_MOUNT, -errno, "%s: chroot: %s", st->root);
	return 0;
}

/* Runs inside the chroot: every path is the jail's own. */
static int make_devices(const struct jail_args *args, const struct jail_state *st, struct vmon_error *err)
{
	if ((mkdir("/dev", 0755) && errno != EEXIST) || (mkdir("/dev/net", 0755) && errno != EEXIST))
		return fail(err, JAIL_EXIT_MOUNT, -errno, "%s: creating /dev in the jail: %s", st->root);
	for (size_t i = 0; i < N_DEVICES; i++) {
		if (!st->have[i])
			continue;
		if (unlink(jail_devices[i]) && errno != ENOENT)
			return fail(err, JAIL_EXIT_MOUNT, -errno, "%s: replacing it in the jail: %s", jail_devices[i]);
		if (mknod(jail_devices[i], S_IFCHR | S_IRUSR | S_IWUSR, st->rdev[i]))
			return fail(err, JAIL_EXIT_MOUNT, -errno, "%s: mknod in the jail: %s", jail_devices[i]);
		if (chown(jail_devices[i], args->uid, args->gid))
			return fail(err, JAIL_EXIT_MOUNT, -errno, "%s: chown in the jail: %s", jail_devices[i]);
	}
	/* vmon creates its API socket in the jail's root, as Firecracker does. */
	if (chown("/", args->uid, args->gid))
		return fail(err, JAIL_EXIT_MOUNT, -errno, "%s: chown: %s", st->root);
	return 0;
}

static int write_pid_file(const struct jail_args *args, pid_t pid, struct vmon_error *err)
{
	char path[PATH_MAX], text[32];
	snprintf(path, sizeof(path), "/%s.pid", args->exec_name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail(err, JAIL_EXIT_PID_NS, -errno, "the pid file %s in the jail: %s", path);
	int n = snprintf(text, sizeof(text), "%d\n", (int)pid);
	int rc = write(fd, text, (size_t)n) == n ? 0 : -EIO;
	close(fd);
	if (rc)
		return fail(err, JAIL_EXIT_PID_NS, rc, "the pid file %s in the jail: %s", path);
	return 0;
}

/* --new-pid-ns: the child becomes pid 1 of a new namespace and goes on; the
 * parent records its pid and leaves (*parent set, exit status 0). */
static int new_pid_ns(const struct jail_args *args, bool *parent, struct vmon_error *err)
{
	*parent = false;
	if (!args->new_pid_ns)
		return args->daemonize ? write_pid_file(args, getpid(), err) : 0;
	if (unshare(CLONE_NEWPID))
		return fail(err, JAIL_EXIT_PID_NS, -errno, "%s: unshare(CLONE_NEWPID): %s", "pid namespace");
	fflush(NULL);
	pid_t child = fork();
	if (child < 0)
		return fail(err, JAIL_EXIT_PID_NS, -errno, "%s: fork: %s", "pid namespace");
	if (child == 0)
		return 0;
	*parent = true;
	int rc = write_pid_file(args, child, err);
	if (rc)
		kill(child, SIGKILL);
	return rc;
}

static int drop_privileges(const struct jail_args *args, const struct jail_state *st, struct vmon_error *err)
{
	for (int cap = 0; cap <= st->cap_last; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0))
			return fail(err, JAIL_EXIT_PRIVS, -errno, "%s: PR_CAPBSET_DROP: %s", "bounding set");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0))
		return fail(err, JAIL_EXIT_PRIVS, -errno, "%s: %s", "ambient capabilities");
	if (setgroups(0, NULL))
		return fail(err, JAIL_EXIT_PRIVS, -errno, "%s: setgroups: %s", "supplementary groups");
	if (setresgid(args->gid, args->gid, args->gid))
		return fail(err, JAIL_EXIT_PRIVS, -errno, "--gid %s: setresgid: %s", "");
	if (setresuid(args->uid, args->uid, args->uid))
		return fail(err, JAIL_EXIT_PRIVS, -errno, "--uid %s: setresuid: %s", "");
	/* A non-zero uid already lost them; --uid 0 keeps root's until told. */
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data))
		return fail(err, JAIL_EXIT_PRIVS, -errno, "%s: capset: %s", "capabilities");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return fail(err, JAIL_EXIT_PRIVS, -errno, "%s: %s", "PR_SET_NO_NEW_PRIVS");
	return 0;
}

static int daemonize(const struct jail_args *args, struct jail_state *st, struct vmon_error *err)
{
	if (!args->daemonize)
		return 0;
	if (setsid() < 0)
		return fail(err, JAIL_EXIT_PID_NS, -errno, "--daemonize%s: setsid: %s (a process group leader cannot "
			    "start a session: start the jailer from a child process)", "");
	for (int fd = 0; fd <= 2; fd++)
		if (dup2(st->dev_null, fd) < 0)
			return fail(err, JAIL_EXIT_PID_NS, -errno, "--daemonize: %s: %s", "/dev/null");
	close(st->dev_null);
	st->dev_null = -1;
	return 0;
}

static int exec_file(const struct jail_args *args, const struct jail_state *st, struct vmon_error *err)
{
	char path[PATH_MAX], start_us[32], start_cpu_us[32];
	snprintf(path, sizeof(path), "/%s", args->exec_name);
	snprintf(start_us, sizeof(start_us), "%llu", st->start_us);
	snprintf(start_cpu_us, sizeof(start_cpu_us), "%llu", st->start_cpu_us);
	size_t n = 0;
	char **argv = calloc((size_t)args->exec_argc + 8, sizeof(char *));
	if (!argv)
		return fail(err, JAIL_EXIT_EXEC, -ENOMEM, "%s: %s", "argv");
	/* As Firecracker's jailer: the id and its start times come first. */
	argv[n++] = (char *)args->exec_name;
	argv[n++] = "--id";
	argv[n++] = (char *)args->id;
	argv[n++] = "--start-time-us";
	argv[n++] = start_us;
	argv[n++] = "--start-time-cpu-us";
	argv[n++] = start_cpu_us;
	for (int i = 0; i < args->exec_argc; i++)
		argv[n++] = args->exec_argv[i];
	argv[n] = NULL;
	char *envp[] = { NULL };
	execve(path, argv, envp);
	int saved = errno;
	free(argv);
	return fail(err, JAIL_EXIT_EXEC, -saved, "exec %s in the jail: %s", path);
}

int jail_run(const struct jail_args *args, struct vmon_error *err)
{
	struct jail_state st = { .dev_null = -1 };
	st.start_us = clock_us(CLOCK_MONOTONIC);
	st.start_cpu_us = clock_us(CLOCK_PROCESS_CPUTIME_ID);
	int rc;
	if ((rc = validate(args, &st, err)))
		return rc;
	if ((rc = make_chroot(args, &st, err)))
		return rc;
	if (jail_cgroup_setup(args, err)) {
		error_prefix(err, "--cgroup");
		return JAIL_EXIT_CGROUP;
	}
	if ((rc = set_rlimits(args, err)) || (rc = join_netns(args, err)))
		return rc;
	if (args->daemonize && (st.dev_null = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		return fail(err, JAIL_EXIT_PID_NS, -errno, "--daemonize: %s: %s", "/dev/null");
	if ((rc = enter_chroot(&st, err)) || (rc = make_devices(args, &st, err)))
		return rc;
	bool parent;
	if ((rc = new_pid_ns(args, &parent, err)) || parent)
		return rc;
	if ((rc = drop_privileges(args, &st, err)) || (rc = daemonize(args, &st, err)))
		return rc;
	/* Nothing of the caller's but stdio reaches the exec file. */
	if (syscall(SYS_close_range, 3u, ~0u, 0u))
		return fail(err, JAIL_EXIT_EXEC, -errno, "%s: close_range: %s", "file descriptors");
	return exec_file(args, &st, err);
}
