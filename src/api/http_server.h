/* SPDX-License-Identifier: MIT */
#ifndef VMON_API_HTTP_SERVER_H
#define VMON_API_HTTP_SERVER_H

#include <stddef.h>

#include "api/http_conn.h"
#include "base/error.h"

/*
 * The API socket: HTTP/1.1 on a UNIX stream socket, served by its own thread
 * ("fc_api") with one epoll loop. Requests are parsed by http_conn.c (see
 * there for what is accepted and what is refused); the handler runs on the
 * server thread, one request at a time. Nothing on that thread blocks on a
 * client: sockets are nonblocking, responses wait in a per-connection queue
 * for EPOLLOUT, and a connection whose queue is over 256 KiB is not read
 * until the client takes its responses.
 */

#define HTTP_DEFAULT_MAX_BODY 51200   /* Firecracker's --http-api-max-payload-size default */
#define HTTP_SERVER_MAX_CONNS 64      /* more at once are answered 503 and closed */
#define HTTP_SERVER_IDLE_MS 300000    /* a connection with nothing in flight (above Go's 90 s, curl's 118 s pools) */
#define HTTP_SERVER_STALL_MS 30000    /* no progress on a partial request or on queued responses */

struct http_server;

/*
 * Creates the listening socket at path, mode 0600. An existing path that is a
 * live socket (connect succeeds) is refused ("PATH: in use by another
 * process"); a stale socket (ECONNREFUSED) is replaced; anything else that
 * exists is refused. Clients may connect at once; they are served from
 * http_server_start.
 */
int http_server_create(struct http_server **out, const char *path, size_t max_body, http_handler_fn handler,
		       void *ctx, struct vmon_error *err);

/* Changes the timeouts above (0: never); before http_server_start. */
void http_server_set_timeouts(struct http_server *s, unsigned idle_ms, unsigned stall_ms);

/* Starts the serving thread, named "fc_api". */
int http_server_start(struct http_server *s, struct vmon_error *err);

/* Stops the thread, closes every connection, unlinks the socket (if still ours); safe on NULL. */
void http_server_destroy(struct http_server *s);

#endif
