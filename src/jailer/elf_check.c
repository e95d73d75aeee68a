/* SPDX-License-Identifier: MIT */
#include "jailer/elf_check.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int elf_check_static(const uint8_t *image, size_t len, struct vmon_error *err)
{
	Elf64_Ehdr eh;
	if (len < sizeof(eh) || memcmp(image, ELFMAG, SELFMAG))
		return error_set(err, -ENOEXEC, "not an ELF file");
	memcpy(&eh, image, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		return error_set(err, -ENOEXEC, "not a 64-bit little-endian x86-64 ELF file");
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		return error_set(err, -ENOEXEC, "ELF type %u is not an executable", eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum == PN_XNUM)
		return error_set(err, -ENOEXEC, "unexpected program header table (entry size %u, %u entries)",
				 eh.e_phentsize, eh.e_phnum);
	if (eh.e_phoff > len || (len - eh.e_phoff) / sizeof(Elf64_Phdr) < eh.e_phnum)
		return error_set(err, -ENOEXEC, "the program header table (offset %llu, %u entries) lies past the "
				 "file's end", (unsigned long long)eh.e_phoff, eh.e_phnum);
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, image + eh.e_phoff + (size_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_INTERP)
			return error_set(err, -ENOEXEC, "dynamically linked (it has a PT_INTERP program header): the jail "
					 "holds no loader or libraries; use a static build (meson -Dstatic=true)");
	}
	return 0;
}

int elf_check_static_file(const char *path, struct vmon_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, -errno, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return error_set(err, -EINVAL, "%s: not a regular file", path);
	}
	/* The header and program headers sit at the start of any sane file; 64 KiB holds them. */
	size_t want = st.st_size < 65536 ? (size_t)st.st_size : 65536;
	uint8_t *buf = malloc(want ? want : 1);
	if (!buf) {
		close(fd);
		return error_set(err, -ENOMEM, "%s: out of memory", path);
	}
	ssize_t got = pread(fd, buf, want, 0);
	int saved = errno;
	close(fd);
	int rc;
	if (got < 0)
		rc = error_set(err, -saved, "%s: %s", path, strerror(saved));
	else if ((rc = elf_check_static(buf, (size_t)got, err)))
		error_prefix(err, "%s", path);
	free(buf);
	return rc;
}
