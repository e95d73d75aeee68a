/* SPDX-License-Identifier: MIT */
/* UTF-8 as RFC 3629 defines it: what utf8_char_len takes, and what utf8_repair turns into '?'. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "base/utf8.h"

static void whole_characters_have_their_length(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
	} good[] = {
		{ "a", 1 }, { "\x7f", 1 }, { "\xc2\x80", 2 }, { "\xdf\xbf", 2 }, { "\xe0\xa0\x80", 3 },
		{ "\xed\x9f\xbf", 3 }, { "\xee\x80\x80", 3 }, { "\xef\xbf\xbf", 3 }, { "\xf0\x90\x80\x80", 4 },
		{ "\xf4\x8f\xbf\xbf", 4 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(utf8_char_len(good[i].bytes, strlen(good[i].bytes)), good[i].len);
		/* One byte short: no character. */
		if (good[i].len > 1)
			assert_int_equal(utf8_char_len(good[i].bytes, good[i].len - 1), 0);
	}
	assert_int_equal(utf8_char_len("", 0), 0);
}

static void what_rfc3629_forbids_is_no_character(void **state)
{
	static const char *const bad[] = {
		"\x80",             /* a continuation byte alone */
		"\xbf",
		"\xc0\xaf",         /* overlong '/' */
		"\xc1\xbf",
		"\xe0\x9f\xbf",     /* overlong U+07FF */
		"\xed\xa0\x80",     /* U+D800, a surrogate */
		"\xed\xbf\xbf",     /* U+DFFF */
		"\xf0\x8f\xbf\xbf", /* overlong U+FFFF */
		"\xf4\x90\x80\x80", /* U+110000 */
		"\xf5\x80\x80\x80",
		"\xff",
		"\xc3\x28",         /* a lead byte, then no continuation */
		"\xe2\x82\x28",
		"\xf0\x9f\x98\x28",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (utf8_char_len(bad[i], strlen(bad[i])) != 0)
			fail_msg("bad[%zu] taken as a character", i);
}

static void repair_replaces_only_the_stray_bytes(void **state)
{
	char text[64];
	(void)state;
	strcpy(text, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	assert_int_equal(utf8_repair(text), 0);
	assert_string_equal(text, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	strcpy(text, "a\xff" "b\xc3\xa9\xc3");
	assert_int_equal(utf8_repair(text), 2);
	assert_string_equal(text, "a?b\xc3\xa9?");
	/* A character cut by the end of the text (a message cut at its buffer's end). */
	strcpy(text, "x\xf0\x9f\x98");
	assert_int_equal(utf8_repair(text), 3);
	assert_string_equal(text, "x???");
	strcpy(text, "\xed\xa0\x80!");
	assert_int_equal(utf8_repair(text), 3);
	assert_string_equal(text, "???" "!");   /* split: "??!" is a trigraph */
	text[0] = '\0';
	assert_int_equal(utf8_repair(text), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(whole_characters_have_their_length),
		cmocka_unit_test(what_rfc3629_forbids_is_no_character),
		cmocka_unit_test(repair_replaces_only_the_stray_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
