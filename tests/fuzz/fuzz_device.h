/* SPDX-License-Identifier: MIT */
/*
 * What the device-model fuzz targets share: a fake machine (buses, interrupt
 * lines, stop requests) each device is plugged into, and the checks every
 * device model owes a snapshot (devices/device.h):
 *   - a state the guest can reach is one restore() accepts, and saving the
 *     restored device gives the same bytes;
 *   - restore() of arbitrary bytes either refuses them with a message and
 *     -EINVAL, leaving the device as it was, or accepts a state that is
 *     itself restorable (so a snapshot of a restored VM loads again).
 * A broken invariant aborts, which libFuzzer reports as a crash.
 */
#ifndef VMON_FUZZ_DEVICE_H
#define VMON_FUZZ_DEVICE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device.h"

#define FUZZ_MAX_GSI 32
#define FUZZ_MAX_STATE 4096

struct fake_host {
	struct io_bus pio, mmio;
	struct device_host host;
	int irq[FUZZ_MAX_GSI];        /* level last driven on each line, -1 = never */
	unsigned stops;               /* stop requests */
	enum vm_stop_reason last_stop;
};

static inline void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz invariant broken: %s\n", what);
	abort();
}

#define FUZZ_CHECK(cond)                                  \
	do {                                              \
		if (!(cond))                              \
			fuzz_fail(#cond);                 \
	} while (0)

static void fake_set_irq(void *ctx, unsigned gsi, int level)
{
	struct fake_host *h = ctx;

	FUZZ_CHECK(gsi < FUZZ_MAX_GSI);
	FUZZ_CHECK(level == 0 || level == 1);
	h->irq[gsi] = level;
}

static void fake_request_stop(void *ctx, enum vm_stop_reason reason, int exit_status)
{
	struct fake_host *h = ctx;

	(void)exit_status;
	h->stops++;
	h->last_stop = reason;
}

static inline void fake_host_init(struct fake_host *h, const struct guest_mem *mem)
{
	memset(h, 0, sizeof(*h));
	io_bus_init(&h->pio, "pio");
	io_bus_init(&h->mmio, "mmio");
	for (unsigned i = 0; i < FUZZ_MAX_GSI; i++)
		h->irq[i] = -1;
	h->host = (struct device_host){ .pio = &h->pio, .mmio = &h->mmio, .set_irq = fake_set_irq,
					.request_stop = fake_request_stop, .mem = mem, .ctx = h };
}

/*
 * What restore() changes by design in a state it takes (NULL: nothing): it
 * rewrites the saved bytes into those a save right after the restore gives
 * (virtio-vsock owes the driver a TRANSPORT_RESET after any restore).
 */
typedef void fuzz_restored_fn(void *state);

/* dev's state loads into twin (another instance of the model) and saves back unchanged (or as `restored` says). */
static inline void check_restorable_as(const struct device_ops *ops, void *dev, void *twin, fuzz_restored_fn *restored)
{
	static uint8_t a[FUZZ_MAX_STATE], b[FUZZ_MAX_STATE];
	struct vmon_error err = { 0 };

	FUZZ_CHECK(ops->state_size <= FUZZ_MAX_STATE);
	ops->save(dev, a);
	if (ops->restore(twin, a, &err)) {
		fprintf(stderr, "%s: a state the guest reached is refused: %s\n", ops->kind, err.msg);
		abort();
	}
	ops->save(twin, b);
	if (restored)
		restored(a);
	FUZZ_CHECK(memcmp(a, b, ops->state_size) == 0);
}

static inline void check_restorable(const struct device_ops *ops, void *dev, void *twin)
{
	check_restorable_as(ops, dev, twin, NULL);
}

/*
 * Restores dev from the state_size bytes at state (a hostile snapshot's
 * section). Returns whether they were accepted.
 */
static inline bool fuzz_restore_as(const struct device_ops *ops, void *dev, void *twin, const uint8_t *state,
				   fuzz_restored_fn *restored)
{
	static uint8_t before[FUZZ_MAX_STATE], after[FUZZ_MAX_STATE], copy[FUZZ_MAX_STATE];
	struct vmon_error err = { 0 };
	int r;

	ops->save(dev, before);
	memcpy(copy, state, ops->state_size); /* restore() takes no alignment for granted */
	r = ops->restore(dev, copy, &err);
	if (r) {
		FUZZ_CHECK(r == -EINVAL);
		FUZZ_CHECK(err.msg[0] != '\0');
		ops->save(dev, after);
		FUZZ_CHECK(memcmp(before, after, ops->state_size) == 0);
		return false;
	}
	check_restorable_as(ops, dev, twin, restored);
	return true;
}

static inline bool fuzz_restore(const struct device_ops *ops, void *dev, void *twin, const uint8_t *state)
{
	return fuzz_restore_as(ops, dev, twin, state, NULL);
}

#endif
