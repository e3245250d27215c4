/* SPDX-License-Identifier: MIT */
/*
 * TDH.MEM.PAGE.ADD (leaf 2): copy a 4K source page into a new private page
 * at build time and extend MRTD with the GPA (not the contents: that is
 * MR.EXTEND's job).  The TDR is taken exclusive, which serialises every
 * other call on the TD, so no S-EPT lock is taken.
 *
 * The source is checked as shared_hpa_check_with_pwr_2_alignment() in the
 * module's helpers.c does: 4K aligned, below MAX_PA, outside SEAMRR, HKID
 * bits in the shared range; anything else is OPERAND_INVALID|R9.  Its PAMT
 * type is not looked at: a TD page passes (on hardware the copy then reads
 * ciphertext through the shared key; the simulator copies its bytes).  The
 * simulator has neither SEAMRR nor HKID bits in addresses; it refuses a
 * source beyond its memory instead, which it has no bytes for.
 */
#include "internal.h"

static bool source_ok(struct tdx_module *m, uint64_t src)
{
	return !(src & (SZ_4K - 1)) && !(src >> m->pm.max_pa) && physmem_valid(&m->pm, src);
}

uint64_t tdh_mem_page_add(struct tdx_module *m, struct tdx_regs *out, uint64_t info,
			  uint64_t tdr, uint64_t hpa, uint64_t src)
{
	struct td_ctx c;
	struct pamt_lock pl = { 0 };
	uint64_t cur, *e;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MEM_PAGE_ADD, 1);
	uint64_t st = td_lock_tdr(m, &c, tdr, SEAM_EXCLUSIVE, OPND_RDX);
	if (st)
		goto out;
	st = td_check_state(&c, TDH_MEM_PAGE_ADD, LOCK_NONE);
	if (st)
		goto out;
	st = gpa_info_check(info, TDX_LEVEL_4K, TDX_LEVEL_4K);
	if (st)
		goto out;
	uint64_t gpa = info & GPA_INFO_GPA_MASK;
	st = td_gpa_check(c.td, gpa);
	if (st)
		goto out;
	st = sept_lookup_walk(&c, gpa, TDX_LEVEL_4K, LOCK_NONE, out, &e, &cur);
	if (st)
		goto out;
	enum sept_state s = septe_state(cur);
	if (!sept_allowed(SOP_PAGE_ADD, s)) {
		st = err(TDX_EPT_ENTRY_STATE_INCORRECT, OPND_RCX);
		sept_set_details(out, cur, TDX_LEVEL_4K);
		goto out;
	}
	if (!source_ok(m, src)) {
		st = err(TDX_OPERAND_INVALID, OPND_R9);
		goto out;
	}
	st = pamt_check_lock_free(m, hpa, PAMT_4K, SEAM_LOCK_PAMT_PAGE, OPND_R8, &pl);
	if (st)
		goto out;
	/* all checks passed */
	physmem_copy_page(&m->pm, hpa, src);
	td_child_add(c.td, 1);
	pamt_set(pl.leaf, PT_REG, c.td->id);	/* the TD's before the entry maps it */
	seam_store64(e, septe_make(sept_rules[SOP_PAGE_ADD].next[s], hpa));
	mrtd_extend_block(c.td, "MEM.PAGE.ADD", gpa);
out:
	pamt_unwalk(&pl);
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MEM_PAGE_ADD, st);
}
