/* SPDX-License-Identifier: MIT */
#ifndef VMON_JAILER_ELF_CHECK_H
#define VMON_JAILER_ELF_CHECK_H

/*
 * The jail holds the exec file and nothing else: a dynamically linked
 * program (one with a PT_INTERP program header) would find no loader and no
 * libraries there, so the jailer refuses it up front with a clear error.
 */
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* 0 when image (the file's first len bytes) is a 64-bit ELF executable with no
 * PT_INTERP; otherwise -ENOEXEC with err saying why. */
int elf_check_static(const uint8_t *image, size_t len, struct vmon_error *err);

/* Reads path's headers and runs elf_check_static; err names the file. */
int elf_check_static_file(const char *path, struct vmon_error *err);

#endif
