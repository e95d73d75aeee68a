/* SPDX-License-Identifier: MIT */
#ifndef VMON_TESTS_UNIT_HTTP_TEST_SUPPORT_H
#define VMON_TESTS_UNIT_HTTP_TEST_SUPPORT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <http_parser.h>

#include "api/http_conn.h"

/*
 * For the HTTP server's tests: a handler that answers by path and records
 * the last request, and a client side that reads responses back with
 * http-parser (HTTP_RESPONSE) from bytes or from a socket.
 */

struct recorder {
	atomic_int calls;
	char method[8];
	char path[256];
	char body[256];
	size_t body_len;
};

#define BIG_BODY (64 * 1024)

/* "/echo": 200 with the request body; "/empty": 204; "/big": 64 KiB of text; "/bad": status 0; else 404. */
void test_handler(void *ctx, const struct http_request *req, struct http_response *resp);

#define MAX_RESPONSES 16

struct parsed_response {
	int status;
	char headers[1024];     /* "Name: value\n" each */
	char *body;             /* NUL-terminated */
	size_t body_len;
};

struct responses {
	http_parser parser;
	int count;              /* complete ones */
	bool in_value;
	struct parsed_response r[MAX_RESPONSES];
};

void responses_init(struct responses *rs);
/* Parses more bytes; fails the test on anything that is not a valid response stream. */
void responses_feed(struct responses *rs, const char *data, size_t len);
void responses_free(struct responses *rs);

/* Fails the test unless r's body is {"fault_message": "...text..."}. */
void assert_fault_contains(const struct parsed_response *r, const char *text);

/* A blocking client connected to path (fails the test if it cannot). */
int client_connect(const char *path);
void client_send(int fd, const char *text);
/*
 * Reads from fd into rs until it holds want responses (and, with eof
 * non-NULL, until the peer closes: *eof is then true) or timeout_ms pass.
 * Returns rs->count.
 */
int client_read(int fd, struct responses *rs, int want, int timeout_ms, bool *eof);

#endif
