/* SPDX-License-Identifier: MIT */
#include "api/mmds.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/fc_json.h"

struct mmds {
	pthread_mutex_t lock;
	json_object *store;   /* NULL until the first PUT */
	size_t size_limit;
};

int mmds_create(struct mmds **out, size_t size_limit, struct vmon_error *err)
{
	struct mmds *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return error_set(err, -ENOMEM, "mmds: out of memory");
	pthread_mutex_init(&m->lock, NULL);
	m->size_limit = size_limit ? size_limit : MMDS_DEFAULT_SIZE_LIMIT;
	*out = m;
	return 0;
}

void mmds_destroy(struct mmds *m)
{
	if (!m)
		return;
	json_object_put(m->store);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

size_t mmds_size_limit(const struct mmds *m)
{
	return m->size_limit;
}

/* json-c takes NaN and Infinity in numbers like 1e999; a store that GET could not print as JSON is refused. */
static bool all_finite(json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_double:
		return isfinite(json_object_get_double(o));
	case json_type_object: {
		json_object_object_foreach(o, key, val) {
			(void)key;
			if (!all_finite(val))
				return false;
		}
		return true;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (!all_finite(json_object_array_get_idx(o, i)))
				return false;
		return true;
	default:
		return true;
	}
}

static int parse_object(const char *body, json_object **out, struct vmon_error *err)
{
	int ret;

	*out = NULL;
	if (!body)
		return error_set(err, -EINVAL, "body: missing");
	if ((ret = fc_json_parse(body, strlen(body), out, err)))
		return ret;
	if (!json_object_is_type(*out, json_type_object))
		ret = error_set(err, -EINVAL, "body: the MMDS data store must be a JSON object");
	else if (!all_finite(*out))
		ret = error_set(err, -EINVAL, "body: a number is out of range (not finite)");
	if (ret) {
		json_object_put(*out);
		*out = NULL;
	}
	return ret;
}

/* Takes the candidate store when it fits the limit; drops it otherwise. Called with the lock held. */
static int commit(struct mmds *m, json_object *next, struct vmon_error *err)
{
	const char *text = json_object_to_json_string_ext(next, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len;

	if (!text) {
		json_object_put(next);
		return error_set(err, -ENOMEM, "mmds: out of memory");
	}
	len = strlen(text);
	if (len > m->size_limit) {
		json_object_put(next);
		return error_set(err, -E2BIG, "mmds: the data store would be %zu bytes, over the limit of %zu", len,
				 m->size_limit);
	}
	json_object_put(m->store);
	m->store = next;
	return 0;
}

int mmds_put(struct mmds *m, const char *body, struct vmon_error *err)
{
	json_object *next;
	int ret = parse_object(body, &next, err);

	if (ret)
		return ret;
	pthread_mutex_lock(&m->lock);
	ret = commit(m, next, err);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

/*
 * RFC 7396 section 2, applied in place to target (an object): a null member
 * removes the key, an object member merges into the key's object (replacing
 * a non-object), anything else replaces. Returns false when out of memory.
 */
static bool merge_patch(json_object *target, json_object *patch)
{
	json_object_object_foreach(patch, key, val) {
		json_object *cur = NULL;

		if (!val) {
			json_object_object_del(target, key);
			continue;
		}
		if (json_object_is_type(val, json_type_object)) {
			if (!json_object_object_get_ex(target, key, &cur) || !json_object_is_type(cur, json_type_object)) {
				cur = json_object_new_object();
				if (!cur || json_object_object_add(target, key, cur)) {
					json_object_put(cur);
					return false;
				}
			}
			if (!merge_patch(cur, val))
				return false;
			continue;
		}
		if (json_object_object_add(target, key, json_object_get(val))) {
			json_object_put(val);
			return false;
		}
	}
	return true;
}

int mmds_patch(struct mmds *m, const char *body, struct vmon_error *err)
{
	json_object *patch, *next = NULL;
	int ret = parse_object(body, &patch, err);

	if (ret)
		return ret;
	pthread_mutex_lock(&m->lock);
	if (!m->store) {
		ret = error_set(err, -EINVAL, "mmds: the data store is not initialized (PUT /mmds first)");
	} else if (json_object_deep_copy(m->store, &next, NULL) || !merge_patch(next, patch)) {
		json_object_put(next);
		ret = error_set(err, -ENOMEM, "mmds: out of memory");
	} else {
		ret = commit(m, next, err);
	}
	/*
	 * Under the lock: the store now shares the patch's values, and json-c's
	 * reference counts are not atomic. Put outside it, this drop raced the
	 * next patch's release of the old store (test_mmds lost a count: a leak).
	 */
	json_object_put(patch);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

char *mmds_get_json(struct mmds *m)
{
	char *text;

	pthread_mutex_lock(&m->lock);
	text = m->store ? fc_json_to_string(m->store) : strdup("{}");
	pthread_mutex_unlock(&m->lock);
	return text;
}

bool mmds_is_set(struct mmds *m)
{
	bool set;

	pthread_mutex_lock(&m->lock);
	set = m->store != NULL;
	pthread_mutex_unlock(&m->lock);
	return set;
}
