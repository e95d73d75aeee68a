/* SPDX-License-Identifier: MIT */
#include "arch/x86/elf_loader.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#include "arch/x86/boot_params.h"
#include "arch/x86/pvh.h"

/* The fields both ELF classes share, widened. */
struct elf_header {
	uint16_t type, machine;
	uint64_t entry, phoff;
	uint16_t phentsize, phnum;
};

struct elf_phdr {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

bool elf_probe(const uint8_t *image, size_t size)
{
	return size >= SELFMAG && memcmp(image, ELFMAG, SELFMAG) == 0;
}

static int read_header(const uint8_t *image, size_t size, bool *is64, struct elf_header *h,
		       struct vmon_error *err)
{
	if (size < EI_NIDENT)
		return error_set(err, -EINVAL, "truncated: %zu bytes is shorter than an ELF identification", size);
	if (!elf_probe(image, size))
		return error_set(err, -EINVAL, "bad ELF magic %02x %02x %02x %02x", image[0], image[1], image[2],
				 image[3]);
	if (image[EI_CLASS] != ELFCLASS64 && image[EI_CLASS] != ELFCLASS32)
		return error_set(err, -EINVAL, "unsupported ELF class %u (expected 1 = ELF32 or 2 = ELF64)",
				 image[EI_CLASS]);
	if (image[EI_DATA] != ELFDATA2LSB)
		return error_set(err, -EINVAL, "ELF data encoding %u is not little-endian", image[EI_DATA]);
	if (image[EI_VERSION] != EV_CURRENT)
		return error_set(err, -EINVAL, "ELF version %u is not 1", image[EI_VERSION]);

	*is64 = image[EI_CLASS] == ELFCLASS64;
	if (*is64) {
		Elf64_Ehdr e;
		if (size < sizeof(e))
			return error_set(err, -EINVAL, "truncated: %zu bytes is shorter than the ELF64 header", size);
		memcpy(&e, image, sizeof(e));
		*h = (struct elf_header){ e.e_type, e.e_machine, e.e_entry, e.e_phoff, e.e_phentsize, e.e_phnum };
		if (h->machine != EM_X86_64)
			return error_set(err, -EINVAL, "ELF64 e_machine %u is not x86-64 (%u)", h->machine, EM_X86_64);
		if (h->phentsize != sizeof(Elf64_Phdr))
			return error_set(err, -EINVAL, "e_phentsize %u is not %zu", h->phentsize, sizeof(Elf64_Phdr));
	} else {
		Elf32_Ehdr e;
		if (size < sizeof(e))
			return error_set(err, -EINVAL, "truncated: %zu bytes is shorter than the ELF32 header", size);
		memcpy(&e, image, sizeof(e));
		*h = (struct elf_header){ e.e_type, e.e_machine, e.e_entry, e.e_phoff, e.e_phentsize, e.e_phnum };
		if (h->machine != EM_386)
			return error_set(err, -EINVAL, "ELF32 e_machine %u is not i386 (%u)", h->machine, EM_386);
		if (h->phentsize != sizeof(Elf32_Phdr))
			return error_set(err, -EINVAL, "e_phentsize %u is not %zu", h->phentsize, sizeof(Elf32_Phdr));
	}
	if (h->type != ET_EXEC)
		return error_set(err, -EINVAL, "e_type %u is not an executable (ET_EXEC = %u)", h->type, ET_EXEC);
	return 0;
}

static void read_phdr(const uint8_t *p, bool is64, struct elf_phdr *ph)
{
	if (is64) {
		Elf64_Phdr e;
		memcpy(&e, p, sizeof(e));
		*ph = (struct elf_phdr){ e.p_type, e.p_offset, e.p_vaddr, e.p_paddr, e.p_filesz, e.p_memsz,
					 e.p_align };
	} else {
		Elf32_Phdr e;
		memcpy(&e, p, sizeof(e));
		*ph = (struct elf_phdr){ e.p_type, e.p_offset, e.p_vaddr, e.p_paddr, e.p_filesz, e.p_memsz,
					 e.p_align };
	}
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Walks the notes of one PT_NOTE (ELF spec "Note Section"), looking for Xen's PVH entry. */
static int scan_notes(const uint8_t *notes, uint64_t len, uint64_t align, unsigned idx, struct elf_kernel *elf,
		      struct vmon_error *err)
{
	uint64_t pos = 0;

	/* Notes are 4-byte aligned; 8 only where the segment says so (e.g. GNU properties). */
	align = align == 8 ? 8 : 4;
	while (len - pos >= 12) {
		uint32_t namesz = le32(notes + pos), descsz = le32(notes + pos + 4), type = le32(notes + pos + 8);
		/* 64-bit arithmetic on 32-bit sizes cannot overflow. */
		uint64_t name_off = pos + 12;
		uint64_t desc_off = name_off + ((namesz + align - 1) & ~(align - 1));
		uint64_t desc_end = desc_off + descsz;

		if (desc_end > len)
			return error_set(err, -EINVAL, "PT_NOTE %u: note at offset 0x%llx (namesz %u, descsz %u) "
					 "runs past the segment's %llu bytes", idx, (unsigned long long)pos,
					 namesz, descsz, (unsigned long long)len);
		if (!elf->has_pvh_entry && type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
		    memcmp(notes + name_off, "Xen", 4) == 0) {
			uint64_t entry;

			if (descsz == 4) {
				entry = le32(notes + desc_off);
			} else if (descsz == 8) {
				entry = le32(notes + desc_off) | (uint64_t)le32(notes + desc_off + 4) << 32;
			} else {
				return error_set(err, -EINVAL, "XEN_ELFNOTE_PHYS32_ENTRY has a %u-byte descriptor "
						 "(expected 4 or 8)", descsz);
			}
			if (entry > UINT32_MAX)
				return error_set(err, -EINVAL, "PVH entry 0x%llx does not fit in 32 bits",
						 (unsigned long long)entry);
			elf->has_pvh_entry = true;
			elf->pvh_entry = (uint32_t)entry;
		}
		if (namesz == 6 && memcmp(notes + name_off, "Linux", 6) == 0)
			elf->has_linux_note = true;
		pos = desc_off + ((descsz + align - 1) & ~(align - 1));
		if (pos >= len)
			break;
	}
	return 0;
}

static int check_file_range(const struct elf_phdr *ph, unsigned idx, size_t size, struct vmon_error *err)
{
	uint64_t end;

	if (__builtin_add_overflow(ph->offset, ph->filesz, &end) || end > size)
		return error_set(err, -EINVAL, "segment %u file range [0x%llx, +0x%llx) lies outside the file "
				 "(%zu bytes)", idx, (unsigned long long)ph->offset,
				 (unsigned long long)ph->filesz, size);
	return 0;
}

static int add_load_segment(struct elf_kernel *elf, const struct elf_phdr *ph, unsigned idx, size_t size,
			    struct vmon_error *err)
{
	uint64_t end;
	int ret;

	if (ph->filesz > ph->memsz)
		return error_set(err, -EINVAL, "segment %u p_filesz 0x%llx exceeds p_memsz 0x%llx", idx,
				 (unsigned long long)ph->filesz, (unsigned long long)ph->memsz);
	if (ph->memsz > ELF_MAX_SEGMENT_SIZE)
		return error_set(err, -EINVAL, "segment %u p_memsz 0x%llx is absurd (limit %llu MiB)", idx,
				 (unsigned long long)ph->memsz, ELF_MAX_SEGMENT_SIZE >> 20);
	ret = check_file_range(ph, idx, size, err);
	if (ret < 0)
		return ret;
	if (__builtin_add_overflow(ph->paddr, ph->memsz, &end))
		return error_set(err, -EINVAL, "segment %u p_paddr 0x%llx + p_memsz 0x%llx overflows", idx,
				 (unsigned long long)ph->paddr, (unsigned long long)ph->memsz);
	if (ph->memsz == 0)
		return 0;
	if (elf->nsegments == ELF_MAX_LOAD_SEGMENTS)
		return error_set(err, -EINVAL, "more than %d PT_LOAD segments", ELF_MAX_LOAD_SEGMENTS);
	for (unsigned i = 0; i < elf->nsegments; i++) {
		const struct elf_segment *s = &elf->segments[i];
		if (ph->paddr < s->paddr + s->memsz && s->paddr < end)
			return error_set(err, -EINVAL, "segment %u [0x%llx, 0x%llx) overlaps an earlier segment "
					 "[0x%llx, 0x%llx)", idx, (unsigned long long)ph->paddr,
					 (unsigned long long)end, (unsigned long long)s->paddr,
					 (unsigned long long)(s->paddr + s->memsz));
	}
	elf->segments[elf->nsegments++] = (struct elf_segment){
		.offset = ph->offset, .paddr = ph->paddr, .vaddr = ph->vaddr,
		.filesz = ph->filesz, .memsz = ph->memsz };
	if (elf->nsegments == 1 || ph->paddr < elf->start)
		elf->start = ph->paddr;
	if (end > elf->end)
		elf->end = end;
	return 0;
}

int elf_parse(const uint8_t *image, size_t size, struct elf_kernel *elf, struct vmon_error *err)
{
	struct elf_header h = { 0 };
	uint64_t table_end;
	int ret;

	memset(elf, 0, sizeof(*elf));
	ret = read_header(image, size, &elf->is64, &h, err);
	if (ret < 0)
		return ret;
	elf->e_entry = h.entry;
	if (h.phnum == 0)
		return error_set(err, -EINVAL, "has no program headers (e_phnum 0)");
	if (h.phnum > ELF_MAX_PHNUM)
		return error_set(err, -EINVAL, "e_phnum %u is absurd (limit %d)", h.phnum, ELF_MAX_PHNUM);
	if (__builtin_add_overflow(h.phoff, (uint64_t)h.phnum * h.phentsize, &table_end) || table_end > size)
		return error_set(err, -EINVAL, "program header table at e_phoff 0x%llx (%u entries) lies outside "
				 "the file (%zu bytes)", (unsigned long long)h.phoff, h.phnum, size);

	for (unsigned i = 0; i < h.phnum; i++) {
		struct elf_phdr ph;

		read_phdr(image + h.phoff + (uint64_t)i * h.phentsize, elf->is64, &ph);
		if (ph.type == PT_LOAD) {
			ret = add_load_segment(elf, &ph, i, size, err);
		} else if (ph.type == PT_NOTE) {
			ret = check_file_range(&ph, i, size, err);
			if (ret == 0)
				ret = scan_notes(image + ph.offset, ph.filesz, ph.align, i, elf, err);
		}
		if (ret < 0)
			return ret;
	}
	if (elf->nsegments == 0)
		return error_set(err, -EINVAL, "has no loadable (PT_LOAD) segment with p_memsz > 0");
	return 0;
}

bool elf_contains_code(const struct elf_kernel *elf, uint64_t addr)
{
	for (unsigned i = 0; i < elf->nsegments; i++) {
		const struct elf_segment *s = &elf->segments[i];
		if (addr >= s->paddr && addr - s->paddr < s->filesz)
			return true;
	}
	return false;
}

int elf_entry_phys(const struct elf_kernel *elf, uint64_t *phys, struct vmon_error *err)
{
	if (elf_contains_code(elf, elf->e_entry)) {
		*phys = elf->e_entry;
		return 0;
	}
	/* A kernel linked with its entry as a virtual address (p_vaddr != p_paddr). */
	for (unsigned i = 0; i < elf->nsegments; i++) {
		const struct elf_segment *s = &elf->segments[i];
		if (elf->e_entry >= s->vaddr && elf->e_entry - s->vaddr < s->filesz) {
			*phys = s->paddr + (elf->e_entry - s->vaddr);
			return 0;
		}
	}
	return error_set(err, -EINVAL, "entry point e_entry 0x%llx is not inside a loaded segment",
			 (unsigned long long)elf->e_entry);
}

int elf_load(const struct guest_mem *mem, const uint8_t *image, const struct elf_kernel *elf,
	     struct vmon_error *err)
{
	for (unsigned i = 0; i < elf->nsegments; i++) {
		const struct elf_segment *s = &elf->segments[i];
		int ret = e820_check_load_range(mem, s->paddr, s->memsz, err);
		if (ret < 0) {
			error_prefix(err, "segment at p_paddr 0x%llx", (unsigned long long)s->paddr);
			return ret;
		}
	}
	for (unsigned i = 0; i < elf->nsegments; i++) {
		const struct elf_segment *s = &elf->segments[i];
		uint8_t *dst = guest_mem_ptr(mem, s->paddr, s->memsz);

		memcpy(dst, image + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
	}
	return 0;
}
