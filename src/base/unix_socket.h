/* SPDX-License-Identifier: MIT */
#ifndef VMON_BASE_UNIX_SOCKET_H
#define VMON_BASE_UNIX_SOCKET_H

#include <sys/un.h>

#include "base/error.h"

/* path into addr; -EINVAL (empty) or -ENAMETOOLONG naming the path. */
int unix_socket_address(const char *path, struct sockaddr_un *addr, struct vmon_error *err);

/*
 * Makes way at path for a socket to listen on: nothing there, or a socket
 * nobody accepts on (left by a crashed process), which is removed. A live
 * socket (EAGAIN: a full backlog, still live) is -EADDRINUSE "in use by another process
 * (listening on this socket)"; anything else at path is -EEXIST "not a socket".
 */
int unix_socket_clear_stale(const char *path, const struct sockaddr_un *addr, struct vmon_error *err);

#endif
