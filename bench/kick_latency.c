/* SPDX-License-Identifier: MIT */
/*
 * kick_latency: how long a thread takes to come back to user space after pthread_kill, when it sits in
 * KVM_RUN (a one-vCPU VM looping on `jmp $` in real mode, CPL0: on a PVM host that runs in KVM's
 * instruction emulator) versus in nanosleep. This is the floor of vmon's pause (PATCH /vm Paused):
 * vm_pause() kicks every vCPU thread out of KVM_RUN with SIGUSR1 + immediate_exit and waits for it
 * to park (bench/api.py measures the pause itself).
 * Each sample: set immediate_exit, pthread_kill, spin until the thread has seen EINTR and acknowledged;
 * 2 ms between samples. Prints p50/p99/max.
 * Build and run: cc -O2 -std=c17 -pthread -o /tmp/kick_latency bench/kick_latency.c && /tmp/kick_latency [N]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define GUEST_MEM 0x10000

static int vcpu_fd;
static struct kvm_run *run;
static atomic_bool in_kvm;
static atomic_uint kicks, acks;

static void on_kick(int sig)
{
	(void)sig;   /* the EINTR is the point */
}

static void die(const char *what)
{
	fprintf(stderr, "kick_latency: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void *target(void *arg)
{
	(void)arg;
	for (;;) {
		if (atomic_load(&in_kvm)) {
			if (ioctl(vcpu_fd, KVM_RUN, 0) == 0) {
				fprintf(stderr, "kick_latency: unexpected KVM exit %u\n", run->exit_reason);
				exit(1);
			}
			if (errno != EINTR)
				die("KVM_RUN");
			run->immediate_exit = 0;
		} else {
			struct timespec second = { 1, 0 };
			nanosleep(&second, NULL);
		}
		if (atomic_load(&kicks) != atomic_load(&acks))
			atomic_fetch_add(&acks, 1);
	}
	return NULL;
}

static void setup_vm(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	unsigned char *mem = mmap(NULL, GUEST_MEM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap guest memory");
	mem[0] = 0xeb;   /* jmp $ */
	mem[1] = 0xfe;
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = GUEST_MEM, .userspace_addr = (unsigned long)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	if ((vcpu_fd = ioctl(vm, KVM_CREATE_VCPU, 0)) < 0)
		die("KVM_CREATE_VCPU");
	int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < 0)
		die("KVM_GET_VCPU_MMAP_SIZE");
	run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");
	struct kvm_sregs sregs;
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		die("KVM_SET_SREGS");
	struct kvm_regs regs = { .rflags = 2 };
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_REGS");
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void measure(pthread_t thread, int n, const char *where)
{
	double *us = malloc((size_t)n * sizeof(*us));

	if (!us)
		die("malloc");
	for (int i = 0; i < n; i++) {
		double t0 = now_us();
		atomic_fetch_add(&kicks, 1);
		if (in_kvm)
			__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		pthread_kill(thread, SIGUSR1);
		while (atomic_load(&acks) != atomic_load(&kicks))
			;
		us[i] = now_us() - t0;
		usleep(2000);
	}
	qsort(us, (size_t)n, sizeof(*us), by_value);
	printf("thread in %s: kick -> back in user space: p50 %.1f us, p99 %.1f us, max %.1f us (n=%d)\n", where,
	       us[(n - 1) / 2], us[(n * 99 + 99) / 100 - 1], us[n - 1], n);
	free(us);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	struct sigaction sa = { .sa_handler = on_kick };
	pthread_t thread;

	if (n < 1) {
		fprintf(stderr, "usage: kick_latency [SAMPLES >= 1]\n");
		return 2;
	}
	if (sigaction(SIGUSR1, &sa, NULL) < 0)
		die("sigaction");
	setup_vm();
	if (pthread_create(&thread, NULL, target, NULL))
		die("pthread_create");
	usleep(100000);
	measure(thread, n, "nanosleep");
	atomic_store(&in_kvm, true);
	pthread_kill(thread, SIGUSR1);   /* out of its nanosleep, into KVM_RUN */
	usleep(100000);
	measure(thread, n, "KVM_RUN (guest: real-mode jmp $)");
	return 0;
}
