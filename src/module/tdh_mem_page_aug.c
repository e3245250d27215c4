/* SPDX-License-Identifier: MIT */
/*
 * TDH.MEM.PAGE.AUG (leaf 6): add a PENDING page (4K or 2M) to a running or
 * initialized TD.  The guest must TDG.MEM.PAGE.ACCEPT it, which zeroes it.
 */
#include "internal.h"

uint64_t tdh_mem_page_aug(struct tdx_module *m, struct tdx_regs *out, uint64_t info,
			  uint64_t tdr, uint64_t hpa)
{
	struct td_ctx c;
	struct pamt_lock pl = { 0 };
	uint64_t gpa, cur, *e;
	int level;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MEM_PAGE_AUG, 1);
	uint64_t st = mem_prologue_inline(m, &c, out, TDH_MEM_PAGE_AUG, tdr, info, TDX_LEVEL_4K,
					  TDX_LEVEL_2M, SEAM_SHARED, &gpa, &level, &e, &cur);
	if (st)
		goto out;
	enum sept_state s = septe_state(cur);
	st = sept_check_state(SOP_PAGE_AUG, cur, level, out);
	if (st)
		goto out;
	st = pamt_check_lock_free(m, hpa, (enum pamt_size)level, SEAM_LOCK_PAMT_PAGE,
				  OPND_R8, &pl);
	if (st)
		goto out;
	/*
	 * All checks passed.  The page is the TD's (PAMT) before the entry that
	 * maps it is visible: publishing the entry first let another vCPU's
	 * ACCEPT and its access use a page the TD did not own yet (found by
	 * the exhaustive search of accept-race-4k at one preemption).
	 */
	td_child_add(c.td, 1ll << (9 * level));
	pamt_set(pl.leaf, PT_REG, c.td->id);
	sept_entry_write_unlock(e, septe_make(sept_rules[SOP_PAGE_AUG].next[s], hpa));
	c.entry = NULL;
out:
	pamt_unwalk(&pl);
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MEM_PAGE_AUG, st);
}
