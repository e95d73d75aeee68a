/* SPDX-License-Identifier: MIT */
#ifndef VMON_NET_SLIRP_LIB_H
#define VMON_NET_SLIRP_LIB_H

#include <slirp/libslirp.h>

#include "base/error.h"

/*
 * libslirp, loaded with dlopen when user networking is first opened rather
 * than linked: libslirp brings GLib and PCRE2, and a VM without `--net user`
 * would otherwise map and relocate all three at every start (about 0.5 ms
 * and 2 MiB of resident pages on the PVM host, see docs/PERFORMANCE.md).
 * A static vmon loads it too, bringing the system's libc.so.6 along, which
 * glibc allows only at the version vmon was built with: that is checked.
 * The entry points vmon calls, with libslirp's own prototypes.
 */
struct slirp_lib {
	__typeof__(slirp_new) *new_instance;
	__typeof__(slirp_cleanup) *cleanup;
	__typeof__(slirp_input) *input;
	__typeof__(slirp_pollfds_fill) *pollfds_fill;
	__typeof__(slirp_pollfds_poll) *pollfds_poll;
	__typeof__(slirp_handle_timer) *handle_timer;
	__typeof__(slirp_add_hostfwd) *add_hostfwd;
	__typeof__(slirp_version_string) *version_string;
};

/* The SONAME vmon was built against (libslirp0 in Debian). */
#define SLIRP_LIB_SONAME "libslirp.so.0"

/*
 * Loads libslirp once (later calls return the same table; thread-safe).
 * NULL with err saying what is missing when the library or one of its entry
 * points cannot be found. The library stays loaded: GLib cannot be unloaded.
 */
const struct slirp_lib *slirp_lib_load(struct vmon_error *err);

#endif
