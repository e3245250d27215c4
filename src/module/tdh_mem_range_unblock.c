/* SPDX-License-Identifier: MIT */
/*
 * TDH.MEM.RANGE.UNBLOCK (leaf 39): undo RANGE.BLOCK.  Once the TD is
 * runnable, TLB tracking of the block epoch must be complete
 * (TLB_TRACKING_NOT_DONE|SEPT_TREE: this leaf reports the tree, not RCX).
 */
#include "internal.h"

uint64_t tdh_mem_range_unblock(struct tdx_module *m, struct tdx_regs *out, uint64_t info,
			       uint64_t tdr)
{
	struct td_ctx c;
	uint64_t gpa, cur, *e;
	int level;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MEM_RANGE_UNBLOCK, 1);
	uint64_t st = mem_prologue(m, &c, out, TDH_MEM_RANGE_UNBLOCK, tdr, info, TDX_LEVEL_4K,
				   -1, SEAM_EXCLUSIVE, &gpa, &level, &e, &cur);
	if (st)
		goto out;
	enum sept_state s = septe_state(cur);
	st = sept_check_state(SOP_RANGE_UNBLOCK, cur, level, out);
	if (st)
		goto out;
	uint64_t hpa = septe_hpa(cur);
	enum pamt_size size = sept_state_is_leaf(s) ? (enum pamt_size)level : PAMT_4K;
	st = td_check_blocked_tracked(&c, out, cur, level,
				      pamt_entry_of(&m->pm, hpa, size)->bepoch, OPND_SEPT_TREE);
	if (st)
		goto out;
	/* all checks passed */
	if (!sept_state_is_leaf(s))
		c.td->sept_gen++;
	sept_entry_write_unlock(e, septe_make(sept_rules[SOP_RANGE_UNBLOCK].next[s], hpa));
	c.entry = NULL;
out:
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MEM_RANGE_UNBLOCK, st);
}
