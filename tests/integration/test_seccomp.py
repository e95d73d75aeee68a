# SPDX-License-Identifier: MIT
"""seccomp-bpf per thread (src/base/seccomp_filter.c) in the real vmon.

A forbidden system call from each kind of thread (vCPU, I/O, API, main, slirp) ends
vmon with status 148 and a line naming the thread and the call: the test hook
VMON_SECCOMP_SELFTEST=<kind> makes the first thread of that kind call
personality() (in no list) right after installing its filter. And from
outside, /proc/PID/task/*/status of a running vmon: every thread is in
seccomp filter mode at levels 1 and 2, none at 0.
"""

import re

import pytest

from conftest import VMON, describe, guest, vm_case

MEM = ["--mem", "32M"]
BAD_SYSCALL = 148   # Firecracker's exit code for a bad system call


def with_env(env, argv):
    return ["sh", "-c", f'{env} exec "$@"', "sh", *argv]


# vmon --api-sock on a socket of its own, removed afterwards (a killed vmon leaves it).
API_SH = 'VMON_SECCOMP_SELFTEST=api "$1" --api-sock /tmp/vmon-seccomp-$$.sock --seccomp-level "$2"; ' \
         's=$?; rm -f /tmp/vmon-seccomp-$$.sock; exit $s'


# kind -> (vmon command, the thread name the report must give)
SELFTESTS = {
    # vCPU 0 runs on the main thread in `vmon run`: vCPU 1 is the first on a thread of its own.
    "vcpu": ([VMON, "run", "--kernel", guest("smp"), *MEM, "--cpus", 2, "--cmdline", "cpus=2"], r"fc_vcpu 1"),
    "io": ([VMON, "run", "--kernel", guest("hello"), *MEM], r"vmon-events|vmon-io"),
    "main": ([VMON, "run", "--kernel", guest("hello"), *MEM], r"main"),
    "slirp": ([VMON, "run", "--kernel", guest("hello"), *MEM, "--net", "user"], r"vmon-slirp"),
    # The API thread checks as it starts: no VM needed.
    "api": (None, r"fc_api"),
}
for kind, (argv, _) in SELFTESTS.items():
    for level in (1, 2):
        vm_case(f"seccomp_selftest_{kind}_{level}",
                ["sh", "-c", API_SH, "sh", VMON, level] if argv is None else
                with_env(f"VMON_SECCOMP_SELFTEST={kind}", [*argv, "--seccomp-level", level]), timeout=60)
# Level 0: the same call goes through, and the guest runs to its end.
vm_case("seccomp_selftest_main_0",
        with_env("VMON_SECCOMP_SELFTEST=main", [VMON, "run", "--kernel", guest("hello"), *MEM, "--no-seccomp"]))


@pytest.mark.parametrize("kind", sorted(SELFTESTS))
@pytest.mark.parametrize("level", [1, 2])
def test_a_forbidden_syscall_from_each_thread_kind_ends_vmon_naming_it(vm_results, kind, level):
    r = vm_results[f"seccomp_selftest_{kind}_{level}"]
    assert r.returncode == BAD_SYSCALL, describe(r)
    err = r.stderr.decode(errors="replace")
    thread = SELFTESTS[kind][1]
    assert re.search(rf"^vmon: seccomp: thread ({thread}) made forbidden syscall personality \(135\)$", err, re.M), \
        describe(r)
    assert "personality() was allowed" not in err, describe(r)


def test_level_0_installs_no_filter(vm_results):
    r = vm_results["seccomp_selftest_main_0"]
    assert r.returncode == 0, describe(r)   # hello resets through the i8042
    assert b"seccomp self-test: personality() was allowed on thread main (level 0)" in r.stderr, describe(r)
    assert b"Hello from the vmon test guest" in r.stdout, describe(r)


# A running vmon, then each thread's name and seccomp mode from /proc, then SIGTERM (which a
# filtered vmon must still handle: status 143). $1 vmon, $2 mode (run|api), $3 guest, $4 level.
PROC_SH = r'''
dir=$(mktemp -d /tmp/vmon-seccomp.XXXXXX)
if [ "$2" = api ]; then
	printf '{"boot-source": {"kernel_image_path": "%s"}, "machine-config": {"vcpu_count": 2, "mem_size_mib": 32}, "entropy": {}}' \
		"$3" >"$dir/vm.json"
	: >"$dir/metrics"
	"$1" --api-sock "$dir/api.sock" --config-file "$dir/vm.json" --metrics-path "$dir/metrics" \
		--seccomp-level "$4" </dev/null >"$dir/out" 2>&1 &
else
	"$1" run --kernel "$3" --mem 32M --cpus 2 --rng --net user --seccomp-level "$4" </dev/null >"$dir/out" 2>&1 &
fi
pid=$!
i=0
while [ $i -lt 300 ]; do
	case "$(cat "$dir/out")" in *"uart_irq: ready"*) break;; esac
	sleep 0.1
	i=$((i + 1))
done
sleep 0.3
for t in /proc/$pid/task/*; do
	echo "thread $(cat $t/comm)|$(grep -E '^Seccomp(_filters)?:' $t/status | tr '\t\n' '  ')"
done
kill -TERM $pid
wait $pid
echo "status=$?"
cat "$dir/out"
rm -rf "$dir"
'''

for mode in ("run", "api"):
    for level in (0, 1, 2):
        vm_case(f"seccomp_proc_{mode}_{level}", ["sh", "-c", PROC_SH, "sh", VMON, mode, guest("uart_irq"), level],
                timeout=90)


@pytest.mark.parametrize("mode,expected", [
    ("run", {"vmon", "fc_vcpu 1", "vmon-events", "vmon-io", "vmon-slirp"}),
    ("api", {"vmon", "fc_api", "fc_metrics", "fc_vcpu 0", "fc_vcpu 1", "vmon-events", "vmon-io"}),
])
@pytest.mark.parametrize("level", [0, 1, 2])
def test_every_thread_of_a_running_vmon_is_filtered_from_level_1(vm_results, mode, expected, level):
    r = vm_results[f"seccomp_proc_{mode}_{level}"]
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0 and "uart_irq: ready" in out, describe(r)
    assert "status=143\n" in out, describe(r)   # SIGTERM still ends it cleanly
    threads = re.findall(r"^thread (.*)\|Seccomp: (\d) Seccomp_filters: (\d+) $", out, re.M)
    names = {name for name, _, _ in threads}
    assert expected <= names, describe(r)
    for name, mode_, filters in threads:
        if level == 0:
            assert (mode_, filters) == ("0", "0"), f"{name} is filtered at level 0\n" + describe(r)
        else:
            # 2: SECCOMP_MODE_FILTER; one filter each (none inherited: threads start before their creator's).
            assert mode_ == "2" and int(filters) >= 1, f"{name} is not filtered\n" + describe(r)
    assert "seccomp:" not in out, describe(r)
