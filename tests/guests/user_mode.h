/* SPDX-License-Identifier: MIT */
#ifndef GUEST_USER_MODE_H
#define GUEST_USER_MODE_H

#include "lib.h"

/*
 * Running a guest's main loop at CPL 3, where hosts that run guest ring 0 in
 * an emulator (PVM) run it natively: page tables mapping 0..1 GiB
 * (write-back) and 3..4 GiB (uncached: MMIO) with U = 1 at every level, the
 * library's CPL-3 GDT and TSS, RFLAGS.IOPL = 3 (COM1, the debug-exit port and
 * the CMOS clock stay reachable; where the host drops that IOPL, as PVM
 * does, the #GP handler performs the in/out (and cli) at CPL 0) and IF = 0. Other
 * exceptions at CPL 3 fail the guest with trap_code, printing vector, error
 * code, RIP and CR2.
 *
 * Call at CPL 0 once the devices are set up; fn never returns.
 */
__attribute__((noreturn)) void user_mode_enter(void (*fn)(void), uint32_t trap_code);

#endif
