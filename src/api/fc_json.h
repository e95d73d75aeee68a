/* SPDX-License-Identifier: MIT */
#ifndef VMON_API_FC_JSON_H
#define VMON_API_FC_JSON_H

/*
 * Strict JSON for the API: parsing (json-c, behind a lexical gate for what
 * json-c 0.16 lets through even with JSON_TOKENER_STRICT) and checking a
 * body against a table that mirrors one definition of Firecracker's OpenAPI
 * document (/work/shared/reference/firecracker-api.yaml at the time of
 * writing: unknown fields, missing required ones, types, enums, ranges).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "base/error.h"

/*
 * Parses text[0..len) into *out (a new reference; json_object_put() it).
 * Refused with -EINVAL and "body: ..." in err: anything that is not RFC 8259
 * JSON (json-c alone takes single-quoted strings, NaN/Infinity, "1.", raw
 * control characters in strings, strings that are not UTF-8), nesting deeper than 32, and an object with
 * a key given twice (json-c would keep the last silently; Firecracker's serde
 * refuses it too).
 */
int fc_json_parse(const char *text, size_t len, json_object **out, struct vmon_error *err);

enum fc_json_type {
	FC_JSON_STRING,
	FC_JSON_BOOL,
	FC_JSON_INT,
	FC_JSON_OBJECT,        /* checked against .object */
	FC_JSON_STRING_ARRAY,
	FC_JSON_STRING_MAP,    /* object whose values are strings (additionalProperties: string) */
};

struct fc_json_schema;

struct fc_json_field {
	const char *name;
	enum fc_json_type type;
	bool required;
	int64_t min, max;                    /* FC_JSON_INT; both 0: any int64 */
	const char *const *choices;          /* FC_JSON_STRING enum, NULL-terminated; NULL: any string */
	bool choices_nocase;                 /* Logger.level is case-insensitive */
	const struct fc_json_schema *object; /* FC_JSON_OBJECT */
};

struct fc_json_schema {
	const struct fc_json_field *fields;
	size_t nfields;
};

#define FC_JSON_SCHEMA(array) { (array), sizeof(array) / sizeof((array)[0]) }

/*
 * Checks obj (a JSON object) against schema. A JSON null counts as an absent
 * optional field (serde's Option does the same). Errors, prefixed with
 * "prefix." when prefix is not NULL or empty: `unknown field "foo"`,
 * `vcpu_count: expected an integer`, `vcpu_count: must be between 1 and 32
 * (got 0)`, `cache_type: must be one of "Unsafe", "Writeback" (got "x")`,
 * `kernel_image_path: required`, `path_on_host: contains a NUL character`.
 */
int fc_json_check(json_object *obj, const struct fc_json_schema *schema, const char *prefix,
		  struct vmon_error *err);

/* Parse + the body must be an object + fc_json_check. */
int fc_json_parse_object(const char *body, const struct fc_json_schema *schema, json_object **out,
			 struct vmon_error *err);

/* Getters for a checked object: the field's value, or def when absent or null. */
json_object *fc_json_get(json_object *obj, const char *name);   /* NULL when absent or null */
const char *fc_json_str(json_object *obj, const char *name, const char *def);
bool fc_json_bool(json_object *obj, const char *name, bool def);
int64_t fc_json_int(json_object *obj, const char *name, int64_t def);

/* Index of value in a NULL-terminated choices list (case-insensitive if nocase), or -1. */
int fc_json_choice(const char *const *choices, const char *value, bool nocase);

/* strdup that keeps NULL as NULL; *ok is cleared on allocation failure. */
char *fc_json_strdup(const char *s, bool *ok);

/* json_object_to_json_string_ext(PLAIN, no "\/") copied into malloc'd memory; NULL when out of memory. */
char *fc_json_to_string(json_object *obj);

#endif
