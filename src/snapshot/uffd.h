/* SPDX-License-Identifier: MIT */
#ifndef VMON_SNAPSHOT_UFFD_H
#define VMON_SNAPSHOT_UFFD_H

#include <stdbool.h>

#include "base/error.h"
#include "base/guest_mem.h"
#include "vmm/vm.h"

/*
 * The Uffd memory backend of a restore: guest RAM stays anonymous memory,
 * registered with a userfaultfd (missing-page mode; not UFFD_USER_MODE_ONLY,
 * since KVM's own accesses to guest memory must fault to the handler too),
 * and each first touch of a page — by a vCPU, KVM or a vmon thread — waits
 * until a handler fills it:
 *
 *  - in-process (path names a regular file, the memory file): a vmon thread
 *    reads the block of UFFD_BLOCK_SIZE bytes around the fault from the file
 *    and answers with UFFDIO_COPY, or UFFDIO_ZEROPAGE when the block is zero;
 *  - external (path names a UNIX socket, as Firecracker's backend_path): vmon
 *    connects, sends the userfaultfd (SCM_RIGHTS) with Firecracker's JSON
 *    description of the mappings (uffd_map.h), and the process that listens
 *    there serves the faults. vmon watches that process (pidfd of the
 *    socket's peer, else the socket's hang-up): when it exits, vmon logs an
 *    error, stops the VM with VMON_EXIT_HOST_ERROR, and lets go of the
 *    userfaultfd so that no thread stays blocked on a fault nobody answers;
 *    a VM still not stopped UFFD_GONE_GRACE_S later ends the process.
 *
 * A fault has no deadline: a live handler may take its time (a page fetched
 * over a network); only a dead one is detected. docs/SNAPSHOT.md.
 */
#define UFFD_BLOCK_SIZE (64u << 10)      /* in-process: bytes filled per fault (neighbours prefetched) */
#define UFFD_HANDSHAKE_TIMEOUT_S 5       /* connecting to and sending to an external handler */
#define UFFD_GONE_GRACE_S 5              /* after the handler died: the VM must have stopped by then */

struct uffd_backend;

/*
 * Registers mem's RAM (untouched anonymous memory) with a new userfaultfd and
 * starts serving it from path (a memory file of exactly ram_size bytes, or an
 * external handler's socket). Call before anything touches guest RAM. 0, or
 * an error with err saying why (-EINVAL for a bad path or file).
 */
int uffd_backend_start(struct uffd_backend **out, const struct guest_mem *mem, const char *path,
		       struct vmon_error *err);

/* The VM to stop when the pages can no longer be served (once built; the backend must stop before it goes). */
void uffd_backend_attach_vm(struct uffd_backend *b, struct vm *vm);

/* True (err saying why) once a fault could not be served from its source. */
bool uffd_backend_failed(struct uffd_backend *b, struct vmon_error *err);

/* Stops serving (after the last access to guest RAM) and frees b; the guest RAM stays mapped, unregistered. */
void uffd_backend_stop(struct uffd_backend *b);

#endif
