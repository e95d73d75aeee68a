/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_STUCK_INSN_H
#define VMON_X86_STUCK_INSN_H

#include <stddef.h>
#include <stdint.h>

/*
 * Instructions a vCPU can sit on forever inside KVM_RUN on hosts whose KVM
 * never completes them (PVM: `vmcall` from guest kernel code neither returns
 * nor exits, ../shared/notes/host-pvm.md). The watchdog names them.
 * Returns the mnemonic when the bytes at RIP (after legacy prefixes) are one,
 * else NULL.
 */
const char *x86_stuck_instruction(const uint8_t *bytes, size_t len);

#endif
