/* SPDX-License-Identifier: MIT */
/*
 * TDH.MEM.SEPT.ADD (leaf 3, versions 0 and 1): hang a new S-EPT page under
 * the entry at GPA/level (1..root).  With ALLOW_EXISTING (RDX bit 0) an
 * entry that is already NL_MAPPED is a success that leaves the new page
 * unused.  Only version 1 tells the caller which (tdh_mem_sept_add.c of the
 * 1.5 module): R8 out is NULL_PA when the page was used, the page with bit
 * 63 set when the table already existed, the page as given otherwise (an
 * error); R9..R11 (L2 pages, none here) come back as given.  Version 0
 * writes none of R8..R11.  Bit 63 of an input page is ignored.
 */
#include "internal.h"

#define HANDLE_RSVD (GENMASK64(11, 1) | GENMASK64(63, 52))

static uint64_t sept_add(struct tdx_module *m, struct tdx_regs *out, unsigned version,
			 uint64_t info, uint64_t handle, uint64_t r8)
{
	struct td_ctx c;
	struct pamt_lock pl = { 0 };
	uint64_t gpa, cur, *e;
	int level;
	uint64_t sept_hpa = r8 == TDX_NULL_PA ? r8 : r8 & ~BIT64(63);
	uint64_t r8_out = sept_hpa;	/* not processed */
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MEM_SEPT_ADD, 1);
	td_ctx_init(&c, m);
	uint64_t st = TDX_SUCCESS;
	if (handle & HANDLE_RSVD) {
		st = err(TDX_OPERAND_INVALID, OPND_RDX);
		goto out;
	}
	bool allow_existing = handle & TDR_HANDLE_ALLOW_EXISTING;
	st = mem_prologue(m, &c, out, TDH_MEM_SEPT_ADD, handle & TDR_HANDLE_HPA_MASK,
			  info, TDX_LEVEL_2M, -1, SEAM_SHARED, &gpa, &level, &e, &cur);
	if (st)
		goto out;
	enum sept_state s = septe_state(cur);
	if (s == SEPT_NL_MAPPED && (allow_existing || (version && sept_hpa == TDX_NULL_PA))) {
		if (sept_hpa != TDX_NULL_PA)
			r8_out = sept_hpa | SEPT_ADD_R8_EXISTED;
		goto out;
	}
	st = sept_check_state(SOP_SEPT_ADD, cur, level, out);
	if (st)
		goto out;
	if (sept_hpa == TDX_NULL_PA) {
		/* version 1 takes "no page" only for an existing table */
		if (version) {
			st = err(TDX_EPT_ENTRY_STATE_INCORRECT, OPND_RCX);
			sept_set_details(out, cur, level);
		} else {
			st = err(TDX_OPERAND_INVALID, OPND_R8);
		}
		goto out;
	}
	st = pamt_check_lock_free(m, sept_hpa, PAMT_4K, SEAM_LOCK_PAMT_PAGE, OPND_R8, &pl);
	if (st)
		goto out;
	/* all checks passed */
	physmem_zero_page(&m->pm, sept_hpa);	/* 512 FREE entries */
	pamt_set(pl.leaf, PT_EPT, c.td->id);
	td_child_add(c.td, 1);
	r8_out = TDX_NULL_PA;
	/* the module writes the entry locked and releases it on the way out */
	sept_entry_write_locked(e, septe_make(sept_rules[SOP_SEPT_ADD].next[s], sept_hpa));
out:
	pamt_unwalk(&pl);
	td_ctx_release(&c);
	if (version) {
		out->r8 = r8_out;
		out->r9 = out->r10 = out->r11 = TDX_NULL_PA;
	} else {
		out->r8 = r8;	/* version 0 leaves R8 as it came */
	}
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MEM_SEPT_ADD, st);
}

uint64_t tdh_mem_sept_add(struct tdx_module *m, struct tdx_regs *out, uint64_t info,
			  uint64_t handle, uint64_t sept_hpa)
{
	return sept_add(m, out, 0, info, handle, sept_hpa);
}

uint64_t tdh_mem_sept_add_v1(struct tdx_module *m, struct tdx_regs *out, uint64_t info,
			     uint64_t handle, uint64_t sept_hpa)
{
	return sept_add(m, out, 1, info, handle, sept_hpa);
}
