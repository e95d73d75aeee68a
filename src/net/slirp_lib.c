/* SPDX-License-Identifier: MIT */
#include "net/slirp_lib.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static struct slirp_lib lib;
static char load_error[256];   /* empty: loaded */

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
