/* SPDX-License-Identifier: MIT */
/*
 * TDH.MEM.RANGE.BLOCK (leaf 7): make a leaf or a non-leaf entry
 * inaccessible and record the TD epoch in the PAMT of the page it maps (a
 * leaf's page, or a non-leaf's S-EPT page).  Does not flush TLBs: the host
 * follows with MEM.TRACK and kicks the vCPUs.
 */
#include "internal.h"

uint64_t tdh_mem_range_block(struct tdx_module *m, struct tdx_regs *out, uint64_t info,
			     uint64_t tdr)
{
	struct td_ctx c;
	uint64_t gpa, cur, *e;
	int level;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MEM_RANGE_BLOCK, 1);
	uint64_t st = mem_prologue(m, &c, out, TDH_MEM_RANGE_BLOCK, tdr, info, TDX_LEVEL_4K,
				   -1, SEAM_EXCLUSIVE, &gpa, &level, &e, &cur);
	if (st)
		goto out;
	enum sept_state s = septe_state(cur);
	if (!sept_allowed(SOP_RANGE_BLOCK, s)) {
		st = err(sept_state_is_blocked(s) ? TDX_GPA_RANGE_ALREADY_BLOCKED
						  : TDX_EPT_ENTRY_STATE_INCORRECT, OPND_RCX);
		sept_set_details(out, cur, level);
		goto out;
	}
	/* all checks passed */
	uint64_t hpa = septe_hpa(cur);
	if (!sept_state_is_leaf(s))
		c.td->sept_gen++;	/* a table stops being walkable */
	/*
	 * As the module: publish the blocked entry (clearing host priority),
	 * record the block epoch, then release the entry lock plainly.
	 */
	sept_entry_write_locked(e, septe_make(sept_rules[SOP_RANGE_BLOCK].next[s], hpa));
	enum pamt_size size = sept_state_is_leaf(s) ? (enum pamt_size)level : PAMT_4K;
	pamt_entry_of(&m->pm, hpa, size)->bepoch = seam_load64(&c.td->td_epoch);
out:
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MEM_RANGE_BLOCK, st);
}
