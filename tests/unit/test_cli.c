/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#define ARGV(...) ((char *[]){ "vmon", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "vmon", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(cfg, err, ...) cli_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), cfg, devnull, err)

static FILE *devnull;

static void sizes_accept_suffixes(void **state)
{
	uint64_t b;
	(void)state;
	assert_int_equal(parse_size("128M", &b), 0);
	assert_int_equal(b, 128ull << 20);
	assert_int_equal(parse_size("1G", &b), 0);
	assert_int_equal(b, 1ull << 30);
	assert_int_equal(parse_size("512k", &b), 0);
	assert_int_equal(b, 512ull << 10);
	assert_int_equal(parse_size("2GiB", &b), 0);
	assert_int_equal(b, 2ull << 30);
	assert_int_equal(parse_size("64MB", &b), 0);
	assert_int_equal(b, 64ull << 20);
	assert_int_equal(parse_size("256", &b), 0); /* bare number is MiB, as QEMU's -m */
	assert_int_equal(b, 256ull << 20);
	assert_int_equal(parse_size("1T", &b), 0);
	assert_int_equal(b, 1ull << 40);
}

static void sizes_reject_garbage_and_overflow(void **state)
{
	uint64_t b;
	(void)state;
	assert_int_equal(parse_size("", &b), -EINVAL);
	assert_int_equal(parse_size("M", &b), -EINVAL);
	assert_int_equal(parse_size("-1G", &b), -EINVAL);
	assert_int_equal(parse_size("12X", &b), -EINVAL);
	assert_int_equal(parse_size("1Gx", &b), -EINVAL);
	assert_int_equal(parse_size(" 1G", &b), -EINVAL);
	assert_int_equal(parse_size("99999999999999999999", &b), -ERANGE);
	assert_int_equal(parse_size("17179869184G", &b), -ERANGE);
}

static void run_with_all_options(void **state)
{
	struct vm_config cfg;
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(PARSE(&cfg, &err, "run", "--kernel", "k.elf", "--initrd", "i.cpio", "--cmdline",
			       "console=ttyS0", "--mem", "64M", "--cpus", "1", "--stats", "--boot-protocol", "pvh",
			       "--initrd-guest-decompress"),
			 CLI_RUN);
	assert_string_equal(cfg.kernel_path, "k.elf");
	assert_string_equal(cfg.initrd_path, "i.cpio");
	assert_string_equal(cfg.cmdline, "console=ttyS0");
	assert_int_equal(cfg.mem_size, 64ull << 20);
	assert_int_equal(cfg.ncpus, 1);
	assert_true(cfg.stats);
	assert_int_equal(cfg.protocol, BOOT_PROTOCOL_PVH);
	assert_true(cfg.initrd_guest_decompress);
}

static void run_defaults(void **state)
{
	struct vm_config cfg;
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(PARSE(&cfg, &err, "run", "-k", "k"), CLI_RUN);
	assert_null(cfg.initrd_path);
	assert_string_equal(cfg.cmdline, "");
	assert_int_equal(cfg.mem_size, VM_CONFIG_DEFAULT_MEM);
	assert_int_equal(cfg.ncpus, 1);
	assert_false(cfg.stats);
	assert_int_equal(cfg.protocol, BOOT_PROTOCOL_AUTO);
	assert_false(cfg.bzimage_guest_decompress);
	assert_false(cfg.initrd_guest_decompress);
	assert_true(cfg.linux_device_args);
	assert_int_equal(cfg.host_profile, HOST_PROFILE_AUTO);
	assert_int_equal(PARSE(&cfg, &err, "run", "-k", "k", "--no-linux-device-args", "--host-profile", "none"),
			 CLI_RUN);
	assert_false(cfg.linux_device_args);
	assert_int_equal(cfg.host_profile, HOST_PROFILE_NONE);
}

static void help_and_version_are_done(void **state)
{
	struct vm_config cfg;
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(PARSE(&cfg, &err, "--help"), CLI_DONE);
	assert_int_equal(PARSE(&cfg, &err, "--version"), CLI_DONE);
	assert_int_equal(PARSE(&cfg, &err, "run", "--help"), CLI_DONE);
}

static void host_profile_command_takes_an_optional_mode(void **state)
{
	struct vm_config cfg;
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(PARSE(&cfg, &err, "host-profile"), CLI_HOST_PROFILE);
	assert_int_equal(cfg.host_profile, HOST_PROFILE_AUTO);
	assert_int_equal(PARSE(&cfg, &err, "host-profile", "pvm"), CLI_HOST_PROFILE);
	assert_int_equal(cfg.host_profile, HOST_PROFILE_PVM);
	assert_int_equal(PARSE(&cfg, &err, "host-profile", "none"), CLI_HOST_PROFILE);
	assert_int_equal(cfg.host_profile, HOST_PROFILE_NONE);
	assert_int_equal(PARSE(&cfg, &err, "host-profile", "vtx"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "'vtx': expected auto, none or pvm"));
	assert_int_equal(PARSE(&cfg, &err, "host-profile", "pvm", "extra"), CLI_ERROR);
	assert_non_null(strstr(err.msg, "at most one argument"));
}

#define EXPECT_ERROR(substr, ...)                                                  \
	do {                                                                       \
		struct vm_config cfg;                                              \
		struct vmon_error err = { 0 };                                     \
		assert_int_equal(PARSE(&cfg, &err, __VA_ARGS__), CLI_ERROR);       \
		if (!strstr(err.msg, substr))                                      \
			fail_msg("message \"%s\" lacks \"%s\"", err.msg, substr);  \
	} while (0)

static void bad_arguments_name_the_problem(void **state)
{
	(void)state;
	EXPECT_ERROR("unknown command 'start'", "start");
	EXPECT_ERROR("--kernel: kernel_path is required", "run");
	EXPECT_ERROR("--mem 'lots'", "run", "-k", "k", "--mem", "lots");
	EXPECT_ERROR("between", "run", "-k", "k", "--mem", "1K");
	EXPECT_ERROR("too large", "run", "-k", "k", "--mem", "99999999999999999999G");
	EXPECT_ERROR("--cpus 'zero'", "run", "-k", "k", "--cpus", "zero");
	EXPECT_ERROR("--cpus '0'", "run", "-k", "k", "--cpus", "0");
	EXPECT_ERROR("--cpus: ncpus 255: at most 254 vCPUs", "run", "-k", "k", "--cpus", "255");
	EXPECT_ERROR("--cpus '100000': not a number from 1 to 254", "run", "-k", "k", "--cpus", "100000");
	EXPECT_ERROR("unknown option '--frobnicate'", "run", "-k", "k", "--frobnicate");
	EXPECT_ERROR("needs a value", "run", "-k");
	EXPECT_ERROR("--boot-protocol 'efi'", "run", "-k", "k", "--boot-protocol", "efi");
	EXPECT_ERROR("unexpected argument 'extra'", "run", "-k", "k", "extra");
}

static void parser_can_be_called_repeatedly(void **state)
{
	struct vm_config cfg;
	struct vmon_error err = { 0 };
	(void)state;
	/* getopt state is global; a second parse must start from scratch. */
	assert_int_equal(PARSE(&cfg, &err, "run", "-k", "a", "--stats"), CLI_RUN);
	assert_int_equal(PARSE(&cfg, &err, "run", "-k", "b"), CLI_RUN);
	assert_string_equal(cfg.kernel_path, "b");
	assert_false(cfg.stats);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sizes_accept_suffixes),
		cmocka_unit_test(sizes_reject_garbage_and_overflow),
		cmocka_unit_test(run_with_all_options),
		cmocka_unit_test(run_defaults),
		cmocka_unit_test(help_and_version_are_done),
		cmocka_unit_test(host_profile_command_takes_an_optional_mode),
		cmocka_unit_test(bad_arguments_name_the_problem),
		cmocka_unit_test(parser_can_be_called_repeatedly),
	};
	int r;

	devnull = fopen("/dev/null", "w");
	r = cmocka_run_group_tests(tests, NULL, NULL);
	fclose(devnull);
	return r;
}
