// SPDX-License-Identifier: MIT
/*
 * kvm_smoke: proves that a /dev/kvm is usable for vmon, and measures it.
 *
 *   kvm_smoke                 run the checks below, print one line per check,
 *                             exit 0 when all pass, 1 otherwise
 *   kvm_smoke --bench N       run N port-I/O exits in a tight guest loop and
 *                             print the exits per second
 *
 * Checks (each one behaviour vmon depends on):
 *   - KVM_GET_API_VERSION is 12 (the only stable API, KVM doc section 4.1)
 *   - real mode: "mov al,'K'; mov dx,0x3f8; out dx,al; hlt" gives
 *     KVM_EXIT_IO (port 0x3f8, 1 byte, out, data 'K') then KVM_EXIT_HLT
 *   - KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2, KVM_IRQ_LINE succeed and a vCPU
 *     still runs (exits on port I/O the in-kernel devices do not claim)
 *   - KVM_GET_SUPPORTED_CPUID + KVM_SET_CPUID2 are accepted
 *   - 64-bit long mode entered directly with KVM_SET_SREGS (paging, PAE,
 *     EFER.LME/LMA, CS.L) runs a movabs whose 64-bit result reads back
 *
 * Built static so it runs in the sandbox's busybox-only initramfs.
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
#include <time.h>
#include <unistd.h>

#define SMOKE_MEM_SIZE  0x200000u /* 2 MiB: one large page of guest RAM */
#define SMOKE_CODE_GPA  0x8000u
#define SMOKE_PML4_GPA  0x1000u
#define SMOKE_PDPT_GPA  0x2000u
#define SMOKE_PD_GPA    0x3000u
#define SMOKE_TSS_GPA   0xfffbd000u /* below the BIOS area, as QEMU does */
#define SMOKE_COM1      0x3f8u

struct smoke_vm {
	int vm_fd;
	int vcpu_fd;
	uint8_t *mem;
	struct kvm_run *run;
	size_t run_size;
};

static int smoke_kvm_fd = -1;

static int smoke_fail(const char *what, int err)
{
	printf("FAIL %s: %s\n", what, strerror(err));
	return -err;
}

static void smoke_vm_destroy(struct smoke_vm *vm)
{
	if (vm->run != NULL && vm->run != MAP_FAILED)
		munmap(vm->run, vm->run_size);
	if (vm->mem != NULL && vm->mem != MAP_FAILED)
		munmap(vm->mem, SMOKE_MEM_SIZE);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	memset(vm, 0, sizeof(*vm));
	vm->vm_fd = -1;
	vm->vcpu_fd = -1;
}

/* VM with 2 MiB RAM at GPA 0; irqchip (IRQCHIP + PIT2) must precede the vCPU. */
static int smoke_vm_create(struct smoke_vm *vm, int with_irqchip)
{
	memset(vm, 0, sizeof(*vm));
	vm->vm_fd = -1;
	vm->vcpu_fd = -1;

	vm->vm_fd = ioctl(smoke_kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return smoke_fail("KVM_CREATE_VM", errno);
	/* AMD does not need it, Intel without unrestricted guest does; vmon sets it. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)SMOKE_TSS_GPA) < 0)
		return smoke_fail("KVM_SET_TSS_ADDR", errno);

	vm->mem = mmap(NULL, SMOKE_MEM_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED)
		return smoke_fail("mmap guest RAM", errno);
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = SMOKE_MEM_SIZE,
		.userspace_addr = (uintptr_t)vm->mem,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return smoke_fail("KVM_SET_USER_MEMORY_REGION", errno);

	if (with_irqchip) {
		if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
			return smoke_fail("KVM_CREATE_IRQCHIP", errno);
		struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
		if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
			return smoke_fail("KVM_CREATE_PIT2", errno);
	}

	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0)
		return smoke_fail("KVM_CREATE_VCPU", errno);
	int run_size = ioctl(smoke_kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < (int)sizeof(struct kvm_run))
		return smoke_fail("KVM_GET_VCPU_MMAP_SIZE", run_size < 0 ? errno : EINVAL);
	vm->run_size = (size_t)run_size;
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED)
		return smoke_fail("mmap kvm_run", errno);
	return 0;
}

/* Real mode at CS:IP = 0:code_gpa; the reset state is otherwise kept. */
static int smoke_enter_real_mode(struct smoke_vm *vm, uint32_t code_gpa)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return smoke_fail("KVM_GET_SREGS", errno);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return smoke_fail("KVM_SET_SREGS (real mode)", errno);
	memset(&regs, 0, sizeof(regs));
	regs.rip = code_gpa;
	regs.rflags = 0x2; /* bit 1 is reserved, always 1 */
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return smoke_fail("KVM_SET_REGS", errno);
	return 0;
}

static int smoke_run(struct smoke_vm *vm)
{
	for (;;) {
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) == 0)
			return 0;
		if (errno != EINTR && errno != EAGAIN)
			return smoke_fail("KVM_RUN", errno);
	}
}

/* One KVM_RUN must stop on "out dx,al" to COM1 with the expected byte. */
static int smoke_expect_out(struct smoke_vm *vm, uint8_t want)
{
	int rc = smoke_run(vm);
	if (rc < 0)
		return rc;
	struct kvm_run *run = vm->run;
	if (run->exit_reason != KVM_EXIT_IO) {
		printf("FAIL expected KVM_EXIT_IO, got exit reason %u\n", run->exit_reason);
		return -EPROTO;
	}
	uint8_t got = *((uint8_t *)run + run->io.data_offset);
	if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != SMOKE_COM1 ||
	    run->io.size != 1 || run->io.count != 1 || got != want) {
		printf("FAIL KVM_EXIT_IO: dir %u port %#x size %u count %u data %#x, want out %#x size 1 data %#x\n",
		       run->io.direction, run->io.port, run->io.size, run->io.count, got,
		       SMOKE_COM1, want);
		return -EPROTO;
	}
	return 0;
}

static int smoke_expect_hlt(struct smoke_vm *vm)
{
	int rc = smoke_run(vm);
	if (rc < 0)
		return rc;
	if (vm->run->exit_reason != KVM_EXIT_HLT) {
		printf("FAIL expected KVM_EXIT_HLT, got exit reason %u\n", vm->run->exit_reason);
		return -EPROTO;
	}
	return 0;
}

static int smoke_check_real_mode_io_then_hlt(void)
{
	/* mov al,'K'; mov dx,0x3f8; out dx,al; hlt */
	static const uint8_t code[] = { 0xb0, 'K', 0xba, 0xf8, 0x03, 0xee, 0xf4 };
	struct smoke_vm vm;
	int rc = smoke_vm_create(&vm, 0);
	if (rc == 0) {
		memcpy(vm.mem + SMOKE_CODE_GPA, code, sizeof(code));
		rc = smoke_enter_real_mode(&vm, SMOKE_CODE_GPA);
	}
	if (rc == 0)
		rc = smoke_expect_out(&vm, 'K');
	if (rc == 0)
		rc = smoke_expect_hlt(&vm);
	smoke_vm_destroy(&vm);
	return rc;
}

static int smoke_check_irqchip_pit_and_cpuid(void)
{
	/* mov al,'I'; mov dx,0x3f8; out dx,al; jmp $ (HLT stays in-kernel with an irqchip) */
	static const uint8_t code[] = { 0xb0, 'I', 0xba, 0xf8, 0x03, 0xee, 0xeb, 0xfe };
	enum { NENT = 256 };
	struct smoke_vm vm;
	struct kvm_cpuid2 *cpuid = NULL;
	int rc = smoke_vm_create(&vm, 1);

	if (rc == 0) {
		struct kvm_irq_level irq = { .irq = 4, .level = 1 };
		if (ioctl(vm.vm_fd, KVM_IRQ_LINE, &irq) < 0)
			rc = smoke_fail("KVM_IRQ_LINE", errno);
		irq.level = 0;
		if (rc == 0 && ioctl(vm.vm_fd, KVM_IRQ_LINE, &irq) < 0)
			rc = smoke_fail("KVM_IRQ_LINE", errno);
	}
	if (rc == 0) {
		cpuid = calloc(1, sizeof(*cpuid) + NENT * sizeof(cpuid->entries[0]));
		if (cpuid == NULL)
			rc = smoke_fail("calloc", ENOMEM);
	}
	if (rc == 0) {
		cpuid->nent = NENT;
		if (ioctl(smoke_kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0)
			rc = smoke_fail("KVM_GET_SUPPORTED_CPUID", errno);
		else if (ioctl(vm.vcpu_fd, KVM_SET_CPUID2, cpuid) < 0)
			rc = smoke_fail("KVM_SET_CPUID2", errno);
	}
	if (rc == 0) {
		memcpy(vm.mem + SMOKE_CODE_GPA, code, sizeof(code));
		rc = smoke_enter_real_mode(&vm, SMOKE_CODE_GPA);
	}
	if (rc == 0)
		rc = smoke_expect_out(&vm, 'I');
	free(cpuid);
	smoke_vm_destroy(&vm);
	return rc;
}

/* 64-bit code segment descriptor cache: L=1, D=0 (SDM vol. 3 5.2.1). */
static void smoke_set_long_mode_segments(struct kvm_sregs *sregs)
{
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x8, .type = 0xb,
		.present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = code;
	data.selector = 0x10;
	data.type = 0x3;
	data.l = 0;
	data.db = 1;
	sregs->cs = code;
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
}

static int smoke_check_long_mode_entry(void)
{
	/* mov dx,0x3f8; mov al,'L'; out dx,al; movabs rax,0x1122334455667788; hlt */
	static const uint8_t code[] = {
		0x66, 0xba, 0xf8, 0x03, 0xb0, 'L', 0xee,
		0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
		0xf4,
	};
	const uint64_t pte_present_rw = 0x3, pde_large = 0x80;
	struct smoke_vm vm;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int rc = smoke_vm_create(&vm, 0);

	if (rc == 0) {
		/* Identity map the first 2 MiB with one large page. */
		uint64_t *pml4 = (uint64_t *)(vm.mem + SMOKE_PML4_GPA);
		uint64_t *pdpt = (uint64_t *)(vm.mem + SMOKE_PDPT_GPA);
		uint64_t *pd = (uint64_t *)(vm.mem + SMOKE_PD_GPA);
		pml4[0] = SMOKE_PDPT_GPA | pte_present_rw;
		pdpt[0] = SMOKE_PD_GPA | pte_present_rw;
		pd[0] = 0 | pte_present_rw | pde_large;
		memcpy(vm.mem + SMOKE_CODE_GPA, code, sizeof(code));
		if (ioctl(vm.vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
			rc = smoke_fail("KVM_GET_SREGS", errno);
	}
	if (rc == 0) {
		smoke_set_long_mode_segments(&sregs);
		sregs.cr3 = SMOKE_PML4_GPA;
		sregs.cr4 = 1u << 5;                          /* PAE */
		sregs.cr0 = (1u << 0) | (1u << 4) | (1u << 31); /* PE, ET, PG */
		sregs.efer = (1u << 8) | (1u << 10);            /* LME, LMA */
		if (ioctl(vm.vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
			rc = smoke_fail("KVM_SET_SREGS (long mode)", errno);
	}
	if (rc == 0) {
		memset(&regs, 0, sizeof(regs));
		regs.rip = SMOKE_CODE_GPA;
		regs.rsp = SMOKE_MEM_SIZE - 16;
		regs.rflags = 0x2;
		if (ioctl(vm.vcpu_fd, KVM_SET_REGS, &regs) < 0)
			rc = smoke_fail("KVM_SET_REGS", errno);
	}
	if (rc == 0)
		rc = smoke_expect_out(&vm, 'L');
	if (rc == 0)
		rc = smoke_expect_hlt(&vm);
	if (rc == 0 && ioctl(vm.vcpu_fd, KVM_GET_REGS, &regs) < 0)
		rc = smoke_fail("KVM_GET_REGS", errno);
	if (rc == 0 && regs.rax != 0x1122334455667788ull) {
		printf("FAIL long mode: rax = %#llx, want 0x1122334455667788\n",
		       (unsigned long long)regs.rax);
		rc = -EPROTO;
	}
	if (rc == 0 && ioctl(vm.vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		rc = smoke_fail("KVM_GET_SREGS", errno);
	if (rc == 0 && !(sregs.efer & (1u << 10))) {
		printf("FAIL long mode: EFER.LMA clear after run (efer %#llx)\n",
		       (unsigned long long)sregs.efer);
		rc = -EPROTO;
	}
	smoke_vm_destroy(&vm);
	return rc;
}

static double smoke_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int smoke_bench_pio(long exits)
{
	/* mov dx,0x3f8; 1: out dx,al; jmp 1b */
	static const uint8_t code[] = { 0xba, 0xf8, 0x03, 0xee, 0xeb, 0xfd };
	struct smoke_vm vm;
	int rc = smoke_vm_create(&vm, 0);

	if (rc == 0) {
		memcpy(vm.mem + SMOKE_CODE_GPA, code, sizeof(code));
		rc = smoke_enter_real_mode(&vm, SMOKE_CODE_GPA);
	}
	double start = smoke_now();
	for (long i = 0; rc == 0 && i < exits; i++) {
		rc = smoke_run(&vm);
		if (rc == 0 && vm.run->exit_reason != KVM_EXIT_IO) {
			printf("FAIL bench: exit reason %u\n", vm.run->exit_reason);
			rc = -EPROTO;
		}
	}
	double secs = smoke_now() - start;
	if (rc == 0)
		printf("bench: %ld PIO exits in %.3f s = %.0f exits/s (%.1f us/exit)\n",
		       exits, secs, (double)exits / secs, secs * 1e6 / (double)exits);
	smoke_vm_destroy(&vm);
	return rc;
}

struct smoke_check {
	const char *name;
	int (*fn)(void);
};

int main(int argc, char **argv)
{
	static const struct smoke_check checks[] = {
		{ "real_mode_out_then_hlt_exits", smoke_check_real_mode_io_then_hlt },
		{ "irqchip_pit2_irq_line_cpuid2", smoke_check_irqchip_pit_and_cpuid },
		{ "long_mode_entry_via_set_sregs", smoke_check_long_mode_entry },
	};
	long bench = 0;

	if (argc == 3 && strcmp(argv[1], "--bench") == 0) {
		char *end;
		bench = strtol(argv[2], &end, 10);
		if (*end != '\0' || bench <= 0) {
			fprintf(stderr, "kvm_smoke: bad exit count '%s'\n", argv[2]);
			return 2;
		}
	} else if (argc != 1) {
		fprintf(stderr, "usage: kvm_smoke [--bench EXITS]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	smoke_kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (smoke_kvm_fd < 0) {
		smoke_fail("open /dev/kvm", errno);
		return 1;
	}
	int version = ioctl(smoke_kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		printf("FAIL KVM_GET_API_VERSION = %d, want %d\n", version, KVM_API_VERSION);
		return 1;
	}
	if (bench > 0)
		return smoke_bench_pio(bench) == 0 ? 0 : 1;

	int failed = 0;
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		double start = smoke_now();
		int rc = checks[i].fn();
		printf("%s %s (%.1f ms)\n", rc == 0 ? "PASS" : "FAIL", checks[i].name,
		       (smoke_now() - start) * 1e3);
		failed |= rc != 0;
	}
	return failed;
}
