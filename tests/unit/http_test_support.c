/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "http_test_support.h"

void test_handler(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct recorder *rec = ctx;

	atomic_fetch_add(&rec->calls, 1);
	snprintf(rec->method, sizeof(rec->method), "%s", req->method);
	snprintf(rec->path, sizeof(rec->path), "%s", req->path);
	/* Runs on the server thread too, where a cmocka assert cannot jump back to the test. */
	if (strlen(req->body) != req->body_len) {
		fprintf(stderr, "body of %zu bytes handed over with body_len %zu\n", strlen(req->body), req->body_len);
		abort();
	}
	rec->body_len = req->body_len;
	snprintf(rec->body, sizeof(rec->body), "%s", req->body);
	if (strcmp(req->path, "/echo") == 0) {
		resp->status = 200;
		resp->body = strdup(req->body);
		resp->body_len = req->body_len;
	} else if (strcmp(req->path, "/empty") == 0) {
		resp->status = 204;
	} else if (strcmp(req->path, "/big") == 0) {
		resp->status = 200;
		resp->content_type = "text/plain";
		resp->body = malloc(BIG_BODY);
		memset(resp->body, 'x', BIG_BODY);
		resp->body_len = BIG_BODY;
	} else if (strcmp(req->path, "/bad") == 0) {
		resp->body = strdup("lost");
		resp->body_len = 4;
	} else {
		http_response_fault(resp, 404, "no resource at \"%s\"", req->path);
	}
}

/* ---- reading responses back with http-parser ---- */


static struct parsed_response *current(http_parser *p)
{
	struct responses *rs = p->data;

	assert_true(rs->count < MAX_RESPONSES);
	return &rs->r[rs->count];
}

/* http-parser may hand a name or a value over in pieces: they join up into "Name: value\n". */
static void append_header_text(http_parser *p, bool value, const char *at, size_t len)
{
	struct responses *rs = p->data;
	struct parsed_response *r = current(p);
	size_t n = strlen(r->headers);

	if (value && rs->in_value)
		r->headers[--n] = '\0';  /* the "\n" of the piece before */
	snprintf(r->headers + n, sizeof(r->headers) - n, "%s%.*s%s", value && !rs->in_value ? ": " : "", (int)len,
		 at, value ? "\n" : "");
	rs->in_value = value;
}

static int rs_header_field(http_parser *p, const char *at, size_t len)
{
	append_header_text(p, false, at, len);
	return 0;
}

static int rs_header_value(http_parser *p, const char *at, size_t len)
{
	append_header_text(p, true, at, len);
	return 0;
}

static int rs_body(http_parser *p, const char *at, size_t len)
{
	struct parsed_response *r = current(p);

	r->body = realloc(r->body, r->body_len + len + 1);
	memcpy(r->body + r->body_len, at, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return 0;
}

static int rs_headers_complete(http_parser *p)
{
	((struct responses *)p->data)->in_value = false;
	current(p)->status = p->status_code;
	return 0;
}

static int rs_complete(http_parser *p)
{
	((struct responses *)p->data)->count++;
	return 0;
}

static const http_parser_settings rs_settings = {
	.on_header_field = rs_header_field,
	.on_header_value = rs_header_value,
	.on_headers_complete = rs_headers_complete,
	.on_body = rs_body,
	.on_message_complete = rs_complete,
};

void responses_init(struct responses *rs)
{
	memset(rs, 0, sizeof(*rs));
	http_parser_init(&rs->parser, HTTP_RESPONSE);
	rs->parser.data = rs;
}

void responses_feed(struct responses *rs, const char *data, size_t len)
{
	size_t n = http_parser_execute(&rs->parser, &rs_settings, data, len);

	assert_int_equal(HTTP_PARSER_ERRNO(&rs->parser), HPE_OK);
	assert_int_equal(n, len);
}

void responses_free(struct responses *rs)
{
	for (int i = 0; i < MAX_RESPONSES; i++)
		free(rs->r[i].body);
}

void assert_fault_contains(const struct parsed_response *r, const char *text)
{
	json_object *obj = json_tokener_parse(r->body ? r->body : "");
	json_object *msg;

	assert_non_null(obj);
	assert_true(json_object_object_get_ex(obj, "fault_message", &msg));
	if (!strstr(json_object_get_string(msg), text))
		fail_msg("fault_message \"%s\" lacks \"%s\"", json_object_get_string(msg), text);
	json_object_put(obj);
}

int client_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
		fail_msg("connect %s: %s", path, strerror(errno));
	return fd;
}

void client_send(int fd, const char *text)
{
	size_t len = strlen(text);

	while (len) {
		ssize_t n = send(fd, text, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail_msg("send: %s", strerror(errno));
		text += n;
		len -= (size_t)n;
	}
}

static long long elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000LL + (now.tv_nsec - since->tv_nsec) / 1000000;
}

int client_read(int fd, struct responses *rs, int want, int timeout_ms, bool *eof)
{
	struct timespec start;
	char buf[16384];

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (eof)
		*eof = false;
	while (rs->count < want || eof) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = timeout_ms - elapsed_ms(&start);
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			/* ECONNRESET counts as the end too: the server is allowed to close. */
			if (eof)
				*eof = true;
			break;
		}
		responses_feed(rs, buf, (size_t)n);
	}
	return rs->count;
}
