#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run one test guest under QEMU (TCG) and check its exit status and output.

The same guest images run under vmon; this checks them against a reference
VMM. --protocol pvh boots NAME.elf directly (QEMU's PVH loader);
--protocol linux boots linux_boot_shim.elf, which enters NAME.flat at
0x100200 through the 64-bit Linux boot protocol.

Exit status conventions of the guests (README.md): debug_exit(N) makes QEMU
exit with 2N+1; a reset or a triple fault with -no-reboot exits 0.
"""

import argparse
import datetime
import os
import re
import selectors
import subprocess
import sys
import tempfile
import time

# The virtio guests run on QEMU's microvm, whose virtio-mmio transports are
# 512-byte windows from 0xfeb00000 on, IRQ 5 upwards (QEMU 7.2
# hw/i386/microvm.c); a device given bus=virtio-mmio-bus.0 sits on the first.
# QEMU adds virtio_mmio.device= words itself only when auto-kernel-cmdline is
# on; it is switched off and the word passed explicitly, as vmon's guests see
# it. rtc=on: the guests bound their waits with the CMOS clock.
MICROVM = ['-M', 'microvm,x-option-roms=off,rtc=on,acpi=off,auto-kernel-cmdline=off',
           '-global', 'virtio-mmio.force-legacy=false']
VIRTIO0 = 'virtio_mmio.device=512@0xfeb00000:5'

# virtio_blk's image: byte(o) = ((o >> 9) * 59 + (o & 511)) & 0xff; the guest
# writes sector S with (j * 3 + S * 17 + 0xa5) & 0xff.
BLK_SECTORS = 16
BLK_WRITE_SECTOR = 8


def blk_pattern(nbytes):
    return bytes(((o >> 9) * 59 + (o & 511)) & 0xff for o in range(nbytes))


def blk_written(sector):
    return bytes((j * 3 + sector * 17 + 0xa5) & 0xff for j in range(512))


def make_blk_image(tmp):
    path = os.path.join(tmp, 'blk.img')
    with open(path, 'wb') as f:
        f.write(blk_pattern(BLK_SECTORS * 512))
    return path


def check_blk_image(tmp):
    with open(os.path.join(tmp, 'blk.img'), 'rb') as f:
        got = f.read()
    want = bytearray(blk_pattern(BLK_SECTORS * 512))
    want[BLK_WRITE_SECTOR * 512:(BLK_WRITE_SECTOR + 1) * 512] = blk_written(BLK_WRITE_SECTOR)
    if got != bytes(want):
        return 'image file does not hold exactly the pattern plus the guest\'s write of sector %d' % (
            BLK_WRITE_SECTOR)
    return None

# name: cmdline, line to send after the banner (or None), extra QEMU
# arguments (optional qemu_args; '{tmp}' is a fresh temporary folder, which
# an optional prepare(tmp) fills first), default extra cmdline words
# (optional extra, replaced by --cmdline-extra), expected status, regexes that must
# each match the output (re.M), and an optional checker (afterwards(tmp)
# returns an error or None).
EXPECT = {
    'hello': dict(
        cmdline='console=ttyS0 greeting=hi',
        status=0,
        patterns=[r'\AHello from the vmon test guest \(protocol {proto}\)\n',
                  r'^cmdline: console=ttyS0 greeting=hi$',
                  r'^hello: LSR had THRE\|TEMT before each byte: yes$',
                  r'^hello: resetting via the i8042$']),
    'debug_exit': dict(
        cmdline='exit=5',
        status=11,
        patterns=[r'^debug_exit: writing 5 to port 0xf4$']),
    'uart_irq': dict(
        cmdline='',
        send='hello from the host 42\n',
        banner='uart_irq: ready',
        status=1,
        patterns=[r'^uart_irq: ready, ',
                  r'^echo: HELLO FROM THE HOST 42$',
                  r'^uart_irq: \d+ THRE interrupts \(largest burst (1[0-6]|[1-9]) bytes\), '
                  r'[1-9]\d* RX interrupts$']),
    'i8042_reset': dict(
        cmdline='',
        status=0,
        patterns=[r'^i8042_reset: self-test answered 0x55 \(expected 0x55\)$',
                  r'^i8042_reset: pulsing reset']),
    'rtc': dict(
        cmdline='',
        status=1,
        patterns=[r'^rtc: binary 24h mode agrees', r'^rtc: bcd 12h mode agrees']),
    'triple_fault': dict(
        cmdline='',
        status=0,
        patterns=[r'^triple_fault: loading an empty IDT and executing ud2\n\Z']),
    'unknown_port': dict(
        cmdline='',
        status=1,
        patterns=[r'^unknown_port: all checks passed$']),
    'pio_bench': dict(
        cmdline='iters=1000',
        status=1,
        patterns=[r'\A!\npio_bench: 1000 writes to port 0x80 done$']),
    'memmap': dict(
        cmdline='mem=32',
        status=1,
        patterns=[r'^memmap: protocol {proto}, cmdline: mem=32$',
                  r'^e820: 0x0000000000000000 0x[0-9a-f]{16} 1$',
                  r'^memmap: mem=32 MiB \(0x2000000 bytes\): covered$',
                  r'^memmap: all checks passed$']),
    # -cpu max offers SMAP, so the #PF entry that starts with clac is the one installed.
    'syscall_cpl3': dict(
        cmdline='calls=100',
        qemu_args=['-cpu', 'max'],
        status=1,
        patterns=[r'\Asyscall_cpl3: 100 calls from CPL3, SMAP on \(#PF entry starts with clac\)\n'
                  r'syscall_cpl3: 100 system calls from CPL3 returned correctly \(\d+ external interrupts taken\)\n\Z']),
    # Neither VMX nor SVM guest mode under TCG: both instructions are #UD (vmon: test_hypercall.py).
    'hypercall': dict(
        cmdline='',
        extra='insn=vmcall',
        status=1,
        patterns=[r'\Ahypercall: issuing (vmm?call) at rip 0x[0-9a-f]+ \(rax 0x7fffffff\)\n'
                  r'hypercall: \1 raised #UD\n\Z']),
    # SeaBIOS has already started the APs (and halted them): the guest's INIT brings them back.
    'smp': dict(
        cmdline='cpus=4',
        qemu_args=['-smp', '4'],
        status=1,
        patterns=[r'^smp: the MADT lists 4 CPUs; the BSP has APIC ID 0$',
                  r'^smp: 3 APs started, each with its own APIC ID \(CPUID agrees\): 1 2 3$',
                  r'^smp: all 4 CPUs up$']),
    'virtio_blk': dict(
        cmdline='%s capacity=%d write=%d id=vmon-test-serial' % (VIRTIO0, BLK_SECTORS, BLK_WRITE_SECTOR),
        qemu_args=MICROVM + ['-drive', 'if=none,id=d0,format=raw,file={tmp}/blk.img',
                             '-device', 'virtio-blk-device,drive=d0,bus=virtio-mmio-bus.0,serial=vmon-test-serial'],
        prepare=make_blk_image,
        afterwards=check_blk_image,
        status=1,
        patterns=[r'^virtio: virtio-blk at 0xfeb00000 irq 5, version 2$',
                  r'^virtio_blk: capacity 16 sectors, blk_size 512, seg_max \d+, read-write$',
                  r'^virtio_blk: sectors 0\.\.7 match the pattern \(one request, 2 data descriptors\)$',
                  r'^virtio_blk: read at the capacity: status 1$',
                  r'^virtio_blk: unknown request type: status 2$',
                  r'^virtio_blk: sector 8 reads back as written$',
                  r'^virtio_blk: FLUSH ok$',
                  r"^virtio_blk: id 'vmon-test-serial'$",
                  r'^virtio_blk: [1-9]\d* interrupts, InterruptStatus bits seen 0x1$',
                  r'^virtio_blk: all checks passed\n\Z']),
    'virtio_net': dict(
        cmdline=VIRTIO0 + ' mac=52:54:00:12:34:56',
        qemu_args=MICROVM + ['-netdev', 'user,id=n0',
                             '-device', 'virtio-net-device,netdev=n0,bus=virtio-mmio-bus.0,mac=52:54:00:12:34:56'],
        status=1,
        patterns=[r'^virtio_net: mac 52:54:00:12:34:56, link up$',
                  r'^virtio_net: 10\.0\.2\.2 is at 52:55:0a:00:02:02$',
                  r'^virtio_net: DHCP offer 10\.0\.2\.15 from 10\.0\.2\.2 \(590-byte frame\)$',
                  r'^virtio_net: largest frame took 3 receive buffers$',
                  r'^virtio_net: all checks passed\n\Z']),
    'virtio_rng': dict(
        cmdline=VIRTIO0,
        qemu_args=MICROVM + ['-device', 'virtio-rng-device,bus=virtio-mmio-bus.0'],
        status=1,
        patterns=[r'^virtio_rng: block 0: 64 bytes in \d+ requests?, starts [0-9a-f]{8}$',
                  r'^virtio_rng: block 1: 64 bytes in \d+ requests?, starts [0-9a-f]{8}$',
                  r'^virtio_rng: all checks passed\n\Z']),
    # vmon only in the meson suites: QEMU lets DMA reach MMIO and unassigned
    # addresses (oob_addr, oob_wrap complete normally) and serves a queue
    # before DRIVER_OK. By hand: --cmdline-extra attack=NAME for any of
    # desc_loop indirect_loop huge_len wrap_idx notify_early reset_mid_io
    # bad_ring readable_after_writable.
    'virtio_evil': dict(
        cmdline=VIRTIO0,
        extra='attack=desc_loop',
        qemu_args=MICROVM + ['-drive', 'if=none,id=d0,format=raw,file={tmp}/blk.img',
                             '-device', 'virtio-blk-device,drive=d0,bus=virtio-mmio-bus.0'],
        prepare=make_blk_image,
        status=1,
        patterns=[r'^virtio_evil: good read of sector 0 after the reset: ok$',
                  r'^virtio_evil: \w+ survived, device serves again$']),
}

RTC_LINE = re.compile(r'^RTC: (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)$', re.M)
RTC_MAX_SKEW_S = 60


def check_rtc(output, started):
    lines = RTC_LINE.findall(output)
    if len(lines) != 1:
        return 'expected exactly one "RTC: YYYY-MM-DD HH:MM:SS" line, got %d' % len(lines)
    guest = datetime.datetime(*map(int, lines[0]), tzinfo=datetime.timezone.utc)
    skew = abs((guest - started).total_seconds())
    if skew > RTC_MAX_SKEW_S:
        return 'guest RTC %s is %.0f s away from the host clock (UTC)' % (guest, skew)
    return None


def run(args):
    with tempfile.TemporaryDirectory(prefix='run_qemu-') as tmp:
        return run_in(args, tmp)


def run_in(args, tmp):
    exp = EXPECT[args.guest]
    if 'prepare' in exp:
        exp['prepare'](tmp)
    cmd = [args.qemu, '-accel', 'tcg', '-m', '32M', '-nodefaults', '-no-reboot',
           '-display', 'none', '-serial', 'stdio',
           '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04']
    cmd += [a.replace('{tmp}', tmp) for a in exp.get('qemu_args', [])]
    if args.protocol == 'pvh':
        cmd += ['-kernel', args.elf]
    else:
        cmd += ['-kernel', args.shim,
                '-device', 'loader,file=%s,addr=0x100000,force-raw=on' % args.flat]
    extra = args.cmdline_extra or exp.get('extra', '')
    cmd += ['-append', ' '.join(filter(None, [exp['cmdline'], extra]))]

    started = datetime.datetime.now(datetime.timezone.utc)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    out = b''
    sent = 'send' not in exp
    deadline = time.monotonic() + args.timeout
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            proc.kill()
            break
        if not sel.select(timeout=min(left, 0.5)):
            continue
        chunk = proc.stdout.read1(4096)
        if not chunk:
            break
        out += chunk
        # The guest turns its FIFOs on before printing the banner; input sent
        # earlier may be lost, as on a real 16550.
        if not sent and exp['banner'].encode() in out:
            proc.stdin.write(exp['send'].encode())
            proc.stdin.flush()
            sent = True
    status = proc.wait()
    text = out.decode(errors='replace')
    sys.stdout.write(text)

    errors = []
    if timed_out:
        errors.append('timed out after %d s' % args.timeout)
    if status != exp['status']:
        errors.append('exit status %d, expected %d' % (status, exp['status']))
    for pat in exp['patterns']:
        if not re.search(pat.replace('{proto}', args.protocol), text, re.M):
            errors.append('output does not match %r' % pat)
    if args.guest == 'rtc':
        err = check_rtc(text, started)
        if err:
            errors.append(err)
    if 'afterwards' in exp:
        err = exp['afterwards'](tmp)
        if err:
            errors.append(err)
    for e in errors:
        print('run_qemu: FAIL: %s: %s' % (args.guest, e))
    if not errors:
        print('run_qemu: %s (%s) ok, exit status %d' % (args.guest, args.protocol, status))
    return 1 if errors else 0


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--qemu', default='qemu-system-x86_64')
    p.add_argument('--guest', required=True, choices=sorted(EXPECT))
    p.add_argument('--protocol', choices=['pvh', 'linux'], default='pvh')
    p.add_argument('--elf', help='NAME.elf (pvh)')
    p.add_argument('--flat', help='NAME.flat (linux)')
    p.add_argument('--shim', help='linux_boot_shim.elf (linux)')
    p.add_argument('--timeout', type=int, default=30)
    p.add_argument('--cmdline-extra', default='',
                   help='words appended to the guest\'s cmdline, instead of its default extra '
                        'words (virtio_evil: attack=NAME)')
    args = p.parse_args()
    if args.protocol == 'pvh' and not args.elf:
        p.error('--protocol pvh needs --elf')
    if args.protocol == 'linux' and not (args.flat and args.shim):
        p.error('--protocol linux needs --flat and --shim')
    return run(args)


if __name__ == '__main__':
    sys.exit(main())
