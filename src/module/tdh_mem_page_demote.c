/* SPDX-License-Identifier: MIT */
/*
 * TDH.MEM.PAGE.DEMOTE (leaf 15): split a 2M leaf into 512 4K leaves, or a
 * 1G leaf into 512 2M leaves, hung under a new S-EPT page (R8).  Mirrors
 * the 1.5 module's tdh_mem_page_demote.c (huge-pages.md section 2):
 *
 *   1. RDX reserved bits (OPERAND_INVALID|RDX; bit 0, L2 add mode, is not
 *      checked and does nothing without L2 VMs); then the common prologue,
 *      tree lock shared, walk to exactly the level.
 *   2. A leaf: MAPPED, BLOCKED, PENDING or PENDING_BLOCKED.
 *   3. The 2M ACCEPT progress counter is dropped: a half-zeroed 2M PENDING
 *      page comes out as 512 PENDING children (the guest re-accepts).
 *   4. Blocked and tracked (RUNNABLE only), epoch from the large page's
 *      PAMT entry.  With the proposed non-blocking resize an unblocked leaf
 *      may be split as it is: the children map the same pages with the same
 *      permissions, so no TLB holds anything the new table contradicts.
 *   5. R8: a free 4K page (OPERAND_INVALID / ADDR_RANGE_ERROR / BUSY /
 *      PAGE_METADATA_INCORRECT, all |R8), locked exclusive.
 *   6. The children are built in the new page, unblocked, stepped by 4K
 *      (or 2M).
 *   7. A pending host interrupt: INTERRUPTED_RESTARTABLE, nothing
 *      committed, RCX/RDX as they came in (unless the module has enhanced
 *      demote interruptibility).
 *   8. PAMT demote: the large PAMT entry exclusive (OPERAND_BUSY|RCX); the
 *      children get its type and owner with block epoch 0; it becomes
 *      PT_NDA.
 *      With Dynamic PAMT a 2M split also takes the pair R12/R13 that becomes
 *      the range's 4K PAMT (pamt_pair_lock(): OPERAND_INVALID /
 *      ADDR_RANGE_ERROR / BUSY / PAGE_NOT_FREE with operand R12 or R13).
 *   9. Commit: the entry becomes NL_MAPPED (no UNBLOCK needed after), the
 *      new page PT_EPT owned by the TD, child count + 1.
 * Outputs: RCX = RDX = 0.
 */
#include "internal.h"

#define HANDLE_RSVD (GENMASK64(11, 1) | GENMASK64(63, 52))

uint64_t tdh_mem_page_demote(struct tdx_module *m, struct tdx_regs *out, uint64_t info,
			     uint64_t handle, uint64_t sept_hpa, uint64_t pamt0, uint64_t pamt1)
{
	struct td_ctx c;
	struct pamt_lock large = { 0 }, page = { 0 };
	struct pamt_pair pair;
	bool pair_locked = false;
	uint64_t gpa, cur, *e;
	int level;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MEM_PAGE_DEMOTE, 1);
	td_ctx_init(&c, m);
	uint64_t st = TDX_SUCCESS;
	if (handle & HANDLE_RSVD) {
		st = err(TDX_OPERAND_INVALID, OPND_RDX);
		goto out;
	}
	st = mem_prologue(m, &c, out, TDH_MEM_PAGE_DEMOTE, handle & TDR_HANDLE_HPA_MASK, info,
			  TDX_LEVEL_2M, TDX_LEVEL_1G, SEAM_SHARED, &gpa, &level, &e, &cur);
	if (st)
		goto out;
	enum sept_state s = septe_state(cur);
	st = sept_check_state(SOP_PAGE_DEMOTE, cur, level, out);
	if (st)
		goto out;
	/* step 3: the children are built from state and HPA only, never the counter */
	uint64_t hpa = septe_hpa(cur);
	enum pamt_size lsize = (enum pamt_size)level;
	bool in_place = m->cfg.nonblocking_resize && !sept_state_is_blocked(s);
	if (!in_place) {
		/* the block epoch is read without the PAMT lock, as the module does */
		st = td_check_blocked_tracked(&c, out, cur, level,
					      pamt_entry_of(&m->pm, hpa, lsize)->bepoch, OPND_RCX);
		if (st)
			goto out;
	}
	st = pamt_check_lock_free(m, sept_hpa, PAMT_4K, SEAM_LOCK_PAMT_PAGE, OPND_R8, &page);
	if (st)
		goto out;

	/* step 6: nobody can see the new page yet, so plain writes */
	uint64_t *kids = physmem_page_words(&m->pm, sept_hpa);
	enum sept_state cs = sept_state_unblocked(s);
	uint64_t step = tdx_level_size(level - 1);
	for (int i = 0; i < TDX_ENTRIES_PER_PAGE; i++)
		kids[i] = septe_make(cs, hpa + (uint64_t)i * step);

	if (!m->cfg.enhanced_demote_interruptibility && host_interrupt_pending(m)) {
		/* step 7: the caller re-issues the same SEAMCALL */
		st = TDX_INTERRUPTED_RESTARTABLE;
		out->rcx = info;
		out->rdx = handle;
		goto out;
	}

	/* step 8 */
	st = pamt_lock_implicit(m, hpa, lsize, SEAM_EXCLUSIVE, &large);
	if (st) {
		st = err(st, OPND_RCX);
		goto out;
	}
	/*
	 * Dynamic PAMT: the 2M range's 4K PAMT comes into being from the pair
	 * in R12/R13 (pamt_demote() of the Dynamic PAMT build: R12 then R13,
	 * a busy pair page is OPERAND_BUSY|R12 or |R13).
	 */
	bool dpamt = level == TDX_LEVEL_2M && m->cfg.dynamic_pamt;
	if (dpamt) {
		st = pamt_pair_operands_check(m, pamt0, pamt1, OPND_R12, OPND_R13);
		if (st)
			goto out;
		st = pamt_pair_lock(m, hpa, pamt0, pamt1, OPND_R12, OPND_R13, false, &pair);
		if (st)
			goto out;
		pair_locked = true;
	}
	/* all checks passed */
	unsigned type = large.leaf->type, owner = large.leaf->owner;
	if (dpamt) {
		/* the range's entry becomes PT_PAMT over 512 children like the parent */
		pamt_pair_commit(m, hpa, large.leaf, &pair, (enum pamt_type)type, owner);
		pamt_pair_release(&pair);
		pair_locked = false;
	} else {
		struct pamt_entry *pk;
		if (level == TDX_LEVEL_2M)
			pk = physmem_chunk2m(&m->pm, hpa, true)->pamt4k;
		else
			pk = physmem_chunk1g(&m->pm, hpa, true)->pamt2m;
		for (int i = 0; i < TDX_ENTRIES_PER_PAGE; i++)
			pamt_set(&pk[i], (enum pamt_type)type, owner);
		pamt_set(large.leaf, PT_NDA, 0);
	}

	/* step 9 */
	pamt_set(page.leaf, PT_EPT, c.td->id);
	td_child_add(c.td, 1);
	sept_entry_write_unlock(e, septe_make(sept_rules[SOP_PAGE_DEMOTE].next[s], sept_hpa));
	c.entry = NULL;
out:
	if (pair_locked)
		pamt_pair_abort(m, &pair);
	pamt_unwalk(&large);
	pamt_unwalk(&page);
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MEM_PAGE_DEMOTE, st);
}
