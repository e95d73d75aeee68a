# SPDX-License-Identifier: MIT
"""Shared set-up of the integration tests.

Tests that need KVM declare their vmon runs at import time with vm_case();
the session fixture `vm_results` runs all of them in one batch (one boot of
the KVM sandbox when this host has no /dev/kvm; see vmrunner.py) and each
test then checks its own Result.

Environment: VMON_BUILD selects the build directory (default build/);
VMON_REQUIRE_KVM=1 (set by scripts/test.sh) turns "no KVM to run guests on"
from a skip into a failure of every KVM test: the suite must not go green by
not running.
"""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from vmrunner import Runner  # noqa: E402

BUILD = os.path.abspath(os.environ.get("VMON_BUILD", os.path.join(ROOT, "build")))
VMON = os.path.join(BUILD, "vmon")
GUESTS = os.path.join(BUILD, "tests", "guests")

_CASES = {}

# pty_run puts a command on a pseudo-terminal (console tests); static, so it also runs in the sandbox.
PTY_RUN = os.path.join(BUILD, "pty_run")
subprocess.run(["cc", "-O2", "-static", "-o", PTY_RUN, os.path.join(HERE, "pty_run.c"), "-lutil"], check=True)
# unix_client is the host end of a --vconsole socket; static for the same reason.
UNIX_CLIENT = os.path.join(BUILD, "unix_client")
subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-static", "-o", UNIX_CLIENT,
                os.path.join(HERE, "unix_client.c")], check=True)
# udp_flood is the host end of the virtio-net receive flood (runs vmon itself); static for the same reason.
UDP_FLOOD = os.path.join(BUILD, "udp_flood")
subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-static", "-o", UDP_FLOOD,
                os.path.join(HERE, "udp_flood.c")], check=True)
# uffd_handler: an external page-fault handler for the Uffd memory backend (test_snapshot_uffd.py),
# as Firecracker's users run one; static for the same reason (and so never built with sanitizers).
UFFD_HANDLER = os.path.join(BUILD, "uffd_handler")
subprocess.run(["cc", "-std=c17", "-O2", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE", "-static", "-o",
                UFFD_HANDLER, os.path.join(HERE, "uffd_handler.c")], check=True)

# kvm_state saves a VM through vmon's state APIs (x86 vCPU state, KVM's irqchip/PIT/kvmclock devices) and
# restores it into a fresh one; built from those sources with vmon's flags, static for the sandbox.
KVM_STATE = os.path.join(BUILD, "kvm_state")
subprocess.run(["cc", "-std=c17", "-O2", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE", "-static",
                "-I", os.path.join(ROOT, "src"), "-o", KVM_STATE, os.path.join(HERE, "kvm_state.c")]
               + [os.path.join(ROOT, "src", f) for f in (
                   "arch/x86/vcpu_state.c", "arch/x86/vcpu_state_check.c", "arch/x86/kvm_irqchip.c",
                   "arch/x86/kvm_pit.c", "arch/x86/kvm_clock.c", "devices/registry.c", "base/error.c",
                   "base/log.c")], check=True)


def guest(name, ext="elf"):
    return os.path.join(GUESTS, f"{name}.{ext}")


def vm_case(name, argv, stdin=b"", timeout=20):
    """Queue a command for the session batch; its Result is vm_results[name]."""
    if name in _CASES:
        raise ValueError(f"duplicate vm_case {name}")
    _CASES[name] = dict(argv=[str(a) for a in argv], stdin=stdin, timeout=timeout)


def vmon_run(*args):
    return [VMON, "run", *args]


def available_runner():
    """A Runner on this host's KVM or the sandbox; without either the test skips (fails under VMON_REQUIRE_KVM=1)."""
    runner = Runner()
    if not runner.available:
        why = f"no KVM to run guests on: {runner.unavailable_reason}"
        if os.environ.get("VMON_REQUIRE_KVM") == "1":
            pytest.fail(why + " (VMON_REQUIRE_KVM=1)", pytrace=False)
        pytest.skip(why)
    return runner


@pytest.fixture(scope="session")
def vm_results():
    runner = available_runner()
    index = {name: runner.add(**spec) for name, spec in _CASES.items()}
    results = runner.execute()
    return {name: results[i] for name, i in index.items()}


def describe(result):
    """Failure context: both streams of a run."""
    return (f"status {result.returncode} in {result.duration:.2f}s\n--- stdout\n"
            f"{result.stdout.decode(errors='replace')}\n--- stderr\n{result.stderr.decode(errors='replace')}")
