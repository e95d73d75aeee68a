/* SPDX-License-Identifier: MIT */
/*
 * pci_ticker: drives a virtio-rng on PCI without end and waits for each
 * request's MSI-X interrupt, printing "tick N: R requests, I MSI-X interrupts"
 * once per RTC second; the counts live in guest memory. For snapshots of a
 * PCI machine (tests/integration/test_snapshot.py): after a restore the ticks
 * must go on from the snapshot's count with interrupts still arriving (the
 * restored vmon rebuilds the MSI routes). A request not served, or served
 * without its interrupt, within VIRTIO_TIMEOUT_S fails the guest (1, 2).
 */
#include "pci.h"

#define MSIX_VECTOR 0x30u
#define RNG_BYTES 16u
#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71

static struct vpci_dev rng;
static struct vq rq;
static uint8_t ring_page[4096] __attribute__((aligned(4096)));
static uint8_t entropy[RNG_BYTES];

static uint8_t rtc_seconds(void)
{
	outb(CMOS_INDEX, 0);
	return inb(CMOS_DATA);
}

void guest_main(const struct boot_info *bi)
{
	struct vq_seg seg = { entropy, RNG_BYTES, true };
	uint32_t requests = 0, tick = 0, len;
	uint8_t second;

	(void)bi;
	virtio_set_guest_name("pci_ticker");
	idt_init();
	pic_init(0);   /* only MSI-X reaches the CPU */
	vpci_find(PCI_MECH_ECAM, VIRTIO_ID_RNG, &rng);
	vpci_enable(&rng);
	vpci_negotiate(&rng, 0);
	vpci_queue_setup(&rng, &rq, 0, 8, ring_page, 0);
	vpci_msix_attach(&rng, 0, MSIX_VECTOR);
	vpci_driver_ok(&rng);
	second = rtc_seconds();
	for (;;) {
		uint32_t irqs = rng.irqs;
		struct virtio_deadline d;

		if (!vpci_submit_wait(&rng, &rq, &seg, 1, &len, VIRTIO_TIMEOUT_S))
			virtio_fail(1, "request %u not served within %u s", requests + 1, VIRTIO_TIMEOUT_S);
		virtio_deadline_start(&d, VIRTIO_TIMEOUT_S);
		while (rng.irqs == irqs)
			if (virtio_deadline_expired(&d))
				virtio_fail(2, "no MSI-X interrupt for request %u within %u s", requests + 1,
					    VIRTIO_TIMEOUT_S);
		requests++;
		if (rtc_seconds() != second) {
			second = rtc_seconds();
			printf("tick %u: %u requests, %u MSI-X interrupts\n", ++tick, requests, rng.irqs);
		}
	}
}
