/* SPDX-License-Identifier: MIT */
#include "virtio/device.h"

void virtio_serve_queue(struct virtio_transport *t, unsigned q, struct virtq_chain *chain, virtio_serve_fn serve,
			void *ctx)
{
	struct virtq *vq = virtio_queue(t, q);
	bool pushed = false;

	/* No kicks while draining; re-armed at the end, and re-checked for what came meanwhile. */
	do {
		virtq_set_notification(vq, false);
		while (virtio_device_running(t)) {
			enum virtq_pop_result r = virtq_pop(vq, chain);
			if (r == VIRTQ_EMPTY)
				break;
			if (r == VIRTQ_BROKEN) {
				virtio_device_error(t, "%s", vq->error);
				break;
			}
			int64_t written = serve(ctx, chain);
			if (written < 0)
				break;
			virtq_push(vq, chain, (uint32_t)written);
			pushed = true;
		}
	} while (virtio_device_running(t) && virtq_set_notification(vq, true));
	if (pushed)
		virtio_queue_done(t, q);
}
