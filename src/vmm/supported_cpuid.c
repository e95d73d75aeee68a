/* SPDX-License-Identifier: MIT */
#include "vmm/supported_cpuid.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/cpuid.h"
#include "base/thread.h"

static void ask(struct supported_cpuid *q)
{
	q->cpuid = cpuid_alloc();
	if (!q->cpuid)
		q->error = -ENOMEM;
	else if (ioctl(q->kvm_fd, KVM_GET_SUPPORTED_CPUID, q->cpuid) < 0)
		q->error = -errno;
	q->done = true;
}

static void *ask_thread(void *arg)
{
	ask(arg);
	return NULL;
}

void supported_cpuid_start(struct supported_cpuid *q, int kvm_fd)
{
	memset(q, 0, sizeof(*q));
	q->kvm_fd = kvm_fd;
	/* Without a thread the answer is asked for in take(): slower, not wrong. */
	q->started = thread_start_without_signals(&q->thread, ask_thread, q, "vmon-cpuid") == 0;
}

static void join(struct supported_cpuid *q)
{
	if (q->started) {
		pthread_join(q->thread, NULL);
		q->started = false;
	}
}

int supported_cpuid_take(struct supported_cpuid *q, struct kvm_cpuid2 *out, struct vmon_error *err)
{
	join(q);
	if (!q->done)
		ask(q);
	if (q->error == -ENOMEM)
		return error_set(err, -ENOMEM, "out of memory for CPUID");
	if (q->error)
		return error_set(err, q->error, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-q->error));
	if (q->cpuid->nent > CPUID_MAX_ENTRIES)
		return error_set(err, -E2BIG, "KVM_GET_SUPPORTED_CPUID returned %u entries, room for %u",
				 q->cpuid->nent, CPUID_MAX_ENTRIES);
	out->nent = q->cpuid->nent;
	memcpy(out->entries, q->cpuid->entries, q->cpuid->nent * sizeof(out->entries[0]));
	return 0;
}

void supported_cpuid_destroy(struct supported_cpuid *q)
{
	join(q);
	free(q->cpuid);
	memset(q, 0, sizeof(*q));
	q->kvm_fd = -1;
}
