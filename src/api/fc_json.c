/* SPDX-License-Identifier: MIT */
#include "api/fc_json.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/utf8.h"

#define FC_JSON_MAX_DEPTH 32

/*
 * The lexical gate. json-c 0.16 parses the structure; this pass only refuses
 * the tokens json-c accepts although RFC 8259 does not (single quotes, NaN,
 * Infinity, "1.", raw control characters in strings, strings that are not
 * UTF-8: each measured with JSON_TOKENER_STRICT set) and counts the keys of every object in the order
 * the objects open, so that duplicate keys can be found after the parse.
 */
struct json_lex {
	const char *start, *p, *end;
	unsigned depth;
	bool in_object[FC_JSON_MAX_DEPTH + 1];
	size_t open_object[FC_JSON_MAX_DEPTH + 1];   /* index into keys[] of each open object */
	size_t *keys;                                 /* key count per object, in opening order */
	size_t nobjects, cap;
};

static int lex_string(struct json_lex *l, struct vmon_error *err)
{
	for (l->p++; l->p < l->end; l->p++) {
		unsigned char c = (unsigned char)*l->p;

		if (c == '"') {
			l->p++;
			return 0;
		}
		/* json-c keeps any byte; RFC 8259 text is UTF-8, and what is stored comes back in GET bodies. */
		if (c >= 0x80) {
			size_t n = utf8_char_len(l->p, (size_t)(l->end - l->p));
			if (!n)
				return error_set(err, -EINVAL, "body: not valid JSON (a string is not UTF-8: byte 0x%02x "
						 "at offset %zu)", c, (size_t)(l->p - l->start));
			l->p += n - 1;
			continue;
		}
		if (c < 0x20)
			return error_set(err, -EINVAL, "body: not valid JSON (a raw control character 0x%02x in a "
					 "string; write it as \\u%04x)", c, c);
		if (c == '\\') {
			if (++l->p >= l->end)
				break;
			if (*l->p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (l->p + i >= l->end || !isxdigit((unsigned char)l->p[i]))
						return error_set(err, -EINVAL, "body: not valid JSON (\\u takes 4 hex "
								 "digits)");
				l->p += 4;
			} else if (!strchr("\"\\/bfnrt", *l->p)) {
				/* Quoted only when printable: the message goes back to the client as JSON. */
				if (!isprint((unsigned char)*l->p))
					return error_set(err, -EINVAL, "body: not valid JSON (unknown escape: '\\' and "
							 "byte 0x%02x)", (unsigned char)*l->p);
				return error_set(err, -EINVAL, "body: not valid JSON (unknown escape \\%c)", *l->p);
			}
		}
	}
	return error_set(err, -EINVAL, "body: not valid JSON (unterminated string)");
}

static size_t digits(const char *p, const char *end)
{
	size_t n = 0;

	while (p + n < end && isdigit((unsigned char)p[n]))
		n++;
	return n;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int lex_number(struct json_lex *l, struct vmon_error *err)
{
	const char *p = l->p;
	size_t n;

	if (*p == '-')
		p++;
	n = digits(p, l->end);
	if (n == 0 || (n > 1 && *p == '0'))
		return error_set(err, -EINVAL, "body: not valid JSON (a number is malformed)");
	p += n;
	if (p < l->end && *p == '.') {
		if ((n = digits(++p, l->end)) == 0)
			return error_set(err, -EINVAL, "body: not valid JSON (a number ends in '.')");
		p += n;
	}
	if (p < l->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < l->end && (*p == '+' || *p == '-'))
			p++;
		if ((n = digits(p, l->end)) == 0)
			return error_set(err, -EINVAL, "body: not valid JSON (an exponent has no digits)");
		p += n;
	}
	l->p = p;
	return 0;
}

static int lex_word(struct json_lex *l, struct vmon_error *err)
{
	const char *s = l->p;
	size_t n = 0;

	while (s + n < l->end && isalpha((unsigned char)s[n]))
		n++;
	if (!((n == 4 && !memcmp(s, "true", 4)) || (n == 5 && !memcmp(s, "false", 5)) ||
	      (n == 4 && !memcmp(s, "null", 4))))
		return error_set(err, -EINVAL, "body: not valid JSON (unexpected '%.*s')", (int)(n > 16 ? 16 : n), s);
	l->p += n;
	return 0;
}

static int lex_open(struct json_lex *l, bool object, struct vmon_error *err)
{
	if (l->depth >= FC_JSON_MAX_DEPTH)
		return error_set(err, -EINVAL, "body: nested deeper than %d levels", FC_JSON_MAX_DEPTH);
	l->depth++;
	l->in_object[l->depth] = object;
	if (object) {
		if (l->nobjects == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 16;
			size_t *keys = realloc(l->keys, cap * sizeof(*keys));
			if (!keys)
				return error_set(err, -ENOMEM, "body: out of memory");
			l->keys = keys;
			l->cap = cap;
		}
		l->keys[l->nobjects] = 0;
		l->open_object[l->depth] = l->nobjects++;
	}
	l->p++;
	return 0;
}

static int lex(struct json_lex *l, struct vmon_error *err)
{
	int ret;

	while (l->p < l->end) {
		char c = *l->p;

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ':') {
			l->p++;
		} else if (c == '{' || c == '[') {
			if ((ret = lex_open(l, c == '{', err)))
				return ret;
		} else if (c == '}' || c == ']') {
			if (l->depth)
				l->depth--;
			l->p++;   /* mismatched brackets: json-c reports them */
		} else if (c == '"') {
			if ((ret = lex_string(l, err)))
				return ret;
			const char *q = l->p;
			while (q < l->end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
				q++;
			if (q < l->end && *q == ':' && l->depth && l->in_object[l->depth])
				l->keys[l->open_object[l->depth]]++;
		} else if (c == '-' || isdigit((unsigned char)c)) {
			if ((ret = lex_number(l, err)))
				return ret;
		} else if (isalpha((unsigned char)c)) {
			if ((ret = lex_word(l, err)))
				return ret;
		} else if (c == '\'') {
			return error_set(err, -EINVAL, "body: not valid JSON (strings take double quotes)");
		} else {
			return error_set(err, -EINVAL, "body: not valid JSON (unexpected character '%c')",
					 isprint((unsigned char)c) ? c : '?');
		}
	}
	return 0;
}

/* Pre-order, the objects come in the order they opened: a parsed object with fewer keys than written had one twice. */
static int check_keys(json_object *o, const struct json_lex *l, size_t *next, struct vmon_error *err)
{
	int ret;

	if (json_object_is_type(o, json_type_object)) {
		if (*next >= l->nobjects || (size_t)json_object_object_length(o) != l->keys[*next])
			return error_set(err, -EINVAL, "body: an object has the same key twice");
		(*next)++;
		json_object_object_foreach(o, key, val) {
			(void)key;
			if ((ret = check_keys(val, l, next, err)))
				return ret;
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if ((ret = check_keys(json_object_array_get_idx(o, i), l, next, err)))
				return ret;
	}
	return 0;
}

static bool all_space(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!strchr(" \t\r\n", text[i]) || !text[i])
			return false;
	return true;
}

int fc_json_parse(const char *text, size_t len, json_object **out, struct vmon_error *err)
{
	struct json_lex l = { .start = text, .p = text, .end = text + len };
	struct json_tokener *tok;
	json_object *obj = NULL;
	size_t next = 0;
	int ret;

	*out = NULL;
	if (len > INT32_MAX)
		return error_set(err, -E2BIG, "body: %zu bytes is too large", len);
	if (memchr(text, '\0', len))
		return error_set(err, -EINVAL, "body: not valid JSON (a NUL byte)");
	if ((ret = lex(&l, err)))
		goto out;
	tok = json_tokener_new_ex(FC_JSON_MAX_DEPTH + 1);
	if (!tok) {
		ret = error_set(err, -ENOMEM, "body: out of memory");
		goto out;
	}
	/* Without JSON_TOKENER_ALLOW_TRAILING_CHARS json-c refuses anything after the value but whitespace. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue) {
		/* The end of the input ends a number json-c is still reading ("12"); anything else is cut short. */
		obj = json_tokener_parse_ex(tok, "", 1);
		if ((jerr = json_tokener_get_error(tok)) == json_tokener_success) {
			end = len;
		} else {
			json_tokener_free(tok);
			ret = error_set(err, -EINVAL, "body: not valid JSON (%s)",
					all_space(text, len) ? "empty" : "ends too early");
			goto out;
		}
	}
	json_tokener_free(tok);
	if (jerr != json_tokener_success) {
		ret = error_set(err, -EINVAL, "body: not valid JSON (%s at byte %zu)", json_tokener_error_desc(jerr), end);
		goto out;
	}
	if (!obj) {   /* json-c's value for a document that is just "null" */
		ret = error_set(err, -EINVAL, "body: expected a JSON object (got null)");
		goto out;
	}
	if ((ret = check_keys(obj, &l, &next, err)))
		goto out;
	*out = obj;
	obj = NULL;
out:
	json_object_put(obj);
	free(l.keys);
	return ret;
}

static const char *type_text(enum fc_json_type t)
{
	switch (t) {
	case FC_JSON_STRING: return "a string";
	case FC_JSON_BOOL: return "a boolean";
	case FC_JSON_INT: return "an integer";
	case FC_JSON_OBJECT: return "an object";
	case FC_JSON_STRING_ARRAY: return "an array of strings";
	case FC_JSON_STRING_MAP: return "an object of strings";
	}
	return "?";
}

int fc_json_choice(const char *const *choices, const char *value, bool nocase)
{
	for (int i = 0; choices[i]; i++)
		if (nocase ? !strcasecmp(choices[i], value) : !strcmp(choices[i], value))
			return i;
	return -1;
}

static int check_string(json_object *v, const char *path, struct vmon_error *err)
{
	if (!json_object_is_type(v, json_type_string))
		return error_set(err, -EINVAL, "%s: expected a string", path);
	if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return error_set(err, -EINVAL, "%s: contains a NUL character", path);
	return 0;
}

static int check_choice(const struct fc_json_field *f, json_object *v, const char *path, struct vmon_error *err)
{
	const char *s = json_object_get_string(v);
	char list[160] = "";
	size_t used = 0;

	if (!f->choices || fc_json_choice(f->choices, s, f->choices_nocase) >= 0)
		return 0;
	for (int i = 0; f->choices[i] && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s\"%s\"", i ? ", " : "", f->choices[i]);
	return error_set(err, -EINVAL, "%s: must be one of %s (got \"%.40s\")", path, list, s);
}

static int check_int(const struct fc_json_field *f, json_object *v, const char *path, struct vmon_error *err)
{
	int64_t n;

	if (!json_object_is_type(v, json_type_int))
		return error_set(err, -EINVAL, "%s: expected an integer", path);
	n = json_object_get_int64(v);
	/* json-c saturates: past INT64_MAX the value is kept as an unsigned 64-bit one. */
	if (n == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX)
		return error_set(err, -EINVAL, "%s: %llu is too large", path,
				 (unsigned long long)json_object_get_uint64(v));
	if (f->min == 0 && f->max == 0)
		return 0;
	if (n < f->min || n > f->max) {
		if (f->max == INT64_MAX)
			return error_set(err, -EINVAL, "%s: must be at least %lld (got %lld)", path, (long long)f->min,
					 (long long)n);
		return error_set(err, -EINVAL, "%s: must be between %lld and %lld (got %lld)", path,
				 (long long)f->min, (long long)f->max, (long long)n);
	}
	return 0;
}

static int check_value(const struct fc_json_field *f, json_object *v, const char *path, struct vmon_error *err)
{
	int ret;

	switch (f->type) {
	case FC_JSON_STRING:
		return check_string(v, path, err) ?: check_choice(f, v, path, err);
	case FC_JSON_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			return error_set(err, -EINVAL, "%s: expected a boolean", path);
		return 0;
	case FC_JSON_INT:
		return check_int(f, v, path, err);
	case FC_JSON_OBJECT:
		if (!json_object_is_type(v, json_type_object))
			return error_set(err, -EINVAL, "%s: expected an object", path);
		return fc_json_check(v, f->object, path, err);
	case FC_JSON_STRING_ARRAY:
		if (!json_object_is_type(v, json_type_array))
			return error_set(err, -EINVAL, "%s: expected an array of strings", path);
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			char item[128];
			snprintf(item, sizeof(item), "%.100s[%zu]", path, i);
			if ((ret = check_string(json_object_array_get_idx(v, i), item, err)))
				return ret;
		}
		return 0;
	case FC_JSON_STRING_MAP:
		if (!json_object_is_type(v, json_type_object))
			return error_set(err, -EINVAL, "%s: expected an object of strings", path);
		json_object_object_foreach(v, key, val) {
			char item[128];
			snprintf(item, sizeof(item), "%.80s.%.40s", path, key);
			if ((ret = check_string(val, item, err)))
				return ret;
		}
		return 0;
	}
	return error_set(err, -EINVAL, "%s: expected %s", path, type_text(f->type));
}

int fc_json_check(json_object *obj, const struct fc_json_schema *schema, const char *prefix,
		  struct vmon_error *err)
{
	const char *sep = prefix && prefix[0] ? ": " : "";
	char path[128];
	int ret;

	if (!prefix)
		prefix = "";
	json_object_object_foreach(obj, key, val) {
		const struct fc_json_field *f = NULL;

		for (size_t i = 0; i < schema->nfields && !f; i++)
			if (!strcmp(schema->fields[i].name, key))
				f = &schema->fields[i];
		if (!f)
			return error_set(err, -EINVAL, "%s%sunknown field \"%.64s\"", prefix, sep, key);
		snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", key);
		if (json_object_is_type(val, json_type_null)) {
			if (f->required)
				return error_set(err, -EINVAL, "%s: required, and null is not a value", path);
			continue;
		}
		if ((ret = check_value(f, val, path, err)))
			return ret;
	}
	for (size_t i = 0; i < schema->nfields; i++) {
		if (schema->fields[i].required && !json_object_object_get_ex(obj, schema->fields[i].name, NULL)) {
			snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", schema->fields[i].name);
			return error_set(err, -EINVAL, "%s: required", path);
		}
	}
	return 0;
}

int fc_json_parse_object(const char *body, const struct fc_json_schema *schema, json_object **out,
			 struct vmon_error *err)
{
	json_object *obj;
	int ret;

	*out = NULL;
	if (!body)
		return error_set(err, -EINVAL, "body: missing");
	if ((ret = fc_json_parse(body, strlen(body), &obj, err)))
		return ret;
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return error_set(err, -EINVAL, "body: expected a JSON object");
	}
	if ((ret = fc_json_check(obj, schema, NULL, err))) {
		json_object_put(obj);
		return ret;
	}
	*out = obj;
	return 0;
}

json_object *fc_json_get(json_object *obj, const char *name)
{
	json_object *v;

	if (!obj || !json_object_object_get_ex(obj, name, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

const char *fc_json_str(json_object *obj, const char *name, const char *def)
{
	json_object *v = fc_json_get(obj, name);

	return v ? json_object_get_string(v) : def;
}

bool fc_json_bool(json_object *obj, const char *name, bool def)
{
	json_object *v = fc_json_get(obj, name);

	return v ? json_object_get_boolean(v) : def;
}

int64_t fc_json_int(json_object *obj, const char *name, int64_t def)
{
	json_object *v = fc_json_get(obj, name);

	return v ? json_object_get_int64(v) : def;
}

char *fc_json_strdup(const char *s, bool *ok)
{
	char *copy;

	if (!s)
		return NULL;
	copy = strdup(s);
	if (!copy)
		*ok = false;
	return copy;
}

char *fc_json_to_string(json_object *obj)
{
	const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	return s ? strdup(s) : NULL;
}
