/* SPDX-License-Identifier: MIT */
/* vmon-jailer: runs vmon (or another static program) in a jail (docs/JAILER.md). */
#include <stdio.h>
#include <stdlib.h>

#include "jailer/jail.h"

int main(int argc, char **argv)
{
	struct vmon_error err = { 0 };
	struct jail_args args;
	int rc = jail_args_parse(argc, argv, &args, &err);
	if (rc) {
		fprintf(stderr, "vmon-jailer: %s\n", err.msg);
		return rc;
	}
	if (args.help) {
		fputs(jail_usage, stdout);
		return 0;
	}
	/* The jail inherits no environment (vmon reads none it needs). */
	clearenv();
	rc = jail_run(&args, &err);
	if (rc)
		fprintf(stderr, "vmon-jailer: %s\n", err.msg);
	return rc;
}
