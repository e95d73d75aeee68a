/* SPDX-License-Identifier: MIT */
#include "virtio/device.h"

void virtio_serve_queue(struct virtio_dev *d, unsigned q, struct virtq_chain *chain, virtio_serve_fn serve,
			void *ctx)
{
	struct virtq *vq = virtio_queue(d, q);
	bool pushed = false;

	/* Paused or stopped: the rings are not touched, not even the notification flags. */
	if (!virtio_device_running(d))
		return;
	/* No kicks while draining; re-armed at the end, and re-checked for what came meanwhile. */
	do {
		virtq_set_notification(vq, false);
		while (virtio_device_running(d)) {
			enum virtq_pop_result r = virtq_pop(vq, chain);
			if (r == VIRTQ_EMPTY)
				break;
			if (r == VIRTQ_BROKEN) {
				virtio_device_error(d, "%s", vq->error);
				break;
			}
			int64_t written = serve(ctx, chain);
			if (written == VIRTIO_SERVE_LATER) {
				virtq_unpop(vq);
				goto out;
			}
			if (written < 0)
				break;
			virtq_push(vq, chain, (uint32_t)written);
			pushed = true;
		}
	} while (virtio_device_running(d) && virtq_set_notification(vq, true));
out:
	if (pushed)
		virtio_queue_done(d, q);
}
