/* SPDX-License-Identifier: MIT */
#ifndef VMON_ERROR_H
#define VMON_ERROR_H

/*
 * Error reporting convention: functions return 0 or a negative errno and,
 * where they know the context, fill a struct vmon_error with one message that
 * names the bad value ("kernel.elf: segment 2 ends past guest RAM (...)").
 * The caller that owns the user-facing context prints it once.
 */
struct vmon_error {
	int code;          /* negative errno, 0 when unset */
	char msg[320];
};

/* Formats the message into err (if non-NULL) and returns code (a negative errno). */
int error_set(struct vmon_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an already set message (e.g. the file name). */
void error_prefix(struct vmon_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline void error_clear(struct vmon_error *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}

#endif
