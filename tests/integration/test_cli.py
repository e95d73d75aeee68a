# SPDX-License-Identifier: MIT
"""vmon's command line and image validation: no KVM needed, every bad input ends
with a message naming the problem and exit status 2."""

import os
import re
import struct
import subprocess

import pytest

from conftest import VMON, guest

USAGE = 2


def vmon(*args, stdin=subprocess.DEVNULL):
    return subprocess.run([VMON, *args], stdin=stdin, capture_output=True, timeout=30)


def test_help_lists_run_options():
    r = vmon("--help")
    assert r.returncode == 0
    for opt in (b"--kernel", b"--initrd", b"--cmdline", b"--mem", b"--cpus", b"--stats"):
        assert opt in r.stdout


def test_version():
    r = vmon("--version")
    assert r.returncode == 0
    # Firecracker's shape, which its clients parse: "<name> v<semver>" on the first line.
    assert re.match(rb"vmon v\d+\.\d+\.\d+\n", r.stdout), r.stdout


@pytest.mark.parametrize("args,message", [
    ([], "no command given"),
    (["start"], "unknown command 'start'"),
    (["run"], "--kernel: kernel_path is required"),
    (["run", "--kernel"], "needs a value"),
    (["run", "--kernel", "k", "--mem", "12Q"], "--mem '12Q'"),
    (["run", "--kernel", "k", "--mem", "1K"], "must be between"),
    (["run", "--kernel", "k", "--mem", "4097K"], "not a multiple of 4 KiB"),
    (["run", "--kernel", "k", "--cpus", "255"], "--cpus: ncpus 255: at most 254 vCPUs"),
    (["run", "--kernel", "k", "--cpus", "-1"], "--cpus '-1'"),
    (["run", "--kernel", "k", "--boot-protocol", "uefi"], "--boot-protocol 'uefi'"),
    (["run", "--kernel", "k", "--no-such-flag"], "unknown option '--no-such-flag'"),
    (["run", "--kernel", "k", "--host-profile", "xen"], "--host-profile 'xen'"),
    (["run", "--kernel", "k", "stray"], "unexpected argument 'stray'"),
])
def test_bad_arguments_exit_2_naming_the_problem(args, message):
    r = vmon(*args)
    assert r.returncode == USAGE, r
    assert message.encode() in r.stderr, r.stderr


def test_overlong_cmdline_is_rejected():
    r = vmon("run", "--kernel", guest("hello"), "--cmdline", "x" * 70000)
    assert r.returncode == USAGE
    assert b"--cmdline: cmdline is 70000 bytes" in r.stderr


@pytest.fixture
def tmp_file(tmp_path):
    def make(name, data):
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)
    return make


def elf64_header(**overrides):
    fields = dict(ident=b"\x7fELF\x02\x01\x01" + b"\0" * 9, type=2, machine=62, version=1, entry=0x100000,
                  phoff=64, shoff=0, flags=0, ehsize=64, phentsize=56, phnum=1, shentsize=64, shnum=0, shstrndx=0)
    fields.update(overrides)
    return struct.pack("<16sHHIQQQIHHHHHH", *fields.values())


def phdr(p_type=1, offset=0x1000, paddr=0x100000, filesz=0x10, memsz=0x10):
    return struct.pack("<IIQQQQQQ", p_type, 7, offset, paddr, paddr, filesz, memsz, 0x1000)


def elf_image(header=None, phdrs=None, size=0x1100):
    data = bytearray(size)
    h = header if header is not None else elf64_header()
    data[0:len(h)] = h
    ph = phdrs if phdrs is not None else phdr()
    data[64:64 + len(ph)] = ph
    return bytes(data)


@pytest.mark.parametrize("name,data,message", [
    ("empty", b"", "file is empty"),
    ("text", b"#!/bin/sh\necho not a kernel\n" * 40, "not an ELF or bzImage"),
    ("truncated_elf", elf_image()[:40], "truncated"),
    ("wrong_machine", elf_image(elf64_header(machine=183)), "machine"),
    ("no_load_segment", elf_image(phdrs=phdr(p_type=4)), "PT_LOAD"),
    ("segment_past_file", elf_image(phdrs=phdr(offset=0x1000, filesz=0x10000, memsz=0x10000)), "segment"),
    ("segment_past_ram", elf_image(phdrs=phdr(paddr=0x7ff00000)), "segment"),
    ("segment_in_boot_area", elf_image(phdrs=phdr(paddr=0x7000)), "segment"),
    ("entry_outside", elf_image(elf64_header(entry=0x500000)), "entry"),
    ("overlapping", elf_image(elf64_header(phnum=2), phdr() + phdr(paddr=0x100008)), "overlap"),
    ("phdrs_past_file", elf_image(elf64_header(phoff=0x2000)), "program header"),
    ("bzimage_old_protocol", bytes(0x1f1) + b"\x04" + bytes(0x10) + b"HdrS" + b"\x05\x02" + bytes(0x600),
     "protocol"),
])
def test_malformed_kernel_exits_2_naming_the_problem(tmp_file, name, data, message):
    r = vmon("run", "--kernel", tmp_file(name, data), "--mem", "32M")
    assert r.returncode == USAGE, (r.returncode, r.stderr)
    assert message.encode() in r.stderr, r.stderr
    assert name.encode() in r.stderr, r.stderr  # the file is named


def test_missing_kernel_file():
    r = vmon("run", "--kernel", "/nonexistent/vmlinux")
    assert r.returncode == USAGE
    assert b'kernel "/nonexistent/vmlinux": No such file or directory' in r.stderr


def test_directory_as_kernel():
    r = vmon("run", "--kernel", "/")
    assert r.returncode == USAGE
    assert b"not a regular file" in r.stderr


def test_initrd_larger_than_memory(tmp_file):
    big = tmp_file("big.cpio", b"\0" * (40 << 20))
    r = vmon("run", "--kernel", guest("hello"), "--initrd", big, "--mem", "32M")
    assert r.returncode == USAGE
    assert b"initrd" in r.stderr


@pytest.mark.skipif(os.path.exists("/dev/kvm"), reason="this host has /dev/kvm")
def test_host_without_kvm_is_a_host_error():
    r = vmon("run", "--kernel", guest("hello"), "--mem", "32M")
    assert r.returncode == 6
    assert b"cannot open /dev/kvm" in r.stderr


def test_host_without_vmx_svm_gets_the_emulated_ring0_profile():
    with open("/proc/cpuinfo") as f:
        flags = next((line for line in f if line.startswith("flags")), "").split()
    forced = "--host-profile=pvm" if ("vmx" in flags or "svm" in flags) else "--host-profile=auto"
    r = vmon("run", "--kernel", guest("hello"), "--mem", "32M", forced)
    assert b"runs guest kernel code in KVM's instruction emulator" in r.stderr, r.stderr
    r = vmon("run", "--kernel", guest("hello"), "--mem", "32M", "--host-profile=none")
    assert b"instruction emulator" not in r.stderr, r.stderr
