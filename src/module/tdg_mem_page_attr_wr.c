/* SPDX-License-Identifier: MIT */
/*
 * TDG.MEM.PAGE.ATTR.WR (TDCALL leaf 24): the guest writes the L2
 * attributes of the S-EPT leaf at GPA/level (huge-pages.md section 3; the
 * 1.5 module's tdg_mem_page_attr_wr.c).  Without L2 VMs the only legal
 * call has RDX (attributes) = R8 (flags) = 0.  Check order: for each VM's
 * 16 bits (L1 first) RDX then R8 (OPERAND_INVALID), level/alignment, GPA
 * (OPERAND_INVALID|RCX).  The walk
 * takes no tree lock.  If it stops ABOVE the requested level (a 2M leaf
 * when 4K was asked, or a missing table), the guest gets an EPT-violation
 * TD exit with extended-info type 5 (ATTR_WR), laid out as ACCEPT's: the
 * real module's own way for a guest to ask the host to demote.  At the
 * level: the guest entry lock; a present non-leaf is PAGE_SIZE_MISMATCH +
 * level; a state other than MAPPED or PENDING is the same type-5 exit.
 * Outputs: RCX = the input | bit 62 if PENDING; RDX = new attributes (0).
 */
#include <stdlib.h>

#include "internal.h"

static enum tdg_outcome attr_wr(struct tdx_vcpu *v, uint64_t info, uint64_t attrs,
				uint64_t mask, uint64_t *status, uint64_t *rcx)
{
	struct tdx_td *td = v->td;
	/* per VM (16 bits each, L1 first): its attributes, then its flags */
	for (int vm = 0; vm < 4; vm++) {
		if ((attrs >> (16 * vm)) & 0xffff) {
			*status = err(TDX_OPERAND_INVALID, OPND_RDX);
			return TDG_RETURN;
		}
		if ((mask >> (16 * vm)) & 0xffff) {
			*status = err(TDX_OPERAND_INVALID, OPND_R8);
			return TDG_RETURN;
		}
	}
	uint64_t gpa;
	int level;
	*status = gpa_info_decode(td, info, TDX_LEVEL_4K, TDX_LEVEL_1G, &gpa, &level);
	if (*status)
		return TDG_RETURN;
	int reached;
	uint64_t cur;
	uint64_t *e = sept_walk(td, gpa, level, &reached, &cur);
	if (reached != level) {
		td_exit_accept_violation(v, EEQ_TYPE_ATTR_WR, gpa, level, cur, reached);
		return TDG_EXIT;
	}
	*status = td_lock_entry_guest(e, &cur);
	if (*status)
		return TDG_RETURN;
	enum sept_state s = septe_state(cur);
	seam_bit_unlock(e, SEPTE_LOCK, SEAM_LOCK_SEPT_ENTRY);
	if (s == SEPT_NL_MAPPED || s == SEPT_NL_BLOCKED) {
		*status = TDX_PAGE_SIZE_MISMATCH | (uint32_t)level;
		return TDG_RETURN;
	}
	if (!sept_allowed(SOP_ATTR_WR, s)) {
		td_exit_accept_violation(v, EEQ_TYPE_ATTR_WR, gpa, level, cur, level);
		return TDG_EXIT;
	}
	/* no L2 VM, so no attribute to change: the entry is left as it was */
	*rcx = info | (s == SEPT_PENDING ? ATTR_RCX_PENDING : 0);
	return TDG_RETURN;
}

enum tdg_outcome tdg_mem_page_attr_wr(struct tdx_vcpu *v, uint64_t info, uint64_t attrs,
				      uint64_t mask, uint64_t *status, uint64_t *rcx,
				      uint64_t *rdx)
{
	if (!v->in_td)
		abort();	/* a caller bug: TDCALL from outside the TD */
	seam_charge(SEAM_COST_TDCALL, 1);
	td_step_check(v);
	*rcx = *rdx = 0;
	enum tdg_outcome o = attr_wr(v, info, attrs, mask, status, rcx);
	if (o != TDG_EXIT)
		o = tdcall_return(v, o, status);
	seam_event(SEAM_EV_RETURN, SEAM_COST_TDCALL, o == TDG_EXIT ? SEAM_EV_NO_STATUS : *status);
	return o;
}
