/* SPDX-License-Identifier: MIT */
/*
 * /init of the initramfs for Debian's stock kernel (guest/debian/build.sh).
 * What a distribution's initramfs does, minus everything a VM with a known
 * device set does not need:
 *   1. mounts devtmpfs on /dev and proc on /proc; writes the boot-timing mark
 *      (port 0x440 <- 1, src/devices/boot_timer.h) so vmon's --stats reports
 *      when the guest's user space started;
 *   2. loads the modules named in /lib/modules/load.list, one file name a
 *      line, in that order (build.sh resolved the dependencies with the
 *      kernel's modules.dep), with finit_module(2);
 *   3. waits for /dev/vda, mounts it (ext4) as the new root, moves /dev onto
 *      it and executes its /sbin/init with this init's arguments and
 *      environment (what the kernel passed from its command line).
 * Every failure is reported on the console and ends in a power-off-free
 * exit, which the kernel turns into a panic (with panic=-1: a reboot).
 *
 * Freestanding (no libc), like guest/initramfs/vmon-init-reached.c: under an
 * emulated guest ring 0 the kernel copies every byte of the initramfs at a
 * few hundred KB/s, so a static glibc's 700 KiB, or busybox's 2 MB, would
 * cost seconds before /init even starts. The shell and tools come from the
 * disk instead, read on demand through virtio-blk.
 */
#include "devices/boot_timer.h"

#define SYS_READ           0
#define SYS_WRITE          1
#define SYS_OPEN           2
#define SYS_CLOSE          3
#define SYS_NANOSLEEP      35
#define SYS_EXECVE         59
#define SYS_EXIT           60
#define SYS_CHDIR          80
#define SYS_CHROOT         161
#define SYS_MOUNT          165
#define SYS_UMOUNT2        166
#define SYS_IOPERM         173
#define SYS_FINIT_MODULE   313

#define O_RDONLY   0
#define O_WRONLY   1
#define O_CLOEXEC  02000000
#define MS_MOVE    8192
#define MNT_DETACH 2
#define EEXIST     17

#define ROOT_DEVICE "/dev/vda"
#define ROOT_FSTYPE "ext4"
#define ROOT_WAIT_TENTHS 300 /* 30 s: probing is synchronous, so this is slack for a slow host */

static long sys6(long nr, long a, long b, long c, long d, long e)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	return ret;
}

static long sys3(long nr, long a, long b, long c)
{
	return sys6(nr, a, b, c, 0, 0);
}

static unsigned long str_len(const char *s)
{
	unsigned long n = 0;

	while (s[n])
		n++;
	return n;
}

static void put(const char *s)
{
	sys3(SYS_WRITE, 1, (long)s, (long)str_len(s));
}

static void put_num(long v)
{
	char buf[24];
	int i = (int)sizeof(buf) - 1;
	int neg = v < 0;
	unsigned long u = neg ? -(unsigned long)v : (unsigned long)v;

	buf[i] = '\0';
	do {
		buf[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (neg)
		buf[--i] = '-';
	put(buf + i);
}

/* Reports what failed with the kernel's negative errno, and returns 1. */
static int fail(const char *what, const char *name, long err)
{
	put("vmon-debian-init: ");
	put(what);
	put(" ");
	put(name);
	put(" failed: errno ");
	put_num(-err);
	put("\n");
	return 1;
}

static void mark_init_reached(void)
{
	if (sys3(SYS_IOPERM, BOOT_TIMER_PORT, 1, 1) < 0) {
		put("vmon-debian-init: ioperm() of the boot-timing port failed (no mark)\n");
		return;
	}
	__asm__ volatile("outb %b0, %w1" : : "a"(BOOT_TIMER_INIT_REACHED), "Nd"(BOOT_TIMER_PORT));
}

static void sleep_tenth(void)
{
	long ts[2] = { 0, 100L * 1000 * 1000 };

	sys3(SYS_NANOSLEEP, (long)ts, 0, 0);
}

/* Loads every module of /lib/modules/load.list; returns how many failed. */
static int load_modules(void)
{
	static char list[4096];
	char path[160] = "/lib/modules/";
	const unsigned prefix = 13; /* strlen("/lib/modules/") */
	int failed = 0, loaded = 0;
	long fd, n, got = 0;

	fd = sys3(SYS_OPEN, (long)"/lib/modules/load.list", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fail("opening", "/lib/modules/load.list", fd);
	while (got < (long)sizeof(list) - 1 && (n = sys3(SYS_READ, fd, (long)(list + got), (long)sizeof(list) - 1 - got)) > 0)
		got += n;
	sys3(SYS_CLOSE, fd, 0, 0);
	if (got >= (long)sizeof(list) - 1) {
		put("vmon-debian-init: /lib/modules/load.list is longer than 4095 bytes\n");
		return 1;
	}
	list[got] = '\0';

	for (char *line = list; *line;) {
		char *end = line;
		unsigned len;
		long err;

		while (*end && *end != '\n')
			end++;
		len = (unsigned)(end - line);
		if (len > 0 && prefix + len < sizeof(path)) {
			for (unsigned i = 0; i < len; i++)
				path[prefix + i] = line[i];
			path[prefix + len] = '\0';
			fd = sys3(SYS_OPEN, (long)path, O_RDONLY | O_CLOEXEC, 0);
			if (fd < 0) {
				failed += fail("opening", path, fd);
			} else {
				err = sys3(SYS_FINIT_MODULE, fd, (long)"", 0);
				sys3(SYS_CLOSE, fd, 0, 0);
				if (err < 0 && err != -EEXIST)
					failed += fail("loading", path, err);
				else
					loaded++;
			}
		} else if (len > 0) {
			put("vmon-debian-init: a line of load.list is too long\n");
			failed++;
		}
		line = *end ? end + 1 : end;
	}
	put("vmon-debian-init: loaded ");
	put_num(loaded);
	put(" modules\n");
	return failed;
}

static int wait_for(const char *path)
{
	for (int i = 0; i < ROOT_WAIT_TENTHS; i++) {
		long fd = sys3(SYS_OPEN, (long)path, O_RDONLY | O_CLOEXEC, 0);

		if (fd >= 0) {
			sys3(SYS_CLOSE, fd, 0, 0);
			return 0;
		}
		sleep_tenth();
	}
	put("vmon-debian-init: " ROOT_DEVICE " did not appear within 30 s (no virtio disk?)\n");
	return 1;
}

int vmon_debian_init_main(long argc, char **argv, char **envp);

int vmon_debian_init_main(long argc, char **argv, char **envp)
{
	long err;

	(void)argc;
	if ((err = sys6(SYS_MOUNT, (long)"devtmpfs", (long)"/dev", (long)"devtmpfs", 0, 0)) < 0)
		return fail("mounting", "devtmpfs on /dev", err);
	if ((err = sys6(SYS_MOUNT, (long)"proc", (long)"/proc", (long)"proc", 0, 0)) < 0)
		return fail("mounting", "proc on /proc", err);
	mark_init_reached();
	/*
	 * No modprobe here: the kernel's own requests (ext4 asks for
	 * "crypto-crc32c", already loaded) would otherwise each start a
	 * usermode helper that fails after an exec attempt.
	 */
	err = sys3(SYS_OPEN, (long)"/proc/sys/kernel/modprobe", O_WRONLY | O_CLOEXEC, 0);
	if (err >= 0) {
		sys3(SYS_WRITE, err, (long)"\n", 1);
		sys3(SYS_CLOSE, err, 0, 0);
	}
	if (load_modules())
		return 1;
	if (wait_for(ROOT_DEVICE))
		return 1;
	if ((err = sys6(SYS_MOUNT, (long)ROOT_DEVICE, (long)"/root", (long)ROOT_FSTYPE, 0, 0)) < 0)
		return fail("mounting", ROOT_DEVICE " (" ROOT_FSTYPE ") on /root", err);
	sys3(SYS_UMOUNT2, (long)"/proc", MNT_DETACH, 0);
	/* The new root keeps devtmpfs where it has a /dev; without one it goes. */
	if (sys6(SYS_MOUNT, (long)"/dev", (long)"/root/dev", 0, MS_MOVE, 0) < 0)
		sys3(SYS_UMOUNT2, (long)"/dev", MNT_DETACH, 0);
	/* switch_root without deleting the initramfs: its files are a few KiB and modules. */
	if ((err = sys3(SYS_CHDIR, (long)"/root", 0, 0)) < 0)
		return fail("entering", "/root", err);
	if ((err = sys6(SYS_MOUNT, (long)".", (long)"/", 0, MS_MOVE, 0)) < 0)
		return fail("moving", "/root to /", err);
	if ((err = sys3(SYS_CHROOT, (long)".", 0, 0)) < 0)
		return fail("chroot to", "the new root", err);
	sys3(SYS_CHDIR, (long)"/", 0, 0);
	argv[0] = "/sbin/init";
	err = sys3(SYS_EXECVE, (long)"/sbin/init", (long)argv, (long)envp);
	return fail("executing", "/sbin/init of " ROOT_DEVICE, err);
}

/*
 * The kernel enters with argc at (%rsp), then argv[], NULL, envp[]; the call
 * leaves the stack 16-byte aligned minus the return address, as the ABI wants.
 */
__asm__(".globl _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	mov (%rsp), %rdi\n"
	"	lea 8(%rsp), %rsi\n"
	"	lea 16(%rsp,%rdi,8), %rdx\n"
	"	call vmon_debian_init_main\n"
	"	mov %eax, %edi\n"
	"	mov $60, %eax\n" /* SYS_EXIT */
	"	syscall\n");
