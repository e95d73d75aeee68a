/* SPDX-License-Identifier: MIT */
#ifndef VMON_CLI_H
#define VMON_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "vmm/config.h"

/*
 * The command line, turned into a vm_config (validated by vm_config_check(),
 * whose messages the CLI words in terms of its options).
 */
enum cli_action {
	CLI_RUN,       /* cfg is filled: run the VM */
	CLI_DONE,      /* --help / --version printed: exit 0 */
	CLI_ERROR,     /* err holds the message: exit VMON_EXIT_USAGE */
	CLI_HOST_PROFILE, /* `vmon host-profile [MODE]`: print the profile for cfg->host_profile */
};

/* Parses argv (argv[0] is the program). Help/version text goes to out. */
enum cli_action cli_parse(int argc, char **argv, struct vm_config *cfg, FILE *out, struct vmon_error *err);

/*
 * "128M", "1G", "512K", "2T", optionally followed by "iB"/"B"; a bare number
 * is MiB (as QEMU's -m). Returns 0 or -EINVAL/-ERANGE.
 */
int parse_size(const char *text, uint64_t *bytes);

void cli_print_usage(FILE *out);

#endif
