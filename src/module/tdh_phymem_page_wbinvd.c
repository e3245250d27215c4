/* SPDX-License-Identifier: MIT */
/*
 * TDH.PHYMEM.PAGE.WBINVD (leaf 41): write back and invalidate one reclaimed
 * page's cache lines.  The page must be PT_NDA; nothing else changes.
 */
#include "internal.h"

uint64_t tdh_phymem_page_wbinvd(struct tdx_module *m, struct tdx_regs *out, uint64_t hpa)
{
	struct pamt_lock pl = { 0 };
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_PHYMEM_PAGE_WBINVD, 1);
	uint64_t st = pamt_check_lock(m, hpa, PAMT_4K, PT_NDA, SEAM_SHARED,
				      SEAM_LOCK_PAMT_PAGE, OPND_RCX, &pl);
	if (st)
		return seam_ret(SEAM_COST_SEAMCALL + TDH_PHYMEM_PAGE_WBINVD, st);
	pamt_unwalk(&pl);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_PHYMEM_PAGE_WBINVD, TDX_SUCCESS);
}
