/* SPDX-License-Identifier: MIT */
/* TDH.MR.FINALIZE (leaf 17): finish MRTD; the TD becomes RUNNABLE. */
#include "internal.h"

uint64_t tdh_mr_finalize(struct tdx_module *m, struct tdx_regs *out, uint64_t tdr)
{
	struct td_ctx c;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MR_FINALIZE, 1);
	uint64_t st = td_lock_tdr(m, &c, tdr, SEAM_EXCLUSIVE, OPND_RCX);
	if (st)
		goto out;
	st = td_check_state(&c, TDH_MR_FINALIZE, LOCK_NONE);
	if (st)
		goto out;
	if (c.td->num_vcpus == 0) {
		st = TDX_NO_VCPUS;
		goto out;
	}
	/* all checks passed */
	mrtd_finalize(c.td);
	c.td->op_state = OP_STATE_RUNNABLE;
out:
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MR_FINALIZE, st);
}
