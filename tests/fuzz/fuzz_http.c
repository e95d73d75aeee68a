/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the API's HTTP core (src/api/http_conn.c): whatever
 * bytes a client sends on the API socket. Built by build.sh with clang
 * (-fsanitize=fuzzer,address,undefined), not by meson.
 *
 * Input layout (make_http_corpus.py writes the same):
 *   byte 0      config: bits 0-5 = piece size for the second run (0: 1 byte),
 *               bits 6-7 = max_body (16, 1024, 51200 or 0 bytes)
 *   the rest    the bytes the client sends
 *
 * Each input runs twice: once fed at once without an output limit, once fed
 * in pieces with an output limit of 1 byte (parsing pauses after every
 * response; the output is drained between feeds, as the server does). The
 * handler parses each body with json_tokener_parse. Checked: both runs give
 * byte-identical output and the same handler calls and verdict (how bytes
 * arrive and how fast the client reads never changes an answer); the output
 * parses as a stream of HTTP responses (unless a HEAD, whose answers have no
 * body, may be in it); a closed connection takes no more requests.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>
#include <json-c/json.h>

#include "api/http_conn.h"

struct run {
	struct http_buf out;
	unsigned calls;
	uint64_t digest;        /* of every request the handler saw, in order */
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;  /* FNV-1a */
	return h;
}

/* Answers by what the body and path are, so that every kind of response comes out. */
static void handler(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct run *run = ctx;
	json_object *obj;

	if (strlen(req->body) > req->body_len || req->path[0] != '/' || strlen(req->method) >= sizeof(req->method))
		abort();
	run->calls++;
	run->digest = mix(run->digest, req->method, strlen(req->method) + 1);
	run->digest = mix(run->digest, req->path, strlen(req->path) + 1);
	run->digest = mix(run->digest, req->body, req->body_len);

	obj = json_tokener_parse(req->body);
	if (strcmp(req->path, "/empty") == 0) {
		resp->status = 204;
	} else if (strcmp(req->path, "/bad") == 0) {
		resp->status = 0;
	} else if (strcmp(req->path, "/type") == 0) {
		resp->status = 200;
		resp->content_type = "text/plain\r\nX-Injected: yes";
	} else if (obj) {
		const char *json = json_object_to_json_string(obj);

		resp->status = 200;
		resp->body = strdup(json);
		resp->body_len = resp->body ? strlen(resp->body) : 0;
	} else if (req->body_len) {
		http_response_fault(resp, 400, "%s %s: the body is not JSON", req->method, req->path);
	} else {
		http_response_fault(resp, 404, "no resource at \"%s\"", req->path);
	}
	json_object_put(obj);
}

static const size_t max_bodies[4] = { 16, 1024, 51200, 0 };

static int run_once(struct run *run, size_t max_body, const char *bytes, size_t len, size_t piece, bool limited,
		    struct http_buf *collected)
{
	struct http_conn *c = http_conn_create(max_body, handler, run);
	int verdict = HTTP_CONN_OPEN;

	if (!c)
		abort();
	if (limited)
		http_conn_set_output_limit(c, 1);
	for (size_t off = 0; off < len && verdict == HTTP_CONN_OPEN; off += piece) {
		size_t n = len - off < piece ? len - off : piece;

		verdict = http_conn_feed(c, bytes + off, n, &run->out);
		/* Drain as a client that reads, then let the held input go on. */
		while (verdict == HTTP_CONN_OPEN && limited && http_conn_held(c)) {
			if (http_buf_append(collected, run->out.data, run->out.len))
				abort();
			http_buf_consume(&run->out, run->out.len);
			verdict = http_conn_feed(c, NULL, 0, &run->out);
		}
	}
	if (verdict < 0)
		abort();  /* no memory: not under a fuzzer's limits */
	if (verdict == HTTP_CONN_CLOSE) {
		unsigned calls = run->calls;
		size_t out_len = run->out.len;

		if (http_conn_feed(c, "GET / HTTP/1.1\r\n\r\n", 18, &run->out) != HTTP_CONN_CLOSE ||
		    run->calls != calls || run->out.len != out_len)
			abort();
	}
	if (http_buf_append(collected, run->out.data, run->out.len))
		abort();
	http_buf_free(&run->out);
	http_conn_destroy(c);
	return verdict;
}

static int on_complete(http_parser *p)
{
	(*(unsigned *)p->data)++;
	return 0;
}

/* The output is a well-formed stream of responses: http-parser reads it all. */
static void check_responses(const struct http_buf *out)
{
	static const http_parser_settings settings = { .on_message_complete = on_complete };
	unsigned count = 0;
	http_parser p;

	if (!out->len)
		return;
	http_parser_init(&p, HTTP_RESPONSE);
	p.data = &count;
	if (http_parser_execute(&p, &settings, out->data, out->len) != out->len ||
	    HTTP_PARSER_ERRNO(&p) != HPE_OK || count == 0) {
		fprintf(stderr, "fuzz_http: output is no response stream (%s):\n%.*s\n",
			http_errno_name(HTTP_PARSER_ERRNO(&p)), (int)out->len, out->data);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole = { .digest = 0xcbf29ce484222325ull }, pieces = { .digest = 0xcbf29ce484222325ull };
	struct http_buf out_whole = { 0 }, out_pieces = { 0 };
	const char *bytes = (const char *)data + 1;
	size_t len, piece, max_body;
	int v1, v2;

	if (size < 1)
		return 0;
	len = size - 1;
	piece = data[0] & 63 ? data[0] & 63 : 1;
	max_body = max_bodies[data[0] >> 6];

	v1 = run_once(&whole, max_body, bytes, len, len ? len : 1, false, &out_whole);
	v2 = run_once(&pieces, max_body, bytes, len, piece, true, &out_pieces);
	if (v1 != v2 || whole.calls != pieces.calls || whole.digest != pieces.digest ||
	    out_whole.len != out_pieces.len ||
	    (out_whole.len && memcmp(out_whole.data, out_pieces.data, out_whole.len))) {
		fprintf(stderr, "fuzz_http: fed at once: verdict %d, %u calls, %zu bytes out; in %zu-byte pieces: "
			"verdict %d, %u calls, %zu bytes out\n", v1, whole.calls, out_whole.len, piece, v2,
			pieces.calls, out_pieces.len);
		abort();
	}
	if (!memmem(bytes, len, "HEAD", 4))
		check_responses(&out_whole);
	http_buf_free(&out_whole);
	http_buf_free(&out_pieces);
	return 0;
}
