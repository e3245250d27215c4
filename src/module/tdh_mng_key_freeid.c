/* SPDX-License-Identifier: MIT */
/* TDH.MNG.KEY.FREEID (leaf 20): release the key of a blocked, written-back TD. */
#include "internal.h"

uint64_t tdh_mng_key_freeid(struct tdx_module *m, struct tdx_regs *out, uint64_t tdr)
{
	struct td_ctx c;
	bool kot_locked = false;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MNG_KEY_FREEID, 1);
	uint64_t st = td_lock_tdr(m, &c, tdr, SEAM_EXCLUSIVE, OPND_RCX);
	if (st)
		goto out;
	struct tdx_td *td = c.td;
	if (td->lifecycle != TD_BLOCKED) {
		st = TDX_LIFECYCLE_STATE_INCORRECT;
		goto out;
	}
	if (!seam_sharex_try(&m->kot_lock, SEAM_EXCLUSIVE, SEAM_LOCK_KOT)) {
		st = err(TDX_OPERAND_BUSY, OPND_KOT);
		goto out;
	}
	kot_locked = true;
	if (m->hkid_wb_pending[td->hkid]) {
		st = TDX_WBCACHE_NOT_COMPLETE;
		goto out;
	}
	/* all checks passed */
	m->hkid_state[td->hkid] = HKID_FREE;
	td->lifecycle = TD_TEARDOWN;
out:
	if (kot_locked)
		seam_sharex_release(&m->kot_lock, SEAM_EXCLUSIVE, SEAM_LOCK_KOT);
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MNG_KEY_FREEID, st);
}
