/* SPDX-License-Identifier: MIT */
/*
 * Turns what the loader handed over (PVH hvm_start_info or the Linux zero
 * page) into struct boot_info, then runs the guest.
 */
#include "lib.h"

/* xen/include/public/arch-x86/hvm/start_info.h */
#define HVM_START_MAGIC 0x336ec578u

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;     /* version >= 1 */
	uint32_t memmap_entries;   /* version >= 1 */
	uint32_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

/* Documentation/x86/zero-page.rst */
#define ZP_EXT_CMD_LINE_PTR 0x0c8
#define ZP_E820_ENTRIES     0x1e8
#define ZP_CMD_LINE_PTR     0x228
#define ZP_E820_TABLE       0x2d0
#define ZP_E820_MAX         128
#define ZP_SIZE             0x1000

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

static char cmdline_buf[BOOT_CMDLINE_MAX] __attribute__((section(".bss.noinit.cmdline")));

void boot_entry(uint64_t info_addr, uint32_t protocol);   /* called from start.S */

__attribute__((noreturn)) static void boot_fail(const char *what, uint64_t value)
{
	printf("guest: bad boot information: %s (0x%lx)\n", what, value);
	debug_exit(GUEST_EXIT_BAD_BOOT);
}

/* Only what start.S maps can be read. */
static bool phys_readable(uint64_t addr, uint64_t len)
{
	return addr != 0 && addr < BOOT_MAPPED_LIMIT && len <= BOOT_MAPPED_LIMIT - addr;
}

/* Copies the NUL-terminated cmdline at phys (0 = none) into cmdline_buf. */
static void copy_cmdline(struct boot_info *bi, uint64_t phys)
{
	size_t n = 0;

	bi->cmdline = cmdline_buf;
	bi->cmdline_truncated = false;
	if (phys) {
		const char *src = (const char *)(uintptr_t)phys;

		if (!phys_readable(phys, 1))
			boot_fail("cmdline address", phys);
		while (n < BOOT_CMDLINE_MAX - 1 && phys_readable(phys + n, 1) && src[n]) {
			cmdline_buf[n] = src[n];
			n++;
		}
		bi->cmdline_truncated = n == BOOT_CMDLINE_MAX - 1 && phys_readable(phys + n, 1) && src[n];
	}
	cmdline_buf[n] = '\0';
}

static void add_mem(struct boot_info *bi, uint64_t base, uint64_t size, uint32_t type)
{
	if (bi->mem_count < BOOT_MEM_MAX)
		bi->mem[bi->mem_count++] = (struct boot_mem_range){ base, size, type };
	bi->mem_total++;
}

static void from_pvh(struct boot_info *bi, uint64_t addr)
{
	const struct hvm_start_info *si = (const struct hvm_start_info *)(uintptr_t)addr;

	bi->protocol = "pvh";
	if (!phys_readable(addr, sizeof(*si)))
		boot_fail("hvm_start_info address", addr);
	if (si->magic != HVM_START_MAGIC)
		boot_fail("hvm_start_info magic", si->magic);
	copy_cmdline(bi, si->cmdline_paddr);
	if (si->version < 1 || si->memmap_entries == 0)
		return;   /* no memory map (version 0 has none); guests report an empty map */
	if (!phys_readable(si->memmap_paddr,
			   (uint64_t)si->memmap_entries * sizeof(struct hvm_memmap_table_entry)))
		boot_fail("hvm_start_info memmap", si->memmap_paddr);
	const struct hvm_memmap_table_entry *e =
		(const struct hvm_memmap_table_entry *)(uintptr_t)si->memmap_paddr;
	for (uint32_t i = 0; i < si->memmap_entries; i++)
		add_mem(bi, e[i].addr, e[i].size, e[i].type);
}

static void from_linux(struct boot_info *bi, uint64_t addr)
{
	const uint8_t *zp = (const uint8_t *)(uintptr_t)addr;
	uint32_t lo, hi;
	uint8_t entries;

	bi->protocol = "linux";
	if (!phys_readable(addr, ZP_SIZE))
		boot_fail("boot_params address", addr);
	memcpy(&lo, zp + ZP_CMD_LINE_PTR, 4);
	memcpy(&hi, zp + ZP_EXT_CMD_LINE_PTR, 4);
	copy_cmdline(bi, ((uint64_t)hi << 32) | lo);
	entries = zp[ZP_E820_ENTRIES];
	if (entries > ZP_E820_MAX)
		boot_fail("e820_entries", entries);
	for (unsigned int i = 0; i < entries; i++) {
		struct e820_entry e;

		memcpy(&e, zp + ZP_E820_TABLE + i * sizeof(e), sizeof(e));
		add_mem(bi, e.addr, e.size, e.type);
	}
}

void boot_entry(uint64_t info_addr, uint32_t protocol)
{
	struct boot_info bi;

	serial_init();
	idt_init();
	bi.mem_count = 0;
	bi.mem_total = 0;
	bi.info_addr = info_addr;
	bi.cmdline = "";
	if (protocol == BOOT_PROTOCOL_PVH)
		from_pvh(&bi, info_addr);
	else
		from_linux(&bi, info_addr);
	guest_main(&bi);
	printf("guest: guest_main returned\n");
	debug_exit(GUEST_EXIT_RETURNED);
}
