/* SPDX-License-Identifier: MIT */
#include "vmm/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/cpu_state.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/emulation_exit.h"
#include "arch/x86/stuck_insn.h"
#include "base/log.h"
#include "base/seccomp_filter.h"
#include "vmm/vm.h"

/* SIGUSR1 interrupts KVM_RUN; its handler does nothing (the EINTR is the point). */
#define VCPU_KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
	(void)sig;
}

int vcpu_install_kick_handler(struct vmon_error *err)
{
	struct sigaction sa = { .sa_handler = kick_handler };

	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: KVM_RUN must come back with EINTR. */
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return error_set(err, -errno, "sigaction(SIGUSR1): %s", strerror(errno));
	return 0;
}

int vcpu_create(struct vcpu *vcpu, struct vm *vm, unsigned index, struct vmon_error *err)
{
	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (vcpu->fd < 0)
		return error_set(err, -errno, "KVM_CREATE_VCPU %u: %s", index, strerror(errno));
	vcpu->run_size = (size_t)vm->vcpu_mmap_size;
	vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		int e = errno;
		close(vcpu->fd);
		vcpu->fd = -1;
		vcpu->run = NULL;
		return error_set(err, -e, "mmap of vCPU %u's kvm_run: %s", index, strerror(e));
	}
	return 0;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

static int setup_cpuid(struct vcpu *vcpu, struct vmon_error *err)
{
	struct kvm_cpuid2 *cpuid = cpuid_alloc();
	int r;

	if (!cpuid)
		return error_set(err, -ENOMEM, "out of memory for CPUID");
	if ((r = supported_cpuid_take(&vcpu->vm->supported_cpuid, vcpu->vm->kvm_fd, cpuid, err)))
		goto out;
	r = cpuid_configure(cpuid, vcpu->index, vcpu->vm->ncpus, err);
	if (r)
		goto out;
	host_profile_apply_cpuid(&vcpu->vm->profile, cpuid);
	/*
	 * KVM emulates the LAPIC's TSC-deadline mode but leaves advertising it to
	 * user space (api.rst, KVM_CAP_TSC_DEADLINE_TIMER): Linux then ticks from
	 * the LAPIC timer rather than the PIT through the 8259.
	 */
	if (ioctl(vcpu->vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0) {
		struct kvm_cpuid_entry2 *leaf1 = cpuid_find(cpuid, 1, 0);
		if (leaf1)
			leaf1->ecx |= CPUID_1_ECX_TSC_DEADLINE;
	}
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0)
		r = error_set(err, -errno, "KVM_SET_CPUID2: %s", strerror(errno));
out:
	free(cpuid);
	return r;
}

static int setup_msrs(struct vcpu *vcpu, struct vmon_error *err)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entries[16];
	} msrs;
	int n;

	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = (uint32_t)x86_boot_msrs(msrs.entries, 16);
	n = ioctl(vcpu->fd, KVM_SET_MSRS, &msrs);
	if (n < 0)
		return error_set(err, -errno, "KVM_SET_MSRS: %s", strerror(errno));
	/* KVM returns how many it set; a host may refuse some (logged, not fatal). */
	if ((uint32_t)n < msrs.hdr.nmsrs)
		log_info("vCPU %u: KVM refused MSR 0x%x (set %d of %u)", vcpu->index, msrs.entries[n].index, n,
			 msrs.hdr.nmsrs);
	return 0;
}

static int setup_lapic(struct vcpu *vcpu, struct vmon_error *err)
{
	struct kvm_lapic_state lapic;

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
		return error_set(err, -errno, "KVM_GET_LAPIC: %s", strerror(errno));
	x86_lapic_wire_lints(&lapic);
	if (ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0)
		return error_set(err, -errno, "KVM_SET_LAPIC: %s", strerror(errno));
	return 0;
}

int vcpu_configure(struct vcpu *vcpu, struct vmon_error *err)
{
	int r;

	if ((r = setup_cpuid(vcpu, err)) || (r = setup_msrs(vcpu, err)) || (r = setup_lapic(vcpu, err)))
		return r;
	return 0;
}

int vcpu_set_boot_state(struct vcpu *vcpu, const struct boot_result *boot, struct vmon_error *err)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return error_set(err, -errno, "KVM_GET_SREGS: %s", strerror(errno));
	x86_boot_sregs(&sregs, boot->mode);
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return error_set(err, -errno, "KVM_SET_SREGS: %s", strerror(errno));
	x86_boot_regs(&regs, boot);
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return error_set(err, -errno, "KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

int vcpu_save(struct vcpu *vcpu, struct x86_vcpu_state *st, struct vmon_error *err)
{
	int r = x86_vcpu_state_get(vcpu->fd, &vcpu->vm->vcpu_caps, st, err);

	if (r)
		error_prefix(err, "vCPU %u", vcpu->index);
	return r;
}

int vcpu_restore(struct vcpu *vcpu, const struct x86_vcpu_state *st, struct vmon_error *err)
{
	int r = x86_vcpu_state_set(vcpu->fd, &vcpu->vm->vcpu_caps, st, err);

	if (r)
		error_prefix(err, "vCPU %u", vcpu->index);
	return r;
}

int vcpu_scramble(struct vcpu *vcpu, struct vmon_error *err)
{
	/* The PVH entry of a kernel at 0 with nothing in its registers: far from any running guest's state. */
	const struct boot_result nothing = { .mode = BOOT_ENTRY_PROTECTED };
	struct kvm_lapic_state lapic;

	memset(&lapic, 0, sizeof(lapic));
	if (ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0)
		return error_set(err, -errno, "vCPU %u: KVM_SET_LAPIC (scramble): %s", vcpu->index, strerror(errno));
	return vcpu_set_boot_state(vcpu, &nothing, err);
}

void vcpu_dump_state(struct vcpu *vcpu, FILE *out)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(out, "vmon: vCPU %u: registers unavailable: %s\n", vcpu->index, strerror(errno));
		return;
	}
	fprintf(out,
		"vmon: vCPU %u registers:\n"
		"vmon:  rip %016llx rsp %016llx rflags %016llx\n"
		"vmon:  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n"
		"vmon:  rsi %016llx rdi %016llx rbp %016llx\n"
		"vmon:  r8  %016llx r9  %016llx r10 %016llx r11 %016llx\n"
		"vmon:  r12 %016llx r13 %016llx r14 %016llx r15 %016llx\n"
		"vmon:  cs %04x (dpl %u l %u) ss %04x ds %04x es %04x tr %04x\n"
		"vmon:  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx efer %llx\n"
		"vmon:  gdt %016llx/%x idt %016llx/%x\n",
		vcpu->index, r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.r8, r.r9,
		r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, s.cs.selector, s.cs.dpl, s.cs.l, s.ss.selector,
		s.ds.selector, s.es.selector, s.tr.selector, s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.gdt.base,
		s.gdt.limit, s.idt.base, s.idt.limit);

	/* AMD SVM reinitialises the VMCB on a shutdown intercept: the fault context is gone. */
	if (r.rip == 0xfff0 && s.cs.selector == 0xf000)
		fprintf(out, "vmon:  (this is the reset state: on AMD hosts KVM reinitialises the vCPU after a "
			     "triple fault, so the faulting context is not available)\n");

	/* The bytes at RIP, when the address translates to RAM: names the faulting instruction. */
	struct kvm_translation tr = { .linear_address = s.cs.base + r.rip };
	if (ioctl(vcpu->fd, KVM_TRANSLATE, &tr) == 0 && tr.valid) {
		const uint8_t *code = guest_mem_ptr(&vcpu->vm->mem, tr.physical_address, 16);
		if (code) {
			fprintf(out, "vmon:  code at rip (gpa %llx):", tr.physical_address);
			for (int i = 0; i < 16; i++)
				fprintf(out, " %02x", code[i]);
			fputc('\n', out);
		}
	}
}

static void handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	uint64_t bytes = (uint64_t)run->io.size * run->io.count;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	/* The data area lives in the kvm_run mapping; never trust it to fit. */
	stats_count_io_exit(&vcpu->stats, STATS_PIO, is_write);
	if (run->io.data_offset >= vcpu->run_size || bytes > vcpu->run_size - run->io.data_offset)
		return;
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		bool handled = io_bus_access(&vcpu->vm->pio, run->io.port, data, run->io.size, is_write);
		if (stats_count_io(&vcpu->stats, STATS_PIO, run->io.port, handled, is_write))
			log_warn("guest %s port 0x%x (%u bytes) that no device handles; counted, reported once",
				 is_write ? "wrote" : "read", run->io.port, run->io.size);
	}
}

static void handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	unsigned len = run->mmio.len > sizeof(run->mmio.data) ? sizeof(run->mmio.data) : run->mmio.len;
	bool handled = io_bus_access(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len,
				     run->mmio.is_write);

	stats_count_io_exit(&vcpu->stats, STATS_MMIO, run->mmio.is_write);

	if (stats_count_io(&vcpu->stats, STATS_MMIO, run->mmio.phys_addr, handled, run->mmio.is_write))
		log_warn("guest %s MMIO 0x%llx (%u bytes) that no device handles; counted, reported once",
			 run->mmio.is_write ? "wrote" : "read", (unsigned long long)run->mmio.phys_addr, len);
}

static void crash(struct vcpu *vcpu, const char *what)
{
	log_error("vCPU %u: %s", vcpu->index, what);
	stats_count_failure(&vcpu->stats);
	vcpu_dump_state(vcpu, stderr);
	vm_request_stop(vcpu->vm, VM_STOP_ERROR, VMON_EXIT_GUEST_CRASH);
}

static int read_syscall_msrs(struct vcpu *vcpu, struct x86_emu_cpu *cpu)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[2];
	} msrs = { .hdr.nmsrs = 2, .e = { { .index = MSR_STAR }, { .index = MSR_LSTAR } } };

	if (ioctl(vcpu->fd, KVM_GET_MSRS, &msrs) != 2)
		return -1;
	cpu->msr_star = msrs.e[0].data;
	cpu->msr_lstar = msrs.e[1].data;
	return 0;
}

static bool write_back(struct vcpu *vcpu, struct x86_emu_cpu *cpu)
{
	if ((cpu->dirty & X86_EMU_DIRTY_SREGS) && ioctl(vcpu->fd, KVM_SET_SREGS, &cpu->sregs) < 0)
		return false;
	if ((cpu->dirty & X86_EMU_DIRTY_REGS) && ioctl(vcpu->fd, KVM_SET_REGS, &cpu->regs) < 0)
		return false;
	if ((cpu->dirty & X86_EMU_DIRTY_FPU) && ioctl(vcpu->fd, KVM_SET_XSAVE, cpu->fpu) < 0)
		return false;
	cpu->dirty = 0;
	return true;
}

/*
 * Trap-and-emulate for instructions KVM's own emulator rejects (host profile
 * with emulated ring 0): the ioctls around src/arch/x86/emulation_exit.c,
 * which decides what to read and what to set. Returns true when the guest
 * can go on.
 */
static bool emulate_for_kvm(struct vcpu *vcpu)
{
	struct x86_emu_cpu cpu = { .mem = &vcpu->vm->mem };
	struct x86_emu_exit exit;
	struct x86_emu_report rep;
	struct kvm_xsave xsave;
	enum x86_emu_result res;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &cpu.regs) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &cpu.sregs) < 0) {
		log_error("vCPU %u: cannot emulate for KVM: KVM_GET_REGS/SREGS: %s", vcpu->index, strerror(errno));
		return false;
	}
	x86_emu_exit_prepare(vcpu->run, &cpu, &exit);
	if (exit.need_syscall_msrs && read_syscall_msrs(vcpu, &cpu) < 0) {
		log_error("vCPU %u: cannot emulate for KVM: KVM_GET_MSRS (STAR, LSTAR) failed", vcpu->index);
		return false;
	}
	res = x86_emu_exit_run(&cpu, &exit, &vcpu->emu_stats, &rep);
	if (res == X86_EMU_NEED_FPU) {
		/* x87/SSE state only for the instructions that use it: 4 KiB each way. */
		if (ioctl(vcpu->fd, KVM_GET_XSAVE, &xsave) < 0) {
			log_error("vCPU %u: cannot emulate for KVM: %s; KVM_GET_XSAVE: %s", vcpu->index, rep.msg.msg,
				  strerror(errno));
			return false;
		}
		cpu.fpu = &xsave;
		cpu.mxcsr_mask = x86_fx_host_mxcsr_mask();
		res = x86_emu_exit_run(&cpu, &exit, &vcpu->emu_stats, &rep);
	}
	if (res != X86_EMU_DONE) {
		log_error("vCPU %u: cannot emulate for KVM: %s", vcpu->index, rep.msg.msg);
		return false;
	}
	if (!write_back(vcpu, &cpu)) {
		log_error("vCPU %u: cannot emulate for KVM: writing the state back after %s: %s", vcpu->index,
			  rep.msg.msg, strerror(errno));
		return false;
	}
	return true;
}

static void handle_internal_error(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "KVM internal error, suberror %u", run->internal.suberror);

	for (uint32_t i = 0; i < run->internal.ndata && i < 8 && n > 0 && (size_t)n < sizeof(msg); i++)
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, "%s%llx", i ? " " : ", data ",
			      (unsigned long long)run->internal.data[i]);
	crash(vcpu, msg);
}

static void handle_system_event(struct vcpu *vcpu)
{
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vcpu->vm, VM_STOP_POWER_OFF, VMON_EXIT_OK);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(vcpu->vm, VM_STOP_RESET, VMON_EXIT_OK);
		break;
	default:
		crash(vcpu, "guest reported a crash (KVM system event)");
		break;
	}
}

/* Returns false when the vCPU must stop. */
static bool handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	stats_count_exit(&vcpu->stats, run->exit_reason);
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(vcpu);
		return true;
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		return true;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; vmon always has one, so a halted CPU wakes in-kernel. */
		crash(vcpu, "guest halted with no interrupt source (unexpected KVM_EXIT_HLT)");
		return false;
	case KVM_EXIT_SHUTDOWN:
		crash(vcpu, "guest triple fault (KVM_EXIT_SHUTDOWN)");
		return false;
	case KVM_EXIT_FAIL_ENTRY: {
		char msg[128];
		snprintf(msg, sizeof(msg), "VM entry failed, hardware reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		crash(vcpu, msg);
		return false;
	}
	case KVM_EXIT_INTERNAL_ERROR:
		if (vcpu->vm->profile.emulated_ring0 && run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
		    emulate_for_kvm(vcpu))
			return true;
		handle_internal_error(vcpu);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(vcpu);
		return false;
	default: {
		char msg[96];
		snprintf(msg, sizeof(msg), "unexpected KVM exit reason %u (%s)", run->exit_reason,
			 stats_exit_reason_name(run->exit_reason));
		crash(vcpu, msg);
		return false;
	}
	}
}

void vcpu_watchdog_tick(struct vcpu *vcpu)
{
	uint64_t now = atomic_load_explicit(&vcpu->progress, memory_order_relaxed);

	if (now != vcpu->watchdog_seen_progress) {
		vcpu->watchdog_seen_progress = now;
		return;
	}
	atomic_store(&vcpu->watchdog_check, true);
	vcpu_kick(vcpu);
}

/* On the vCPU thread, after a watchdog kick: is it parked on a hypercall? */
static void watchdog_inspect(struct vcpu *vcpu)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_translation tr;
	const uint8_t *code;
	const char *insn;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return;
	tr = (struct kvm_translation){ .linear_address = sregs.cs.base + regs.rip };
	if (ioctl(vcpu->fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid)
		return;
	code = guest_mem_ptr(&vcpu->vm->mem, tr.physical_address, 15);
	insn = code ? x86_stuck_instruction(code, 15) : NULL;
	if (!insn) {
		vcpu->watchdog_suspect_rip = 0;
		return;
	}
	if (vcpu->watchdog_suspect_rip != regs.rip + 1) {
		/* First sighting: the next check confirms it (stored +1 so that RIP 0 counts too). */
		vcpu->watchdog_suspect_rip = regs.rip + 1;
		return;
	}
	char msg[200];
	snprintf(msg, sizeof(msg), "stuck on `%s` at rip 0x%llx: this host never completes it from guest kernel "
		 "code; the guest must not use KVM hypercalls here", insn, (unsigned long long)regs.rip);
	crash(vcpu, msg);
}

/*
 * PVM hosts: an AP that waits for INIT/SIPI inside KVM_RUN stalls the other
 * vCPUs there (shared/notes/host-pvm.md: the BSP's SIPI took effect only when
 * the AP's KVM_RUN was interrupted 30 s later). So the AP's thread waits
 * outside KVM_RUN, asking for its mp_state (KVM_GET_MP_STATE also takes a
 * pending INIT or SIPI in) until the guest has started it. Every 1 ms at
 * first, backing off to 50 ms while nothing changes, so APs a guest never
 * starts cost next to nothing; Linux waits seconds for an AP to call in.
 */
#define STARTUP_POLL_MIN_NS 1000000L
#define STARTUP_POLL_MAX_NS 50000000L

static bool awaiting_startup(uint32_t mp_state)
{
	return mp_state == KVM_MP_STATE_UNINITIALIZED || mp_state == KVM_MP_STATE_INIT_RECEIVED;
}

/* Returns false when the VM stopped first (or KVM failed, which stops it). */
static bool wait_for_startup(struct vcpu *vcpu)
{
	long interval = STARTUP_POLL_MIN_NS;
	uint32_t last = UINT32_MAX;
	unsigned polls = 0;

	while (!vm_stopping(vcpu->vm)) {
		struct kvm_mp_state mp;

		if (ioctl(vcpu->fd, KVM_GET_MP_STATE, &mp) < 0) {
			log_error("vCPU %u: KVM_GET_MP_STATE: %s", vcpu->index, strerror(errno));
			vm_request_stop(vcpu->vm, VM_STOP_ERROR, VMON_EXIT_HOST_ERROR);
			return false;
		}
		if (!awaiting_startup(mp.mp_state)) {
			if (polls)
				log_debug("vCPU %u: started by the guest (mp_state %u after %u polls)", vcpu->index,
					  mp.mp_state, polls);
			return true;
		}
		if (mp.mp_state != last) {
			last = mp.mp_state;
			interval = STARTUP_POLL_MIN_NS;
		}
		/* Not stuck on an instruction: it runs none. A pause parks it here. */
		atomic_store(&vcpu->watchdog_check, false);
		vm_park_vcpu(vcpu->vm);
		/* A kick (pause, stop) cuts the sleep short with EINTR. */
		struct timespec pause = { 0, interval };
		nanosleep(&pause, NULL);
		polls++;
		interval = interval * 2 > STARTUP_POLL_MAX_NS ? STARTUP_POLL_MAX_NS : interval * 2;
	}
	return false;
}

/* The clock is read first: the log line's own cost (a few us) is not in the figure, only before the KVM_RUN. */
static void log_first_run(const struct vcpu *vcpu)
{
	const struct timespec *since = &vcpu->vm->first_run_since;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	log_info("vCPU 0: first KVM_RUN %.3f ms after the %s", (double)(now.tv_sec - since->tv_sec) * 1e3 +
		 (double)(now.tv_nsec - since->tv_nsec) / 1e6, vcpu->vm->first_run_what);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	sigset_t unblock;

	sigemptyset(&unblock);
	sigaddset(&unblock, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);

	/*
	 * On PVM hosts: before the first KVM_RUN, and after every interrupted one
	 * (a restore while parked, or a guest INIT, may have put the vCPU back into
	 * wait-for-SIPI; the watchdog's kick bounds how long it sits there).
	 */
	bool check_startup = vcpu->vm->profile.emulated_ring0;

	/*
	 * A pause requested before this thread ran (a VM restored paused) parks
	 * it before its first KVM_RUN. Later pauses park only after a kicked
	 * KVM_RUN: an exit's completion (the data of a port read) reaches the
	 * registers only in the next KVM_RUN, so parking between an exit and
	 * that KVM_RUN would save a state without it.
	 */
	vm_park_vcpu(vcpu->vm);
	bool first_run = vcpu->index == 0 && vcpu->vm->first_run_what;
	while (!vm_stopping(vcpu->vm)) {
		if (check_startup) {
			check_startup = false;
			if (!wait_for_startup(vcpu))
				break;
		}
		if (first_run) {
			first_run = false;
			log_first_run(vcpu);
		}
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu->run->immediate_exit = 0;
				if (atomic_exchange(&vcpu->watchdog_check, false))
					watchdog_inspect(vcpu);
				/* A kick's KVM_RUN with immediate_exit completed any pending exit: parking is safe here. */
				vm_park_vcpu(vcpu->vm);
				check_startup = vcpu->vm->profile.emulated_ring0;
				continue;
			}
			log_error("vCPU %u: KVM_RUN: %s", vcpu->index, strerror(errno));
			stats_count_failure(&vcpu->stats);
			vm_request_stop(vcpu->vm, VM_STOP_ERROR, VMON_EXIT_HOST_ERROR);
			break;
		}
		atomic_fetch_add_explicit(&vcpu->progress, 1, memory_order_relaxed);
		if (!handle_exit(vcpu))
			break;
	}
	vm_count_running_vcpu(vcpu->vm, -1);
	return NULL;
}

/* A vCPU's own thread, named as Firecracker names them: orchestrators find vCPU threads by name (to pin them). */
static void *named_vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	char name[16];

	snprintf(name, sizeof(name), "fc_vcpu %u", vcpu->index);
	prctl(PR_SET_NAME, name);
	/* The vCPU's filter before its first KVM_RUN; failing to install one fails closed. */
	struct vmon_error err = { 0 };
	if (seccomp_install(SECCOMP_THREAD_VCPU, name, &err)) {
		log_error("%s", err.msg);
		_exit(SECCOMP_EXIT_STATUS);
	}
	seccomp_selftest(SECCOMP_THREAD_VCPU);
	return vcpu_thread(vcpu);
}

int vcpu_start(struct vcpu *vcpu, struct vmon_error *err)
{
	vm_count_running_vcpu(vcpu->vm, +1);
	int r = pthread_create(&vcpu->thread, NULL, named_vcpu_thread, vcpu);

	if (r) {
		vm_count_running_vcpu(vcpu->vm, -1);
		return error_set(err, -r, "cannot start vCPU %u thread: %s", vcpu->index, strerror(r));
	}
	vcpu->thread_started = true;
	return 0;
}

void vcpu_claim_caller(struct vcpu *vcpu)
{
	/* Counted like a started thread: vm_pause() waits for it, vcpu_run_here() ends the count. */
	vm_count_running_vcpu(vcpu->vm, +1);
	vcpu->thread = pthread_self();
	vcpu->thread_started = true;
}

void vcpu_run_here(struct vcpu *vcpu)
{
	sigset_t kick;

	vcpu_thread(vcpu);
	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &kick, NULL);
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->thread_started)
		return;
	/* immediate_exit covers the window between the stop check and KVM_RUN. */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (vcpu->thread_started) {
		if (!pthread_equal(vcpu->thread, pthread_self()))
			pthread_join(vcpu->thread, NULL);
		vcpu->thread_started = false;
	}
}
