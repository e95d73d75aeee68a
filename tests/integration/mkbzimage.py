#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Wrap an ELF64 test guest into a Linux bzImage (boot protocol 2.15).

The result has the layout of a real bzImage (Documentation/x86/boot.rst):

  [0, 0x200)             boot sector; the setup header starts at 0x1f1
  [0x200, setup_size)    rest of the setup area (setup_sects = 4, zeros)
  [setup_size, end)      protected-mode part, loaded at code32_start 0x100000:
                           the flat binary (--pm), whose 64-bit entry is at
                           offset 0x200, zero padding (up to the ELF's memory
                           extent when the ELF also starts at 0x100000, so the
                           flat program's .bss stays clear), then the payload
                           at payload_offset (16-byte aligned):
                           the ELF compressed with --compression followed by
                           its uncompressed size as 4 little-endian bytes
                           (gzip's own ISIZE field serves as that trailer),
                           zero-padded to 16 bytes (syssize = its size / 16).
  init_size = the protected-mode part's size rounded up to 4 KiB.

vmon either decompresses the payload on the host and loads the ELF, or (with
--bzimage-guest-decompress) loads the protected-mode part at 0x100000 and
enters at 0x100200. tests/unit/test_bzimage.c builds the same layout.

Usage: mkbzimage.py --elf guest.elf --pm guest.flat --compression xz -o guest.bzImage
Stdlib only; zstd needs the `zstd` command.
"""

import argparse
import gzip
import lzma
import shutil
import struct
import subprocess
import sys

SECTOR = 512
SETUP_SECTS = 4
HDR_OFFSET = 0x1F1
HDR_END = 0x26C            # end of the 2.15 setup header (struct setup_header)
PROTOCOL = 0x020F
CODE32_START = 0x100000
LOADED_HIGH = 0x01
XLF_KERNEL_64 = 0x01
CMDLINE_SIZE = 2047        # COMMAND_LINE_SIZE 2048 minus the NUL
INITRD_ADDR_MAX = 0x7FFFFFFF
KERNEL_ALIGNMENT = 0x200000
PAGE = 4096

# struct setup_header (<asm/bootparam.h>), little-endian, packed, from 0x1f1.
SETUP_HEADER = struct.Struct(
    "<B"   # setup_sects
    "H"    # root_flags
    "I"    # syssize
    "H"    # ram_size
    "H"    # vid_mode
    "H"    # root_dev
    "H"    # boot_flag
    "H"    # jump
    "I"    # header
    "H"    # version
    "I"    # realmode_swtch
    "H"    # start_sys_seg
    "H"    # kernel_version
    "B"    # type_of_loader
    "B"    # loadflags
    "H"    # setup_move_size
    "I"    # code32_start
    "I"    # ramdisk_image
    "I"    # ramdisk_size
    "I"    # bootsect_kludge
    "H"    # heap_end_ptr
    "B"    # ext_loader_ver
    "B"    # ext_loader_type
    "I"    # cmd_line_ptr
    "I"    # initrd_addr_max
    "I"    # kernel_alignment
    "B"    # relocatable_kernel
    "B"    # min_alignment
    "H"    # xloadflags
    "I"    # cmdline_size
    "I"    # hardware_subarch
    "Q"    # hardware_subarch_data
    "I"    # payload_offset
    "I"    # payload_length
    "Q"    # setup_data
    "Q"    # pref_address
    "I"    # init_size
    "I"    # handover_offset
    "I"    # kernel_info_offset
)
assert HDR_OFFSET + SETUP_HEADER.size == HDR_END


def align_up(value, alignment):
    return (value + alignment - 1) // alignment * alignment


def elf64_load_range(elf):
    """Lowest p_paddr and highest p_paddr + p_memsz over the PT_LOAD segments of an ELF64 x86-64 file."""
    if len(elf) < 64 or elf[:4] != b"\x7fELF":
        raise ValueError("not an ELF file")
    if elf[4] != 2 or elf[5] != 1:
        raise ValueError("not a little-endian ELF64 file")
    machine, = struct.unpack_from("<H", elf, 18)
    if machine != 62:
        raise ValueError(f"e_machine {machine} is not x86-64 (62)")
    phoff, = struct.unpack_from("<Q", elf, 32)
    phentsize, phnum = struct.unpack_from("<HH", elf, 54)
    if phentsize != 56 or phoff + phnum * phentsize > len(elf):
        raise ValueError("program header table is malformed")
    loads = []
    for i in range(phnum):
        p_type, _flags, _off, _vaddr, paddr, _filesz, memsz, _align = struct.unpack_from(
            "<IIQQQQQQ", elf, phoff + i * phentsize)
        if p_type == 1 and memsz:
            loads.append((paddr, paddr + memsz))
    if not loads:
        raise ValueError("no PT_LOAD segment")
    return min(a for a, _ in loads), max(b for _, b in loads)


def compress(data, method):
    """Compressed stream plus the 4-byte size trailer, as arch/x86/boot/compressed/Makefile makes it."""
    size = struct.pack("<I", len(data) & 0xFFFFFFFF)
    if method == "gzip":
        # The gzip member already ends with ISIZE (uncompressed size mod 2^32).
        return gzip.compress(data, compresslevel=9, mtime=0)
    if method == "xz":
        # Like scripts/xz_wrap.sh: x86 BCJ filter, LZMA2 (its default preset 6), CRC32 check.
        filters = [{"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2, "preset": 6}]
        return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, filters=filters) + size
    if method == "zstd":
        tool = shutil.which("zstd")
        if tool is None:
            raise RuntimeError("zstd compression needs the `zstd` command")
        out = subprocess.run([tool, "-19", "-q", "-c", "-"], input=data, stdout=subprocess.PIPE, check=True)
        return out.stdout + size
    raise ValueError(f"unknown compression {method}")


def build(elf, pm_flat, method):
    payload = compress(elf, method)
    elf_start, elf_end = elf64_load_range(elf)
    # When the ELF is the flat image's own program (both at code32_start), its
    # .bss follows the flat image: keep the payload clear of it.
    pm_mem = len(pm_flat)
    if elf_start == CODE32_START:
        pm_mem = max(pm_mem, elf_end - CODE32_START)
    payload_offset = align_up(pm_mem, 16)
    pm = pm_flat + bytes(payload_offset - len(pm_flat)) + payload
    pm += bytes(align_up(len(pm), 16) - len(pm))
    if len(pm) <= 0x200:
        raise ValueError("protected-mode part does not reach the 64-bit entry at offset 0x200")
    init_size = align_up(len(pm), PAGE)

    setup_size = (SETUP_SECTS + 1) * SECTOR
    setup = bytearray(setup_size)
    hdr = SETUP_HEADER.pack(
        SETUP_SECTS, 0, len(pm) // 16, 0, 0xFFFF, 0, 0xAA55,
        0xEB | ((HDR_END - 0x202) << 8),          # short jump over the header
        0x53726448, PROTOCOL,                     # "HdrS", 2.15
        0, 0x1000, 0, 0, LOADED_HIGH, 0x8000,
        CODE32_START, 0, 0, 0, 0, 0, 0, 0,
        INITRD_ADDR_MAX, KERNEL_ALIGNMENT, 0, KERNEL_ALIGNMENT.bit_length() - 1, XLF_KERNEL_64,
        CMDLINE_SIZE, 0, 0,
        payload_offset, len(payload), 0,
        CODE32_START,                             # pref_address
        init_size, 0, 0)
    setup[HDR_OFFSET:HDR_END] = hdr
    return bytes(setup) + pm


def main(argv):
    parser = argparse.ArgumentParser(description="Wrap an ELF64 test guest into a bzImage.")
    parser.add_argument("--elf", required=True, help="ELF64 guest (the payload, compressed)")
    parser.add_argument("--pm", required=True, help="flat binary loaded at 0x100000, 64-bit entry at 0x100200")
    parser.add_argument("--compression", choices=["xz", "gzip", "zstd"], default="xz")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    try:
        with open(args.elf, "rb") as f:
            elf = f.read()
        with open(args.pm, "rb") as f:
            pm_flat = f.read()
        image = build(elf, pm_flat, args.compression)
    except (OSError, ValueError, RuntimeError, subprocess.CalledProcessError) as e:
        print(f"mkbzimage.py: {e}", file=sys.stderr)
        return 1
    with open(args.output, "wb") as f:
        f.write(image)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
