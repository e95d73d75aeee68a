/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/metrics.h"

/* ---- helpers ------------------------------------------------------------- */

struct fixture {
	struct vm_metrics vm;
	struct api_counters api;
	struct metrics_baseline base;
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/vmon-test-metrics-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/metrics", f->dir);
	metrics_baseline_init(&f->base);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* A VM with two vCPUs, a drive with an id and a network device. */
static void fill_vm(struct vm_metrics *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->nvcpus = 2;
	vm->vcpu[0] = (struct vm_metrics_vcpu){ .exits = 10, .io_in = 3, .io_out = 4, .mmio_read = 1, .mmio_write = 2 };
	vm->vcpu[1] = (struct vm_metrics_vcpu){ .exits = 5, .io_in = 1, .mmio_write = 3, .failures = 1 };
	vm->exits_by_reason[KVM_EXIT_IO] = 8;
	vm->exits_by_reason[KVM_EXIT_MMIO] = 6;
	vm->exits_by_reason[40] = 1;      /* unnamed: goes with "other" */
	vm->exits_other_reason = 1;
	vm->nvirtio = 3;
	vm->virtio[0] = (struct vm_metrics_virtio){
		.kind = VM_METRICS_VIRTIO_BLK, .kind_name = "virtio-blk", .name = "virtio-blk0", .id = "rootfs",
		.notifies = 9, .interrupts = 9,
		.blk = { .reads = 5, .writes = 2, .flushes = 1, .bytes_read = 5 * 4096, .bytes_written = 1024,
			 .rate_limiter_throttled_events = 6 },
	};
	vm->virtio[1] = (struct vm_metrics_virtio){
		.kind = VM_METRICS_VIRTIO_NET, .kind_name = "virtio-net", .name = "virtio-net0", .id = "eth0",
		.net = { .rx_frames = 4, .rx_bytes = 600, .tx_frames = 3, .tx_bytes = 300, .rx_no_space = 1,
			 .rx_rate_limiter_throttled = 7, .tx_rate_limiter_throttled = 8 },
	};
	vm->virtio[2] = (struct vm_metrics_virtio){
		.kind = VM_METRICS_VIRTIO_RNG, .kind_name = "virtio-rng", .name = "virtio-rng0", .id = "virtio-rng0",
		.notifies = 11, .rng = { .requests = 12, .bytes = 12 * 64, .rate_limiter_throttled_events = 4 },
	};
	vm->uart.tx_bytes = 1234;
	vm->uart.rx_bytes = 5;
	vm->i8042.reads = 2;
	vm->i8042.writes = 3;
	vm->i8042.resets = 1;
	vm->signals.sighup = 1;
}

static void fill_api(struct api_counters *api)
{
	memset(api, 0, sizeof(*api));
	api_counters_record(api, api_method_of("GET"), api_endpoint_of_path("/"), true, 40);
	api_counters_record(api, api_method_of("PUT"), api_endpoint_of_path("/drives/rootfs"), true, 100);
	api_counters_record(api, api_method_of("PUT"), api_endpoint_of_path("/drives/data"), true, 300);
	api_counters_record(api, api_method_of("PUT"), api_endpoint_of_path("/drives/x"), false, 20);
	api_counters_record(api, api_method_of("PATCH"), api_endpoint_of_path("/machine-config"), false, 10);
	api->latency_us[API_LATENCY_PAUSE_VM] = 1500;
	api->process_startup_time_us = 8000;
	api->process_startup_time_cpu_us = 3000;
}

static json_object *parse(const char *line)
{
	json_object *o;

	assert_non_null(line);
	assert_null(strchr(line, '\n'));
	o = json_tokener_parse(line);
	if (!o) {
		print_error("not JSON: %s\n", line);
		fail();
	}
	return o;
}

static uint64_t field(json_object *root, const char *group, const char *key)
{
	json_object *g, *v;

	if (!json_object_object_get_ex(root, group, &g) || !json_object_object_get_ex(g, key, &v)) {
		print_error("no %s.%s in %s\n", group, key, json_object_to_json_string(root));
		fail();
	}
	assert_int_equal(json_object_get_type(v), json_type_int);
	return json_object_get_uint64(v);
}

static char *firecracker_line(struct fixture *f, bool with_vm)
{
	return metrics_firecracker_json(&f->base, with_vm ? &f->vm : NULL, &f->api, 1700000000123ull);
}

/* ---- Firecracker JSON ---------------------------------------------------- */

static void json_has_firecrackers_groups_and_values(void **state)
{
	struct fixture *f = *state;
	static const char *const groups[] = {
		"utc_timestamp_ms", "api_server", "block_rootfs", "block", "get_api_requests", "i8042", "uart",
		"latencies_us", "logger", "net_eth0", "net", "patch_api_requests", "put_api_requests", "vcpu", "signals",
		"entropy",
	};
	char *line;
	json_object *root;

	fill_vm(&f->vm);
	fill_api(&f->api);
	line = firecracker_line(f, true);
	root = parse(line);
	/* Timestamp first, as Firecracker writes it; then exactly the groups vmon fills. */
	struct json_object_iterator it = json_object_iter_begin(root), end = json_object_iter_end(root);
	assert_string_equal(json_object_iter_peek_name(&it), "utc_timestamp_ms");
	size_t n = 0;
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it), n++) {
		bool known = false;
		for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
			known |= !strcmp(json_object_iter_peek_name(&it), groups[g]);
		if (!known) {
			print_error("unexpected group %s\n", json_object_iter_peek_name(&it));
			fail();
		}
	}
	assert_int_equal(n, sizeof(groups) / sizeof(groups[0]));
	json_object *ts;
	assert_true(json_object_object_get_ex(root, "utc_timestamp_ms", &ts));
	assert_int_equal(json_object_get_uint64(ts), 1700000000123ull);

	assert_int_equal(field(root, "get_api_requests", "instance_info_count"), 1);
	assert_int_equal(field(root, "get_api_requests", "machine_cfg_count"), 0);
	assert_int_equal(field(root, "put_api_requests", "drive_count"), 3);
	assert_int_equal(field(root, "put_api_requests", "drive_fails"), 1);
	assert_int_equal(field(root, "put_api_requests", "logger_count"), 0);
	assert_int_equal(field(root, "patch_api_requests", "machine_cfg_count"), 1);
	assert_int_equal(field(root, "patch_api_requests", "machine_cfg_fails"), 1);
	assert_int_equal(field(root, "api_server", "process_startup_time_us"), 8000);
	assert_int_equal(field(root, "latencies_us", "pause_vm"), 1500);
	assert_int_equal(field(root, "vcpu", "exit_io_in"), 4);
	assert_int_equal(field(root, "vcpu", "exit_io_out"), 4);
	assert_int_equal(field(root, "vcpu", "exit_mmio_read"), 1);
	assert_int_equal(field(root, "vcpu", "exit_mmio_write"), 5);
	assert_int_equal(field(root, "vcpu", "failures"), 1);
	assert_int_equal(field(root, "block_rootfs", "read_bytes"), 5 * 4096);
	assert_int_equal(field(root, "block", "read_count"), 5);
	assert_int_equal(field(root, "block", "write_bytes"), 1024);
	assert_int_equal(field(root, "block", "flush_count"), 1);
	assert_int_equal(field(root, "block", "queue_event_count"), 9);
	assert_int_equal(field(root, "net_eth0", "rx_packets_count"), 4);
	assert_int_equal(field(root, "net", "tx_bytes_count"), 300);
	assert_int_equal(field(root, "net", "no_rx_avail_buffer"), 1);
	assert_int_equal(field(root, "block_rootfs", "rate_limiter_throttled_events"), 6);
	assert_int_equal(field(root, "block", "rate_limiter_throttled_events"), 6);
	assert_int_equal(field(root, "net_eth0", "rx_rate_limiter_throttled"), 7);
	assert_int_equal(field(root, "net", "tx_rate_limiter_throttled"), 8);
	assert_int_equal(field(root, "entropy", "entropy_event_count"), 11);
	assert_int_equal(field(root, "entropy", "entropy_bytes"), 12 * 64);
	assert_int_equal(field(root, "entropy", "entropy_rate_limiter_throttled"), 4);
	assert_int_equal(field(root, "uart", "write_count"), 1234);
	assert_int_equal(field(root, "uart", "read_count"), 5);
	assert_int_equal(field(root, "i8042", "reset_count"), 1);
	assert_int_equal(field(root, "signals", "sighup"), 1);
	json_object_put(root);
	free(line);
}

static void counters_report_the_increase_since_the_last_flush(void **state)
{
	struct fixture *f = *state;
	json_object *root;
	char *line;

	fill_vm(&f->vm);
	fill_api(&f->api);
	/* A line that was not written (no commit): the next one still carries its counts. */
	free(firecracker_line(f, true));
	line = firecracker_line(f, true);
	root = parse(line);
	assert_int_equal(field(root, "put_api_requests", "drive_count"), 3);
	json_object_put(root);
	free(line);
	metrics_baseline_commit(&f->base, &f->vm, &f->api);

	/* Nothing happened since: counters 0, values (start-up, latencies, sighup) as they are. */
	line = firecracker_line(f, true);
	root = parse(line);
	assert_int_equal(field(root, "put_api_requests", "drive_count"), 0);
	assert_int_equal(field(root, "put_api_requests", "drive_fails"), 0);
	assert_int_equal(field(root, "get_api_requests", "instance_info_count"), 0);
	assert_int_equal(field(root, "vcpu", "exit_io_in"), 0);
	assert_int_equal(field(root, "block", "read_bytes"), 0);
	assert_int_equal(field(root, "net_eth0", "rx_bytes_count"), 0);
	assert_int_equal(field(root, "uart", "write_count"), 0);
	assert_int_equal(field(root, "api_server", "process_startup_time_us"), 8000);
	assert_int_equal(field(root, "latencies_us", "pause_vm"), 1500);
	assert_int_equal(field(root, "signals", "sighup"), 1);
	json_object_put(root);
	free(line);

	/* New activity: only it. */
	api_counters_record(&f->api, API_METHOD_PUT, API_EP_DRIVES, true, 5);
	f->vm.vcpu[1].io_in += 7;
	f->vm.virtio[0].blk.bytes_read += 512;
	f->vm.virtio[2].rng.rate_limiter_throttled_events += 2;
	f->vm.uart.tx_bytes += 3;
	api_counters_sync_logger(&f->api, 2, NULL);
	line = firecracker_line(f, true);
	root = parse(line);
	assert_int_equal(field(root, "put_api_requests", "drive_count"), 1);
	assert_int_equal(field(root, "vcpu", "exit_io_in"), 7);
	assert_int_equal(field(root, "block", "read_bytes"), 512);
	assert_int_equal(field(root, "block_rootfs", "read_bytes"), 512);
	assert_int_equal(field(root, "entropy", "entropy_rate_limiter_throttled"), 2);
	assert_int_equal(field(root, "entropy", "entropy_bytes"), 0);
	assert_int_equal(field(root, "uart", "write_count"), 3);
	assert_int_equal(field(root, "logger", "missed_log_count"), 2);
	json_object_put(root);
	free(line);
}

static void before_the_vm_exists_its_groups_are_zero(void **state)
{
	struct fixture *f = *state;
	json_object *root;
	char *line;

	fill_api(&f->api);
	line = firecracker_line(f, false);
	root = parse(line);
	assert_int_equal(field(root, "vcpu", "exit_io_in"), 0);
	assert_int_equal(field(root, "block", "read_count"), 0);
	assert_int_equal(field(root, "net", "rx_bytes_count"), 0);
	assert_false(json_object_object_get_ex(root, "block_rootfs", NULL));
	assert_int_equal(field(root, "put_api_requests", "drive_count"), 3);
	json_object_put(root);
	free(line);
	metrics_baseline_commit(&f->base, NULL, &f->api);

	/* The VM comes: everything it counted is new. */
	fill_vm(&f->vm);
	line = firecracker_line(f, true);
	root = parse(line);
	assert_int_equal(field(root, "vcpu", "exit_io_in"), 4);
	assert_int_equal(field(root, "block_rootfs", "read_count"), 5);
	assert_int_equal(field(root, "put_api_requests", "drive_count"), 0);
	json_object_put(root);
	free(line);
	metrics_baseline_commit(&f->base, &f->vm, &f->api);

	/* A new VM counting from zero again: its counts are all new, never a wrapped-around difference. */
	f->vm.vcpu[0].io_out = 1;
	line = firecracker_line(f, true);
	root = parse(line);
	assert_int_equal(field(root, "vcpu", "exit_io_out"), 1);
	json_object_put(root);
	free(line);
}

static void paths_and_methods_name_firecrackers_resources(void **state)
{
	static const struct { const char *path; enum api_endpoint ep; } cases[] = {
		{ "/", API_EP_ROOT }, { "/?x=1", API_EP_ROOT }, { "/actions", API_EP_ACTIONS },
		{ "/balloon/statistics", API_EP_BALLOON }, { "/boot-source", API_EP_BOOT_SOURCE },
		{ "/drives/rootfs", API_EP_DRIVES }, { "/drivesx", API_EP_OTHER }, { "/logger", API_EP_LOGGER },
		{ "/machine-config", API_EP_MACHINE_CONFIG }, { "/machine-config/x", API_EP_OTHER },
		{ "/mmds/config", API_EP_MMDS }, { "/network-interfaces/eth0", API_EP_NETWORK },
		{ "/snapshot/create", API_EP_SNAPSHOT_CREATE }, { "/snapshot/load", API_EP_SNAPSHOT_LOAD },
		{ "/snapshot", API_EP_OTHER }, { "/vm", API_EP_VM }, { "/vm/config", API_EP_VM_CONFIG },
		{ "/version", API_EP_VERSION }, { "/hotplug/memory", API_EP_HOTPLUG_MEMORY }, { "nonsense", API_EP_OTHER },
		{ "/vsock", API_EP_VSOCK }, { "/entropy", API_EP_ENTROPY }, { "/serial", API_EP_SERIAL },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (api_endpoint_of_path(cases[i].path) != cases[i].ep) {
			print_error("%s: got %s\n", cases[i].path, api_endpoint_name(api_endpoint_of_path(cases[i].path)));
			fail();
		}
	}
	assert_int_equal(api_endpoint_of_path(NULL), API_EP_OTHER);
	assert_int_equal(api_method_of("PATCH"), API_METHOD_PATCH);
	assert_int_equal(api_method_of("DELETE"), API_METHOD_OTHER);
	assert_string_equal(api_endpoint_name(API_EP_NETWORK), "network-interfaces");
}

/* ---- Prometheus text ----------------------------------------------------- */

#define NAME_RE "[a-zA-Z_:][a-zA-Z0-9_:]*"
#define LABEL_RE "[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\""
#define SAMPLE_RE "^(" NAME_RE ")(\\{" LABEL_RE "(," LABEL_RE ")*\\})? [0-9]+(\\.[0-9]+)?$"

/*
 * The exposition format's rules: every line a comment or a sample; HELP then
 * TYPE once per metric; a metric's samples right after its TYPE, with its
 * name (a summary's with _sum / _count); no sample twice.
 */
static void assert_well_formed(char *text)
{
	regex_t sample_re, help_re, type_re;
	char family[128] = "", type[16] = "", seen[256][128];
	char *samples[2048];
	unsigned nseen = 0, nsamples = 0;
	char *save = NULL;

	assert_int_equal(regcomp(&sample_re, SAMPLE_RE, REG_EXTENDED), 0);
	assert_int_equal(regcomp(&help_re, "^# HELP " NAME_RE " [^\n]+$", REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regcomp(&type_re, "^# TYPE " NAME_RE " (counter|gauge|summary|histogram|untyped)$",
				 REG_EXTENDED | REG_NOSUB), 0);
	assert_true(text[0] && text[strlen(text) - 1] == '\n');
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		regmatch_t m[2];
		if (!strncmp(line, "# HELP ", 7)) {
			assert_int_equal(regexec(&help_re, line, 0, NULL, 0), 0);
			sscanf(line + 7, "%127s", family);
			for (unsigned i = 0; i < nseen; i++)
				if (!strcmp(seen[i], family)) {
					print_error("%s described twice\n", family);
					fail();
				}
			assert_true(nseen < 256);
			strcpy(seen[nseen++], family);
			type[0] = '\0';
		} else if (!strncmp(line, "# TYPE ", 7)) {
			char name[128];
			assert_int_equal(regexec(&type_re, line, 0, NULL, 0), 0);
			sscanf(line + 7, "%127s %15s", name, type);
			assert_string_equal(name, family);     /* right after its HELP */
		} else {
			if (regexec(&sample_re, line, 2, m, 0)) {
				print_error("not a sample line: \"%s\"\n", line);
				fail();
			}
			char name[128];
			snprintf(name, sizeof(name), "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line);
			assert_true(type[0]);
			bool ok = !strcmp(name, family);
			if (!strcmp(type, "summary")) {
				size_t n = strlen(family);
				ok |= !strncmp(name, family, n) && (!strcmp(name + n, "_sum") || !strcmp(name + n, "_count"));
			}
			if (!ok) {
				print_error("sample %s under metric %s\n", name, family);
				fail();
			}
			*strrchr(line, ' ') = '\0';    /* the series, without its value */
			for (unsigned i = 0; i < nsamples; i++)
				if (!strcmp(samples[i], line)) {
					print_error("series %s twice\n", line);
					fail();
				}
			assert_true(nsamples < 2048);
			samples[nsamples++] = line;
		}
	}
	assert_true(nsamples > 0);
	regfree(&sample_re);
	regfree(&help_re);
	regfree(&type_re);
}

static void prometheus_text_is_well_formed(void **state)
{
	struct fixture *f = *state;
	char *text;

	fill_vm(&f->vm);
	fill_api(&f->api);
	/* A hostile id: quotes, a backslash and a newline must come out escaped. */
	snprintf(f->vm.virtio[0].id, sizeof(f->vm.virtio[0].id), "a\"b\\c\nd");
	text = metrics_prometheus_text(&f->vm, &f->api);
	assert_non_null(text);
	/* Cumulative values, checked before the check below cuts the text into lines. */
	assert_non_null(strstr(text, "\nvmon_api_requests_total{method=\"PUT\",endpoint=\"drives\"} 3\n"));
	assert_non_null(strstr(text, "\nvmon_api_request_failures_total{method=\"PUT\",endpoint=\"drives\"} 1\n"));
	assert_non_null(strstr(text, "\nvmon_api_request_duration_seconds_sum{method=\"PUT\",endpoint=\"drives\"} "
				     "0.000420\n"));
	assert_non_null(strstr(text, "\nvmon_api_request_duration_seconds_count{method=\"PUT\",endpoint=\"drives\"} 3\n"));
	assert_non_null(strstr(text, "\nvmon_vcpu_io_exits_total{vcpu=\"1\",direction=\"in\"} 1\n"));
	assert_non_null(strstr(text, "\nvmon_exits_total{reason=\"io\"} 8\n"));
	assert_non_null(strstr(text, "\nvmon_exits_total{reason=\"other\"} 2\n"));
	assert_non_null(strstr(text, "\nvmon_block_bytes_total{device=\"virtio-blk0\",id=\"a\\\"b\\\\c\\nd\","
				     "direction=\"read\"} 20480\n"));
	assert_non_null(strstr(text, "\nvmon_net_frames_total{device=\"virtio-net0\",id=\"eth0\",direction=\"tx\"} 3\n"));
	assert_non_null(strstr(text, "\nvmon_block_rate_limiter_throttled_total{device=\"virtio-blk0\",id=\"a\\\"b\\\\c\\nd\"} "
				     "6\n"));
	assert_non_null(strstr(text, "\nvmon_net_rate_limiter_throttled_total{device=\"virtio-net0\",id=\"eth0\","
				     "direction=\"rx\"} 7\n"));
	assert_non_null(strstr(text, "\nvmon_entropy_rate_limiter_throttled_total{device=\"virtio-rng0\","
				     "id=\"virtio-rng0\"} 4\n"));
	assert_non_null(strstr(text, "\nvmon_entropy_bytes_total{device=\"virtio-rng0\",id=\"virtio-rng0\"} 768\n"));
	assert_non_null(strstr(text, "\nvmon_uart_bytes_total{device=\"com1\",direction=\"tx\"} 1234\n"));
	assert_non_null(strstr(text, "\nvmon_api_action_duration_seconds{action=\"pause_vm\"} 0.001500\n"));
	assert_null(strstr(text, "action=\"resume_vm\""));     /* never measured: no sample */
	assert_well_formed(text);
	free(text);

	/* Without a VM: the API's metrics only, still well formed. */
	text = metrics_prometheus_text(NULL, &f->api);
	assert_null(strstr(text, "vmon_vcpu"));
	assert_well_formed(text);
	free(text);
}

/* ---- sinks ---------------------------------------------------------------- */

static void file_sink_appends_lines(void **state)
{
	struct fixture *f = *state;
	struct metrics_sink s;
	char buf[256] = "";
	FILE *in;

	metrics_sink_init(&s);
	assert_int_equal(metrics_sink_write_line(&s, "{}", 0), -EBADF);
	in = fopen(f->path, "w");
	fputs("old\n", in);
	fclose(in);
	assert_int_equal(metrics_sink_open(&s, f->path, NULL), 0);
	assert_false(s.is_fifo);
	assert_int_equal(metrics_sink_write_line(&s, "{\"a\":1}", 0), 0);
	assert_int_equal(metrics_sink_write_line(&s, "{\"a\":2}", 0), 0);
	metrics_sink_close(&s);
	assert_int_equal(s.lines, 2);
	in = fopen(f->path, "r");
	assert_int_equal(fread(buf, 1, sizeof(buf) - 1, in), 20);
	fclose(in);
	assert_string_equal(buf, "old\n{\"a\":1}\n{\"a\":2}\n");
}

static void missing_paths_are_refused_by_name(void **state)
{
	struct fixture *f = *state;
	struct metrics_sink s;
	struct vmon_error err = { 0 };

	metrics_sink_init(&s);
	assert_int_equal(metrics_sink_open(&s, f->path, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "metrics_path: "));
	assert_non_null(strstr(err.msg, f->path));
	assert_int_equal(s.fd, -1);
}

struct reader {
	const char *path;
	unsigned lines, bad;
};

static void *read_lines(void *arg)
{
	struct reader *r = arg;
	FILE *in = fopen(r->path, "r");
	char *line = NULL;
	size_t cap = 0;

	if (!in)
		return NULL;
	while (getline(&line, &cap, in) > 0) {
		json_object *o = json_tokener_parse(line);
		r->lines++;
		r->bad += !o || line[strlen(line) - 1] != '\n';
		json_object_put(o);
	}
	free(line);
	fclose(in);
	return NULL;
}

static void fifo_sink_with_a_reader(void **state)
{
	struct fixture *f = *state;
	struct reader r = { .path = f->path };
	struct metrics_sink s;
	pthread_t t;

	fill_vm(&f->vm);
	fill_api(&f->api);
	assert_int_equal(mkfifo(f->path, 0600), 0);
	assert_int_equal(pthread_create(&t, NULL, read_lines, &r), 0);
	metrics_sink_init(&s);
	assert_int_equal(metrics_sink_open(&s, f->path, NULL), 0);
	assert_true(s.is_fifo);
	for (int i = 0; i < 200; i++) {
		char *line = firecracker_line(f, true);
		assert_int_equal(metrics_sink_write_line(&s, line, 5000), 0);
		metrics_baseline_commit(&f->base, &f->vm, &f->api);
		free(line);
	}
	metrics_sink_close(&s);           /* the reader sees the end once every writer is gone */
	pthread_join(t, NULL);
	assert_int_equal(r.lines, 200);
	assert_int_equal(r.bad, 0);
	assert_int_equal(s.lines, 200);
	assert_int_equal(s.missed + s.fails, 0);
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * Nobody reads: lines wait in the pipe until it is full, then are dropped
 * whole, each after at most the timeout. A reader then finds only whole lines.
 */
static void fifo_sink_without_a_reader(void **state)
{
	struct fixture *f = *state;
	struct metrics_sink s;
	unsigned ok = 0, dropped = 0, lines = 0;
	char *line, *text = malloc(1 << 20);
	size_t len = 0;
	ssize_t n;
	int fd;

	fill_vm(&f->vm);
	fill_api(&f->api);
	line = firecracker_line(f, true);
	assert_int_equal(mkfifo(f->path, 0600), 0);
	metrics_sink_init(&s);
	assert_int_equal(metrics_sink_open(&s, f->path, NULL), 0);
	int64_t start = now_ms();
	for (int i = 0; i < 100; i++) {
		int r = metrics_sink_write_line(&s, line, 2);
		assert_true(r == 0 || r == -EAGAIN);
		ok += r == 0;
		dropped += r == -EAGAIN;
	}
	assert_true(now_ms() - start < 100 * 2 + 1000);
	assert_true(ok > 0 && dropped > 0);
	assert_int_equal(s.missed, dropped);
	assert_int_equal(s.fails, 0);

	fd = open(f->path, O_RDONLY | O_NONBLOCK);
	assert_true(fd >= 0);
	while ((n = read(fd, text + len, (1 << 20) - 1 - len)) > 0)
		len += (size_t)n;
	text[len] = '\0';
	close(fd);
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save), lines++)
		json_object_put(parse(l));
	assert_int_equal(lines, ok);
	metrics_sink_close(&s);
	free(text);
	free(line);
}

/* A line longer than the pipe grows it (where the host lets it) and still arrives whole. */
static void fifo_sink_line_longer_than_the_pipe(void **state)
{
	struct fixture *f = *state;
	struct metrics_sink s;
	size_t big = 200 * 1024;
	char *line = malloc(big + 1), *back = malloc(big + 2);
	size_t len = 0;
	ssize_t n;
	int fd;

	memset(line, 'x', big);
	line[0] = '"';
	line[big - 1] = '"';
	line[big] = '\0';
	assert_int_equal(mkfifo(f->path, 0600), 0);
	metrics_sink_init(&s);
	assert_int_equal(metrics_sink_open(&s, f->path, NULL), 0);
	int r = metrics_sink_write_line(&s, line, 10);
	if (r == 0) {
		fd = open(f->path, O_RDONLY | O_NONBLOCK);
		while ((n = read(fd, back + len, big + 2 - len)) > 0)
			len += (size_t)n;
		close(fd);
		assert_int_equal(len, big + 1);
		assert_memory_equal(back, line, big);
		assert_int_equal(back[big], '\n');
	} else {
		/* This host caps pipes below the line: dropped or cut, and counted, never blocking. */
		assert_int_equal(s.missed + s.fails, 1);
	}
	metrics_sink_close(&s);
	free(line);
	free(back);
}

static void logger_group_follows_the_sink(void **state)
{
	struct fixture *f = *state;
	struct metrics_sink s;

	metrics_sink_init(&s);
	s.missed = 3;
	s.fails = 1;
	api_counters_sync_logger(&f->api, 7, &s);
	char *line = firecracker_line(f, false);
	json_object *root = parse(line);
	assert_int_equal(field(root, "logger", "missed_metrics_count"), 3);
	assert_int_equal(field(root, "logger", "metrics_fails"), 1);
	assert_int_equal(field(root, "logger", "missed_log_count"), 7);
	json_object_put(root);
	free(line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(json_has_firecrackers_groups_and_values, setup, teardown),
		cmocka_unit_test_setup_teardown(counters_report_the_increase_since_the_last_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(before_the_vm_exists_its_groups_are_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(paths_and_methods_name_firecrackers_resources, setup, teardown),
		cmocka_unit_test_setup_teardown(prometheus_text_is_well_formed, setup, teardown),
		cmocka_unit_test_setup_teardown(file_sink_appends_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_paths_are_refused_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(fifo_sink_with_a_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(fifo_sink_without_a_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(fifo_sink_line_longer_than_the_pipe, setup, teardown),
		cmocka_unit_test_setup_teardown(logger_group_follows_the_sink, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
