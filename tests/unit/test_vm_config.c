/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "vmm/config.h"

/* A config that passes: defaults plus a kernel. */
static void valid(struct vm_config *cfg)
{
	vm_config_init(cfg);
	cfg->kernel_path = "vmlinux";
}

static void expect_bad(const struct vm_config *cfg, const char *want_field, const char *want_msg)
{
	struct vmon_error err = { 0 };
	const char *field = NULL;

	assert_true(vm_config_check(cfg, &field, &err) < 0);
	assert_non_null(field);
	assert_string_equal(field, want_field);
	/* The message starts with the field it names. */
	assert_memory_equal(err.msg, want_field, strlen(want_field));
	if (!strstr(err.msg, want_msg))
		fail_msg("message '%s' lacks '%s'", err.msg, want_msg);
}

static void defaults_with_a_kernel_pass(void **state)
{
	struct vm_config cfg;
	struct vmon_error err = { 0 };
	(void)state;

	valid(&cfg);
	assert_int_equal(vm_config_check(&cfg, NULL, &err), 0);
	assert_int_equal(cfg.mem_size, VM_CONFIG_DEFAULT_MEM);
	assert_int_equal(cfg.ncpus, 1);
	assert_string_equal(cfg.cmdline, "");
	assert_true(cfg.linux_device_args);
}

static void each_bad_field_is_named(void **state)
{
	struct vm_config cfg;
	(void)state;

	vm_config_init(&cfg);
	expect_bad(&cfg, "kernel_path", "required");

	valid(&cfg);
	cfg.mem_size = 1 << 20;
	expect_bad(&cfg, "mem_size", "must be between");
	cfg.mem_size = (64 << 20) + 512;
	expect_bad(&cfg, "mem_size", "not a multiple of 4 KiB");

	valid(&cfg);
	cfg.ncpus = 0;
	expect_bad(&cfg, "ncpus", "at least 1");
	cfg.ncpus = VM_CONFIG_MAX_CPUS + 1;
	expect_bad(&cfg, "ncpus", "at most 254 vCPUs");

	static char longline[0x10001];
	memset(longline, 'x', sizeof(longline) - 1);
	valid(&cfg);
	cfg.cmdline = longline;
	expect_bad(&cfg, "cmdline", "65536 bytes");

	valid(&cfg);
	cfg.protocol = (enum boot_protocol)42;
	expect_bad(&cfg, "protocol", "42");
	valid(&cfg);
	cfg.host_profile = (enum host_profile_mode)7;
	expect_bad(&cfg, "host_profile", "7");

	valid(&cfg);
	cfg.ndrives = 1;
	expect_bad(&cfg, "drives", "drives[0] has no path");
	cfg.drives[0].path = "disk.img";
	cfg.drives[0].id = "this-serial-is-longer-than-20";
	expect_bad(&cfg, "drives", "1 to 20 characters");
	cfg.ndrives = VM_CONFIG_MAX_DRIVES + 1;
	expect_bad(&cfg, "drives", "at most");

	valid(&cfg);
	cfg.nnets = 1;
	cfg.nets[0].mac[0] = 0x01;
	expect_bad(&cfg, "nets", "multicast");
	cfg.nets[0].mac[0] = 0x52;
	cfg.nets[0].nhostfwd = NET_MAX_HOSTFWD + 1;
	expect_bad(&cfg, "nets", "hostfwd");

	static char longpath[200];
	memset(longpath, 'p', sizeof(longpath) - 1);
	valid(&cfg);
	cfg.vconsole_socket = longpath;
	expect_bad(&cfg, "vconsole_socket", "longer than");
}

static void too_many_virtio_devices_are_refused(void **state)
{
	struct vm_config cfg;
	struct vmon_error err = { 0 };
	(void)state;

	/* virtio-mmio: one interrupt line each, 8 lines. */
	valid(&cfg);
	cfg.virtio_transport = VIRTIO_TRANSPORT_MMIO;
	cfg.ndrives = 6;
	for (unsigned i = 0; i < VM_CONFIG_MAX_DRIVES; i++)
		cfg.drives[i].path = "d.img";
	cfg.nnets = 1;
	cfg.nets[0].mac[0] = 0x52;
	cfg.rng = true;
	assert_int_equal(vm_config_check(&cfg, NULL, &err), 0);   /* 8: fits */
	cfg.vconsole_socket = "/tmp/c.sock";
	expect_bad(&cfg, "drives", "put 9 devices on virtio-mmio; its interrupt lines fit 8");
	/* The same with one drive on PCI: 8 on virtio-mmio again. */
	cfg.drive_transport[5] = VIRTIO_TRANSPORT_PCI;
	assert_int_equal(vm_config_check(&cfg, NULL, &err), 0);
	/* virtio-pci: MSI-X needs no lines; 16 devices in all (Kata's root drive and 8 placeholders fit). */
	cfg.virtio_transport = VIRTIO_TRANSPORT_PCI;
	cfg.drive_transport[5] = VIRTIO_TRANSPORT_DEFAULT;
	cfg.ndrives = VM_CONFIG_MAX_DRIVES;
	cfg.nnets = 2;
	cfg.nets[1].mac[0] = 0x52;
	cfg.nets[1].mac[5] = 1;
	assert_int_equal(vm_config_check(&cfg, NULL, &err), 0);   /* 12 + 2 + 2 = 16: fits */
	cfg.balloon.enabled = true;
	expect_bad(&cfg, "drives", "make 17 virtio devices; at most 16 fit");
	/* A drive asking for virtio-mmio on a PCI machine counts against the lines. */
	cfg.balloon.enabled = false;
	for (unsigned i = 0; i < 9; i++)
		cfg.drive_transport[i] = VIRTIO_TRANSPORT_MMIO;
	expect_bad(&cfg, "drives", "put 9 devices on virtio-mmio");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_with_a_kernel_pass),
		cmocka_unit_test(each_bad_field_is_named),
		cmocka_unit_test(too_many_virtio_devices_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
