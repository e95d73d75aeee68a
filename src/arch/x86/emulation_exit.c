/* SPDX-License-Identifier: MIT */
#include "arch/x86/emulation_exit.h"

#include <string.h>

/* Legacy and REX prefixes (SDM vol. 2 §2.1.1, §2.2.1). */
static bool is_prefix(uint8_t b)
{
	switch (b) {
	case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65: case 0x66: case 0x67:
	case 0xf0: case 0xf2: case 0xf3:
		return true;
	default:
		return (b & 0xf0) == 0x40;   /* REX in 64-bit mode; elsewhere inc/dec, never fwait */
	}
}

/* fwait (9b) after prefixes, or bytes that do not say: the x87 status word is then worth its ioctl. */
static bool may_be_fwait(const uint8_t *insn, size_t len)
{
	size_t i = 0;

	while (i < len && is_prefix(insn[i]))
		i++;
	return i == len || insn[i] == 0x9b;
}

void x86_emu_exit_prepare(const struct kvm_run *run, const struct x86_emu_cpu *cpu, struct x86_emu_exit *exit)
{
	memset(exit, 0, sizeof(*exit));
	/* ndata counts the u64 words after suberror/ndata: flags, then 16 bytes of insn_size + insn_bytes. */
	if (run->emulation_failure.ndata >= 3 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		exit->insn_len = run->emulation_failure.insn_size;
		if (exit->insn_len > sizeof(run->emulation_failure.insn_bytes))
			exit->insn_len = sizeof(run->emulation_failure.insn_bytes);
		memcpy(exit->insn, run->emulation_failure.insn_bytes, exit->insn_len);
	}
	/* The MSR reads cost an ioctl: only when the state looks like a broken syscall. */
	exit->need_syscall_msrs = x86_emu_syscall_suspect(cpu, NULL, NULL);
	exit->need_x87_status = may_be_fwait(exit->insn, exit->insn_len);
}

enum x86_emu_result x86_emu_exit_run(struct x86_emu_cpu *cpu, const struct x86_emu_exit *exit,
				     struct x86_emu_stats *stats, struct x86_emu_report *rep)
{
	enum x86_emu_result res = x86_emu_emulation_failure(cpu, exit->insn, exit->insn_len, stats, rep);

	if (res == X86_EMU_GUEST_FAULT)
		res = x86_emu_raise(cpu, &rep->fault, stats, rep);
	return res;
}
