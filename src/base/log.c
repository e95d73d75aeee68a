/* SPDX-License-Identifier: MIT */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>

static enum log_level current_level = LOG_WARN;
static int raw_terminal;

void log_set_level(enum log_level level)
{
	current_level = level;
}

void log_set_raw_terminal(int raw)
{
	raw_terminal = raw;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line keeps lines from two threads from interleaving. */
	fprintf(stderr, "vmon: %s%s%s", level == LOG_ERROR ? "error: " : level == LOG_WARN ? "warning: " : "",
		line, raw_terminal ? "\r\n" : "\n");
}
