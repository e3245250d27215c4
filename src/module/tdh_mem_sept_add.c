/* SPDX-License-Identifier: MIT */
/*
 * TDH.MEM.SEPT.ADD (leaf 3): hang a new S-EPT page under the entry at
 * GPA/level (1..root).  With ALLOW_EXISTING (RDX bit 0) an entry that is
 * already NL_MAPPED is a success that leaves the new page unused (R8 out has
 * bit 63 set).
 */
#include "internal.h"

#define HANDLE_RSVD (GENMASK64(11, 1) | GENMASK64(63, 52))

uint64_t tdh_mem_sept_add(struct tdx_module *m, struct tdx_regs *out, uint64_t info,
			  uint64_t handle, uint64_t sept_hpa)
{
	struct td_ctx c;
	struct pamt_lock pl = { 0 };
	uint64_t gpa, cur, *e;
	int level;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MEM_SEPT_ADD, 1);
	if (handle & HANDLE_RSVD)
		return seam_ret(SEAM_COST_SEAMCALL + TDH_MEM_SEPT_ADD,
				err(TDX_OPERAND_INVALID, OPND_RDX));
	bool allow_existing = handle & TDR_HANDLE_ALLOW_EXISTING;
	uint64_t st = mem_prologue(m, &c, out, TDH_MEM_SEPT_ADD, handle & TDR_HANDLE_HPA_MASK,
				   info, TDX_LEVEL_2M, -1, SEAM_SHARED, &gpa, &level, &e, &cur);
	if (st)
		goto out;
	enum sept_state s = septe_state(cur);
	if (s == SEPT_NL_MAPPED && allow_existing) {
		out->r8 = sept_hpa | SEPT_ADD_R8_EXISTED;
		goto out;
	}
	if (!sept_allowed(SOP_SEPT_ADD, s)) {
		st = err(TDX_EPT_ENTRY_STATE_INCORRECT, OPND_RCX);
		sept_set_details(out, cur, level);
		goto out;
	}
	st = pamt_check_lock_free(m, sept_hpa, PAMT_4K, SEAM_LOCK_PAMT_PAGE, OPND_R8, &pl);
	if (st)
		goto out;
	/* all checks passed */
	physmem_zero_page(&m->pm, sept_hpa);	/* 512 FREE entries */
	pamt_set(pl.leaf, PT_EPT, c.td->id);
	td_child_add(c.td, 1);
	/* the module writes the entry locked and releases it on the way out */
	sept_entry_write_locked(e, septe_make(sept_rules[SOP_SEPT_ADD].next[s], sept_hpa));
out:
	pamt_unwalk(&pl);
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MEM_SEPT_ADD, st);
}
