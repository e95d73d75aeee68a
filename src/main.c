/* SPDX-License-Identifier: MIT */
/*
 * vmon: parse the command line into a vm_config, then prepare, load, build,
 * boot and run the machine it describes (src/vmm/machine.h), and turn how it
 * ended into the process exit status. Started the way Firecracker is
 * (`vmon --api-sock PATH ...`), the API drives it instead (src/api/);
 * `vmon ctl` is the API's client.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/fc_main.h"
#include "base/log.h"
#include "base/seccomp_filter.h"
#include "cli/cli.h"
#include "cli/ctl.h"
#include "cli/fc_args.h"
#include "snapshot/snapshot_file.h"
#include "vmm/machine.h"

static int print_host_profile(const struct vm_config *cfg)
{
	struct host_profile profile;

	host_profile_for_this_host(cfg->host_profile, &profile);
	host_profile_print(&profile, stdout);
	return VMON_EXIT_OK;
}

/* `vmon snapshot-merge BASE DIFF`: a Diff snapshot's memory file onto the one before it (in place). */
static int snapshot_merge_main(int argc, char **argv)
{
	struct vmon_error err = { 0 };
	uint64_t copied;

	if (argc != 3 || argv[1][0] == '-') {
		fprintf(argc == 2 && !strcmp(argv[1], "--help") ? stdout : stderr,
			"usage: vmon snapshot-merge BASE_MEM DIFF_MEM\n"
			"  writes the dirty pages of the Diff snapshot's memory file DIFF_MEM over BASE_MEM (in place;\n"
			"  copy it first with cp --sparse=always to keep it); BASE_MEM then holds the guest RAM of the\n"
			"  Diff snapshot, to restore with its snapshot file\n");
		return argc == 2 && !strcmp(argv[1], "--help") ? VMON_EXIT_OK : VMON_EXIT_USAGE;
	}
	if (snapshot_mem_merge(argv[1], argv[2], &copied, &err)) {
		log_error("snapshot-merge: %s", err.msg);
		return VMON_EXIT_USAGE;
	}
	printf("merged %llu bytes of %s into %s\n", (unsigned long long)copied, argv[2], argv[1]);
	return VMON_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct vmon_error err = { 0 };
	struct vm_config cfg;
	struct machine m;
	struct timespec start;
	int status;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (fc_args_match(argc, argv))
		return fc_main(argc, argv, &start);
	if (argc > 1 && !strcmp(argv[1], "restore"))
		return fc_main_restore(argc - 1, argv + 1, &start);
	if (argc > 1 && !strcmp(argv[1], "snapshot-merge"))
		return snapshot_merge_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "receive"))
		return fc_main_receive(argc - 1, argv + 1, &start);
	if (argc > 1 && !strcmp(argv[1], "ctl"))
		return ctl_main(argc - 1, argv + 1, stdout, stderr);
	switch (cli_parse(argc, argv, &cfg, stdout, &err)) {
	case CLI_DONE:
		return VMON_EXIT_OK;
	case CLI_ERROR:
		log_error("%s", err.msg);
		return VMON_EXIT_USAGE;
	case CLI_HOST_PROFILE:
		return print_host_profile(&cfg);
	case CLI_RUN:
		break;
	}
	log_set_level(cfg.verbosity < 0 ? LOG_ERROR : cfg.verbosity == 0 ? LOG_WARN
		      : cfg.verbosity == 1 ? LOG_INFO : LOG_DEBUG);
	/* Before any thread exists: each installs its filter as it starts (src/base/seccomp_filter.h). */
	if (seccomp_setup((enum seccomp_level)cfg.seccomp_level, &err)) {
		log_error("%s", err.msg);
		return VMON_EXIT_HOST_ERROR;
	}

	if ((status = machine_prepare(&m, &cfg, &start, &err)) || (status = machine_load(&m, &err)) ||
	    (status = machine_build(&m, &err)) || (status = machine_boot(&m, &err)))
		log_error("%s", err.msg);
	else
		status = machine_run(&m);
	machine_destroy(&m);
	return status;
}
