/* SPDX-License-Identifier: MIT */
/* The request bodies of each resource: accepted ones set what they say, refused ones say why and change nothing. */
#include "fc_spec_fixture.h"
#include "virtio/vsock.h"

static struct fc_spec spec;

static int spec_setup(void **state)
{
	(void)state;
	fc_spec_init(&spec);
	return 0;
}

static int spec_teardown(void **state)
{
	(void)state;
	fc_spec_free(&spec);
	return 0;
}

static void defaults_are_firecrackers(void **state)
{
	char *json = fc_spec_machine_config_json(&spec);
	(void)state;
	assert_string_equal(json, "{\"vcpu_count\":1,\"mem_size_mib\":128,\"smt\":false,\"track_dirty_pages\":false,"
			    "\"huge_pages\":\"None\"}");
	free(json);
	assert_false(spec.boot_source.set);
	assert_int_equal(spec.ndrives, 0);
	assert_false(spec.entropy);
}

static void boot_source_is_set_and_replaced(void **state)
{
	(void)state;
	ASSERT_OK(fc_spec_put_boot_source(&spec, body("{\"kernel_image_path\": \"%s\", \"initrd_path\": \"%s\", "
						      "\"boot_args\": \"console=ttyS0\"}", fx("vmlinux"), fx("initrd")),
					  err));
	assert_true(spec.boot_source.set);
	assert_string_equal(spec.boot_source.kernel_image_path, fx("vmlinux"));
	assert_string_equal(spec.boot_source.initrd_path, fx("initrd"));
	assert_string_equal(spec.boot_source.boot_args, "console=ttyS0");
	/* A PUT replaces the whole resource: what it leaves out is gone. */
	ASSERT_OK(fc_spec_put_boot_source(&spec, body("{\"kernel_image_path\": \"%s\", \"initrd_path\": null}",
						      fx("vmlinux")), err));
	assert_null(spec.boot_source.initrd_path);
	assert_null(spec.boot_source.boot_args);
}

static void bad_boot_sources_are_refused(void **state)
{
	char msg[320];
	(void)state;
	ASSERT_OK(fc_spec_put_boot_source(&spec, body("{\"kernel_image_path\": \"%s\"}", fx("vmlinux")), err));
	ASSERT_REFUSED(&spec, fc_spec_put_boot_source(&spec, "{\"boot_args\": \"x\"}", err),
		       "kernel_image_path: required");
	ASSERT_REFUSED(&spec, fc_spec_put_boot_source(&spec, body("{\"kernel_image_path\": \"%s\", \"foo\": 1}",
								   fx("vmlinux")), err), "unknown field \"foo\"");
	ASSERT_REFUSED(&spec, fc_spec_put_boot_source(&spec, "{\"kernel_image_path\": 7}", err),
		       "kernel_image_path: expected a string");
	snprintf(msg, sizeof(msg), "kernel_image_path: cannot open \"%s\": No such file or directory", fx("nothing"));
	ASSERT_REFUSED(&spec, fc_spec_put_boot_source(&spec, body("{\"kernel_image_path\": \"%s\"}", fx("nothing")),
						      err), msg);
	snprintf(msg, sizeof(msg), "kernel_image_path: \"%s\" is a directory", fixture_dir);
	ASSERT_REFUSED(&spec, fc_spec_put_boot_source(&spec, body("{\"kernel_image_path\": \"%s\"}", fixture_dir), err),
		       msg);
	snprintf(msg, sizeof(msg), "initrd_path: cannot open \"%s\": No such file or directory", fx("nothing"));
	ASSERT_REFUSED(&spec, fc_spec_put_boot_source(&spec, body("{\"kernel_image_path\": \"%s\", \"initrd_path\": "
								   "\"%s\"}", fx("vmlinux"), fx("nothing")), err), msg);
	ASSERT_REFUSED(&spec, fc_spec_put_boot_source(&spec, "{\"kernel_image_path\": \"\"}", err),
		       "kernel_image_path: must not be empty");
	ASSERT_REFUSED(&spec, fc_spec_put_boot_source(&spec, "", err), "body: not valid JSON (empty)");
	ASSERT_REFUSED(&spec, fc_spec_put_boot_source(&spec, NULL, err), "body: missing");
	ASSERT_REFUSED(&spec, fc_spec_put_boot_source(&spec, "[]", err), "body: expected a JSON object");
}

static const char *drive(const char *id, const char *file, bool root, const char *extra)
{
	return body("{\"drive_id\": \"%s\", \"path_on_host\": \"%s\", \"is_root_device\": %s, "
		    "\"is_read_only\": false%s}", id, fx(file), root ? "true" : "false", extra);
}

static void drives_keep_their_order_with_the_root_first(void **state)
{
	(void)state;
	ASSERT_OK(fc_spec_put_drive(&spec, "data", drive("data", "data.img", false, ""), err));
	ASSERT_OK(fc_spec_put_drive(&spec, "scratch", drive("scratch", "d2", false, ", \"cache_type\": \"Writeback\", "
							   "\"io_engine\": \"Async\""), err));
	ASSERT_OK(fc_spec_put_drive(&spec, "rootfs", drive("rootfs", "rootfs.ext4", true,
							   ", \"partuuid\": \"0eaa91a0-01\""), err));
	assert_int_equal(spec.ndrives, 3);
	assert_string_equal(spec.drives[0].drive_id, "rootfs");
	assert_true(spec.drives[0].is_root_device);
	assert_string_equal(spec.drives[0].partuuid, "0eaa91a0-01");
	assert_string_equal(spec.drives[1].drive_id, "data");
	assert_string_equal(spec.drives[2].drive_id, "scratch");
	assert_int_equal(spec.drives[2].cache_type, FC_CACHE_WRITEBACK);
	assert_int_equal(spec.drives[2].io_engine, FC_IO_ASYNC);
	assert_int_equal(spec.drives[1].cache_type, FC_CACHE_UNSAFE);
	/* A PUT of a known id replaces it in place... */
	ASSERT_OK(fc_spec_put_drive(&spec, "data", body("{\"drive_id\": \"data\", \"path_on_host\": \"%s\", "
							"\"is_root_device\": false, \"is_read_only\": true}", fx("d3")), err));
	assert_int_equal(spec.ndrives, 3);
	assert_string_equal(spec.drives[1].path_on_host, fx("d3"));
	assert_true(spec.drives[1].is_read_only);
	/* ...and the root device may be replaced by itself, keeping its place. */
	ASSERT_OK(fc_spec_put_drive(&spec, "rootfs", drive("rootfs", "rootfs.ext4", true, ""), err));
	assert_string_equal(spec.drives[0].drive_id, "rootfs");
	assert_null(spec.drives[0].partuuid);
}

static void a_drive_made_root_moves_first(void **state)
{
	(void)state;
	ASSERT_OK(fc_spec_put_drive(&spec, "a", drive("a", "d2", false, ""), err));
	ASSERT_OK(fc_spec_put_drive(&spec, "b", drive("b", "d3", false, ""), err));
	ASSERT_OK(fc_spec_put_drive(&spec, "c", drive("c", "d4", false, ""), err));
	ASSERT_OK(fc_spec_put_drive(&spec, "c", drive("c", "d4", true, ""), err));
	assert_string_equal(spec.drives[0].drive_id, "c");
	assert_string_equal(spec.drives[1].drive_id, "a");
	assert_string_equal(spec.drives[2].drive_id, "b");
}

static void bad_drives_are_refused(void **state)
{
	char msg[320];
	(void)state;
	ASSERT_OK(fc_spec_put_drive(&spec, "rootfs", drive("rootfs", "rootfs.ext4", true, ""), err));
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "other", drive("other", "d2", true, ""), err),
		       "is_root_device: drive \"rootfs\" is the root device already; at most one root device");
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "a", drive("b", "d2", false, ""), err),
		       "drive_id: \"a\" in the path but \"b\" in the body");
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "a-b", drive("a-b", "d2", false, ""), err),
		       "drive_id: \"a-b\": API resource IDs can only contain alphanumeric characters and underscores");
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "", drive("", "d2", false, ""), err),
		       "drive_id: must not be empty");
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, NULL, drive("x", "d2", false, ""), err),
		       "drive_id: must not be empty");
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "abcdefghij0123456789x", drive("abcdefghij0123456789x", "d2",
										    false, ""), err),
		       "drive_id: \"abcdefghij0123456789x\" is 21 bytes; vmon gives it to the guest as the virtio-blk "
		       "serial, which holds 20");
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "x", "{\"drive_id\": \"x\", \"is_root_device\": false}", err),
		       "path_on_host: required (vmon's drives are virtio-block)");
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "x", "{\"drive_id\": \"x\", \"path_on_host\": \"/x\"}", err),
		       "is_root_device: required");
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "x", "{\"drive_id\": \"x\", \"is_root_device\": false, "
						"\"socket\": \"/run/vhost.sock\"}", err),
		       "socket: vhost-user-block is not supported by vmon (give path_on_host)");
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "x", drive("x", "d2", false, ", \"cache_type\": \"None\""), err),
		       "cache_type: must be one of \"Unsafe\", \"Writeback\" (got \"None\")");
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "x", drive("x", "d2", false, ", \"io_engine\": \"Uring\""), err),
		       "io_engine: must be one of \"Sync\", \"Async\" (got \"Uring\")");
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "x", "{\"drive_id\": \"x\", \"is_root_device\": false, "
						"\"is_read_only\": \"yes\"}", err),
		       "is_read_only: expected a boolean");
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "x", drive("x", "d2", false, ", \"partuuid\": \"a b\""), err),
		       "partuuid: \"a b\" must be a non-empty word (it goes on the kernel command line)");
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "x", drive("x", "d2", false, ", \"rate_limiter\": {\"ops\": "
						"{\"size\": 4611686018427387905, \"refill_time\": 1000}}"), err),
		       "rate_limiter.ops: size exceeds 2^62");
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "x", drive("x", "d2", false, ", \"rate_limiter\": {\"bandwidth\": "
						"{\"size\": 1, \"refill_time\": 18446744073710}}"), err),
		       "rate_limiter.bandwidth: refill_time exceeds 2^64 nanoseconds");
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "x", drive("x", "d2", false, ", \"rate_limiter\": {\"ops\": "
						"{\"size\": -1, \"refill_time\": 1000}}"), err),
		       "rate_limiter.ops.size: must be at least 0 (got -1)");
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "x", drive("x", "d2", false, ", \"rate_limiter\": {\"ops\": "
						"{\"size\": 1}}"), err), "rate_limiter.ops.refill_time: required");
	snprintf(msg, sizeof(msg), "path_on_host: cannot open \"%s\": No such file or directory", fx("nothing"));
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "x", drive("x", "nothing", false, ""), err), msg);
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "x", drive("x", "d2", false, ", \"is_read_only\": true"), err),
		       "body: an object has the same key twice");
	/* A bucket that does not limit is no rate limiter at all, as in Firecracker. */
	ASSERT_OK(fc_spec_put_drive(&spec, "x", drive("x", "d2", false, ", \"rate_limiter\": {\"bandwidth\": "
						      "{\"size\": 0, \"refill_time\": 100}, \"ops\": null}"), err));
	/* vmon's limit: twelve drives. */
	for (int i = 3; i <= 12; i++) {
		char id[8];
		snprintf(id, sizeof(id), "d%d", i);
		ASSERT_OK(fc_spec_put_drive(&spec, id, drive(id, "d3", false, ""), err));
	}
	ASSERT_REFUSED(&spec, fc_spec_put_drive(&spec, "d13", drive("d13", "d2", false, ""), err),
		       "drive_id: \"d13\" would be drive 13; vmon takes at most 12");
}

static void drives_are_patched(void **state)
{
	(void)state;
	ASSERT_OK(fc_spec_put_drive(&spec, "data", drive("data", "data.img", false, ""), err));
	ASSERT_OK(fc_spec_patch_drive(&spec, "data", body("{\"drive_id\": \"data\", \"path_on_host\": \"%s\"}", fx("d2")),
				      err));
	assert_string_equal(spec.drives[0].path_on_host, fx("d2"));
	ASSERT_OK(fc_spec_patch_drive(&spec, "data", "{\"drive_id\": \"data\", \"rate_limiter\": {}}", err));
	assert_false(rate_limiter_config_limits(&spec.drives[0].rate_limiter));
	/* A PATCH replaces the buckets it names and keeps the others (Firecracker's RateLimiterUpdate). */
	ASSERT_OK(fc_spec_patch_drive(&spec, "data", "{\"drive_id\": \"data\", \"rate_limiter\": {\"bandwidth\": "
				      "{\"size\": 4096, \"one_time_burst\": 8192, \"refill_time\": 100}, \"ops\": "
				      "{\"size\": 10, \"refill_time\": 1000}}}", err));
	ASSERT_OK(fc_spec_patch_drive(&spec, "data", "{\"drive_id\": \"data\", \"rate_limiter\": {\"ops\": "
				      "{\"size\": 20, \"refill_time\": 500}}}", err));
	const struct rate_limiter_config *rl = &spec.drives[0].rate_limiter;
	assert_int_equal(rl->bandwidth.size, 4096);
	assert_int_equal(rl->bandwidth.one_time_burst, 8192);
	assert_int_equal(rl->bandwidth.refill_time_ms, 100);
	assert_int_equal(rl->ops.size, 20);
	assert_int_equal(rl->ops.refill_time_ms, 500);
	/* A refused one changes nothing. */
	ASSERT_REFUSED(&spec, fc_spec_patch_drive(&spec, "data", "{\"drive_id\": \"data\", \"rate_limiter\": {\"ops\": "
						  "{\"size\": 1, \"refill_time\": 1}, \"bandwidth\": {\"size\": 1}}}", err),
		       "rate_limiter.bandwidth.refill_time: required");
	assert_int_equal(rl->ops.size, 20);
	/* A size of 0 switches a bucket off. */
	ASSERT_OK(fc_spec_patch_drive(&spec, "data", "{\"drive_id\": \"data\", \"rate_limiter\": {\"bandwidth\": "
				      "{\"size\": 0, \"refill_time\": 100}}}", err));
	assert_false(token_bucket_limits(&rl->bandwidth));
	assert_true(token_bucket_limits(&rl->ops));
	ASSERT_REFUSED(&spec, fc_spec_patch_drive(&spec, "data", "{\"drive_id\": \"data\"}", err),
		       "body: nothing to change (give path_on_host or rate_limiter)");
	ASSERT_REFUSED(&spec, fc_spec_patch_drive(&spec, "nope", "{\"drive_id\": \"nope\", \"path_on_host\": \"/x\"}",
						  err), "drive_id: no drive \"nope\" (PUT /drives/nope first)");
	ASSERT_REFUSED(&spec, fc_spec_patch_drive(&spec, "data", "{\"drive_id\": \"data\", \"is_read_only\": true}",
						  err), "unknown field \"is_read_only\"");
	ASSERT_REFUSED(&spec, fc_spec_patch_drive(&spec, "data", "{\"drive_id\": \"x\", \"path_on_host\": \"/x\"}", err),
		       "drive_id: \"data\" in the path but \"x\" in the body");
}

static void machine_config_put_and_patch(void **state)
{
	(void)state;
	ASSERT_OK(fc_spec_put_machine_config(&spec, "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"smt\": false, "
				"\"track_dirty_pages\": false, \"cpu_template\": \"None\", \"huge_pages\": \"None\"}", err));
	assert_int_equal(spec.machine.vcpu_count, 2);
	assert_int_equal(spec.machine.mem_size_mib, 256);
	ASSERT_OK(fc_spec_patch_machine_config(&spec, "{\"vcpu_count\": 32}", err));
	assert_int_equal(spec.machine.vcpu_count, 32);
	assert_int_equal(spec.machine.mem_size_mib, 256);
	ASSERT_OK(fc_spec_patch_machine_config(&spec, "{\"mem_size_mib\": 1048576}", err));
	assert_int_equal(spec.machine.mem_size_mib, 1048576);
	ASSERT_OK(fc_spec_put_machine_config(&spec, "{\"vcpu_count\": 1, \"mem_size_mib\": 2}", err));
	assert_int_equal(spec.machine.mem_size_mib, 2);
	assert_false(spec.machine.track_dirty_pages);
	/* Dirty page tracking (diff snapshots): PATCH keeps it, a PUT without it goes back to false. */
	ASSERT_OK(fc_spec_patch_machine_config(&spec, "{\"track_dirty_pages\": true}", err));
	assert_true(spec.machine.track_dirty_pages);
	ASSERT_OK(fc_spec_patch_machine_config(&spec, "{\"vcpu_count\": 3}", err));
	assert_true(spec.machine.track_dirty_pages);
	ASSERT_OK(fc_spec_put_machine_config(&spec, "{\"vcpu_count\": 1, \"mem_size_mib\": 2}", err));
	assert_false(spec.machine.track_dirty_pages);
	ASSERT_OK(fc_spec_put_machine_config(&spec, "{\"vcpu_count\": 1, \"mem_size_mib\": 2, "
				"\"track_dirty_pages\": true}", err));
	assert_true(spec.machine.track_dirty_pages);
	char *json = fc_spec_machine_config_json(&spec);
	assert_non_null(strstr(json, "\"track_dirty_pages\":true"));
	free(json);
}

static void bad_machine_configs_are_refused(void **state)
{
	(void)state;
	ASSERT_OK(fc_spec_put_machine_config(&spec, "{\"vcpu_count\": 2, \"mem_size_mib\": 256}", err));
	ASSERT_REFUSED(&spec, fc_spec_put_machine_config(&spec, "{\"vcpu_count\": 0, \"mem_size_mib\": 128}", err),
		       "vcpu_count: must be between 1 and 32 (got 0)");
	ASSERT_REFUSED(&spec, fc_spec_put_machine_config(&spec, "{\"vcpu_count\": 33, \"mem_size_mib\": 128}", err),
		       "vcpu_count: must be between 1 and 32 (got 33)");
	ASSERT_REFUSED(&spec, fc_spec_put_machine_config(&spec, "{\"vcpu_count\": 1, \"mem_size_mib\": 1}", err),
		       "mem_size_mib: must be between 2 and 1048576 (got 1)");
	ASSERT_REFUSED(&spec, fc_spec_put_machine_config(&spec, "{\"vcpu_count\": 1, \"mem_size_mib\": \"128\"}", err),
		       "mem_size_mib: expected an integer");
	ASSERT_REFUSED(&spec, fc_spec_put_machine_config(&spec, "{\"vcpu_count\": 1}", err), "mem_size_mib: required");
	ASSERT_REFUSED(&spec, fc_spec_put_machine_config(&spec, "{\"vcpu_count\": 2, \"mem_size_mib\": 128, "
							 "\"smt\": true}", err),
		       "smt: vmon cannot enable SMT: its CPUID shows the guest one thread per core (leaves 0xb/0x1f), "
		       "so there are no sibling threads to give");
	ASSERT_REFUSED(&spec, fc_spec_patch_machine_config(&spec, "{\"cpu_template\": \"T2\"}", err),
		       "cpu_template: vmon has no CPU templates; only \"None\" is accepted (got \"T2\")");
	ASSERT_REFUSED(&spec, fc_spec_patch_machine_config(&spec, "{\"cpu_template\": \"T3\"}", err),
		       "cpu_template: must be one of \"C3\", \"T2\", \"T2S\", \"T2CL\", \"T2A\", \"V1N1\", \"None\" "
		       "(got \"T3\")");
	ASSERT_REFUSED(&spec, fc_spec_patch_machine_config(&spec, "{\"huge_pages\": \"2M\"}", err),
		       "huge_pages: vmon backs guest memory with 4 KiB pages; only \"None\" is accepted (got \"2M\")");
	ASSERT_REFUSED(&spec, fc_spec_patch_machine_config(&spec, "{}", err),
		       "body: nothing to change (give at least one of vcpu_count, mem_size_mib, smt, track_dirty_pages, "
		       "cpu_template, huge_pages)");
	ASSERT_REFUSED(&spec, fc_spec_patch_machine_config(&spec, "{\"vcpu_count\": 4, \"gdb_socket_path\": \"/x\"}",
							   err), "unknown field \"gdb_socket_path\"");
	/* The whole body is checked before anything changes: a good vcpu_count with a bad field is no update. */
	ASSERT_REFUSED(&spec, fc_spec_patch_machine_config(&spec, "{\"vcpu_count\": 4, \"smt\": 1}", err),
		       "smt: expected a boolean");
	assert_int_equal(spec.machine.vcpu_count, 2);
}

static void network_interfaces_map_to_tap_and_user(void **state)
{
	(void)state;
	ASSERT_OK(fc_spec_put_network_interface(&spec, "eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", "
						"\"guest_mac\": \"06:00:AC:10:00:02\"}", err));
	ASSERT_OK(fc_spec_put_network_interface(&spec, "eth1", "{\"iface_id\": \"eth1\", \"host_dev_name\": "
						"\"" FC_SPEC_USER_NET "\"}", err));
	assert_int_equal(spec.nnets, 2);
	assert_string_equal(spec.nets[0].host_dev_name, "tap0");
	assert_true(spec.nets[0].has_mac);
	assert_memory_equal(spec.nets[0].guest_mac, ((uint8_t[]){ 0x06, 0x00, 0xac, 0x10, 0x00, 0x02 }), 6);
	assert_false(spec.nets[1].has_mac);
	/* Replaced in place by id. */
	ASSERT_OK(fc_spec_put_network_interface(&spec, "eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap9\"}",
						err));
	assert_int_equal(spec.nnets, 2);
	assert_string_equal(spec.nets[0].host_dev_name, "tap9");
	assert_false(spec.nets[0].has_mac);
	ASSERT_OK(fc_spec_patch_network_interface(&spec, "eth0", "{\"iface_id\": \"eth0\", \"rx_rate_limiter\": "
						  "{\"bandwidth\": {\"size\": 0, \"refill_time\": 0}}}", err));
}

static void bad_network_interfaces_are_refused(void **state)
{
	(void)state;
	ASSERT_OK(fc_spec_put_network_interface(&spec, "eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", "
						"\"guest_mac\": \"06:00:ac:10:00:02\"}", err));
	ASSERT_REFUSED(&spec, fc_spec_put_network_interface(&spec, "eth1", "{\"iface_id\": \"eth1\", \"host_dev_name\": "
							    "\"tap0\"}", err),
		       "host_dev_name: \"tap0\" is already used by network interface \"eth0\"");
	ASSERT_REFUSED(&spec, fc_spec_put_network_interface(&spec, "eth1", "{\"iface_id\": \"eth1\", \"host_dev_name\": "
							    "\"tap1\", \"guest_mac\": \"06:00:ac:10:00:02\"}", err),
		       "guest_mac: 06:00:ac:10:00:02 is already used by network interface \"eth0\"");
	ASSERT_REFUSED(&spec, fc_spec_put_network_interface(&spec, "eth1", "{\"iface_id\": \"eth1\", \"host_dev_name\": "
							    "\"tap1\", \"guest_mac\": \"01:00:5e:00:00:01\"}", err),
		       "guest_mac: 01:00:5e:00:00:01 is a multicast address; a NIC needs a unicast one (first byte "
		       "even)");
	ASSERT_REFUSED(&spec, fc_spec_put_network_interface(&spec, "eth1", "{\"iface_id\": \"eth1\", \"host_dev_name\": "
							    "\"tap1\", \"guest_mac\": \"06:00:ac:10:00\"}", err),
		       "guest_mac: \"06:00:ac:10:00\" is not a MAC address like 06:00:ac:10:00:02");
	ASSERT_REFUSED(&spec, fc_spec_put_network_interface(&spec, "eth1", "{\"iface_id\": \"eth1\", \"host_dev_name\": "
							    "\"tap1\", \"mtu\": 9000}", err),
		       "mtu: vmon's virtio-net does not offer VIRTIO_NET_F_MTU; leave mtu out (the guest then uses "
		       "1500)");
	ASSERT_REFUSED(&spec, fc_spec_put_network_interface(&spec, "eth1", "{\"iface_id\": \"eth1\", \"host_dev_name\": "
							    "\"tap1\", \"mtu\": 67}", err),
		       "mtu: must be between 68 and 65535 (got 67)");
	ASSERT_REFUSED(&spec, fc_spec_put_network_interface(&spec, "eth1", "{\"iface_id\": \"eth1\", \"host_dev_name\": "
							    "\"a/b\"}", err),
		       "host_dev_name: \"a/b\": an interface name has no '/', ':' or spaces");
	ASSERT_REFUSED(&spec, fc_spec_put_network_interface(&spec, "eth1", "{\"iface_id\": \"eth1\", \"host_dev_name\": "
							    "\"0123456789abcdef\"}", err),
		       "host_dev_name: \"0123456789abcdef\" is not an interface name (1 to 15 bytes), nor \"vmon:user\" "
		       "for vmon's user-mode network");
	ASSERT_REFUSED(&spec, fc_spec_put_network_interface(&spec, "eth1", "{\"iface_id\": \"eth1\"}", err),
		       "host_dev_name: required");
	ASSERT_REFUSED(&spec, fc_spec_put_network_interface(&spec, "eth1", "{\"iface_id\": \"eth1\", \"host_dev_name\": "
							    "\"tap1\", \"tx_rate_limiter\": {\"bandwidth\": {\"size\": 1, "
							    "\"one_time_burst\": 4611686018427387905, \"refill_time\": 1}}}", err),
		       "tx_rate_limiter.bandwidth: one_time_burst exceeds 2^62");
	ASSERT_OK(fc_spec_patch_network_interface(&spec, "eth0", "{\"iface_id\": \"eth0\", \"rx_rate_limiter\": "
						  "{\"ops\": {\"size\": 100, \"refill_time\": 1000}}, "
						  "\"tx_rate_limiter\": {\"bandwidth\": {\"size\": 1000, \"refill_time\": 10}}}", err));
	assert_int_equal(spec.nets[0].rx_rate_limiter.ops.size, 100);
	assert_int_equal(spec.nets[0].tx_rate_limiter.bandwidth.refill_time_ms, 10);
	assert_false(token_bucket_limits(&spec.nets[0].rx_rate_limiter.bandwidth));
	ASSERT_REFUSED(&spec, fc_spec_patch_network_interface(&spec, "eth0", "{\"iface_id\": \"eth0\", "
							      "\"host_dev_name\": \"tap2\"}", err),
		       "unknown field \"host_dev_name\"");
	ASSERT_REFUSED(&spec, fc_spec_patch_network_interface(&spec, "eth5", "{\"iface_id\": \"eth5\"}", err),
		       "iface_id: no network interface \"eth5\" (PUT /network-interfaces/eth5 first)");
	ASSERT_OK(fc_spec_put_network_interface(&spec, "eth1", "{\"iface_id\": \"eth1\", \"host_dev_name\": "
						"\"" FC_SPEC_USER_NET "\"}", err));
	ASSERT_REFUSED(&spec, fc_spec_put_network_interface(&spec, "eth2", "{\"iface_id\": \"eth2\", \"host_dev_name\": "
							    "\"" FC_SPEC_USER_NET "\"}", err),
		       "iface_id: \"eth2\" would be network interface 3; vmon takes at most 2");
}

static void logger_metrics_entropy_serial(void **state)
{
	(void)state;
	ASSERT_OK(fc_spec_put_logger(&spec, "{\"log_path\": \"/tmp/fc.log\", \"level\": \"debug\", \"show_level\": true, "
				     "\"show_log_origin\": true, \"module\": \"api_server\"}", err));
	assert_true(spec.logger.set);
	assert_int_equal(spec.logger.level, FC_LOG_DEBUG);
	assert_string_equal(spec.logger.log_path, "/tmp/fc.log");
	assert_string_equal(spec.logger.module, "api_server");
	ASSERT_REFUSED(&spec, fc_spec_put_logger(&spec, "{\"level\": \"Verbose\"}", err),
		       "level: must be one of \"Error\", \"Warning\", \"Info\", \"Debug\", \"Trace\", \"Off\" (got "
		       "\"Verbose\")");
	ASSERT_OK(fc_spec_put_metrics(&spec, "{\"metrics_path\": \"/tmp/m.fifo\", \"emit_id\": true, \"properties\": "
				      "{\"team\": \"vmon\", \"zone\": \"a\"}}", err));
	assert_string_equal(spec.metrics.metrics_path, "/tmp/m.fifo");
	assert_int_equal(spec.metrics.nproperties, 2);
	assert_string_equal(spec.metrics.property_keys[1], "zone");
	assert_string_equal(spec.metrics.property_values[0], "vmon");
	ASSERT_REFUSED(&spec, fc_spec_put_metrics(&spec, "{\"emit_id\": true}", err), "metrics_path: required");
	ASSERT_REFUSED(&spec, fc_spec_put_metrics(&spec, "{\"metrics_path\": \"/m\", \"properties\": {\"a\": 1}}", err),
		       "properties.a: expected a string");
	ASSERT_OK(fc_spec_put_entropy(&spec, "{}", err));
	assert_true(spec.entropy);
	assert_false(rate_limiter_config_limits(&spec.entropy_rate_limiter));
	ASSERT_OK(fc_spec_put_entropy(&spec, "{\"rate_limiter\": {\"bandwidth\": {\"size\": 1000, "
				"\"refill_time\": 100, \"one_time_burst\": 50}}}", err));
	assert_int_equal(spec.entropy_rate_limiter.bandwidth.size, 1000);
	assert_int_equal(spec.entropy_rate_limiter.bandwidth.one_time_burst, 50);
	assert_int_equal(spec.entropy_rate_limiter.bandwidth.refill_time_ms, 100);
	assert_false(token_bucket_limits(&spec.entropy_rate_limiter.ops));
	/* A PUT replaces the device: the bandwidth bucket it leaves out is gone. */
	ASSERT_OK(fc_spec_put_entropy(&spec, "{\"rate_limiter\": {\"ops\": {\"size\": 10, \"refill_time\": 1000}}}",
				      err));
	assert_false(token_bucket_limits(&spec.entropy_rate_limiter.bandwidth));
	assert_int_equal(spec.entropy_rate_limiter.ops.size, 10);
	/* Bad bodies are refused naming the field, and change nothing. */
	ASSERT_REFUSED(&spec, fc_spec_put_entropy(&spec, "{\"rate_limiter\": {\"ops\": {\"size\": -1, "
				"\"refill_time\": 100}}}", err), "rate_limiter.ops.size: must be at least 0 (got -1)");
	ASSERT_REFUSED(&spec, fc_spec_put_entropy(&spec, "{\"rate_limiter\": {\"ops\": {\"size\": 1, "
				"\"refill_time\": 100, \"burst\": 3}}}", err),
		       "rate_limiter.ops: unknown field \"burst\"");
	ASSERT_REFUSED(&spec, fc_spec_put_entropy(&spec, "{\"rate_limiter\": {\"bandwidth\": {\"size\": "
				"4611686018427387905, \"refill_time\": 100}}}", err),
		       "rate_limiter.bandwidth: size exceeds 2^62");
	assert_int_equal(spec.entropy_rate_limiter.ops.size, 10);
	ASSERT_OK(fc_spec_put_serial(&spec, "{\"serial_out_path\": \"/tmp/serial.out\"}", err));
	assert_string_equal(spec.serial.serial_out_path, "/tmp/serial.out");
	ASSERT_REFUSED(&spec, fc_spec_put_serial(&spec, "{\"rate_limiter\": {\"size\": 10, \"refill_time\": 10}}", err),
		       "rate_limiter: vmon's serial device has no rate limiter (vmon limits virtio-blk, virtio-net and "
		       "virtio-rng); "
		       "only a bucket that does not limit (size or refill_time 0) is accepted");
	ASSERT_REFUSED(&spec, fc_spec_put_serial(&spec, "{\"serial_out_path\": \"\"}", err),
		       "serial_out_path: must not be empty");
}

static void mmds_config_names_known_interfaces(void **state)
{
	(void)state;
	ASSERT_REFUSED(&spec, fc_spec_put_mmds_config(&spec, "{\"network_interfaces\": [\"eth0\"]}", err),
		       "network_interfaces: no network interface \"eth0\" (PUT /network-interfaces/eth0 first)");
	ASSERT_OK(fc_spec_put_network_interface(&spec, "eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}",
						err));
	ASSERT_OK(fc_spec_put_mmds_config(&spec, "{\"network_interfaces\": [\"eth0\"], \"version\": \"V2\", "
					  "\"ipv4_address\": \"169.254.170.2\", \"imds_compat\": true}", err));
	assert_true(spec.mmds.set);
	assert_int_equal(spec.mmds.version, FC_MMDS_V2);
	assert_int_equal(spec.mmds.ipv4_address, 0xa9feaa02);
	assert_string_equal(spec.mmds.iface_ids[0], "eth0");
	ASSERT_REFUSED(&spec, fc_spec_put_mmds_config(&spec, "{\"network_interfaces\": []}", err),
		       "network_interfaces: empty; name at least one network interface");
	ASSERT_REFUSED(&spec, fc_spec_put_mmds_config(&spec, "{\"network_interfaces\": [\"eth0\"], \"ipv4_address\": "
						      "\"169.254.0.1\"}", err),
		       "ipv4_address: \"169.254.0.1\" is not a link-local address from 169.254.1.0 to 169.254.254.255");
	ASSERT_REFUSED(&spec, fc_spec_put_mmds_config(&spec, "{\"network_interfaces\": [\"eth0\"], \"ipv4_address\": "
						      "\"10.0.0.1\"}", err),
		       "ipv4_address: \"10.0.0.1\" is not a link-local address from 169.254.1.0 to 169.254.254.255");
	ASSERT_REFUSED(&spec, fc_spec_put_mmds_config(&spec, "{\"network_interfaces\": [\"eth0\"], \"version\": \"V3\"}",
						      err), "version: must be one of \"V1\", \"V2\" (got \"V3\")");
}

static void vsock_bodies(void **state)
{
	char body[300];

	(void)state;
	ASSERT_OK(fc_spec_put_vsock(&spec, "{\"guest_cid\": 3, \"uds_path\": \"/tmp/v.sock\"}", err));
	assert_true(spec.vsock.set);
	assert_int_equal(spec.vsock.guest_cid, 3);
	assert_string_equal(spec.vsock.uds_path, "/tmp/v.sock");
	assert_null(spec.vsock.vsock_id);
	ASSERT_OK(fc_spec_put_vsock(&spec, "{\"vsock_id\": \"v1\", \"guest_cid\": 4294967294, \"uds_path\": \"/w\"}",
				    err));
	assert_int_equal(spec.vsock.guest_cid, 4294967294u);
	assert_string_equal(spec.vsock.vsock_id, "v1");
	ASSERT_REFUSED(&spec, fc_spec_put_vsock(&spec, "{\"guest_cid\": 4294967295, \"uds_path\": \"/v\"}", err),
		       "guest_cid: 4294967295 is VMADDR_CID_ANY; use 3 .. 4294967294");
	ASSERT_REFUSED(&spec, fc_spec_put_vsock(&spec, "{\"guest_cid\": 3, \"uds_path\": \"\"}", err),
		       "uds_path: must not be empty");
	snprintf(body, sizeof(body), "{\"guest_cid\": 3, \"uds_path\": \"/%0*d\"}", (int)VSOCK_UDS_PATH_MAX, 0);
	ASSERT_REFUSED(&spec, fc_spec_put_vsock(&spec, body, err),
		       "uds_path: longer than 96 bytes (\"<uds_path>_<port>\" must fit a UNIX socket address)");
	ASSERT_REFUSED(&spec, fc_spec_put_vsock(&spec, "{\"guest_cid\": 3}", err), "uds_path: required");
	ASSERT_REFUSED(&spec, fc_spec_put_vsock(&spec, "{\"guest_cid\": 2, \"uds_path\": \"/tmp/v.sock\"}", err),
		       "guest_cid: must be between 3 and 4294967295 (got 2)");
}

static void balloon_bodies(void **state)
{
	(void)state;
	ASSERT_REFUSED(&spec, fc_spec_patch_balloon(&spec, "{\"amount_mib\": 1}", err),
		       "the balloon device is not configured (PUT /balloon before the start)");
	ASSERT_OK(fc_spec_put_balloon(&spec, "{\"amount_mib\": 64, \"deflate_on_oom\": true}", err));
	assert_true(spec.balloon.set);
	assert_int_equal(spec.balloon.amount_mib, 64);
	assert_true(spec.balloon.deflate_on_oom);
	assert_int_equal(spec.balloon.stats_polling_interval_s, 0);
	assert_false(spec.balloon.free_page_reporting);
	ASSERT_REFUSED(&spec, fc_spec_put_balloon(&spec, "{\"amount_mib\": 129, \"deflate_on_oom\": true}", err),
		       "amount_mib: 129 is outside 0 .. the guest's 128 MiB");
	ASSERT_REFUSED(&spec, fc_spec_put_balloon(&spec, "{\"amount_mib\": -1, \"deflate_on_oom\": true}", err),
		       "amount_mib: -1 is outside 0 .. the guest's 128 MiB");
	ASSERT_REFUSED(&spec, fc_spec_put_balloon(&spec, "{\"amount_mib\": 1}", err), "deflate_on_oom: required");
	ASSERT_REFUSED(&spec, fc_spec_put_balloon(&spec, "{\"amount_mib\": 1, \"deflate_on_oom\": true, "
						 "\"stats_polling_interval_s\": 65536}", err),
		       "stats_polling_interval_s: 65536 is outside 0 .. 65535");
	ASSERT_REFUSED(&spec, fc_spec_put_balloon(&spec, "{\"amount_mib\": 1, \"deflate_on_oom\": true, "
						 "\"free_page_hinting\": true}", err),
		       "free_page_hinting: vmon does not implement free page hinting (VIRTIO_BALLOON_F_FREE_PAGE_HINT); "
		       "free_page_reporting gives freed pages back");
	ASSERT_OK(fc_spec_put_balloon(&spec, "{\"amount_mib\": 8, \"deflate_on_oom\": false, \"stats_polling_interval_s\": "
				      "2, \"free_page_reporting\": true, \"free_page_hinting\": false}", err));
	assert_int_equal(spec.balloon.stats_polling_interval_s, 2);
	assert_true(spec.balloon.free_page_reporting);
	ASSERT_OK(fc_spec_patch_balloon(&spec, "{\"amount_mib\": 100}", err));
	assert_int_equal(spec.balloon.amount_mib, 100);
	ASSERT_REFUSED(&spec, fc_spec_patch_balloon(&spec, "{\"amount_mib\": 100, \"deflate_on_oom\": true}", err),
		       "unknown field \"deflate_on_oom\"");
	ASSERT_OK(fc_spec_patch_balloon_stats(&spec, "{\"stats_polling_interval_s\": 9}", err));
	assert_int_equal(spec.balloon.stats_polling_interval_s, 9);
	ASSERT_REFUSED(&spec, fc_spec_patch_balloon_stats(&spec, "{\"stats_polling_interval_s\": 0}", err),
		       "stats_polling_interval_s: statistics were on at the start and cannot be turned off");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, spec_setup, spec_teardown)
	const struct CMUnitTest tests[] = {
		T(defaults_are_firecrackers),
		T(boot_source_is_set_and_replaced),
		T(bad_boot_sources_are_refused),
		T(drives_keep_their_order_with_the_root_first),
		T(a_drive_made_root_moves_first),
		T(bad_drives_are_refused),
		T(drives_are_patched),
		T(machine_config_put_and_patch),
		T(bad_machine_configs_are_refused),
		T(network_interfaces_map_to_tap_and_user),
		T(bad_network_interfaces_are_refused),
		T(logger_metrics_entropy_serial),
		T(mmds_config_names_known_interfaces),
		T(vsock_bodies),
		T(balloon_bodies),
	};
	return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
