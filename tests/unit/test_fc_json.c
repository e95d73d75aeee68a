/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "api/fc_json.h"

static int parse(const char *text, struct vmon_error *err)
{
	json_object *o = NULL;
	int ret = fc_json_parse(text, strlen(text), &o, err);

	assert_true(ret == 0 ? o != NULL : o == NULL);
	json_object_put(o);
	return ret;
}

static void rfc8259_json_is_taken(void **state)
{
	static const char *const good[] = {
		"{}", " {\"a\": 1}\n", "[1, -0, 1.5, 2e10, -3E-2, 0.25e+1]", "{\"s\": \"x\\u00e9\\n\\\"\\/\"}",
		"{\"a\": [true, false, null, {\"b\": {}}]}", "\"text\"", "12",
	};
	struct vmon_error err = { 0 };
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (parse(good[i], &err))
			fail_msg("%s refused: %s", good[i], err.msg);
	}
}

static void what_json_c_would_take_is_refused(void **state)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "{'a': 1}", "double quotes" },
		{ "{\"a\": NaN}", "unexpected 'NaN'" },
		{ "{\"a\": Infinity}", "unexpected 'Infinity'" },
		{ "{\"a\": 1.}", "ends in '.'" },
		{ "{\"a\": 01}", "malformed" },
		{ "{\"a\": 1e}", "exponent" },
		{ "{\"a\": \"x\ty\"}", "raw control character 0x09" },
		{ "{\"a\": \"\\x41\"}", "unknown escape" },
		{ "{\"a\": \"\\u12\"}", "4 hex digits" },
		{ "{\"a\": 1, \"a\": 2}", "same key twice" },
		{ "{\"o\": {\"b\": 1, \"b\": {}}}", "same key twice" },
		{ "{\"a\": 1,}", "not valid JSON" },
		{ "{\"a\": 1} x", "not valid JSON" },
		{ "{\"a\": 1} {}", "not valid JSON" },
		{ "1 2", "not valid JSON" },
		{ "", "empty" },
		{ "  \n", "empty" },
		{ "{\"a\": ", "ends too early" },
		{ "null", "got null" },
		{ "{\"a\": tRue}", "unexpected 'tRue'" },
		{ "{\"a\": 1 /* c */}", "unexpected character '/'" },
	};
	struct vmon_error err = { 0 };
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i].text, &err) != -EINVAL)
			fail_msg("%s taken", bad[i].text);
		if (!strstr(err.msg, bad[i].why))
			fail_msg("%s: '%s' does not say '%s'", bad[i].text, err.msg, bad[i].why);
		assert_true(!strncmp(err.msg, "body: ", 6));
	}
}

/*
 * Found by tests/fuzz/fuzz_api: json-c keeps any byte in a string, so a body
 * with one that is not UTF-8 was stored and came back in GET /vm/config and
 * GET /mmds, which were then no RFC 8259 JSON (section 8.1: UTF-8).
 */
static void strings_must_be_utf8(void **state)
{
	static const char *const good[] = {
		"\"caf\xc3\xa9\"", "\"\xe2\x82\xac \xed\x9f\xbf \xee\x80\x80\"", "\"\xf0\x9f\x98\x80\"",
		"\"\xf4\x8f\xbf\xbf\"", "{\"\xc3\xa9\": \"\xdf\xbf\"}",
	};
	static const char *const bad[] = {
		"\"\xff\"",               /* never in UTF-8 */
		"\"\x80\"",               /* a continuation byte alone */
		"\"\xc3\"",               /* cut short by the quote */
		"\"\xc3",                 /* cut short by the end */
		"\"\xc0\xaf\"",           /* overlong '/' */
		"\"\xe0\x80\xaf\"",       /* overlong */
		"\"\xed\xa0\x80\"",       /* a surrogate (U+D800) */
		"\"\xf4\x90\x80\x80\"",   /* past U+10FFFF */
		"\"\xf5\x80\x80\x80\"",
		"{\"k\xe9y\": 1}",         /* Latin-1 in a key */
		"{\"boot_args\": \"consol\x9b\xc2\x8b\x8ayS0\"}",   /* the fuzzer's input */
	};
	struct vmon_error err = { 0 };
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (parse(good[i], &err))
			fail_msg("good[%zu] refused: %s", i, err.msg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = (struct vmon_error){ 0 };
		assert_int_equal(parse(bad[i], &err), -EINVAL);
		if (!strstr(err.msg, "is not UTF-8"))
			fail_msg("bad[%zu]: %s", i, err.msg);
	}
	err = (struct vmon_error){ 0 };
	parse("{\"a\": \"\xc3\xa9\xff\"}", &err);
	assert_string_equal(err.msg, "body: not valid JSON (a string is not UTF-8: byte 0xff at offset 9)");
	/* The refusal of an escape quotes the byte only when it is printable ASCII. */
	err = (struct vmon_error){ 0 };
	parse("{\"a\": \"\\\xf5\"}", &err);
	assert_string_equal(err.msg, "body: not valid JSON (unknown escape: '\\' and byte 0xf5)");
}

static void depth_is_bounded(void **state)
{
	char deep[80];
	struct vmon_error err = { 0 };
	(void)state;
	memset(deep, '[', 40);
	memset(deep + 40, ']', 39);
	deep[79] = '\0';
	assert_int_equal(parse(deep, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "nested deeper than 32"));
	/* A NUL inside the length given is not JSON either. */
	json_object *o;
	assert_int_equal(fc_json_parse("{}\0{}", 5, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "NUL byte"));
}

static const char *const colours[] = { "Red", "Green", NULL };
static const struct fc_json_field inner_fields[] = {
	{ .name = "size", .type = FC_JSON_INT, .required = true, .min = 0, .max = INT64_MAX },
};
static const struct fc_json_schema inner = FC_JSON_SCHEMA(inner_fields);
static const struct fc_json_field fields[] = {
	{ .name = "name", .type = FC_JSON_STRING, .required = true },
	{ .name = "count", .type = FC_JSON_INT, .min = 1, .max = 32 },
	{ .name = "flag", .type = FC_JSON_BOOL },
	{ .name = "colour", .type = FC_JSON_STRING, .choices = colours },
	{ .name = "level", .type = FC_JSON_STRING, .choices = colours, .choices_nocase = true },
	{ .name = "inner", .type = FC_JSON_OBJECT, .object = &inner },
	{ .name = "list", .type = FC_JSON_STRING_ARRAY },
	{ .name = "map", .type = FC_JSON_STRING_MAP },
};
static const struct fc_json_schema schema = FC_JSON_SCHEMA(fields);

static int check(const char *body, struct vmon_error *err)
{
	json_object *o = NULL;
	int ret = fc_json_parse_object(body, &schema, &o, err);

	json_object_put(o);
	return ret;
}

static void schema_accepts_what_it_describes(void **state)
{
	struct vmon_error err = { 0 };
	json_object *o;
	(void)state;
	assert_int_equal(fc_json_parse_object("{\"name\": \"x\", \"count\": 32, \"flag\": true, \"colour\": \"Green\", "
					      "\"level\": \"rED\", \"inner\": {\"size\": 0}, \"list\": [\"a\"], "
					      "\"map\": {\"k\": \"v\"}}", &schema, &o, &err), 0);
	assert_string_equal(fc_json_str(o, "name", NULL), "x");
	assert_int_equal(fc_json_int(o, "count", 0), 32);
	assert_true(fc_json_bool(o, "flag", false));
	assert_int_equal(fc_json_choice(colours, fc_json_str(o, "level", ""), true), 0);
	json_object_put(o);
	/* null is an absent optional field. */
	assert_int_equal(fc_json_parse_object("{\"name\": \"x\", \"count\": null}", &schema, &o, &err), 0);
	assert_int_equal(fc_json_int(o, "count", 7), 7);
	assert_null(fc_json_get(o, "count"));
	json_object_put(o);
}

static void schema_refusals_name_the_field(void **state)
{
	static const struct {
		const char *body, *msg;
	} bad[] = {
		{ "{\"name\": \"x\", \"foo\": 1}", "unknown field \"foo\"" },
		{ "{\"count\": 1}", "name: required" },
		{ "{\"name\": null}", "name: required, and null is not a value" },
		{ "{\"name\": 5}", "name: expected a string" },
		{ "{\"name\": \"a\\u0000b\"}", "name: contains a NUL character" },
		{ "{\"name\": \"x\", \"count\": 0}", "count: must be between 1 and 32 (got 0)" },
		{ "{\"name\": \"x\", \"count\": 33}", "count: must be between 1 and 32 (got 33)" },
		{ "{\"name\": \"x\", \"count\": 1.0}", "count: expected an integer" },
		{ "{\"name\": \"x\", \"count\": \"1\"}", "count: expected an integer" },
		{ "{\"name\": \"x\", \"flag\": 1}", "flag: expected a boolean" },
		{ "{\"name\": \"x\", \"colour\": \"red\"}", "colour: must be one of \"Red\", \"Green\" (got \"red\")" },
		{ "{\"name\": \"x\", \"inner\": []}", "inner: expected an object" },
		{ "{\"name\": \"x\", \"inner\": {}}", "inner.size: required" },
		{ "{\"name\": \"x\", \"inner\": {\"size\": -1}}", "inner.size: must be at least 0 (got -1)" },
		{ "{\"name\": \"x\", \"inner\": {\"size\": 18446744073709551615}}", "inner.size: 18446744073709551615 is too large" },
		{ "{\"name\": \"x\", \"inner\": {\"size\": 1, \"x\": 1}}", "inner: unknown field \"x\"" },
		{ "{\"name\": \"x\", \"list\": [\"a\", 1]}", "list[1]: expected a string" },
		{ "{\"name\": \"x\", \"list\": \"a\"}", "list: expected an array of strings" },
		{ "{\"name\": \"x\", \"map\": {\"k\": 1}}", "map.k: expected a string" },
		{ "[]", "body: expected a JSON object" },
	};
	struct vmon_error err = { 0 };
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (check(bad[i].body, &err) != -EINVAL)
			fail_msg("%s taken", bad[i].body);
		if (strcmp(err.msg, bad[i].msg))
			fail_msg("%s: got '%s', expected '%s'", bad[i].body, err.msg, bad[i].msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc8259_json_is_taken),
		cmocka_unit_test(what_json_c_would_take_is_refused),
		cmocka_unit_test(strings_must_be_utf8),
		cmocka_unit_test(depth_is_bounded),
		cmocka_unit_test(schema_accepts_what_it_describes),
		cmocka_unit_test(schema_refusals_name_the_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
