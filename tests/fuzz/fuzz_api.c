/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the API's HTTP + JSON layer: the bytes a client sends
 * on the API socket, parsed by src/api/http_conn.c and routed, as
 * src/api/instance.c's route() routes them before InstanceStart, into the
 * real resource code (fc_spec*.c, fc_json.c, mmds.c) on one struct fc_spec
 * and one MMDS store per input. Built by build.sh with clang
 * (-fsanitize=fuzzer,address,undefined), not by meson.
 *
 * Input layout (make_api_corpus.py writes the same):
 *   byte 0      config: bits 0-1 = the MMDS size limit (51200, 64, 1024 or
 *               4096 bytes), so that "over the limit" (413) comes up
 *   the rest    the bytes the client sends, fed at once (fuzz_http covers
 *               how they are split)
 *
 * Besides route()'s paths: POST /drives/ID and /network-interfaces/ID call
 * the spec's PATCH functions (route() serves PATCH there only after the
 * start), POST /balloon and /balloon/statistics the spec's PATCH functions
 * (the running device answers route()'s PATCH), and POST /vm/config loads
 * its body as the --config-file would.
 *
 * Checked, abort() on a violation:
 *  - every answer's body is RFC 8259 JSON in UTF-8 (a fault: an object with
 *    a non-empty "fault_message" string); 204 has no body;
 *  - a refused request (status >= 400) and every GET leave the spec and the
 *    MMDS store as they were (GET /vm/config text and GET /mmds text);
 *  - an accepted PUT/PATCH is idempotent: sent again, it is accepted and
 *    changes nothing (PUT replaces; RFC 7396 merge patches are idempotent);
 *  - at the end, fc_spec_to_vm_config() either gives a vm_config that
 *    vm_config_check() accepts and that says what the spec says, or fails
 *    with a message and leaves the vm_config as it was;
 *  - with a boot source set, the GET /vm/config body loads back through
 *    fc_spec_load_config_file() into the same spec (as it documents);
 *  - ASan: no leak, no bad access.
 *
 * Paths in bodies: fc_spec opens kernel, initrd and drive files at PUT time.
 * LLVMFuzzerInitialize creates a few under FUZZ_API_DIR, which the seeds
 * name; every open() from the code under test is wrapped (-Wl,--wrap=open)
 * and refused with EACCES outside that directory, so that a mutated path
 * never opens a host device read-write or blocks on a FIFO.
 *
 * FUZZ_API_TRACE=1 prints each request and answer (to replay a crash).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "api/fc_spec.h"
#include "api/http_conn.h"
#include "api/mmds.h"
#include "vmm/config.h"

#define FUZZ_API_DIR "/tmp/vmon-fuzz-api"
#define MAX_BODY 51200   /* vmon's default --http-api-max-payload-size */

static bool trace;

/* ---- the file sandbox ------------------------------------------------------ */

int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...);

/* Only FUZZ_API_DIR/..., without "..", and never through a symlink at the end. */
int __wrap_open(const char *path, int flags, ...)
{
	static const char prefix[] = FUZZ_API_DIR "/";
	mode_t mode = 0;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0 || strstr(path, "/..") != NULL) {
		errno = EACCES;
		return -1;
	}
	return __real_open(path, flags | O_NOFOLLOW, mode);
}

static void make_file(const char *name, const char *text)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), FUZZ_API_DIR "/%s", name);
	fd = __real_open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd)) {
		fprintf(stderr, "fuzz_api: cannot create %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const files[] = { "kernel", "initrd", "disk.img", "d1", "d2", "d3", "d4", "d5", "d6" };

	(void)argc, (void)argv;
	trace = getenv("FUZZ_API_TRACE") && getenv("FUZZ_API_TRACE")[0] == '1';
	if ((mkdir(FUZZ_API_DIR, 0755) && errno != EEXIST) ||
	    (mkdir(FUZZ_API_DIR "/dir", 0755) && errno != EEXIST)) {
		fprintf(stderr, "fuzz_api: cannot create " FUZZ_API_DIR ": %s\n", strerror(errno));
		exit(1);
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		make_file(files[i], "vmon fuzz_api file\n");
	return 0;
}

/* ---- an RFC 8259 checker, independent of json-c and fc_json ---------------- */

struct jtext {
	const unsigned char *p, *end;
	unsigned depth;
};

static void skip_ws(struct jtext *t)
{
	while (t->p < t->end && (*t->p == ' ' || *t->p == '\t' || *t->p == '\n' || *t->p == '\r'))
		t->p++;
}

static bool eat(struct jtext *t, char c)
{
	skip_ws(t);
	if (t->p < t->end && *t->p == (unsigned char)c) {
		t->p++;
		return true;
	}
	return false;
}

static bool cont(struct jtext *t, unsigned i, unsigned char lo, unsigned char hi)
{
	return t->p + i < t->end && t->p[i] >= lo && t->p[i] <= hi;
}

/* One UTF-8 sequence of 2 to 4 bytes (RFC 3629: no overlongs, no surrogates, at most U+10FFFF). */
static bool utf8_seq(struct jtext *t)
{
	unsigned char c = *t->p;
	unsigned n;

	if (c >= 0xc2 && c <= 0xdf)
		n = cont(t, 1, 0x80, 0xbf) ? 2 : 0;
	else if (c == 0xe0)
		n = cont(t, 1, 0xa0, 0xbf) && cont(t, 2, 0x80, 0xbf) ? 3 : 0;
	else if (c == 0xed)
		n = cont(t, 1, 0x80, 0x9f) && cont(t, 2, 0x80, 0xbf) ? 3 : 0;
	else if (c >= 0xe1 && c <= 0xef)
		n = cont(t, 1, 0x80, 0xbf) && cont(t, 2, 0x80, 0xbf) ? 3 : 0;
	else if (c == 0xf0)
		n = cont(t, 1, 0x90, 0xbf) && cont(t, 2, 0x80, 0xbf) && cont(t, 3, 0x80, 0xbf) ? 4 : 0;
	else if (c >= 0xf1 && c <= 0xf3)
		n = cont(t, 1, 0x80, 0xbf) && cont(t, 2, 0x80, 0xbf) && cont(t, 3, 0x80, 0xbf) ? 4 : 0;
	else if (c == 0xf4)
		n = cont(t, 1, 0x80, 0x8f) && cont(t, 2, 0x80, 0xbf) && cont(t, 3, 0x80, 0xbf) ? 4 : 0;
	else
		n = 0;
	t->p += n;
	return n != 0;
}

static bool j_string(struct jtext *t)
{
	if (!eat(t, '"'))
		return false;
	while (t->p < t->end) {
		unsigned char c = *t->p;

		if (c == '"') {
			t->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c >= 0x80) {
			if (!utf8_seq(t))
				return false;
			continue;
		}
		t->p++;
		if (c != '\\')
			continue;
		if (t->p >= t->end)
			return false;
		if (*t->p == 'u') {
			for (int i = 1; i <= 4; i++)
				if (t->p + i >= t->end || !strchr("0123456789abcdefABCDEF", t->p[i]) || !t->p[i])
					return false;
			t->p += 5;
		} else if (*t->p && strchr("\"\\/bfnrt", *t->p)) {
			t->p++;
		} else {
			return false;
		}
	}
	return false;
}

static size_t j_digits(struct jtext *t)
{
	size_t n = 0;

	while (t->p < t->end && *t->p >= '0' && *t->p <= '9')
		t->p++, n++;
	return n;
}

static bool j_number(struct jtext *t)
{
	const unsigned char *start;

	if (t->p < t->end && *t->p == '-')
		t->p++;
	start = t->p;
	if (!j_digits(t) || (t->p - start > 1 && *start == '0'))
		return false;
	if (t->p < t->end && *t->p == '.') {
		t->p++;
		if (!j_digits(t))
			return false;
	}
	if (t->p < t->end && (*t->p == 'e' || *t->p == 'E')) {
		t->p++;
		if (t->p < t->end && (*t->p == '+' || *t->p == '-'))
			t->p++;
		if (!j_digits(t))
			return false;
	}
	return true;
}

static bool j_word(struct jtext *t, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(t->end - t->p) < n || memcmp(t->p, w, n))
		return false;
	t->p += n;
	return true;
}

static bool j_value(struct jtext *t)
{
	bool ok;

	skip_ws(t);
	if (t->p >= t->end || t->depth > 64)
		return false;
	switch (*t->p) {
	case '{':
		t->p++, t->depth++;
		if (!eat(t, '}')) {
			do
				ok = j_string(t) && eat(t, ':') && j_value(t);
			while (ok && eat(t, ','));
			if (!ok || !eat(t, '}'))
				return false;
		}
		t->depth--;
		return true;
	case '[':
		t->p++, t->depth++;
		if (!eat(t, ']')) {
			do
				ok = j_value(t);
			while (ok && eat(t, ','));
			if (!ok || !eat(t, ']'))
				return false;
		}
		t->depth--;
		return true;
	case '"':
		return j_string(t);
	case 't':
		return j_word(t, "true");
	case 'f':
		return j_word(t, "false");
	case 'n':
		return j_word(t, "null");
	default:
		return j_number(t);
	}
}

static bool is_json(const char *text, size_t len)
{
	struct jtext t = { (const unsigned char *)text, (const unsigned char *)text + len, 0 };

	if (!j_value(&t))
		return false;
	skip_ws(&t);
	return t.p == t.end;
}

/* ---- the routing (instance.c's route() before InstanceStart) --------------- */

#define MSG_BEFORE_START "The requested operation is not supported before starting the microVM."

struct api {
	struct fc_spec spec;
	struct mmds *mmds;
};

/* instance.c's respond_fault() does what http_conn.c's does (json-c, the text made UTF-8): the real one is fuzzed. */
#define respond_fault http_response_fault

static void respond_text(struct http_response *resp, char *owned_body)
{
	resp->status = owned_body ? 200 : 500;
	resp->body = owned_body;
	resp->body_len = owned_body ? strlen(owned_body) : 0;
}

static void respond_result(struct http_response *resp, int r, const struct vmon_error *err)
{
	if (r) {
		respond_fault(resp, 400, "%s", err->msg[0] ? err->msg : strerror(-r));
		return;
	}
	resp->status = 204;
	resp->body = NULL;
	resp->body_len = 0;
}

static bool is(const struct http_request *req, const char *method, const char *path)
{
	return !strcmp(req->method, method) && !strcmp(req->path, path);
}

/* instance.c's path_id(): "/drives/ID" -> "ID" for one non-empty segment. */
static const char *path_id(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(path, prefix, n) || path[n] != '/' || !path[n + 1] || strchr(path + n + 1, '/'))
		return NULL;
	return path + n + 1;
}

static void route(struct api *a, const struct http_request *req, struct http_response *resp)
{
	const char *body = req->body ? req->body : "";
	struct vmon_error err = { 0 };
	struct fc_spec *s = &a->spec;
	const char *id;

	if (is(req, "GET", "/machine-config"))
		return respond_text(resp, fc_spec_machine_config_json(s));
	if (is(req, "GET", "/vm/config"))
		return respond_text(resp, fc_spec_vm_config_json(s));
	if (is(req, "PUT", "/boot-source"))
		return respond_result(resp, fc_spec_put_boot_source(s, body, &err), &err);
	if (is(req, "PUT", "/machine-config"))
		return respond_result(resp, fc_spec_put_machine_config(s, body, &err), &err);
	if (is(req, "PATCH", "/machine-config"))
		return respond_result(resp, fc_spec_patch_machine_config(s, body, &err), &err);
	if (is(req, "PUT", "/entropy"))
		return respond_result(resp, fc_spec_put_entropy(s, body, &err), &err);
	if (is(req, "PUT", "/serial"))
		return respond_result(resp, fc_spec_put_serial(s, body, &err), &err);
	if (is(req, "PUT", "/mmds/config"))
		return respond_result(resp, fc_spec_put_mmds_config(s, body, &err), &err);
	/* route() then opens the log and metrics files (instance_apply_logger, instance_open_metrics): not here. */
	if (is(req, "PUT", "/logger"))
		return respond_result(resp, fc_spec_put_logger(s, body, &err), &err);
	if (is(req, "PUT", "/metrics"))
		return respond_result(resp, fc_spec_put_metrics(s, body, &err), &err);
	if (is(req, "PUT", "/vsock"))
		return respond_result(resp, fc_spec_put_vsock(s, body, &err), &err);
	if (is(req, "PUT", "/balloon"))
		return respond_result(resp, fc_spec_put_balloon(s, body, &err), &err);
	if (is(req, "POST", "/balloon"))
		return respond_result(resp, fc_spec_patch_balloon(s, body, &err), &err);
	if (is(req, "POST", "/balloon/statistics"))
		return respond_result(resp, fc_spec_patch_balloon_stats(s, body, &err), &err);
	/*
	 * PATCH of a drive or an interface: route() answers MSG_BEFORE_START
	 * before the start; the spec's PATCH calls (for after it) are fuzzed
	 * under POST, which route() never serves for these paths.
	 */
	if ((id = path_id(req->path, "/drives"))) {
		if (!strcmp(req->method, "PUT"))
			return respond_result(resp, fc_spec_put_drive(s, id, body, &err), &err);
		if (!strcmp(req->method, "PATCH"))
			return respond_fault(resp, 400, MSG_BEFORE_START);
		if (!strcmp(req->method, "POST"))
			return respond_result(resp, fc_spec_patch_drive(s, id, body, &err), &err);
	}
	if ((id = path_id(req->path, "/network-interfaces"))) {
		if (!strcmp(req->method, "PUT"))
			return respond_result(resp, fc_spec_put_network_interface(s, id, body, &err), &err);
		if (!strcmp(req->method, "PATCH"))
			return respond_fault(resp, 400, MSG_BEFORE_START);
		if (!strcmp(req->method, "POST"))
			return respond_result(resp, fc_spec_patch_network_interface(s, id, body, &err), &err);
	}
	/* Not an endpoint: the --config-file loader (fc_spec_file.c), which route() never reaches, fuzzed as one. */
	if (is(req, "POST", "/vm/config"))
		return respond_result(resp, fc_spec_load_config_file(s, body, &err), &err);
	if (!strcmp(req->path, "/mmds")) {
		bool put = !strcmp(req->method, "PUT"), patch = !strcmp(req->method, "PATCH");
		if (!strcmp(req->method, "GET")) {
			if (!mmds_is_set(a->mmds))
				return respond_fault(resp, 404, "The MMDS data store is not initialized.");
			return respond_text(resp, mmds_get_json(a->mmds));
		}
		if (put || patch) {
			int r = put ? mmds_put(a->mmds, body, &err) : mmds_patch(a->mmds, body, &err);
			if (r == -E2BIG)
				return respond_fault(resp, 413, "%s", err.msg);
			return respond_result(resp, r, &err);
		}
	}
	respond_fault(resp, 400, "Invalid request method and/or path: %s %s.", req->method, req->path);
}

/* ---- the invariants --------------------------------------------------------- */

#define CHECK(cond, ...)                                                         \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "fuzz_api: %s: ", #cond);                \
			fprintf(stderr, __VA_ARGS__);                            \
			fputc('\n', stderr);                                     \
			abort();                                                 \
		}                                                                \
	} while (0)

/* What GET /vm/config and GET /mmds would show (and whether the store is set). */
struct snapshot {
	char *spec, *mmds;
	bool mmds_set;
};

static void take(const struct api *a, struct snapshot *snap)
{
	snap->spec = fc_spec_vm_config_json(&a->spec);
	snap->mmds = mmds_get_json(a->mmds);
	snap->mmds_set = mmds_is_set(a->mmds);
	CHECK(snap->spec && snap->mmds, "out of memory");
	CHECK(is_json(snap->spec, strlen(snap->spec)), "GET /vm/config is no JSON: %s", snap->spec);
	CHECK(is_json(snap->mmds, strlen(snap->mmds)), "GET /mmds is no JSON: %s", snap->mmds);
}

static bool same(const struct snapshot *x, const struct snapshot *y)
{
	return !strcmp(x->spec, y->spec) && !strcmp(x->mmds, y->mmds) && x->mmds_set == y->mmds_set;
}

static void drop(struct snapshot *snap)
{
	free(snap->spec);
	free(snap->mmds);
}

static void check_answer(const struct http_request *req, const struct http_response *resp)
{
	CHECK(resp->status == 200 || resp->status == 204 || resp->status == 400 || resp->status == 404 ||
	      resp->status == 413, "%s %s: status %d", req->method, req->path, resp->status);
	if (resp->status == 204) {
		CHECK(!resp->body && !resp->body_len, "%s %s: 204 with a body", req->method, req->path);
		return;
	}
	CHECK(resp->body && resp->body_len == strlen(resp->body), "%s %s: %d without a body", req->method, req->path,
	      resp->status);
	CHECK(is_json(resp->body, resp->body_len), "%s %s: the answer is no RFC 8259 JSON in UTF-8: %s", req->method,
	      req->path, resp->body);
	if (resp->status >= 400) {
		json_object *obj = json_tokener_parse(resp->body), *msg;
		CHECK(obj && json_object_object_get_ex(obj, "fault_message", &msg) &&
		      json_object_is_type(msg, json_type_string) && json_object_get_string_len(msg) > 0 &&
		      json_object_object_length(obj) == 1, "%s %s: %d without a fault_message: %s", req->method,
		      req->path, resp->status, resp->body);
		json_object_put(obj);
	}
}

static void free_response(struct http_response *resp)
{
	free(resp->body);
	*resp = (struct http_response){ 0 };
}

static void handler(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct api *a = ctx;
	struct snapshot before, after, again;
	struct http_response repeat = { 0 };

	take(a, &before);
	route(a, req, resp);
	if (trace)
		fprintf(stderr, "fuzz_api: %s %s %s -> %d %.*s\n", req->method, req->path, req->body, resp->status,
			(int)resp->body_len, resp->body ? resp->body : "");
	check_answer(req, resp);
	take(a, &after);
	if (resp->status >= 400 || !strcmp(req->method, "GET"))
		CHECK(same(&before, &after), "%s %s %s -> %d changed the state:\n%s\n%s\n%s\n%s", req->method,
		      req->path, req->body, resp->status, before.spec, after.spec, before.mmds, after.mmds);
	if (resp->status == 204) {
		route(a, req, &repeat);
		take(a, &again);
		CHECK(repeat.status == 204 && same(&after, &again), "%s %s %s: accepted once, then -> %d %s, "
		      "state:\n%s\n%s\n%s\n%s", req->method, req->path, req->body, repeat.status,
		      repeat.body ? repeat.body : "", after.spec, again.spec, after.mmds, again.mmds);
		free_response(&repeat);
		drop(&again);
	}
	drop(&before);
	drop(&after);
}

/* fc_spec_to_vm_config: a checked vm_config that says what the spec says, or a message and cfg untouched. */
static void check_vm_config(const struct fc_spec *s)
{
	static struct vm_config cfg, orig;
	struct vmon_error err = { 0 }, check_err = { 0 };
	const char *field = NULL;
	int r;

	vm_config_init(&cfg);
	memcpy(&orig, &cfg, sizeof(cfg));
	r = fc_spec_to_vm_config(s, &cfg, &err);
	if (r) {
		CHECK(r < 0 && err.msg[0], "refused without a message (%d)", r);
		CHECK(!memcmp(&cfg, &orig, sizeof(cfg)), "refused (%s) but changed the vm_config", err.msg);
		if (trace)
			fprintf(stderr, "fuzz_api: vm_config: %s\n", err.msg);
		return;
	}
	CHECK(!vm_config_check(&cfg, &field, &check_err), "vm_config_check refuses %s: %s", field, check_err.msg);
	CHECK(!strcmp(cfg.kernel_path, s->boot_source.kernel_image_path), "kernel_path %s", cfg.kernel_path);
	CHECK(!s->boot_source.initrd_path == !cfg.initrd_path &&
	      (!cfg.initrd_path || !strcmp(cfg.initrd_path, s->boot_source.initrd_path)), "initrd_path");
	CHECK(!strncmp(cfg.cmdline, s->boot_source.boot_args ? s->boot_source.boot_args : FC_SPEC_DEFAULT_BOOT_ARGS,
		       strlen(s->boot_source.boot_args ? s->boot_source.boot_args : FC_SPEC_DEFAULT_BOOT_ARGS)),
	      "cmdline %s", cfg.cmdline);
	CHECK(cfg.ncpus == s->machine.vcpu_count && cfg.mem_size == s->machine.mem_size_mib << 20, "cpus/memory");
	CHECK(cfg.ndrives == s->ndrives && cfg.nnets == s->nnets && cfg.rng == s->entropy, "device counts");
	CHECK(!memcmp(&cfg.rng_rate_limiter, s->entropy ? &s->entropy_rate_limiter : &(struct rate_limiter_config){ 0 },
		      sizeof(cfg.rng_rate_limiter)), "entropy rate_limiter");
	for (unsigned i = 0; i < s->ndrives; i++)
		CHECK(!strcmp(cfg.drives[i].path, s->drives[i].path_on_host) &&
		      !strcmp(cfg.drives[i].id, s->drives[i].drive_id) &&
		      cfg.drives[i].readonly == s->drives[i].is_read_only, "drive %u", i);
	if (trace)
		fprintf(stderr, "fuzz_api: vm_config: %s\n", cfg.cmdline);
}

/* GET /vm/config loads back through the config file into the same spec. */
static void check_round_trip(const struct fc_spec *s)
{
	struct vmon_error err = { 0 };
	struct fc_spec back;
	char *text, *again;

	if (!s->boot_source.set)
		return;   /* the config file requires a boot source */
	text = fc_spec_vm_config_json(s);
	CHECK(text, "out of memory");
	fc_spec_init(&back);
	CHECK(!fc_spec_load_config_file(&back, text, &err), "GET /vm/config does not load back: %s\n%s", err.msg, text);
	again = fc_spec_vm_config_json(&back);
	CHECK(again && !strcmp(text, again), "GET /vm/config loads back as another spec:\n%s\n%s", text, again);
	free(again);
	free(text);
	fc_spec_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t mmds_limits[4] = { 0, 64, 1024, 4096 };
	struct vmon_error err = { 0 };
	struct http_buf out = { 0 };
	struct http_conn *c;
	struct api a;

	if (size < 1)
		return 0;
	fc_spec_init(&a.spec);
	CHECK(!mmds_create(&a.mmds, mmds_limits[data[0] & 3], &err), "%s", err.msg);
	c = http_conn_create(MAX_BODY, handler, &a);
	CHECK(c, "out of memory");
	CHECK(http_conn_feed(c, data + 1, size - 1, &out) >= 0, "out of memory");
	http_conn_destroy(c);
	http_buf_free(&out);
	check_vm_config(&a.spec);
	check_round_trip(&a.spec);
	fc_spec_free(&a.spec);
	mmds_destroy(a.mmds);
	return 0;
}
