/* SPDX-License-Identifier: MIT */
/*
 * TDG.MEM.PAGE.ATTR.RD (TDCALL leaf 23): the guest reads the S-EPT leaf
 * that maps a private GPA (huge-pages.md section 3; the 1.5 module's
 * tdg_mem_page_attr_rd.c).  RCX in: any private GPA (no level).  The walk
 * takes no tree lock and stops at the leaf; the guest entry lock is taken
 * (busy, or host priority set: busy, which feeds the host-priority timer).
 * A leaf that is neither MAPPED nor PENDING is an EPT-violation TD exit
 * (no extended info).  Outputs: RCX = GPA aligned to the leaf size | level
 * in bits 2:0 | bit 62 if PENDING; RDX = attributes (0 without L2 VMs).
 */
#include <stdlib.h>

#include "internal.h"

static enum tdg_outcome attr_rd(struct tdx_vcpu *v, uint64_t gpa, uint64_t *status,
				uint64_t *rcx, uint64_t *rdx)
{
	struct tdx_td *td = v->td;
	*status = td_gpa_check(td, gpa);	/* bits 11:0 are ignored */
	if (*status)
		return TDG_RETURN;
	gpa &= ~(SZ_4K - 1);
	int level;
	uint64_t cur;
	uint64_t *e = sept_walk(td, gpa, TDX_LEVEL_4K, &level, &cur);
	*status = td_lock_entry_guest(e, &cur);
	if (*status)
		return TDG_RETURN;
	enum sept_state s = septe_state(cur);
	seam_bit_unlock(e, SEPTE_LOCK, SEAM_LOCK_SEPT_ENTRY);
	if (!sept_allowed(SOP_ATTR_RD, s)) {
		td_exit(v, EXIT_REASON_EPT_VIOLATION, 0, EEQ_TYPE_NONE, gpa & ~(SZ_4K - 1));
		return TDG_EXIT;
	}
	*rcx = (gpa & ~(tdx_level_size(level) - 1)) | (uint64_t)level |
	       (s == SEPT_PENDING ? ATTR_RCX_PENDING : 0);
	*rdx = 0;
	return TDG_RETURN;
}

enum tdg_outcome tdg_mem_page_attr_rd(struct tdx_vcpu *v, uint64_t gpa, uint64_t *status,
				      uint64_t *rcx, uint64_t *rdx)
{
	if (!v->in_td)
		abort();	/* a caller bug: TDCALL from outside the TD */
	seam_charge(SEAM_COST_TDCALL, 1);
	td_step_check(v);
	*rcx = *rdx = 0;
	enum tdg_outcome o = attr_rd(v, gpa, status, rcx, rdx);
	if (o != TDG_EXIT)
		o = tdcall_return(v, o, status);
	seam_event(SEAM_EV_RETURN, SEAM_COST_TDCALL, o == TDG_EXIT ? SEAM_EV_NO_STATUS : *status);
	return o;
}
