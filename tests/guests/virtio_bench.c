/* SPDX-License-Identifier: MIT */
/*
 * virtio_bench: a request loop for benchmarking a VMM's virtio-blk or
 * virtio-net (TX) path (bench/virtio.py drives it).
 *
 * At CPL 0 it finds and sets up the device with the virtio library, with
 * VRING_AVAIL_F_NO_INTERRUPT (it polls), masks every 8259 input, then drops
 * to CPL 3 (its own GDT with user segments and a TSS, iretq with IOPL 0 and
 * IF 1) on its own page tables: the start code's identity map of 0..1 GiB
 * and 3..4 GiB (MMIO) again, with U = 1 at every level, so the code, stacks,
 * rings, buffers and the device window are all user pages. The request loop
 * then runs natively even on hosts that run guest ring 0 in an emulator.
 *
 * The CPL 3 code does no port I/O: PVM hosts give guest user mode no port
 * access whatever IOPL says, and run it with IF = 1 whatever RFLAGS asks
 * (shared/notes/host-pvm.md). So IF is 1 everywhere (every interrupt vector
 * has a handler, which counts it), time is the TSC, and the serial port, the
 * CMOS clock and the debug-exit port are reached through "ring-0 calls": a
 * ud2 with a magic value in RDX, whose #UD handler does the work at CPL 0
 * and returns past it. (syscall and int n are no use here: PVM delivers
 * neither correctly to a non-PVM guest, while exceptions arrive intact.)
 * The calls happen only outside the measured stretch, or when idle.
 *
 * Cmdline:
 *   dev=blk op=read|write size=BYTES count=N depth=D [seq=1]
 *       D requests (header, one data descriptor, status) kept in flight:
 *       each completion is re-submitted until N have completed. Sectors are
 *       size-aligned, pseudo-random over the whole disk (seq=1: one after
 *       the other, wrapping at the end).
 *   dev=net size=BYTES count=N [depth=D]
 *       N transmitted frames of size bytes (Ethernet header to the broadcast
 *       address, EtherType 0x88b5 "local experimental", 60..1514 bytes) each
 *       behind a zeroed 12-byte virtio_net_hdr_v1 in one descriptor; D frames
 *       in flight (default: the whole queue).
 *   count=0 sets everything up and runs an empty loop (a baseline).
 * Prints "bench: start" just before the loop and "bench: done N" after it,
 * then debug_exit(0). Completions are polled; the device kicked once per
 * batch of re-submissions (unless it asked not to be).
 *
 * Every wait is bounded: without progress for VIRTIO_TIMEOUT_S seconds of the
 * CMOS clock (a ring-0 call, made only every 2^26 TSC cycles or 2^22 idle
 * polls, so that it does not disturb the measurement), or for 1024 such
 * checks whatever the clock says, the guest fails.
 *
 * Failures: 1 = bad cmdline, 2 = parameters the device cannot take (size,
 * depth, capacity, read-only drive), 3 = request status not OK, 4 = used
 * length wrong, 5 = no completion within the timeout, 6 = DEVICE_NEEDS_RESET,
 * 7 = exception at CPL 3 (vector, error, RIP, CR2 printed). Library
 * failures: 90..95 (virtio.h).
 */
#include <linux/virtio_blk.h>
#include <linux/virtio_net.h>

#include "virtio.h"

#define STR_(x) #x
#define STR(x) STR_(x)

#define FAIL_CMDLINE  1
#define FAIL_PARAMS   2
#define FAIL_STATUS   3
#define FAIL_LEN      4
#define FAIL_TIMEOUT  5
#define FAIL_RESET    6
#define FAIL_TRAP     7

#define KERNEL_CS GDT_KERNEL_CS
#define USER_SS   GDT_USER_SS
#define USER_CS   GDT_USER_CS
#define RFLAGS_USER 0x0202        /* IOPL 0, IF 1 */

#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)

#define SECTOR 512u
#define BLK_MAX_DEPTH 64u          /* 3 descriptors each: fits a 256-entry queue */
#define BUF_POOL_BYTES (4u << 20)
#define NET_HDR_BYTES sizeof(struct virtio_net_hdr_v1)
#define NET_FRAME_MIN 60u          /* Ethernet minimum without the FCS */
#define NET_FRAME_MAX 1514u        /* 1500-byte MTU + header */
#define ETHERTYPE_LOCAL 0x88b5u

#define IDLE_CHECK_CYCLES (1ull << 26)
#define IDLE_CHECK_POLLS (1u << 22)
#define IDLE_CHECKS_WITHOUT_RTC 256u
#define IDLE_CHECKS_MAX 1024u      /* even when the clock has stopped */

/*
 * User page tables (static, as start.S's: no ring-0 loop fills them):
 * 0..1 GiB write-back and 3..4 GiB uncached, 2 MiB pages, P|W|U everywhere.
 */
__asm__(
	"	.pushsection .data.virtio_bench_pt, \"aw\"\n"
	"	.balign 4096\n"
	"	.globl	user_pml4\n"
	"user_pml4:\n"
	"	.quad	user_pdpt + 0x007\n"
	"	.fill	511, 8, 0\n"
	"user_pdpt:\n"
	"	.quad	user_pd_low + 0x007\n"
	"	.quad	0, 0\n"
	"	.quad	user_pd_high + 0x007\n"
	"	.fill	508, 8, 0\n"
	"user_pd_low:\n"
	"	.set	i, 0\n"
	"	.rept	512\n"
	"	.quad	(i << 21) + 0x087\n"
	"	.set	i, i + 1\n"
	"	.endr\n"
	"user_pd_high:\n"
	"	.set	i, 0\n"
	"	.rept	512\n"
	"	.quad	0xc0000000 + (i << 21) + 0x09f\n"
	"	.set	i, i + 1\n"
	"	.endr\n"
	"	.popsection\n"

	/* Stacks: not zeroed (.bss.noinit), written before they are read. */
	"	.pushsection .bss.noinit.virtio_bench_stacks, \"aw\", @nobits\n"
	"	.balign 4096\n"
	"	.space	16384\n"
	"user_stack_top:\n"
	"	.space	8192\n"
	"kernel_stack_top:\n"
	"	.popsection\n"

	/* iretq to user_main at CPL 3, as if called (RSP + 8 16-byte aligned). */
	"	.text\n"
	"	.balign 16\n"
	"enter_user:\n"
	"	pushq	$" STR(USER_SS) "\n"
	"	leaq	user_stack_top - 8(%rip), %rax\n"
	"	pushq	%rax\n"
	"	pushq	$" STR(RFLAGS_USER) "\n"
	"	pushq	$" STR(USER_CS) "\n"
	"	leaq	user_main(%rip), %rax\n"
	"	pushq	%rax\n"
	"	iretq\n");

extern const char user_pml4[], kernel_stack_top[];
__attribute__((noreturn)) void enter_user(void);
__attribute__((noreturn, used)) void user_main(void);
__attribute__((noreturn)) static void user_fail(uint32_t code, const char *message);

/* Ring-0 calls: RAX = call, RDI and RSI = arguments, RDX = the magic; result in RAX. */
#define RING0_CALL_MAGIC 0x7662656e6368ull   /* "vbench" */
#define UD2_BYTE0 0x0f
#define UD2_BYTE1 0x0b
#define WRITE_MAX 256u

enum ring0_call {
	CALL_WRITE = 1,        /* RDI = text, RSI = length: to COM1 */
	CALL_CMOS_SECONDS,     /* returns the CMOS clock's seconds register (0xff: no clock) */
	CALL_EXIT,             /* RDI = debug_exit code */
	CALL_FAIL,             /* RDI = code, RSI = NUL-terminated message: virtio_fail */
};


enum bench_dev { DEV_BLK, DEV_NET };

static struct {
	enum bench_dev dev;
	bool write;
	bool seq;
	uint32_t size;
	uint64_t count;
	uint32_t depth;
} cfg;

static struct virtio_dev dev;
static struct vq vq;

/* virtio-blk: one header and status per request slot, and its data buffer. */
static struct {
	struct virtio_blk_outhdr hdr;
	volatile uint8_t status;
} slots[BLK_MAX_DEPTH];
static uint8_t slot_of_head[VQ_MAX_SIZE];
static uint64_t blk_blocks;       /* size-sized blocks on the disk */
static uint64_t next_block, rng_state = 0x9e3779b97f4a7c15ull;

/* Request data (blk) or the one frame every TX chain sends (net). */
static uint8_t buf_pool[BUF_POOL_BYTES] __attribute__((section(".bss.noinit.virtio_bench"), aligned(4096)));

/* ---- cmdline -------------------------------------------------------------- */

static bool word_is(const char *value, const char *want)
{
	size_t n = strlen(want);

	return value && !strncmp(value, want, n) && (value[n] == ' ' || value[n] == '\0');
}

static uint64_t number_or(const struct boot_info *bi, const char *key, uint64_t dflt)
{
	uint64_t v;

	if (!cmdline_get(bi, key))
		return dflt;
	if (!cmdline_get_u64(bi, key, &v))
		virtio_fail(FAIL_CMDLINE, "bad %s value", key);
	return v;
}

static void parse_cmdline(const struct boot_info *bi)
{
	const char *devname = cmdline_get(bi, "dev="), *op = cmdline_get(bi, "op=");
	uint64_t size, depth;

	if (word_is(devname, "blk"))
		cfg.dev = DEV_BLK;
	else if (word_is(devname, "net"))
		cfg.dev = DEV_NET;
	else
		virtio_fail(FAIL_CMDLINE, "dev= must be blk or net");
	if (cfg.dev == DEV_BLK && !word_is(op, "read") && !word_is(op, "write"))
		virtio_fail(FAIL_CMDLINE, "op= must be read or write");
	cfg.write = word_is(op, "write");
	cfg.seq = number_or(bi, "seq=", 0) != 0;
	if (!cmdline_get(bi, "count="))
		virtio_fail(FAIL_CMDLINE, "count= missing");
	cfg.count = number_or(bi, "count=", 0);
	size = number_or(bi, "size=", cfg.dev == DEV_BLK ? 4096 : 64);
	depth = number_or(bi, "depth=", cfg.dev == DEV_BLK ? 1 : VQ_MAX_SIZE);
	if (cfg.dev == DEV_BLK && (size == 0 || size % SECTOR || size > BUF_POOL_BYTES))
		virtio_fail(FAIL_CMDLINE, "size=%lu: want a multiple of %u up to %u", size, SECTOR, BUF_POOL_BYTES);
	if (cfg.dev == DEV_NET && (size < NET_FRAME_MIN || size > NET_FRAME_MAX))
		virtio_fail(FAIL_CMDLINE, "size=%lu: want a frame of %u..%u bytes", size, NET_FRAME_MIN,
			    NET_FRAME_MAX);
	if (depth == 0 || depth > (cfg.dev == DEV_BLK ? BLK_MAX_DEPTH : VQ_MAX_SIZE))
		virtio_fail(FAIL_CMDLINE, "depth=%lu out of range", depth);
	if (cfg.dev == DEV_BLK && depth * size > BUF_POOL_BYTES)
		virtio_fail(FAIL_CMDLINE, "depth %lu x size %lu exceeds the %u-byte buffer pool", depth, size,
			    BUF_POOL_BYTES);
	cfg.size = (uint32_t)size;
	cfg.depth = (uint32_t)depth;
}

/* ---- device set-up (CPL 0) ------------------------------------------------- */

/* Queue set up, polled: the device is asked not to interrupt. */
static void setup_queue(uint16_t index)
{
	virtq_setup(&vq, &dev, index, VQ_MAX_SIZE);
	vq.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
}

static void setup_blk(const struct boot_info *bi)
{
	uint64_t capacity;

	virtio_find(bi, VIRTIO_ID_BLOCK, 0, &dev);
	virtio_negotiate(&dev, 0);
	setup_queue(0);
	if (cfg.depth * 3u > vq.size)
		virtio_fail(FAIL_PARAMS, "depth %u needs %u descriptors, the queue has %u", cfg.depth, cfg.depth * 3,
			    vq.size);
	capacity = virtio_cfg64(&dev, offsetof(struct virtio_blk_config, capacity));
	blk_blocks = capacity / (cfg.size / SECTOR);
	if (blk_blocks == 0)
		virtio_fail(FAIL_PARAMS, "capacity %lu sectors is below one %u-byte request", capacity, cfg.size);
	if (cfg.write && (dev.offered & (1ull << VIRTIO_BLK_F_RO)))
		virtio_fail(FAIL_PARAMS, "op=write on a read-only drive");
	virtio_driver_ok(&dev);
	for (uint32_t i = 0; i < cfg.depth; i++)
		slots[i].hdr.type = cfg.write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	printf("virtio_bench: blk %s %u bytes x %lu, depth %u, %s over %lu sectors (queue %u)\n",
	       cfg.write ? "write" : "read", cfg.size, cfg.count, cfg.depth, cfg.seq ? "sequential" : "random",
	       capacity, vq.size);
}

static void setup_net(const struct boot_info *bi)
{
	static const uint8_t fallback_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	uint8_t *hdr = buf_pool, *frame = buf_pool + NET_HDR_BYTES;

	virtio_find(bi, VIRTIO_ID_NET, 0, &dev);
	virtio_negotiate(&dev, 1ull << VIRTIO_NET_F_MAC);
	setup_queue(1);   /* transmitq; receiveq 0 stays unused */
	if (cfg.depth > vq.size)
		cfg.depth = vq.size;
	virtio_driver_ok(&dev);

	memset(hdr, 0, NET_HDR_BYTES);
	memset(frame, 0xff, 6);   /* broadcast */
	for (unsigned int i = 0; i < 6; i++)
		frame[6 + i] = virtio_has_feature(&dev, VIRTIO_NET_F_MAC) ?
				       virtio_cfg8(&dev, offsetof(struct virtio_net_config, mac) + i) :
				       fallback_mac[i];
	frame[12] = ETHERTYPE_LOCAL >> 8;
	frame[13] = ETHERTYPE_LOCAL & 0xff;
	for (uint32_t i = 14; i < cfg.size; i++)
		frame[i] = (uint8_t)i;
	printf("virtio_bench: net tx %u-byte frames x %lu, depth %u (queue %u)\n", cfg.size, cfg.count, cfg.depth,
	       vq.size);
}

static void trap_report(struct isr_frame *f)
{
	uint64_t cr2;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	virtio_fail(FAIL_TRAP, "exception %lu, error 0x%lx, rip 0x%lx, cs 0x%lx, rsp 0x%lx, cr2 0x%lx", f->vector,
		    f->error, f->rip, f->cs, f->rsp, cr2);
}

/* ---- ring 0 side of the CPL 3 loop ---------------------------------------- */

static volatile uint64_t interrupts_taken;

static uint8_t cmos_seconds(void)
{
	outb(0x70, 0x00);
	return inb(0x71);
}

static void ring0_call_handler(struct isr_frame *f)
{
	const uint8_t *ip = (const uint8_t *)(uintptr_t)f->rip;

	if ((f->cs & 3) != 3 || f->rdx != RING0_CALL_MAGIC || ip[0] != UD2_BYTE0 || ip[1] != UD2_BYTE1)
		trap_report(f);
	switch (f->rax) {
	case CALL_WRITE: {
		const char *text = (const char *)(uintptr_t)f->rdi;

		for (uint64_t i = 0; i < f->rsi && i < WRITE_MAX; i++)
			serial_putc(text[i]);
		break;
	}
	case CALL_CMOS_SECONDS:
		f->rax = cmos_seconds();
		break;
	case CALL_EXIT:
		if (interrupts_taken)
			printf("virtio_bench: %lu interrupts taken at CPL 3 (none expected)\n", interrupts_taken);
		debug_exit((uint32_t)f->rdi);
	case CALL_FAIL:
		virtio_fail((uint32_t)f->rdi, "%s", (const char *)(uintptr_t)f->rsi);
	default:
		trap_report(f);
	}
	f->rip += 2;
}

/*
 * Every 8259 input is masked and the LAPIC timer and the IOAPIC pins are off
 * after reset, so nothing should arrive; a stray interrupt is counted and
 * left without EOI (so that a level-triggered line cannot storm).
 */
static void count_interrupt(struct isr_frame *f)
{
	(void)f;
	interrupts_taken++;
}

static void setup_user_mode(void)
{
	static const unsigned int traps[] = { 0, 8, 10, 11, 12, 13, 14 };
	uint64_t cr4;

	cpl3_load_gdt_tss(kernel_stack_top);
	for (unsigned int i = 0; i < sizeof(traps) / sizeof(traps[0]); i++)
		idt_set_handler(traps[i], trap_report);
	idt_set_handler(6, ring0_call_handler);
	for (unsigned int v = PIC_MASTER_VECTOR; v < IDT_VECTORS; v++)
		idt_set_handler(v, count_interrupt);
	pic_init(0);
	virtio_set_fail_sink(user_fail);
	/* Every page is a user page now: ring 0 must be free to run and touch them. */
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr4 & ~(CR4_SMEP | CR4_SMAP)) : "memory");
	__asm__ volatile("mov %0, %%cr3" : : "r"((uint64_t)(uintptr_t)user_pml4) : "memory");
}

void guest_main(const struct boot_info *bi)
{
	virtio_set_guest_name("virtio_bench");
	parse_cmdline(bi);
	if (cfg.dev == DEV_BLK)
		setup_blk(bi);
	else
		setup_net(bi);
	setup_user_mode();
	enter_user();
}

/* ---- the loop (CPL 3) -------------------------------------------------------- */

static uint64_t ring0_call(enum ring0_call call, uint64_t a, uint64_t b)
{
	uint64_t ret;

	__asm__ volatile("ud2" : "=a"(ret) : "a"((uint64_t)call), "D"(a), "S"(b), "d"(RING0_CALL_MAGIC) : "memory");
	return ret;
}

struct line_buf {
	char text[WRITE_MAX];
	size_t len;
};

static void emit_line(char c, void *ctx)
{
	struct line_buf *l = ctx;

	if (l->len < sizeof(l->text))
		l->text[l->len++] = c;
}

__attribute__((format(printf, 1, 2))) static void user_printf(const char *fmt, ...)
{
	struct line_buf line = { .len = 0 };
	va_list ap;

	va_start(ap, fmt);
	vformat(emit_line, &line, fmt, ap);
	va_end(ap);
	ring0_call(CALL_WRITE, (uint64_t)(uintptr_t)line.text, line.len);
}

static void user_fail(uint32_t code, const char *message)
{
	ring0_call(CALL_FAIL, code, (uint64_t)(uintptr_t)message);
	__builtin_unreachable();
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static uint8_t user_cmos_seconds(void)
{
	return (uint8_t)ring0_call(CALL_CMOS_SECONDS, 0, 0);
}

/*
 * Bounds the time without a completion. The CMOS clock (a ring-0 call) and
 * Status (an MMIO exit) cost far more than a poll, so they are read only now
 * and then, when the TSC says enough time has passed.
 */
struct idle_watch {
	uint64_t last_check_tsc;
	uint32_t polls;
	uint32_t checks_left;   /* clock ticks (or checks, without a clock) before giving up */
	uint32_t checks;        /* since the last progress */
	uint8_t last_second;
	bool rtc;
};

static void idle_watch_reset(struct idle_watch *w)
{
	w->checks_left = w->rtc ? VIRTIO_TIMEOUT_S + 1 : IDLE_CHECKS_WITHOUT_RTC;
	w->checks = 0;
}

static void idle_watch_start(struct idle_watch *w)
{
	w->last_second = user_cmos_seconds();
	w->rtc = w->last_second != 0xff;
	w->last_check_tsc = rdtsc();
	w->polls = 0;
	idle_watch_reset(w);
}

/* One idle poll: fails the guest when the device has stopped answering. */
static void idle_watch_poll(struct idle_watch *w, uint64_t done)
{
	uint64_t now = rdtsc();
	bool tick;

	__asm__ volatile("pause");
	if (now - w->last_check_tsc < IDLE_CHECK_CYCLES && ++w->polls < IDLE_CHECK_POLLS)
		return;
	w->last_check_tsc = now;
	w->polls = 0;
	if (virtio_needs_reset(&dev))
		virtio_fail(FAIL_RESET, "device set DEVICE_NEEDS_RESET after %lu of %lu requests (status 0x%x)", done,
			    cfg.count, virtio_status(&dev));
	tick = true;
	if (w->rtc) {
		uint8_t s = user_cmos_seconds();

		tick = s != w->last_second;
		w->last_second = s;
	}
	if ((tick && --w->checks_left == 0) || ++w->checks == IDLE_CHECKS_MAX)
		virtio_fail(FAIL_TIMEOUT, "no completion for %u s after %lu of %lu requests (status 0x%x, used idx %u)",
			    VIRTIO_TIMEOUT_S, done, cfg.count, virtio_status(&dev), vq.used->idx);
}

static uint64_t next_sector(void)
{
	uint64_t block;

	if (cfg.seq) {
		block = next_block;
		next_block = next_block + 1 == blk_blocks ? 0 : next_block + 1;
	} else {
		/* xorshift64: spread over the disk, the same sequence every run. */
		rng_state ^= rng_state << 13;
		rng_state ^= rng_state >> 7;
		rng_state ^= rng_state << 17;
		block = rng_state % blk_blocks;
	}
	return block * (cfg.size / SECTOR);
}

static void submit(uint32_t slot)
{
	uint16_t head;

	if (cfg.dev == DEV_NET) {
		struct vq_seg seg = { buf_pool, (uint32_t)NET_HDR_BYTES + cfg.size, false };

		vq_add(&vq, &seg, 1);
		return;
	}
	slots[slot].hdr.sector = next_sector();
	slots[slot].status = 0xff;
	struct vq_seg segs[3] = {
		{ &slots[slot].hdr, sizeof(slots[slot].hdr), false },
		{ buf_pool + (size_t)slot * cfg.size, cfg.size, !cfg.write },
		{ &slots[slot].status, 1, true },
	};
	head = vq_add(&vq, segs, 3);
	slot_of_head[head] = (uint8_t)slot;
}

/* Checks a completed request; returns its slot. */
static uint32_t complete(uint16_t head, uint32_t len, uint64_t done)
{
	uint32_t slot = slot_of_head[head], want;

	if (cfg.dev == DEV_NET) {
		if (len != 0)
			virtio_fail(FAIL_LEN, "frame %lu: used length %u, expected 0", done, len);
		return 0;
	}
	if (slots[slot].status != VIRTIO_BLK_S_OK)
		virtio_fail(FAIL_STATUS, "request %lu (sector %lu): status %u", done,
			    (uint64_t)slots[slot].hdr.sector, slots[slot].status);
	want = cfg.write ? 1 : cfg.size + 1;
	if (len != want)
		virtio_fail(FAIL_LEN, "request %lu (sector %lu): used length %u, expected %u", done,
			    (uint64_t)slots[slot].hdr.sector, len, want);
	return slot;
}

void user_main(void)
{
	struct idle_watch watch;
	uint64_t submitted = 0, done = 0;

	idle_watch_start(&watch);
	user_printf("bench: start\n");
	for (uint32_t s = 0; s < cfg.depth && submitted < cfg.count; s++, submitted++)
		submit(s);
	vq_kick(&vq);
	while (done < cfg.count) {
		uint16_t head;
		uint32_t len;
		bool progress = false, added = false;

		while (vq_get_used(&vq, &head, &len)) {
			uint32_t slot = complete(head, len, done);

			done++;
			progress = true;
			if (submitted < cfg.count) {
				submit(slot);
				submitted++;
				added = true;
			}
		}
		if (added)
			vq_kick(&vq);
		if (progress)
			idle_watch_reset(&watch);
		else
			idle_watch_poll(&watch, done);
	}
	user_printf("bench: done %lu\n", done);
	ring0_call(CALL_EXIT, 0, 0);
	__builtin_unreachable();
}
