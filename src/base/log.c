/* SPDX-License-Identifier: MIT */
#include "base/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Today's vmon lines cut the message here; kept so the default output does not change. */
#define MESSAGE_MAX 1024

static atomic_int current_level = LOG_WARN;
static atomic_int raw_terminal;
static atomic_uint_least64_t missed_lines;

/*
 * The destination and the Firecracker format's settings: every line reads
 * them under the read lock (lines of many threads go out in parallel, one
 * write(2) each); changing them takes the write lock, so no line writes to
 * a destination being closed.
 */
static pthread_rwlock_t config_lock = PTHREAD_RWLOCK_INITIALIZER;
static int out_fd = STDERR_FILENO;
static enum log_format format = LOG_FORMAT_VMON;
static bool show_level;
static bool show_origin;
static char instance_id[LOG_INSTANCE_ID_MAX + 1] = LOG_DEFAULT_INSTANCE_ID;

void log_set_level(enum log_level level)
{
	atomic_store_explicit(&current_level, level, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
	return atomic_load_explicit(&current_level, memory_order_relaxed);
}

void log_set_raw_terminal(int raw)
{
	atomic_store_explicit(&raw_terminal, raw, memory_order_relaxed);
}

void log_set_format(enum log_format f)
{
	pthread_rwlock_wrlock(&config_lock);
	format = f;
	pthread_rwlock_unlock(&config_lock);
}

int log_set_instance_id(const char *id, struct vmon_error *err)
{
	size_t len = id ? strlen(id) : 0;

	if (len == 0 || len > LOG_INSTANCE_ID_MAX)
		return error_set(err, -EINVAL, "instance id: must be 1 to %d characters (got %zu)", LOG_INSTANCE_ID_MAX,
				 len);
	for (size_t i = 0; i < len; i++)
		if (!isprint((unsigned char)id[i]) || id[i] == ':' || id[i] == '[' || id[i] == ']')
			return error_set(err, -EINVAL, "instance id: character %zu (0x%02x) is not allowed (printable "
					 "characters other than ':', '[' and ']')", i, (unsigned char)id[i]);
	pthread_rwlock_wrlock(&config_lock);
	memcpy(instance_id, id, len + 1);
	pthread_rwlock_unlock(&config_lock);
	return 0;
}

void log_configure(enum log_level level, bool level_shown, bool origin_shown)
{
	log_set_level(level);
	pthread_rwlock_wrlock(&config_lock);
	show_level = level_shown;
	show_origin = origin_shown;
	pthread_rwlock_unlock(&config_lock);
}

int log_open_path(const char *path, bool *is_fifo, struct vmon_error *err)
{
	struct stat before, after;
	bool fifo;
	int fd;

	if (!path || !*path)
		return error_set(err, -EINVAL, "the path is empty");
	if (stat(path, &before) < 0)
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	if (S_ISDIR(before.st_mode))
		return error_set(err, -EISDIR, "%s: is a directory (a file or a FIFO is needed)", path);
	fifo = S_ISFIFO(before.st_mode);
	fd = open(path, (fifo ? O_RDWR : O_WRONLY | O_APPEND) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	/* Replaced between the stat and the open: the flags chosen may not suit what was opened. */
	if (fstat(fd, &after) < 0 || after.st_dev != before.st_dev || after.st_ino != before.st_ino) {
		close(fd);
		return error_set(err, -EAGAIN, "%s: replaced while being opened; try again", path);
	}
	if (is_fifo)
		*is_fifo = fifo;
	return fd;
}

int log_set_output_path(const char *path, struct vmon_error *err)
{
	int fd = STDERR_FILENO, old;

	if (path && (fd = log_open_path(path, NULL, err)) < 0) {
		error_prefix(err, "log_path");
		return fd;
	}
	pthread_rwlock_wrlock(&config_lock);
	old = out_fd;
	out_fd = fd;
	pthread_rwlock_unlock(&config_lock);
	if (old != STDERR_FILENO)
		close(old);
	return 0;
}

int log_output_fd(void)
{
	return out_fd;   /* an int read whole: the value before or after a concurrent change */
}

uint64_t log_missed_lines(void)
{
	return atomic_load_explicit(&missed_lines, memory_order_relaxed);
}

int log_parse_level(const char *name, enum log_level *out, struct vmon_error *err)
{
	static const struct { const char *name; enum log_level level; } names[] = {
		{ "error", LOG_ERROR }, { "warning", LOG_WARN }, { "warn", LOG_WARN }, { "info", LOG_INFO },
		{ "debug", LOG_DEBUG }, { "trace", LOG_TRACE }, { "off", LOG_OFF },
	};

	for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcasecmp(name, names[i].name)) {
			*out = names[i].level;
			return 0;
		}
	}
	return error_set(err, -EINVAL, "level: expected one of Error, Warning, Info, Debug, Trace, Off (got \"%.64s\")",
			 name ? name : "");
}

const char *log_level_name(enum log_level level)
{
	switch (level) {
	case LOG_OFF: return "OFF";
	case LOG_ERROR: return "ERROR";
	case LOG_WARN: return "WARN";
	case LOG_INFO: return "INFO";
	case LOG_DEBUG: return "DEBUG";
	case LOG_TRACE: return "TRACE";
	}
	return "?";
}

/* The build runs the compiler from its own directory: "../src/vmm/vm.c" -> "src/vmm/vm.c". */
static const char *origin_file(const char *file)
{
	while (file && !strncmp(file, "../", 3))
		file += 3;
	return file ? file : "?";
}

/* Firecracker's tag: "<time> [<id>:<thread>[:LEVEL][:file:line]] " (config read-locked). */
static int firecracker_prefix(char *buf, size_t size, enum log_level level, const char *file, int line)
{
	struct timespec now;
	struct tm tm;
	char thread[16] = "-";
	int n;

	clock_gettime(CLOCK_REALTIME, &now);
	localtime_r(&now.tv_sec, &tm);
	if (pthread_getname_np(pthread_self(), thread, sizeof(thread)) || !thread[0])
		strcpy(thread, "-");
	n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09ld [%s:%s", tm.tm_year + 1900, tm.tm_mon + 1,
		     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec, instance_id, thread);
	if (show_level && n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, ":%s", log_level_name(level));
	if (show_origin && n >= 0 && (size_t)n < size) {
		if (file)
			n += snprintf(buf + n, size - (size_t)n, ":%s:%d", origin_file(file), line);
		else
			n += snprintf(buf + n, size - (size_t)n, ":?:?");
	}
	if (n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, "] ");
	return n < 0 ? 0 : (size_t)n >= size ? (int)size - 1 : n;
}

/* The whole line in one write; a short write (a terminal, a signal) goes on from where it stopped. */
static bool write_line(int fd, const char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

static void log_vmsg(enum log_level level, const char *file, int line, const char *fmt, va_list ap)
{
	char message[MESSAGE_MAX];
	char out[LOG_LINE_MAX];
	const char *eol;
	int n;

	if (level > atomic_load_explicit(&current_level, memory_order_relaxed) || level < LOG_ERROR)
		return;
	vsnprintf(message, sizeof(message), fmt, ap);
	pthread_rwlock_rdlock(&config_lock);
	if (format == LOG_FORMAT_FIRECRACKER) {
		/* A file or FIFO gets "\n" lines; only the terminal in raw mode needs the "\r". */
		eol = out_fd == STDERR_FILENO && atomic_load_explicit(&raw_terminal, memory_order_relaxed) ? "\r\n" : "\n";
		n = firecracker_prefix(out, sizeof(out), level, file, line);
		n += snprintf(out + n, sizeof(out) - (size_t)n, "%s%s", message, eol);
	} else {
		eol = atomic_load_explicit(&raw_terminal, memory_order_relaxed) ? "\r\n" : "\n";
		n = snprintf(out, sizeof(out), "vmon: %s%s%s",
			     level == LOG_ERROR ? "error: " : level == LOG_WARN ? "warning: " : "", message, eol);
	}
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(out)) {
		/* Cut, but still one line. */
		n = (int)sizeof(out) - 1;
		out[n - 1] = '\n';
	}
	if (!write_line(out_fd, out, (size_t)n))
		atomic_fetch_add_explicit(&missed_lines, 1, memory_order_relaxed);
	pthread_rwlock_unlock(&config_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, NULL, 0, fmt, ap);
	va_end(ap);
}

void log_msg_at(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, file, line, fmt, ap);
	va_end(ap);
}
