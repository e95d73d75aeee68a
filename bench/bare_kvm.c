/* SPDX-License-Identifier: MIT */
/*
 * bare_kvm: the floor for bench/startup.py — the least a KVM program can do
 * to get one byte out of a guest, with the machine vmon builds in outline:
 * open /dev/kvm, KVM_CREATE_VM, 64 MiB of anonymous memory given to KVM
 * (before the irqchip: on PVM hosts KVM_SET_USER_MEMORY_REGION costs ~30x
 * more after it), KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2, KVM_CREATE_VCPU,
 * kvm_run mapped, the PVH entry state (32-bit flat protected mode, paging
 * off) set, and KVM_RUN until the guest's first port write, whose byte goes
 * to stdout; then KVM_RUN until its second (the debug-exit port).
 *
 * The guest is tests/guests/first_byte.S's six instructions, copied to the
 * same address (1 MiB): "mov $0x3f8,%dx; mov $'!',%al; out %al,%dx;
 * mov $0xf4,%dx; xor %eax,%eax; out %al,%dx". No CPUID, MSRs, LAPIC set-up,
 * devices, threads or signal handling: none of that is needed for this guest.
 * Exits 1 after the debug-exit write of 0, as vmon and QEMU do (2 * value + 1);
 * 2 with a message on any failure. Built static (libc start-up is the only
 * library cost).
 *
 * With --cpuid it also gives the vCPU KVM's supported CPUID
 * (KVM_GET_SUPPORTED_CPUID, KVM_SET_CPUID2 unchanged) before the first
 * KVM_RUN, the one step every real VMM must add (a guest kernel reads CPUID),
 * and the slowest where the host is itself a guest (a trap per leaf).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUEST_MEM_SIZE (64u << 20)
#define GUEST_CODE_GPA 0x100000u
#define COM1_THR 0x3f8u
#define DEBUG_EXIT_PORT 0xf4u
#define CPUID_MAX_ENTRIES 256

static const uint8_t guest_code[] = {
	0x66, 0xba, 0xf8, 0x03, /* mov $0x3f8, %dx */
	0xb0, '!',              /* mov $'!', %al */
	0xee,                   /* out %al, %dx */
	0x66, 0xba, 0xf4, 0x00, /* mov $0xf4, %dx */
	0x31, 0xc0,             /* xor %eax, %eax */
	0xee,                   /* out %al, %dx */
	0xf4,                   /* hlt */
};

static void die(const char *what)
{
	fprintf(stderr, "bare_kvm: %s: %s\n", what, strerror(errno));
	exit(2);
}

static int xioctl(int fd, unsigned long request, unsigned long arg, const char *what)
{
	int r;

	do
		r = ioctl(fd, request, arg);
	while (r < 0 && (errno == EINTR || errno == EAGAIN));
	if (r < 0)
		die(what);
	return r;
}

/* Runs the vCPU to its next port write; returns the byte written and where. */
static uint8_t run_to_port_write(int vcpu, struct kvm_run *run, uint16_t *port)
{
	xioctl(vcpu, KVM_RUN, 0, "KVM_RUN");
	if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 1) {
		fprintf(stderr, "bare_kvm: exit reason %u, want a one-byte port write\n", run->exit_reason);
		exit(2);
	}
	*port = run->io.port;
	return *((uint8_t *)run + run->io.data_offset);
}

/* Flat 4 GiB segment, as the PVH entry has them (Xen's pvh.pandoc). */
static struct kvm_segment flat_segment(uint8_t type, uint16_t selector)
{
	return (struct kvm_segment){ .base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
				     .present = 1, .dpl = 0, .db = 1, .s = 1, .g = 1 };
}

static void set_supported_cpuid(int kvm, int vcpu)
{
	struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + CPUID_MAX_ENTRIES * sizeof(cpuid->entries[0]));

	if (!cpuid)
		die("calloc");
	cpuid->nent = CPUID_MAX_ENTRIES;
	xioctl(kvm, KVM_GET_SUPPORTED_CPUID, (unsigned long)cpuid, "KVM_GET_SUPPORTED_CPUID");
	xioctl(vcpu, KVM_SET_CPUID2, (unsigned long)cpuid, "KVM_SET_CPUID2");
	free(cpuid);
}

int main(int argc, char **argv)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	struct kvm_userspace_memory_region region;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	uint8_t *mem, byte;
	uint16_t port;
	int kvm, vm, vcpu, run_size;
	int with_cpuid = argc == 2 && strcmp(argv[1], "--cpuid") == 0;

	if (argc > 2 || (argc == 2 && !with_cpuid)) {
		fprintf(stderr, "usage: bare_kvm [--cpuid]\n");
		return 2;
	}
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("open /dev/kvm");
	vm = xioctl(kvm, KVM_CREATE_VM, 0, "KVM_CREATE_VM");
	mem = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap guest memory");
	region = (struct kvm_userspace_memory_region){ .slot = 0, .guest_phys_addr = 0, .memory_size = GUEST_MEM_SIZE,
						       .userspace_addr = (uintptr_t)mem };
	xioctl(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&region, "KVM_SET_USER_MEMORY_REGION");
	xioctl(vm, KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");
	xioctl(vm, KVM_CREATE_PIT2, (unsigned long)&pit, "KVM_CREATE_PIT2");
	vcpu = xioctl(vm, KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU");
	run_size = xioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
	run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");
	if (with_cpuid)
		set_supported_cpuid(kvm, vcpu);
	memcpy(mem + GUEST_CODE_GPA, guest_code, sizeof(guest_code));

	xioctl(vcpu, KVM_GET_SREGS, (unsigned long)&sregs, "KVM_GET_SREGS");
	sregs.cs = flat_segment(0xb, 0x8);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(0x3, 0x10);
	sregs.cr0 = 0x11; /* PE | ET */
	sregs.cr4 = 0;
	sregs.efer = 0;
	xioctl(vcpu, KVM_SET_SREGS, (unsigned long)&sregs, "KVM_SET_SREGS");
	memset(&regs, 0, sizeof(regs));
	regs.rip = GUEST_CODE_GPA;
	regs.rflags = 0x2; /* bit 1 is reserved, always 1 */
	xioctl(vcpu, KVM_SET_REGS, (unsigned long)&regs, "KVM_SET_REGS");

	byte = run_to_port_write(vcpu, run, &port);
	if (port != COM1_THR) {
		fprintf(stderr, "bare_kvm: first port write to 0x%x, want 0x%x\n", port, COM1_THR);
		return 2;
	}
	if (write(STDOUT_FILENO, &byte, 1) != 1)
		die("write");
	byte = run_to_port_write(vcpu, run, &port);
	if (port != DEBUG_EXIT_PORT) {
		fprintf(stderr, "bare_kvm: second port write to 0x%x, want 0x%x\n", port, DEBUG_EXIT_PORT);
		return 2;
	}
	return 2 * byte + 1;
}
