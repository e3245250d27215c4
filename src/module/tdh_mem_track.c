/* SPDX-License-Identifier: MIT */
/*
 * TDH.MEM.TRACK (leaf 38): start a new TLB epoch.  Refused while vCPUs that
 * entered two epochs ago are still inside (PREVIOUS_TLB_EPOCH_BUSY).
 * Contends with VP.ENTER on the epoch lock.
 */
#include "internal.h"

uint64_t tdh_mem_track(struct tdx_module *m, struct tdx_regs *out, uint64_t tdr)
{
	struct td_ctx c;
	bool epoch_locked = false;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MEM_TRACK, 1);
	uint64_t st = td_lock_tdr(m, &c, tdr, SEAM_SHARED, OPND_RCX);
	if (st)
		goto out;
	st = td_check_state(&c, TDH_MEM_TRACK, SEAM_SHARED);
	if (st)
		goto out;
	struct tdx_td *td = c.td;
	if (!seam_sharex_try(&td->epoch_lock, SEAM_EXCLUSIVE, SEAM_LOCK_EPOCH)) {
		st = err(TDX_OPERAND_BUSY, OPND_TD_EPOCH);
		goto out;
	}
	epoch_locked = true;
	uint64_t epoch = seam_load64(&td->td_epoch);
	if (seam_load64(&td->refcount[1 - (epoch & 1)]) != 0) {
		st = TDX_PREVIOUS_TLB_EPOCH_BUSY;
		goto out;
	}
	/* all checks passed */
	seam_store64(&td->td_epoch, epoch + 1);
out:
	if (epoch_locked)
		seam_sharex_release(&td->epoch_lock, SEAM_EXCLUSIVE, SEAM_LOCK_EPOCH);
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MEM_TRACK, st);
}
