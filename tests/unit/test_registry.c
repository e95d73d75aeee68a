/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/registry.h"

/* A fake device: a counter as its state, with a call log shared by all of them. */
struct counter_state {
	uint32_t value;
	uint32_t max;        /* restore refuses value > max */
};

struct counter {
	struct counter_state s;
};

static char call_log[256];

static void log_call(const char *what, struct counter *c)
{
	size_t n = strlen(call_log);
	snprintf(call_log + n, sizeof(call_log) - n, "%s%s:%u", n ? " " : "", what, c->s.max);
}

static void counter_reset(void *dev) { struct counter *c = dev; c->s.value = 0; log_call("reset", c); }
static void counter_save(void *dev, void *state) { memcpy(state, &((struct counter *)dev)->s, sizeof(struct counter_state)); }
static int counter_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct counter *c = dev;
	struct counter_state s;

	memcpy(&s, state, sizeof(s));
	if (s.value > s.max)
		return error_set(err, -EINVAL, "value %u above max %u", s.value, s.max);
	c->s = s;
	return 0;
}
static void counter_pause(void *dev) { log_call("pause", dev); }
static void counter_resume(void *dev) { log_call("resume", dev); }
static void counter_destroy(void *dev) { log_call("destroy", dev); }

static const struct device_ops counter_ops = {
	.kind = "counter", .state_version = 3, .state_size = sizeof(struct counter_state),
	.reset = counter_reset, .save = counter_save, .restore = counter_restore,
	.pause = counter_pause, .resume = counter_resume, .destroy = counter_destroy,
};
static const struct device_ops other_ops = {
	.kind = "other", .state_version = 3, .state_size = sizeof(struct counter_state),
	.reset = counter_reset, .save = counter_save, .restore = counter_restore,
};

static struct counter a = { { 5, 10 } }, b = { { 7, 20 } };

static void two_devices(struct device_registry *reg)
{
	const struct device_resource res = { DEVICE_RES_PIO, 0x3f8, 8 };

	registry_init(reg);
	a.s = (struct counter_state){ 5, 10 };
	b.s = (struct counter_state){ 7, 20 };
	assert_int_equal(registry_add(reg, "a", &counter_ops, &a, &res, 1, NULL), 0);
	assert_int_equal(registry_add(reg, "b", &counter_ops, &b, NULL, 0, NULL), 0);
	call_log[0] = '\0';
}

static void adds_finds_and_refuses_bad_entries(void **state)
{
	struct device_registry reg;
	struct vmon_error err = { 0 };
	struct device_ops incomplete = counter_ops;
	(void)state;

	two_devices(&reg);
	assert_int_equal(reg.count, 2);
	assert_ptr_equal(registry_find(&reg, "a")->dev, &a);
	assert_int_equal(registry_find(&reg, "a")->res[0].base, 0x3f8);
	assert_null(registry_find(&reg, "c"));
	assert_int_equal(registry_add(&reg, "a", &counter_ops, &a, NULL, 0, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "device a is registered twice"));
	assert_int_equal(registry_add(&reg, "", &counter_ops, &a, NULL, 0, &err), -EINVAL);
	assert_int_equal(registry_add(&reg, "a-name-that-is-far-too-long", &counter_ops, &a, NULL, 0, &err), -EINVAL);
	incomplete.save = NULL;
	assert_int_equal(registry_add(&reg, "c", &incomplete, &a, NULL, 0, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "incomplete"));
	assert_int_equal(registry_add(&reg, "c", &counter_ops, &a, NULL, DEVICE_MAX_RESOURCES + 1, &err), -EINVAL);
	for (unsigned i = reg.count; i < REGISTRY_MAX_DEVICES; i++) {
		char name[16];
		snprintf(name, sizeof(name), "d%u", i);
		assert_int_equal(registry_add(&reg, name, &other_ops, &a, NULL, 0, NULL), 0);
	}
	assert_int_equal(registry_add(&reg, "full", &other_ops, &a, NULL, 0, &err), -ENOSPC);
}

static void lifecycle_calls_go_in_order_and_pause_destroy_in_reverse(void **state)
{
	struct device_registry reg;
	(void)state;

	two_devices(&reg);
	registry_reset(&reg);
	registry_pause(&reg);
	registry_resume(&reg);
	registry_destroy(&reg);
	assert_string_equal(call_log, "reset:10 reset:20 pause:20 pause:10 resume:10 resume:20 destroy:20 destroy:10");
	assert_int_equal(reg.count, 0);
}

static void save_then_restore_round_trips(void **state)
{
	struct device_registry reg;
	struct vmon_error err = { 0 };
	(void)state;

	two_devices(&reg);
	size_t size = registry_state_size(&reg);
	assert_int_equal(size, 2 * (sizeof(struct registry_section) + sizeof(struct counter_state)));
	uint8_t *buf = malloc(size);
	assert_int_equal(registry_save(&reg, buf, size), size);
	assert_int_equal(registry_save(&reg, buf, size - 1), 0);   /* too small: nothing */

	a.s.value = 1;
	b.s.value = 2;
	assert_int_equal(registry_restore(&reg, buf, size, &err), 0);
	assert_int_equal(a.s.value, 5);
	assert_int_equal(b.s.value, 7);
	free(buf);
}

/* Saves, lets corrupt() damage the string, and checks the restore refuses it without changing a or b. */
static void expect_refused(void (*corrupt)(uint8_t *buf, size_t *size), const char *why)
{
	struct device_registry reg;
	struct vmon_error err = { 0 };

	two_devices(&reg);
	size_t size = registry_state_size(&reg);
	uint8_t *buf = calloc(1, size + 64);
	registry_save(&reg, buf, size);
	corrupt(buf, &size);
	a.s.value = 1;
	b.s.value = 2;
	assert_int_equal(registry_restore(&reg, buf, size, &err), -EINVAL);
	if (!strstr(err.msg, why))
		fail_msg("error '%s' lacks '%s'", err.msg, why);
	assert_int_equal(a.s.value, 1);
	assert_int_equal(b.s.value, 2);
	free(buf);
}

#define SECTION(buf, i) ((struct registry_section *)((buf) + (i) * (sizeof(struct registry_section) + sizeof(struct counter_state))))
#define STATE(buf, i) ((struct counter_state *)((uint8_t *)SECTION(buf, i) + sizeof(struct registry_section)))

static void truncate_(uint8_t *buf, size_t *size) { (void)buf; *size -= 3; }
static void extra(uint8_t *buf, size_t *size) { (void)buf; *size += 8; }
static void rename_(uint8_t *buf, size_t *size) { (void)size; strcpy(SECTION(buf, 1)->name, "z"); }
static void rekind(uint8_t *buf, size_t *size) { (void)size; strcpy(SECTION(buf, 0)->kind, "other"); }
static void reversion(uint8_t *buf, size_t *size) { (void)size; SECTION(buf, 1)->version = 4; }
static void resize(uint8_t *buf, size_t *size) { (void)size; SECTION(buf, 0)->size = 4; }
static void unterminated(uint8_t *buf, size_t *size) { (void)size; memset(SECTION(buf, 0)->name, 'x', DEVICE_NAME_MAX); }
static void bad_second_value(uint8_t *buf, size_t *size) { (void)size; STATE(buf, 1)->value = 99; }

static void damaged_states_change_nothing(void **state)
{
	(void)state;
	expect_refused(truncate_, "cut short");
	expect_refused(extra, "8 bytes after the last device");
	expect_refused(rename_, "section 1 is 'z', expected device b");
	expect_refused(rekind, "a is a other, this machine's is a counter");
	expect_refused(reversion, "state version 4, this vmon reads 3");
	expect_refused(resize, "4 bytes of state, expected 8");
	expect_refused(unterminated, "unterminated");
	/* The second device refuses its fields: the first, already restored, is rolled back. */
	expect_refused(bad_second_value, "restoring b: value 99 above max 20");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(adds_finds_and_refuses_bad_entries),
		cmocka_unit_test(lifecycle_calls_go_in_order_and_pause_destroy_in_reverse),
		cmocka_unit_test(save_then_restore_round_trips),
		cmocka_unit_test(damaged_states_change_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
