# SPDX-License-Identifier: MIT
"""vmon-jailer (docs/JAILER.md): vmon run in a jail, checked from outside through /proc/PID.

The jailer needs root (namespaces, cgroups, mknod): without it these tests skip. It copies its exec
file into an empty chroot, so it runs the static vmon: build/vmon when the build links it statically,
else build/vmon-static (meson links that twin when vmon is dynamic); sanitized builds have neither.
Files the VM needs are the user's to bring into the jail, as with Firecracker's jailer: the tests
hard-link the test guest into the chroot (a copy where the guest sits on another file system).
Each test removes its chroot and cgroups.
"""

import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from api_client import UnixHTTPConnection, socket_answers
from conftest import BUILD, PTY_RUN, VMON, guest
from vmrunner import direct_unavailable_reason

JAILER = os.path.join(BUILD, "vmon-jailer")
UID = GID = 12345   # nobody's: no passwd entry is needed to run as it
EXIT_USAGE, EXIT_EXEC_FILE, EXIT_CGROUP, EXIT_NETNS = 64, 65, 68, 70


def is_static(path):
    if not os.path.exists(path):
        return False
    with open(path, "rb") as f:
        head = f.read(65536)
    if head[:4] != b"\x7fELF":
        return False
    phoff = int.from_bytes(head[32:40], "little")
    phentsize = int.from_bytes(head[54:56], "little")
    phnum = int.from_bytes(head[56:58], "little")
    return not any(int.from_bytes(head[phoff + i * phentsize:phoff + i * phentsize + 4], "little") == 3
                   for i in range(phnum))   # PT_INTERP


STATIC_VMON = next((p for p in (VMON, os.path.join(BUILD, "vmon-static")) if is_static(p)), None)
EXEC_NAME = os.path.basename(STATIC_VMON) if STATIC_VMON else None
# For the refusals any static program does (conftest builds pty_run static): sanitized builds run them too.
STATIC_ANY = STATIC_VMON or PTY_RUN

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="vmon-jailer needs root (namespaces, cgroups, mknod)"),
    pytest.mark.skipif(not os.path.exists(JAILER), reason=f"{JAILER} is not built"),
]
needs_static_vmon = pytest.mark.skipif(STATIC_VMON is None,
                                       reason="no static vmon in this build (sanitized builds link dynamically)")
needs_kvm = pytest.mark.skipif(direct_unavailable_reason() is not None,
                               reason=f"booting needs KVM here: {direct_unavailable_reason()}")


def v1_mount(controller):
    """The mount point of the cgroup v1 hierarchy holding controller, or None."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if rfields[0] == "cgroup" and fields[3] == "/" and controller in rfields[2].split(","):
                return fields[4].replace("\\040", " ")
    return None


def first_cgroup2_mount():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] == "cgroup2" and left.split()[3] == "/":
                return left.split()[4].replace("\\040", " ")
    return None


class Jail:
    """One vmon-jailer run: its chroot under a per-test base, its cgroups removed at the end."""

    def __init__(self, name, base):
        self.id = f"t{os.getpid()}-{name}"
        self.base = base
        self.root = os.path.join(base, EXEC_NAME, self.id, "root")
        self.cgroup_dirs = []
        self.proc = None
        self.pid = None

    def argv(self, *jail_args, vmon_args=("--api-sock", "/api.sock")):
        return [JAILER, "--id", self.id, "--exec-file", STATIC_VMON, "--uid", str(UID), "--gid", str(GID),
                "--chroot-base-dir", self.base, *jail_args, "--", *vmon_args]

    def start(self, *jail_args, **kw):
        self.proc = subprocess.Popen(self.argv(*jail_args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        self.pid = self.proc.pid   # the jailer execs vmon: same process
        return self

    def wait_socket(self, timeout=10):
        sock = os.path.join(self.root, "api.sock")
        deadline = time.time() + timeout
        while not socket_answers(sock):
            if (self.proc and self.proc.poll() is not None) or time.time() > deadline:
                out, err = self.proc.communicate(timeout=5) if self.proc else (b"", b"")
                raise AssertionError(f"jailed vmon did not serve {sock}: {self.proc and self.proc.returncode} "
                                     f"{err!r}")
            time.sleep(0.02)
        return sock

    def link_in(self, path, name):
        dest = os.path.join(self.root, name)
        try:
            os.link(path, dest)
        except OSError:
            shutil.copy(path, dest)
        os.chown(dest, UID, GID)
        return "/" + name

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)
        for d in self.cgroup_dirs:
            for path in (d, os.path.dirname(d)):
                try:
                    os.rmdir(path)
                except OSError:
                    pass   # the parent cgroup may hold other jails
        shutil.rmtree(os.path.join(self.base, EXEC_NAME, self.id), ignore_errors=True)


@pytest.fixture
def jail_base():
    # Under the build directory: a chroot needs a file system without nodev/noexec (/tmp may be a tmpfs with them).
    base = tempfile.mkdtemp(prefix="jailer-", dir=BUILD)
    jails = []
    yield base, jails
    for j in jails:
        j.cleanup()
    shutil.rmtree(base, ignore_errors=True)


def new_jail(jail_base, name):
    base, jails = jail_base
    j = Jail(name, base)
    jails.append(j)
    return j


def api(sock, method, path, body=None):
    conn = UnixHTTPConnection(sock)
    conn.request(method, path, body=None if body is None else json.dumps(body),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    raw = r.read()
    conn.close()
    return r.status, json.loads(raw) if raw else None


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def limits(pid):
    with open(f"/proc/{pid}/limits") as f:
        rows = f.read().splitlines()[1:]
    return {row[:26].strip(): row[26:].split()[:2] for row in rows}


def ns(pid, kind):
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def check_unprivileged(pid):
    st = proc_status(pid)
    assert st["Uid"].split() == [str(UID)] * 4 and st["Gid"].split() == [str(GID)] * 4, st
    assert st["Groups"].strip() == "", st["Groups"]
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(st[cap], 16) == 0, (cap, st[cap])
    assert st["NoNewPrivs"] == "1"


def check_root(pid, jail, extra=()):
    # Another mount namespace's root reads as "/"; the directory itself is the chroot.
    assert os.readlink(f"/proc/{pid}/root") == "/"
    inside, outside = os.stat(f"/proc/{pid}/root/"), os.stat(jail.root)
    assert (inside.st_dev, inside.st_ino) == (outside.st_dev, outside.st_ino)
    assert sorted(os.listdir(f"/proc/{pid}/root")) == sorted(["api.sock", "dev", EXEC_NAME, *extra])
    devs = sorted(os.path.join(d, f) for d in ("dev", "dev/net")
                  for f in os.listdir(os.path.join(jail.root, d)) if f != "net")
    host = sorted(p.lstrip("/") for p in ("/dev/kvm", "/dev/net/tun", "/dev/urandom", "/dev/userfaultfd")
                  if os.path.exists(p))
    assert devs == host, devs
    for d in devs:
        st = os.stat(os.path.join(jail.root, d))
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (UID, GID, 0o600), d
        assert st.st_rdev == os.stat("/" + d).st_rdev, d


@needs_static_vmon
def test_jailed_vmon_boots_a_guest_with_nothing_left_of_root(jail_base):
    # cgroup v1 where the host has a pids hierarchy (test_cgroup_v2_settings covers v2).
    pids_mount = v1_mount("pids")
    cgroup_args = ["--cgroup", "pids.max=64", "--parent-cgroup", "vmon-jailer-tests"] if pids_mount else []
    jail = new_jail(jail_base, "boot")
    # An fd the test leaves open across exec: the jail must not hand it to vmon.
    leak_path = os.path.join(jail_base[0], "leaked-fd")
    leak = os.open(leak_path, os.O_CREAT | os.O_RDWR, 0o600)
    os.set_inheritable(leak, True)
    try:
        jail.start(*cgroup_args, "--resource-limit", "fsize=123456789", "--resource-limit", "no-file=99",
                   pass_fds=(leak,))
    finally:
        os.close(leak)
    if pids_mount:
        jail.cgroup_dirs.append(os.path.join(pids_mount, "vmon-jailer-tests", jail.id))
    sock = jail.wait_socket()
    pid = jail.pid
    check_unprivileged(pid)
    me = os.getpid()
    assert ns(pid, "mnt") != ns(me, "mnt")
    for kind in ("net", "pid", "user", "uts", "ipc"):
        assert ns(pid, kind) == ns(me, kind), kind
    if pids_mount:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
        assert any(line.split(":")[1].split(",") == ["pids"] and
                   line.split(":")[2] == f"/vmon-jailer-tests/{jail.id}" for line in lines), lines
        with open(os.path.join(jail.cgroup_dirs[0], "pids.max")) as f:
            assert f.read().strip() == "64"
    lim = limits(pid)
    assert lim["Max file size"] == ["123456789", "123456789"], lim
    assert lim["Max open files"] == ["99", "99"], lim

    if direct_unavailable_reason() is None:
        kernel = jail.link_in(guest("ticker"), "ticker.elf")
        for method, path, body in [("PUT", "/boot-source", {"kernel_image_path": kernel}),
                                   ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 32}),
                                   ("PUT", "/actions", {"action_type": "InstanceStart"})]:
            status, answer = api(sock, method, path, body)
            assert status == 204, (path, answer)
        deadline = time.time() + 30
        while api(sock, "GET", "/")[1]["state"] != "Running" and time.time() < deadline:
            time.sleep(0.05)
        assert api(sock, "GET", "/")[1]["state"] == "Running"
        check_root(pid, jail, extra=["ticker.elf"])
    else:
        check_root(pid, jail)
    # Only what vmon opened itself: stdio, then its own anonymous inodes, sockets and jail files.
    fds = {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    assert leak_path not in fds.values() and not any("leaked-fd" in t for t in fds.values()), fds
    for fd, target in fds.items():
        if fd > 2:
            assert target.startswith(("anon_inode:", "socket:", "/dev/kvm", "/ticker.elf")), (fd, target)
    seen = read_until(jail.proc.stdout, b"tick 1", 30) if direct_unavailable_reason() is None else b""
    jail.proc.send_signal(signal.SIGTERM)
    out, err = jail.proc.communicate(timeout=30)
    assert jail.proc.returncode == 128 + signal.SIGTERM, err
    if direct_unavailable_reason() is None:
        assert b"tick 1" in seen + out, (seen + out, err)   # the guest ran inside the jail


def read_until(pipe, word, timeout):
    """What a running process has written to pipe, up to and including word (or the timeout)."""
    got = b""
    deadline = time.time() + timeout
    while word not in got and time.time() < deadline:
        ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.time()))
        if not ready:
            break
        chunk = os.read(pipe.fileno(), 4096)
        if not chunk:
            break
        got += chunk
    return got


@pytest.fixture
def netns():
    name = f"vmon-jailer-{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True)
    if r.returncode:
        pytest.skip(f"ip netns add failed: {r.stderr.decode(errors='replace').strip()}")
    yield f"/var/run/netns/{name}"
    subprocess.run(["ip", "netns", "delete", name], check=True)


libc = ctypes.CDLL(None, use_errno=True)
PR_SET_CHILD_SUBREAPER = 36


@needs_static_vmon
def test_new_pid_ns_daemonize_and_netns(jail_base, netns):
    jail = new_jail(jail_base, "pidns")
    # The daemon outlives the jailer; as subreaper this test reaps it.
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        jail.start("--new-pid-ns", "--daemonize", "--netns", netns)
        out, err = jail.proc.communicate(timeout=10)
        assert jail.proc.returncode == 0, err
        jail.proc = None
        with open(os.path.join(jail.root, f"{EXEC_NAME}.pid")) as f:
            pid = int(f.read())
        try:
            jail.wait_socket()
            sock = os.path.join(jail.root, "api.sock")
            assert api(sock, "GET", "/")[1]["id"] == jail.id
            check_unprivileged(pid)
            me = os.getpid()
            assert ns(pid, "pid") != ns(me, "pid") and ns(pid, "mnt") != ns(me, "mnt")
            assert ns(pid, "net") == os.stat(netns).st_ino != ns(me, "net")
            assert proc_status(pid)["NSpid"].split() == [str(pid), "1"]   # init of its namespace
            with open(f"/proc/{pid}/stat") as f:
                session = int(f.read().rsplit(")", 1)[1].split()[3])
            assert session == pid   # setsid: its own session
            for fd in (0, 1, 2):
                assert os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/null"
            assert sorted(os.listdir(jail.root)) == sorted(["api.sock", "dev", EXEC_NAME, f"{EXEC_NAME}.pid"])
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@needs_static_vmon
def test_cgroup_v2_settings(jail_base):
    mount = first_cgroup2_mount()
    mounted_here = None
    if mount is None:
        mounted_here = tempfile.mkdtemp(prefix="cg2-", dir=BUILD)
        r = subprocess.run(["mount", "-t", "cgroup2", "none", mounted_here], capture_output=True)
        if r.returncode:
            os.rmdir(mounted_here)
            pytest.skip(f"cannot mount cgroup2: {r.stderr.decode(errors='replace').strip()}")
        mount = mounted_here
    # A controller the v2 hierarchy offers here (on a v1 host most are bound to v1 hierarchies) shows
    # the jailer enabling it in cgroup.subtree_control on the way down; the root's setting is restored.
    with open(os.path.join(mount, "cgroup.controllers")) as f:
        offered = f.read().split()
    with open(os.path.join(mount, "cgroup.subtree_control")) as f:
        enabled_before = f.read().split()
    limit = next(((c, f, v) for c, f, v in (("pids", "pids.max", "7"), ("memory", "memory.max", "268435456"),
                                            ("hugetlb", "hugetlb.2MB.max", "0")) if c in offered), None)
    try:
        jail = new_jail(jail_base, "cg2")
        # The controller's setting first: its directories do not exist yet when it is enabled.
        jail.start("--cgroup-version", "2", *(["--cgroup", f"{limit[1]}={limit[2]}"] if limit else []),
                   "--cgroup", "cgroup.max.descendants=0", "--cgroup", "cgroup.max.depth=0")
        cg = os.path.join(mount, EXEC_NAME, jail.id)
        jail.cgroup_dirs.append(cg)
        jail.wait_socket()
        with open(f"/proc/{jail.pid}/cgroup") as f:
            assert f"0::/{EXEC_NAME}/{jail.id}" in f.read().splitlines()
        files = {"cgroup.max.descendants": "0", "cgroup.max.depth": "0"}
        if limit:
            files[limit[1]] = limit[2]
            with open(os.path.join(mount, EXEC_NAME, "cgroup.subtree_control")) as f:
                assert limit[0] in f.read().split()
        for name, value in files.items():
            with open(os.path.join(cg, name)) as f:
                assert f.read().strip() == value, name
        with open(os.path.join(cg, "cgroup.procs")) as f:
            assert f.read().split() == [str(jail.pid)]
        jail.cleanup()
    finally:
        if limit and limit[0] not in enabled_before and not mounted_here:
            with open(os.path.join(mount, "cgroup.subtree_control"), "w") as f:
                f.write(f"-{limit[0]}")
        if mounted_here:
            subprocess.run(["umount", mounted_here], check=True)
            os.rmdir(mounted_here)


def run_jailer(args, timeout=10):
    return subprocess.run([JAILER, *args], capture_output=True, timeout=timeout)


def test_a_dynamically_linked_exec_file_is_refused(jail_base):
    dynamic = next(p for p in (VMON, "/bin/true") if os.path.exists(p) and not is_static(p))
    base = jail_base[0]
    r = run_jailer(["--id", "dyn", "--exec-file", dynamic, "--uid", "1", "--gid", "1", "--chroot-base-dir", base])
    assert r.returncode == EXIT_EXEC_FILE, r
    assert b"dynamically linked" in r.stderr and dynamic.encode() in r.stderr, r.stderr
    assert os.listdir(base) == []   # refused before anything was made


@pytest.mark.parametrize("args,status,words", [
    (["--id", "bad/id"], EXIT_USAGE, b"--id 'bad/id'"),
    (["--uid", "x"], EXIT_USAGE, b"--uid 'x'"),
    (["--cgroup-version", "3"], EXIT_USAGE, b"--cgroup-version '3'"),
    (["--cgroup", "pids.max"], EXIT_USAGE, b"--cgroup 'pids.max'"),
    (["--cgroup", "cgroup.procs=1"], EXIT_USAGE, b"cgroup.procs is set by the jailer"),
    (["--parent-cgroup", "../x"], EXIT_USAGE, b"--parent-cgroup '../x'"),
    (["--resource-limit", "cpu=1"], EXIT_USAGE, b"--resource-limit 'cpu=1'"),
    (["--chroot-base-dir", "rel"], EXIT_USAGE, b"--chroot-base-dir 'rel'"),
    (["--frobnicate"], EXIT_USAGE, b"--frobnicate: unknown argument"),
    (["--netns", "/nonexistent/netns"], EXIT_NETNS, b"--netns /nonexistent/netns"),
    (["--cgroup", "nosuchctl.limit=1"], EXIT_CGROUP, b"no cgroup v1 hierarchy holds the 'nosuchctl' controller"),
])
def test_bad_arguments_are_named(jail_base, args, status, words):
    base = jail_base[0]
    common = {"--id": "bad-args", "--exec-file": STATIC_ANY, "--uid": "1", "--gid": "1", "--chroot-base-dir": base}
    argv = [x for k, v in common.items() if k not in args for x in (k, v)] + args
    r = run_jailer(argv)
    assert r.returncode == status, r
    assert words in r.stderr, r.stderr
    shutil.rmtree(os.path.join(base, os.path.basename(STATIC_ANY)), ignore_errors=True)


def test_missing_exec_file_and_missing_arguments(jail_base):
    r = run_jailer(["--id", "a", "--exec-file", "/nonexistent/vmon", "--uid", "1", "--gid", "1",
                    "--chroot-base-dir", jail_base[0]])
    assert r.returncode == EXIT_EXEC_FILE and b"/nonexistent/vmon" in r.stderr, r
    r = run_jailer(["--exec-file", "/nonexistent/vmon", "--uid", "1", "--gid", "1"])
    assert r.returncode == EXIT_USAGE and b"--id is required" in r.stderr, r
    r = run_jailer(["--help"])
    assert r.returncode == 0 and b"--exec-file" in r.stdout


def test_not_root_and_a_nodev_base_are_refused(jail_base):
    base = jail_base[0]
    args = ["--id", "refused", "--exec-file", STATIC_ANY, "--uid", "1", "--gid", "1", "--chroot-base-dir", base]
    # Without root (setpriv: uid/gid 12345, no groups, and so no capabilities): status 66, nothing made.
    r = subprocess.run(["setpriv", f"--reuid={UID}", f"--regid={GID}", "--clear-groups", JAILER, *args],
                       capture_output=True, timeout=10)
    assert r.returncode == 66 and b"must run as root" in r.stderr, r
    assert os.listdir(base) == []
    # A base on a nodev mount: /dev/kvm would not open in the jail; refused up front (67).
    nodev = os.path.join(base, "nodev")
    os.mkdir(nodev)
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "nodev,size=16m", "none", nodev], capture_output=True)
    if m.returncode:
        pytest.skip(f"cannot mount a tmpfs: {m.stderr.decode(errors='replace').strip()}")
    try:
        r = run_jailer(["--id", "refused", "--exec-file", STATIC_ANY, "--uid", "1", "--gid", "1",
                        "--chroot-base-dir", nodev])
        assert r.returncode == 67 and b"nodev" in r.stderr and nodev.encode() in r.stderr, r
    finally:
        subprocess.run(["umount", nodev], check=True)


def test_a_file_that_is_not_elf_is_refused(jail_base):
    script = os.path.join(jail_base[0], "script")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o755)
    r = run_jailer(["--id", "script", "--exec-file", script, "--uid", "1", "--gid", "1",
                    "--chroot-base-dir", jail_base[0]])
    assert r.returncode == EXIT_EXEC_FILE and b"not an ELF file" in r.stderr, r
