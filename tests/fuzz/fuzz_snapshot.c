/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for every reader a snapshot file reaches
 * (`vmon --restore`, PUT /snapshot/load, a live migration's state): the
 * file parser (src/snapshot/snapshot_file.c: header, facts, sections,
 * CRC-64, CPU check), the machine description (machine_config.c, JSON), the
 * device registry's section restore (devices/registry.c) into the legacy
 * devices (UART, i8042, RTC) and virtio-rng and virtio-blk on virtio-mmio
 * (the core's queue state), the KVM devices' state checks (irqchip, PIT,
 * kvmclock: the bytes KVM would be handed) and the vCPU state check
 * (arch/x86/vcpu_state_check.c).
 *
 * Input: byte 0 bit 0: recompute the CRC-64 trailer first (so mutations
 * reach the structure behind it); the rest is the snapshot file.
 * FUZZ_SNAPSHOT_TRACE=1 prints every refusal.
 * FUZZ_SNAPSHOT_SEEDS=DIR makes the binary write its seed files to DIR
 * (snapshots of its own devices, as vmon writes them) and exit.
 *
 * Checked: a refusal is a negative errno with a message; an accepted file
 * encodes back into one that decodes to the same facts and sections; an
 * accepted machine description encodes and decodes back to the same text;
 * an accepted devices section leaves states that save to a section of the
 * same size and that restores again; the checks of the KVM devices and the
 * vCPU refuse with a message or accept.
 */
#include "fuzz_device.h"

#include <fcntl.h>
#include <lzma.h>
#include <unistd.h>

#include "arch/x86/kvm_devices.h"
#include "arch/x86/memory.h"
#include "arch/x86/vcpu_state.h"
#include "base/event_loop.h"
#include "base/log.h"
#include "devices/i8042.h"
#include "devices/registry.h"
#include "devices/rtc.h"
#include "devices/uart_8250.h"
#include "snapshot/machine_config.h"
#include "snapshot/snapshot_file.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"
#include "virtio/rng.h"

#define RAM_SIZE (2u << 20)
#define MAX_VCPUS_CHECKED 4

/* ---- KVM's devices: their state checks, behind the registry (no VM here) --- */

#define FAKE_KVM_DEVICE(name, type, check_fn)                                            \
	static type name##_state;                                                        \
	static void name##_save(void *dev, void *state)                                  \
	{                                                                                \
		(void)dev;                                                               \
		memcpy(state, &name##_state, sizeof(type));                              \
	}                                                                                \
	static int name##_restore(void *dev, const void *state, struct vmon_error *err)  \
	{                                                                                \
		type s;                                                                  \
		int r;                                                                   \
		(void)dev;                                                               \
		memcpy(&s, state, sizeof(s));                                            \
		if ((r = check_fn(&s, err)))                                             \
			return r;                                                        \
		name##_state = s;                                                        \
		return 0;                                                                \
	}                                                                                \
	static void name##_reset(void *dev)                                              \
	{                                                                                \
		(void)dev;                                                               \
	}

FAKE_KVM_DEVICE(irqchip, struct kvm_irqchip_state, kvm_irqchip_state_check)
FAKE_KVM_DEVICE(pit, struct kvm_pit_dev_state, kvm_pit_state_check)
FAKE_KVM_DEVICE(kclock, struct kvm_clock_dev_state, kvm_clock_state_check)

static const struct device_ops fake_irqchip_ops = {
	.kind = "kvm-irqchip", .state_version = KVM_IRQCHIP_STATE_VERSION, .state_size = sizeof(struct kvm_irqchip_state),
	.reset = irqchip_reset, .save = irqchip_save, .restore = irqchip_restore,
};
static const struct device_ops fake_pit_ops = {
	.kind = "kvm-pit", .state_version = KVM_PIT_STATE_VERSION, .state_size = sizeof(struct kvm_pit_dev_state),
	.reset = pit_reset, .save = pit_save, .restore = pit_restore,
};
static const struct device_ops fake_clock_ops = {
	.kind = "kvm-clock", .state_version = KVM_CLOCK_STATE_VERSION, .state_size = sizeof(struct kvm_clock_dev_state),
	.reset = kclock_reset, .save = kclock_save, .restore = kclock_restore,
};

/* ---- the machine's devices ------------------------------------------------- */

static struct world {
	struct fake_host h;
	struct guest_mem mem;
	struct event_loop loop;
	struct uart_8250 uart;
	struct i8042 kbd;
	struct rtc rtc;
	struct virtio_transport rng_t, blk_t;
	struct virtio_rng *rng;
	struct virtio_blk *blk;
	struct device_registry reg;
	char image[64];
} w;

static void no_output(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx, (void)buf, (void)len;
}

static void fixed_clock(void *ctx, struct timespec *now)
{
	(void)ctx;
	*now = (struct timespec){ .tv_sec = 1700000000 };
}

static void world_make(void)
{
	static const struct uart_8250_callbacks cb = { .output = no_output };
	struct drive_config drive = { .path = w.image, .id = "fuzz", .lock_later = true };
	struct vmon_error err = { 0 };
	int fd;

	log_set_level(LOG_OFF);
	snprintf(w.image, sizeof(w.image), "/dev/shm/vmon-fuzz-snapshot-%d.img", (int)getpid());
	fd = open(w.image, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20) || close(fd)) {
		perror(w.image);
		abort();
	}
	x86_guest_mem_create(&w.mem, RAM_SIZE, &err);
	fake_host_init(&w.h, &w.mem);
	registry_init(&w.reg);
	if (err.code || event_loop_init(&w.loop, &err) ||
	    registry_add(&w.reg, "kvm-irqchip", &fake_irqchip_ops, NULL, NULL, 0, &err) ||
	    registry_add(&w.reg, "kvm-pit", &fake_pit_ops, NULL, NULL, 0, &err) ||
	    registry_add(&w.reg, "kvm-clock", &fake_clock_ops, NULL, NULL, 0, &err) ||
	    uart_8250_init(&w.uart, &w.h.host, 0x3f8, 4, &cb, &err) ||
	    registry_add(&w.reg, "com1", &uart_8250_device_ops, &w.uart, NULL, 0, &err) ||
	    i8042_init(&w.kbd, &w.h.host, &err) || registry_add(&w.reg, "i8042", &i8042_device_ops, &w.kbd, NULL, 0, &err) ||
	    rtc_init(&w.rtc, &w.h.host, fixed_clock, NULL, &err) ||
	    registry_add(&w.reg, "rtc", &rtc_device_ops, &w.rtc, NULL, 0, &err) ||
	    virtio_rng_create(&w.rng, &w.rng_t.vdev, NULL, &err) ||
	    virtio_mmio_init(&w.rng_t, &w.h.host, &w.loop, 0xd0000000, 5, &virtio_rng_ops, w.rng, &err) ||
	    registry_add(&w.reg, "virtio-rng0", &virtio_rng_registry_ops, &w.rng_t.vdev, NULL, 0, &err) ||
	    virtio_blk_create(&w.blk, &w.blk_t.vdev, &drive, 0, &err) ||
	    virtio_mmio_init(&w.blk_t, &w.h.host, &w.loop, 0xd0001000, 6, virtio_blk_device_ops(w.blk), w.blk, &err) ||
	    registry_add(&w.reg, "virtio-blk0", &virtio_blk_registry_ops, &w.blk_t.vdev, NULL, 0, &err)) {
		fprintf(stderr, "fuzz_snapshot: set-up: %s\n", err.msg);
		abort();
	}
	unlink(w.image); /* the drive keeps its descriptor */
}

/* ---- the checks -------------------------------------------------------------- */

static void check_refusal(int r, const struct vmon_error *err)
{
	if (getenv("FUZZ_SNAPSHOT_TRACE"))
		fprintf(stderr, "fuzz_snapshot: refused (%d): %s\n", r, err->msg);
	FUZZ_CHECK(r < 0 && r > -4096);
	FUZZ_CHECK(err->msg[0] != '\0');
}

static void check_reencoded(const struct snapshot_desc *d)
{
	struct snapshot_desc again;
	struct vmon_error err = { 0 };
	uint8_t *buf;
	size_t size;

	FUZZ_CHECK(snapshot_encode(d, &buf, &size, &err) == 0);
	if (snapshot_decode(buf, size, &again, &err)) {
		fprintf(stderr, "fuzz_snapshot: an accepted file encodes into a refused one: %s\n", err.msg);
		abort();
	}
	FUZZ_CHECK(again.ram_size == d->ram_size && again.vcpu_count == d->vcpu_count);
	FUZZ_CHECK(again.nfacts == d->nfacts && again.nsections == d->nsections);
	for (unsigned i = 0; i < d->nfacts; i++)
		FUZZ_CHECK(!memcmp(&again.facts[i], &d->facts[i], sizeof(d->facts[i])));
	for (unsigned i = 0; i < d->nsections; i++) {
		const struct snapshot_section *a = &again.sections[i], *b = &d->sections[i];
		FUZZ_CHECK(!strcmp(a->name, b->name) && a->version == b->version && a->size == b->size);
		FUZZ_CHECK(!b->size || !memcmp(a->data, b->data, b->size));
	}
	snapshot_desc_free(&again);
}

static void check_config(const struct snapshot_section *s)
{
	static struct vm_config cfg, cfg2;
	struct vmon_error err = { 0 };
	char *text = strndup((const char *)s->data, s->size), *enc, *enc2;
	int r;

	FUZZ_CHECK(text != NULL);
	r = snapshot_config_decode(text, &cfg, &err);
	free(text);
	if (r) {
		check_refusal(r, &err);
		return;
	}
	enc = snapshot_config_encode(&cfg);
	FUZZ_CHECK(enc != NULL);
	if (snapshot_config_decode(enc, &cfg2, &err)) {
		fprintf(stderr, "fuzz_snapshot: an accepted machine-config encodes into a refused one: %s\n%s\n", err.msg,
			enc);
		abort();
	}
	enc2 = snapshot_config_encode(&cfg2);
	FUZZ_CHECK(enc2 != NULL && !strcmp(enc, enc2));
	free(enc);
	free(enc2);
}

static void check_devices(const struct snapshot_section *s)
{
	static uint8_t saved[64 << 10];
	struct vmon_error err = { 0 };
	size_t n;
	int r;

	r = registry_restore(&w.reg, s->data, s->size, &err);
	if (r) {
		check_refusal(r, &err);
		return;
	}
	FUZZ_CHECK(registry_state_size(&w.reg) <= sizeof(saved));
	n = registry_save(&w.reg, saved, sizeof(saved));
	FUZZ_CHECK(n == s->size);
	if (registry_restore(&w.reg, saved, n, &err)) {
		fprintf(stderr, "fuzz_snapshot: restored devices save a state they refuse: %s\n", err.msg);
		abort();
	}
}

static void check_vcpus(const struct snapshot_desc *d)
{
	static struct x86_vcpu_state st;

	for (unsigned i = 0; i < d->vcpu_count && i < MAX_VCPUS_CHECKED; i++) {
		char name[SNAPSHOT_NAME_MAX];
		const struct snapshot_section *s;
		struct vmon_error err = { 0 };
		int r;

		snprintf(name, sizeof(name), "%s%u", SNAPSHOT_SECTION_VCPU_PREFIX, i);
		s = snapshot_find(d, name);
		if (!s || s->size != sizeof(st))
			continue;
		memcpy(&st, s->data, sizeof(st));
		if ((r = x86_vcpu_state_check(&st, &err)))
			check_refusal(r, &err);
	}
}

static void fuzz_file(const uint8_t *file, size_t size)
{
	static struct snapshot_cpu host;
	static const struct snapshot_fact host_facts[] = {
		{ "xsave_size", 0, 4096 }, { "msrs", 0, 64 }, { "kvm_caps", 0, 0xffff },
	};
	struct snapshot_desc d;
	struct vmon_error err = { 0 };
	const struct snapshot_section *s;
	char warning[192];
	uint8_t *buf = malloc(size ? size : 1);
	int r;

	if (!host.vendor[0])
		snapshot_host_cpu(&host);
	FUZZ_CHECK(buf != NULL);
	memcpy(buf, file, size);
	r = snapshot_decode(buf, size, &d, &err); /* takes buf over */
	if (r) {
		check_refusal(r, &err);
		return;
	}
	check_reencoded(&d);
	err = (struct vmon_error){ 0 };
	if ((r = snapshot_cpu_check(&d.cpu, &host, warning, sizeof(warning), &err)))
		check_refusal(r, &err);
	err = (struct vmon_error){ 0 };
	if ((r = snapshot_facts_check(&d, host_facts, sizeof(host_facts) / sizeof(host_facts[0]), &err)))
		check_refusal(r, &err);
	if ((s = snapshot_find(&d, SNAPSHOT_SECTION_CONFIG)))
		check_config(s);
	if ((s = snapshot_find(&d, SNAPSHOT_SECTION_DEVICES)))
		check_devices(s);
	check_vcpus(&d);
	snapshot_desc_free(&d);
}

/* ---- seeds --------------------------------------------------------------------- */

static void write_seed(const char *dir, const char *name, const struct snapshot_desc *d, int fix_crc)
{
	struct vmon_error err = { 0 };
	uint8_t *buf;
	size_t size;
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (snapshot_encode(d, &buf, &size, &err) || !(f = fopen(path, "wb")) || fputc(fix_crc, f) == EOF ||
	    fwrite(buf, 1, size, f) != size || fclose(f)) {
		fprintf(stderr, "fuzz_snapshot: %s: %s\n", path, err.msg[0] ? err.msg : "cannot write");
		exit(1);
	}
	free(buf);
}

static void write_seeds(const char *dir)
{
	static uint8_t devices[64 << 10];
	static struct x86_vcpu_state vcpu;
	struct snapshot_fact facts[] = { { "xsave_size", SNAPSHOT_FACT_AT_LEAST, 4096 } };
	struct snapshot_section sections[3];
	struct snapshot_desc d = { .ram_size = RAM_SIZE, .vcpu_count = 1, .facts = facts, .nfacts = 1,
				   .sections = sections, .nsections = 3 };
	static struct vm_config cfg;
	char *config;
	size_t n;

	/* A machine description as vmon encodes it: RAM, a vCPU, a drive and virtio-rng. */
	vm_config_init(&cfg);
	cfg.kernel_path = "/k";
	cfg.cmdline = "console=ttyS0";
	cfg.mem_size = 128u << 20;
	cfg.ncpus = 1;
	cfg.ndrives = 1;
	cfg.drives[0] = (struct drive_config){ .path = "/dev/shm/x.img", .id = "rootfs" };
	cfg.rng = true;
	config = snapshot_config_encode(&cfg);
	FUZZ_CHECK(config != NULL);
	/* Plausible KVM device states: the IOAPIC where KVM has it, every pin masked, the PIT unprogrammed. */
	irqchip_state.ioapic.base_address = KVM_IOAPIC_BASE;
	irqchip_state.pic[0].elcr_mask = 0xf8;
	irqchip_state.pic[1].elcr_mask = 0xde;
	for (unsigned i = 0; i < KVM_IOAPIC_PINS; i++)
		irqchip_state.ioapic.redirtbl[i] = 1ull << 16;
	for (unsigned i = 0; i < 3; i++)
		pit_state.channels[i] = (struct kvm_pit_channel){ .count = 0x10000, .mode = 0xff, .gate = i != 2 };
	registry_reset(&w.reg);
	n = registry_save(&w.reg, devices, sizeof(devices));
	vcpu.version = X86_VCPU_STATE_VERSION;
	vcpu.regs.rflags = 2;
	sections[0] = (struct snapshot_section){ SNAPSHOT_SECTION_CONFIG, SNAPSHOT_CONFIG_VERSION,
						 (const uint8_t *)config, strlen(config) };
	sections[1] = (struct snapshot_section){ SNAPSHOT_SECTION_DEVICES, 1, devices, n };
	sections[2] = (struct snapshot_section){ "vcpu.0", X86_VCPU_STATE_VERSION, (const uint8_t *)&vcpu, sizeof(vcpu) };
	write_seed(dir, "machine", &d, 1);
	write_seed(dir, "machine_crc_as_is", &d, 0);
	d.nfacts = 0;
	sections[0].size = 2;
	sections[0].data = (const uint8_t *)"{}";
	write_seed(dir, "empty_config", &d, 1);
	free(config);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_SNAPSHOT_SEEDS");

	(void)argc, (void)argv;
	world_make();
	if (dir) {
		write_seeds(dir);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t file[SNAPSHOT_MAX_FILE > (1u << 20) ? (1u << 20) : SNAPSHOT_MAX_FILE];
	size_t n;

	if (size < 1 || size - 1 > sizeof(file))
		return 0;
	n = size - 1;
	memcpy(file, data + 1, n);
	if ((data[0] & 1) && n >= 8) {
		uint64_t crc = lzma_crc64(file, n - 8, 0);
		memcpy(file + n - 8, &crc, 8); /* little-endian, as the file stores it */
	}
	registry_reset(&w.reg);
	fuzz_file(file, n);
	return 0;
}
