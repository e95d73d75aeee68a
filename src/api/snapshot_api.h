/* SPDX-License-Identifier: MIT */
#ifndef VMON_API_SNAPSHOT_API_H
#define VMON_API_SNAPSHOT_API_H

#include <stdbool.h>

#include "base/error.h"

/* PUT /snapshot/create (Firecracker's SnapshotCreateParams). */
struct snapshot_create_req {
	char *snapshot_path;
	char *mem_file_path;
	bool diff;                 /* snapshot_type "Diff" */
};

#define SNAPSHOT_MAX_NET_OVERRIDES 8

/* PUT /snapshot/load (SnapshotLoadParams; mem_backend File, or the deprecated mem_file_path). */
struct snapshot_load_req {
	char *snapshot_path;
	char *mem_path;
	bool uffd;                 /* mem_backend.backend_type "Uffd" */
	bool track_dirty_pages;    /* or the deprecated enable_diff_snapshots */
	bool resume_vm;
	unsigned noverrides;       /* network_overrides */
	struct snapshot_net_override {
		char iface_id[64];
		char host_dev_name[64];
	} overrides[SNAPSHOT_MAX_NET_OVERRIDES];
	char vsock_uds_path[108];  /* vsock_override.uds_path; "" when not given */
};

/* Each checks the whole body (unknown fields, types, required, the mem_* rule); 0 or -EINVAL naming the field. */
int snapshot_create_req_parse(const char *body, struct snapshot_create_req *out, struct vmon_error *err);
int snapshot_load_req_parse(const char *body, struct snapshot_load_req *out, struct vmon_error *err);
void snapshot_create_req_free(struct snapshot_create_req *r);
void snapshot_load_req_free(struct snapshot_load_req *r);

#endif
