# SPDX-License-Identifier: MIT
"""What the benches share: their host tools (installed like the tests' with scripts/install-deps.sh)
and QEMU's CPU model, which some hosts refuse for some models (a PVM host aborts on `-cpu host`)."""

import os
import platform
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# QEMU's CPU models in the order the benches try them: the host's own first (what a VT-x/AMD-V host runs
# best), then QEMU's "everything KVM offers", then QEMU's default model.
QEMU_CPU_MODELS = ("host", "max", "qemu64")


def ensure_tools(tools):
    """tools: {command: Debian package}. Installs the packages of missing commands with
    scripts/install-deps.sh; returns {command: package} of those still missing (with why on stderr)."""
    missing = {cmd: pkg for cmd, pkg in tools.items() if not shutil.which(cmd)}
    if not missing:
        return {}
    packages = sorted(set(missing.values()))
    print(f"bench: {', '.join(missing)} missing; installing {' '.join(packages)} with scripts/install-deps.sh",
          file=sys.stderr)
    r = subprocess.run(["sh", os.path.join(ROOT, "scripts", "install-deps.sh"), *packages])
    if r.returncode != 0:
        print(f"bench: scripts/install-deps.sh {' '.join(packages)} failed (exit {r.returncode}, output above)",
              file=sys.stderr)
    return {cmd: pkg for cmd, pkg in missing.items() if not shutil.which(cmd)}


def require_tools(tools):
    """Like ensure_tools, but exits naming each command still missing and its Debian package."""
    still = ensure_tools(tools)
    if still:
        sys.exit("bench: missing " + ", ".join(f"{cmd} (Debian package {pkg})" for cmd, pkg in still.items()) +
                 ": install with `sudo sh scripts/install-deps.sh`")


def qemu_refusal(stderr):
    """QEMU's own error lines ('qemu-system-x86_64: ...', warnings left out), joined: the reason it quit
    before or while running the guest (e.g. `-cpu host` on a PVM host: 'failed to set MSR 0x10a to 0x69' and
    an assertion); None when it printed none. stderr: bytes or str."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    lines = [ln.strip() for ln in text.splitlines()
             if re.match(r"\s*qemu-system-\w+: ", ln) and not re.search(r": warning: ", ln)]
    return "; ".join(lines)[-600:] if lines else None


def machine_line(backend_name):
    """One line naming the machine the figures come from: CPU model, CPUs, kernel and KVM's kind (PVM or
    hardware), or the KVM sandbox. backend_name: vmrunner's ("direct" or "sandbox")."""
    if backend_name == "sandbox":
        return "KVM sandbox (nested KVM under QEMU TCG)"
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        pass
    kvm = "PVM (kvm_pvm)" if os.path.isdir("/sys/module/kvm_pvm") else "KVM"
    return f"{platform.node()}: {model}, {os.cpu_count()} CPUs, kernel {platform.release()}, {kvm}"
