/* SPDX-License-Identifier: MIT */
#ifndef VMON_TEST_ELF_BUILDER_H
#define VMON_TEST_ELF_BUILDER_H

#include <elf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Little-endian x86 ELF executables (ELF32 or ELF64) built in a caller's
 * buffer, for the kernel-loader tests: an Ehdr, the program headers right
 * after it, then each segment's file bytes.
 */
struct elf_builder_segment {
	uint32_t type;          /* PT_LOAD, PT_NOTE, ... */
	uint64_t paddr, vaddr;
	uint64_t filesz, memsz;
	uint8_t fill;           /* the file bytes when .data is NULL */
	uint64_t align;         /* p_align; 0 means 16 */
	const void *data;       /* filesz bytes to copy, or NULL */
};

/*
 * Writes the image into buf (cap bytes; the test fails if it does not fit)
 * and returns its size. Each segment's bytes start at a file offset aligned
 * to max(16, p_align); padding is zeroed.
 */
size_t elf_builder_build(uint8_t *buf, size_t cap, bool is64, uint64_t entry,
			 const struct elf_builder_segment *seg, unsigned n);

/*
 * One ELF note at p (namesz, descsz, type, name and desc each padded to 4),
 * as a PT_NOTE segment holds them. Returns its length.
 */
size_t elf_builder_note(uint8_t *p, const char *owner, uint32_t type, const void *desc, uint32_t descsz);

/* The headers of an ELF64 image in buf, for tests that corrupt one field. */
static inline Elf64_Ehdr *elf_builder_ehdr64(uint8_t *buf)
{
	return (Elf64_Ehdr *)buf;
}

static inline Elf64_Phdr *elf_builder_phdr64(uint8_t *buf, unsigned i)
{
	return (Elf64_Phdr *)(buf + sizeof(Elf64_Ehdr)) + i;
}

#endif
