/* SPDX-License-Identifier: MIT */
/* "kvm-pit": KVM's in-kernel 8254 (KVM_GET/SET_PIT2). */
#include "arch/x86/kvm_devices.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "base/log.h"

_Static_assert(sizeof(struct kvm_pit_channel) == 24, "no hidden padding");
_Static_assert(sizeof(struct kvm_pit_dev_state) == 80, "no hidden padding");

#define PIT_MAX_COUNT 0x10000u
#define PIT_MODE_UNSET 0xff        /* what KVM's reset leaves until the guest programs a channel */
#define PIT_KNOWN_FLAGS (KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON)

const struct device_resource kvm_pit_resources[KVM_PIT_NRES] = {
	{ DEVICE_RES_PIO, 0x40, 4 },
	{ DEVICE_RES_PIO, 0x61, 1 },
	{ DEVICE_RES_IRQ, 0, 1 },
};

struct kvm_pit_dev {
	int vm_fd;
	struct kvm_pit_state2 power_on;
};

/* KVM's count_load_time is ktime_get(): CLOCK_MONOTONIC in ns. */
static int64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void from_kvm(struct kvm_pit_dev_state *s, const struct kvm_pit_state2 *k, int64_t now)
{
	memset(s, 0, sizeof(*s));
	s->flags = k->flags;
	for (int i = 0; i < 3; i++) {
		const struct kvm_pit_channel_state *c = &k->channels[i];
		struct kvm_pit_channel *o = &s->channels[i];
		*o = (struct kvm_pit_channel){
			.count = c->count, .latched_count = c->latched_count, .count_latched = c->count_latched,
			.status_latched = c->status_latched, .status = c->status, .read_state = c->read_state,
			.write_state = c->write_state, .write_latch = c->write_latch, .rw_mode = c->rw_mode,
			.mode = c->mode, .bcd = c->bcd, .gate = c->gate,
			.load_age_ns = now > c->count_load_time ? now - c->count_load_time : 0,
		};
	}
}

static void to_kvm(struct kvm_pit_state2 *k, const struct kvm_pit_dev_state *s, int64_t now)
{
	memset(k, 0, sizeof(*k));
	k->flags = s->flags;
	for (int i = 0; i < 3; i++) {
		const struct kvm_pit_channel *c = &s->channels[i];
		k->channels[i] = (struct kvm_pit_channel_state){
			.count = c->count, .latched_count = c->latched_count, .count_latched = c->count_latched,
			.status_latched = c->status_latched, .status = c->status, .read_state = c->read_state,
			.write_state = c->write_state, .write_latch = c->write_latch, .rw_mode = c->rw_mode,
			.mode = c->mode, .bcd = c->bcd, .gate = c->gate,
			.count_load_time = now - c->load_age_ns,
		};
	}
}

int kvm_pit_state_check(const struct kvm_pit_dev_state *s, struct vmon_error *err)
{
	if (s->save_errno)
		return error_set(err, -EINVAL, "the PIT state is incomplete: KVM_GET_PIT2 failed when it was saved (%s)",
				 strerror((int)s->save_errno));
	if (s->flags & ~PIT_KNOWN_FLAGS)
		return error_set(err, -EINVAL, "PIT flags 0x%x has unknown bits", s->flags);
	for (int i = 0; i < 3; i++) {
		const struct kvm_pit_channel *c = &s->channels[i];
		if (c->count > PIT_MAX_COUNT)
			return error_set(err, -EINVAL, "PIT channel %d: count 0x%x above 0x10000", i, c->count);
		if (c->mode > 5 && c->mode != PIT_MODE_UNSET)
			return error_set(err, -EINVAL, "PIT channel %d: mode %u (0-5, or 0xff before programming)", i,
					 c->mode);
		if (c->rw_mode > 3 || c->count_latched > 3)
			return error_set(err, -EINVAL, "PIT channel %d: rw_mode %u / count_latched %u above 3", i,
					 c->rw_mode, c->count_latched);
		if (c->read_state > 4 || c->write_state > 4)
			return error_set(err, -EINVAL, "PIT channel %d: read_state %u / write_state %u above 4", i,
					 c->read_state, c->write_state);
		if (c->status_latched > 1 || c->bcd > 1 || c->gate > 1)
			return error_set(err, -EINVAL, "PIT channel %d: status_latched/bcd/gate is not 0 or 1", i);
		if (c->load_age_ns < 0)
			return error_set(err, -EINVAL, "PIT channel %d: load_age_ns %lld is negative", i,
					 (long long)c->load_age_ns);
	}
	return 0;
}

void *kvm_pit_dev_create(int vm_fd, struct vmon_error *err)
{
	struct kvm_pit_dev *d = calloc(1, sizeof(*d));

	if (!d) {
		error_set(err, -ENOMEM, "out of memory for the kvm-pit device");
		return NULL;
	}
	d->vm_fd = vm_fd;
	if (ioctl(vm_fd, KVM_GET_PIT2, &d->power_on) < 0) {
		error_set(err, -errno, "KVM_GET_PIT2: %s", strerror(errno));
		free(d);
		return NULL;
	}
	return d;
}

/* A machine reset: every channel back to KVM's power-on state (mode unset, count 0x10000, no HPET legacy). */
static void pit_reset(void *dev)
{
	struct kvm_pit_dev *d = dev;

	if (ioctl(d->vm_fd, KVM_SET_PIT2, &d->power_on) < 0)
		log_error("kvm-pit reset: KVM_SET_PIT2: %s", strerror(errno));
}

static void pit_save(void *dev, void *state)
{
	struct kvm_pit_dev *d = dev;
	struct kvm_pit_dev_state *s = state;
	struct kvm_pit_state2 k;

	if (ioctl(d->vm_fd, KVM_GET_PIT2, &k) < 0) {
		int e = errno;
		log_error("kvm-pit save: KVM_GET_PIT2: %s", strerror(e));
		memset(s, 0, sizeof(*s));
		s->save_errno = (uint32_t)e;
		return;
	}
	from_kvm(s, &k, monotonic_ns());
}

/*
 * KVM_SET_PIT2 reloads every channel with its count and restarts channel 0's
 * timer from now (KVM's kvm_pit_load_count): each channel starts its current
 * period afresh, losing at most one period of phase (55 ms at the slowest).
 */
static int pit_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct kvm_pit_dev *d = dev;
	struct kvm_pit_dev_state s;
	struct kvm_pit_state2 k;
	int r;

	memcpy(&s, state, sizeof(s));
	if ((r = kvm_pit_state_check(&s, err)))
		return r;
	to_kvm(&k, &s, monotonic_ns());
	if (ioctl(d->vm_fd, KVM_SET_PIT2, &k) < 0)
		return error_set(err, -errno, "KVM_SET_PIT2: %s", strerror(errno));
	return 0;
}

static void pit_destroy(void *dev)
{
	free(dev);
}

const struct device_ops kvm_pit_device_ops = {
	.kind = "kvm-pit",
	.state_version = KVM_PIT_STATE_VERSION,
	.state_size = sizeof(struct kvm_pit_dev_state),
	.reset = pit_reset,
	.save = pit_save,
	.restore = pit_restore,
	.destroy = pit_destroy,
};
