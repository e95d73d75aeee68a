/* SPDX-License-Identifier: MIT */
#include "base/file_map.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int file_map_open(struct file_map *map, const char *path, const char *what, size_t max_size,
		  struct vmon_error *err)
{
	struct stat st;
	void *p;
	int fd, r = 0;

	map->data = NULL;
	map->size = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, -errno, "%s \"%s\": %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = error_set(err, -errno, "%s \"%s\": %s", what, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = error_set(err, -EINVAL, "%s \"%s\": not a regular file", what, path);
		goto out;
	}
	if (st.st_size == 0) {
		r = error_set(err, -EINVAL, "%s \"%s\": file is empty", what, path);
		goto out;
	}
	if ((uint64_t)st.st_size > max_size) {
		r = error_set(err, -EFBIG, "%s \"%s\": %lld bytes is more than the %zu MiB vmon accepts", what, path,
			      (long long)st.st_size, max_size >> 20);
		goto out;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		r = error_set(err, -errno, "%s \"%s\": mmap: %s", what, path, strerror(errno));
		goto out;
	}
	map->data = p;
	map->size = (size_t)st.st_size;
out:
	close(fd);
	return r;
}

void file_map_close(struct file_map *map)
{
	if (map->data)
		munmap((void *)map->data, map->size);
	map->data = NULL;
	map->size = 0;
}
