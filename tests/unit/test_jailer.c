/* SPDX-License-Identifier: MIT */
/* vmon-jailer's pure parts: its command line, the cgroup settings and mount
 * look-up, and the check that refuses a dynamically linked exec file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "elf_builder.h"
#include "jailer/elf_check.h"
#include "jailer/jail_args.h"
#include "jailer/jail_cgroup.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

static void a_full_command_line_parses(void **state)
{
	(void)state;
	char *argv[] = { "vmon-jailer", "--id", "vm-1", "--exec-file", "/usr/bin/vmon", "--uid", "123", "--gid",
			 "100", "--chroot-base-dir", "/var/jail", "--netns", "/var/run/netns/n1", "--cgroup-version",
			 "2", "--cgroup", "pids.max=64", "--cgroup", "cgroup.max.descendants=0", "--cgroup", "hugetlb.2MB.max=0", "--parent-cgroup",
			 "vms/a", "--resource-limit", "fsize=1048576", "--resource-limit", "no-file=64",
			 "--daemonize", "--new-pid-ns", "--", "--api-sock", "/api.sock", NULL };
	struct jail_args a;
	struct vmon_error err = { 0 };
	assert_int_equal(jail_args_parse(ARGC(argv), argv, &a, &err), 0);
	assert_string_equal(a.id, "vm-1");
	assert_string_equal(a.exec_name, "vmon");
	assert_int_equal(a.uid, 123);
	assert_int_equal(a.gid, 100);
	assert_string_equal(a.chroot_base, "/var/jail");
	assert_string_equal(a.netns, "/var/run/netns/n1");
	assert_int_equal(a.cgroup_version, 2);
	assert_int_equal(a.n_cgroups, 3);
	assert_int_equal(a.cgroups[2].key_len, strlen("hugetlb.2MB.max"));
	assert_int_equal(a.cgroups[0].key_len, strlen("pids.max"));
	assert_string_equal(a.cgroups[0].value, "64");
	assert_string_equal(a.cgroups[1].value, "0");
	assert_string_equal(a.parent_cgroup, "vms/a");
	assert_true(a.rlimit_set[JAIL_RLIMIT_FSIZE]);
	assert_int_equal(a.rlimit[JAIL_RLIMIT_FSIZE], 1048576);
	assert_int_equal(a.rlimit[JAIL_RLIMIT_NO_FILE], 64);
	assert_true(a.daemonize && a.new_pid_ns);
	assert_int_equal(a.exec_argc, 2);
	assert_string_equal(a.exec_argv[0], "--api-sock");
	assert_null(a.exec_argv[2]);
}

static void defaults_are_firecrackers(void **state)
{
	(void)state;
	char *argv[] = { "vmon-jailer", "--id", "a", "--exec-file", "vmon-static", "--uid", "0", "--gid", "0", NULL };
	struct jail_args a;
	struct vmon_error err = { 0 };
	assert_int_equal(jail_args_parse(ARGC(argv), argv, &a, &err), 0);
	assert_string_equal(a.chroot_base, "/srv/jailer");
	assert_int_equal(a.cgroup_version, 1);
	assert_string_equal(a.parent_cgroup, "vmon-static");
	assert_false(a.rlimit_set[JAIL_RLIMIT_FSIZE]);
	assert_true(a.rlimit_set[JAIL_RLIMIT_NO_FILE]);
	assert_int_equal(a.rlimit[JAIL_RLIMIT_NO_FILE], 2048);
	assert_false(a.daemonize || a.new_pid_ns);
	assert_int_equal(a.exec_argc, 0);
	assert_null(a.exec_argv[0]);
}

/* Every bad argument is refused with the usage status and a message naming it. */
static void bad_arguments_are_named(void **state)
{
	(void)state;
	static const struct {
		const char *extra[4];
		const char *named;
	} cases[] = {
		{ { "--id", "bad_id" }, "--id 'bad_id'" },
		{ { "--id", "0123456789012345678901234567890123456789012345678901234567890123x" }, "--id" },
		{ { "--uid", "-1" }, "--uid '-1'" },
		{ { "--uid", "4294967295" }, "--uid '4294967295'" },
		{ { "--gid", "12a" }, "--gid '12a'" },
		{ { "--chroot-base-dir", "relative" }, "--chroot-base-dir 'relative'" },
		{ { "--chroot-base-dir", "/srv/../etc" }, "--chroot-base-dir '/srv/../etc'" },
		{ { "--chroot-base-dir", "/srv/.." }, "--chroot-base-dir '/srv/..'" },
		{ { "--chroot-base-dir", "/.." }, "--chroot-base-dir '/..'" },
		{ { "--chroot-base-dir", "" }, "--chroot-base-dir ''" },
		{ { "--cgroup-version", "3" }, "--cgroup-version '3'" },
		{ { "--cgroup", "pids.max" }, "--cgroup 'pids.max'" },
		{ { "--cgroup", "pids=5" }, "--cgroup 'pids=5'" },
		{ { "--cgroup", "../x.max=5" }, "--cgroup '../x.max=5'" },
		{ { "--cgroup", "pids.max=" }, "--cgroup 'pids.max='" },
		{ { "--cgroup", "pids/max.x=1" }, "--cgroup 'pids/max.x=1'" },
		{ { "--cgroup", "pids.max=1\n2" }, "on one line" },
		{ { "--cgroup", "cgroup.procs=1" }, "cgroup.procs is set by the jailer" },
		{ { "--cgroup", "cgroup.max.descendants=1" }, "cgroup v2's" },
		{ { "--cgroup", "pids.max=1", "--cgroup", "pids.max=2" }, "pids.max is given twice" },
		{ { "--parent-cgroup", "../up" }, "--parent-cgroup '../up'" },
		{ { "--parent-cgroup", "/abs" }, "--parent-cgroup '/abs'" },
		{ { "--resource-limit", "nproc=5" }, "--resource-limit 'nproc=5'" },
		{ { "--resource-limit", "fsize=x" }, "--resource-limit 'fsize=x'" },
		{ { "--resource-limit", "fsize=1", "--resource-limit", "fsize=2" }, "fsize is given twice" },
		{ { "--netns", "" }, "--netns" },
		{ { "--bogus" }, "--bogus: unknown argument" },
		{ { "stray" }, "'stray': arguments for the exec file go after '--'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[16] = { "vmon-jailer", "--exec-file", "/bin/vmon", "--uid", "1", "--gid", "1", "--id",
				   "ok" };
		int argc = 9;
		for (int k = 0; k < 4 && cases[i].extra[k]; k++)
			argv[argc++] = (char *)cases[i].extra[k];
		argv[argc] = NULL;
		struct jail_args a;
		struct vmon_error err = { 0 };
		assert_int_equal(jail_args_parse(argc, argv, &a, &err), JAIL_EXIT_USAGE);
		if (!strstr(err.msg, cases[i].named))
			fail_msg("case %zu: '%s' does not name '%s'", i, err.msg, cases[i].named);
	}
	static const char *const required[] = { "--id", "--exec-file", "--uid", "--gid" };
	for (size_t r = 0; r < 4; r++) {
		char *full[] = { "--id", "x", "--exec-file", "/bin/vmon", "--uid", "1", "--gid", "1" };
		char *argv[12] = { "vmon-jailer" };
		int argc = 1;
		for (size_t k = 0; k < 8; k += 2)
			if (strcmp(full[k], required[r])) {
				argv[argc++] = full[k];
				argv[argc++] = full[k + 1];
			}
		argv[argc] = NULL;
		struct jail_args a;
		struct vmon_error err = { 0 };
		assert_int_equal(jail_args_parse(argc, argv, &a, &err), JAIL_EXIT_USAGE);
		assert_non_null(strstr(err.msg, required[r]));
		assert_non_null(strstr(err.msg, "is required"));
	}
}

static void ids_and_cgroup_paths(void **state)
{
	(void)state;
	assert_true(jail_id_valid("551e7604-e35c-42b3-b825-416853441234"));
	assert_false(jail_id_valid(""));
	assert_false(jail_id_valid("a.b"));
	assert_false(jail_id_valid("a/b"));
	char id[66];
	memset(id, 'a', 64);
	id[64] = '\0';
	assert_true(jail_id_valid(id));
	id[64] = 'a';
	id[65] = '\0';
	assert_false(jail_id_valid(id));
	assert_true(jail_cgroup_path_valid("vmon"));
	assert_true(jail_cgroup_path_valid("a/b.c/d_e-f"));
	assert_false(jail_cgroup_path_valid(""));
	assert_false(jail_cgroup_path_valid("a//b"));
	assert_false(jail_cgroup_path_valid("a/"));
	assert_false(jail_cgroup_path_valid("a/./b"));
	assert_false(jail_cgroup_path_valid("a/../b"));
	assert_false(jail_cgroup_path_valid("a b"));
}

static const char mountinfo[] =
	"22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
	"30 22 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs ro,mode=755\n"
	"31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
	"32 30 0:28 / /sys/fs/cgroup/pids rw shared:10 - cgroup cgroup rw,pids\n"
	"33 30 0:29 /sub /mnt/cpuset-bind rw - cgroup cgroup rw,cpuset\n"
	"34 30 0:29 / /sys/fs/cgroup/cpu\\040set rw - cgroup cgroup rw,cpuset\n"
	"35 22 0:30 / /tmp/cg2 rw - cgroup2 cgroup2 rw,nsdelegate\n";

static void cgroup_mounts_are_found(void **state)
{
	(void)state;
	char out[256];
	struct vmon_error err = { 0 };
	assert_int_equal(jail_cgroup_find_mount(mountinfo, 1, "cpuacct", out, sizeof(out), &err), 0);
	assert_string_equal(out, "/sys/fs/cgroup/cpu,cpuacct");
	assert_int_equal(jail_cgroup_find_mount(mountinfo, 1, "cpu", out, sizeof(out), &err), 0);
	assert_string_equal(out, "/sys/fs/cgroup/cpu,cpuacct");
	assert_int_equal(jail_cgroup_find_mount(mountinfo, 1, "pids", out, sizeof(out), &err), 0);
	assert_string_equal(out, "/sys/fs/cgroup/pids");
	/* A bind of a sub-cgroup is skipped for the hierarchy's root; escapes are undone. */
	assert_int_equal(jail_cgroup_find_mount(mountinfo, 1, "cpuset", out, sizeof(out), &err), 0);
	assert_string_equal(out, "/sys/fs/cgroup/cpu set");
	assert_int_equal(jail_cgroup_find_mount(mountinfo, 2, "pids", out, sizeof(out), &err), 0);
	assert_string_equal(out, "/tmp/cg2");
	/* "pid" is not "pids": whole names only. */
	assert_int_equal(jail_cgroup_find_mount(mountinfo, 1, "pid", out, sizeof(out), &err), -ENOENT);
	assert_non_null(strstr(err.msg, "'pid' controller"));
	assert_int_equal(jail_cgroup_find_mount(mountinfo, 1, "memory", out, sizeof(out), &err), -ENOENT);
	assert_int_equal(jail_cgroup_find_mount("22 1 254:0 / / rw - ext4 /dev/vda rw\n", 2, "x", out, sizeof(out),
						&err), -ENOENT);
	assert_non_null(strstr(err.msg, "cgroup2"));
	assert_int_equal(jail_cgroup_find_mount(mountinfo, 1, "pids", out, 8, &err), -ENAMETOOLONG);
}

static size_t build_elf(uint8_t *buf, size_t cap, bool with_interp)
{
	static const char interp[] = "/lib64/ld-linux-x86-64.so.2";
	struct elf_builder_segment seg[2] = {
		{ .type = PT_LOAD, .paddr = 0x400000, .vaddr = 0x400000, .filesz = 16, .memsz = 16, .fill = 0x90 },
		{ .type = PT_INTERP, .filesz = sizeof(interp), .memsz = sizeof(interp), .data = interp },
	};
	return elf_builder_build(buf, cap, true, 0x400000, seg, with_interp ? 2 : 1);
}

static void only_static_executables_pass(void **state)
{
	(void)state;
	uint8_t buf[4096];
	struct vmon_error err = { 0 };
	size_t len = build_elf(buf, sizeof(buf), false);
	assert_int_equal(elf_check_static(buf, len, &err), 0);
	len = build_elf(buf, sizeof(buf), true);
	assert_int_equal(elf_check_static(buf, len, &err), -ENOEXEC);
	assert_non_null(strstr(err.msg, "dynamically linked"));
	assert_non_null(strstr(err.msg, "PT_INTERP"));

	assert_int_equal(elf_check_static((const uint8_t *)"#!/bin/sh\n", 10, &err), -ENOEXEC);
	assert_non_null(strstr(err.msg, "not an ELF"));
	len = build_elf(buf, sizeof(buf), false);
	assert_int_equal(elf_check_static(buf, 40, &err), -ENOEXEC);
	/* The program headers cut off by the file's end. */
	assert_int_equal(elf_check_static(buf, sizeof(Elf64_Ehdr) + 8, &err), -ENOEXEC);
	assert_non_null(strstr(err.msg, "past the file's end"));
	elf_builder_ehdr64(buf)->e_phoff = UINT64_MAX - 8;
	assert_int_equal(elf_check_static(buf, len, &err), -ENOEXEC);
	build_elf(buf, sizeof(buf), false);
	elf_builder_ehdr64(buf)->e_type = ET_REL;
	assert_int_equal(elf_check_static(buf, len, &err), -ENOEXEC);
	assert_non_null(strstr(err.msg, "not an executable"));
	build_elf(buf, sizeof(buf), false);
	elf_builder_ehdr64(buf)->e_machine = EM_AARCH64;
	assert_int_equal(elf_check_static(buf, len, &err), -ENOEXEC);
	build_elf(buf, sizeof(buf), false);
	elf_builder_ehdr64(buf)->e_phnum = 0;
	assert_int_equal(elf_check_static(buf, len, &err), -ENOEXEC);

	assert_int_equal(elf_check_static_file("/nonexistent/vmon", &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/vmon"));
	assert_int_equal(elf_check_static_file("/", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a regular file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_full_command_line_parses),
		cmocka_unit_test(defaults_are_firecrackers),
		cmocka_unit_test(bad_arguments_are_named),
		cmocka_unit_test(ids_and_cgroup_paths),
		cmocka_unit_test(cgroup_mounts_are_found),
		cmocka_unit_test(only_static_executables_pass),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
