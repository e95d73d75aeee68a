# SPDX-License-Identifier: MIT
"""A VM saved through vmon's state APIs and restored into a fresh VM continues exactly.

tests/integration/kvm_state.c does the work (see its header) and prints one
"ok <check>" / "FAIL <check>: why" line per check; each test here asks for
its checks by name, so a check that silently stopped running fails too.
"""

from conftest import KVM_STATE, describe, vm_case

vm_case("kvm_state", [KVM_STATE], timeout=60)


def expect_ok(vm_results, *checks):
    r = vm_results["kvm_state"]
    out = r.stdout.decode(errors="replace")
    for name in checks:
        assert f"ok {name}\n" in out, f"check '{name}' did not pass\n" + describe(r)
    return r


def test_program_passes_every_check(vm_results):
    r = vm_results["kvm_state"]
    assert r.returncode == 0, describe(r)
    assert b"FAIL" not in r.stdout, describe(r)
    assert b"PASSED: 0 check(s) failed" in r.stdout, describe(r)


def test_guest_continues_exactly_in_the_fresh_vm(vm_results):
    expect_ok(vm_results,
              "VM A: guest sees the PIT count",
              "saved EBX matches the last report",
              "restore accepted",
              "VM B: counter continues from A's",
              "VM B: memory counter matches the report",
              "VM B: MXCSR preserved",
              "VM B: XMM0-7 preserved",
              "VM B: guest reads its PIC IMR back",
              "VM B: guest reads its IOAPIC entry back",
              "VM B: PIT counting",
              "VM B: TSC continues (not back)")


def test_vcpu_state_reads_back_identical_after_restore(vm_results):
    expect_ok(vm_results,
              "saved SYSENTER_CS",
              "restore: regs identical",
              "restore: sregs identical",
              "restore: FPU/SSE state identical",
              "restore: XCRs identical",
              "restore: debug registers identical",
              "restore: vcpu events identical",
              "restore: mp_state identical",
              "restore: LAPIC identical",
              "restore: MSRs identical (TSC within 100 ms)",
              "TSC deadline restored (set after the LAPIC)")


def test_kvm_devices_restore_and_reset(vm_results):
    expect_ok(vm_results,
              "PIT channel 0 restored (mode 2, count 0x1234)",
              "PIC master restored",
              "kvmclock continues from the saved value (not back, not +300 ms)",
              "VM B: kvmclock MSR restored, guest's pvclock updated",
              "VM B: kvmclock monotonic",
              "reset: PIT, PIC and kvmclock back to power-on")


def test_corrupt_states_are_refused_and_change_nothing(vm_results):
    expect_ok(vm_results,
              "corrupt vCPU state refused (nmsrs)",
              "corrupt vCPU state refused (xcomp_bv)",
              "refused vCPU state left the vCPU at reset",
              "corrupt PIT state refused",
              "refused device state changed nothing")
