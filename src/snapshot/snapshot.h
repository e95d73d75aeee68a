/* SPDX-License-Identifier: MIT */
#ifndef VMON_SNAPSHOT_SNAPSHOT_H
#define VMON_SNAPSHOT_SNAPSHOT_H

#include <time.h>

#include "base/error.h"
#include "snapshot/snapshot_file.h"
#include "vmm/machine.h"

/*
 * Snapshots of a whole machine, on top of the machine model: the snapshot
 * file (snapshot_file.h) carries the machine description (machine_config.h),
 * the device registry's sections and every vCPU's state; guest RAM goes to
 * the memory file. A restore builds the same machine in a new process, puts
 * the memory file behind guest RAM copy-on-write (nothing proportional to RAM
 * is read or copied) and loads the states before any vCPU runs.
 */

/*
 * Full snapshot of a paused machine (vm_pause first): both files written
 * atomically. With dirty page tracking on (vmm/dirty.h) the log restarts:
 * the next diff snapshot holds what changes after this one.
 */
int snapshot_create(struct machine *m, const char *snapshot_path, const char *mem_path, struct vmon_error *err);

/*
 * Diff snapshot (Firecracker's snapshot_type Diff) of a paused machine with
 * dirty page tracking on: the same full snapshot file, and a memory file
 * (snapshot_mem_write_diff) holding only the pages dirtied since tracking
 * started or the last snapshot, to be merged onto the previous memory file
 * (snapshot_mem_merge, `vmon snapshot-merge`). -EINVAL when tracking is off.
 */
int snapshot_create_diff(struct machine *m, const char *snapshot_path, const char *mem_path, struct vmon_error *err);

/*
 * Step 1 of a restore: reads and verifies the snapshot file (checksum, format,
 * host CPU) into desc and decodes its machine description into cfg, which the
 * caller may adjust (process-level settings, network backends) and must keep
 * alive as long as the machine. snapshot_desc_free(desc) after step 2.
 */
int snapshot_open(const char *snapshot_path, struct snapshot_desc *desc, struct vm_config *cfg,
		  struct vmon_error *err);

/* Where guest RAM comes from in a restore. */
enum snapshot_mem_backend {
	SNAPSHOT_MEM_FILE,   /* the memory file mapped copy-on-write (MAP_PRIVATE) */
	SNAPSHOT_MEM_UFFD,   /* anonymous RAM filled on first touch by a userfaultfd handler (snapshot/uffd.h) */
};

/*
 * Step 2: prepares and builds the machine cfg describes, puts mem_path
 * behind its RAM (backend File: the memory file; Uffd: the memory file,
 * served in-process, or an external handler's socket) and restores every
 * device's and vCPU's state; the machine is then
 * ready for machine_run (no machine_load/machine_boot). Returns 0 or vmon's
 * exit status (VMON_EXIT_USAGE for a bad file, VMON_EXIT_HOST_ERROR for the
 * host), err saying why; the machine is destroyed on failure.
 */
int snapshot_restore(struct machine *m, const struct vm_config *cfg, const struct snapshot_desc *desc,
		     const char *mem_path, enum snapshot_mem_backend backend, const struct timespec *start,
		     struct vmon_error *err);

/*
 * For streams (live migration): the snapshot file's bytes of a paused
 * machine in memory (snapshot_encode; free(*out)), and the restore of the
 * devices' and vCPUs' states from a verified desc into a built machine whose
 * RAM already holds the guest's memory. 0 or a negative errno with err.
 */
int snapshot_state_encode(struct machine *m, uint8_t **out, size_t *size, struct vmon_error *err);
int snapshot_restore_state(struct machine *m, const struct snapshot_desc *desc, struct vmon_error *err);

#endif
