/* SPDX-License-Identifier: MIT */
#ifndef VMON_CLI_CTL_H
#define VMON_CLI_CTL_H

#include <stdio.h>

/*
 * `vmon ctl [--api-sock PATH] [--wait SECONDS] VERB [ARGS]`: the API's client
 * for people (no JSON by hand for the everyday verbs). argv[0] is "ctl".
 * Prints the response body on out; returns 0 on a 2xx answer, 1 on an API
 * error (its fault_message on errout), 2 on bad usage, 6 when the socket
 * cannot be reached.
 */
int ctl_main(int argc, char **argv, FILE *out, FILE *errout);

#endif
