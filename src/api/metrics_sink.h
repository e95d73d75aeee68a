/* SPDX-License-Identifier: MIT */
#ifndef VMON_API_METRICS_SINK_H
#define VMON_API_METRICS_SINK_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

/*
 * Where Firecracker-format metrics lines go (PUT /metrics, metrics_path): a
 * FIFO or an existing file, opened as base/log.h's log_open_path does — a
 * FIFO read-write and non-blocking, so that opening needs no reader
 * (O_WRONLY would fail with ENXIO), a reader going away raises no SIGPIPE,
 * and lines written while nobody reads wait in the pipe for the next
 * reader; a file appended to.
 *
 * A line is written whole or not at all where that can be known: into a
 * FIFO only once the pipe has room for all of it (waiting at most the
 * caller's timeout, then dropping it, counted in `missed`), so a reader
 * never gets half a JSON object; a line longer than the pipe grows the pipe
 * when the host allows (F_SETPIPE_SZ). Should a write still stop half-way
 * (another writer on the FIFO took the room), the fragment is ended with a
 * newline by the next write and counted in `fails`.
 */
struct metrics_sink {
	int fd;                  /* -1: not open */
	bool is_fifo;
	bool line_cut;           /* the last write stopped half-way: end that line first */
	uint64_t lines;          /* lines written whole */
	uint64_t missed;         /* lines dropped: no room in the FIFO in time */
	uint64_t fails;          /* write errors and lines cut short */
};

/* A closed sink (fd -1, counters 0). */
void metrics_sink_init(struct metrics_sink *s);

/* Opens path (replacing what s had open); err names the path. */
int metrics_sink_open(struct metrics_sink *s, const char *path, struct vmon_error *err);

/*
 * Writes line and a newline. Waits at most timeout_ms for a FIFO to have room.
 * 0; -EAGAIN: dropped whole (missed); -EBADF: not open; another -errno: failed (fails).
 */
int metrics_sink_write_line(struct metrics_sink *s, const char *line, int timeout_ms);

void metrics_sink_close(struct metrics_sink *s);

#endif
