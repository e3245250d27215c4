/* SPDX-License-Identifier: MIT */
/*
 * TDH.MNG.VPFLUSHDONE (leaf 19): check that every vCPU was flushed, then
 * block the TD and mark its key as needing a cache write-back.
 */
#include "internal.h"

uint64_t tdh_mng_vpflushdone(struct tdx_module *m, struct tdx_regs *out, uint64_t tdr)
{
	struct td_ctx c;
	bool kot_locked = false;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MNG_VPFLUSHDONE, 1);
	uint64_t st = td_lock_tdr(m, &c, tdr, SEAM_EXCLUSIVE, OPND_RCX);
	if (st)
		goto out;
	if (!seam_sharex_try(&m->kot_lock, SEAM_EXCLUSIVE, SEAM_LOCK_KOT)) {
		st = err(TDX_OPERAND_BUSY, OPND_KOT);
		goto out;
	}
	kot_locked = true;
	struct tdx_td *td = c.td;
	if (td->lifecycle != TD_KEYS_CONFIGURED && td->lifecycle != TD_HKID_ASSIGNED) {
		st = TDX_LIFECYCLE_STATE_INCORRECT;
		goto out;
	}
	if (td->num_tdcx >= TDX_TDCS_PAGES && td->op_state != OP_STATE_UNINITIALIZED &&
	    td->num_assoc_vcpus != 0) {
		st = TDX_FLUSHVP_NOT_DONE;
		goto out;
	}
	/* all checks passed */
	m->hkid_wb_pending[td->hkid] = 1;
	m->hkid_state[td->hkid] = HKID_FLUSHED;
	td->lifecycle = TD_BLOCKED;
out:
	if (kot_locked)
		seam_sharex_release(&m->kot_lock, SEAM_EXCLUSIVE, SEAM_LOCK_KOT);
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MNG_VPFLUSHDONE, st);
}
