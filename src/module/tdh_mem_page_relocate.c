/* SPDX-License-Identifier: MIT */
/*
 * TDH.MEM.PAGE.RELOCATE (leaf 5): move a private 4K page to another
 * physical page (R8), as the host does to compact memory.  Mirrors the 1.5
 * module's tdh_mem_page_relocate.c (huge-pages.md section 2):
 *
 *   1. Prologue (tree lock shared, level 0 only); a leaf in MAPPED,
 *      BLOCKED, PENDING or PENDING_BLOCKED.
 *   2. R8 equal to the current HPA: OPERAND_INVALID|R8, before R8's own
 *      checks.
 *   3. The current page's PAMT entry exclusive (OPERAND_BUSY|RCX); blocked
 *      and tracked (RUNNABLE only).
 *   4. R8 a free 4K page (the four checks DEMOTE makes of its R8).
 *   5. Content copied unless the page is PENDING (ACCEPT will zero it);
 *      the old page PT_NDA, the new one PT_REG owned by the TD with block
 *      epoch 0; the entry takes the new HPA, unblocked.
 * Outputs: RCX = the old HPA.  Not interruptible; child count unchanged.
 */
#include "internal.h"

uint64_t tdh_mem_page_relocate(struct tdx_module *m, struct tdx_regs *out, uint64_t info,
			       uint64_t tdr, uint64_t target)
{
	struct td_ctx c;
	struct pamt_lock opl = { 0 }, npl = { 0 };
	uint64_t gpa, cur, *e;
	int level;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MEM_PAGE_RELOCATE, 1);
	uint64_t st = mem_prologue(m, &c, out, TDH_MEM_PAGE_RELOCATE, tdr, info, TDX_LEVEL_4K,
				   TDX_LEVEL_4K, SEAM_SHARED, &gpa, &level, &e, &cur);
	if (st)
		goto out;
	enum sept_state s = septe_state(cur);
	st = sept_check_state(SOP_PAGE_RELOCATE, cur, level, out);
	if (st)
		goto out;
	uint64_t old = septe_hpa(cur);
	if (target == old) {
		st = err(TDX_OPERAND_INVALID, OPND_R8);
		goto out;
	}
	st = pamt_lock_implicit(m, old, PAMT_4K, SEAM_EXCLUSIVE, &opl);
	if (st) {
		st = err(st, OPND_RCX);
		goto out;
	}
	st = td_check_blocked_tracked(&c, out, cur, level, opl.leaf->bepoch, OPND_RCX);
	if (st)
		goto out;
	st = pamt_check_lock_free(m, target, PAMT_4K, SEAM_LOCK_PAMT_PAGE, OPND_R8, &npl);
	if (st)
		goto out;
	/* all checks passed */
	if (sept_state_unblocked(s) != SEPT_PENDING)
		physmem_copy_page(&m->pm, target, old);
	pamt_set(npl.leaf, PT_REG, c.td->id);
	pamt_set(opl.leaf, PT_NDA, 0);
	sept_entry_write_unlock(e, septe_make(sept_rules[SOP_PAGE_RELOCATE].next[s], target));
	c.entry = NULL;
	out->rcx = old;
out:
	pamt_unwalk(&npl);
	pamt_unwalk(&opl);
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MEM_PAGE_RELOCATE, st);
}
