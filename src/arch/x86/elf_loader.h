/* SPDX-License-Identifier: MIT */
#ifndef VMON_X86_ELF_LOADER_H
#define VMON_X86_ELF_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/guest_mem.h"

/*
 * ELF kernels (vmlinux, PVH unikernels): little-endian ELF64/x86-64 or
 * ELF32/i386 executables whose PT_LOAD segments go to their physical
 * addresses (p_paddr). Parsing validates everything against the file;
 * loading validates the placement against guest RAM, then copies.
 */
#define ELF_MAX_PHNUM          256
#define ELF_MAX_LOAD_SEGMENTS  32
#define ELF_MAX_SEGMENT_SIZE   (1ull << 30)

struct elf_segment {
	uint64_t offset;   /* in the file */
	uint64_t paddr;
	uint64_t vaddr;
	uint64_t filesz;
	uint64_t memsz;    /* > 0; bytes past filesz are zeroed */
};

struct elf_kernel {
	bool is64;                 /* ELFCLASS64 (x86-64), else ELFCLASS32 (i386) */
	uint64_t e_entry;          /* as in the header; see elf_entry_phys() */
	bool has_pvh_entry;        /* XEN_ELFNOTE_PHYS32_ENTRY found in a PT_NOTE */
	uint32_t pvh_entry;
	bool has_linux_note;       /* a note owned by "Linux" (vmlinux's .notes): the image is Linux */
	uint64_t start, end;       /* lowest p_paddr, highest p_paddr + p_memsz */
	unsigned nsegments;        /* PT_LOAD with p_memsz > 0, in file order */
	struct elf_segment segments[ELF_MAX_LOAD_SEGMENTS];
};

/* True when the image starts with the ELF magic. */
bool elf_probe(const uint8_t *image, size_t size);

/*
 * Validates the ELF header, the program headers, segment file ranges,
 * overlaps and overflow, and scans PT_NOTE segments for the PVH entry.
 * Messages name the offending field and value (no file name).
 */
int elf_parse(const uint8_t *image, size_t size, struct elf_kernel *elf, struct vmon_error *err);

/* True when addr lies in the file-backed part of a PT_LOAD's physical range. */
bool elf_contains_code(const struct elf_kernel *elf, uint64_t addr);

/*
 * Physical address of e_entry: itself when it lies in a segment's physical
 * range, else translated through the segment whose virtual range holds it.
 * Returns -EINVAL with a message when no segment holds it.
 */
int elf_entry_phys(const struct elf_kernel *elf, uint64_t *phys, struct vmon_error *err);

/*
 * Checks every segment lands in usable guest RAM clear of vmon's boot area
 * (e820_check_load_range), then copies the segments and zero-fills
 * p_memsz - p_filesz. Nothing is written when a check fails.
 */
int elf_load(const struct guest_mem *mem, const uint8_t *image, const struct elf_kernel *elf,
	     struct vmon_error *err);

#endif
