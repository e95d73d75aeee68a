/* SPDX-License-Identifier: MIT */
#ifndef VMON_TEST_DEVICE_STATE_CHECK_H
#define VMON_TEST_DEVICE_STATE_CHECK_H

#include "devices/device.h"

/*
 * Restoring `damaged` (ops->state_size bytes) into dev must fail with -EINVAL
 * and an error that contains `why`, and leave dev's saved state as it was.
 */
void expect_restore_refused(const struct device_ops *ops, void *dev, const void *damaged, const char *why);

#endif
