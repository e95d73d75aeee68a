/* SPDX-License-Identifier: MIT */
#include "snapshot/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "snapshot/machine_config.h"
#include "vmm/dirty.h"
#include "snapshot/uffd.h"

#define SECTION_CONFIG_VERSION SNAPSHOT_CONFIG_VERSION
#define SECTION_DEVICES_VERSION 1

/*
 * The memory file: all of RAM, or (diff) the pages dirtied since tracking
 * started or the last snapshot. Either way the dirty log restarts here, so
 * the next diff holds what changes after this snapshot. A failed diff puts
 * the pages it took back into the log: the next diff still has them.
 */
static int write_memory(struct vm *vm, const char *mem_path, bool diff, size_t *written, uint64_t *dirty_pages,
			struct vmon_error *err)
{
	size_t words = guest_mem_bitmap_words(&vm->mem);
	uint64_t *bitmap = NULL;
	int r;

	if (diff && !vm_dirty_log_active(vm))
		return error_set(err, -EINVAL, "a Diff snapshot needs dirty page tracking: set track_dirty_pages "
				 "(PUT /machine-config before the start, or PUT /snapshot/load)");
	if (vm_dirty_log_active(vm)) {
		if (!(bitmap = calloc(words, sizeof(*bitmap))))
			return error_set(err, -ENOMEM, "out of memory for the dirty page bitmap");
		if ((r = vm_dirty_log_fetch(vm, bitmap, err))) {
			free(bitmap);
			return r;
		}
		*dirty_pages = guest_mem_bitmap_count(bitmap, words);
	}
	/* Guest RAM is one contiguous host range (low region, then high): the memory file is that range. */
	if (diff)
		r = snapshot_mem_write_diff(mem_path, vm->mem.regions[0].host, vm->mem.ram_size, bitmap, written, err);
	else
		r = snapshot_mem_write(mem_path, vm->mem.regions[0].host, vm->mem.ram_size, written, err);
	if (r && bitmap)
		guest_mem_mark_bitmap(&vm->mem, bitmap);
	free(bitmap);
	return r;
}

/* The snapshot of a paused machine in memory: the desc and what its sections point into. */
struct machine_state {
	struct snapshot_desc desc;
	struct vm_state st;
	struct snapshot_section *sections;
	struct snapshot_fact fact;
	char *config;
};

static void machine_state_free(struct machine_state *ms)
{
	free(ms->sections);
	free(ms->config);
	vm_state_free(&ms->st);
	memset(ms, 0, sizeof(*ms));
}

/* Every section a snapshot has, from the paused machine m: the machine description, devices, vCPUs. */
static int machine_state_save(struct machine *m, struct machine_state *ms, struct vmon_error *err)
{
	struct vm *vm = m->vm;
	int r;

	memset(ms, 0, sizeof(*ms));
	if (!vm)
		return error_set(err, -EINVAL, "no machine to snapshot");
	if ((r = vm_save(vm, &ms->st, err)))
		return r;
	ms->config = snapshot_config_encode(m->cfg);
	ms->sections = calloc(2 + ms->st.ncpus, sizeof(*ms->sections));
	if (!ms->config || !ms->sections) {
		machine_state_free(ms);
		return error_set(err, -ENOMEM, "out of memory");
	}
	struct snapshot_section *sections = ms->sections;
	snprintf(sections[0].name, sizeof(sections[0].name), "%s", SNAPSHOT_SECTION_CONFIG);
	sections[0].version = SECTION_CONFIG_VERSION;
	sections[0].data = (const uint8_t *)ms->config;
	sections[0].size = strlen(ms->config);
	snprintf(sections[1].name, sizeof(sections[1].name), "%s", SNAPSHOT_SECTION_DEVICES);
	sections[1].version = SECTION_DEVICES_VERSION;
	sections[1].data = ms->st.devices;
	sections[1].size = ms->st.devices_size;
	for (unsigned i = 0; i < ms->st.ncpus; i++) {
		snprintf(sections[2 + i].name, sizeof(sections[2 + i].name), "%s%u", SNAPSHOT_SECTION_VCPU_PREFIX, i);
		sections[2 + i].version = X86_VCPU_STATE_VERSION;
		sections[2 + i].data = (const uint8_t *)&ms->st.vcpus[i];
		sections[2 + i].size = sizeof(ms->st.vcpus[i]);
	}
	snprintf(ms->fact.name, sizeof(ms->fact.name), "xsave_size");
	ms->fact.rule = SNAPSHOT_FACT_AT_LEAST;
	ms->fact.value = vm->vcpu_caps.xsave_size;
	ms->desc.ram_size = vm->mem.ram_size;
	ms->desc.vcpu_count = ms->st.ncpus;
	ms->desc.facts = &ms->fact;
	ms->desc.nfacts = 1;
	ms->desc.sections = sections;
	ms->desc.nsections = 2 + ms->st.ncpus;
	return 0;
}

static int create(struct machine *m, const char *snapshot_path, const char *mem_path, bool diff,
		  struct vmon_error *err)
{
	struct machine_state ms;
	size_t written = 0;
	uint64_t dirty_pages = 0;
	int r;

	if ((r = machine_state_save(m, &ms, err)))
		return r;
	if ((r = snapshot_write(snapshot_path, &ms.desc, err)))
		goto out;
	if ((r = write_memory(m->vm, mem_path, diff, &written, &dirty_pages, err)))
		goto out;
	log_info("snapshot: %s (%u vCPUs, %zu bytes of device state), %s memory %s (%llu MiB, %zu bytes written, "
		 "%llu pages dirty)", snapshot_path, ms.st.ncpus, ms.st.devices_size, diff ? "diff" : "full", mem_path,
		 (unsigned long long)(m->vm->mem.ram_size >> 20), written, (unsigned long long)dirty_pages);
out:
	machine_state_free(&ms);
	return r;
}

int snapshot_state_encode(struct machine *m, uint8_t **out, size_t *size, struct vmon_error *err)
{
	struct machine_state ms;
	int r;

	if ((r = machine_state_save(m, &ms, err)))
		return r;
	r = snapshot_encode(&ms.desc, out, size, err);
	machine_state_free(&ms);
	return r;
}

int snapshot_create(struct machine *m, const char *snapshot_path, const char *mem_path, struct vmon_error *err)
{
	return create(m, snapshot_path, mem_path, false, err);
}

int snapshot_create_diff(struct machine *m, const char *snapshot_path, const char *mem_path, struct vmon_error *err)
{
	return create(m, snapshot_path, mem_path, true, err);
}

int snapshot_open(const char *snapshot_path, struct snapshot_desc *desc, struct vm_config *cfg,
		  struct vmon_error *err)
{
	const struct snapshot_section *s;
	char *text;
	int r;

	if ((r = snapshot_read(snapshot_path, desc, err)))
		return r;
	if (desc->warning[0])
		log_warn("%s: %s", snapshot_path, desc->warning);
	if (!(s = snapshot_find(desc, SNAPSHOT_SECTION_CONFIG)) || s->version != SECTION_CONFIG_VERSION) {
		r = error_set(err, -EINVAL, "%s: no machine-config section of version %u", snapshot_path,
			      SECTION_CONFIG_VERSION);
		goto fail;
	}
	if (!(text = malloc(s->size + 1))) {
		r = error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	memcpy(text, s->data, s->size);
	text[s->size] = '\0';
	r = snapshot_config_decode(text, cfg, err);
	free(text);
	if (!r && (cfg->mem_size != desc->ram_size || cfg->ncpus != desc->vcpu_count))
		r = error_set(err, -EINVAL, "%s: the machine description (%llu bytes, %u vCPUs) disagrees with "
			      "the header (%llu bytes, %u vCPUs)", snapshot_path, (unsigned long long)cfg->mem_size,
			      cfg->ncpus, (unsigned long long)desc->ram_size, desc->vcpu_count);
	if (!r)
		return 0;
	error_prefix(err, "%s", snapshot_path);
fail:
	snapshot_desc_free(desc);
	return r;
}

/* The vm_state the sections describe (pointing into desc: nothing to free but the vCPU array). */
static int state_of(const struct snapshot_desc *desc, struct vm_state *st, struct vmon_error *err)
{
	const struct snapshot_section *s = snapshot_find(desc, SNAPSHOT_SECTION_DEVICES);

	memset(st, 0, sizeof(*st));
	if (!s || s->version != SECTION_DEVICES_VERSION)
		return error_set(err, -EINVAL, "no devices section of version %u", SECTION_DEVICES_VERSION);
	st->devices = (uint8_t *)s->data;
	st->devices_size = s->size;
	st->ncpus = desc->vcpu_count;
	st->vcpus = calloc(st->ncpus, sizeof(*st->vcpus));
	if (!st->vcpus)
		return error_set(err, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < st->ncpus; i++) {
		char name[SNAPSHOT_NAME_MAX];
		snprintf(name, sizeof(name), "%s%u", SNAPSHOT_SECTION_VCPU_PREFIX, i);
		s = snapshot_find(desc, name);
		if (!s || s->version != X86_VCPU_STATE_VERSION || s->size != sizeof(st->vcpus[i])) {
			free(st->vcpus);
			st->vcpus = NULL;
			return error_set(err, -EINVAL, "section %s missing, or not version %u of %zu bytes", name,
					 X86_VCPU_STATE_VERSION, sizeof(st->vcpus[i]));
		}
		memcpy(&st->vcpus[i], s->data, sizeof(st->vcpus[i]));
	}
	return 0;
}

int snapshot_restore_state(struct machine *m, const struct snapshot_desc *desc, struct vmon_error *err)
{
	struct vm_state st;
	int r;

	if (!m->vm)
		return error_set(err, -EINVAL, "no machine to restore into");
	if ((r = state_of(desc, &st, err)))
		return r;
	r = vm_restore(m->vm, &st, err);
	free(st.vcpus);
	return r;
}

/* The memory file mapped copy-on-write behind guest RAM. */
static int map_mem_file(struct machine *m, const char *mem_path, struct vmon_error *err)
{
	int fd = open(mem_path, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return error_set(err, -errno, "memory file %s: %s", mem_path, strerror(errno));
	r = guest_mem_map_file(&m->mem, fd, mem_path, err);
	close(fd);   /* the mapping keeps the file */
	return r;
}

static void stop_uffd_backend(void *ctx)
{
	uffd_backend_stop(ctx);
}

int snapshot_restore(struct machine *m, const struct vm_config *cfg, const struct snapshot_desc *desc,
		     const char *mem_path, enum snapshot_mem_backend backend, const struct timespec *start,
		     struct vmon_error *err)
{
	struct uffd_backend *uffd = NULL;
	int status, r;

	if ((status = machine_prepare(m, cfg, start, err)))
		goto fail;
	if (backend == SNAPSHOT_MEM_UFFD) {
		/* Served from now on: machine_destroy stops it after the last thread that could fault. */
		r = uffd_backend_start(&uffd, &m->mem, mem_path, err);
		if (!r)
			m->mem_server = (struct machine_mem_server){ .stop = stop_uffd_backend, .ctx = uffd };
	} else {
		r = map_mem_file(m, mem_path, err);
	}
	if (r) {
		status = backend == SNAPSHOT_MEM_FILE || r == -EINVAL ? VMON_EXIT_USAGE : VMON_EXIT_HOST_ERROR;
		goto fail;
	}
	if ((status = machine_build(m, err)))
		goto fail;
	if (uffd)
		uffd_backend_attach_vm(uffd, m->vm);
	if (snapshot_restore_state(m, desc, err)) {
		status = VMON_EXIT_USAGE;
		goto fail;
	}
	/* A page the restore needed and the backend could not serve: the state is not the snapshot's. */
	if (uffd && uffd_backend_failed(uffd, err)) {
		status = VMON_EXIT_HOST_ERROR;
		goto fail;
	}
	return 0;
fail:
	machine_destroy(m);
	return status;
}
