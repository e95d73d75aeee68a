/* SPDX-License-Identifier: MIT */
/*
 * Save a running VM through vmon's state APIs (arch/x86/vcpu_state.h, the
 * kvm-irqchip/kvm-pit/kvm-clock device_ops through the device registry),
 * restore it into a fresh VM and check the guest continues exactly.
 *
 * The guest (real mode, below) programs the PIT, both PICs' master, an IOAPIC
 * entry, the LAPIC timer in TSC-deadline mode, kvmclock and SYSENTER_CS,
 * loads XMM0-7 and MXCSR with fxrstor, then loops: count in EBX and memory,
 * read the TSC, the PIT counter, the PIC's IMR and the IOAPIC entry, fxsave,
 * and report the count on port 0xe0. VM A runs until a timer kicks it out of
 * KVM_RUN, is saved; VM B gets A's memory with the guest's own reads and its
 * fxrstor source wiped, so only restored state can produce them again.
 *
 * Prints "ok <check>" or "FAIL <check>: why" per check; exit 0 when all pass.
 * Built static by tests/integration/conftest.py; run by test_kvm_state.py.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "arch/x86/kvm_devices.h"
#include "arch/x86/vcpu_state.h"
#include "devices/registry.h"

#define MEM_SIZE 0x100000
#define CODE 0x1000
#define REPORT_PORT 0xe0
#define D_COUNT 0x500      /* the guest's counter */
#define D_TSC 0x508        /* last rdtsc (edx:eax) */
#define D_PIT 0x510        /* PIT channel 0 latched count (lo, hi) */
#define D_IMR 0x514        /* PIC master IMR read back */
#define D_REDIR 0x518      /* IOAPIC entry 2, low word, read back */
#define FXRSTOR_SRC 0x600  /* 512-byte image the guest loads once */
#define PVCLOCK 0x800      /* kvmclock's per-vCPU time info */
#define FXSAVE_DST 0x3000  /* where the guest saves its FPU/SSE state each round */

#define GUEST_IMR 0xb9
#define GUEST_REDIR2 0x00010045u   /* masked, vector 0x45 */
#define GUEST_SYSENTER_CS 0xbeef
#define GUEST_MXCSR 0x5f80u        /* all exceptions masked, round up */
#define PIT_COUNT 0x1234

__asm__(
	".pushsection .rodata.kvm_state_guest, \"a\"\n"
	".code16\n"
	"guest_start:\n"
	"	mov %cr0, %eax\n	and $~4, %eax\n	or $2, %eax\n	mov %eax, %cr0\n"      /* EM off, MP on */
	"	mov %cr4, %eax\n	or $0x600, %eax\n	mov %eax, %cr4\n"                 /* OSFXSR, OSXMMEXCPT */
	"	fxrstor 0x600\n"
	"	mov $0x34, %al\n	out %al, $0x43\n"                                          /* ch0: lo/hi, mode 2 */
	"	mov $0x34, %al\n	out %al, $0x40\n	mov $0x12, %al\n	out %al, $0x40\n"
	"	mov $0x11, %al\n	out %al, $0x20\n	mov $0x30, %al\n	out %al, $0x21\n" /* ICW1, ICW2 */
	"	mov $0x04, %al\n	out %al, $0x21\n	mov $0x01, %al\n	out %al, $0x21\n" /* ICW3, ICW4 */
	"	mov $0xb9, %al\n	out %al, $0x21\n"                                          /* OCW1: IMR */
	"	movl $0x14, %fs:0\n	movl $0x00010045, %fs:0x10\n"                             /* IOAPIC entry 2 */
	"	movl $0x15, %fs:0\n	movl $0x03000000, %fs:0x10\n"
	"	movl $0x50040, %gs:0x320\n"                                                    /* LVTT: TSC deadline */
	"	rdtsc\n	add $0x100, %edx\n	mov $0x6e0, %ecx\n	wrmsr\n"                       /* far-off deadline */
	"	mov $0x4b564d01, %ecx\n	mov $0x801, %eax\n	xor %edx, %edx\n	wrmsr\n"      /* kvmclock at 0x800 */
	"	mov $0x174, %ecx\n	mov $0xbeef, %eax\n	xor %edx, %edx\n	wrmsr\n"          /* SYSENTER_CS */
	"guest_loop:\n"
	"	inc %ebx\n"
	"	mov %ebx, 0x500\n"
	"	rdtsc\n	mov %eax, 0x508\n	mov %edx, 0x50c\n"
	"	mov $0, %al\n	out %al, $0x43\n	in $0x40, %al\n	mov %al, 0x510\n	in $0x40, %al\n	mov %al, 0x511\n"
	"	in $0x21, %al\n	mov %al, 0x514\n"
	"	movl $0x14, %fs:0\n	mov %fs:0x10, %eax\n	mov %eax, 0x518\n"
	"	fxsave 0x3000\n"
	"	mov %ebx, %eax\n	out %eax, $0xe0\n"
	"	jmp guest_loop\n"
	"guest_end:\n"
	".code64\n"
	".popsection\n");
extern const unsigned char guest_start[], guest_end[];

static int failures;

static void check(int ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void check(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("ok %s\n", name);
	} else {
		printf("FAIL %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
		failures++;
	}
	fflush(stdout);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL setup: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

#define XIOCTL(fd, req, arg) \
	do { \
		if (ioctl(fd, req, arg) < 0) \
			die("%s: %s", #req, strerror(errno)); \
	} while (0)

struct vm {
	int vm_fd, vcpu_fd;
	struct kvm_run *run;
	uint8_t *mem;
	struct device_registry reg;
	uint32_t last_report;
	unsigned reports;
	int pit_seen, pit_changed;  /* the guest's PIT reads: one seen, a later one differed */
	uint16_t pit_first, pit_other;
};

static int kvm_fd;
static struct kvm_run *volatile kicked_run;

static void on_alarm(int sig)
{
	(void)sig;
	if (kicked_run)
		kicked_run->immediate_exit = 1;
}

static void set_cpuid(int vcpu_fd)
{
	struct {
		struct kvm_cpuid2 hdr;
		struct kvm_cpuid_entry2 e[256];
	} cpuid = { .hdr.nent = 256 };

	XIOCTL(kvm_fd, KVM_GET_SUPPORTED_CPUID, &cpuid);
	/* As vmon does: advertise the LAPIC's TSC-deadline mode where KVM emulates it. */
	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
		for (unsigned i = 0; i < cpuid.hdr.nent; i++)
			if (cpuid.e[i].function == 1)
				cpuid.e[i].ecx |= 1u << 24;
	XIOCTL(vcpu_fd, KVM_SET_CPUID2, &cpuid);
}

/* A VM with 1 MiB of RAM, irqchip, PIT and one vCPU (CPUID set), its KVM devices in a registry. */
static void vm_create(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	struct vmon_error err = { 0 };
	int mmap_size;
	void *dev;

	memset(vm, 0, sizeof(*vm));
	vm->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		die("KVM_CREATE_VM: %s", strerror(errno));
	vm->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED)
		die("mmap guest memory: %s", strerror(errno));
	struct kvm_userspace_memory_region slot = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (uintptr_t)vm->mem,
	};
	XIOCTL(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot);
	XIOCTL(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul);
	XIOCTL(vm->vm_fd, KVM_CREATE_IRQCHIP, 0);
	XIOCTL(vm->vm_fd, KVM_CREATE_PIT2, &pit);

	registry_init(&vm->reg);
	if (!(dev = kvm_irqchip_dev_create(vm->vm_fd, &err)) ||
	    registry_add(&vm->reg, "kvm-irqchip", &kvm_irqchip_device_ops, dev, kvm_irqchip_resources,
			 KVM_IRQCHIP_NRES, &err) ||
	    !(dev = kvm_pit_dev_create(vm->vm_fd, &err)) ||
	    registry_add(&vm->reg, "kvm-pit", &kvm_pit_device_ops, dev, kvm_pit_resources, KVM_PIT_NRES, &err) ||
	    !(dev = kvm_clock_dev_create(vm->vm_fd, &err)) ||
	    registry_add(&vm->reg, "kvm-clock", &kvm_clock_device_ops, dev, NULL, 0, &err))
		die("KVM devices: %s", err.msg);

	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0)
		die("KVM_CREATE_VCPU: %s", strerror(errno));
	mmap_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	vm->run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED)
		die("mmap kvm_run: %s", strerror(errno));
	set_cpuid(vm->vcpu_fd);
}

static void guest_boot(struct vm *vm)
{
	struct kvm_sregs s;
	struct kvm_regs r = { .rip = CODE, .rflags = 2 };

	memcpy(vm->mem + CODE, guest_start, (size_t)(guest_end - guest_start));
	/* XMM0-7 = 0x11.., 0x22.., ...; MXCSR non-default: only fxrstor can load them. */
	memset(vm->mem + FXRSTOR_SRC, 0, 512);
	memcpy(vm->mem + FXRSTOR_SRC + 24, &(uint32_t){ GUEST_MXCSR }, 4);
	for (int i = 0; i < 8; i++)
		memset(vm->mem + FXRSTOR_SRC + 160 + 16 * i, 0x11 * (i + 1), 16);
	XIOCTL(vm->vcpu_fd, KVM_GET_SREGS, &s);
	s.cs.base = 0;
	s.cs.selector = 0;
	s.fs.base = KVM_IOAPIC_BASE;   /* real mode with segment bases set from outside reaches the MMIO */
	s.gs.base = 0xfee00000;
	XIOCTL(vm->vcpu_fd, KVM_SET_SREGS, &s);
	XIOCTL(vm->vcpu_fd, KVM_SET_REGS, &r);
}

static uint64_t rd64(const struct vm *vm, unsigned gpa)
{
	uint64_t v;
	memcpy(&v, vm->mem + gpa, 8);
	return v;
}

static uint32_t rd32(const struct vm *vm, unsigned gpa)
{
	uint32_t v;
	memcpy(&v, vm->mem + gpa, 4);
	return v;
}

/*
 * Runs until a timer of ms kicks the vCPU out of KVM_RUN with at least
 * min_reports reports seen (re-arming meanwhile). Reports must count up by
 * one. The last KVM_RUN, with immediate_exit set, completes a pending port
 * write: the state read afterwards is consistent (api.rst, KVM_EXIT_IO).
 */
static void run_until_kicked(struct vm *vm, unsigned ms, unsigned min_reports, const char *name)
{
	struct itimerval t = { .it_value = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 } };
	unsigned start = vm->reports;

	kicked_run = vm->run;
	vm->run->immediate_exit = 0;
	setitimer(ITIMER_REAL, &t, NULL);
	for (;;) {
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno != EINTR)
				die("%s: KVM_RUN: %s", name, strerror(errno));
			vm->run->immediate_exit = 0;
			if (vm->reports - start >= min_reports)
				break;
			setitimer(ITIMER_REAL, &t, NULL);
			continue;
		}
		struct kvm_run *run = vm->run;
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == REPORT_PORT && run->io.size == 4 &&
		    run->io.direction == KVM_EXIT_IO_OUT) {
			uint32_t v;
			uint16_t pit = (uint16_t)rd32(vm, D_PIT);
			memcpy(&v, (uint8_t *)run + run->io.data_offset, 4);
			if (vm->reports && v != vm->last_report + 1)
				die("%s: the guest reported %u after %u", name, v, vm->last_report);
			if (!vm->pit_seen) {
				vm->pit_first = pit;
				vm->pit_seen = 1;
			} else if (pit != vm->pit_first) {
				vm->pit_other = pit;
				vm->pit_changed = 1;
			}
			vm->last_report = v;
			vm->reports++;
			continue;
		}
		struct kvm_regs r;
		ioctl(vm->vcpu_fd, KVM_GET_REGS, &r);
		die("%s: unexpected exit %u (port 0x%x) at rip 0x%llx", name, run->exit_reason,
		    run->exit_reason == KVM_EXIT_IO ? run->io.port : 0, (unsigned long long)r.rip);
	}
	kicked_run = NULL;
}

static uint64_t vm_clock(const struct vm *vm)
{
	struct kvm_clock_data c = { 0 };
	XIOCTL(vm->vm_fd, KVM_GET_CLOCK, &c);
	return c.clock;
}

static uint64_t get_msr(const struct vm *vm, uint32_t index)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = { .hdr.nmsrs = 1, .e.index = index };
	if (ioctl(vm->vcpu_fd, KVM_GET_MSRS, &m) != 1)
		die("KVM_GET_MSRS 0x%x failed", index);
	return m.e.data;
}

static const __u64 *find_msr(const struct x86_vcpu_state *st, uint32_t index)
{
	for (uint32_t i = 0; i < st->nmsrs; i++)
		if (st->msrs[i].index == index)
			return &st->msrs[i].data;
	return NULL;
}

/* Whether a guest TSC value read just now is the host's TSC (within 50 ms). */
static int tsc_is_host_tsc(uint64_t guest_tsc, uint32_t tsc_khz)
{
	uint64_t host = __rdtsc();
	uint64_t d = host > guest_tsc ? host - guest_tsc : guest_tsc - host;
	return d < (uint64_t)tsc_khz * 50;
}

/* B's state right after the restore equals A's saved state, part by part. */
static void compare_states(const struct x86_vcpu_state *a, const struct x86_vcpu_state *b, uint32_t tsc_khz)
{
	uint8_t la[sizeof(a->lapic.regs)], lb[sizeof(b->lapic.regs)];
	int msrs_ok = a->nmsrs == b->nmsrs;
	char why[160] = "";

	check(!memcmp(&a->regs, &b->regs, sizeof(a->regs)), "restore: regs identical", "rip 0x%llx vs 0x%llx",
	      (unsigned long long)a->regs.rip, (unsigned long long)b->regs.rip);
	check(!memcmp(&a->sregs, &b->sregs, sizeof(a->sregs)), "restore: sregs identical", "cr0 0x%llx vs 0x%llx",
	      (unsigned long long)a->sregs.cr0, (unsigned long long)b->sregs.cr0);
	/* The legacy area (x87, MXCSR, XMM0-15) and the XSAVE header. */
	check(!memcmp(a->xsave, b->xsave, 576), "restore: FPU/SSE state identical", "differs");
	check(!memcmp(&a->xcrs, &b->xcrs, sizeof(a->xcrs)), "restore: XCRs identical", "XCR0 0x%llx vs 0x%llx",
	      (unsigned long long)a->xcrs.xcrs[0].value, (unsigned long long)b->xcrs.xcrs[0].value);
	check(!memcmp(&a->debugregs, &b->debugregs, sizeof(a->debugregs)), "restore: debug registers identical",
	      "differ");
	check(!memcmp(&a->events, &b->events, sizeof(a->events)), "restore: vcpu events identical", "differ");
	check(a->mp_state == b->mp_state, "restore: mp_state identical", "%u vs %u", a->mp_state, b->mp_state);
	/* The LAPIC page, less the timer's current count (0x390), which KVM computes when read. */
	memcpy(la, a->lapic.regs, sizeof(la));
	memcpy(lb, b->lapic.regs, sizeof(lb));
	memset(la + 0x390, 0, 4);
	memset(lb + 0x390, 0, 4);
	check(!memcmp(la, lb, sizeof(la)), "restore: LAPIC identical", "differs");
	for (uint32_t i = 0; msrs_ok && i < a->nmsrs; i++) {
		const struct kvm_msr_entry *ma = &a->msrs[i], *mb = &b->msrs[i];
		/* The TSC ran on between set and get: allow 100 ms of it. */
		uint64_t slack = ma->index == 0x10 ? (uint64_t)tsc_khz * 100 : 0;
		if (ma->index == 0x10 && mb->data > ma->data + slack && tsc_is_host_tsc(mb->data, tsc_khz)) {
			printf("info: this host's KVM keeps the guest TSC at the host's (PVM does): the restored TSC "
			       "jumped %llu ms ahead\n", (unsigned long long)((mb->data - ma->data) / tsc_khz));
			continue;
		}
		if (ma->index != mb->index || mb->data < ma->data || mb->data - ma->data > slack) {
			snprintf(why, sizeof(why), "MSR 0x%x: 0x%llx vs 0x%llx", ma->index, (unsigned long long)ma->data,
				 (unsigned long long)mb->data);
			msrs_ok = 0;
		}
	}
	check(msrs_ok, "restore: MSRs identical (TSC within 100 ms)", "%s", why[0] ? why : "counts differ");
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct x86_vcpu_caps caps;
	struct x86_vcpu_state saved, bad, now;
	struct vmon_error err = { 0 };
	struct kvm_pit_state2 pit;
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_PIC_MASTER };
	struct vm a, b;
	uint64_t clock_saved, clock_b, tsc_saved;
	size_t size;
	uint8_t *devs;

	setvbuf(stdout, NULL, _IOLBF, 0);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);   /* no SA_RESTART: KVM_RUN returns EINTR */
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0)
		die("/dev/kvm: %s", strerror(errno));

	/* ---- VM A: run, pause, save ---- */
	vm_create(&a);
	if (x86_vcpu_caps_probe(kvm_fd, a.vm_fd, &caps, &err))
		die("caps: %s", err.msg);
	printf("info: %u saved MSRs, xcrs %d, tsc_khz get %d set %d, kvmclock_ctrl %d, xsave %u bytes\n", caps.nmsrs,
	       caps.xcrs, caps.get_tsc_khz, caps.set_tsc_khz, caps.kvmclock_ctrl, caps.xsave_size);
	guest_boot(&a);
	run_until_kicked(&a, 100, 20, "VM A");
	printf("info: VM A reported up to %u (%u reports)\n", a.last_report, a.reports);
	check(a.pit_changed, "VM A: guest sees the PIT count", "read 0x%x only", a.pit_first);
	registry_pause(&a.reg);   /* freezes A's kvmclock */
	if (x86_vcpu_state_get(a.vcpu_fd, &caps, &saved, &err))
		die("x86_vcpu_state_get: %s", err.msg);
	size = registry_state_size(&a.reg);
	devs = malloc(size);
	if (!devs || registry_save(&a.reg, devs, size) != size)
		die("registry_save");
	memcpy(&clock_saved, devs + size - 8, 8);   /* kvm-clock is last; clock_ns ends its state */
	tsc_saved = rd64(&a, D_TSC);
	printf("info: saved at rip 0x%llx ebx %llu, kvmclock %llu ns, tsc_khz %u, mp_state %u\n",
	       (unsigned long long)saved.regs.rip, (unsigned long long)saved.regs.rbx,
	       (unsigned long long)clock_saved, saved.tsc_khz, saved.mp_state);
	check(saved.regs.rbx == a.last_report || saved.regs.rbx == a.last_report + 1U,
	      "saved EBX matches the last report", "ebx %llu, report %u", (unsigned long long)saved.regs.rbx,
	      a.last_report);
	check(find_msr(&saved, 0x174) && *find_msr(&saved, 0x174) == GUEST_SYSENTER_CS, "saved SYSENTER_CS",
	      "missing or wrong");

	/* ---- VM B: fresh VM, A's memory less what only restored state can recreate ---- */
	vm_create(&b);
	memcpy(b.mem, a.mem, MEM_SIZE);
	memset(b.mem + FXRSTOR_SRC, 0, 512);
	memset(b.mem + FXSAVE_DST, 0, 512);
	memset(b.mem + D_PIT, 0, 12);
	memset(b.mem + PVCLOCK, 0, 32);
	usleep(300 * 1000);   /* time "spent saved": the guest must not see it */

	/* Corrupt states are refused and change nothing. */
	bad = saved;
	bad.nmsrs = X86_VCPU_MAX_MSRS + 7;
	check(x86_vcpu_state_set(b.vcpu_fd, &caps, &bad, &err) == -EINVAL && strstr(err.msg, "nmsrs"),
	      "corrupt vCPU state refused (nmsrs)", "got '%s'", err.msg);
	bad = saved;
	bad.xsave[130] = 1;       /* xcomp_bv: KVM's images are never compacted */
	check(x86_vcpu_state_set(b.vcpu_fd, &caps, &bad, &err) == -EINVAL && strstr(err.msg, "xcomp_bv"),
	      "corrupt vCPU state refused (xcomp_bv)", "got '%s'", err.msg);
	if (x86_vcpu_state_get(b.vcpu_fd, &caps, &now, &err))
		die("x86_vcpu_state_get B: %s", err.msg);
	check(now.regs.rip == 0xfff0 && now.nmsrs == saved.nmsrs, "refused vCPU state left the vCPU at reset",
	      "rip 0x%llx", (unsigned long long)now.regs.rip);
	{
		/* kvm-pit's section is second: irqchip is restored first, then rolled back. */
		uint8_t *corrupt = malloc(size);
		size_t pit_state = sizeof(struct registry_section) * 2 + sizeof(struct kvm_irqchip_state);
		memcpy(corrupt, devs, size);
		corrupt[pit_state + 8 + offsetof(struct kvm_pit_channel, mode)] = 9;
		check(registry_restore(&b.reg, corrupt, size, &err) == -EINVAL && strstr(err.msg, "mode 9"),
		      "corrupt PIT state refused", "got '%s'", err.msg);
		free(corrupt);
		XIOCTL(b.vm_fd, KVM_GET_IRQCHIP, &chip);
		XIOCTL(b.vm_fd, KVM_GET_PIT2, &pit);
		check(chip.chip.pic.imr == 0 && pit.channels[0].mode == 0xff, "refused device state changed nothing",
		      "PIC IMR 0x%x, PIT mode %u", chip.chip.pic.imr, pit.channels[0].mode);
	}

	/* The restore proper: devices, then the vCPU (its CPUID is set), then resume. */
	registry_pause(&b.reg);
	if (registry_restore(&b.reg, devs, size, &err))
		die("registry_restore: %s", err.msg);
	if (x86_vcpu_state_set(b.vcpu_fd, &caps, &saved, &err))
		die("x86_vcpu_state_set: %s", err.msg);
	check(1, "restore accepted", "-");
	if (x86_vcpu_state_get(b.vcpu_fd, &caps, &now, &err))
		die("x86_vcpu_state_get B: %s", err.msg);
	compare_states(&saved, &now, saved.tsc_khz ? saved.tsc_khz : 5000000);
	registry_resume(&b.reg);
	clock_b = vm_clock(&b);
	check(clock_b >= clock_saved && clock_b - clock_saved < 100000000ull,
	      "kvmclock continues from the saved value (not back, not +300 ms)", "saved %llu, B %llu",
	      (unsigned long long)clock_saved, (unsigned long long)clock_b);
	XIOCTL(b.vm_fd, KVM_GET_PIT2, &pit);
	check(pit.channels[0].mode == 2 && pit.channels[0].count == PIT_COUNT && pit.channels[0].rw_mode == 3,
	      "PIT channel 0 restored (mode 2, count 0x1234)", "mode %u count 0x%x", pit.channels[0].mode,
	      pit.channels[0].count);
	XIOCTL(b.vm_fd, KVM_GET_IRQCHIP, &chip);
	check(chip.chip.pic.imr == GUEST_IMR && chip.chip.pic.irq_base == 0x30, "PIC master restored",
	      "imr 0x%x base 0x%x", chip.chip.pic.imr, chip.chip.pic.irq_base);
	const __u64 *deadline = find_msr(&saved, 0x6e0);
	check(deadline && *deadline && get_msr(&b, 0x6e0) == *deadline, "TSC deadline restored (set after the LAPIC)",
	      "0x%llx vs saved 0x%llx", (unsigned long long)get_msr(&b, 0x6e0),
	      deadline ? (unsigned long long)*deadline : 0ull);

	/* ---- run B: the guest continues exactly ---- */
	b.last_report = a.last_report;
	b.reports = 1;            /* so the first report must be A's last + 1 */
	run_until_kicked(&b, 100, 20, "VM B");
	printf("info: VM B reported up to %u\n", b.last_report);
	check(b.last_report > a.last_report + 10, "VM B: counter continues from A's", "A %u, B %u", a.last_report,
	      b.last_report);
	/* Kicked between the store and the report, the memory count is one ahead. */
	check(rd32(&b, D_COUNT) - b.last_report <= 1, "VM B: memory counter matches the report", "%u vs %u",
	      rd32(&b, D_COUNT), b.last_report);
	check(rd32(&b, FXSAVE_DST + 24) == GUEST_MXCSR, "VM B: MXCSR preserved", "0x%x", rd32(&b, FXSAVE_DST + 24));
	int xmm_ok = 1;
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 16; j++)
			xmm_ok &= b.mem[FXSAVE_DST + 160 + 16 * i + j] == 0x11 * (i + 1);
	check(xmm_ok, "VM B: XMM0-7 preserved", "fxsave image differs");
	check(b.mem[D_IMR] == GUEST_IMR, "VM B: guest reads its PIC IMR back", "0x%x", b.mem[D_IMR]);
	check(rd32(&b, D_REDIR) == GUEST_REDIR2, "VM B: guest reads its IOAPIC entry back", "0x%x", rd32(&b, D_REDIR));
	check(b.pit_changed, "VM B: PIT counting", "read 0x%x only", b.pit_first);
	uint64_t tsc_b = rd64(&b, D_TSC);
	check(tsc_b > tsc_saved, "VM B: TSC continues (not back)", "A 0x%llx B 0x%llx", (unsigned long long)tsc_saved,
	      (unsigned long long)tsc_b);
	uint32_t pv_version = rd32(&b, PVCLOCK);
	uint64_t pv_time = rd64(&b, PVCLOCK + 16);
	uint64_t clock_b_end = vm_clock(&b);
	check(pv_version != 0 && pv_time >= clock_saved && pv_time <= clock_b_end,
	      "VM B: kvmclock MSR restored, guest's pvclock updated", "version %u system_time %llu (saved %llu, now %llu)",
	      pv_version, (unsigned long long)pv_time, (unsigned long long)clock_saved,
	      (unsigned long long)clock_b_end);
	check(clock_b_end > clock_b, "VM B: kvmclock monotonic", "%llu then %llu", (unsigned long long)clock_b,
	      (unsigned long long)clock_b_end);

	/* ---- reset: the devices' power-on state ---- */
	registry_reset(&a.reg);
	XIOCTL(a.vm_fd, KVM_GET_PIT2, &pit);
	chip.chip_id = KVM_IRQCHIP_PIC_MASTER;
	XIOCTL(a.vm_fd, KVM_GET_IRQCHIP, &chip);
	registry_resume(&a.reg);
	uint64_t clock_a = vm_clock(&a);
	check(pit.channels[0].mode == 0xff && chip.chip.pic.imr == 0 && chip.chip.pic.irq_base == 0 &&
	      clock_a < 1000000000ull, "reset: PIT, PIC and kvmclock back to power-on",
	      "PIT mode %u, IMR 0x%x, clock %llu", pit.channels[0].mode, chip.chip.pic.imr,
	      (unsigned long long)clock_a);

	registry_destroy(&a.reg);
	registry_destroy(&b.reg);
	free(devs);
	printf("%s: %d check(s) failed\n", failures ? "FAILED" : "PASSED", failures);
	return failures ? 1 : 0;
}
