/* SPDX-License-Identifier: MIT */
#include "base/unix_socket.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int unix_socket_address(const char *path, struct sockaddr_un *addr, struct vmon_error *err)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (!path || !*path)
		return error_set(err, -EINVAL, "empty socket path");
	if (strlen(path) >= sizeof(addr->sun_path))
		return error_set(err, -ENAMETOOLONG, "%s: socket path longer than %zu bytes", path,
				 sizeof(addr->sun_path) - 1);
	strcpy(addr->sun_path, path);
	return 0;
}

int unix_socket_clear_stale(const char *path, const struct sockaddr_un *addr, struct vmon_error *err)
{
	struct stat st;
	int probe, r;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : error_set(err, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return error_set(err, -EEXIST, "%s: exists and is not a socket", path);
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return error_set(err, -errno, "%s: socket: %s", path, strerror(errno));
	r = connect(probe, (const struct sockaddr *)addr, sizeof(*addr)) ? errno : 0;
	close(probe);
	if (r == 0 || r == EAGAIN)
		return error_set(err, -EADDRINUSE, "%s: in use by another process (listening on this socket)", path);
	if (r != ECONNREFUSED)
		return error_set(err, -r, "%s: cannot tell whether the socket is in use: %s", path, strerror(r));
	if (unlink(path) && errno != ENOENT)
		return error_set(err, -errno, "%s: removing the stale socket: %s", path, strerror(errno));
	return 0;
}
