#!/usr/bin/env python3
"""Run KVM-using commands (vmon) for the integration tests, with or without /dev/kvm.

Two backends, chosen automatically:

* ``direct``: this host has a usable /dev/kvm; each command runs as a subprocess.
* ``sandbox``: no /dev/kvm; all queued commands run in ONE boot of the KVM
  sandbox (tests/kvm-sandbox: a QEMU TCG guest with AMD SVM whose kvm_amd gives
  a real /dev/kvm). A boot costs about 3 s, so queue many runs per execute().

The API is batch-shaped for both backends, so the same test code works with both::

    runner = Runner()
    if runner.unavailable_reason:
        skip(runner.unavailable_reason)
    a = runner.add([VMON, "--kernel", "guests/hello.elf"], timeout=20)
    b = runner.add(["sh", "-c", "exit 3"])
    results = runner.execute()          # list of Result, in add() order
    assert results[a].returncode == 0

argv items naming existing host files (containing a '/', or ``--opt=PATH``)
are copied into the sandbox and rewritten; ELF executables come with the
shared libraries ldd lists and those they dlopen (tests/kvm-sandbox/bundle.sh). Files the command
writes are not copied back. Exit statuses read as a shell reports them, on
both backends: a command killed by signal N gives 128+N (busybox sh in the
sandbox cannot tell that apart from exit(128+N) anyway). Timeouts are multiplied by ``timeout_scale`` (env
VMRUNNER_TIMEOUT_SCALE; default 1 direct, 4 sandbox: nested KVM under TCG is
much slower than hardware).

Environment: VMRUNNER_BACKEND=direct|sandbox forces a backend;
KVM_SANDBOX_CACHE locates the prepared sandbox.

Self-test: python3 tests/integration/vmrunner.py --self-test (exit 77 = skipped).
"""

import fcntl
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import List, Optional, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SANDBOX_DIR = os.path.join(REPO, "tests", "kvm-sandbox")
KVM_GET_API_VERSION = 0xAE00  # _IO(KVMIO, 0x00)
KVM_API_VERSION = 12
# run.sh's own exit statuses (see its header).
RUN_SH_TIMEOUT = 124
BOOT_MARGIN_S = 120


def sandbox_cache() -> str:
    return os.environ.get("KVM_SANDBOX_CACHE", os.path.join(REPO, ".cache", "kvm-sandbox"))


@dataclass
class Result:
    returncode: int
    stdout: bytes
    stderr: bytes
    duration: float
    timed_out: bool = False


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the command): no result to report."""


@dataclass
class _Job:
    argv: List[str]
    stdin: bytes
    timeout: float


def direct_unavailable_reason() -> Optional[str]:
    """None when /dev/kvm can be opened and speaks the stable API."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return f"no usable /dev/kvm ({e.strerror})"
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
    except OSError as e:
        return f"/dev/kvm refuses KVM_GET_API_VERSION ({e.strerror})"
    finally:
        os.close(fd)
    if version != KVM_API_VERSION:
        return f"/dev/kvm API version {version}, want {KVM_API_VERSION}"
    return None


def sandbox_unavailable_reason() -> Optional[str]:
    """None when run.sh can boot the sandbox."""
    if shutil.which("qemu-system-x86_64") is None:
        return "KVM sandbox needs qemu-system-x86_64 (Debian package qemu-system-x86)"
    cache = sandbox_cache()
    for name in ("ready", "vmlinux", "base.cpio"):
        if not os.path.isfile(os.path.join(cache, name)):
            return (f"KVM sandbox not prepared ({os.path.join(cache, name)} missing); "
                    "run tests/kvm-sandbox/prepare.sh")
    return None


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


class _Payload:
    """Host files mapped into /payload/files/<n>/<name>, one copy per real path."""

    def __init__(self, root: str):
        self.root = root
        self.mapped = {}
        os.makedirs(os.path.join(root, ".sandbox-root"), exist_ok=True)

    def _map_file(self, path: str) -> str:
        real = os.path.realpath(path)
        if real in self.mapped:
            return self.mapped[real]
        rel = os.path.join("files", str(len(self.mapped)))
        dest = os.path.join(self.root, rel)
        os.makedirs(dest)
        if _is_elf(real) and os.access(real, os.X_OK):
            self._bundle(real, dest)
        else:
            shutil.copy(real, dest)
        guest = "/payload/" + rel + "/" + os.path.basename(real)
        self.mapped[real] = guest
        return guest

    def _bundle(self, binary: str, dest: str) -> None:
        proc = subprocess.run([os.path.join(SANDBOX_DIR, "bundle.sh"), binary, "--", dest],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            raise SandboxError(f"bundle.sh {binary}: {proc.stdout.decode(errors='replace')}")
        libs = os.path.join(dest, ".sandbox-root")
        shutil.copytree(libs, os.path.join(self.root, ".sandbox-root"), dirs_exist_ok=True)
        shutil.rmtree(libs)

    def rewrite(self, arg: str) -> str:
        if "/" in arg and os.path.isfile(arg):
            return self._map_file(arg)
        if arg.startswith("-") and "=" in arg:
            opt, value = arg.split("=", 1)
            if "/" in value and os.path.isfile(value):
                return opt + "=" + self._map_file(value)
        if "=" in arg and not arg.startswith("-"):
            # Device option values: "path=/x/disk.img,readonly=on".
            words = []
            for word in arg.split(","):
                key, eq, value = word.partition("=")
                if eq and "/" in value and os.path.isfile(value):
                    word = key + "=" + self._map_file(value)
                words.append(word)
            return ",".join(words)
        return arg


# Runs each job in its own session so a timeout kills everything it started;
# reports base64 stdout/stderr between markers on the sandbox's output port.
_BATCH_SH = r"""
uptime_s() { cut -d' ' -f1 /proc/uptime; }
i=$(cat /payload/first)
while [ -d "/payload/runs/$i" ]; do
	d=/payload/runs/$i
	echo "@@VMRUN-START $i@@"
	start=$(uptime_s)
	setsid sh "$d/cmd" <"$d/stdin" >/tmp/out 2>/tmp/err &
	pid=$!
	setsid sh -c "sleep $(cat $d/timeout); touch /tmp/timed_out; kill -9 -$pid" 2>/dev/null &
	watcher=$!
	wait $pid
	rc=$?
	end=$(uptime_s)
	kill -9 -$watcher 2>/dev/null
	wait $watcher 2>/dev/null
	timed_out=0
	[ -e /tmp/timed_out ] && timed_out=1
	echo "@@VMRUN $i BEGIN@@"
	base64 /tmp/out
	echo "@@VMRUN $i STDERR@@"
	base64 /tmp/err
	echo "@@VMRUN $i END $rc $timed_out $start $end@@"
	rm -f /tmp/out /tmp/err /tmp/timed_out
	i=$((i + 1))
done
"""

_RESULT_RE = re.compile(
    rb"@@VMRUN (\d+) BEGIN@@\r?\n(.*?)@@VMRUN \1 STDERR@@\r?\n(.*?)"
    rb"@@VMRUN \1 END (\d+) ([01]) ([0-9.]+) ([0-9.]+)@@", re.S)


class Runner:
    """Batch runner: add() commands, execute() them, read the Results."""

    def __init__(self, backend: Optional[str] = None):
        backend = backend or os.environ.get("VMRUNNER_BACKEND") or None
        self._jobs: List[_Job] = []
        direct_why = direct_unavailable_reason()
        sandbox_why = sandbox_unavailable_reason()
        self.backend_name: Optional[str] = None
        self.unavailable_reason: Optional[str] = None
        if backend not in (None, "direct", "sandbox"):
            self.unavailable_reason = f"unknown VMRUNNER_BACKEND '{backend}'"
        elif backend == "direct" or (backend is None and direct_why is None):
            self.backend_name = "direct"
            self.unavailable_reason = direct_why
        elif backend == "sandbox" or sandbox_why is None:
            self.backend_name = "sandbox"
            self.unavailable_reason = sandbox_why
        else:
            self.unavailable_reason = f"{direct_why}, and {sandbox_why}"
        default_scale = 4.0 if self.backend_name == "sandbox" else 1.0
        self.timeout_scale = float(os.environ.get("VMRUNNER_TIMEOUT_SCALE", default_scale))
        self.last_console = b""  # sandbox: run.sh's stderr of the last execute()

    @property
    def available(self) -> bool:
        return self.unavailable_reason is None

    def add(self, argv: Sequence[str], stdin: bytes = b"", timeout: float = 20) -> int:
        """Queue one command; returns its index in execute()'s list."""
        if not argv:
            raise ValueError("empty argv")
        if timeout <= 0:
            raise ValueError(f"timeout {timeout} is not positive")
        self._jobs.append(_Job([str(a) for a in argv], bytes(stdin), timeout * self.timeout_scale))
        return len(self._jobs) - 1

    def execute(self) -> List[Result]:
        """Run every queued command (then forget them); one Result per add()."""
        if self.unavailable_reason is not None:
            raise SandboxError(self.unavailable_reason)
        jobs, self._jobs = self._jobs, []
        if not jobs:
            return []
        if self.backend_name == "direct":
            return [self._run_direct(job) for job in jobs]
        return self._run_sandbox(jobs)

    def run(self, argv: Sequence[str], stdin: bytes = b"", timeout: float = 20) -> Result:
        """One command on its own (a whole sandbox boot: prefer add/execute)."""
        if self._jobs:
            raise RuntimeError("run() with add()ed jobs pending; call execute()")
        self.add(argv, stdin, timeout)
        return self.execute()[0]

    @staticmethod
    def _run_direct(job: _Job) -> Result:
        start = time.monotonic()
        proc = subprocess.Popen(job.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        timed_out = False
        try:
            out, err = proc.communicate(job.stdin, timeout=job.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = proc.communicate()
        # As a shell reports it (like the sandbox): 128+N for a death by signal N.
        rc = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
        return Result(rc, out, err, time.monotonic() - start, timed_out)

    def _run_sandbox(self, jobs: List[_Job]) -> List[Result]:
        """All jobs, in as few sandbox boots as possible.

        The sandbox kernel (nested KVM under TCG) has been seen to stall
        outright now and then: idle, its timers never firing, so the in-sandbox
        watchdog of a job never fires either. The host therefore watches the
        progress markers; when a job runs longer than its timeout plus
        STALL_MARGIN_S, the sandbox is killed and a fresh one goes on from
        that job (retried once: a stall is the sandbox's fault, not the job's;
        a second stall on it is reported as that job timing out).
        """
        results: dict = {}
        stalls: dict = {}
        consoles = []
        while len(results) < len(jobs):
            first = len(results)
            got, stalled, console = self._sandbox_boot(jobs, first)
            consoles.append(console)
            results.update(got)
            if stalled is None:
                break
            stalls[stalled] = stalls.get(stalled, 0) + 1
            sys.stderr.write(f"vmrunner: sandbox stalled in job {stalled} ({' '.join(jobs[stalled].argv)[:200]}); "
                             f"{'retrying it in a fresh sandbox' if stalls[stalled] == 1 else 'reporting it as timed out; going on in a fresh sandbox'}"
                             "\n")
            if stalls[stalled] > 1:
                results[stalled] = Result(137, b"", b"vmrunner: the KVM sandbox stalled twice in this job\n",
                                          jobs[stalled].timeout, True)
        self.last_console = b"".join(consoles)
        if len(results) != len(jobs):
            tail = self.last_console.decode(errors="replace")[-3000:]
            raise SandboxError(f"sandbox returned {len(results)} of {len(jobs)} results:\n{tail}")
        return [results[i] for i in range(len(jobs))]

    def _sandbox_boot(self, jobs: List[_Job], first: int):
        """One sandbox boot running jobs[first:]: ({index: Result}, stalled job index or None, console)."""
        with tempfile.TemporaryDirectory(prefix="vmrunner.") as tmp:
            payload = _Payload(os.path.join(tmp, "payload"))
            for i, job in enumerate(jobs):
                if i < first:
                    continue
                d = os.path.join(payload.root, "runs", str(i))
                os.makedirs(d)
                argv = [payload.rewrite(a) for a in job.argv]
                with open(os.path.join(d, "cmd"), "w") as f:
                    f.write("exec " + shlex.join(argv) + "\n")
                with open(os.path.join(d, "stdin"), "wb") as f:
                    f.write(job.stdin)
                with open(os.path.join(d, "timeout"), "w") as f:
                    f.write(f"{max(1, round(job.timeout))}\n")
            with open(os.path.join(payload.root, "first"), "w") as f:
                f.write(f"{first}\n")
            with open(os.path.join(payload.root, "batch.sh"), "w") as f:
                f.write(_BATCH_SH)
            total = int(sum(max(1, round(j.timeout)) + 1 for j in jobs[first:]) + BOOT_MARGIN_S)
            total = int(os.environ.get("KVM_SANDBOX_TIMEOUT", total))
            proc = subprocess.Popen(
                [os.path.join(SANDBOX_DIR, "run.sh"), "--timeout", str(total),
                 payload.root, "--", "sh", "/payload/batch.sh"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True)
            out = bytearray()
            err = bytearray()
            stalled = None
            readers = [threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True),
                       threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True)]
            for t in readers:
                t.start()
            current, since = None, time.monotonic()
            while proc.poll() is None:
                time.sleep(0.5)
                starts = _START_RE.findall(bytes(out))
                if starts and int(starts[-1]) != current:
                    current, since = int(starts[-1]), time.monotonic()
                limit = (jobs[current].timeout if current is not None else 0) + STALL_MARGIN_S
                if current is None:
                    limit += BOOT_MARGIN_S
                if time.monotonic() - since > limit:
                    stalled = current if current is not None else first
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    proc.wait()
                    break
            for t in readers:
                t.join(timeout=10)
        results = {}
        for m in _RESULT_RE.finditer(bytes(out)):
            results[int(m.group(1))] = Result(
                int(m.group(4)), _b64(m.group(2)), _b64(m.group(3)),
                float(m.group(7)) - float(m.group(6)), m.group(5) == b"1")
        if stalled is None and len(results) != len(jobs) - first:
            # The sandbox died in a job (its kernel crashed or hung up): the same as a stall.
            starts = [int(i) for i in _START_RE.findall(bytes(out))]
            if starts and starts[-1] not in results:
                return results, starts[-1], bytes(err)
            tail = bytes(err).decode(errors="replace")[-3000:]
            raise SandboxError(
                f"sandbox returned {len(results)} of {len(jobs) - first} results "
                f"(run.sh status {proc.returncode}"
                f"{', timed out' if proc.returncode == RUN_SH_TIMEOUT else ''}):\n{tail}")
        return results, stalled, bytes(err)


def _drain(pipe, buf: bytearray) -> None:
    while True:
        chunk = pipe.read1(65536) if hasattr(pipe, "read1") else pipe.read(65536)
        if not chunk:
            return
        buf.extend(chunk)


_START_RE = re.compile(rb"@@VMRUN-START (\d+)@@")
# Seconds past a job's own timeout before the host decides the sandbox itself has stalled.
STALL_MARGIN_S = 60


def _b64(data: bytes) -> bytes:
    import base64
    return base64.b64decode(b"".join(data.split()))


def _smoke_binary(tmp: str) -> str:
    cached = os.path.join(sandbox_cache(), "kvm_smoke")
    if os.path.isfile(cached):
        return cached
    out = os.path.join(tmp, "kvm_smoke")
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-std=c17", "-D_GNU_SOURCE", "-O2", "-o", out,
                    os.path.join(SANDBOX_DIR, "kvm_smoke.c")], check=True)
    return out


def _self_test() -> int:
    runner = Runner()
    print(f"vmrunner: backend {runner.backend_name}, timeout scale {runner.timeout_scale}")
    if not runner.available:
        print(f"vmrunner: SKIP: {runner.unavailable_reason}")
        return 77
    failures = []

    def check(name: str, ok: bool, detail: object) -> None:
        print(f"{'PASS' if ok else 'FAIL'} {name}")
        if not ok:
            print(f"     {detail}")
            failures.append(name)

    with tempfile.TemporaryDirectory(prefix="vmrunner-self-test.") as tmp:
        smoke = _smoke_binary(tmp)
        data_file = os.path.join(tmp, "data.txt")
        with open(data_file, "wb") as f:
            f.write(b"host file content\n")
        stdin_bytes = bytes(range(256)) * 4 + b"no newline at end"
        start = time.monotonic()
        i_smoke = runner.add([smoke], timeout=60)
        i_bench = runner.add([smoke, "--bench", "10000"], timeout=60)
        i_stdin = runner.add(["cat"], stdin=stdin_bytes)
        i_status = runner.add(["sh", "-c", "echo out; echo err >&2; exit 3"])
        i_file = runner.add(["cat", data_file])
        i_timeout = runner.add(["sleep", "600"], timeout=1)
        i_after = runner.add(["echo", "still running after a timeout"])
        results = runner.execute()
        elapsed = time.monotonic() - start

    r = results[i_smoke]
    check("kvm_smoke passes every check",
          r.returncode == 0 and r.stdout.count(b"PASS ") == 3, r)
    r = results[i_bench]
    check("kvm_smoke --bench reports a rate", r.returncode == 0 and b"exits/s" in r.stdout, r)
    if r.returncode == 0:
        print("     " + r.stdout.decode().strip())
    r = results[i_stdin]
    check("stdin reaches the command byte for byte",
          r.returncode == 0 and r.stdout == stdin_bytes, r)
    r = results[i_status]
    check("exit status, stdout and stderr come back separately",
          (r.returncode, r.stdout, r.stderr) == (3, b"out\n", b"err\n"), r)
    r = results[i_file]
    check("a host file in argv is readable by the command",
          r.returncode == 0 and r.stdout == b"host file content\n", r)
    r = results[i_timeout]
    check("a command past its timeout is killed and flagged",
          r.timed_out and r.returncode == 128 + signal.SIGKILL
          and r.duration < 60 * runner.timeout_scale, r)
    r = results[i_after]
    check("the batch goes on after a timeout",
          r.returncode == 0 and r.stdout == b"still running after a timeout\n", r)
    print(f"vmrunner: {len(results)} runs in {elapsed:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(_self_test())
    print("usage: vmrunner.py --self-test", file=sys.stderr)
    sys.exit(2)
