/* SPDX-License-Identifier: MIT */
#include "net/slirp_lib.h"

#include <dlfcn.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static struct slirp_lib lib;
static char load_error[256];   /* empty: loaded */

/*
 * A static vmon carries its own glibc, and libslirp brings the system's
 * libc.so.6 with it: glibc supports that only when both are the same
 * version. A dynamic vmon shares one libc with libslirp, and always passes.
 */
static bool same_glibc_as_loaded(char *why, size_t size)
{
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	void *sym = libc ? dlsym(libc, "gnu_get_libc_version") : NULL;
	const char *(*loaded_version)(void);

	if (!sym)
		return true;   /* not glibc: nothing to compare */
	memcpy(&loaded_version, &sym, sizeof(sym));
	if (strcmp(loaded_version(), gnu_get_libc_version()) == 0)
		return true;
	snprintf(why, size, "it runs on the system's glibc %s, and this static vmon was built with glibc %s: "
		 "rebuild vmon (or build it with -Dstatic=false)", loaded_version(), gnu_get_libc_version());
	return false;
}

static void load(void)
{
	static const struct { const char *name; size_t offset; } symbols[] = {
		{ "slirp_new", offsetof(struct slirp_lib, new_instance) },
		{ "slirp_cleanup", offsetof(struct slirp_lib, cleanup) },
		{ "slirp_input", offsetof(struct slirp_lib, input) },
		{ "slirp_pollfds_fill", offsetof(struct slirp_lib, pollfds_fill) },
		{ "slirp_pollfds_poll", offsetof(struct slirp_lib, pollfds_poll) },
		{ "slirp_handle_timer", offsetof(struct slirp_lib, handle_timer) },
		{ "slirp_add_hostfwd", offsetof(struct slirp_lib, add_hostfwd) },
		{ "slirp_version_string", offsetof(struct slirp_lib, version_string) },
	};
	struct slirp_lib loaded;
	void *handle = dlopen(SLIRP_LIB_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!handle) {
		snprintf(load_error, sizeof(load_error), "%s (Debian package libslirp0)", dlerror());
		return;
	}
	if (!same_glibc_as_loaded(load_error, sizeof(load_error)))
		return;   /* left loaded: unloading a second glibc is not safer */
	for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
		void *fn = dlsym(handle, symbols[i].name);

		if (!fn) {
			snprintf(load_error, sizeof(load_error), "%s has no %s (vmon needs libslirp 4.7 or later)",
				 SLIRP_LIB_SONAME, symbols[i].name);
			dlclose(handle);
			return;
		}
		/* POSIX guarantees a data pointer from dlsym converts to a function pointer. */
		memcpy((char *)&loaded + symbols[i].offset, &fn, sizeof(fn));
	}
	lib = loaded;
}

const struct slirp_lib *slirp_lib_load(struct vmon_error *err)
{
	pthread_once(&load_once, load);
	if (load_error[0]) {
		error_set(err, -ENOENT, "user net: cannot load libslirp: %s", load_error);
		return NULL;
	}
	return &lib;
}
