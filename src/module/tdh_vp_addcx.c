/* SPDX-License-Identifier: MIT */
/* TDH.VP.ADDCX (leaf 4): add one TDVPS page to an uninitialized vCPU. */
#include "internal.h"

uint64_t tdh_vp_addcx(struct tdx_module *m, struct tdx_regs *out, uint64_t tdcx, uint64_t tdvpr)
{
	struct td_ctx c;
	struct pamt_lock pl = { 0 };
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_VP_ADDCX, 1);
	uint64_t st = td_lock_vcpu(m, &c, tdvpr, SEAM_EXCLUSIVE, OPND_RDX);
	if (st)
		goto out;
	st = td_check_state(&c, TDH_VP_ADDCX, SEAM_SHARED);
	if (st)
		goto out;
	struct tdx_vcpu *v = c.vcpu;
	if (v->initialized) {
		st = TDX_VCPU_STATE_INCORRECT;
		goto out;
	}
	if (1 + v->num_tdcx >= TDX_TDVPS_PAGES) {
		st = TDX_TDCX_NUM_INCORRECT;
		goto out;
	}
	st = pamt_check_lock_free(m, tdcx, PAMT_4K, SEAM_LOCK_PAMT_PAGE, OPND_RCX, &pl);
	if (st)
		goto out;
	/* all checks passed */
	physmem_zero_page(&m->pm, tdcx);
	v->tdcx[v->num_tdcx++] = tdcx;
	td_child_add(c.td, 1);
	pamt_set(pl.leaf, PT_TDCX, c.td->id);
out:
	pamt_unwalk(&pl);
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_VP_ADDCX, st);
}
