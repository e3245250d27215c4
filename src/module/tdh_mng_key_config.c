/* SPDX-License-Identifier: MIT */
/*
 * TDH.MNG.KEY.CONFIG (leaf 8): program the TD's key.  The simulated platform
 * has one package, so one call configures the key everywhere.
 */
#include "internal.h"

uint64_t tdh_mng_key_config(struct tdx_module *m, struct tdx_regs *out, uint64_t tdr)
{
	struct td_ctx c;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MNG_KEY_CONFIG, 1);
	uint64_t st = td_lock_tdr(m, &c, tdr, SEAM_EXCLUSIVE, OPND_RCX);
	if (st)
		goto out;
	if (c.td->fatal) {
		st = TDX_TD_FATAL;
		goto out;
	}
	if (c.td->lifecycle != TD_HKID_ASSIGNED) {
		st = TDX_LIFECYCLE_STATE_INCORRECT;
		goto out;
	}
	c.td->lifecycle = TD_KEYS_CONFIGURED;
out:
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MNG_KEY_CONFIG, st);
}
