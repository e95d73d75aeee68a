/* SPDX-License-Identifier: MIT */
#ifndef VMON_CLI_FC_ARGS_H
#define VMON_CLI_FC_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/error.h"
#include "cli/cli.h"

/*
 * Firecracker's process flags, as orchestrators start it (firecracker-go-sdk,
 * Kata's fc driver, flintlock): `vmon --api-sock PATH [--id ID]
 * [--config-file FILE] ...`. The VM itself is described through the API or
 * the config file (src/api/), not here.
 */
#define FC_DEFAULT_API_SOCK "/run/firecracker.socket"
#define FC_DEFAULT_ID "anonymous-instance"
#define FC_ID_MAX 64

struct fc_args {
	const char *api_sock;         /* NULL with --no-api */
	const char *config_file;      /* NULL: wait for InstanceStart on the API */
	const char *id;
	const char *metadata_path;    /* --metadata FILE: the MMDS content at start */
	const char *log_path;         /* --log-path */
	const char *level;            /* --level */
	bool show_level, show_log_origin;
	const char *metrics_path;     /* --metrics-path */
	bool boot_timer;              /* --boot-timer: log the time to the guest's boot-done write */
	const char *seccomp_filter;   /* --seccomp-filter FILE: refused (custom BPF is not supported) */
	bool no_seccomp;              /* --no-seccomp: level 0 */
	int seccomp_level;            /* enum seccomp_level: --seccomp-level, default 2 (filtered) */
	bool seccomp_level_given;
	bool enable_pci;              /* --enable-pci: virtio devices on PCI (Firecracker >= 1.13) */
	size_t max_payload;           /* --http-api-max-payload-size, bytes */
	size_t mmds_size_limit;       /* --mmds-size-limit, bytes */
	/* `vmon restore`: the snapshot to start from instead of a boot. */
	const char *restore_snapshot; /* --snapshot FILE */
	const char *restore_mem;      /* --mem FILE */
	bool restore_paused;          /* --paused: leave the restored VM paused (resume through the API) */
	/* `vmon receive`: the live migration to take in instead of a boot. */
	const char *receive_listen;   /* --listen ADDR */
	bool restore_uffd;            /* --uffd: the Uffd memory backend (--mem: memory file or handler socket) */
};

/*
 * True when argv looks like a Firecracker-style start (its first argument is
 * one of the flags below), false for vmon's own commands (run, ctl, ...).
 */
bool fc_args_match(int argc, char **argv);

/* CLI_RUN with a filled *a, CLI_DONE (help/version printed), or CLI_ERROR with err. */
enum cli_action fc_args_parse(int argc, char **argv, struct fc_args *a, FILE *out, struct vmon_error *err);

/*
 * `vmon restore --snapshot FILE --mem FILE [--paused] [flags above]` (argv[0]
 * is "restore"): a new vmon from a snapshot; without --api-sock, no API.
 */
enum cli_action fc_args_parse_restore(int argc, char **argv, struct fc_args *a, FILE *out, struct vmon_error *err);

/*
 * `vmon receive --listen ADDR [flags above]` (argv[0] is "receive"): a new
 * vmon that waits for a live migration on ADDR (unix:PATH or tcp:HOST:PORT)
 * and runs what arrives; without --api-sock, no API.
 */
enum cli_action fc_args_parse_receive(int argc, char **argv, struct fc_args *a, FILE *out, struct vmon_error *err);

/* Firecracker's rule for instance ids: 1 to 64 characters, ASCII letters, digits and '-'. */
bool fc_id_valid(const char *id);

#endif
