/* SPDX-License-Identifier: MIT */
#include "arch/x86/bzimage.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/boot_params.h"

#define HDR_END (BZIMAGE_HDR_OFFSET + sizeof(struct setup_header))

bool bzimage_probe(const uint8_t *image, size_t size)
{
	uint32_t magic;

	if (size < 0x206)
		return false;
	memcpy(&magic, image + 0x202, sizeof(magic));
	return magic == BZIMAGE_MAGIC;
}

int bzimage_parse(const uint8_t *image, size_t size, struct bzimage *bz, struct vmon_error *err)
{
	const struct setup_header *h = &bz->hdr;
	unsigned sects;

	memset(bz, 0, sizeof(*bz));
	if (size < HDR_END)
		return error_set(err, -EINVAL, "truncated: %zu bytes is shorter than the bzImage setup header "
				 "(0x%zx bytes)", size, HDR_END);
	memcpy(&bz->hdr, image + BZIMAGE_HDR_OFFSET, sizeof(bz->hdr));
	if (h->header != BZIMAGE_MAGIC)
		return error_set(err, -EINVAL, "no \"HdrS\" magic at 0x202 (found 0x%08x)", h->header);
	if (h->boot_flag != BZIMAGE_BOOT_FLAG)
		return error_set(err, -EINVAL, "boot_flag 0x%04x is not 0xaa55", h->boot_flag);
	if (h->version < BZIMAGE_MIN_VERSION)
		return error_set(err, -EINVAL, "boot protocol %u.%02u is older than 2.06", h->version >> 8,
				 h->version & 0xff);
	if (!(h->loadflags & LOADED_HIGH))
		return error_set(err, -EINVAL, "loadflags 0x%02x lack LOADED_HIGH: a zImage, not a bzImage",
				 h->loadflags);

	/* boot.rst "setup_sects": 0 means 4; the boot sector adds one more. */
	sects = h->setup_sects ? h->setup_sects : 4;
	bz->setup_size = (size_t)(sects + 1) * BZIMAGE_SECTOR;
	if (bz->setup_size >= size)
		return error_set(err, -EINVAL, "setup_sects %u: setup area of %zu bytes leaves no protected-mode "
				 "code in the %zu-byte file", h->setup_sects, bz->setup_size, size);
	bz->pm = image + bz->setup_size;
	bz->pm_size = size - bz->setup_size;
	if ((uint64_t)h->syssize * 16 > bz->pm_size)
		return error_set(err, -EINVAL, "syssize %u (%llu bytes) exceeds the %zu bytes of protected-mode "
				 "code in the file", h->syssize, (unsigned long long)h->syssize * 16, bz->pm_size);

	/* boot.rst "32/64-bit boot protocol": the header ends at 0x202 + the jump's offset byte. */
	bz->hdr_end = 0x202 + (size_t)image[0x201];
	if (bz->hdr_end > BOOT_PARAMS_HDR_MAX_END)
		bz->hdr_end = BOOT_PARAMS_HDR_MAX_END;

	if (h->version >= BZIMAGE_PROTOCOL(2, 8) && h->payload_length) {
		uint64_t end = (uint64_t)h->payload_offset + h->payload_length;
		if (end > bz->pm_size)
			return error_set(err, -EINVAL, "payload [0x%x, +0x%x) lies outside the %zu-byte protected-mode "
					 "part", h->payload_offset, h->payload_length, bz->pm_size);
		bz->payload = bz->pm + h->payload_offset;
		bz->payload_size = h->payload_length;
	}
	return 0;
}

int bzimage_place_pm(const struct guest_mem *mem, const struct bzimage *bz, struct bzimage_placement *out,
		    struct vmon_error *err)
{
	const struct setup_header *h = &bz->hdr;
	uint64_t load = h->code32_start, runtime = load, pm_end, need_end, start;
	int ret;

	if (h->version < BZIMAGE_PROTOCOL(2, 12) || !(h->xloadflags & XLF_KERNEL_64))
		return error_set(err, -EINVAL, "has no 64-bit entry (protocol %u.%02u, xloadflags 0x%x lacks "
				 "XLF_KERNEL_64)", h->version >> 8, h->version & 0xff,
				 h->version >= BZIMAGE_PROTOCOL(2, 12) ? h->xloadflags : 0);
	if (bz->pm_size <= BZIMAGE_ENTRY64_OFFSET)
		return error_set(err, -EINVAL, "protected-mode part of %zu bytes does not reach the 64-bit entry "
				 "at offset 0x%x", bz->pm_size, BZIMAGE_ENTRY64_OFFSET);

	/*
	 * boot.rst "init_size": the kernel needs init_size bytes from its
	 * runtime start: align_up(load, kernel_alignment) for a relocatable
	 * kernel (never below pref_address, see head_64.S), else pref_address.
	 */
	if (h->version >= BZIMAGE_PROTOCOL(2, 10)) {
		if (h->relocatable_kernel) {
			uint32_t a = h->kernel_alignment;
			if (a && (a & (a - 1)) == 0 && __builtin_add_overflow(load, (uint64_t)a - 1, &runtime))
				return error_set(err, -EINVAL, "code32_start 0x%llx overflows when aligned",
						 (unsigned long long)load);
			if (a && (a & (a - 1)) == 0)
				runtime &= ~((uint64_t)a - 1);
			if (h->pref_address > runtime)
				runtime = h->pref_address;
		} else if (h->pref_address) {
			runtime = h->pref_address;
		}
	}
	if (__builtin_add_overflow(load, (uint64_t)bz->pm_size, &pm_end))
		return error_set(err, -EINVAL, "code32_start 0x%llx + %zu bytes overflows", (unsigned long long)load,
				 bz->pm_size);
	need_end = pm_end;
	if (h->version >= BZIMAGE_PROTOCOL(2, 10)) {
		uint64_t init_end;
		if (__builtin_add_overflow(runtime, (uint64_t)h->init_size, &init_end))
			return error_set(err, -EINVAL, "runtime start 0x%llx + init_size 0x%x overflows",
					 (unsigned long long)runtime, h->init_size);
		if (init_end > need_end)
			need_end = init_end;
	}
	start = runtime < load ? runtime : load;
	ret = e820_check_load_range(mem, start, need_end - start, err);
	if (ret < 0) {
		error_prefix(err, "kernel at code32_start 0x%llx with init_size 0x%x", (unsigned long long)load,
			     h->version >= BZIMAGE_PROTOCOL(2, 10) ? h->init_size : 0);
		return ret;
	}
	*out = (struct bzimage_placement){
		.load_addr = load, .entry = load + BZIMAGE_ENTRY64_OFFSET, .start = start, .end = need_end };
	return 0;
}
