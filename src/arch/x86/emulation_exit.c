/* SPDX-License-Identifier: MIT */
#include "arch/x86/emulation_exit.h"

#include <string.h>

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
}

enum x86_emu_result x86_emu_exit_run(struct x86_emu_cpu *cpu, const struct x86_emu_exit *exit,
				     struct x86_emu_stats *stats, struct x86_emu_report *rep)
{
	enum x86_emu_result res = x86_emu_emulation_failure(cpu, exit->insn, exit->insn_len, stats, rep);

	if (res == X86_EMU_GUEST_FAULT)
		res = x86_emu_raise(cpu, &rep->fault, stats, rep);
	return res;
}
