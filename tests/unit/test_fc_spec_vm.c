/* SPDX-License-Identifier: MIT */
/* What the resources become: vm_config, the GET bodies, and the config file that takes them back. */
#include "fc_spec_fixture.h"

static struct fc_spec spec;
static struct vm_config cfg;   /* 4 KiB of text: off the stack */

static int spec_setup(void **state)
{
	(void)state;
	fc_spec_init(&spec);
	vm_config_init(&cfg);
	return 0;
}

static int spec_teardown(void **state)
{
	(void)state;
	fc_spec_free(&spec);
	return 0;
}

static void put_kernel(const char *extra)
{
	ASSERT_OK(fc_spec_put_boot_source(&spec, body("{\"kernel_image_path\": \"%s\"%s}", fx("vmlinux"), extra), err));
}

static void nothing_to_boot_is_named(void **state)
{
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(fc_spec_to_vm_config(&spec, &cfg, &err), -EINVAL);
	assert_string_equal(err.msg, "boot-source: no kernel_image_path set (PUT /boot-source first)");
	assert_null(cfg.kernel_path);
	assert_int_equal(cfg.text_used, 0);
}

static void default_boot_args_keep_a_uart(void **state)
{
	(void)state;
	put_kernel("");
	ASSERT_OK(fc_spec_to_vm_config(&spec, &cfg, err));
	assert_string_equal(cfg.kernel_path, fx("vmlinux"));
	assert_null(cfg.initrd_path);
	assert_string_equal(cfg.cmdline, FC_SPEC_DEFAULT_BOOT_ARGS);
	assert_non_null(strstr(cfg.cmdline, "8250.nr_uarts=1"));
	assert_int_equal(cfg.ncpus, 1);
	assert_int_equal(cfg.mem_size, 128ull << 20);
	assert_int_equal(cfg.ndrives, 0);
	assert_false(cfg.rng);
}

static void root_device_goes_first_and_on_the_command_line(void **state)
{
	(void)state;
	put_kernel(body(", \"initrd_path\": \"%s\", \"boot_args\": \"console=ttyS0 quiet\"", fx("initrd")));
	ASSERT_OK(fc_spec_put_machine_config(&spec, "{\"vcpu_count\": 2, \"mem_size_mib\": 256}", err));
	ASSERT_OK(fc_spec_put_drive(&spec, "data", body("{\"drive_id\": \"data\", \"path_on_host\": \"%s\", "
							"\"is_root_device\": false, \"is_read_only\": true}", fx("data.img")),
				    err));
	ASSERT_OK(fc_spec_put_drive(&spec, "rootfs", body("{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\", "
							  "\"is_root_device\": true, \"is_read_only\": false}",
							  fx("rootfs.ext4")), err));
	ASSERT_OK(fc_spec_put_entropy(&spec, "{\"rate_limiter\": {\"bandwidth\": {\"size\": 4096, "
				      "\"refill_time\": 100}}}", err));
	cfg.verbosity = 2;   /* a host-side field the caller set: kept */
	ASSERT_OK(fc_spec_to_vm_config(&spec, &cfg, err));
	assert_string_equal(cfg.cmdline, "console=ttyS0 quiet root=/dev/vda rw");
	assert_string_equal(cfg.initrd_path, fx("initrd"));
	assert_int_equal(cfg.ncpus, 2);
	assert_int_equal(cfg.mem_size, 256ull << 20);
	assert_int_equal(cfg.ndrives, 2);
	assert_string_equal(cfg.drives[0].path, fx("rootfs.ext4"));
	assert_string_equal(cfg.drives[0].id, "rootfs");
	assert_false(cfg.drives[0].readonly);
	assert_string_equal(cfg.drives[1].path, fx("data.img"));
	assert_string_equal(cfg.drives[1].id, "data");
	assert_true(cfg.drives[1].readonly);
	assert_true(cfg.rng);
	assert_int_equal(cfg.rng_rate_limiter.bandwidth.size, 4096);
	assert_int_equal(cfg.rng_rate_limiter.bandwidth.refill_time_ms, 100);
	assert_false(token_bucket_limits(&cfg.rng_rate_limiter.ops));
	assert_int_equal(cfg.verbosity, 2);
	/* The strings live in cfg, not in the spec. */
	assert_true(cfg.cmdline >= cfg.text && cfg.cmdline < cfg.text + sizeof(cfg.text));
	assert_true(cfg.drives[0].path >= cfg.text && cfg.drives[0].path < cfg.text + sizeof(cfg.text));
}

static void read_only_root_by_partuuid(void **state)
{
	(void)state;
	put_kernel(", \"boot_args\": \"\"");
	ASSERT_OK(fc_spec_put_drive(&spec, "rootfs", body("{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\", "
							  "\"is_root_device\": true, \"is_read_only\": true, "
							  "\"partuuid\": \"4c9a7e6b-01\"}", fx("rootfs.ext4")), err));
	ASSERT_OK(fc_spec_to_vm_config(&spec, &cfg, err));
	assert_string_equal(cfg.cmdline, "root=PARTUUID=4c9a7e6b-01 ro");
	assert_true(cfg.drives[0].readonly);
}

static void nets_map_to_backends_with_distinct_macs(void **state)
{
	(void)state;
	put_kernel("");
	ASSERT_OK(fc_spec_put_network_interface(&spec, "eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": "
						"\"" FC_SPEC_USER_NET "\"}", err));
	ASSERT_OK(fc_spec_put_network_interface(&spec, "eth1", "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap7\", "
						"\"guest_mac\": \"52:54:00:12:34:56\", \"rx_rate_limiter\": {\"bandwidth\": "
						"{\"size\": 1000, \"refill_time\": 100}}}", err));
	ASSERT_OK(fc_spec_to_vm_config(&spec, &cfg, err));
	assert_int_equal(cfg.nnets, 2);
	assert_false(rate_limiter_config_limits(&cfg.nets[0].rx_rate_limiter));
	assert_int_equal(cfg.nets[1].rx_rate_limiter.bandwidth.size, 1000);
	assert_int_equal(cfg.nets[1].rx_rate_limiter.bandwidth.refill_time_ms, 100);
	assert_false(rate_limiter_config_limits(&cfg.nets[1].tx_rate_limiter));
	assert_int_equal(cfg.nets[0].backend, NET_BACKEND_USER);
	assert_null(cfg.nets[0].tap_name);
	/* The default 52:54:00:12:34:56 is eth1's: eth0 steps past it. */
	assert_memory_equal(cfg.nets[0].mac, ((uint8_t[]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x57 }), 6);
	assert_int_equal(cfg.nets[1].backend, NET_BACKEND_TAP);
	assert_string_equal(cfg.nets[1].tap_name, "tap7");
	assert_memory_equal(cfg.nets[1].mac, ((uint8_t[]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }), 6);
}

static void vm_config_check_refusals_leave_cfg_alone(void **state)
{
	struct vmon_error err = { 0 };
	char big[2048];
	(void)state;
	/* Six drives, two NICs and an RNG on virtio-mmio (the API's default): nine devices, one more than its eight lines. */
	put_kernel("");
	for (int i = 0; i < 6; i++) {
		static const char *const files[] = { "rootfs.ext4", "data.img", "d2", "d3", "d4", "d5" };
		char id[8];
		snprintf(id, sizeof(id), "d%d", i);
		ASSERT_OK(fc_spec_put_drive(&spec, id, body("{\"drive_id\": \"%s\", \"path_on_host\": \"%s\", "
							    "\"is_root_device\": false}", id, fx(files[i])), err));
	}
	ASSERT_OK(fc_spec_put_network_interface(&spec, "n0", "{\"iface_id\": \"n0\", \"host_dev_name\": \"tap0\"}", err));
	ASSERT_OK(fc_spec_put_network_interface(&spec, "n1", "{\"iface_id\": \"n1\", \"host_dev_name\": \"tap1\"}", err));
	ASSERT_OK(fc_spec_put_entropy(&spec, "{}", err));
	assert_int_equal(fc_spec_to_vm_config(&spec, &cfg, &err), -EINVAL);
	assert_string_equal(err.msg, "vm config: drives, nets, rng, vconsole, balloon and vsock put 9 devices on virtio-mmio; its interrupt "
			    "lines fit 8 (virtio-pci needs none)");
	assert_int_equal(cfg.ndrives, 0);
	assert_int_equal(cfg.text_used, 0);
	/* A command line that does not fit in vm_config's text. */
	fc_spec_free(&spec);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char *b = malloc(8192);
	snprintf(b, 8192, "{\"kernel_image_path\": \"%s\", \"boot_args\": \"%s %s\"}", fx("vmlinux"), big, big);
	ASSERT_OK(fc_spec_put_boot_source(&spec, b, err));
	free(b);
	assert_int_equal(fc_spec_to_vm_config(&spec, &cfg, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "boot_args: 4095 bytes do not fit in vmon's machine description"));
	assert_null(cfg.kernel_path);
}

static void get_bodies_round_trip_through_the_config_file(void **state)
{
	struct fc_spec back;
	char *json, *again;
	(void)state;
	put_kernel(body(", \"initrd_path\": \"%s\", \"boot_args\": \"console=ttyS0\"", fx("initrd")));
	ASSERT_OK(fc_spec_put_machine_config(&spec, "{\"vcpu_count\": 4, \"mem_size_mib\": 512}", err));
	ASSERT_OK(fc_spec_put_drive(&spec, "rootfs", body("{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\", "
							  "\"is_root_device\": true, \"partuuid\": \"abc-01\", "
							  "\"cache_type\": \"Writeback\", \"io_engine\": \"Async\", "
							  "\"rate_limiter\": {\"bandwidth\": {\"size\": 4194304, "
							  "\"refill_time\": 1000}}}",
							  fx("rootfs.ext4")), err));
	ASSERT_OK(fc_spec_put_network_interface(&spec, "eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", "
						"\"guest_mac\": \"06:00:ac:10:00:02\", \"tx_rate_limiter\": {\"ops\": "
						"{\"size\": 100, \"one_time_burst\": 50, \"refill_time\": 10}, "
						"\"bandwidth\": {\"size\": 0, \"refill_time\": 10}}}", err));
	ASSERT_OK(fc_spec_put_logger(&spec, "{\"log_path\": \"/tmp/l\", \"level\": \"WARNING\"}", err));
	ASSERT_OK(fc_spec_put_metrics(&spec, "{\"metrics_path\": \"/tmp/m\", \"properties\": {\"k\": \"v\"}}", err));
	ASSERT_OK(fc_spec_put_mmds_config(&spec, "{\"network_interfaces\": [\"eth0\"]}", err));
	ASSERT_OK(fc_spec_put_entropy(&spec, "{\"rate_limiter\": {\"ops\": {\"size\": 10, \"refill_time\": 100}}}",
				      err));
	ASSERT_OK(fc_spec_put_serial(&spec, "{\"serial_out_path\": \"/tmp/s\"}", err));
	json = fc_spec_vm_config_json(&spec);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"machine-config\":{\"vcpu_count\":4,\"mem_size_mib\":512,\"smt\":false,"));
	assert_non_null(strstr(json, "\"drives\":[{\"drive_id\":\"rootfs\",\"partuuid\":\"abc-01\",\"is_root_device\""
			       ":true,\"cache_type\":\"Writeback\",\"is_read_only\":false,\"path_on_host\":\""));
	assert_non_null(strstr(json, "\"guest_mac\":\"06:00:ac:10:00:02\""));
	/* Rate limiters: the buckets that limit, null for the rest. */
	assert_non_null(strstr(json, "\"rate_limiter\":{\"bandwidth\":{\"size\":4194304,\"one_time_burst\":0,"
			       "\"refill_time\":1000},\"ops\":null}"));
	assert_non_null(strstr(json, "\"rx_rate_limiter\":null,\"tx_rate_limiter\":{\"bandwidth\":null,\"ops\":"
			       "{\"size\":100,\"one_time_burst\":50,\"refill_time\":10}}"));
	assert_non_null(strstr(json, "\"logger\":{\"level\":\"Warning\",\"log_path\":\"/tmp/l\""));
	assert_non_null(strstr(json, "\"mmds-config\":{\"version\":\"V1\",\"network_interfaces\":[\"eth0\"],"
			       "\"ipv4_address\":\"169.254.169.254\",\"imds_compat\":false}"));
	assert_non_null(strstr(json, "\"vsock\":null"));
	assert_non_null(strstr(json, "\"entropy\":{\"rate_limiter\":{\"bandwidth\":null,\"ops\":{\"size\":10,"
			       "\"one_time_burst\":0,\"refill_time\":100}}}"));
	fc_spec_init(&back);
	ASSERT_OK(fc_spec_load_config_file(&back, json, err));
	again = fc_spec_vm_config_json(&back);
	assert_string_equal(json, again);
	free(json);
	free(again);
	fc_spec_free(&back);
}

static void config_file_sections(void **state)
{
	char msg[320];
	(void)state;
	ASSERT_OK(fc_spec_load_config_file(&spec, body(
		"{\"boot-source\": {\"kernel_image_path\": \"%s\", \"boot_args\": \"console=ttyS0 reboot=k\"},"
		" \"drives\": [{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\", \"is_root_device\": true,"
		" \"is_read_only\": false}],"
		" \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 1024},"
		" \"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}],"
		" \"mmds-config\": {\"network_interfaces\": [\"eth0\"]}, \"vsock\": null, \"balloon\": null}",
		fx("vmlinux"), fx("rootfs.ext4")), err));
	assert_int_equal(spec.machine.vcpu_count, 2);
	assert_int_equal(spec.ndrives, 1);
	assert_int_equal(spec.nnets, 1);
	assert_true(spec.mmds.set);
	ASSERT_OK(fc_spec_to_vm_config(&spec, &cfg, err));
	assert_string_equal(cfg.cmdline, "console=ttyS0 reboot=k root=/dev/vda rw");

	const char *kernel = body("\"boot-source\": {\"kernel_image_path\": \"%s\"}", fx("vmlinux"));
	char doc[1024];
#define BAD_FILE(rest, expected)                                                                   \
	do {                                                                                       \
		snprintf(doc, sizeof(doc), "{%s%s}", kernel, rest);                                \
		ASSERT_REFUSED(&spec, fc_spec_load_config_file(&spec, doc, err), expected);        \
	} while (0)
	BAD_FILE(", \"machine-config\": {\"vcpu_count\": 0, \"mem_size_mib\": 128}",
		 "machine-config: vcpu_count: must be between 1 and 32 (got 0)");
	BAD_FILE(", \"drives\": [{\"drive_id\": \"a\", \"is_root_device\": false, \"path_on_host\": \"/dev/null\"}, "
		 "{\"is_root_device\": false}]", "drives[1]: drive_id: required");
	BAD_FILE(", \"drives\": {}", "drives: expected an array");
	BAD_FILE(", \"network-interfaces\": [{\"iface_id\": \"e\", \"host_dev_name\": \"t\", \"x\": 1}]",
		 "network-interfaces[0]: unknown field \"x\"");
	BAD_FILE(", \"mmds-config\": {\"network_interfaces\": [\"eth9\"]}",
		 "mmds-config: network_interfaces: no network interface \"eth9\" (PUT /network-interfaces/eth9 first)");
	BAD_FILE(", \"balloon\": {\"amount_mib\": 1, \"deflate_on_oom\": false, \"free_page_hinting\": true}",
		 "balloon: free_page_hinting: vmon does not implement free page hinting "
		 "(VIRTIO_BALLOON_F_FREE_PAGE_HINT); free_page_reporting gives freed pages back");
	BAD_FILE(", \"balloon\": {\"amount_mib\": 129, \"deflate_on_oom\": false}",
		 "balloon: amount_mib: 129 is outside 0 .. the guest's 128 MiB");
	/* The balloon section becomes vm_config's balloon (after machine-config, whose size bounds it). */
	snprintf(doc, sizeof(doc), "{%s, \"balloon\": {\"amount_mib\": 200, \"deflate_on_oom\": true, "
		 "\"stats_polling_interval_s\": 3, \"free_page_reporting\": true}, \"machine-config\": "
		 "{\"vcpu_count\": 1, \"mem_size_mib\": 256}}", kernel);
	ASSERT_OK(fc_spec_load_config_file(&spec, doc, err));
	ASSERT_OK(fc_spec_to_vm_config(&spec, &cfg, err));
	assert_true(cfg.balloon.enabled);
	assert_int_equal(cfg.balloon.amount_mib, 200);
	assert_true(cfg.balloon.deflate_on_oom);
	assert_int_equal(cfg.balloon.stats_interval_s, 3);
	assert_true(cfg.balloon.free_page_reporting);
	char *full = fc_spec_vm_config_json(&spec);
	assert_non_null(full);
	assert_non_null(strstr(full, "\"balloon\":{\"amount_mib\":200,\"deflate_on_oom\":true,"
				     "\"stats_polling_interval_s\":3,\"free_page_hinting\":false,"
				     "\"free_page_reporting\":true}"));
	free(full);
	BAD_FILE(", \"vsock\": {\"guest_cid\": 2, \"uds_path\": \"/v\"}",
		 "vsock: guest_cid: must be between 3 and 4294967295 (got 2)");
	BAD_FILE(", \"cpu-config\": \"/t.json\"", "cpu-config: custom CPU templates are not supported by vmon");
	BAD_FILE(", \"boot_source\": {}", "unknown field \"boot_source\"");
	BAD_FILE(", \"logger\": []", "logger: expected an object");
	ASSERT_REFUSED(&spec, fc_spec_load_config_file(&spec, "{\"drives\": []}", err), "boot-source: required");
	ASSERT_REFUSED(&spec, fc_spec_load_config_file(&spec, "[]", err), "config file: expected a JSON object");
	ASSERT_REFUSED(&spec, fc_spec_load_config_file(&spec, "{\"boot-source\": ", err),
		       "body: not valid JSON (ends too early)");
	snprintf(msg, sizeof(msg), "boot-source: kernel_image_path: cannot open \"%s\": No such file or directory",
		 fx("none"));
	ASSERT_REFUSED(&spec, fc_spec_load_config_file(&spec, body("{\"boot-source\": {\"kernel_image_path\": \"%s\"}}",
								    fx("none")), err), msg);
#undef BAD_FILE
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, spec_setup, spec_teardown)
	const struct CMUnitTest tests[] = {
		T(nothing_to_boot_is_named),
		T(default_boot_args_keep_a_uart),
		T(root_device_goes_first_and_on_the_command_line),
		T(read_only_root_by_partuuid),
		T(nets_map_to_backends_with_distinct_macs),
		T(vm_config_check_refusals_leave_cfg_alone),
		T(get_bodies_round_trip_through_the_config_file),
		T(config_file_sections),
	};
	return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
