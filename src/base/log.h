/* SPDX-License-Identifier: MIT */
#ifndef VMON_LOG_H
#define VMON_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

/*
 * Monitor messages go to stderr, prefixed "vmon: ", so they never mix with the
 * guest's console on stdout. Lines end with "\r\n" while the terminal is raw.
 *
 * For the Firecracker-compatible API the logger can also write Firecracker's
 * line format (docs/logger.md and src/vmm/src/logger/logging.rs upstream):
 *
 *   2026-12-06T06:00:00.123456789 [anonymous-instance:vmon-api:WARN:src/api/x.c:12] message
 *
 * local time with nanoseconds, then in brackets the instance id, the thread's
 * name, the level (show_level) and the origin file:line (show_log_origin).
 * The destination may be a file (appended to) or a FIFO instead of stderr
 * (log_set_output_path). Every line is one write(2) of at most
 * LOG_LINE_MAX bytes, so lines of several threads never interleave (a pipe
 * takes writes up to PIPE_BUF whole); a destination that would block (a
 * FIFO nobody drains) loses the line, counted in log_missed_lines().
 *
 * The defaults (vmon format, stderr, warnings and errors) print exactly what
 * vmon always printed.
 */
enum log_level { LOG_OFF = -1, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };

enum log_format {
	LOG_FORMAT_VMON,          /* "vmon: error: message" */
	LOG_FORMAT_FIRECRACKER,   /* "<time> [<id>:<thread>[:LEVEL][:file:line]] message" */
};

/* Longest line written, terminator included; longer messages are cut. Below PIPE_BUF (4096). */
#define LOG_LINE_MAX 2048
/* Firecracker's id when none is set. */
#define LOG_DEFAULT_INSTANCE_ID "anonymous-instance"
#define LOG_INSTANCE_ID_MAX 64

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_set_raw_terminal(int raw);
void log_set_format(enum log_format format);
/* The id in Firecracker-format lines: 1 to LOG_INSTANCE_ID_MAX printable characters, no ':', '[' or ']'. */
int log_set_instance_id(const char *id, struct vmon_error *err);

/*
 * PUT /logger's fields: the level and what Firecracker-format lines show.
 * The vmon format ignores show_level and show_log_origin (it always shows
 * "error: " and "warning: ", never an origin).
 */
void log_configure(enum log_level level, bool show_level, bool show_log_origin);

/*
 * Where lines go from now on: path (log_open_path: a FIFO or an existing
 * file, appended to), or stderr again when path is NULL. The previous
 * destination is closed. On failure nothing changes.
 */
int log_set_output_path(const char *path, struct vmon_error *err);

/*
 * The fd lines go to now (stderr's, or log_set_output_path's); async-signal-safe,
 * for a handler that must write a last line itself.
 */
int log_output_fd(void);

/* Lines lost since start: the destination would have blocked or failed. */
uint64_t log_missed_lines(void);

/*
 * Firecracker's level names, case-insensitive: Error, Warning (or Warn),
 * Info, Debug, Trace, Off. 0, or -EINVAL naming the accepted values.
 */
int log_parse_level(const char *name, enum log_level *out, struct vmon_error *err);
/* "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "OFF": what Firecracker-format lines show. */
const char *log_level_name(enum log_level level);

/*
 * Opens a log or metrics destination as Firecracker does: the path must exist
 * (a FIFO or a file; no directory). A FIFO is opened read-write and
 * non-blocking: open never fails for want of a reader (O_WRONLY would,
 * ENXIO), writes never raise SIGPIPE when the reader goes away, and a full
 * pipe makes write fail with EAGAIN instead of blocking the writer. Lines
 * written while nobody reads wait in the pipe (64 KiB by default) for the
 * next reader. A file is opened write-only, appending, non-blocking.
 * Returns the fd (close-on-exec), or a negative errno with err naming path.
 * *is_fifo (may be NULL) tells which it was.
 */
int log_open_path(const char *path, bool *is_fifo, struct vmon_error *err);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with the origin that show_log_origin prints. */
void log_msg_at(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_error(...) log_msg_at(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_msg_at(LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) log_msg_at(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_msg_at(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define log_trace(...) log_msg_at(LOG_TRACE, __FILE__, __LINE__, __VA_ARGS__)

/*
 * For a guest's mistakes, logged once each: sets bit `what` in *logged and
 * says whether it was clear (the first time).
 */
static inline bool log_first_time(uint32_t *logged, uint32_t what)
{
	bool first = !(*logged & what);

	*logged |= what;
	return first;
}

#endif
