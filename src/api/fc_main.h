/* SPDX-License-Identifier: MIT */
#ifndef VMON_API_FC_MAIN_H
#define VMON_API_FC_MAIN_H

#include <time.h>

/*
 * vmon started the way Firecracker is (`vmon --api-sock PATH ...`, see
 * cli/fc_args.h): serves the API and/or boots the config file's VM; returns
 * the process exit status.
 */
int fc_main(int argc, char **argv, const struct timespec *start);

/* `vmon restore ...` (argv[0] is "restore"): the same process, started from a snapshot. */
int fc_main_restore(int argc, char **argv, const struct timespec *start);

/* `vmon receive ...` (argv[0] is "receive"): take in a live migration (docs/MIGRATION.md). */
int fc_main_receive(int argc, char **argv, const struct timespec *start);

#endif
