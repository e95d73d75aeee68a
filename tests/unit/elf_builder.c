/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "elf_builder.h"

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

static void put_phdr(uint8_t *buf, bool is64, unsigned i, const struct elf_builder_segment *s, size_t off,
		     uint64_t align)
{
	if (is64) {
		Elf64_Phdr *ph = elf_builder_phdr64(buf, i);
		*ph = (Elf64_Phdr){ .p_type = s->type, .p_offset = off, .p_vaddr = s->vaddr, .p_paddr = s->paddr,
				    .p_filesz = s->filesz, .p_memsz = s->memsz, .p_align = align };
	} else {
		Elf32_Phdr *ph = (Elf32_Phdr *)(buf + sizeof(Elf32_Ehdr)) + i;
		*ph = (Elf32_Phdr){ .p_type = s->type, .p_offset = (Elf32_Off)off, .p_vaddr = (Elf32_Addr)s->vaddr,
				    .p_paddr = (Elf32_Addr)s->paddr, .p_filesz = (Elf32_Word)s->filesz,
				    .p_memsz = (Elf32_Word)s->memsz, .p_align = (Elf32_Word)align };
	}
}

static void put_ehdr(uint8_t *buf, bool is64, uint64_t entry, unsigned n)
{
	if (is64) {
		Elf64_Ehdr *eh = elf_builder_ehdr64(buf);
		eh->e_type = ET_EXEC; eh->e_machine = EM_X86_64; eh->e_version = EV_CURRENT;
		eh->e_entry = entry; eh->e_phoff = sizeof(Elf64_Ehdr); eh->e_ehsize = sizeof(Elf64_Ehdr);
		eh->e_phentsize = sizeof(Elf64_Phdr); eh->e_phnum = (Elf64_Half)n;
	} else {
		Elf32_Ehdr *eh = (Elf32_Ehdr *)buf;
		eh->e_type = ET_EXEC; eh->e_machine = EM_386; eh->e_version = EV_CURRENT;
		eh->e_entry = (Elf32_Addr)entry; eh->e_phoff = sizeof(Elf32_Ehdr); eh->e_ehsize = sizeof(Elf32_Ehdr);
		eh->e_phentsize = sizeof(Elf32_Phdr); eh->e_phnum = (Elf32_Half)n;
	}
	memcpy(buf, ELFMAG, SELFMAG);
	buf[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
	buf[EI_DATA] = ELFDATA2LSB;
	buf[EI_VERSION] = EV_CURRENT;
}

size_t elf_builder_build(uint8_t *buf, size_t cap, bool is64, uint64_t entry,
			 const struct elf_builder_segment *seg, unsigned n)
{
	size_t off = is64 ? sizeof(Elf64_Ehdr) + n * sizeof(Elf64_Phdr) : sizeof(Elf32_Ehdr) + n * sizeof(Elf32_Phdr);

	assert_true(off <= cap);
	memset(buf, 0, off);
	for (unsigned i = 0; i < n; i++) {
		uint64_t align = seg[i].align ? seg[i].align : 16;
		size_t start = align_up(off, align > 16 ? align : 16);

		assert_true(start <= cap && seg[i].filesz <= cap - start);
		memset(buf + off, 0, start - off);
		if (seg[i].data)
			memcpy(buf + start, seg[i].data, seg[i].filesz);
		else
			memset(buf + start, seg[i].fill, seg[i].filesz);
		put_phdr(buf, is64, i, &seg[i], start, align);
		off = start + seg[i].filesz;
	}
	put_ehdr(buf, is64, entry, n);
	return off;
}

size_t elf_builder_note(uint8_t *p, const char *owner, uint32_t type, const void *desc, uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(owner) + 1;
	size_t name_pad = align_up(namesz, 4), desc_pad = align_up(descsz, 4);

	memset(p, 0, 12 + name_pad + desc_pad);
	memcpy(p, &namesz, 4);
	memcpy(p + 4, &descsz, 4);
	memcpy(p + 8, &type, 4);
	memcpy(p + 12, owner, namesz);
	memcpy(p + 12 + name_pad, desc, descsz);
	return 12 + name_pad + desc_pad;
}
