/* SPDX-License-Identifier: MIT */
#ifndef VMON_SNAPSHOT_MIGRATION_H
#define VMON_SNAPSHOT_MIGRATION_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "base/error.h"
#include "snapshot/migration_proto.h"
#include "vmm/machine.h"

/*
 * Live migration (pre-copy) of a running machine over a stream
 * (migration_proto.h; docs/MIGRATION.md): the source sends all of RAM, then
 * the pages written meanwhile (vmm/dirty.h) round after round until what is
 * left fits the downtime target, pauses, sends the rest and the devices' and
 * vCPUs' state (the snapshot file's sections), and waits for the destination
 * to say it has restored everything (READY). Only then does it send GO and
 * never run the VM again; the destination runs it on GO. Before GO, any
 * failure or a cancel leaves the source running as it was.
 */
#define MIGRATION_MAX_ROUNDS 30          /* pre-copy rounds before the final one, at most */
#define MIGRATION_STALL_ROUNDS 2         /* rounds in a row that leave >= 95% of the pages dirty: give up converging */
#define MIGRATION_STALL_MS 30000         /* no progress on the stream this long: the other side is gone */
#define MIGRATION_DEFAULT_DOWNTIME_MS 50

struct migration_stats {
	uint64_t bytes;            /* stream bytes sent (source) / received (destination) */
	unsigned rounds;           /* rounds, the final (paused) one included */
	uint64_t pages, zero_pages;   /* page records, zero-page markers among them */
	uint64_t final_pages;      /* pages sent while paused */
	double total_ms;           /* source: connect to GO */
	double downtime_ms;        /* source: from the pause to GO (the destination's READY received) */
	double dest_restore_ms;    /* the destination's own time from the state's arrival to READY */
};

/*
 * The source's side on a connected socket fd (taken over, closed on return)
 * for a machine that runs. 0 once GO is sent: the caller must then end the
 * VM (it stays paused) and never resume it. Otherwise a negative errno with
 * err, the machine running again as before. cancel: set from another thread
 * to give up (before GO).
 */
int migration_send(struct machine *m, int fd, unsigned downtime_ms, const atomic_bool *cancel,
		   struct migration_stats *stats, struct vmon_error *err);

/* The destination's side: one incoming migration. */
struct migration_recv {
	struct mig_stream stream;
	bool connected;
	uint64_t ram_size;
	char *config_text;         /* the hello's machine description */
	struct timespec start;     /* the connection accepted */
};

/*
 * Waits on listen_fd (not closed here) for the source, reads its hello and
 * decodes the machine it describes into cfg (vm_config_init'ed; adjust the
 * process-level settings, keep it alive as long as the machine). abort_fd
 * (>= 0, e.g. a signalfd): readable means give up. 0 or a negative errno.
 */
int migration_recv_accept(struct migration_recv *r, int listen_fd, int abort_fd, struct vm_config *cfg,
			  struct vmon_error *err);

/*
 * Builds the machine cfg describes (machine_prepare, machine_build), fills
 * its RAM from the stream, restores the states, says READY and waits for
 * GO: then the machine is ready for machine_run. Returns 0 or vmon's exit
 * status with err (the source is told why, the machine destroyed).
 */
int migration_recv_machine(struct migration_recv *r, struct machine *m, const struct vm_config *cfg,
			   const struct timespec *start, struct migration_stats *stats, struct vmon_error *err);

void migration_recv_close(struct migration_recv *r);

#endif
