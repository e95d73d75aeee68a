/* SPDX-License-Identifier: MIT */
#ifndef VMON_FILE_MAP_H
#define VMON_FILE_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* A whole regular file mapped read-only (kernel images, initrds). */
struct file_map {
	const uint8_t *data;
	size_t size;
};

/* Fails with a message naming the file for: missing, not regular, empty, larger than max_size. */
int file_map_open(struct file_map *map, const char *path, const char *what, size_t max_size,
		  struct vmon_error *err);
void file_map_close(struct file_map *map);

#endif
