/* SPDX-License-Identifier: MIT */
/*
 * TDH.MEM.PAGE.REMOVE (leaf 29): remove a private leaf (4K, 2M or 1G).  Once
 * the TD is runnable the leaf must be blocked and its block epoch tracked.
 * RCX out: the removed page's HPA.  Contents are left as they are; the host
 * clears the page before reuse.
 */
#include "internal.h"

uint64_t tdh_mem_page_remove(struct tdx_module *m, struct tdx_regs *out, uint64_t info,
			     uint64_t tdr)
{
	struct td_ctx c;
	struct pamt_lock pl = { 0 };
	uint64_t gpa, cur, *e;
	int level;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MEM_PAGE_REMOVE, 1);
	uint64_t st = mem_prologue(m, &c, out, TDH_MEM_PAGE_REMOVE, tdr, info, TDX_LEVEL_4K,
				   TDX_LEVEL_1G, SEAM_SHARED, &gpa, &level, &e, &cur);
	if (st)
		goto out;
	enum sept_state s = septe_state(cur);
	st = sept_check_state(SOP_PAGE_REMOVE, cur, level, out);
	if (st)
		goto out;
	uint64_t hpa = septe_hpa(cur);
	st = pamt_lock_implicit(m, hpa, (enum pamt_size)level, SEAM_EXCLUSIVE, &pl);
	if (st) {
		st = err(st, OPND_RCX);
		goto out;
	}
	st = td_check_blocked_tracked(&c, out, cur, level, pl.leaf->bepoch, OPND_RCX);
	if (st)
		goto out;
	/* all checks passed */
	sept_entry_write_unlock(e, septe_make(sept_rules[SOP_PAGE_REMOVE].next[s], 0));
	c.entry = NULL;
	td_child_add(c.td, -(1ll << (9 * level)));
	pamt_set(pl.leaf, PT_NDA, 0);
	out->rcx = hpa;
out:
	pamt_unwalk(&pl);
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MEM_PAGE_REMOVE, st);
}
