/* SPDX-License-Identifier: MIT */
/*
 * TDH.MNG.ADDCX (leaf 1): add one TDCS page.  Page 3 becomes the root of the
 * S-EPT (every entry FREE); the TDCS counts as allocated at 6 pages.
 */
#include "internal.h"

uint64_t tdh_mng_addcx(struct tdx_module *m, struct tdx_regs *out, uint64_t tdcx, uint64_t tdr)
{
	struct td_ctx c;
	struct pamt_lock pl = { 0 };
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MNG_ADDCX, 1);
	uint64_t st = td_lock_tdr(m, &c, tdr, SEAM_EXCLUSIVE, OPND_RDX);
	if (st)
		goto out;
	struct tdx_td *td = c.td;
	if (td->fatal) {
		st = TDX_TD_FATAL;
		goto out;
	}
	if (td->lifecycle != TD_KEYS_CONFIGURED) {
		st = TDX_TD_KEYS_NOT_CONFIGURED;
		goto out;
	}
	uint32_t idx = td->num_tdcx;
	if (idx >= TDX_TDCS_PAGES) {
		st = TDX_TDCX_NUM_INCORRECT;
		goto out;
	}
	st = pamt_check_lock_free(m, tdcx, PAMT_4K, SEAM_LOCK_PAMT_PAGE, OPND_RCX, &pl);
	if (st)
		goto out;
	/* all checks passed */
	physmem_zero_page(&m->pm, tdcx);	/* S-EPT root: 512 FREE entries */
	td->tdcx[idx] = tdcx;
	if (idx == TDX_TDCS_SEPT_ROOT_IDX)
		td->root = tdcx;
	td->num_tdcx = idx + 1;
	td_child_add(td, 1);
	pamt_set(pl.leaf, PT_TDCX, td->id);
out:
	pamt_unwalk(&pl);
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MNG_ADDCX, st);
}
