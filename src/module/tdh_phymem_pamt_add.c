/* SPDX-License-Identifier: MIT */
/*
 * TDH.PHYMEM.PAMT.ADD (leaf 58): Dynamic PAMT.  The host gives the module a
 * pair of 4K pages (RDX, R8; anywhere, not necessarily contiguous) to hold
 * the 4K PAMT of the 2M range in RCX (HPA | level 1).  From then on any 4K
 * page of the range can become a TD page.  No TD is involved.
 *
 * Checks and locks in the order of tdh_phymem_pamt_add.c of the 2025 module
 * (build 20250325): Dynamic PAMT enabled (else OPERAND_INVALID|RAX); RCX
 * well formed; RDX, then R8, 4K aligned below MAX_PA and inside a TDMR; the
 * range inside a TDMR; the range's 2M PAMT entry exclusive (OPERAND_BUSY|RCX),
 * PT_NDA at 2M (a 2M/1G page or an already added range: HPA_RANGE_NOT_FREE|RCX);
 * then the pair (pamt_pair_lock(): each page's own entry shared, free, and
 * not already a pair page; OPERAND_BUSY or PAGE_NOT_FREE with RDX or R8).
 */
#include "internal.h"

/* RCX of PAMT.ADD/REMOVE: level 1 in bits 2:0, bits 11:3 reserved, a 2M-aligned HPA. */
uint64_t pamt_range_operand_check(struct tdx_module *m, uint64_t info, uint64_t *range)
{
	*range = info & ~(SZ_4K - 1);
	if ((info & 7) != PAMT_2M || (info & 0xff8) || (*range & (SZ_2M - 1)) ||
	    (*range >> m->pm.max_pa))
		return err(TDX_OPERAND_INVALID, OPND_RCX);
	return TDX_SUCCESS;
}

uint64_t tdh_phymem_pamt_add(struct tdx_module *m, struct tdx_regs *out, uint64_t info,
			     uint64_t hpa0, uint64_t hpa1)
{
	struct pamt_lock pl = { 0 };
	struct pamt_pair pp = { .pl = { { 0 }, { 0 } } };
	uint64_t range;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_PHYMEM_PAMT_ADD, 1);
	uint64_t st = err(TDX_OPERAND_INVALID, OPND_RAX);
	if (!m->pm.dynamic_pamt)
		goto out;
	st = pamt_range_operand_check(m, info, &range);
	if (st)
		goto out;
	st = hpa_operand_check(m, hpa0, SZ_4K, OPND_RDX);
	if (st)
		goto out;
	st = hpa_operand_check(m, hpa1, SZ_4K, OPND_R8);
	if (st)
		goto out;
	/* the walk answers OPERAND_ADDR_RANGE_ERROR outside every TDMR */
	st = pamt_walk_lock(m, range, PAMT_2M, SEAM_EXCLUSIVE, SEAM_LOCK_PAMT_PAGE, &pl);
	if (st) {
		st = err(st, OPND_RCX);
		goto out;
	}
	if (pl.size != PAMT_2M || pl.leaf->type != PT_NDA) {
		st = err(TDX_HPA_RANGE_NOT_FREE, OPND_RCX);
		goto out;
	}
	st = pamt_pair_lock(m, range, hpa0, hpa1, OPND_RDX, OPND_R8, true, &pp);
	if (st)
		goto out;
	/* all checks passed */
	pamt_pair_commit(m, range, pl.leaf, &pp, PT_NDA, 0);
	pamt_pair_release(&pp);
out:
	pamt_unwalk(&pl);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_PHYMEM_PAMT_ADD, st);
}
