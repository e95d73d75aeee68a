/* SPDX-License-Identifier: MIT */
#ifndef VMON_LOG_H
#define VMON_LOG_H

/*
 * Monitor messages go to stderr, prefixed "vmon: ", so they never mix with the
 * guest's console on stdout. Lines end with "\r\n" while the terminal is raw.
 */
enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
void log_set_raw_terminal(int raw);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
