/* SPDX-License-Identifier: MIT */
#include "jailer/jail_cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo. */
static int unescape(const char *s, size_t n, char *out, size_t out_len)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
		    s[i + 3] >= '0' && s[i + 3] <= '7') {
			c = (char)(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
			i += 3;
		}
		if (o + 1 >= out_len)
			return -ENAMETOOLONG;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* Is word one of the comma-separated entries of list[0..n)? */
static bool list_has(const char *list, size_t n, const char *word)
{
	size_t w = strlen(word);
	const char *p = list, *end = list + n;
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;
		if ((size_t)(stop - p) == w && !memcmp(p, word, w))
			return true;
		p = stop + 1;
	}
	return false;
}

int jail_cgroup_find_mount(const char *mountinfo, int version, const char *controller, char *out, size_t out_len,
			   struct vmon_error *err)
{
	const char *want_type = version == 2 ? "cgroup2" : "cgroup";
	for (const char *line = mountinfo; *line;) {
		const char *eol = strchrnul(line, '\n');
		/* Fields: id parent major:minor root mount-point options [optional...] - type source super-options */
		const char *field[5];
		size_t len[5];
		const char *p = line;
		int n = 0;
		while (n < 5 && p < eol) {
			const char *sp = memchr(p, ' ', (size_t)(eol - p));
			const char *stop = sp ? sp : eol;
			field[n] = p;
			len[n++] = (size_t)(stop - p);
			p = sp ? sp + 1 : eol;
		}
		const char *dash = n == 5 ? strstr(p - 1, " - ") : NULL;
		if (dash && dash < eol) {
			const char *type = dash + 3;
			const char *type_end = memchr(type, ' ', (size_t)(eol - type));
			const char *source_end = type_end ? memchr(type_end + 1, ' ', (size_t)(eol - type_end - 1)) : NULL;
			const char *super = source_end ? source_end + 1 : eol;
			bool root = len[3] == 1 && field[3][0] == '/';
			if (type_end && (size_t)(type_end - type) == strlen(want_type) &&
			    !memcmp(type, want_type, (size_t)(type_end - type)) && root &&
			    (version == 2 || list_has(super, (size_t)(eol - super), controller))) {
				if (unescape(field[4], len[4], out, out_len))
					return error_set(err, -ENAMETOOLONG, "cgroup mount point '%.*s' is too long",
							 (int)len[4], field[4]);
				return 0;
			}
		}
		line = *eol ? eol + 1 : eol;
	}
	if (version == 2)
		return error_set(err, -ENOENT, "no cgroup2 file system is mounted (see /proc/self/mountinfo); mount one "
				 "or use --cgroup-version 1");
	return error_set(err, -ENOENT, "no cgroup v1 hierarchy holds the '%s' controller (see /proc/self/mountinfo)",
			 controller);
}

static int write_file(const char *dir, const char *name, const char *value, struct vmon_error *err)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return error_set(err, -ENAMETOOLONG, "%s/%s: path too long", dir, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	size_t n = strlen(value);
	ssize_t w = write(fd, value, n);
	int saved = errno;
	close(fd);
	if (w != (ssize_t)n)
		return error_set(err, w < 0 ? -saved : -EIO, "writing '%s' to %s: %s", value, path,
				 w < 0 ? strerror(saved) : "short write");
	return 0;
}

static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	return 0;
}

/* A new v1 cpuset cgroup starts with empty cpus/mems, which no task may join:
 * give it its parent's, as Firecracker's jailer does. */
static int cpuset_inherit(const char *parent, const char *child, struct vmon_error *err)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	for (size_t i = 0; i < 2; i++) {
		char path[PATH_MAX], mine[4096], theirs[4096];
		if (snprintf(path, sizeof(path), "%s/%s", child, files[i]) >= (int)sizeof(path))
			return error_set(err, -ENAMETOOLONG, "%s: path too long", child);
		if (read_small(path, mine, sizeof(mine)))
			return error_set(err, -EIO, "%s: unreadable", path);
		if (strcspn(mine, "\n") > 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", parent, files[i]) >= (int)sizeof(path))
			return error_set(err, -ENAMETOOLONG, "%s: path too long", parent);
		if (read_small(path, theirs, sizeof(theirs)))
			return error_set(err, -EIO, "%s: unreadable", path);
		int rc = write_file(child, files[i], theirs, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* mkdir -p of base/rel, every level's hook run after it exists. */
static int make_cgroup_dirs(const char *base, const char *rel, bool cpuset, char *out, size_t out_len,
			    struct vmon_error *err)
{
	if (snprintf(out, out_len, "%s", base) >= (int)out_len)
		return error_set(err, -ENAMETOOLONG, "%s: path too long", base);
	for (const char *p = rel; *p;) {
		const char *end = strchrnul(p, '/');
		size_t n = strlen(out);
		char parent[PATH_MAX];
		snprintf(parent, sizeof(parent), "%s", out);
		if (n + 1 + (size_t)(end - p) >= out_len)
			return error_set(err, -ENAMETOOLONG, "%s/%s: path too long", base, rel);
		snprintf(out + n, out_len - n, "/%.*s", (int)(end - p), p);
		if (mkdir(out, 0755) && errno != EEXIST)
			return error_set(err, -errno, "creating cgroup %s: %s", out, strerror(errno));
		struct stat st;
		if (lstat(out, &st) || !S_ISDIR(st.st_mode))
			return error_set(err, -ENOTDIR, "cgroup %s is not a directory", out);
		if (cpuset) {
			int rc = cpuset_inherit(parent, out, err);
			if (rc)
				return rc;
		}
		p = *end ? end + 1 : end;
	}
	return 0;
}

static int read_mountinfo(char **text, struct vmon_error *err)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return error_set(err, -errno, "/proc/self/mountinfo: %s", strerror(errno));
	size_t cap = 0;
	*text = NULL;
	ssize_t n = getdelim(text, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(*text);
		return error_set(err, -EIO, "/proc/self/mountinfo: unreadable");
	}
	return 0;
}

/* Is word one of the space-separated words of list? */
static bool list_has_word(const char *list, const char *word)
{
	size_t w = strlen(word);
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, " ");
		if (n == w && !memcmp(p, word, w))
			return true;
		p += n;
		p += strspn(p, " ");
	}
	return false;
}

/* v2: a controller's files appear in a child only when every ancestor enables it
 * for its children in cgroup.subtree_control. */
static int enable_v2_controller(const char *mount, const char *rel, const char *controller, struct vmon_error *err)
{
	char dir[PATH_MAX], value[64];
	if (snprintf(value, sizeof(value), "+%s", controller) >= (int)sizeof(value) ||
	    snprintf(dir, sizeof(dir), "%s", mount) >= (int)sizeof(dir))
		return error_set(err, -ENAMETOOLONG, "%s: name too long", controller);
	char path[PATH_MAX + 32], available[4096];
	snprintf(path, sizeof(path), "%s/cgroup.controllers", mount);
	if (read_small(path, available, sizeof(available)))
		return error_set(err, -EIO, "%s: unreadable", path);
	available[strcspn(available, "\n")] = '\0';
	if (!list_has_word(available, controller))
		return error_set(err, -ENOENT, "the '%s' controller is not available in the cgroup2 hierarchy at %s "
				 "(cgroup.controllers: '%s'); it may be bound to a v1 hierarchy (--cgroup-version 1)",
				 controller, mount, available);
	const char *p = rel;
	for (;;) {
		int rc = write_file(dir, "cgroup.subtree_control", value, err);
		if (rc) {
			error_prefix(err, "enabling the '%s' controller", controller);
			return rc;
		}
		const char *end = strchrnul(p, '/');
		if (!*end)
			return 0; /* dir is now the leaf's parent: done */
		size_t n = strlen(dir);
		snprintf(dir + n, sizeof(dir) - n, "/%.*s", (int)(end - p), p);
		p = end + 1;
	}
}

int jail_cgroup_setup(const struct jail_args *args, struct vmon_error *err)
{
	if (args->n_cgroups == 0)
		return 0;
	char *mountinfo;
	int rc = read_mountinfo(&mountinfo, err);
	if (rc)
		return rc;
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/%s", args->parent_cgroup, args->id);
	/* Each distinct directory is created once, and joined after all its values are written. */
	char dirs[JAIL_MAX_CGROUPS][PATH_MAX];
	size_t n_dirs = 0;
	for (size_t i = 0; i < args->n_cgroups && !rc; i++) {
		const struct jail_cgroup_setting *s = &args->cgroups[i];
		char controller[64], mount[PATH_MAX], dir[PATH_MAX], key[128];
		size_t clen = (size_t)((const char *)memchr(s->key, '.', s->key_len) - s->key);
		snprintf(controller, sizeof(controller), "%.*s", (int)clen, s->key);
		snprintf(key, sizeof(key), "%.*s", (int)s->key_len, s->key);
		if ((rc = jail_cgroup_find_mount(mountinfo, args->cgroup_version, controller, mount, sizeof(mount), err)))
			break;
		bool cpuset = args->cgroup_version == 1 && list_has("cpuset", 6, controller);
		if ((rc = make_cgroup_dirs(mount, rel, cpuset, dir, sizeof(dir), err)))
			break;
		/* Enabled from the top down once the directories exist: the leaf's files then appear. */
		if (args->cgroup_version == 2 && strcmp(controller, "cgroup") &&
		    (rc = enable_v2_controller(mount, rel, controller, err)))
			break;
		if ((rc = write_file(dir, key, s->value, err)))
			break;
		bool seen = false;
		for (size_t d = 0; d < n_dirs; d++)
			seen |= !strcmp(dirs[d], dir);
		if (!seen)
			snprintf(dirs[n_dirs++], PATH_MAX, "%s", dir);
	}
	free(mountinfo);
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	for (size_t d = 0; d < n_dirs && !rc; d++)
		rc = write_file(dirs[d], "cgroup.procs", pid, err);
	return rc;
}
