/* SPDX-License-Identifier: MIT */
#ifndef VMON_TEST_FC_SPEC_FIXTURE_H
#define VMON_TEST_FC_SPEC_FIXTURE_H

/*
 * Files the resources point at (a kernel, an initrd, disk images, all empty:
 * fc_spec only opens them) in a fresh temporary directory, and a check that a
 * refused request leaves the whole spec as it was (its GET /vm/config body).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/fc_spec.h"

static char fixture_dir[64];

/* Path of a file in the fixture directory (a static buffer per call site's index). */
static const char *fx(const char *name)
{
	static char paths[8][128];
	static unsigned next;
	char *p = paths[next++ % 8];

	snprintf(p, 128, "%s/%s", fixture_dir, name);
	return p;
}

static int fixture_setup(void **state)
{
	static const char *const files[] = { "vmlinux", "initrd", "rootfs.ext4", "data.img", "d2", "d3", "d4", "d5", "d6" };
	(void)state;
	strcpy(fixture_dir, "/tmp/vmon-fc-spec-XXXXXX");
	if (!mkdtemp(fixture_dir))
		return -1;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int fd = open(fx(files[i]), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return -1;
		close(fd);
	}
	return 0;
}

static int fixture_teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -r '%s'", fixture_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A body with %s replaced by fixture paths, malloc'd into a ring the tests never free twice. */
static const char *body(const char *fmt, ...)
{
	static char bufs[4][2048];
	static unsigned next;
	char *b = bufs[next++ % 4];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b, 2048, fmt, ap);
	va_end(ap);
	return b;
}

/* The call must fail with -EINVAL, say exactly msg, and leave s as it was. */
#define ASSERT_REFUSED(s, call, expected)                                                         \
	do {                                                                                 \
		struct vmon_error err_ = { 0 };                                              \
		char *before_ = fc_spec_vm_config_json(s);                                   \
		struct vmon_error *err = &err_;                                              \
		int ret_ = (call);                                                           \
		char *after_ = fc_spec_vm_config_json(s);                                    \
		if (ret_ != -EINVAL)                                                         \
			fail_msg("%s: returned %d (%s)", #call, ret_, err_.msg);             \
		if (strcmp(err_.msg, (expected)))                                                 \
			fail_msg("%s: said '%s', expected '%s'", #call, err_.msg, (expected));    \
		assert_string_equal(before_, after_);                                        \
		free(before_);                                                               \
		free(after_);                                                                \
	} while (0)

#define ASSERT_OK(call)                                                                      \
	do {                                                                                 \
		struct vmon_error err_ = { 0 };                                              \
		struct vmon_error *err = &err_;                                              \
		int ret_ = (call);                                                           \
		if (ret_)                                                                    \
			fail_msg("%s: returned %d (%s)", #call, ret_, err_.msg);             \
	} while (0)

#endif
