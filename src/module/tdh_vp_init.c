/* SPDX-License-Identifier: MIT */
/*
 * TDH.VP.INIT (leaf 22): initialize a vCPU whose TDVPS is complete.  Takes
 * the next vCPU index and associates the vCPU with the (single simulated)
 * logical processor.
 */
#include "internal.h"

uint64_t tdh_vp_init(struct tdx_module *m, struct tdx_regs *out, uint64_t tdvpr, uint64_t initial_rcx)
{
	struct td_ctx c;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_VP_INIT, 1);
	uint64_t st = td_lock_vcpu(m, &c, tdvpr, SEAM_EXCLUSIVE, OPND_RCX);
	if (st)
		goto out;
	st = td_check_state(&c, TDH_VP_INIT, SEAM_SHARED);
	if (st)
		goto out;
	struct tdx_vcpu *v = c.vcpu;
	struct tdx_td *td = c.td;
	if (1 + v->num_tdcx < TDX_TDVPS_PAGES) {
		st = TDX_TDCX_NUM_INCORRECT;
		goto out;
	}
	if (v->initialized) {
		st = TDX_VCPU_STATE_INCORRECT;
		goto out;
	}
	if (td->num_vcpus >= td->max_vcpus) {
		st = TDX_MAX_VCPUS_EXCEEDED;
		goto out;
	}
	/* all checks passed: VCPU_INDEX is the order of VP.INIT (TDG.VP.INFO R9) */
	v->vcpu_index = td->num_vcpus++;
	v->initialized = true;
	v->initial_rcx = initial_rcx;
	v->associated = true;
	v->epoch = 0;
	td->num_assoc_vcpus++;
out:
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_VP_INIT, st);
}
