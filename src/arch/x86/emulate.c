/* SPDX-License-Identifier: MIT */
#include "arch/x86/emulate.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_NONE = -1 };

/* One decoded instruction. */
struct insn {
	uint8_t b[X86_EMU_MAX_INSN];
	size_t avail;           /* bytes known */
	size_t len;             /* bytes consumed */
	unsigned mode;          /* code size: 16, 32 or 64 */
	bool opsize, adsize, lock, rep, repne;
	int seg;                /* last segment override prefix */
	uint8_t rex;
	enum x86_emu_kind kind;
	uint8_t vector;         /* int n */
	const char *why;        /* -ENOTSUP: what is not emulated */
	/* popcnt, and the memory operand of the x87/SSE state instructions */
	unsigned op_size;       /* bits */
	unsigned reg;           /* destination register */
	bool mem;               /* source in memory, else register rm */
	unsigned rm;
	int mseg;               /* segment of the memory operand */
	uint64_t ea;            /* offset, without RIP for RIP-relative */
	bool rip_rel;
	unsigned addr_size;
};

static const size_t gpr_offset[16] = {
	offsetof(struct kvm_regs, rax), offsetof(struct kvm_regs, rcx), offsetof(struct kvm_regs, rdx),
	offsetof(struct kvm_regs, rbx), offsetof(struct kvm_regs, rsp), offsetof(struct kvm_regs, rbp),
	offsetof(struct kvm_regs, rsi), offsetof(struct kvm_regs, rdi), offsetof(struct kvm_regs, r8),
	offsetof(struct kvm_regs, r9), offsetof(struct kvm_regs, r10), offsetof(struct kvm_regs, r11),
	offsetof(struct kvm_regs, r12), offsetof(struct kvm_regs, r13), offsetof(struct kvm_regs, r14),
	offsetof(struct kvm_regs, r15),
};

static uint64_t *gpr(struct kvm_regs *regs, unsigned n)
{
	return (uint64_t *)((uint8_t *)regs + gpr_offset[n & 15]);
}

static const char *const kind_names[X86_EMU_KIND_COUNT] = {
	[X86_EMU_KIND_NONE] = "none",
	[X86_EMU_KIND_CLAC] = "clac",
	[X86_EMU_KIND_STAC] = "stac",
	[X86_EMU_KIND_FWAIT] = "fwait",
	[X86_EMU_KIND_POPCNT] = "popcnt",
	[X86_EMU_KIND_INT3] = "int3",
	[X86_EMU_KIND_INT_N] = "int n",
	[X86_EMU_KIND_FNCLEX] = "fnclex",
	[X86_EMU_KIND_LDMXCSR] = "ldmxcsr",
	[X86_EMU_KIND_STMXCSR] = "stmxcsr",
	[X86_EMU_KIND_FXSAVE] = "fxsave",
	[X86_EMU_KIND_FXRSTOR] = "fxrstor",
	[X86_EMU_KIND_SYSCALL_REPAIR] = "syscall repair",
	[X86_EMU_KIND_EXCEPTION] = "exception",
};

const char *x86_emu_kind_name(enum x86_emu_kind kind)
{
	return (unsigned)kind < X86_EMU_KIND_COUNT ? kind_names[kind] : "?";
}

static unsigned code_mode(const struct kvm_sregs *s)
{
	if ((s->efer & X86_EFER_LMA) && s->cs.l)
		return 64;
	return s->cs.db ? 32 : 16;
}

static uint64_t code_linear(const struct kvm_sregs *s, uint64_t rip, unsigned mode)
{
	return mode == 64 ? rip : (uint32_t)(s->cs.base + (uint32_t)rip);
}

static uint64_t advance_rip(uint64_t rip, size_t len, unsigned mode)
{
	uint64_t next = rip + len;

	return mode == 64 ? next : mode == 32 ? (uint32_t)next : (uint16_t)next;
}

static void hex_bytes(const uint8_t *b, size_t n, char *out, size_t size)
{
	size_t pos = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && pos + 4 <= size; i++)
		pos += (size_t)snprintf(out + pos, size - pos, "%s%02x", i ? " " : "", b[i]);
}

/* --- decoding ------------------------------------------------------------ */

static int next_byte(struct insn *d, uint8_t *out)
{
	if (d->len >= X86_EMU_MAX_INSN)
		return -E2BIG;           /* §2.3.11: longer than 15 bytes is #GP(0) */
	if (d->len >= d->avail)
		return -EAGAIN;
	*out = d->b[d->len++];
	return 0;
}

static int next_disp(struct insn *d, unsigned n, int64_t *disp)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < n; i++) {
		uint8_t b;
		int r = next_byte(d, &b);

		if (r < 0)
			return r;
		v |= (uint32_t)b << (8 * i);
	}
	*disp = n == 1 ? (int64_t)(int8_t)v : (int64_t)(int32_t)v;
	return 0;
}

/* ModRM/SIB/displacement (SDM vol. 2 §2.1.5, §2.2.1) with 32/64-bit addressing. */
static int decode_modrm(struct kvm_regs *regs, struct insn *d)
{
	uint8_t modrm, sib;
	unsigned mod, rm;
	int base = -1;
	uint64_t index = 0;
	int64_t disp = 0;
	int r = next_byte(d, &modrm);

	if (r < 0)
		return r;
	mod = modrm >> 6;
	rm = modrm & 7;
	d->reg = ((modrm >> 3) & 7) | ((d->rex & 4) ? 8 : 0);
	if (mod == 3) {
		d->rm = rm | ((d->rex & 1) ? 8 : 0);
		return 0;
	}
	d->mem = true;
	d->addr_size = d->mode == 64 ? (d->adsize ? 32 : 64) : ((d->mode == 32) != d->adsize ? 32 : 16);
	if (d->addr_size == 16) {
		d->why = "16-bit addressing";
		return -ENOTSUP;
	}
	if (rm == 4) {
		unsigned idx, b;

		if ((r = next_byte(d, &sib)) < 0)
			return r;
		idx = ((sib >> 3) & 7) | ((d->rex & 2) ? 8 : 0);
		b = (sib & 7) | ((d->rex & 1) ? 8 : 0);
		if (idx != 4)
			index = *gpr(regs, idx) << (sib >> 6);
		if ((b & 7) == 5 && mod == 0)
			r = next_disp(d, 4, &disp);
		else
			base = (int)b;
	} else if (rm == 5 && mod == 0) {
		d->rip_rel = d->mode == 64;
		r = next_disp(d, 4, &disp);
	} else {
		base = (int)(rm | ((d->rex & 1) ? 8 : 0));
	}
	if (r == 0 && mod != 0)
		r = next_disp(d, mod == 1 ? 1 : 4, &disp);
	if (r < 0)
		return r;
	d->ea = (base >= 0 ? *gpr(regs, (unsigned)base) : 0) + index + (uint64_t)disp;
	d->mseg = d->seg != SEG_NONE ? d->seg : (base == 4 || base == 5) ? SEG_SS : SEG_DS;
	return 0;
}

/* 0f ae /0../3 with a memory operand and no 66/f2/f3 prefix (SDM "NP"): fxsave fxrstor ldmxcsr stmxcsr. */
static int decode_group15(struct kvm_regs *regs, struct insn *d)
{
	static const enum x86_emu_kind kinds[4] = {
		X86_EMU_KIND_FXSAVE, X86_EMU_KIND_FXRSTOR, X86_EMU_KIND_LDMXCSR, X86_EMU_KIND_STMXCSR,
	};
	uint8_t modrm;

	if (d->len >= d->avail)
		return d->len >= X86_EMU_MAX_INSN ? -E2BIG : -EAGAIN;
	modrm = d->b[d->len];
	/* mod 3 is the fences and (f3) the fs/gs base moves; /4../7 xsave, xrstor, xsaveopt, clflush. */
	if ((modrm >> 6) == 3 || ((modrm >> 3) & 7) > 3 || d->opsize || d->rep || d->repne)
		return -ENOSYS;
	d->kind = kinds[(modrm >> 3) & 7];
	return decode_modrm(regs, d);
}

static int decode(struct kvm_regs *regs, struct insn *d)
{
	uint8_t b, b2, b3;
	int r;

	d->len = 0;
	d->opsize = d->adsize = d->lock = d->rep = d->repne = d->mem = d->rip_rel = false;
	d->seg = SEG_NONE;
	d->rex = 0;
	d->kind = X86_EMU_KIND_NONE;
	for (;;) {
		if ((r = next_byte(d, &b)) < 0)
			return r;
		switch (b) {
		case 0x66: d->opsize = true; break;
		case 0x67: d->adsize = true; break;
		case 0xf0: d->lock = true; break;
		case 0xf2: d->repne = true; break;
		case 0xf3: d->rep = true; break;
		case 0x26: d->seg = SEG_ES; break;
		case 0x2e: d->seg = SEG_CS; break;
		case 0x36: d->seg = SEG_SS; break;
		case 0x3e: d->seg = SEG_DS; break;
		case 0x64: d->seg = SEG_FS; break;
		case 0x65: d->seg = SEG_GS; break;
		default:
			if (d->mode == 64 && (b & 0xf0) == 0x40) {
				d->rex = b;
				continue;
			}
			goto opcode;
		}
		d->rex = 0;   /* a REX prefix counts only right before the opcode (§2.2.1) */
	}
opcode:
	switch (b) {
	case 0x9b:
		d->kind = X86_EMU_KIND_FWAIT;
		return 0;
	case 0xcc:
		d->kind = X86_EMU_KIND_INT3;
		return 0;
	case 0xcd:
		d->kind = X86_EMU_KIND_INT_N;
		return next_byte(d, &d->vector);
	case 0xdb:
		if ((r = next_byte(d, &b2)) < 0)
			return r;
		if (b2 != 0xe2)
			return -ENOSYS;
		d->kind = X86_EMU_KIND_FNCLEX;
		return 0;
	case 0x0f:
		if ((r = next_byte(d, &b2)) < 0)
			return r;
		if (b2 == 0x01) {
			if ((r = next_byte(d, &b3)) < 0)
				return r;
			if ((b3 != 0xca && b3 != 0xcb) || d->opsize || d->rep || d->repne)
				return -ENOSYS;
			d->kind = b3 == 0xca ? X86_EMU_KIND_CLAC : X86_EMU_KIND_STAC;
			return 0;
		}
		if (b2 == 0xae)
			return decode_group15(regs, d);
		if (b2 == 0xb8 && d->rep && !d->repne) {
			d->kind = X86_EMU_KIND_POPCNT;
			if (d->mode == 64 && (d->rex & 8))
				d->op_size = 64;
			else
				d->op_size = (d->mode == 16) != d->opsize ? 16 : 32;
			return decode_modrm(regs, d);
		}
		return -ENOSYS;
	default:
		return -ENOSYS;
	}
}

/* Fetches up to 15 bytes at CS:RIP; a fault on the second page is kept for later. */
static int fetch(struct x86_emu_cpu *cpu, struct insn *d, bool *tail_faulted, struct x86_fault *tail,
		 struct vmon_error *tail_err, struct x86_emu_report *rep)
{
	const struct kvm_sregs *s = &cpu->sregs;
	uint64_t la = code_linear(s, cpu->regs.rip, d->mode);
	unsigned access = PAGE_WALK_FETCH | (descriptor_cpl(s) == 3 ? PAGE_WALK_USER : 0);
	size_t first = 4096 - (la & 4095), got, same;
	uint8_t buf[X86_EMU_MAX_INSN];
	int r;

	if (first > X86_EMU_MAX_INSN)
		first = X86_EMU_MAX_INSN;
	r = page_walk_read(cpu->mem, s, la, buf, first, access, &rep->fault, &rep->msg);
	if (r < 0) {
		error_prefix(&rep->msg, "fetching the instruction at rip 0x%llx", (unsigned long long)cpu->regs.rip);
		return r;
	}
	got = first;
	if (got < X86_EMU_MAX_INSN) {
		r = page_walk_read(cpu->mem, s, la + first, buf + first, X86_EMU_MAX_INSN - first, access, tail,
				   tail_err);
		if (r == 0)
			got = X86_EMU_MAX_INSN;
		*tail_faulted = r == -EFAULT;
	}
	same = d->avail < got ? d->avail : got;
	if (memcmp(buf, d->b, same) != 0)
		return -ESTALE;  /* the code changed since KVM looked: let the caller re-run it */
	if (got > d->avail) {
		memcpy(d->b, buf, got);
		d->avail = got;
	}
	return 0;
}

/* Bytes (KVM's, completed from memory when short) → decoded instruction; DONE when decoded. */
static enum x86_emu_result decode_at_rip(struct x86_emu_cpu *cpu, const uint8_t *bytes, size_t len,
					 struct insn *d, struct x86_emu_report *rep)
{
	unsigned long long rip = cpu->regs.rip;
	char hex[3 * X86_EMU_MAX_INSN + 1];
	int r;

	memset(d, 0, sizeof(*d));
	d->mode = code_mode(&cpu->sregs);
	if (cpu->regs.rflags & X86_RFLAGS_VM) {
		error_set(&rep->msg, -ENOTSUP, "instruction at rip 0x%llx in virtual-8086 mode", rip);
		return X86_EMU_UNSUPPORTED;
	}
	if (bytes && len) {
		d->avail = len < X86_EMU_MAX_INSN ? len : X86_EMU_MAX_INSN;
		memcpy(d->b, bytes, d->avail);
	}
	r = decode(&cpu->regs, d);
	if (r == -EAGAIN) {
		struct vmon_error tail_err = { 0 };
		struct x86_fault tail = { 0 };
		bool tail_faulted = false;

		r = fetch(cpu, d, &tail_faulted, &tail, &tail_err, rep);
		if (r == 0)
			r = decode(&cpu->regs, d);
		if (r == -EAGAIN && tail_faulted) {
			rep->fault = tail;
			r = error_set(&rep->msg, -EFAULT, "fetching the rest of the instruction at rip 0x%llx: %s",
				      rip, tail_err.msg);
		} else if (r == -EAGAIN) {
			r = error_set(&rep->msg, -ENXIO, "instruction at rip 0x%llx runs out of RAM", rip);
		}
	}
	rep->kind = d->kind;
	rep->insn_len = (uint8_t)(r == 0 ? d->len : d->avail);
	memcpy(rep->insn, d->b, rep->insn_len);
	hex_bytes(d->b, rep->insn_len, hex, sizeof(hex));
	switch (r) {
	case 0:
		return X86_EMU_DONE;
	case -E2BIG:
		rep->fault = (struct x86_fault){ .vector = X86_VEC_GP, .has_error_code = true };
		error_set(&rep->msg, -EFAULT, "#GP(0): instruction at rip 0x%llx is longer than 15 bytes (%s)", rip, hex);
		return X86_EMU_GUEST_FAULT;
	case -ENOSYS:
		error_set(&rep->msg, -ENOSYS, "unsupported instruction at rip 0x%llx: %s", rip, hex);
		return X86_EMU_UNSUPPORTED;
	case -ENOTSUP:
		error_set(&rep->msg, -ENOTSUP, "%s at rip 0x%llx: %s not emulated (%s)", x86_emu_kind_name(d->kind),
			  rip, d->why, hex);
		return X86_EMU_UNSUPPORTED;
	case -ESTALE:
		error_set(&rep->msg, -ESTALE, "code at rip 0x%llx differs from the bytes KVM reported (%s)", rip, hex);
		return X86_EMU_UNSUPPORTED;
	case -EFAULT:
		return X86_EMU_GUEST_FAULT;
	default:
		return X86_EMU_ERROR;
	}
}

/* --- execution ----------------------------------------------------------- */

static enum x86_emu_result raise_in(struct x86_emu_report *rep, uint8_t vector, bool has_code, uint32_t code,
				    const char *what, unsigned long long rip)
{
	rep->fault = (struct x86_fault){ .vector = vector, .has_error_code = has_code, .error_code = code };
	error_set(&rep->msg, -EFAULT, "%s at rip 0x%llx raises vector %u: %s", x86_emu_kind_name(rep->kind), rip,
		  vector, what);
	return X86_EMU_GUEST_FAULT;
}

/* Maps a page_walk/descriptor return value onto a result (rep->fault/msg already filled). */
static enum x86_emu_result from_errno(int r)
{
	return r == 0 ? X86_EMU_DONE : r == -EFAULT ? X86_EMU_GUEST_FAULT
		: r == -ENOTSUP ? X86_EMU_UNSUPPORTED : X86_EMU_ERROR;
}

static const struct kvm_segment *segment(const struct kvm_sregs *s, int seg)
{
	switch (seg) {
	case SEG_ES: return &s->es;
	case SEG_CS: return &s->cs;
	case SEG_SS: return &s->ss;
	case SEG_FS: return &s->fs;
	case SEG_GS: return &s->gs;
	default: return &s->ds;
	}
}

/*
 * Reads or writes size bytes at d's memory operand: segmentation (SDM vol. 3
 * §3.4, §5.3), canonical check, alignment (align > 1: #GP(0) when the linear
 * address is not a multiple of it, whatever the segment), then the page walk.
 * A write faults before it moves a byte. Alignment checking (#AC, CR0.AM at
 * CPL 3) is not modelled: user code never reaches this emulator on PVM.
 */
static enum x86_emu_result operand_access(struct x86_emu_cpu *cpu, const struct insn *d, void *buf, size_t size,
					  unsigned align, bool write, struct x86_emu_report *rep)
{
	const struct kvm_sregs *s = &cpu->sregs;
	const unsigned long long rip = cpu->regs.rip;
	const uint8_t vec = d->mseg == SEG_SS ? X86_VEC_SS : X86_VEC_GP;
	const char *name = x86_emu_kind_name(d->kind);
	uint64_t ea = d->ea, la;
	unsigned access;
	int r;

	if (d->rip_rel)
		ea += advance_rip(cpu->regs.rip, d->len, 64);
	if (d->addr_size == 32)
		ea = (uint32_t)ea;
	if (d->mode == 64) {
		/* §3.4.2.1: only FS and GS have bases in 64-bit mode. */
		la = ea + (d->mseg == SEG_FS ? s->fs.base : d->mseg == SEG_GS ? s->gs.base : 0);
		if (!page_walk_canonical(s, la) || !page_walk_canonical(s, la + size - 1))
			return raise_in(rep, vec, true, 0, "operand address is not canonical", rip);
	} else {
		const struct kvm_segment *sg = segment(s, d->mseg);

		if (sg->unusable || !sg->present)
			return raise_in(rep, vec, true, 0, "operand segment is not usable", rip);
		if ((sg->type & 0x8) && (write || !(sg->type & 0x2)))
			return raise_in(rep, X86_VEC_GP, true, 0, write ? "operand written in a code segment"
				       : "operand in an execute-only code segment", rip);
		if (!(sg->type & 0x8) && write && !(sg->type & 0x2))
			return raise_in(rep, X86_VEC_GP, true, 0, "operand written in a read-only segment", rip);
		if (!(sg->type & 0x8) && (sg->type & 0x4)) {
			error_set(&rep->msg, -ENOTSUP, "%s at rip 0x%llx: expand-down segment not emulated", name, rip);
			return X86_EMU_UNSUPPORTED;
		}
		if (ea + size - 1 > sg->limit)
			return raise_in(rep, vec, true, 0, "operand beyond the segment limit", rip);
		la = (uint32_t)(sg->base + ea);
	}
	if (align > 1 && (la & (align - 1)))
		return raise_in(rep, X86_VEC_GP, true, 0, align == X86_FX_ALIGN ? "memory operand is not 16-byte aligned"
				: "memory operand is misaligned", rip);
	access = page_walk_data_access(descriptor_cpl(s), cpu->regs.rflags, write);
	if (write)
		r = page_walk_write(cpu->mem, s, la, buf, size, access, &rep->fault, &rep->msg);
	else
		r = page_walk_read(cpu->mem, s, la, buf, size, access, &rep->fault, &rep->msg);
	if (r < 0)
		error_prefix(&rep->msg, "%s at rip 0x%llx: %s operand", name, rip, write ? "destination" : "source");
	return from_errno(r);
}

static enum x86_emu_result exec_popcnt(struct x86_emu_cpu *cpu, const struct insn *d, uint64_t next,
				       struct x86_emu_report *rep)
{
	const uint64_t mask = d->op_size == 64 ? ~0ull : (1ull << d->op_size) - 1;
	uint64_t src, count, *dst;
	enum x86_emu_result res;

	if (d->mem) {
		src = 0;
		res = operand_access(cpu, d, &src, d->op_size / 8, 1, false, rep);
		if (res != X86_EMU_DONE)
			return res;
	} else {
		src = *gpr(&cpu->regs, d->rm);
	}
	src &= mask;
	count = (uint64_t)__builtin_popcountll(src);
	dst = gpr(&cpu->regs, d->reg);
	/* A 16-bit destination keeps bits 63:16; a 32-bit one is zero-extended (§3.4.1.1). */
	*dst = d->op_size == 16 ? (*dst & ~0xffffull) | count : count;
	/* POPCNT: ZF = (source == 0); CF, OF, SF, AF, PF cleared. */
	cpu->regs.rflags &= ~(X86_RFLAGS_CF | X86_RFLAGS_PF | X86_RFLAGS_AF | X86_RFLAGS_ZF | X86_RFLAGS_SF |
			      X86_RFLAGS_OF);
	if (!src)
		cpu->regs.rflags |= X86_RFLAGS_ZF;
	cpu->regs.rip = next;
	return X86_EMU_DONE;
}

/* FXSAVE/FXRSTOR area layout for d (SDM vol. 1 §10.5.1; AMD APM vol. 2 §3.1.7 for FFXSR). */
static struct x86_fx_format fx_format(const struct x86_emu_cpu *cpu, const struct insn *d)
{
	struct x86_fx_format fmt = { .wide = d->mode == 64 && (d->rex & 8) };

	if (d->mode == 64)
		fmt.nxmm = (cpu->sregs.efer & X86_EFER_FFXSR) && descriptor_cpl(&cpu->sregs) == 0 ? 0 : 16;
	else
		fmt.nxmm = (cpu->sregs.cr4 & X86_CR4_OSFXSR) ? 8 : 0;
	return fmt;
}

/* The x87/SSE state instructions; exceptions in the order of their SDM tables: #UD, #NM, operand, MXCSR. */
static enum x86_emu_result exec_fpu(struct x86_emu_cpu *cpu, const struct insn *d, uint64_t next,
				    struct x86_emu_report *rep)
{
	const unsigned long long rip = cpu->regs.rip;
	const char *name = x86_emu_kind_name(d->kind);
	const uint64_t cr0 = cpu->sregs.cr0;
	_Alignas(16) uint8_t area[X86_FX_SIZE];
	struct x86_fx_format fmt = fx_format(cpu, d);
	uint32_t mxcsr = 0;
	enum x86_emu_result res = X86_EMU_DONE;
	bool changes_fpu = false;

	switch (d->kind) {
	case X86_EMU_KIND_FWAIT:
		if ((cr0 & (X86_CR0_MP | X86_CR0_TS)) == (X86_CR0_MP | X86_CR0_TS))
			return raise_in(rep, X86_VEC_NM, false, 0, "CR0.TS and CR0.MP set", rip);
		break;
	case X86_EMU_KIND_LDMXCSR:
	case X86_EMU_KIND_STMXCSR:
		if ((cr0 & X86_CR0_EM) || !(cpu->sregs.cr4 & X86_CR4_OSFXSR))
			return raise_in(rep, X86_VEC_UD, false, 0, "CR0.EM set or CR4.OSFXSR clear", rip);
		if (cr0 & X86_CR0_TS)
			return raise_in(rep, X86_VEC_NM, false, 0, "CR0.TS set", rip);
		break;
	default:
		if (cr0 & (X86_CR0_TS | X86_CR0_EM))
			return raise_in(rep, X86_VEC_NM, false, 0, "CR0.TS or CR0.EM set", rip);
		break;
	}
	if (!cpu->fpu) {
		error_set(&rep->msg, 0, "%s at rip 0x%llx needs the x87/SSE state", name, rip);
		return X86_EMU_NEED_FPU;
	}
	switch (d->kind) {
	case X86_EMU_KIND_FWAIT:
		if (x86_fx_fsw(cpu->fpu) & X86_FSW_ES) {
			if (cr0 & X86_CR0_NE)
				return raise_in(rep, X86_VEC_MF, false, 0, "x87 exception pending", rip);
			error_set(&rep->msg, -ENOTSUP, "fwait at rip 0x%llx: pending x87 exception with CR0.NE clear "
				  "(FERR# reporting) not emulated", rip);
			return X86_EMU_UNSUPPORTED;
		}
		break;
	case X86_EMU_KIND_FNCLEX:
		x86_fx_clear_exceptions(cpu->fpu);
		changes_fpu = true;
		break;
	case X86_EMU_KIND_LDMXCSR:
		res = operand_access(cpu, d, &mxcsr, 4, 1, false, rep);
		if (res == X86_EMU_DONE && !x86_fx_mxcsr_valid(mxcsr, cpu->mxcsr_mask))
			return raise_in(rep, X86_VEC_GP, true, 0, "the new MXCSR sets reserved bits", rip);
		if (res == X86_EMU_DONE)
			x86_fx_set_mxcsr(cpu->fpu, mxcsr);
		changes_fpu = true;
		break;
	case X86_EMU_KIND_STMXCSR:
		mxcsr = x86_fx_mxcsr(cpu->fpu);
		res = operand_access(cpu, d, &mxcsr, 4, 1, true, rep);
		break;
	case X86_EMU_KIND_FXSAVE:
		x86_fx_save(cpu->fpu, &fmt, cpu->mxcsr_mask, area);
		res = operand_access(cpu, d, area, x86_fx_bytes(&fmt), X86_FX_ALIGN, true, rep);
		break;
	case X86_EMU_KIND_FXRSTOR:
		res = operand_access(cpu, d, area, x86_fx_bytes(&fmt), X86_FX_ALIGN, false, rep);
		if (res == X86_EMU_DONE && !x86_fx_restore(cpu->fpu, &fmt, cpu->mxcsr_mask, area))
			return raise_in(rep, X86_VEC_GP, true, 0, "the MXCSR in the area sets reserved bits", rip);
		changes_fpu = true;
		break;
	default:
		break;
	}
	if (res != X86_EMU_DONE)
		return res;
	cpu->regs.rip = next;
	cpu->dirty |= X86_EMU_DIRTY_REGS | (changes_fpu ? X86_EMU_DIRTY_FPU : 0);
	error_set(&rep->msg, 0, "%s%s at rip 0x%llx", name, fmt.wide && (d->kind == X86_EMU_KIND_FXSAVE ||
		  d->kind == X86_EMU_KIND_FXRSTOR) ? "64" : "", rip);
	return X86_EMU_DONE;
}

static enum x86_emu_result execute(struct x86_emu_cpu *cpu, const struct insn *d, bool repair,
				   struct x86_emu_report *rep)
{
	const unsigned long long rip = cpu->regs.rip;
	const uint64_t next = advance_rip(cpu->regs.rip, d->len, d->mode);
	const unsigned cpl = descriptor_cpl(&cpu->sregs);
	struct descriptor_event ev = { .kind = DESCRIPTOR_EVENT_SOFT_INT, .return_rip = next };
	struct x86_syscall_frame frame;
	enum x86_emu_result res;
	int r;

	if (d->lock)
		return raise_in(rep, X86_VEC_UD, false, 0, "LOCK prefix", rip);
	switch (d->kind) {
	case X86_EMU_KIND_CLAC:
	case X86_EMU_KIND_STAC:
		if (cpl > 0)
			return raise_in(rep, X86_VEC_UD, false, 0, "CPL above 0", rip);
		if (d->kind == X86_EMU_KIND_CLAC && repair && x86_emu_syscall_check(cpu, &frame, NULL)) {
			x86_emu_syscall_complete(cpu, &frame);
			rep->kind = X86_EMU_KIND_SYSCALL_REPAIR;
			error_set(&rep->msg, 0, "syscall from user rip 0x%llx completed at CPL 0 (clac at 0x%llx)",
				  (unsigned long long)cpu->regs.rcx, rip);
			return X86_EMU_DONE;
		}
		if (d->kind == X86_EMU_KIND_CLAC)
			cpu->regs.rflags &= ~X86_RFLAGS_AC;
		else
			cpu->regs.rflags |= X86_RFLAGS_AC;
		cpu->regs.rip = next;
		cpu->dirty |= X86_EMU_DIRTY_REGS;
		break;
	case X86_EMU_KIND_FWAIT:
	case X86_EMU_KIND_FNCLEX:
	case X86_EMU_KIND_LDMXCSR:
	case X86_EMU_KIND_STMXCSR:
	case X86_EMU_KIND_FXSAVE:
	case X86_EMU_KIND_FXRSTOR:
		return exec_fpu(cpu, d, next, rep);
	case X86_EMU_KIND_POPCNT:
		res = exec_popcnt(cpu, d, next, rep);
		if (res != X86_EMU_DONE)
			return res;
		cpu->dirty |= X86_EMU_DIRTY_REGS;
		error_set(&rep->msg, 0, "popcnt at rip 0x%llx", rip);
		return X86_EMU_DONE;
	case X86_EMU_KIND_INT3:
	case X86_EMU_KIND_INT_N:
		ev.kind = d->kind == X86_EMU_KIND_INT3 ? DESCRIPTOR_EVENT_SOFT_EXC : DESCRIPTOR_EVENT_SOFT_INT;
		ev.vector = d->kind == X86_EMU_KIND_INT3 ? X86_VEC_BP : d->vector;
		r = descriptor_deliver(cpu->mem, &cpu->regs, &cpu->sregs, &ev, &rep->fault, &rep->msg);
		if (r < 0) {
			error_prefix(&rep->msg, "%s (vector %u) at rip 0x%llx", x86_emu_kind_name(d->kind), ev.vector, rip);
			return from_errno(r);
		}
		cpu->dirty |= X86_EMU_DIRTY_REGS | X86_EMU_DIRTY_SREGS;
		error_set(&rep->msg, 0, "%s (vector %u) at rip 0x%llx delivered to 0x%llx", x86_emu_kind_name(d->kind),
			  ev.vector, rip, (unsigned long long)cpu->regs.rip);
		return X86_EMU_DONE;
	default:
		error_set(&rep->msg, -ENOSYS, "unsupported instruction at rip 0x%llx", rip);
		return X86_EMU_UNSUPPORTED;
	}
	error_set(&rep->msg, 0, "%s at rip 0x%llx", x86_emu_kind_name(d->kind), rip);
	return X86_EMU_DONE;
}

static void count(struct x86_emu_stats *stats, enum x86_emu_result res, enum x86_emu_kind kind)
{
	if (!stats)
		return;
	switch (res) {
	case X86_EMU_DONE: stats->done[(unsigned)kind < X86_EMU_KIND_COUNT ? kind : 0]++; break;
	case X86_EMU_GUEST_FAULT: stats->guest_faults++; break;
	case X86_EMU_UNSUPPORTED: stats->unsupported++; break;
	case X86_EMU_ERROR: stats->errors++; break;
	case X86_EMU_TRIPLE_FAULT: stats->triple_faults++; break;
	case X86_EMU_NEED_FPU: break;   /* not an outcome: the caller calls again with the state */
	}
}

static enum x86_emu_result step(struct x86_emu_cpu *cpu, const uint8_t *bytes, size_t len, bool repair,
				struct x86_emu_stats *stats, struct x86_emu_report *rep)
{
	struct insn d;
	enum x86_emu_result res;

	memset(rep, 0, sizeof(*rep));
	res = decode_at_rip(cpu, bytes, len, &d, rep);
	if (res == X86_EMU_DONE)
		res = execute(cpu, &d, repair, rep);
	count(stats, res, rep->kind);
	return res;
}

enum x86_emu_result x86_emu_instruction(struct x86_emu_cpu *cpu, const uint8_t *bytes, size_t len,
					struct x86_emu_stats *stats, struct x86_emu_report *rep)
{
	return step(cpu, bytes, len, false, stats, rep);
}

enum x86_emu_result x86_emu_emulation_failure(struct x86_emu_cpu *cpu, const uint8_t *bytes, size_t len,
					      struct x86_emu_stats *stats, struct x86_emu_report *rep)
{
	return step(cpu, bytes, len, true, stats, rep);
}

/* --- exception delivery -------------------------------------------------- */

static bool contributory(uint8_t v)
{
	return v == X86_VEC_DE || v == X86_VEC_TS || v == X86_VEC_NP || v == X86_VEC_SS || v == X86_VEC_GP;
}

enum x86_emu_result x86_emu_raise(struct x86_emu_cpu *cpu, const struct x86_fault *fault,
				  struct x86_emu_stats *stats, struct x86_emu_report *rep)
{
	struct x86_fault cur = *fault, next = { 0 };
	enum x86_emu_result res = X86_EMU_TRIPLE_FAULT;

	memset(rep, 0, sizeof(*rep));
	rep->kind = X86_EMU_KIND_EXCEPTION;
	/* At most: benign → contributory → #PF → #DF (table 6-5), so four deliveries end it. */
	for (unsigned attempt = 0; attempt < 4; attempt++) {
		struct descriptor_event ev = { .kind = DESCRIPTOR_EVENT_HW_EXC, .vector = cur.vector,
			.has_error_code = cur.has_error_code, .error_code = cur.error_code,
			.fault_class = true, .return_rip = cpu->regs.rip };
		struct kvm_sregs sregs = cpu->sregs;
		int r;

		if (cur.vector == X86_VEC_PF)
			sregs.cr2 = cur.cr2;   /* CR2 is loaded even when the delivery then faults */
		r = descriptor_deliver(cpu->mem, &cpu->regs, &sregs, &ev, &next, &rep->msg);
		if (r == 0) {
			cpu->sregs = sregs;
			cpu->dirty |= X86_EMU_DIRTY_REGS | X86_EMU_DIRTY_SREGS;
			error_set(&rep->msg, 0, "exception %u (error 0x%x) delivered to 0x%llx", cur.vector,
				  cur.error_code, (unsigned long long)cpu->regs.rip);
			res = X86_EMU_DONE;
			break;
		}
		if (r != -EFAULT) {
			error_prefix(&rep->msg, "delivering exception %u", cur.vector);
			res = from_errno(r);
			break;
		}
		rep->fault = next;
		if (cur.vector == X86_VEC_DF) {
			error_prefix(&rep->msg, "triple fault delivering #DF");
			break;
		}
		if ((contributory(cur.vector) && contributory(next.vector)) ||
		    (cur.vector == X86_VEC_PF && (next.vector == X86_VEC_PF || contributory(next.vector))))
			cur = (struct x86_fault){ .vector = X86_VEC_DF, .has_error_code = true, .error_code = 0 };
		else
			cur = next;
	}
	count(stats, res, rep->kind);
	return res;
}

/* --- stats --------------------------------------------------------------- */

void x86_emu_stats_merge(struct x86_emu_stats *dst, const struct x86_emu_stats *src)
{
	for (unsigned i = 0; i < X86_EMU_KIND_COUNT; i++)
		dst->done[i] += src->done[i];
	dst->guest_faults += src->guest_faults;
	dst->unsupported += src->unsupported;
	dst->errors += src->errors;
	dst->triple_faults += src->triple_faults;
}

void x86_emu_stats_print(const struct x86_emu_stats *s, FILE *out)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < X86_EMU_KIND_COUNT; i++)
		total += s->done[i];
	fprintf(out, "vmon: emulated in the monitor: %llu\n", (unsigned long long)total);
	for (unsigned i = 1; i < X86_EMU_KIND_COUNT; i++)
		if (s->done[i])
			fprintf(out, "vmon:   %-16s %12llu\n", kind_names[i], (unsigned long long)s->done[i]);
	if (s->guest_faults)
		fprintf(out, "vmon:   %-16s %12llu\n", "guest faults", (unsigned long long)s->guest_faults);
	if (s->unsupported)
		fprintf(out, "vmon:   %-16s %12llu\n", "unsupported", (unsigned long long)s->unsupported);
	if (s->errors)
		fprintf(out, "vmon:   %-16s %12llu\n", "errors", (unsigned long long)s->errors);
	if (s->triple_faults)
		fprintf(out, "vmon:   %-16s %12llu\n", "triple faults", (unsigned long long)s->triple_faults);
}
