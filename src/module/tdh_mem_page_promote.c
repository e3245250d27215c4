/* SPDX-License-Identifier: MIT */
/*
 * TDH.MEM.PAGE.PROMOTE (leaf 23, versions 0 and 1): merge the 512 leaves
 * under a non-leaf entry back into one 2M (or 1G) leaf and free the S-EPT
 * page.  Mirrors the 1.5 module's tdh_mem_page_promote.c (huge-pages.md
 * section 2):
 *
 *   1. Prologue (tree lock shared); the entry NL_MAPPED or NL_BLOCKED.
 *   2. The S-EPT page's 4K PAMT entry exclusive (OPERAND_BUSY|RCX).
 *   3. Blocked and tracked (RUNNABLE only): NL_BLOCKED, epoch from the
 *      S-EPT page's PAMT entry.
 *   4. Every child host-locked (OPERAND_BUSY|RCX, host priority set on
 *      that child, parent's details).  Child 0 MAPPED or PENDING with an
 *      HPA aligned to the new size; child i equal to child 0 with the HPA
 *      advanced by i pages.  Else EPT_INVALID_PROMOTE_CONDITIONS|RCX.
 *   5. A pending host interrupt: INTERRUPTED_RESTARTABLE, nothing committed.
 *   6. PAMT promote: the large entry (PT_NDA) takes child 0's type and
 *      owner, the children become PT_NDA.
 *      With Dynamic PAMT the range's pair is returned in R12/R13.
 *   7. Commit: the entry becomes a copy of child 0 (an unblocked leaf),
 *      child count - 1, the S-EPT page PT_NDA and returned in RCX.
 * A version above 1 is refused (OPERAND_INVALID|RAX).  Version 1 makes the
 * same checks and also returns the freed L2 S-EPT pages in R9..R11: NULL_PA
 * without L2 VMs.
 */
#include "internal.h"

uint64_t tdh_mem_page_promote(struct tdx_module *m, struct tdx_regs *out, unsigned version,
			      uint64_t info, uint64_t tdr)
{
	struct td_ctx c;
	struct pamt_lock tpl = { 0 }, large = { 0 };
	uint64_t gpa, cur, *e, *kids = NULL;
	int level, nlocked = 0;
	out_clear(out);
	if (version)	/* freed L2 S-EPT pages: none without L2 VMs */
		out->r9 = out->r10 = out->r11 = TDX_NULL_PA;
	seam_charge(SEAM_COST_SEAMCALL + TDH_MEM_PAGE_PROMOTE, 1);
	td_ctx_init(&c, m);
	uint64_t st = TDX_SUCCESS;
	if (version > 1) {
		st = err(TDX_OPERAND_INVALID, OPND_RAX);
		goto out;
	}
	st = mem_prologue(m, &c, out, TDH_MEM_PAGE_PROMOTE, tdr, info, TDX_LEVEL_2M,
			  TDX_LEVEL_1G, SEAM_SHARED, &gpa, &level, &e, &cur);
	if (st)
		goto out;
	st = sept_check_state(SOP_PAGE_PROMOTE, cur, level, out);
	if (st)
		goto out;
	uint64_t table = septe_hpa(cur);
	st = pamt_lock_implicit(m, table, PAMT_4K, SEAM_EXCLUSIVE, &tpl);
	if (st) {
		st = err(st, OPND_RCX);
		goto out;
	}
	st = td_check_blocked_tracked(&c, out, cur, level, tpl.leaf->bepoch, OPND_RCX);
	if (st)
		goto out;

	/* step 4: host-lock every child, as td_lock_entry_host() locks one */
	kids = physmem_page_words(&m->pm, table);
	for (; nlocked < TDX_ENTRIES_PER_PAGE; nlocked++) {
		uint64_t *k = &kids[nlocked];
		if (!seam_bit_trylock(k, SEPTE_LOCK, SEAM_LOCK_SEPT_ENTRY)) {
			seam_fetch_or64(k, SEPTE_HP);
			st = err(TDX_OPERAND_BUSY, OPND_RCX);
			sept_set_details(out, cur, level);
			goto out;
		}
		seam_fetch_and64(k, ~SEPTE_HP);
	}
	/*
	 * The children are ours now: only a losing host can still touch them,
	 * and only their host-priority bit.  Plain reads, masked.
	 */
	const uint64_t lockbits = SEPTE_LOCK | SEPTE_HP;
	uint64_t c0 = kids[0] & ~lockbits;
	enum sept_state cs = septe_state(c0);
	uint64_t base = septe_hpa(c0), step = tdx_level_size(level - 1);
	bool ok = (cs == SEPT_MAPPED || cs == SEPT_PENDING) &&
		  !(base & (tdx_level_size(level) - 1));
	for (int i = 0; ok && i < TDX_ENTRIES_PER_PAGE; i++)
		ok = (kids[i] & ~lockbits) == septe_make(cs, base + (uint64_t)i * step);
	if (!ok) {
		st = err(TDX_EPT_INVALID_PROMOTE_CONDITIONS, OPND_RCX);
		sept_set_details(out, cur, level);
		goto out;
	}
	if (host_interrupt_pending(m)) {
		st = TDX_INTERRUPTED_RESTARTABLE;
		out->rcx = info;
		out->rdx = tdr;
		goto out;
	}
	/* step 6: the large PAMT entry, free since its children were in use */
	st = pamt_walk_lock(m, base, (enum pamt_size)level, SEAM_EXCLUSIVE, SEAM_LOCK_PAMT_PAGE,
			    &large);
	if (st) {
		st = err(st, OPND_RCX);
		goto out;
	}
	/* with Dynamic PAMT a 2M range whose pages are in use holds a pair */
	bool dpamt = level == TDX_LEVEL_2M && m->cfg.dynamic_pamt;
	if (large.size != (enum pamt_size)level || large.leaf->type != (dpamt ? PT_PAMT : PT_NDA)) {
		st = err(TDX_PAGE_METADATA_INCORRECT, OPND_RCX);
		goto out;
	}
	struct pamt_entry *pk;
	if (level == TDX_LEVEL_2M)
		pk = physmem_chunk2m(&m->pm, base, true)->pamt4k;
	else
		pk = physmem_chunk1g(&m->pm, base, true)->pamt2m;
	/* all checks passed */
	if (dpamt) {
		/* the pair goes back to the host in R12/R13 */
		uint64_t pair[2];
		pamt_pair_take_back(m, base, large.leaf, (enum pamt_type)pk[0].type, pk[0].owner,
				    pair);
		out->r12 = pair[0];
		out->r13 = pair[1];
	} else {
		pamt_set(large.leaf, (enum pamt_type)pk[0].type, pk[0].owner);
		for (int i = 0; i < TDX_ENTRIES_PER_PAGE; i++)
			pamt_set(&pk[i], PT_NDA, 0);
	}
	c.td->sept_gen++;	/* the table goes away */
	sept_entry_write_unlock(e, septe_make(cs, base));
	c.entry = NULL;
	td_child_add(c.td, -1);
	/* the children go with their page: their locks end here, with no release write */
	for (int i = 0; i < TDX_ENTRIES_PER_PAGE; i++)
		seam__lock_event(SEAM_LOCK_SEPT_ENTRY, &kids[i], SEAM_EXCLUSIVE, false);
	nlocked = 0;
	physmem_zero_page(&m->pm, table);
	pamt_set(tpl.leaf, PT_NDA, 0);
	out->rcx = table;
out:
	while (nlocked > 0) {
		nlocked--;
		seam_bit_unlock(&kids[nlocked], SEPTE_LOCK, SEAM_LOCK_SEPT_ENTRY);
	}
	pamt_unwalk(&large);
	pamt_unwalk(&tpl);
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MEM_PAGE_PROMOTE, st);
}
