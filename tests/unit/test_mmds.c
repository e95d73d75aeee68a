/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/mmds.h"

static struct mmds *store;

static int mmds_setup(void **state)
{
	(void)state;
	return mmds_create(&store, 0, NULL);
}

static int mmds_teardown(void **state)
{
	(void)state;
	mmds_destroy(store);
	return 0;
}

static void assert_store(const char *expected)
{
	char *json = mmds_get_json(store);

	assert_non_null(json);
	assert_string_equal(json, expected);
	free(json);
}

static void empty_until_put(void **state)
{
	struct vmon_error err = { 0 };
	(void)state;
	assert_false(mmds_is_set(store));
	assert_int_equal(mmds_size_limit(store), MMDS_DEFAULT_SIZE_LIMIT);
	assert_store("{}");
	assert_int_equal(mmds_patch(store, "{\"a\": 1}", &err), -EINVAL);
	assert_string_equal(err.msg, "mmds: the data store is not initialized (PUT /mmds first)");
	assert_false(mmds_is_set(store));
}

static void put_replaces(void **state)
{
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(mmds_put(store, "{\"latest\": {\"meta-data\": {\"ami-id\": \"ami-1\", \"path\": \"/a/b\"}}}",
				  &err), 0);
	assert_true(mmds_is_set(store));
	assert_store("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-1\",\"path\":\"/a/b\"}}}");
	assert_int_equal(mmds_put(store, "{\"b\": [1, 2.5, null, true]}", &err), 0);
	assert_store("{\"b\":[1,2.5,null,true]}");
}

/* RFC 7396 appendix A, the test cases that start from an object and patch with one. */
static void merge_patch_follows_rfc7396(void **state)
{
	static const struct {
		const char *target, *patch, *result;
	} cases[] = {
		{ "{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
		{ "{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}" },
		{ "{\"a\":\"b\"}", "{\"a\":null}", "{}" },
		{ "{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}" },
		{ "{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
		{ "{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}" },
		{ "{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}" },
		{ "{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}" },
		{ "{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}" },
		{ "{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}" },
		{ "{\"a\":\"b\"}", "{}", "{\"a\":\"b\"}" },
	};
	struct vmon_error err = { 0 };
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(mmds_put(store, cases[i].target, &err), 0);
		if (mmds_patch(store, cases[i].patch, &err))
			fail_msg("case %zu: %s", i, err.msg);
		assert_store(cases[i].result);
	}
}

static void bad_bodies_change_nothing(void **state)
{
	static const struct {
		const char *body, *msg;
	} bad[] = {
		{ "[1, 2]", "body: the MMDS data store must be a JSON object" },
		{ "\"text\"", "body: the MMDS data store must be a JSON object" },
		{ "{\"a\": 1e999}", "body: a number is out of range (not finite)" },
		{ "{\"a\": NaN}", "body: not valid JSON (unexpected 'NaN')" },
		{ "{\"a\": 1,}", NULL },
		{ "", "body: not valid JSON (empty)" },
	};
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(mmds_put(store, "{\"keep\": \"me\"}", &err), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mmds_put(store, bad[i].body, &err), -EINVAL);
		if (bad[i].msg)
			assert_string_equal(err.msg, bad[i].msg);
		assert_int_equal(mmds_patch(store, bad[i].body, &err), -EINVAL);
		assert_store("{\"keep\":\"me\"}");
	}
	assert_int_equal(mmds_put(store, NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "body: missing");
}

static void size_limit_refuses_with_e2big(void **state)
{
	struct mmds *small;
	struct vmon_error err = { 0 };
	(void)state;
	assert_int_equal(mmds_create(&small, 20, &err), 0);
	assert_int_equal(mmds_put(small, "{\"k\": \"0123456789\"}", &err), 0);   /* {"k":"0123456789"}: 18 bytes */
	assert_int_equal(mmds_put(small, "{\"k\": \"0123456789abc\"}", &err), -E2BIG);
	assert_string_equal(err.msg, "mmds: the data store would be 21 bytes, over the limit of 20");
	assert_int_equal(mmds_patch(small, "{\"x\": 1}", &err), -E2BIG);
	assert_string_equal(err.msg, "mmds: the data store would be 24 bytes, over the limit of 20");
	char *json = mmds_get_json(small);
	assert_string_equal(json, "{\"k\":\"0123456789\"}");
	free(json);
	/* A patch that shrinks the store is fine. */
	assert_int_equal(mmds_patch(small, "{\"k\": null, \"x\": 1}", &err), 0);
	json = mmds_get_json(small);
	assert_string_equal(json, "{\"x\":1}");
	free(json);
	mmds_destroy(small);
	mmds_destroy(NULL);
}

static void *patcher(void *arg)
{
	struct vmon_error err = { 0 };
	char patch[64];

	for (int i = 0; i < 200; i++) {
		snprintf(patch, sizeof(patch), "{\"t%d\": {\"n\": %d}}", (int)(intptr_t)arg, i);
		if (mmds_patch(store, patch, &err))
			return (void *)1;
		free(mmds_get_json(store));
	}
	return NULL;
}

static void concurrent_patches_all_land(void **state)
{
	pthread_t threads[4];
	struct vmon_error err = { 0 };
	void *ret;
	(void)state;
	/* The keys exist first, so that their order does not depend on which thread runs first. */
	assert_int_equal(mmds_put(store, "{\"t0\": 0, \"t1\": 0, \"t2\": 0, \"t3\": 0}", &err), 0);
	for (intptr_t i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, patcher, (void *)i), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(threads[i], &ret), 0);
		assert_null(ret);
	}
	assert_store("{\"t0\":{\"n\":199},\"t1\":{\"n\":199},\"t2\":{\"n\":199},\"t3\":{\"n\":199}}");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, mmds_setup, mmds_teardown)
	const struct CMUnitTest tests[] = {
		T(empty_until_put),
		T(put_replaces),
		T(merge_patch_follows_rfc7396),
		T(bad_bodies_change_nothing),
		T(size_limit_refuses_with_e2big),
		T(concurrent_patches_all_land),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
