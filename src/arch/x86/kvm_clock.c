/* SPDX-License-Identifier: MIT */
/* "kvm-clock": the VM's kvmclock (KVM_GET/SET_CLOCK), frozen while the machine is paused. */
#include "arch/x86/kvm_devices.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "base/log.h"

_Static_assert(sizeof(struct kvm_clock_dev_state) == 16, "no hidden padding");

struct kvm_clock_dev {
	int vm_fd;
	bool frozen;          /* paused: the guest's clock stands at frozen_ns until resume */
	uint64_t frozen_ns;
};

static int get_clock(int vm_fd, uint64_t *ns, struct vmon_error *err)
{
	struct kvm_clock_data data;

	memset(&data, 0, sizeof(data));
	if (ioctl(vm_fd, KVM_GET_CLOCK, &data) < 0)
		return error_set(err, -errno, "KVM_GET_CLOCK: %s", strerror(errno));
	*ns = data.clock;
	return 0;
}

/* flags 0: the clock is set to exactly ns (no KVM_CLOCK_REALTIME catch-up). */
static int set_clock(int vm_fd, uint64_t ns, struct vmon_error *err)
{
	struct kvm_clock_data data;

	memset(&data, 0, sizeof(data));
	data.clock = ns;
	if (ioctl(vm_fd, KVM_SET_CLOCK, &data) < 0)
		return error_set(err, -errno, "KVM_SET_CLOCK %llu ns: %s", (unsigned long long)ns, strerror(errno));
	return 0;
}

int kvm_clock_state_check(const struct kvm_clock_dev_state *s, struct vmon_error *err)
{
	if (s->save_errno)
		return error_set(err, -EINVAL, "the kvmclock state is incomplete: KVM_GET_CLOCK failed when it was "
				 "saved (%s)", strerror((int)s->save_errno));
	if (s->pad)
		return error_set(err, -EINVAL, "kvmclock state pad %u is not zero", s->pad);
	/* KVM keeps the clock as a signed 64-bit offset from the host's: more would wrap. */
	if (s->clock_ns > (uint64_t)INT64_MAX)
		return error_set(err, -EINVAL, "kvmclock clock_ns %llu above 2^63-1", (unsigned long long)s->clock_ns);
	return 0;
}

void *kvm_clock_dev_create(int vm_fd, struct vmon_error *err)
{
	struct kvm_clock_dev *d;
	uint64_t ns;

	/* Fail now, not at the first save, where KVM has no kvmclock control (KVM_CAP_ADJUST_CLOCK). */
	if (get_clock(vm_fd, &ns, err))
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d) {
		error_set(err, -ENOMEM, "out of memory for the kvm-clock device");
		return NULL;
	}
	d->vm_fd = vm_fd;
	return d;
}

/* Sets the guest's clock to ns now, or at resume while frozen. */
static int clock_load(struct kvm_clock_dev *d, uint64_t ns, struct vmon_error *err)
{
	int r = set_clock(d->vm_fd, ns, err);

	if (!r && d->frozen)
		d->frozen_ns = ns;
	return r;
}

/* A machine reset: the clock starts again at 0, as in a new VM. */
static void clock_reset(void *dev)
{
	struct vmon_error err = { 0 };

	if (clock_load(dev, 0, &err))
		log_error("kvm-clock reset: %s", err.msg);
}

static void clock_save(void *dev, void *state)
{
	struct kvm_clock_dev *d = dev;
	struct kvm_clock_dev_state *s = state;
	struct vmon_error err = { 0 };

	memset(s, 0, sizeof(*s));
	if (d->frozen) {
		s->clock_ns = d->frozen_ns;
	} else if (get_clock(d->vm_fd, &s->clock_ns, &err)) {
		log_error("kvm-clock save: %s", err.msg);
		s->save_errno = (uint32_t)-err.code;
	}
}

static int clock_restore(void *dev, const void *state, struct vmon_error *err)
{
	struct kvm_clock_dev_state s;
	int r;

	memcpy(&s, state, sizeof(s));
	if ((r = kvm_clock_state_check(&s, err)))
		return r;
	return clock_load(dev, s.clock_ns, err);
}

/* Pause reads the clock; resume sets it back, so the guest does not see the pause through kvmclock. */
static void clock_pause(void *dev)
{
	struct kvm_clock_dev *d = dev;
	struct vmon_error err = { 0 };

	if (d->frozen)
		return;
	if (get_clock(d->vm_fd, &d->frozen_ns, &err))
		log_error("kvm-clock pause: %s (the guest will see the pause)", err.msg);
	else
		d->frozen = true;
}

static void clock_resume(void *dev)
{
	struct kvm_clock_dev *d = dev;
	struct vmon_error err = { 0 };

	if (!d->frozen)
		return;
	d->frozen = false;
	if (set_clock(d->vm_fd, d->frozen_ns, &err))
		log_error("kvm-clock resume: %s", err.msg);
}

static void clock_destroy(void *dev)
{
	free(dev);
}

const struct device_ops kvm_clock_device_ops = {
	.kind = "kvm-clock",
	.state_version = KVM_CLOCK_STATE_VERSION,
	.state_size = sizeof(struct kvm_clock_dev_state),
	.reset = clock_reset,
	.save = clock_save,
	.restore = clock_restore,
	.pause = clock_pause,
	.resume = clock_resume,
	.destroy = clock_destroy,
};
