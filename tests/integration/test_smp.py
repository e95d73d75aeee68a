# SPDX-License-Identifier: MIT
"""SMP: the smp test guest starts every vCPU vmon describes; stopping and idling with several vCPUs."""

import os
import re
import subprocess

import pytest

from conftest import VMON, describe, guest, vm_case, vmon_run

MEM = ["--mem", "32M"]
PASS = 1  # debug_exit(0)

COUNTS = [1, 2, 4, 32]
for n in COUNTS:
    vm_case(f"smp_{n}", vmon_run("--kernel", guest("smp"), *MEM, "--cpus", n, "--cmdline", f"cpus={n}"),
            timeout=60)


@pytest.mark.parametrize("n", COUNTS)
def test_guest_starts_every_ap_with_its_own_apic_id(vm_results, n):
    r = vm_results[f"smp_{n}"]
    assert r.returncode == PASS, describe(r)
    out = r.stdout.decode()
    assert f"smp: the MADT lists {n} CPUs; the BSP has APIC ID 0\n" in out, describe(r)
    ids = " ".join(str(i) for i in range(1, n))
    assert f"smp: {n - 1} APs started, each with its own APIC ID (CPUID agrees):{' ' if ids else ''}{ids}\n" \
        in out, describe(r)
    assert f"smp: all {n} CPUs up\n" in out, describe(r)


# Every AP triple-faults while the BSP waits for them: the first fault stops the whole VM.
vm_case("smp_ap_fault", vmon_run("--kernel", guest("smp"), *MEM, "--cpus", 4, "--cmdline", "ap_fault=1"),
        timeout=60)


def test_triple_fault_on_an_ap_stops_every_vcpu(vm_results):
    r = vm_results["smp_ap_fault"]
    assert r.returncode == 4, describe(r)
    assert b"smp: the APs will triple-fault\n" in r.stdout, describe(r)
    assert re.search(rb"vCPU [123]: guest triple fault \(KVM_EXIT_SHUTDOWN\)", r.stderr), describe(r)
    assert b"all 4 CPUs up" not in r.stdout, describe(r)


def test_more_cpus_than_the_machine_takes_are_refused():
    r = subprocess.run([VMON, "run", "--kernel", guest("smp"), "--cpus", "255"], capture_output=True)
    assert r.returncode == 2, r
    assert b"--cpus: ncpus 255: at most 254 vCPUs" in r.stderr, r


# A running vmon's user+system CPU time (clock ticks) before and after 2 s, then SIGTERM: every
# vCPU thread must stop and be joined (status 143), and halted vCPUs must cost the host nothing.
# GUEST_READY: output that says the guest has reached the state to measure.
IDLE_SH = r'''
out=/tmp/smp_idle.$$
"$1" run --kernel "$2" --mem 32M --cpus "$3" --cmdline "$4" </dev/null >"$out" 2>&1 &
pid=$!
i=0
while [ $i -lt 300 ]; do
	case "$(cat "$out")" in *"$5"*) break;; esac
	sleep 0.1
	i=$((i + 1))
done
echo "before=$(cat /proc/$pid/stat)"
sleep 2
echo "after=$(cat /proc/$pid/stat)"
kill -TERM $pid
wait $pid
echo "status=$?"
cat "$out"
rm -f "$out"
'''

# Every CPU started, then all halted with interrupts off.
vm_case("smp_idle_sigterm", ["sh", "-c", IDLE_SH, "sh", VMON, guest("smp"), 8, "cpus=8 idle=1", "smp: idling"],
        timeout=90)
# APs the guest never starts (they wait for INIT/SIPI, polled on PVM hosts) and a BSP halted for input.
vm_case("smp_unstarted_sigterm", ["sh", "-c", IDLE_SH, "sh", VMON, guest("uart_irq"), 8, "", "uart_irq: ready"],
        timeout=90)


def cpu_ticks(stat_line):
    # Fields after "(comm)": state is field 3, utime 14, stime 15 (proc(5)).
    fields = stat_line[stat_line.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


@pytest.mark.parametrize("case,ready", [("smp_idle_sigterm", "smp: idling"),
                                        ("smp_unstarted_sigterm", "uart_irq: ready")])
def test_halted_vcpus_cost_no_host_cpu_and_sigterm_stops_all(vm_results, case, ready):
    r = vm_results[case]
    assert r.returncode == 0, describe(r)
    out = r.stdout.decode()
    assert ready in out, describe(r)
    assert "status=143\n" in out, describe(r)
    before = re.search(r"^before=(.*)$", out, re.M)
    after = re.search(r"^after=(.*)$", out, re.M)
    assert before and after, describe(r)
    used = (cpu_ticks(after.group(1)) - cpu_ticks(before.group(1))) / os.sysconf("SC_CLK_TCK")
    # 8 vCPUs, 2 s: a spinning one alone would show 2 s here.
    assert used < 0.1, f"vmon used {used:.2f} s of CPU in 2 s\n" + describe(r)
    assert "ERROR: AddressSanitizer" not in r.stderr.decode(errors="replace"), describe(r)
