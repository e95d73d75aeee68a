/* SPDX-License-Identifier: MIT */
#ifndef VMON_JAIL_CGROUP_H
#define VMON_JAIL_CGROUP_H

/*
 * The jail's cgroups: <mount>/<parent-cgroup>/<id>/ in every hierarchy a
 * --cgroup setting names (v1: one per controller's mount; v2: the cgroup2
 * mount), the values written, then the jailer joins it (its children follow).
 */
#include <stddef.h>

#include "base/error.h"
#include "jailer/jail_args.h"

/* Finds in mountinfo (the text of /proc/self/mountinfo) the mount point of
 * the v1 hierarchy holding controller, or (version 2) the cgroup2 mount.
 * 0 with out filled (unescaped), or -ENOENT / -ENAMETOOLONG with err set. */
int jail_cgroup_find_mount(const char *mountinfo, int version, const char *controller, char *out, size_t out_len,
			   struct vmon_error *err);

/* Creates, sets and joins the jail's cgroups (nothing when none is asked). */
int jail_cgroup_setup(const struct jail_args *args, struct vmon_error *err);

#endif
