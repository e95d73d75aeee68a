/* SPDX-License-Identifier: MIT */
#ifndef VMON_API_HTTP_CONN_H
#define VMON_API_HTTP_CONN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * One HTTP/1.1 server connection without its transport: bytes in (any split,
 * pipelined requests), one handler call per complete request, serialized
 * responses out. The socket server (http_server.c), the unit tests and the
 * fuzz target all drive this same core.
 *
 * What it accepts: origin-form or absolute-form request targets, bodies with
 * Content-Length or Transfer-Encoding: chunked (either way at most max_body
 * bytes, never buffered past that), Expect: 100-continue, keep-alive and
 * Connection: close, HTTP/1.0 and 1.1. What it answers itself, without the
 * handler, with {"fault_message": "..."} and Connection: close:
 *   400 malformed request (http-parser's error named), a path not starting with "/"
 *   405 CONNECT                  505 an HTTP version other than 1.x
 *   413 body over max_body (0: no body at all), answered before any of it is read
 *   414 request target over 4 KiB or path over 255 bytes
 *   417 an Expect other than 100-continue
 *   405, connection kept: a method name too long for http_request.method
 * A request with Upgrade is answered by the handler as if it had none, then
 * the connection closes. 204 answers carry neither body nor Content-Length
 * (RFC 9110 8.6), HEAD answers no body; every other answer has Content-Type
 * and Content-Length.
 */

struct http_request {
	char method[8];          /* "GET", "PUT", "PATCH", ... as http_method_str() gives */
	char path[256];          /* the URL path, query string and fragment cut off, not percent-decoded */
	const char *body;        /* NUL-terminated copy of the body ("" when none) */
	size_t body_len;
};

struct http_response {
	int status;              /* 200, 204, 400, 404, 405, 500 ... */
	const char *content_type;/* NULL: "application/json" */
	char *body;              /* malloc'd by the handler, freed by the server; NULL: no body */
	size_t body_len;
};

/* Called one request at a time (on the server thread, for the socket server). */
typedef void (*http_handler_fn)(void *ctx, const struct http_request *req, struct http_response *resp);

/*
 * Fills resp with status and the body {"fault_message": "<text>"} (Firecracker's
 * error shape), the text JSON-escaped. For handlers as well as the core.
 */
void http_response_fault(struct http_response *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void http_response_vfault(struct http_response *resp, int status, const char *fmt, va_list ap);

/* A growable byte buffer: the serialized responses. */
struct http_buf {
	char *data;
	size_t len;
	size_t cap;
};
/* Appends len bytes; 0 or -ENOMEM (the buffer unchanged). */
int http_buf_append(struct http_buf *b, const void *bytes, size_t len);
/* Drops the first n bytes (those sent). */
void http_buf_consume(struct http_buf *b, size_t n);
void http_buf_free(struct http_buf *b);

/* http_conn_feed's answers. */
enum {
	HTTP_CONN_OPEN = 0,      /* more requests may follow */
	HTTP_CONN_CLOSE = 1,     /* send what is in out, then close: later bytes are ignored */
};

struct http_conn;

/* NULL when out of memory. max_body: the largest request body accepted. */
struct http_conn *http_conn_create(size_t max_body, http_handler_fn handler, void *ctx);
void http_conn_destroy(struct http_conn *c);

/*
 * Parses len bytes (any part of any number of requests), calls the handler for
 * each complete request and appends each response (and any 100 Continue) to
 * out. Returns HTTP_CONN_OPEN, HTTP_CONN_CLOSE, or -ENOMEM when memory ran out
 * (the connection is then unusable: close it).
 *
 * With an output limit set, parsing pauses after a response that leaves out
 * holding limit bytes or more: the rest of the input is kept (http_conn_held)
 * and parsed by the next feed, which may pass no new bytes (NULL, 0) once the
 * caller has sent some of out. The responses are the same as without a limit.
 */
int http_conn_feed(struct http_conn *c, const void *bytes, size_t len, struct http_buf *out);

/* The output size at which parsing pauses (0, the default: never). */
void http_conn_set_output_limit(struct http_conn *c, size_t limit);

/* True while input is kept back by the output limit. */
bool http_conn_held(const struct http_conn *c);

/* True while part of a request has been read (for timeouts: a stalled request). */
bool http_conn_mid_request(const struct http_conn *c);

#endif
