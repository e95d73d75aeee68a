/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <json-c/json.h>

#include "api/http_server.h"
#include "http_test_support.h"
#include "unit_skip.h"

/*
 * The HTTP core (http_conn) fed bytes directly, then the server on a real
 * UNIX socket in a temporary directory with clients on plain sockets.
 */

/* ---- the core ---- */

struct core {
	struct recorder rec;
	struct http_conn *conn;
	struct http_buf out;
	struct responses rs;
};

static int core_setup(void **state)
{
	struct core *k = calloc(1, sizeof(*k));

	k->conn = http_conn_create(1024, test_handler, &k->rec);
	assert_non_null(k->conn);
	responses_init(&k->rs);
	*state = k;
	return 0;
}

static int core_teardown(void **state)
{
	struct core *k = *state;

	http_conn_destroy(k->conn);
	http_buf_free(&k->out);
	responses_free(&k->rs);
	free(k);
	return 0;
}

/* Feeds text in pieces of step bytes (0: at once); returns the last feed's answer and parses the output. */
static int feed(struct core *k, const char *text, size_t step)
{
	size_t len = strlen(text);
	int r = HTTP_CONN_OPEN;

	if (!step)
		step = len;
	for (size_t off = 0; off < len && r == HTTP_CONN_OPEN; off += step)
		r = http_conn_feed(k->conn, text + off, len - off < step ? len - off : step, &k->out);
	responses_feed(&k->rs, k->out.data, k->out.len);
	http_buf_consume(&k->out, k->out.len);
	return r;
}

static void get_answers_with_json_headers(void **state)
{
	struct core *k = *state;

	assert_int_equal(feed(k, "GET /machine-config?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n", 0), HTTP_CONN_OPEN);
	assert_int_equal(k->rec.calls, 1);
	assert_string_equal(k->rec.method, "GET");
	assert_string_equal(k->rec.path, "/machine-config");
	assert_int_equal(k->rec.body_len, 0);
	assert_int_equal(k->rs.count, 1);
	assert_int_equal(k->rs.r[0].status, 404);
	assert_non_null(strstr(k->rs.r[0].headers, "Content-Type: application/json\n"));
	assert_non_null(strstr(k->rs.r[0].headers, "Content-Length: "));
	assert_null(strstr(k->rs.r[0].headers, "Connection: close"));
	assert_fault_contains(&k->rs.r[0], "no resource at \"/machine-config\"");
}

static void absolute_form_target_gives_its_path(void **state)
{
	struct core *k = *state;

	feed(k, "PUT http://localhost/echo HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 0);
	assert_string_equal(k->rec.path, "/echo");
	assert_string_equal(k->rec.method, "PUT");
	assert_int_equal(k->rs.r[0].status, 200);
	assert_string_equal(k->rs.r[0].body, "{}");
}

static void body_split_byte_by_byte(void **state)
{
	struct core *k = *state;
	const char *req = "PATCH /echo HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n"
			  "{\"state\": \"Paused\"}\n";

	assert_int_equal(feed(k, req, 1), HTTP_CONN_OPEN);
	assert_int_equal(k->rec.calls, 1);
	assert_string_equal(k->rec.method, "PATCH");
	assert_string_equal(k->rec.body, "{\"state\": \"Paused\"}\n");
	assert_int_equal(k->rs.count, 1);
	assert_string_equal(k->rs.r[0].body, "{\"state\": \"Paused\"}\n");
}

static void pipelined_requests_answered_in_order(void **state)
{
	struct core *k = *state;

	feed(k, "PUT /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\none"
		"GET /empty HTTP/1.1\r\n\r\n"
		"PUT /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nthree", 7);
	assert_int_equal(k->rec.calls, 3);
	assert_int_equal(k->rs.count, 3);
	assert_string_equal(k->rs.r[0].body, "one");
	/* 204: neither Content-Length nor a body (RFC 9110 8.6). */
	assert_int_equal(k->rs.r[1].status, 204);
	assert_null(strstr(k->rs.r[1].headers, "Content-Length"));
	assert_int_equal(k->rs.r[1].body_len, 0);
	assert_string_equal(k->rs.r[2].body, "three");
}

static void connection_close_ends_after_the_answer(void **state)
{
	struct core *k = *state;

	assert_int_equal(feed(k, "GET /empty HTTP/1.1\r\nConnection: close\r\n\r\nGET /empty HTTP/1.1\r\n\r\n", 0),
			 HTTP_CONN_CLOSE);
	assert_int_equal(k->rec.calls, 1);
	assert_int_equal(k->rs.count, 1);
	assert_non_null(strstr(k->rs.r[0].headers, "Connection: close\n"));
	/* Later bytes are ignored. */
	assert_int_equal(http_conn_feed(k->conn, "GET / HTTP/1.1\r\n\r\n", 18, &k->out), HTTP_CONN_CLOSE);
	assert_int_equal(k->out.len, 0);
}

static void http10_closes_unless_keep_alive(void **state)
{
	struct core *k = *state;

	assert_int_equal(feed(k, "GET /empty HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0), HTTP_CONN_OPEN);
	assert_non_null(strstr(k->rs.r[0].headers, "Connection: keep-alive\n"));
	assert_int_equal(feed(k, "GET /empty HTTP/1.0\r\n\r\n", 0), HTTP_CONN_CLOSE);
	assert_int_equal(k->rs.count, 2);
}

static void oversized_length_refused_before_the_body(void **state)
{
	struct core *k = *state;

	/* A terabyte announced: answered at once, nothing allocated for it. */
	assert_int_equal(feed(k, "PUT /echo HTTP/1.1\r\nContent-Length: 1099511627776\r\n\r\nabc", 0),
			 HTTP_CONN_CLOSE);
	assert_int_equal(k->rec.calls, 0);
	assert_int_equal(k->rs.r[0].status, 413);
	assert_non_null(strstr(k->rs.r[0].headers, "Connection: close\n"));
	assert_fault_contains(&k->rs.r[0], "over the limit of 1024 bytes");
}

static void body_at_the_limit_accepted(void **state)
{
	struct core *k = *state;
	char req[2048];
	int n = snprintf(req, sizeof(req), "PUT /echo HTTP/1.1\r\nContent-Length: 1024\r\n\r\n");

	memset(req + n, 'a', 1024);
	req[n + 1024] = '\0';
	assert_int_equal(feed(k, req, 100), HTTP_CONN_OPEN);
	assert_int_equal(k->rs.r[0].status, 200);
	assert_int_equal(k->rs.r[0].body_len, 1024);
}

static void chunked_body_decoded_and_limited(void **state)
{
	struct core *k = *state;
	char big[4096];
	int n;

	assert_int_equal(feed(k, "PUT /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				 "4\r\nvmon\r\n6\r\n rocks\r\n0\r\n\r\n", 3), HTTP_CONN_OPEN);
	assert_string_equal(k->rec.body, "vmon rocks");
	assert_string_equal(k->rs.r[0].body, "vmon rocks");

	n = snprintf(big, sizeof(big), "PUT /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 3; i++)
		n += snprintf(big + n, sizeof(big) - n, "200\r\n%0512d\r\n", 0);
	assert_int_equal(feed(k, big, 0), HTTP_CONN_CLOSE);
	assert_int_equal(k->rec.calls, 1);
	assert_int_equal(k->rs.r[1].status, 413);
	assert_fault_contains(&k->rs.r[1], "over the limit of 1024 bytes");
}

static void expect_100_continue_answered_before_the_body(void **state)
{
	struct core *k = *state;

	feed(k, "PUT /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n", 0);
	assert_int_equal(k->rs.count, 1);
	assert_int_equal(k->rs.r[0].status, 100);
	assert_int_equal(k->rec.calls, 0);
	feed(k, "body", 0);
	assert_int_equal(k->rs.count, 2);
	assert_int_equal(k->rs.r[1].status, 200);
	assert_string_equal(k->rs.r[1].body, "body");
}

static void expect_with_oversized_body_gets_413_only(void **state)
{
	struct core *k = *state;

	assert_int_equal(feed(k, "PUT /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n", 0),
			 HTTP_CONN_CLOSE);
	assert_int_equal(k->rs.count, 1);
	assert_int_equal(k->rs.r[0].status, 413);
}

static void unknown_expectation_refused(void **state)
{
	struct core *k = *state;

	assert_int_equal(feed(k, "PUT /echo HTTP/1.1\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx", 0),
			 HTTP_CONN_CLOSE);
	assert_int_equal(k->rs.r[0].status, 417);
	assert_fault_contains(&k->rs.r[0], "100-continue");
}

static void malformed_requests_get_400_and_close(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"HELLO WORLD\r\n\r\n",
		"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
		"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"GET /\x01 HTTP/1.1\r\n\r\n",
		"GET * HTTP/1.1\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct core *k;
		void *st;

		core_setup(&st);
		k = st;
		assert_int_equal(feed(k, bad[i], 0), HTTP_CONN_CLOSE);
		assert_int_equal(k->rec.calls, 0);
		assert_int_equal(k->rs.count, 1);
		if (k->rs.r[0].status != 400)
			fail_msg("request %zu: status %d, not 400", i, k->rs.r[0].status);
		assert_non_null(strstr(k->rs.r[0].headers, "Connection: close\n"));
		assert_fault_contains(&k->rs.r[0], "malformed");
		core_teardown(&st);
	}
}

static void long_targets_get_414(void **state)
{
	struct core *k = *state;
	char req[8192];
	int n = snprintf(req, sizeof(req), "GET /");

	memset(req + n, 'p', 300);
	snprintf(req + n + 300, sizeof(req) - n - 300, " HTTP/1.1\r\n\r\n");
	assert_int_equal(feed(k, req, 0), HTTP_CONN_CLOSE);
	assert_int_equal(k->rs.r[0].status, 414);
	assert_fault_contains(&k->rs.r[0], "path longer than 255 bytes");

	http_conn_destroy(k->conn);
	k->conn = http_conn_create(1024, test_handler, &k->rec);
	responses_free(&k->rs);
	responses_init(&k->rs);
	n = snprintf(req, sizeof(req), "GET /?");
	memset(req + n, 'q', 5000);
	snprintf(req + n + 5000, sizeof(req) - n - 5000, " HTTP/1.1\r\n\r\n");
	assert_int_equal(feed(k, req, 1000), HTTP_CONN_CLOSE);
	assert_int_equal(k->rs.r[0].status, 414);
	assert_int_equal(k->rec.calls, 0);
}

static void methods_too_long_get_405_and_keep_the_connection(void **state)
{
	struct core *k = *state;

	assert_int_equal(feed(k, "MKACTIVITY /echo HTTP/1.1\r\nContent-Length: 1\r\n\r\nxGET /empty HTTP/1.1\r\n\r\n",
			      0), HTTP_CONN_OPEN);
	assert_int_equal(k->rs.count, 2);
	assert_int_equal(k->rs.r[0].status, 405);
	assert_fault_contains(&k->rs.r[0], "MKACTIVITY");
	assert_int_equal(k->rs.r[1].status, 204);
	assert_int_equal(k->rec.calls, 1);
}

static void output_limit_holds_pipelined_input_back(void **state)
{
	struct core *k = *state;
	static const char three[] = "PUT /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\none"
				    "GET /empty HTTP/1.1\r\n\r\n"
				    "PUT /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nthree";

	http_conn_set_output_limit(k->conn, 1);
	assert_int_equal(http_conn_feed(k->conn, three, sizeof(three) - 1, &k->out), HTTP_CONN_OPEN);
	assert_int_equal(k->rec.calls, 1);
	assert_true(http_conn_held(k->conn));
	assert_true(http_conn_mid_request(k->conn));
	/* New bytes queue behind the held ones; nothing is answered while out is full. */
	assert_int_equal(http_conn_feed(k->conn, "GET /empty HTTP/1.1\r\n\r\n", 23, &k->out), HTTP_CONN_OPEN);
	assert_int_equal(k->rec.calls, 2);
	for (int i = 0; i < 2; i++) {
		responses_feed(&k->rs, k->out.data, k->out.len);
		http_buf_consume(&k->out, k->out.len);
		assert_int_equal(http_conn_feed(k->conn, NULL, 0, &k->out), HTTP_CONN_OPEN);
	}
	assert_false(http_conn_held(k->conn));
	responses_feed(&k->rs, k->out.data, k->out.len);
	assert_int_equal(k->rs.count, 4);
	assert_string_equal(k->rs.r[0].body, "one");
	assert_int_equal(k->rs.r[1].status, 204);
	assert_string_equal(k->rs.r[2].body, "three");
	assert_int_equal(k->rs.r[3].status, 204);
}

static void head_answer_has_no_body(void **state)
{
	struct core *k = *state;

	assert_int_equal(http_conn_feed(k->conn, "HEAD /echo HTTP/1.1\r\n\r\n", 23, &k->out), HTTP_CONN_OPEN);
	assert_non_null(memmem(k->out.data, k->out.len, "Content-Length: 0\r\n", 19));
	assert_memory_equal(k->out.data + k->out.len - 4, "\r\n\r\n", 4);
}

static void handler_without_status_gives_500(void **state)
{
	struct core *k = *state;

	assert_int_equal(feed(k, "GET /bad HTTP/1.1\r\n\r\n", 0), HTTP_CONN_OPEN);
	assert_int_equal(k->rs.r[0].status, 500);
	assert_fault_contains(&k->rs.r[0], "gave status 0");
}

static void fault_text_is_escaped(void **state)
{
	struct http_response resp;
	json_object *obj, *msg;
	(void)state;

	http_response_fault(&resp, 400, "unknown field \"%s\"", "a\"b\\c\n/");
	assert_int_equal(resp.status, 400);
	assert_int_equal(strlen(resp.body), resp.body_len);
	obj = json_tokener_parse(resp.body);
	assert_non_null(obj);
	assert_true(json_object_object_get_ex(obj, "fault_message", &msg));
	assert_string_equal(json_object_get_string(msg), "unknown field \"a\"b\\c\n/\"");
	json_object_put(obj);
	free(resp.body);
}

/* Found by tests/fuzz/fuzz_api: a fault quoting the client's bytes was no UTF-8, so no JSON text. */
static void fault_text_is_utf8(void **state)
{
	struct http_response resp;
	json_object *obj, *msg;
	char cut[600];
	(void)state;

	http_response_fault(&resp, 400, "Invalid path: %s (%s)", "/a\xff\xc3", "caf\xc3\xa9");
	assert_string_equal(resp.body, "{\"fault_message\":\"Invalid path: /a?? (caf\xc3\xa9)\"}");
	free(resp.body);
	/* A message cut at the buffer's end inside a character loses the partial character only. */
	memset(cut, 'x', sizeof(cut));
	memcpy(cut + 509, "\xe2\x82\xac", 3);
	cut[sizeof(cut) - 1] = '\0';
	http_response_fault(&resp, 400, "%s", cut);
	obj = json_tokener_parse(resp.body);
	assert_non_null(obj);
	assert_true(json_object_object_get_ex(obj, "fault_message", &msg));
	assert_int_equal(json_object_get_string_len(msg), 511);
	assert_memory_equal(json_object_get_string(msg) + 509, "??", 2);
	json_object_put(obj);
	free(resp.body);
}

static void mid_request_tracked(void **state)
{
	struct core *k = *state;

	assert_false(http_conn_mid_request(k->conn));
	http_conn_feed(k->conn, "PUT /echo HTTP/1.1\r\nCont", 24, &k->out);
	assert_true(http_conn_mid_request(k->conn));
	http_conn_feed(k->conn, "ent-Length: 1\r\n\r\nx", 18, &k->out);
	assert_false(http_conn_mid_request(k->conn));
}

/* ---- the server on a socket ---- */

struct sock {
	char dir[48];
	char path[64];
	struct recorder rec;
	struct http_server *server;
};

static void sock_serve(struct sock *f, unsigned idle_ms, unsigned stall_ms)
{
	struct vmon_error err = { 0 };

	if (http_server_create(&f->server, f->path, 1024, test_handler, &f->rec, &err))
		fail_msg("http_server_create: %s", err.msg);
	if (idle_ms || stall_ms)
		http_server_set_timeouts(f->server, idle_ms, stall_ms);
	if (http_server_start(f->server, &err))
		fail_msg("http_server_start: %s", err.msg);
}

static int sock_setup(void **state)
{
	struct sock *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/vmon-http-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/api.sock", f->dir);
	*state = f;
	return 0;
}

static int sock_teardown(void **state)
{
	struct sock *f = *state;
	struct stat st;

	http_server_destroy(f->server);
	/* The server's socket file goes with it. */
	assert_int_equal(lstat(f->path, &st), -1);
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

/* One request on fd, one response back (fails the test otherwise); returns its status. */
static int round_trip(int fd, const char *request, struct responses *rs)
{
	int want = rs->count + 1;

	client_send(fd, request);
	if (client_read(fd, rs, want, 5000, NULL) != want)
		fail_msg("no response to \"%.40s\"", request);
	return rs->r[want - 1].status;
}

static bool thread_named(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	bool found = false;

	assert_non_null(d);
	while (!found && (e = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		found = fgets(comm, sizeof(comm), f) && strncmp(comm, name, strlen(name)) == 0 &&
			strcmp(comm + strlen(name), "\n") == 0;
		fclose(f);
	}
	closedir(d);
	return found;
}

static void serves_keep_alive_on_a_0600_socket(void **state)
{
	struct sock *f = *state;
	struct responses rs;
	struct stat st;
	int fd;

	sock_serve(f, 0, 0);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	/* The thread names itself once running. */
	for (int tries = 0; !thread_named("fc_api"); tries++) {
		assert_true(tries < 200);
		usleep(10000);
	}

	responses_init(&rs);
	fd = client_connect(f->path);
	assert_int_equal(round_trip(fd, "PUT /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", &rs), 200);
	assert_string_equal(rs.r[0].body, "hi");
	assert_int_equal(round_trip(fd, "GET /empty HTTP/1.1\r\n\r\n", &rs), 204);
	assert_int_equal(f->rec.calls, 2);
	close(fd);
	responses_free(&rs);
}

static void stale_socket_replaced(void **state)
{
	struct sock *f = *state;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct responses rs;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	/* Bound, never listening, closed: what a killed server leaves behind. */
	memcpy(addr.sun_path, f->path, strlen(f->path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	sock_serve(f, 0, 0);
	responses_init(&rs);
	fd = client_connect(f->path);
	assert_int_equal(round_trip(fd, "GET /empty HTTP/1.1\r\n\r\n", &rs), 204);
	close(fd);
	responses_free(&rs);
}

static void live_socket_refused(void **state)
{
	struct sock *f = *state;
	struct vmon_error err = { 0 };
	struct http_server *second = NULL;
	struct responses rs;
	int fd;

	sock_serve(f, 0, 0);
	assert_int_equal(http_server_create(&second, f->path, 1024, test_handler, &f->rec, &err), -EADDRINUSE);
	assert_null(second);
	assert_non_null(strstr(err.msg, "in use by another process"));
	assert_non_null(strstr(err.msg, f->path));
	/* The first server still answers. */
	responses_init(&rs);
	fd = client_connect(f->path);
	assert_int_equal(round_trip(fd, "GET /empty HTTP/1.1\r\n\r\n", &rs), 204);
	close(fd);
	responses_free(&rs);
}

static void other_files_refused(void **state)
{
	struct sock *f = *state;
	struct vmon_error err = { 0 };
	struct http_server *s = NULL;
	int fd = open(f->path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(http_server_create(&s, f->path, 1024, test_handler, &f->rec, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "exists and is not a socket"));
	assert_int_equal(unlink(f->path), 0);  /* still there: nothing removed it */
}

static void two_clients_at_once(void **state)
{
	struct sock *f = *state;
	struct responses ra, rb;
	int a, b;

	sock_serve(f, 0, 0);
	responses_init(&ra);
	responses_init(&rb);
	a = client_connect(f->path);
	b = client_connect(f->path);
	client_send(a, "PUT /echo HTTP/1.1\r\nContent-Length: 6\r\n\r\nfir");
	assert_int_equal(round_trip(b, "PUT /echo HTTP/1.1\r\nContent-Length: 6\r\n\r\nsecond", &rb), 200);
	assert_string_equal(rb.r[0].body, "second");
	assert_int_equal(round_trip(a, "st!", &ra), 200);
	assert_string_equal(ra.r[0].body, "first!");
	close(a);
	close(b);
	responses_free(&ra);
	responses_free(&rb);
}

static void client_that_never_reads_blocks_no_one(void **state)
{
	struct sock *f = *state;
	static const char big[] = "GET /big HTTP/1.1\r\n\r\n";
	struct responses rs;
	int stuck, other, sent = 0;

	sock_serve(f, 0, 0);
	stuck = client_connect(f->path);
	/* Pipelines 64 KiB answers until the server stops reading and both buffers are full. */
	for (; sent < 100000; sent++)
		if (send(stuck, big, sizeof(big) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(big) - 1)
			break;
	assert_true(sent < 100000);
	responses_init(&rs);
	other = client_connect(f->path);
	assert_int_equal(round_trip(other, "PUT /echo HTTP/1.1\r\nContent-Length: 4\r\n\r\nfree", &rs), 200);
	assert_string_equal(rs.r[0].body, "free");
	/* The server took only the first few: its queue stops it reading. */
	assert_true(f->rec.calls < 64);
	close(other);
	/* Destroyed with the stuck one still open and queued: nothing leaks, nothing hangs. */
	http_server_destroy(f->server);
	f->server = NULL;
	close(stuck);
	responses_free(&rs);
}

static void connection_close_then_eof(void **state)
{
	struct sock *f = *state;
	struct responses rs;
	bool eof;
	int fd;

	sock_serve(f, 0, 0);
	responses_init(&rs);
	fd = client_connect(f->path);
	client_send(fd, "GET /empty HTTP/1.1\r\nConnection: close\r\n\r\n");
	assert_int_equal(client_read(fd, &rs, 1, 5000, &eof), 1);
	assert_true(eof);
	assert_int_equal(rs.r[0].status, 204);
	close(fd);
	responses_free(&rs);
}

static void oversized_body_answered_then_closed(void **state)
{
	struct sock *f = *state;
	struct responses rs;
	char chunk[8192];
	bool eof;
	int fd;

	sock_serve(f, 0, 0);
	responses_init(&rs);
	fd = client_connect(f->path);
	client_send(fd, "PUT /echo HTTP/1.1\r\nContent-Length: 65536\r\n\r\n");
	/* The client goes on sending its body, as curl does: the server drops it and still answers. */
	memset(chunk, 'b', sizeof(chunk) - 1);
	chunk[sizeof(chunk) - 1] = '\0';
	for (int i = 0; i < 8; i++)
		if (send(fd, chunk, sizeof(chunk) - 1, MSG_NOSIGNAL) < 0)
			break;
	assert_int_equal(client_read(fd, &rs, 1, 5000, &eof), 1);
	assert_true(eof);
	assert_int_equal(rs.r[0].status, 413);
	assert_fault_contains(&rs.r[0], "over the limit of 1024 bytes");
	assert_int_equal(f->rec.calls, 0);
	close(fd);
	responses_free(&rs);
}

static void connections_over_the_limit_get_503(void **state)
{
	struct sock *f = *state;
	int fds[HTTP_SERVER_MAX_CONNS], extra;
	struct responses rs;
	bool eof;

	sock_serve(f, 0, 0);
	for (int i = 0; i < HTTP_SERVER_MAX_CONNS; i++) {
		responses_init(&rs);
		fds[i] = client_connect(f->path);
		assert_int_equal(round_trip(fds[i], "GET /empty HTTP/1.1\r\n\r\n", &rs), 204);
		responses_free(&rs);
	}
	responses_init(&rs);
	extra = client_connect(f->path);
	assert_int_equal(client_read(extra, &rs, 1, 5000, &eof), 1);
	assert_true(eof);
	assert_int_equal(rs.r[0].status, 503);
	assert_fault_contains(&rs.r[0], "the limit is 64");
	close(extra);
	responses_free(&rs);
	/* A slot freed is a slot taken again. */
	close(fds[0]);
	for (int tries = 0;; tries++) {
		responses_init(&rs);
		fds[0] = client_connect(f->path);
		client_send(fds[0], "GET /empty HTTP/1.1\r\n\r\n");
		assert_int_equal(client_read(fds[0], &rs, 1, 5000, NULL), 1);
		if (rs.r[0].status == 204)
			break;
		assert_true(tries < 50);
		close(fds[0]);
		responses_free(&rs);
		usleep(20000);
	}
	responses_free(&rs);
	for (int i = 0; i < HTTP_SERVER_MAX_CONNS; i++)
		close(fds[i]);
}

static void stalled_request_dropped(void **state)
{
	struct sock *f = *state;
	struct timespec t0, t1;
	struct responses rs, dropped;
	bool eof;
	int idle, stalled;
	long ms;

	sock_serve(f, 2000, 200);
	responses_init(&rs);
	responses_init(&dropped);
	idle = client_connect(f->path);
	assert_int_equal(round_trip(idle, "GET /empty HTTP/1.1\r\n\r\n", &rs), 204);
	stalled = client_connect(f->path);
	client_send(stalled, "PUT /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nhalf");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Closed without an answer: the request never completed. */
	assert_int_equal(client_read(stalled, &dropped, 0, 5000, &eof), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(eof);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 150 && ms < 1500);
	/* The idle one, under its longer timeout, still answers. */
	assert_int_equal(round_trip(idle, "GET /empty HTTP/1.1\r\n\r\n", &rs), 204);
	close(idle);
	close(stalled);
	responses_free(&rs);
	responses_free(&dropped);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(get_answers_with_json_headers, core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(absolute_form_target_gives_its_path, core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(body_split_byte_by_byte, core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(pipelined_requests_answered_in_order, core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(connection_close_ends_after_the_answer, core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(http10_closes_unless_keep_alive, core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(oversized_length_refused_before_the_body, core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(body_at_the_limit_accepted, core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(chunked_body_decoded_and_limited, core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(expect_100_continue_answered_before_the_body, core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(expect_with_oversized_body_gets_413_only, core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(unknown_expectation_refused, core_setup, core_teardown),
		cmocka_unit_test(malformed_requests_get_400_and_close),
		cmocka_unit_test_setup_teardown(long_targets_get_414, core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(methods_too_long_get_405_and_keep_the_connection, core_setup,
						core_teardown),
		cmocka_unit_test_setup_teardown(output_limit_holds_pipelined_input_back, core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(head_answer_has_no_body, core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(handler_without_status_gives_500, core_setup, core_teardown),
		cmocka_unit_test(fault_text_is_utf8),
		cmocka_unit_test(fault_text_is_escaped),
		cmocka_unit_test_setup_teardown(mid_request_tracked, core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(serves_keep_alive_on_a_0600_socket, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(stale_socket_replaced, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(live_socket_refused, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(other_files_refused, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(two_clients_at_once, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(client_that_never_reads_blocks_no_one, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(connection_close_then_eof, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(oversized_body_answered_then_closed, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(connections_over_the_limit_get_503, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(stalled_request_dropped, sock_setup, sock_teardown),
	};

	return unit_status(cmocka_run_group_tests(tests, NULL, NULL));
}
