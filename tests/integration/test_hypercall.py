# SPDX-License-Identifier: MIT
"""A KVM hypercall (vmcall, vmmcall) from guest CPL 0, and vmon's watchdog.

On hosts that run guest ring 0 in KVM's emulator (PVM), such a hypercall
never completes: the vCPU sits on it inside KVM_RUN without an exit
(shared/notes/host-pvm.md). Under the emulated-ring-0 host profile vmon's
watchdog (src/vmm/vcpu.c, every 5 s) kicks a vCPU that made no exit since
the last tick, and stops the VM when it finds it on the same vmcall/vmmcall
twice in a row. On VT-x/AMD-V hosts KVM completes the hypercall (-KVM_ENOSYS
for an unknown number) and the guest goes on, also with the watchdog on.

The runs force the profile (--host-profile pvm), so the watchdog is active on
every host; which outcome is right depends on the host, which a run under
--host-profile auto tells: vmon says there whether it detected a host that
emulates guest ring 0.
"""

import re

import pytest

from conftest import describe, guest, vm_case, vmon_run

MEM = ["--mem", "32M"]
PASS = 1                          # debug_exit(0)
GUEST_CRASH = 4                   # VMON_EXIT_GUEST_CRASH
KVM_ENOSYS = 2**64 - 1000         # what KVM returns in RAX for an unknown hypercall
WATCHDOG_PERIOD_S = 5             # vm.c
EMULATED_RING0 = b"runs guest kernel code in KVM's instruction emulator"

vm_case("hypercall_host_kind", vmon_run("--kernel", guest("hello"), *MEM, "--host-profile", "auto"))
for insn in ("vmcall", "vmmcall"):
    vm_case(f"hypercall_{insn}", vmon_run("--kernel", guest("hypercall"), *MEM, "--host-profile", "pvm",
                                          "--cmdline", f"insn={insn}"), timeout=60)


@pytest.fixture(scope="module")
def host_emulates_ring0(vm_results):
    r = vm_results["hypercall_host_kind"]
    assert r.returncode == 0, describe(r)
    return EMULATED_RING0 in r.stderr


@pytest.mark.parametrize("insn", ["vmcall", "vmmcall"])
def test_hypercall_from_cpl0_completes_or_the_watchdog_names_it(vm_results, host_emulates_ring0, insn):
    r = vm_results[f"hypercall_{insn}"]
    m = re.search(rb"^hypercall: issuing %s at rip (0x[0-9a-f]+) " % insn.encode(), r.stdout, re.M)
    assert m, describe(r)
    rip = m.group(1)
    assert EMULATED_RING0 in r.stderr, describe(r)   # the forced profile, hence the watchdog, is on
    if not host_emulates_ring0:
        assert r.returncode == PASS, describe(r)
        assert f"hypercall: {insn} returned rax={KVM_ENOSYS:#x}\n".encode() in r.stdout, describe(r)
        assert b"stuck on" not in r.stderr, describe(r)
        return
    # KVM may first rewrite the instruction into the one it calls native (PVM turns vmmcall into
    # vmcall, as KVM_X86_QUIRK_FIX_HYPERCALL_INSN does on VT-x), then park the vCPU on it.
    names = b"vmcall" if insn == "vmcall" else b"(?:vmcall|vmmcall)"
    assert r.returncode == GUEST_CRASH, describe(r)
    assert re.search(rb"vmon: error: vCPU 0: stuck on `%s` at rip %s: this host never completes it"
                     % (names, rip), r.stderr), describe(r)
    assert b"hypercall: %s returned" % insn.encode() not in r.stdout, describe(r)
    assert b"raised #UD" not in r.stdout, describe(r)
    # The first sighting needs a tick with no exit since the one before, the second confirms it.
    assert 2 * WATCHDOG_PERIOD_S <= r.duration <= 4 * WATCHDOG_PERIOD_S, describe(r)
