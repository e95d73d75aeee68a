/* SPDX-License-Identifier: MIT */
#include "cli/ctl.h"

#include <errno.h>
#include <getopt.h>
#include <http_parser.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/fc_args.h"
#include "vmm/config.h"

#define CTL_EXIT_API_ERROR 1
#define CTL_MAX_RESPONSE (16u << 20)

struct response {
	int status;
	char *body;
	size_t len;
	bool complete;
};

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct response *r = p->data;
	char *grown;

	if (r->len + len > CTL_MAX_RESPONSE || !(grown = realloc(r->body, r->len + len + 1)))
		return 1;
	r->body = grown;
	memcpy(r->body + r->len, at, len);
	r->len += len;
	r->body[r->len] = '\0';
	return 0;
}

static int on_complete(http_parser *p)
{
	struct response *r = p->data;

	r->status = (int)p->status_code;
	r->complete = true;
	return 0;
}

static int connect_socket(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One request on a fresh connection; 0 with *resp filled, or -errno. */
static int request(const char *sock, const char *method, const char *path, const char *body, struct response *resp)
{
	http_parser_settings settings = { .on_body = on_body, .on_message_complete = on_complete };
	http_parser parser;
	char head[512], buf[4096];
	size_t body_len = body ? strlen(body) : 0;
	int fd = connect_socket(sock);

	memset(resp, 0, sizeof(*resp));
	if (fd < 0)
		return -errno;
	snprintf(head, sizeof(head),
		 "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nConnection: close\r\n"
		 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
		 method, path, body_len);
	if (write_all(fd, head, strlen(head)) || (body_len && write_all(fd, body, body_len))) {
		int e = errno;
		close(fd);
		return -e;
	}
	http_parser_init(&parser, HTTP_RESPONSE);
	parser.data = resp;
	while (!resp->complete) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		size_t used = http_parser_execute(&parser, &settings, buf, (size_t)n);
		if (parser.http_errno != HPE_OK || used != (size_t)n || n == 0)
			break;
	}
	close(fd);
	return resp->complete ? 0 : -EPROTO;
}

static void usage(FILE *out)
{
	fputs("usage: vmon ctl [--api-sock PATH] [--wait SECONDS] VERB [ARGS]\n"
	      "  status             the instance: id, state (GET /)\n"
	      "  start              boot the configured VM (PUT /actions InstanceStart)\n"
	      "  pause | resume     stop / continue every vCPU and device (PATCH /vm)\n"
	      "  ctrl-alt-del       press Ctrl-Alt-Del in the guest (PUT /actions SendCtrlAltDel)\n"
	      "  flush-metrics      write a metrics line to the metrics path (PUT /actions FlushMetrics)\n"
	      "  metrics            the counters, Prometheus text (GET /metrics)\n"
	      "  config             the VM's configuration (GET /vm/config)\n"
	      "  snapshot SNAP MEM  pause, write a full snapshot (PUT /snapshot/create), resume (a paused VM stays paused)\n"
	      "  load SNAP MEM      restore a snapshot into this not yet started vmon, resumed (PUT /snapshot/load)\n"
	      "  migrate ADDR [--downtime-ms N]   live-migrate the running VM to a `vmon receive` (or PUT\n"
	      "                     /migration/receive) listening on ADDR (unix:PATH, tcp:HOST:PORT); waits for\n"
	      "                     the end and prints it; 0 when the destination runs the VM (this vmon exits)\n"
	      "  receive ADDR       make this not yet configured vmon wait for a migration on ADDR\n"
	      "  migrate-status | migrate-cancel   GET /migration | PUT /migration/cancel\n"
	      "  balloon MIB        set the balloon's target to MIB MiB (PATCH /balloon)\n"
	      "  balloon-stats      the balloon's target, actual size and guest statistics (GET /balloon/statistics)\n"
	      "  get PATH | put PATH BODY | patch PATH BODY   any request; BODY is JSON or @FILE\n"
	      "  --api-sock defaults to " FC_DEFAULT_API_SOCK "; --wait retries until the API answers.\n",
	      out);
}

/* BODY or @FILE -> malloc'd text. */
static char *body_arg(const char *arg, FILE *errout)
{
	if (arg[0] != '@')
		return strdup(arg);
	FILE *f = fopen(arg + 1, "r");
	char *text = NULL;
	size_t cap = 0, len = 0;

	if (!f) {
		fprintf(errout, "vmon ctl: %s: %s\n", arg + 1, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *grown = realloc(text, cap = cap * 2 + 8192);
			if (!grown)
				break;
			text = grown;
		}
		size_t n = fread(text + len, 1, 4096, f);
		len += n;
		if (n < 4096)
			break;
	}
	fclose(f);
	if (text)
		text[len] = '\0';
	return text;
}

/*
 * One request (retried while the socket is not there yet, up to wait_s);
 * prints the answer; returns ctl's exit status.
 */
/* request(), retried while the socket is not there yet, up to wait_s. */
static int request_waiting(const char *sock, const char *method, const char *path, const char *body, double wait_s,
			   struct response *resp)
{
	struct timespec t0, now;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		r = request(sock, method, path, body, resp);
		clock_gettime(CLOCK_MONOTONIC, &now);
		double waited = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
		if (r != -ENOENT && r != -ECONNREFUSED)
			return r;
		if (waited >= wait_s)
			return r;
		free(resp->body);
		struct timespec pause = { 0, 20 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
}

static int call(const char *sock, const char *method, const char *path, const char *body, double wait_s, FILE *out,
		FILE *errout)
{
	struct response resp;
	int r = request_waiting(sock, method, path, body, wait_s, &resp);

	if (r) {
		fprintf(errout, "vmon ctl: %s: %s\n", sock, strerror(-r));
		free(resp.body);
		return VMON_EXIT_HOST_ERROR;
	}
	if (resp.len)
		fprintf(resp.status < 300 ? out : errout, "%s%s", resp.status < 300 ? "" : "vmon ctl: ", resp.body);
	if (resp.len && resp.body[resp.len - 1] != '\n')
		fputc('\n', resp.status < 300 ? out : errout);
	free(resp.body);
	if (resp.status >= 300) {
		fprintf(errout, "vmon ctl: %s %s: HTTP %d\n", method, path, resp.status);
		return CTL_EXIT_API_ERROR;
	}
	return 0;
}

/* The request body o as JSON text (malloc'd; NULL when out of memory); o is released. */
static char *json_body(json_object *o)
{
	char *text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return text;
}

/* {"KEY": "value"} */
static json_object *json_with(const char *key, const char *value)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, key, json_object_new_string(value));
	return o;
}

/* GET /: 1 when the instance state is "Running", 0 when another, -errno when unknown. */
static int vm_running(const char *sock, double wait_s)
{
	struct response resp;
	json_object *obj = NULL, *state;
	int r = request_waiting(sock, "GET", "/", NULL, wait_s, &resp);

	if (!r && (resp.status >= 300 || !resp.body || !(obj = json_tokener_parse(resp.body)) ||
		   !json_object_object_get_ex(obj, "state", &state) || !json_object_is_type(state, json_type_string)))
		r = -EPROTO;
	if (!r)
		r = !strcmp(json_object_get_string(state), "Running");
	json_object_put(obj);
	free(resp.body);
	return r;
}

/*
 * `snapshot SNAP MEM`: pause (if running), PUT /snapshot/create, resume what
 * was running; `load SNAP MEM`: PUT /snapshot/load with the file backend, resumed.
 */
static int snapshot_verb(const char *sock, bool load, const char *snap, const char *mem, double wait_s, FILE *out,
			 FILE *errout)
{
	char *body;
	int status;

	if (load) {
		json_object *o = json_with("snapshot_path", snap), *backend = json_with("backend_type", "File");
		json_object_object_add(backend, "backend_path", json_object_new_string(mem));
		json_object_object_add(o, "mem_backend", backend);
		json_object_object_add(o, "resume_vm", json_object_new_boolean(true));
		if (!(body = json_body(o)))
			return VMON_EXIT_HOST_ERROR;
		status = call(sock, "PUT", "/snapshot/load", body, wait_s, out, errout);
		free(body);
		return status;
	}
	/* PATCH /vm Paused succeeds on a paused VM too: only GET / tells whether to resume afterwards. */
	int r = vm_running(sock, wait_s);
	if (r < 0) {
		fprintf(errout, "vmon ctl: %s: GET /: %s\n", sock, r == -EPROTO ? "no instance state in the answer"
										  : strerror(-r));
		return VMON_EXIT_HOST_ERROR;
	}
	bool was_running = r == 1;
	if (was_running && (status = call(sock, "PATCH", "/vm", "{\"state\": \"Paused\"}", 0, out, errout)))
		return status;
	json_object *o = json_with("snapshot_path", snap);
	json_object_object_add(o, "mem_file_path", json_object_new_string(mem));
	json_object_object_add(o, "snapshot_type", json_object_new_string("Full"));
	body = json_body(o);
	status = body ? call(sock, "PUT", "/snapshot/create", body, 0, out, errout) : VMON_EXIT_HOST_ERROR;
	free(body);
	if (was_running) {
		int resumed = call(sock, "PATCH", "/vm", "{\"state\": \"Resumed\"}", 0, out, errout);
		status = status ? status : resumed;
	}
	return status;
}

/* GET /migration once: 0 with its body, or -errno / the HTTP status. */
static int migration_state(const char *sock, char **body)
{
	struct response resp;
	int r = request(sock, "GET", "/migration", NULL, &resp);

	*body = resp.body;
	if (r)
		return r;
	return resp.status < 300 ? 0 : resp.status;
}

/*
 * `migrate ADDR [--downtime-ms N]`: PUT /migration/send, then GET
 * /migration until it is no longer active; prints the last answer.
 */
static int migrate_verb(const char *sock, int argc, char **argv, double wait_s, FILE *out, FILE *errout)
{
	char *body, *state = NULL;
	unsigned long downtime = 0;
	int status;

	if (argc == 3 && !strcmp(argv[1], "--downtime-ms")) {
		char *end;
		errno = 0;
		downtime = strtoul(argv[2], &end, 10);
		if (errno || end == argv[2] || *end || argv[2][0] == '-' || downtime == 0 || downtime > 60000) {
			fprintf(errout, "vmon ctl: --downtime-ms '%s': expected 1 to 60000\n", argv[2]);
			return VMON_EXIT_USAGE;
		}
	} else if (argc != 1) {
		fprintf(errout, "vmon ctl: migrate takes ADDR [--downtime-ms N]\n");
		return VMON_EXIT_USAGE;
	}
	json_object *o = json_with("destination", argv[0]);
	if (downtime)
		json_object_object_add(o, "downtime_ms", json_object_new_uint64(downtime));
	if (!(body = json_body(o)))
		return VMON_EXIT_HOST_ERROR;
	status = call(sock, "PUT", "/migration/send", body, wait_s, out, errout);
	free(body);
	if (status)
		return status;
	for (;;) {
		int r = migration_state(sock, &state);
		if (r) {
			/* The source exits once the outcome was read or after a grace period: gone means unknown here. */
			fprintf(errout, "vmon ctl: %s: GET /migration: %s\n", sock, r < 0 ? strerror(-r) : "HTTP error");
			free(state);
			return VMON_EXIT_HOST_ERROR;
		}
		if (!strstr(state, "\"state\":\"active\""))
			break;
		free(state);
		struct timespec pause = { 0, 20 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
	fprintf(out, "%s\n", state);
	status = strstr(state, "\"state\":\"completed\"") ? 0 : CTL_EXIT_API_ERROR;
	free(state);
	return status;
}

int ctl_main(int argc, char **argv, FILE *out, FILE *errout)
{
	static const struct option opts[] = {
		{ "api-sock", required_argument, NULL, 's' },
		{ "wait", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = FC_DEFAULT_API_SOCK;
	double wait_s = 0;
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		char *end;
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'w':
			wait_s = strtod(optarg, &end);
			if (end == optarg || *end || wait_s < 0 || wait_s > 3600) {
				fprintf(errout, "vmon ctl: --wait '%s': expected seconds from 0 to 3600\n", optarg);
				return VMON_EXIT_USAGE;
			}
			break;
		case 'h':
			usage(out);
			return 0;
		default:
			fprintf(errout, "vmon ctl: unknown option or missing value: '%s'\n", argv[optind - 1]);
			return VMON_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(errout);
		return VMON_EXIT_USAGE;
	}
	const char *verb = argv[optind++];
	if (!strcmp(verb, "snapshot") || !strcmp(verb, "load")) {
		if (argc - optind != 2) {
			fprintf(errout, "vmon ctl: %s takes SNAPSHOT_FILE MEM_FILE\n", verb);
			return VMON_EXIT_USAGE;
		}
		return snapshot_verb(sock, verb[0] == 'l', argv[optind], argv[optind + 1], wait_s, out, errout);
	}
	if (!strcmp(verb, "migrate")) {
		if (argc - optind < 1) {
			fprintf(errout, "vmon ctl: migrate takes ADDR [--downtime-ms N]\n");
			return VMON_EXIT_USAGE;
		}
		return migrate_verb(sock, argc - optind, argv + optind, wait_s, out, errout);
	}
	if (!strcmp(verb, "receive")) {
		if (argc - optind != 1) {
			fprintf(errout, "vmon ctl: receive takes ADDR (unix:PATH or tcp:HOST:PORT)\n");
			return VMON_EXIT_USAGE;
		}
		char *listen = json_body(json_with("listen", argv[optind]));
		int status = listen ? call(sock, "PUT", "/migration/receive", listen, wait_s, out, errout)
				    : VMON_EXIT_HOST_ERROR;
		free(listen);
		return status;
	}
	if (!strcmp(verb, "balloon")) {
		char *end;
		unsigned long mib = argc - optind == 1 ? strtoul(argv[optind], &end, 10) : 0;
		if (argc - optind != 1 || !argv[optind][0] || *end || argv[optind][0] == '-' || mib > BALLOON_MAX_MIB) {
			fprintf(errout, "vmon ctl: balloon takes the target in MiB, 0 to %u\n", BALLOON_MAX_MIB);
			return VMON_EXIT_USAGE;
		}
		json_object *o = json_object_new_object();
		json_object_object_add(o, "amount_mib", json_object_new_int64((int64_t)mib));
		char *text = json_body(o);
		int status = text ? call(sock, "PATCH", "/balloon", text, wait_s, out, errout) : VMON_EXIT_HOST_ERROR;
		free(text);
		return status;
	}
	const char *method = NULL, *path = NULL;
	char *body = NULL;
	unsigned want_args = 0;
	static const struct {
		const char *verb, *method, *path, *body;
	} verbs[] = {
		{ "status", "GET", "/", NULL },
		{ "start", "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}" },
		{ "pause", "PATCH", "/vm", "{\"state\": \"Paused\"}" },
		{ "resume", "PATCH", "/vm", "{\"state\": \"Resumed\"}" },
		{ "ctrl-alt-del", "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}" },
		{ "flush-metrics", "PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}" },
		{ "metrics", "GET", "/metrics", NULL },
		{ "config", "GET", "/vm/config", NULL },
		{ "migrate-status", "GET", "/migration", NULL },
		{ "migrate-cancel", "PUT", "/migration/cancel", "{}" },
		{ "balloon-stats", "GET", "/balloon/statistics", NULL },
		{ "get", "GET", NULL, NULL },
		{ "put", "PUT", NULL, NULL },
		{ "patch", "PATCH", NULL, NULL },
	};
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(verb, verbs[i].verb))
			continue;
		method = verbs[i].method;
		path = verbs[i].path;
		body = verbs[i].body ? strdup(verbs[i].body) : NULL;
		want_args = path ? 0 : !strcmp(method, "GET") ? 1 : 2;
	}
	if (!method) {
		fprintf(errout, "vmon ctl: unknown verb '%s' (try 'vmon ctl --help')\n", verb);
		return VMON_EXIT_USAGE;
	}
	if ((unsigned)(argc - optind) != want_args) {
		fprintf(errout, "vmon ctl: %s takes %u argument%s\n", verb, want_args, want_args == 1 ? "" : "s");
		free(body);
		return VMON_EXIT_USAGE;
	}
	if (want_args) {
		path = argv[optind];
		if (path[0] != '/') {
			fprintf(errout, "vmon ctl: PATH '%s' must start with '/'\n", path);
			return VMON_EXIT_USAGE;
		}
		if (want_args == 2 && !(body = body_arg(argv[optind + 1], errout)))
			return VMON_EXIT_USAGE;
	}

	int status = call(sock, method, path, body, wait_s, out, errout);
	free(body);
	return status;
}
