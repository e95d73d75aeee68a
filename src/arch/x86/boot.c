/* SPDX-License-Identifier: MIT */
#include "arch/x86/boot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot_params.h"
#include "arch/x86/bzimage.h"
#include "arch/x86/decompress.h"
#include "arch/x86/elf_loader.h"
#include "arch/x86/initramfs.h"
#include "arch/x86/layout.h"
#include "arch/x86/pvh.h"

#define PAGE_SIZE_4K 0x1000ull
/* The boot page tables (layout.h) identity-map the first 4 GiB. */
#define BOOT_IDENTITY_MAP_END (4ull << 30)

/* One boot in progress: the request, where results go, and the kernel's own limits. */
struct boot_ctx {
	struct guest_mem *mem;
	const struct boot_request *req;
	struct boot_result *out;
	struct vmon_error *err;
	const char *name;               /* kernel file, for messages */
	const uint8_t *image;           /* the file as given */
	const struct bzimage *bz;       /* its setup header, or NULL for a plain ELF */
	uint64_t initrd_addr;
	const uint8_t *initrd;          /* what goes into guest memory: req->initrd or unpacked */
	size_t initrd_size;
	uint8_t *unpacked;              /* the host-decompressed initramfs (freed at the end), or NULL */
	char *cmdline;                  /* the request's, plus linux_extra_args for a Linux kernel */
};

const char *kernel_format_name(enum kernel_format format)
{
	switch (format) {
	case KERNEL_FORMAT_ELF64: return "ELF64";
	case KERNEL_FORMAT_ELF32: return "ELF32";
	case KERNEL_FORMAT_BZIMAGE: return "bzImage";
	}
	return "unknown";
}

static const char *cmdline_of(const struct boot_ctx *c)
{
	if (c->cmdline)
		return c->cmdline;
	return c->req->cmdline ? c->req->cmdline : "";
}

/* A Linux kernel also gets req->linux_extra_args (the host profile's arguments). */
static int add_linux_args(struct boot_ctx *c)
{
	const char *base = c->req->cmdline ? c->req->cmdline : "";
	const char *extra = c->req->linux_extra_args;

	if (!c->out->is_linux || !extra || !*extra || c->cmdline)
		return 0;
	if (asprintf(&c->cmdline, "%s%s%s", base, *base ? " " : "", extra) < 0) {
		c->cmdline = NULL;
		return error_set(c->err, -ENOMEM, "out of memory for the command line");
	}
	return 0;
}

/* Command line limit: the kernel's cmdline_size (protocol 2.06+), and vmon's buffer. */
static int check_cmdline(struct boot_ctx *c)
{
	size_t len;
	int ret = add_linux_args(c);

	if (ret < 0)
		return ret;
	len = strnlen(cmdline_of(c), X86_CMDLINE_MAX);

	if (len > X86_CMDLINE_MAX - 1)
		return error_set(c->err, -E2BIG, "%s: command line is longer than vmon's %llu-byte limit",
				 c->name, X86_CMDLINE_MAX - 1);
	if (c->bz && len > c->bz->hdr.cmdline_size)
		return error_set(c->err, -E2BIG, "%s: command line is %zu bytes, longer than the kernel's "
				 "cmdline_size %u", c->name, len, c->bz->hdr.cmdline_size);
	return 0;
}

/*
 * Decompresses the initrd's compressed members on the host unless the
 * request says not to. The result must fit in room, the space the initrd
 * may occupy; when it does not, the image is loaded as given (the guest
 * decompresses it, as without vmon's help) and initrd_note says so.
 */
static int unpack_initrd(struct boot_ctx *c, const char *iname, uint64_t room)
{
	const struct boot_request *req = c->req;
	struct boot_result *out = c->out;
	size_t size;
	int ret;

	c->initrd = req->initrd;
	c->initrd_size = req->initrd_size;
	if (req->initrd_guest_decompress || req->initrd_size == 0)
		return 0;
	ret = initramfs_unpack(req->initrd, req->initrd_size, (size_t)room,
			       &c->unpacked, &size, &out->initramfs, c->err);
	if (ret == -EFBIG) {
		snprintf(out->initrd_note, sizeof(out->initrd_note), "%s: %s, the room above the kernel and "
			 "below initrd_addr_max and the end of low RAM; loading it as given (the guest decompresses it)", iname,
			 c->err->msg);
		error_clear(c->err);
		return 0;
	}
	if (ret < 0) {
		error_prefix(c->err, "%s", iname);
		return ret;
	}
	if (c->unpacked) {
		c->initrd = c->unpacked;
		c->initrd_size = size;
		out->initrd_decompressed = true;
	}
	return 0;
}

/*
 * The initrd goes page-aligned as high as possible below both the kernel's
 * initrd_addr_max (the highest byte it may occupy) and the end of low RAM,
 * but above the kernel and the BIOS hole.
 */
static int place_initrd(struct boot_ctx *c, uint64_t kernel_end)
{
	const char *iname = c->req->initrd_name ? c->req->initrd_name : "initrd";
	uint64_t addr_max = c->bz ? c->bz->hdr.initrd_addr_max : BOOT_DEFAULT_INITRD_ADDR_MAX;
	uint64_t top = guest_mem_low_end(c->mem), floor, size;
	int ret;

	c->initrd_addr = 0;
	if (!c->req->initrd)
		return 0;
	if (c->req->initrd_size == 0)
		return error_set(c->err, -EINVAL, "%s: initrd is empty", iname);
	if (addr_max + 1 < top)
		top = addr_max + 1;
	floor = (kernel_end + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1);
	if (floor < X86_BIOS_HOLE_END)
		floor = X86_BIOS_HOLE_END;
	ret = unpack_initrd(c, iname, top > floor ? top - floor : 0);
	if (ret < 0)
		return ret;
	size = c->initrd_size;
	if (size > top || ((top - size) & ~(PAGE_SIZE_4K - 1)) < floor)
		return error_set(c->err, -E2BIG, "%s: initrd of %llu bytes is too big: it must fit between the "
				 "kernel's end 0x%llx and 0x%llx (initrd_addr_max 0x%llx, low RAM ends at 0x%llx)",
				 iname, (unsigned long long)size, (unsigned long long)floor,
				 (unsigned long long)top, (unsigned long long)addr_max,
				 (unsigned long long)guest_mem_low_end(c->mem));
	c->initrd_addr = (top - size) & ~(PAGE_SIZE_4K - 1);
	return 0;
}

/* After the kernel: initrd, command line, and the protocol's boot information. */
static int write_boot_data(struct boot_ctx *c, enum boot_protocol protocol)
{
	const char *cmdline = cmdline_of(c);
	uint64_t initrd_size = c->initrd ? c->initrd_size : 0;
	int ret;

	if (initrd_size && guest_mem_write(c->mem, c->initrd_addr, c->initrd, initrd_size) < 0)
		return error_set(c->err, -EFAULT, "initrd at 0x%llx is not in guest RAM",
				 (unsigned long long)c->initrd_addr);
	/* The unpacked copy is in guest memory now. */
	if (c->unpacked) {
		free(c->unpacked);
		c->unpacked = NULL;
		c->initrd = NULL;
	}
	if (guest_mem_write(c->mem, X86_CMDLINE_ADDR, cmdline, strlen(cmdline) + 1) < 0)
		return error_set(c->err, -EFAULT, "command line at 0x%llx is not in guest RAM", X86_CMDLINE_ADDR);

	c->out->initrd_addr = initrd_size ? c->initrd_addr : 0;
	c->out->initrd_size = initrd_size;
	if (protocol == BOOT_PROTOCOL_PVH) {
		ret = pvh_write_start_info(c->mem, X86_CMDLINE_ADDR, c->out->initrd_addr, initrd_size,
					   c->req->acpi_rsdp_addr, c->err);
		if (ret < 0)
			return ret;
		c->out->mode = BOOT_ENTRY_PROTECTED;
		c->out->boot_info_addr = X86_PVH_START_INFO_ADDR;
		return 0;
	}

	struct boot_params bp;
	if (c->bz)
		boot_params_from_header(&bp, c->image, c->bz->hdr_end);
	else
		boot_params_minimal(&bp);
	boot_params_set(&bp, c->mem, X86_CMDLINE_ADDR, c->out->initrd_addr, initrd_size);
	bp.acpi_rsdp_addr = c->req->acpi_rsdp_addr;   /* boot protocol 2.14: Linux skips its BIOS-area scan */
	if (guest_mem_write(c->mem, X86_ZERO_PAGE_ADDR, &bp, sizeof(bp)) < 0)
		return error_set(c->err, -EFAULT, "zero page at 0x%llx is not in guest RAM", X86_ZERO_PAGE_ADDR);
	c->out->mode = BOOT_ENTRY_LONG_MODE;
	c->out->boot_info_addr = X86_ZERO_PAGE_ADDR;
	return 0;
}

/*
 * An ELF kernel: the file itself, or the vmlinux decompressed from a bzImage
 * (then c->bz is set and `what` names the payload for messages).
 */
static int boot_elf(struct boot_ctx *c, const uint8_t *elf_image, size_t size, const char *what)
{
	struct elf_kernel elf;
	enum boot_protocol protocol = c->req->protocol;
	uint64_t entry;
	int ret;

	ret = elf_parse(elf_image, size, &elf, c->err);
	if (ret < 0)
		goto fail;
	if (!c->bz)
		c->out->is_linux = elf.has_linux_note;
	/* AUTO prefers PVH for an ELF that offers it; a bzImage keeps the Linux protocol. */
	if (protocol == BOOT_PROTOCOL_AUTO)
		protocol = elf.has_pvh_entry && !c->bz ? BOOT_PROTOCOL_PVH : BOOT_PROTOCOL_LINUX;
	if (protocol == BOOT_PROTOCOL_PVH) {
		if (!elf.has_pvh_entry) {
			ret = error_set(c->err, -EINVAL, "PVH boot requested but the kernel has no PVH entry note "
					"(Xen XEN_ELFNOTE_PHYS32_ENTRY)");
			goto fail;
		}
		if (!elf_contains_code(&elf, elf.pvh_entry)) {
			ret = error_set(c->err, -EINVAL, "PVH entry 0x%x is not inside a loaded segment",
					elf.pvh_entry);
			goto fail;
		}
		entry = elf.pvh_entry;
	} else {
		if (!elf.is64) {
			ret = error_set(c->err, -EINVAL, "an ELF32 kernel boots only with the PVH protocol, and %s",
					elf.has_pvh_entry ? "the Linux protocol was requested" :
					"it has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");
			goto fail;
		}
		ret = elf_entry_phys(&elf, &entry, c->err);
		if (ret < 0)
			goto fail;
		if (entry >= BOOT_IDENTITY_MAP_END) {
			ret = error_set(c->err, -EINVAL, "entry point 0x%llx is above 4 GiB, beyond vmon's identity-"
					"mapped boot page tables", (unsigned long long)entry);
			goto fail;
		}
	}

	ret = check_cmdline(c);
	if (ret < 0)
		return ret;
	ret = place_initrd(c, elf.end);
	if (ret < 0)
		return ret;
	ret = elf_load(c->mem, elf_image, &elf, c->err);
	if (ret < 0)
		goto fail;

	c->out->entry = entry;
	c->out->kernel_start = elf.start;
	c->out->kernel_end = elf.end;
	if (!c->bz) {
		c->out->format = elf.is64 ? KERNEL_FORMAT_ELF64 : KERNEL_FORMAT_ELF32;
		c->out->is_linux = elf.has_linux_note;
	}
	return write_boot_data(c, protocol);

fail:
	if (what)
		error_prefix(c->err, "%s: %s", c->name, what);
	else
		error_prefix(c->err, "%s", c->name);
	return ret;
}

/* bzImage, protected-mode part loaded as is: the kernel decompresses itself. */
static int boot_bzimage_in_guest(struct boot_ctx *c)
{
	struct bzimage_placement pl;
	int ret;

	if (c->req->protocol == BOOT_PROTOCOL_PVH)
		return error_set(c->err, -EINVAL, "%s: a bzImage decompressed in the guest boots only with the "
				 "Linux protocol, not PVH", c->name);
	ret = check_cmdline(c);
	if (ret < 0)
		return ret;
	ret = bzimage_place_pm(c->mem, c->bz, &pl, c->err);
	if (ret < 0) {
		error_prefix(c->err, "%s", c->name);
		return ret;
	}
	ret = place_initrd(c, pl.end);
	if (ret < 0)
		return ret;
	if (guest_mem_write(c->mem, pl.load_addr, c->bz->pm, c->bz->pm_size) < 0)
		return error_set(c->err, -EFAULT, "%s: protected-mode code at 0x%llx is not in guest RAM",
				 c->name, (unsigned long long)pl.load_addr);
	c->out->entry = pl.entry;
	c->out->kernel_start = pl.start;
	c->out->kernel_end = pl.end;
	return write_boot_data(c, BOOT_PROTOCOL_LINUX);
}

/* bzImage, payload decompressed here and its vmlinux loaded like an ELF kernel. */
static int boot_bzimage_on_host(struct boot_ctx *c)
{
	const struct bzimage *bz = c->bz;
	enum decompress_format format;
	uint8_t *vmlinux;
	size_t vmlinux_size;
	char what[32];
	int ret;

	if (!bz->payload)
		return error_set(c->err, -EINVAL, "%s: bzImage has no payload to decompress on the host (boot "
				 "protocol %u.%02u, payload_length %u); use --bzimage-guest-decompress", c->name,
				 bz->hdr.version >> 8, bz->hdr.version & 0xff,
				 bz->hdr.version >= BZIMAGE_PROTOCOL(2, 8) ? bz->hdr.payload_length : 0);
	format = decompress_detect(bz->payload, bz->payload_size);
	ret = decompress_kernel_payload(bz->payload, bz->payload_size, DECOMPRESS_MAX_OUTPUT, &vmlinux,
					&vmlinux_size, c->err);
	if (ret < 0) {
		error_prefix(c->err, "%s", c->name);
		return ret;
	}
	snprintf(what, sizeof(what), "%s payload", decompress_format_name(format));
	if (!elf_probe(vmlinux, vmlinux_size)) {
		ret = error_set(c->err, -EINVAL, "%s: decompressed %s is not an ELF (starts with %02x %02x %02x "
				"%02x)", c->name, what, vmlinux[0], vmlinux_size > 1 ? vmlinux[1] : 0,
				vmlinux_size > 2 ? vmlinux[2] : 0, vmlinux_size > 3 ? vmlinux[3] : 0);
		free(vmlinux);
		return ret;
	}
	ret = boot_elf(c, vmlinux, vmlinux_size, what);
	free(vmlinux);
	if (ret == 0)
		c->out->payload_compression = decompress_format_name(format);
	return ret;
}

static int load_kernel(struct boot_ctx *c)
{
	const struct boot_request *req = c->req;
	struct bzimage bz;
	int ret;

	if (!req->kernel || req->kernel_size == 0)
		return error_set(c->err, -EINVAL, "%s: kernel image is empty (0 bytes)", c->name);
	if (req->kernel_size > BOOT_MAX_KERNEL_SIZE)
		return error_set(c->err, -EFBIG, "%s: kernel image of %zu bytes is larger than the %llu MiB limit",
				 c->name, req->kernel_size, BOOT_MAX_KERNEL_SIZE >> 20);

	if (elf_probe(req->kernel, req->kernel_size))
		return boot_elf(c, req->kernel, req->kernel_size, NULL);

	if (!bzimage_probe(req->kernel, req->kernel_size)) {
		const uint8_t *k = req->kernel;
		size_t n = req->kernel_size;
		return error_set(c->err, -EINVAL, "%s: not an ELF or bzImage kernel (starts with %02x %02x %02x "
				 "%02x, no \"HdrS\" magic at 0x202)", c->name, k[0], n > 1 ? k[1] : 0,
				 n > 2 ? k[2] : 0, n > 3 ? k[3] : 0);
	}
	ret = bzimage_parse(req->kernel, req->kernel_size, &bz, c->err);
	if (ret < 0) {
		error_prefix(c->err, "%s", c->name);
		return ret;
	}
	c->bz = &bz;
	c->out->format = KERNEL_FORMAT_BZIMAGE;
	c->out->is_linux = true;
	return req->bzimage_guest_decompress ? boot_bzimage_in_guest(c) : boot_bzimage_on_host(c);
}

int x86_boot_load(struct guest_mem *mem, const struct boot_request *req, struct boot_result *out,
		  struct vmon_error *err)
{
	struct boot_ctx c = {
		.mem = mem, .req = req, .out = out, .err = err, .image = req->kernel,
		.name = req->kernel_name ? req->kernel_name : "kernel",
	};
	int ret;

	memset(out, 0, sizeof(*out));
	ret = load_kernel(&c);
	free(c.cmdline);
	free(c.unpacked);
	if (ret < 0)
		memset(out, 0, sizeof(*out));
	return ret;
}
