/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "device_state_check.h"

void expect_restore_refused(const struct device_ops *ops, void *dev, const void *damaged, const char *why)
{
	/* Zeroed: padding compares equal whatever save() leaves alone. */
	uint8_t *before = calloc(2, ops->state_size), *after = before + ops->state_size;
	struct vmon_error err = { 0 };

	assert_non_null(before);
	ops->save(dev, before);
	assert_int_equal(ops->restore(dev, damaged, &err), -EINVAL);
	if (!strstr(err.msg, why))
		fail_msg("error '%s' lacks '%s'", err.msg, why);
	ops->save(dev, after);
	assert_memory_equal(before, after, ops->state_size);
	free(before);
}
