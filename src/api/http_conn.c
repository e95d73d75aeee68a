/* SPDX-License-Identifier: MIT */
#include "api/http_conn.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>
#include <json-c/json.h>

#include "base/utf8.h"

/* The longest request target kept (path plus query): longer is answered 414. */
#define URL_MAX 4096
/* Header names and values the core reads (Expect) fit in this; longer ones are some other header. */
#define SMALL_MAX 32
/* A handler's Content-Type longer than this is refused (500): it goes into our header block. */
#define CONTENT_TYPE_MAX 128

struct http_conn {
	http_parser parser;
	size_t max_body;
	http_handler_fn handler;
	void *ctx;

	struct http_buf *out;   /* during http_conn_feed only */
	size_t out_limit;       /* pause after a response once out holds this much (0: never) */
	char *held;             /* input after such a pause, waiting for out to drain */
	size_t held_len;
	bool out_failed;        /* out could not grow: the feed answers -ENOMEM */
	bool closed;            /* a response said Connection: close; later bytes are ignored */
	bool mid_request;

	/* The request being read. */
	char url[URL_MAX];
	size_t url_len;
	char field[SMALL_MAX];
	size_t field_len;       /* > SMALL_MAX - 1: too long to be one we read */
	bool in_value;
	bool value_is_expect;
	bool saw_expect;
	char expect[SMALL_MAX];
	size_t expect_len;
	char path[sizeof(((struct http_request *)0)->path)];
	bool method_too_long;
	char *body;
	size_t body_len;
	size_t body_cap;
};

void http_response_vfault(struct http_response *resp, int status, const char *fmt, va_list ap)
{
	char text[512];
	json_object *obj = json_object_new_object();
	json_object *str;

	vsnprintf(text, sizeof(text), fmt, ap);
	utf8_repair(text);   /* the text may quote the client's bytes, or be cut inside a character */
	resp->status = status;
	resp->content_type = NULL;
	resp->body = NULL;
	resp->body_len = 0;
	if (!obj)
		return;
	str = json_object_new_string(text);
	if (str && json_object_object_add(obj, "fault_message", str) == 0) {
		const char *json = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
									JSON_C_TO_STRING_NOSLASHESCAPE);
		resp->body = json ? strdup(json) : NULL;
		resp->body_len = resp->body ? strlen(resp->body) : 0;
	} else {
		json_object_put(str);
	}
	json_object_put(obj);
}

void http_response_fault(struct http_response *resp, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	http_response_vfault(resp, status, fmt, ap);
	va_end(ap);
}

int http_buf_append(struct http_buf *b, const void *bytes, size_t len)
{
	if (len > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *data;

		while (cap < b->len + len)
			cap *= 2;
		data = realloc(b->data, cap);
		if (!data)
			return -ENOMEM;
		b->data = data;
		b->cap = cap;
	}
	if (len)
		memcpy(b->data + b->len, bytes, len);
	b->len += len;
	return 0;
}

void http_buf_consume(struct http_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void http_buf_free(struct http_buf *b)
{
	free(b->data);
	*b = (struct http_buf){ 0 };
}

static struct http_conn *conn_of(http_parser *p)
{
	return p->data;
}

static bool valid_content_type(const char *type)
{
	size_t n = strnlen(type, CONTENT_TYPE_MAX + 1);

	if (n == 0 || n > CONTENT_TYPE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)type[i] < 0x20 || type[i] == 0x7f)
			return false;
	return true;
}

static const char *reason_phrase(int status)
{
	const char *s = http_status_str((enum http_status)status);

	return strcmp(s, "<unknown>") ? s : "Status";
}

/*
 * Appends the response (status line, headers, body) to out, all or nothing.
 * 204 has neither Content-Length nor Content-Type (RFC 9110 8.6: a server
 * must not send Content-Length with 204); a HEAD answer has the headers only.
 */
static void append_response(struct http_conn *c, const struct http_response *r, bool head, bool close)
{
	struct http_buf *out = c->out;
	size_t start = out->len;
	bool no_content = r->status == 204;
	const char *type = r->content_type ? r->content_type : "application/json";
	char head_buf[512];
	int n;

	n = snprintf(head_buf, sizeof(head_buf), "HTTP/1.1 %d %s\r\nServer: vmon\r\n", r->status,
		     reason_phrase(r->status));
	if (!no_content)
		n += snprintf(head_buf + n, sizeof(head_buf) - n, "Content-Type: %s\r\nContent-Length: %zu\r\n",
			      type, r->body ? r->body_len : 0);
	if (close)
		n += snprintf(head_buf + n, sizeof(head_buf) - n, "Connection: close\r\n");
	else if (c->parser.http_major == 1 && c->parser.http_minor == 0)
		n += snprintf(head_buf + n, sizeof(head_buf) - n, "Connection: keep-alive\r\n");
	n += snprintf(head_buf + n, sizeof(head_buf) - n, "\r\n");
	if (http_buf_append(out, head_buf, (size_t)n) ||
	    (!no_content && !head && r->body && http_buf_append(out, r->body, r->body_len))) {
		out->len = start;
		c->out_failed = true;
	}
}

/* Answers the core's own error and closes the connection; returns the parser's "stop". */
static int refuse(struct http_conn *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int refuse(struct http_conn *c, int status, const char *fmt, ...)
{
	struct http_response resp;
	va_list ap;

	va_start(ap, fmt);
	http_response_vfault(&resp, status, fmt, ap);
	va_end(ap);
	c->closed = true;
	/* Even to a HEAD: the connection closes after it, so nothing can mistake the body for a response. */
	append_response(c, &resp, false, true);
	free(resp.body);
	return -1;
}

static void reset_request(struct http_conn *c)
{
	free(c->body);
	c->body = NULL;
	c->body_len = c->body_cap = 0;
	c->url_len = c->field_len = c->expect_len = 0;
	c->in_value = c->value_is_expect = c->saw_expect = c->method_too_long = false;
	c->path[0] = c->field[0] = c->expect[0] = '\0';
}

static int on_message_begin(http_parser *p)
{
	struct http_conn *c = conn_of(p);

	reset_request(c);
	c->mid_request = true;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = conn_of(p);

	if (len > sizeof(c->url) - c->url_len)
		return refuse(c, 414, "request target longer than %zu bytes", sizeof(c->url));
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	return 0;
}

/* Appends to a SMALL_MAX buffer; *used == SMALL_MAX marks a string too long to be one we read. */
static void append_small(char *buf, size_t *used, const char *at, size_t len)
{
	if (*used >= SMALL_MAX || len >= SMALL_MAX - *used) {
		*used = SMALL_MAX;
		return;
	}
	memcpy(buf + *used, at, len);
	*used += len;
	buf[*used] = '\0';
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = conn_of(p);

	if (c->in_value) {
		c->in_value = false;
		c->field_len = 0;
		c->field[0] = '\0';
	}
	append_small(c->field, &c->field_len, at, len);
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = conn_of(p);

	if (!c->in_value) {
		c->in_value = true;
		c->value_is_expect = c->field_len < SMALL_MAX && strcasecmp(c->field, "expect") == 0;
		if (c->value_is_expect) {
			/* A repeated Expect runs into the first: an unknown expectation (417). */
			if (c->saw_expect)
				c->expect_len = SMALL_MAX;
			c->saw_expect = true;
		}
	}
	if (c->value_is_expect)
		append_small(c->expect, &c->expect_len, at, len);
	return 0;
}

static bool is_100_continue(const struct http_conn *c)
{
	size_t n = c->expect_len;

	if (n >= SMALL_MAX)
		return false;
	while (n && (c->expect[n - 1] == ' ' || c->expect[n - 1] == '\t'))
		n--;
	return n == 12 && strncasecmp(c->expect, "100-continue", 12) == 0;
}

/* Cuts the path out of the request target (origin form "/a?q" or absolute form "http://h/a"). */
static int take_path(struct http_conn *c)
{
	struct http_parser_url u;
	const char *path = "/";
	size_t len = 1;

	http_parser_url_init(&u);
	if (http_parser_parse_url(c->url, c->url_len, 0, &u))
		return refuse(c, 400, "malformed request target \"%.*s\"", (int)(c->url_len < 64 ? c->url_len : 64),
			      c->url);
	if (u.field_set & (1 << UF_PATH)) {
		path = c->url + u.field_data[UF_PATH].off;
		len = u.field_data[UF_PATH].len;
	}
	/* "*" (OPTIONS' asterisk form) and the like: no resource of ours. */
	if (path[0] != '/')
		return refuse(c, 400, "malformed request target \"%.*s\": the path must start with \"/\"",
			      (int)(len < 64 ? len : 64), path);
	if (len >= sizeof(c->path))
		return refuse(c, 414, "path longer than %zu bytes", sizeof(c->path) - 1);
	memcpy(c->path, path, len);
	c->path[len] = '\0';
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct http_conn *c = conn_of(p);
	bool chunked = p->flags & F_CHUNKED;
	bool has_length = !chunked && p->content_length != ULLONG_MAX;
	bool expects_body = chunked || (has_length && p->content_length > 0);

	if (p->http_major != 1)
		return refuse(c, 505, "HTTP version %u.%u is not supported (HTTP/1.0 and 1.1 are)", p->http_major,
			      p->http_minor);
	if (p->method == HTTP_CONNECT)
		return refuse(c, 405, "method CONNECT is not supported");
	if (take_path(c))
		return -1;
	c->method_too_long = strlen(http_method_str(p->method)) >= sizeof(((struct http_request *)0)->method);
	if (c->saw_expect && !is_100_continue(c))
		return refuse(c, 417, "Expect: only 100-continue is supported");
	if (has_length && p->content_length > c->max_body)
		return refuse(c, 413, "request body of %llu bytes is over the limit of %zu bytes",
			      (unsigned long long)p->content_length, c->max_body);
	if (has_length && p->content_length > 0) {
		c->body_cap = (size_t)p->content_length + 1;
		c->body = malloc(c->body_cap);
		if (!c->body)
			return refuse(c, 500, "out of memory for a request body of %llu bytes",
				      (unsigned long long)p->content_length);
	}
	if (c->saw_expect && expects_body) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		if (http_buf_append(c->out, cont, sizeof(cont) - 1)) {
			c->out_failed = c->closed = true;
			return -1;
		}
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = conn_of(p);

	/* Only a chunked body can get here past the limit: Content-Length was checked. */
	if (len > c->max_body - c->body_len)
		return refuse(c, 413, "request body is over the limit of %zu bytes", c->max_body);
	if (c->body_len + len + 1 > c->body_cap) {
		size_t cap = c->body_cap ? c->body_cap : 1024;
		char *body;

		while (cap < c->body_len + len + 1)
			cap *= 2;
		if (cap > c->max_body + 1)
			cap = c->max_body + 1;
		body = realloc(c->body, cap);
		if (!body)
			return refuse(c, 500, "out of memory for a request body of %zu bytes", c->body_len + len);
		c->body = body;
		c->body_cap = cap;
	}
	memcpy(c->body + c->body_len, at, len);
	c->body_len += len;
	return 0;
}

static void call_handler(struct http_conn *c, struct http_response *resp)
{
	struct http_request req = { .body = c->body ? c->body : "", .body_len = c->body_len };
	const char *method = http_method_str(c->parser.method);

	if (c->method_too_long) {
		http_response_fault(resp, 405, "method %s is not supported", method);
		return;
	}
	if (c->body)
		c->body[c->body_len] = '\0';
	snprintf(req.method, sizeof(req.method), "%s", method);
	memcpy(req.path, c->path, sizeof(req.path));
	c->handler(c->ctx, &req, resp);
	if (resp->status < 200 || resp->status > 599 || (resp->body_len && !resp->body)) {
		int bad = resp->status;

		free(resp->body);
		http_response_fault(resp, 500, "internal error: the handler of %s %s gave status %d", method,
				    c->path, bad);
	} else if (resp->content_type && !valid_content_type(resp->content_type)) {
		free(resp->body);
		http_response_fault(resp, 500, "internal error: the handler of %s %s gave a bad Content-Type",
				    method, c->path);
	}
}

static int on_message_complete(http_parser *p)
{
	struct http_conn *c = conn_of(p);
	struct http_response resp = { .status = 0 };
	/* An Upgrade is not taken: after this answer the connection ends. */
	bool close = !http_should_keep_alive(p) || p->upgrade;

	call_handler(c, &resp);
	append_response(c, &resp, p->method == HTTP_HEAD, close);
	free(resp.body);
	reset_request(c);
	c->mid_request = false;
	if (close || c->out_failed) {
		c->closed = true;
		return -1;
	}
	/* A client that pipelines faster than it reads: the rest of its input waits. */
	if (c->out_limit && c->out->len >= c->out_limit)
		http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings parser_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

struct http_conn *http_conn_create(size_t max_body, http_handler_fn handler, void *ctx)
{
	struct http_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->max_body = max_body;
	c->handler = handler;
	c->ctx = ctx;
	return c;
}

void http_conn_set_output_limit(struct http_conn *c, size_t limit)
{
	c->out_limit = limit;
}

void http_conn_destroy(struct http_conn *c)
{
	if (!c)
		return;
	free(c->body);
	free(c->held);
	free(c);
}

/* Keeps bytes[used..len) for later; 0 or -ENOMEM. bytes may point into c->held. */
static int hold_rest(struct http_conn *c, const char *bytes, size_t len, size_t used)
{
	size_t rest = len - used;
	char *held;

	if (bytes == c->held) {
		memmove(c->held, c->held + used, rest);
		c->held_len = rest;
		return 0;
	}
	held = malloc(rest);
	if (!held)
		return -ENOMEM;
	memcpy(held, bytes + used, rest);
	c->held = held;
	c->held_len = rest;
	return 0;
}

int http_conn_feed(struct http_conn *c, const void *data, size_t len, struct http_buf *out)
{
	const char *bytes = data;
	enum http_errno e;
	size_t used;

	if (c->closed)
		return c->out_failed ? -ENOMEM : HTTP_CONN_CLOSE;
	if (c->held_len) {
		/* New bytes queue behind the held ones. */
		if (len) {
			char *more = len > SIZE_MAX - c->held_len ? NULL : realloc(c->held, c->held_len + len);

			if (!more) {
				c->closed = c->out_failed = true;
				return -ENOMEM;
			}
			memcpy(more + c->held_len, bytes, len);
			c->held = more;
			c->held_len += len;
		}
		bytes = c->held;
		len = c->held_len;
	}
	if (len == 0)  /* http_parser reads 0 bytes as the end of the stream */
		return HTTP_CONN_OPEN;
	c->out = out;
	used = http_parser_execute(&c->parser, &parser_settings, bytes, len);
	e = HTTP_PARSER_ERRNO(&c->parser);
	if (e == HPE_PAUSED) {
		http_parser_pause(&c->parser, 0);
		if (hold_rest(c, bytes, len, used))
			c->closed = c->out_failed = true;
	} else {
		c->held_len = 0;
		if (!c->closed && e != HPE_OK)
			refuse(c, 400, "malformed request: %s (%s)", http_errno_description(e), http_errno_name(e));
	}
	if (!c->held_len) {
		free(c->held);
		c->held = NULL;
	}
	c->out = NULL;
	if (c->out_failed)
		return -ENOMEM;
	return c->closed ? HTTP_CONN_CLOSE : HTTP_CONN_OPEN;
}

bool http_conn_held(const struct http_conn *c)
{
	return c->held_len && !c->closed;
}

bool http_conn_mid_request(const struct http_conn *c)
{
	return (c->mid_request || c->held_len) && !c->closed;
}
