/* SPDX-License-Identifier: MIT */
#ifndef VMON_JAIL_H
#define VMON_JAIL_H

#include "jailer/jail_args.h"

/* Builds the jail and execs the exec file in it. Returns only on failure (or
 * in the parent of a --new-pid-ns child, with 0): the exit status, err set. */
int jail_run(const struct jail_args *args, struct vmon_error *err);

#endif
