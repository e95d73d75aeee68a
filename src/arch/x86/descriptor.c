/* SPDX-License-Identifier: MIT */
#include "arch/x86/descriptor.h"

#include <errno.h>
#include <string.h>

/* Descriptor fields (SDM vol. 3 figure 3-8). */
#define DESC_TYPE(raw)  ((unsigned)((raw) >> 40) & 0xf)
#define DESC_S(raw)     ((unsigned)((raw) >> 44) & 1)
#define DESC_DPL(raw)   ((unsigned)((raw) >> 45) & 3)
#define DESC_P(raw)     ((unsigned)((raw) >> 47) & 1)
#define DESC_L(raw)     ((unsigned)((raw) >> 53) & 1)
#define DESC_DB(raw)    ((unsigned)((raw) >> 54) & 1)
#define DESC_ACCESSED   (1ull << 40)
#define TYPE_CODE       0x8
#define TYPE_CONFORMING 0x4   /* code; expand-down for data */
#define TYPE_WRITABLE   0x2   /* data */
#define SEL_MASK        0xfffcu

unsigned descriptor_cpl(const struct kvm_sregs *sregs)
{
	return (sregs->cr0 & X86_CR0_PE) ? (sregs->cs.selector & 3u) : 0;
}

static int fail(struct x86_fault *fault, uint8_t vector, uint32_t code, struct vmon_error *err,
		 const char *why)
{
	static const char *const names[] = {
		[X86_VEC_TS] = "#TS", [X86_VEC_NP] = "#NP", [X86_VEC_SS] = "#SS", [X86_VEC_GP] = "#GP",
	};
	const char *name = vector < sizeof(names) / sizeof(names[0]) && names[vector] ? names[vector] : "#?";

	*fault = (struct x86_fault){ .vector = vector, .has_error_code = true, .error_code = code };
	return error_set(err, -EFAULT, "%s(0x%x): %s", name, code, why);
}

int descriptor_read_gate(const struct guest_mem *mem, const struct kvm_sregs *sregs, uint8_t vector,
			 bool ext, unsigned access, struct descriptor_gate *gate, struct x86_fault *fault,
			 struct vmon_error *err)
{
	bool lm = sregs->efer & X86_EFER_LMA;
	unsigned size = lm ? 16 : 8;
	uint64_t raw[2] = { 0, 0 };
	int r;

	/* §6.10/§6.14.1: the whole gate must lie inside the IDT limit. */
	if ((uint32_t)vector * size + size - 1 > sregs->idt.limit)
		return fail(fault, X86_VEC_GP, vector * 8u + 2 + ext, err, "vector beyond the IDT limit");
	r = page_walk_read(mem, sregs, sregs->idt.base + (uint64_t)vector * size, raw, size,
			   access & PAGE_WALK_PEEK, fault, err);
	if (r < 0) {
		error_prefix(err, "IDT entry %u", vector);
		return r;
	}
	gate->offset = (raw[0] & 0xffff) | ((raw[0] >> 32) & 0xffff0000ull);
	if (lm)
		gate->offset |= (raw[1] & 0xffffffffull) << 32;
	gate->selector = (uint16_t)(raw[0] >> 16);
	gate->type = (uint8_t)DESC_TYPE(raw[0]);
	gate->system = !DESC_S(raw[0]);
	gate->dpl = (uint8_t)DESC_DPL(raw[0]);
	gate->present = DESC_P(raw[0]);
	gate->ist = lm ? (uint8_t)((raw[0] >> 32) & 7) : 0;
	return 0;
}

int descriptor_read(const struct guest_mem *mem, const struct kvm_sregs *sregs, uint16_t selector,
		    uint8_t fault_vector, bool ext, uint64_t *raw, uint64_t *la, struct x86_fault *fault,
		    struct vmon_error *err)
{
	const bool ldt = selector & 4;
	uint64_t base = ldt ? sregs->ldt.base : sregs->gdt.base;
	uint32_t limit = ldt ? sregs->ldt.limit : sregs->gdt.limit;
	uint32_t offset = selector & ~7u;
	uint32_t code = (selector & SEL_MASK) + ext;
	int r;

	if (ldt && (sregs->ldt.unusable || !sregs->ldt.present))
		return fail(fault, fault_vector, code, err, "selector names the LDT, which is not loaded");
	if (offset + 7 > limit)
		return fail(fault, fault_vector, code, err, "selector beyond the descriptor table limit");
	if (!(sregs->efer & X86_EFER_LMA))
		base = (uint32_t)base;
	r = page_walk_read(mem, sregs, base + offset, raw, 8, 0, fault, err);
	if (r < 0) {
		error_prefix(err, "descriptor 0x%x", selector);
		return r;
	}
	if (la)
		*la = base + offset;
	return 0;
}

void descriptor_to_segment(uint64_t raw, uint16_t selector, struct kvm_segment *seg)
{
	uint32_t limit = (uint32_t)(raw & 0xffff) | (uint32_t)((raw >> 32) & 0xf0000);
	bool g = (raw >> 55) & 1;

	memset(seg, 0, sizeof(*seg));
	seg->base = ((raw >> 16) & 0xffffff) | (((raw >> 56) & 0xff) << 24);
	seg->limit = g ? (limit << 12) | 0xfff : limit;
	seg->selector = selector;
	seg->type = (uint8_t)DESC_TYPE(raw);
	seg->s = (uint8_t)DESC_S(raw);
	seg->dpl = (uint8_t)DESC_DPL(raw);
	seg->present = (uint8_t)DESC_P(raw);
	seg->avl = (uint8_t)((raw >> 52) & 1);
	seg->l = (uint8_t)DESC_L(raw);
	seg->db = (uint8_t)DESC_DB(raw);
	seg->g = g;
}

/* Reads a TSS field of size bytes at offset, inside the TR limit (§7.2.1). */
static int tss_read(const struct guest_mem *mem, const struct kvm_sregs *sregs, uint32_t offset,
		    unsigned size, uint32_t ext, uint64_t *value, struct x86_fault *fault,
		    struct vmon_error *err)
{
	uint64_t base = sregs->tr.base;
	int r;

	*value = 0;
	if (sregs->tr.unusable || !sregs->tr.present || offset + size - 1 > sregs->tr.limit)
		return fail(fault, X86_VEC_TS, (sregs->tr.selector & SEL_MASK) + ext, err,
			     "TSS too small for the stack pointer");
	if (!(sregs->efer & X86_EFER_LMA))
		base = (uint32_t)base;
	r = page_walk_read(mem, sregs, base + offset, value, size, 0, fault, err);
	if (r < 0)
		error_prefix(err, "TSS offset 0x%x", offset);
	return r;
}

/* Sets a loaded descriptor's accessed bit in the table, as the CPU does on a segment load. */
static int mark_accessed(const struct guest_mem *mem, const struct kvm_sregs *sregs, uint64_t raw,
			 uint64_t la, struct x86_fault *fault, struct vmon_error *err)
{
	uint8_t type_byte = (uint8_t)((raw | DESC_ACCESSED) >> 40);

	if (raw & DESC_ACCESSED)
		return 0;
	return page_walk_write(mem, sregs, la + 5, &type_byte, 1, 0, fault, err);
}

struct delivery {
	const struct guest_mem *mem;
	const struct kvm_regs *regs;
	const struct kvm_sregs *sregs;
	const struct descriptor_event *ev;
	struct descriptor_gate gate;
	struct kvm_segment cs;
	unsigned cpl, new_cpl;
	uint32_t ext;
	uint64_t pushed_rflags;
	/* results */
	struct kvm_segment ss;
	uint64_t rsp;
};

static int deliver_long(struct delivery *d, struct x86_fault *fault, struct vmon_error *err)
{
	const struct kvm_sregs *s = d->sregs;
	uint64_t frame[6], rsp;
	unsigned n = 0;
	int r;

	if (d->gate.ist)
		r = tss_read(d->mem, s, X86_TSS64_IST1 + 8u * (d->gate.ist - 1u), 8, d->ext, &rsp, fault, err);
	else if (d->new_cpl < d->cpl)
		r = tss_read(d->mem, s, X86_TSS64_RSP0 + 8u * d->new_cpl, 8, d->ext, &rsp, fault, err);
	else
		r = (rsp = d->regs->rsp, 0);
	if (r < 0)
		return r;
	if (!page_walk_canonical(s, rsp))
		return fail(fault, X86_VEC_SS, d->ext, err, "new stack pointer is not canonical");
	if (!page_walk_canonical(s, d->gate.offset))
		return fail(fault, X86_VEC_GP, d->ext, err, "gate offset is not canonical");

	/* §6.14.2: RSP is aligned to 16 bytes, then SS, RSP, RFLAGS, CS, RIP (, error code). */
	rsp &= ~0xfull;
	if (d->ev->has_error_code)
		frame[n++] = d->ev->error_code;
	frame[n++] = d->ev->return_rip;
	frame[n++] = s->cs.selector;
	frame[n++] = d->pushed_rflags;
	frame[n++] = d->regs->rsp;
	frame[n++] = s->ss.selector;
	rsp -= 8ull * n;
	r = page_walk_write(d->mem, s, rsp, frame, 8ull * n, d->new_cpl == 3 ? PAGE_WALK_USER : 0, fault, err);
	if (r == -EFAULT && fault->vector == X86_VEC_GP)
		return fail(fault, X86_VEC_SS, d->ext, err, "exception frame crosses the canonical boundary");
	if (r < 0)
		return r;

	d->rsp = rsp;
	d->ss = s->ss;
	if (d->new_cpl != d->cpl) {
		/* A null SS with RPL = new CPL. KVM takes the CPL from SS.DPL, so keep the
		 * cache a usable flat data segment of that DPL (as KVM's own emulator does). */
		d->ss = (struct kvm_segment){ .selector = (uint16_t)d->new_cpl, .limit = 0xffffffff,
			.type = 3, .present = 1, .dpl = (uint8_t)d->new_cpl, .db = 1, .s = 1, .g = 1 };
	}
	return 0;
}

/* True when size bytes below offset esp fit an expand-up segment of this limit. */
static bool stack_fits(uint32_t limit, uint32_t esp, unsigned size)
{
	uint32_t low = esp - size;

	if (limit == 0xffffffffu)
		return true;
	return esp >= size && (uint64_t)low + size - 1 <= limit;
}

static int deliver_legacy(struct delivery *d, struct x86_fault *fault, struct vmon_error *err)
{
	const struct kvm_sregs *s = d->sregs;
	struct kvm_segment ss = s->ss;
	uint32_t frame[6], esp = (uint32_t)d->regs->rsp, ss_code = d->ext;
	unsigned n = 0;
	int r;

	if (d->gate.offset > d->cs.limit)
		return fail(fault, X86_VEC_GP, d->ext, err, "gate offset beyond the code segment limit");
	if (d->new_cpl < d->cpl) {
		uint64_t new_esp, new_ss, raw, la;
		uint16_t sel;

		if (s->tr.type != 0x9 && s->tr.type != 0xb)
			return error_set(err, -ENOTSUP, "interrupt to an inner ring with TR type %u (not a 32-bit TSS)",
					 s->tr.type);
		r = tss_read(d->mem, s, X86_TSS32_ESP0 + 8u * d->new_cpl, 4, d->ext, &new_esp, fault, err);
		if (r == 0)
			r = tss_read(d->mem, s, X86_TSS32_SS0 + 8u * d->new_cpl, 2, d->ext, &new_ss, fault, err);
		if (r < 0)
			return r;
		sel = (uint16_t)new_ss;
		ss_code = (sel & SEL_MASK) + d->ext;
		if (!(sel & SEL_MASK))
			return fail(fault, X86_VEC_TS, d->ext, err, "TSS stack selector is null");
		r = descriptor_read(d->mem, s, sel, X86_VEC_TS, d->ext, &raw, &la, fault, err);
		if (r < 0)
			return r;
		if ((sel & 3u) != d->new_cpl || DESC_DPL(raw) != d->new_cpl || !DESC_S(raw) ||
		    (DESC_TYPE(raw) & TYPE_CODE) || !(DESC_TYPE(raw) & TYPE_WRITABLE))
			return fail(fault, X86_VEC_TS, ss_code, err, "TSS stack segment is not a writable data segment of the new CPL");
		if (!DESC_P(raw))
			return fail(fault, X86_VEC_SS, ss_code, err, "TSS stack segment not present");
		descriptor_to_segment(raw | DESC_ACCESSED, sel, &ss);
		r = mark_accessed(d->mem, s, raw, la, fault, err);
		if (r < 0)
			return r;
		esp = (uint32_t)new_esp;
		frame[5] = s->ss.selector;
		frame[4] = (uint32_t)d->regs->rsp;
		n = 2;
	}
	if (!ss.db || (ss.type & TYPE_CONFORMING))
		return error_set(err, -ENOTSUP, "interrupt onto a 16-bit or expand-down stack");
	frame[5 - n++] = (uint32_t)d->pushed_rflags;
	frame[5 - n++] = s->cs.selector;
	frame[5 - n++] = (uint32_t)d->ev->return_rip;
	if (d->ev->has_error_code)
		frame[5 - n++] = d->ev->error_code;
	if (!stack_fits(ss.limit, esp, 4 * n))
		return fail(fault, X86_VEC_SS, ss_code, err, "exception frame beyond the stack segment limit");
	esp -= 4 * n;
	r = page_walk_write(d->mem, s, (uint32_t)(ss.base + esp), &frame[6 - n], 4ull * n,
			    d->new_cpl == 3 ? PAGE_WALK_USER : 0, fault, err);
	if (r < 0)
		return r;
	d->rsp = esp;
	d->ss = ss;
	return 0;
}

int descriptor_deliver(const struct guest_mem *mem, struct kvm_regs *regs, struct kvm_sregs *sregs,
		       const struct descriptor_event *ev, struct x86_fault *fault, struct vmon_error *err)
{
	const bool lm = sregs->efer & X86_EFER_LMA;
	struct delivery d = { .mem = mem, .regs = regs, .sregs = sregs, .ev = ev };
	uint32_t idt_code, sel_code;
	uint64_t raw, la, rflags;
	uint16_t sel;
	int r;

	if (!(sregs->cr0 & X86_CR0_PE) || (regs->rflags & X86_RFLAGS_VM))
		return error_set(err, -ENOTSUP, "interrupt delivery in real or virtual-8086 mode");
	d.ext = ev->kind == DESCRIPTOR_EVENT_HW_EXC ? 1 : 0;
	d.cpl = descriptor_cpl(sregs);
	idt_code = ev->vector * 8u + 2 + d.ext;

	/* §6.12.1 / §6.14.1, in the order the SDM's INT pseudo-code checks. */
	r = descriptor_read_gate(mem, sregs, ev->vector, d.ext, 0, &d.gate, fault, err);
	if (r < 0)
		return r;
	if (d.gate.system && !lm && (d.gate.type == X86_GATE_TASK || d.gate.type == X86_GATE_INT16 ||
				     d.gate.type == X86_GATE_TRAP16))
		return error_set(err, -ENOTSUP, "IDT entry %u is a task or 16-bit gate", ev->vector);
	if (!d.gate.system || (d.gate.type != X86_GATE_INT && d.gate.type != X86_GATE_TRAP))
		return fail(fault, X86_VEC_GP, idt_code, err, "IDT entry is not an interrupt or trap gate");
	if (ev->kind != DESCRIPTOR_EVENT_HW_EXC && d.gate.dpl < d.cpl)
		return fail(fault, X86_VEC_GP, idt_code, err, "gate DPL below CPL for a software interrupt");
	if (!d.gate.present)
		return fail(fault, X86_VEC_NP, idt_code, err, "gate not present");

	sel = d.gate.selector;
	sel_code = (sel & SEL_MASK) + d.ext;
	if (!(sel & SEL_MASK))
		return fail(fault, X86_VEC_GP, d.ext, err, "gate selector is null");
	r = descriptor_read(mem, sregs, sel, X86_VEC_GP, d.ext, &raw, &la, fault, err);
	if (r < 0)
		return r;
	if (!DESC_S(raw) || !(DESC_TYPE(raw) & TYPE_CODE))
		return fail(fault, X86_VEC_GP, sel_code, err, "gate selector does not name a code segment");
	if (DESC_DPL(raw) > d.cpl)
		return fail(fault, X86_VEC_GP, sel_code, err, "handler code segment DPL above CPL");
	if (!DESC_P(raw))
		return fail(fault, X86_VEC_NP, sel_code, err, "handler code segment not present");
	if (lm && (!DESC_L(raw) || DESC_DB(raw)))
		return fail(fault, X86_VEC_GP, sel_code, err, "handler code segment is not 64-bit");
	if (!lm && !DESC_DB(raw))
		return error_set(err, -ENOTSUP, "interrupt into a 16-bit code segment 0x%x", sel);
	d.new_cpl = (DESC_TYPE(raw) & TYPE_CONFORMING) ? d.cpl : DESC_DPL(raw);
	descriptor_to_segment(raw | DESC_ACCESSED, (uint16_t)((sel & SEL_MASK) | d.new_cpl), &d.cs);

	r = mark_accessed(mem, sregs, raw, la, fault, err);
	if (r < 0)
		return r;
	d.pushed_rflags = regs->rflags | (ev->fault_class ? X86_RFLAGS_RF : 0);
	r = lm ? deliver_long(&d, fault, err) : deliver_legacy(&d, fault, err);
	if (r < 0)
		return r;

	/* §6.12.1.3: TF, NT, RF (and VM) cleared; IF too through an interrupt gate. */
	rflags = regs->rflags & ~(X86_RFLAGS_TF | X86_RFLAGS_NT | X86_RFLAGS_RF | X86_RFLAGS_VM);
	if (d.gate.type == X86_GATE_INT)
		rflags &= ~X86_RFLAGS_IF;
	regs->rflags = rflags | X86_RFLAGS_FIXED;
	regs->rsp = d.rsp;
	regs->rip = d.gate.offset;
	sregs->cs = d.cs;
	sregs->ss = d.ss;
	return 0;
}
