/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mmio's device models: how each is created behind the transport,
 * driven from the host side, checked and destroyed (fuzz_mmio_models.c).
 */
#ifndef VMON_FUZZ_MMIO_H
#define VMON_FUZZ_MMIO_H

#include "fuzz_device.h"

#include "base/event_loop.h"
#include "virtio/mmio.h"

#define FUZZ_MMIO_BASE 0xd0000000ull
#define FUZZ_MMIO_GSI 5
#define FUZZ_MMIO_RAM_SIZE (2u << 20)
#define FUZZ_VSOCK_CLIENTS 4

struct fuzz_net_backend;

/* One machine: fuzz_mmio drives side a and restores its states into its twin. */
struct side {
	struct fake_host h;
	struct event_loop loop;
	struct virtio_transport t;
	const struct fuzz_model *m;
	void *model;
	const struct virtio_device_ops *ops;
	const struct device_ops *reg_ops;
	char name;                    /* 'a' or 'b': tells the two sides' files apart */
	unsigned restores;            /* restores accepted: the model's saved counters start over */

	/* Per model. */
	struct fuzz_net_backend *net_be;
	uint64_t net_rx_ok, net_rx_no_space;     /* what the device answered frames delivered to it */
	int vsock_client[FUZZ_VSOCK_CLIENTS];    /* host clients of the vsock socket, -1: none */
	uint32_t balloon_target;                 /* num_pages the host set (or the last restore) */
	unsigned balloon_restores;               /* restores it has taken balloon_target from */
};

struct fuzz_model {
	const char *name;
	/* Sets model, ops and reg_ops (the transport is initialised after it, as the machine does). */
	int (*create)(struct side *s, struct vmon_error *err);
	void (*stop)(struct side *s);            /* before the transport goes; NULL: nothing to stop */
	void (*destroy)(struct side *s);
	/* Operation 8: the host side. in/left: the input after the op. Returns the input bytes it took. */
	size_t (*host_op)(struct side *s, const uint8_t op[8], const uint8_t *in, size_t left);
	void (*check)(struct side *s);           /* the model's own invariants; NULL: none */
	fuzz_restored_fn *restored;              /* what restore() sets by design (fuzz_device.h) */
	void (*trace)(struct side *s);           /* FUZZ_MMIO_TRACE: a few words on stderr */
};

/* Indexed by input byte 0 % fuzz_model_count: 0 rng and 1 blk keep their meaning. */
extern const struct fuzz_model fuzz_models[];
extern const unsigned fuzz_model_count;

/* Files the models need (the blk image), made once per process and removed at exit. */
void fuzz_models_setup_once(void);

#endif
