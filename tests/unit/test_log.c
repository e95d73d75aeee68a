/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/vmon-test-log-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/out", f->dir);
	pthread_setname_np(pthread_self(), "log-test");
	*state = f;
	return 0;
}

/* Back to vmon's defaults, which the other tests (and programs) assume. */
static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(log_set_output_path(NULL, NULL), 0);
	log_set_format(LOG_FORMAT_VMON);
	log_configure(LOG_WARN, false, false);
	assert_int_equal(log_set_instance_id(LOG_DEFAULT_INSTANCE_ID, NULL), 0);
	log_set_raw_terminal(0);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static char *read_all(const char *path)
{
	FILE *in = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	assert_non_null(in);
	n = fread(buf, 1, (1 << 20) - 1, in);
	buf[n] = '\0';
	fclose(in);
	return buf;
}

/* What the logger writes to fd 2 while fn runs. */
static char *capture_stderr(const char *path, void (*fn)(void))
{
	int saved = dup(STDERR_FILENO);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(saved >= 0 && fd >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	fn();
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	close(saved);
	return read_all(path);
}

static void log_some_levels(void)
{
	log_error("disk %s is gone", "a.img");
	log_warn("odd value %d", 7);
	log_info("not shown at the default level");
	log_debug("nor this");
}

static void default_output_is_vmons_stderr_lines(void **state)
{
	struct fixture *f = *state;
	char *text = capture_stderr(f->path, log_some_levels);

	assert_string_equal(text, "vmon: error: disk a.img is gone\nvmon: warning: odd value 7\n");
	free(text);
}

static void log_info_line(void)
{
	log_info("status %s", "ok");
}

static void raw_terminal_lines_end_in_crlf(void **state)
{
	struct fixture *f = *state;

	log_set_level(LOG_INFO);
	log_set_raw_terminal(1);
	char *text = capture_stderr(f->path, log_info_line);
	assert_string_equal(text, "vmon: status ok\r\n");
	free(text);
}

static void assert_matches(const char *text, const char *pattern)
{
	regex_t re;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	if (regexec(&re, text, 0, NULL, 0)) {
		print_error("\"%s\" does not match /%s/\n", text, pattern);
		fail();
	}
	regfree(&re);
}

#define TIME_RE "^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{9} "

static void firecracker_format_to_a_file(void **state)
{
	struct fixture *f = *state;
	char *text;
	int line;

	close(open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600));
	assert_int_equal(log_set_output_path(f->path, NULL), 0);
	log_set_format(LOG_FORMAT_FIRECRACKER);
	assert_int_equal(log_set_instance_id("vm-7", NULL), 0);
	log_configure(LOG_INFO, true, true);
	log_info("hello %d", 42); line = __LINE__;
	log_debug("below the level");
	log_configure(LOG_INFO, false, false);
	log_warn("plain tag");
	log_configure(LOG_INFO, true, false);
	log_error("level only");
	log_msg(LOG_WARN, "origin unknown");
	assert_int_equal(log_set_output_path(NULL, NULL), 0);
	log_configure(LOG_WARN, false, false);

	text = read_all(f->path);
	char *l1 = strtok(text, "\n"), *l2 = strtok(NULL, "\n"), *l3 = strtok(NULL, "\n"), *l4 = strtok(NULL, "\n");
	assert_non_null(l4);
	assert_null(strtok(NULL, "\n"));
	char pattern[256];
	snprintf(pattern, sizeof(pattern), TIME_RE "\\[vm-7:log-test:INFO:tests/unit/test_log\\.c:%d\\] hello 42$", line);
	assert_matches(l1, pattern);
	assert_matches(l2, TIME_RE "\\[vm-7:log-test\\] plain tag$");
	assert_matches(l3, TIME_RE "\\[vm-7:log-test:ERROR\\] level only$");
	assert_matches(l4, TIME_RE "\\[vm-7:log-test:WARN\\] origin unknown$");
	free(text);
}

static void file_output_appends(void **state)
{
	struct fixture *f = *state;
	FILE *out = fopen(f->path, "w");
	char *text;

	fputs("earlier\n", out);
	fclose(out);
	assert_int_equal(log_set_output_path(f->path, NULL), 0);
	log_warn("later");
	assert_int_equal(log_set_output_path(NULL, NULL), 0);
	text = read_all(f->path);
	assert_string_equal(text, "earlier\nvmon: warning: later\n");
	free(text);
}

static void levels_parse_as_firecracker_accepts_them(void **state)
{
	static const struct { const char *name; enum log_level level; } ok[] = {
		{ "Error", LOG_ERROR }, { "WARNING", LOG_WARN }, { "warn", LOG_WARN }, { "Info", LOG_INFO },
		{ "dEbUg", LOG_DEBUG }, { "trace", LOG_TRACE }, { "Off", LOG_OFF },
	};
	struct vmon_error err = { 0 };
	enum log_level level;
	(void)state;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(log_parse_level(ok[i].name, &level, NULL), 0);
		assert_int_equal(level, ok[i].level);
	}
	assert_int_equal(log_parse_level("verbose", &level, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "level: expected one of Error, Warning, Info, Debug, Trace, Off"));
	assert_non_null(strstr(err.msg, "\"verbose\""));
	assert_int_equal(log_parse_level("", &level, NULL), -EINVAL);
	assert_string_equal(log_level_name(LOG_WARN), "WARN");
	assert_string_equal(log_level_name(LOG_TRACE), "TRACE");
}

static void log_everything_at_off(void)
{
	log_error("an error");
	log_warn("a warning");
}

static void off_silences_everything(void **state)
{
	struct fixture *f = *state;

	log_configure(LOG_OFF, true, true);
	char *text = capture_stderr(f->path, log_everything_at_off);
	assert_string_equal(text, "");
	free(text);
}

static void bad_destinations_are_refused_by_name(void **state)
{
	struct fixture *f = *state;
	struct vmon_error err = { 0 };
	char missing[160];

	snprintf(missing, sizeof(missing), "%s/missing.log", f->dir);
	assert_int_equal(log_set_output_path(missing, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "log_path: "));
	assert_non_null(strstr(err.msg, missing));
	error_clear(&err);
	assert_int_equal(log_set_output_path(f->dir, &err), -EISDIR);
	assert_non_null(strstr(err.msg, "is a directory"));
	error_clear(&err);
	assert_true(log_set_instance_id("a:b", &err) < 0);
	assert_non_null(strstr(err.msg, "instance id"));
	assert_true(log_set_instance_id("", NULL) < 0);
}

/*
 * A FIFO with no reader: open succeeds, lines wait in the pipe for a reader,
 * and once the pipe is full lines are lost and counted, never blocking.
 */
static void fifo_without_reader_never_blocks(void **state)
{
	struct fixture *f = *state;
	uint64_t missed_before = log_missed_lines();
	char line[256];
	FILE *in;

	assert_int_equal(mkfifo(f->path, 0600), 0);
	assert_int_equal(log_set_output_path(f->path, NULL), 0);
	log_warn("first line");
	/* A reader that comes later finds it. */
	in = fopen(f->path, "r");
	assert_non_null(in);
	assert_non_null(fgets(line, sizeof(line), in));
	assert_string_equal(line, "vmon: warning: first line\n");
	fclose(in);
	/* Nobody reads: 64 KiB of pipe fills, then lines are dropped. */
	for (int i = 0; i < 4000; i++)
		log_warn("filler line %d, long enough to fill the pipe quickly .......................", i);
	assert_true(log_missed_lines() > missed_before);
	assert_int_equal(log_set_output_path(NULL, NULL), 0);
}

#define THREADS 4
#define LINES 500

static void *log_lines(void *arg)
{
	long id = (long)arg;

	for (int i = 0; i < LINES; i++)
		log_warn("thread %ld line %d %s", id, i, "padding padding padding padding padding padding");
	return NULL;
}

static void lines_of_threads_never_interleave(void **state)
{
	struct fixture *f = *state;
	pthread_t threads[THREADS];
	unsigned count = 0;
	char *text, *save = NULL;

	close(open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600));
	assert_int_equal(log_set_output_path(f->path, NULL), 0);
	log_set_format(LOG_FORMAT_FIRECRACKER);
	log_configure(LOG_WARN, true, false);
	for (long i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, log_lines, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	assert_int_equal(log_set_output_path(NULL, NULL), 0);
	text = read_all(f->path);
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save), count++)
		assert_matches(l, TIME_RE "\\[anonymous-instance:[^]:]+:WARN\\] thread [0-9] line [0-9]+ "
			       "padding padding padding padding padding padding$");
	assert_int_equal(count, THREADS * LINES);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(default_output_is_vmons_stderr_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(raw_terminal_lines_end_in_crlf, setup, teardown),
		cmocka_unit_test_setup_teardown(firecracker_format_to_a_file, setup, teardown),
		cmocka_unit_test_setup_teardown(file_output_appends, setup, teardown),
		cmocka_unit_test_setup_teardown(levels_parse_as_firecracker_accepts_them, setup, teardown),
		cmocka_unit_test_setup_teardown(off_silences_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_destinations_are_refused_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(fifo_without_reader_never_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(lines_of_threads_never_interleave, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
