/* SPDX-License-Identifier: MIT */
/*
 * TDH.VP.FLUSH (leaf 18): flush a vCPU's TLB and VMCS state and dissociate
 * it from its logical processor.  A vCPU inside the TD holds its TDVPR
 * shared, so flushing it is OPERAND_BUSY|RCX.
 */
#include "internal.h"

uint64_t tdh_vp_flush(struct tdx_module *m, struct tdx_regs *out, uint64_t tdvpr)
{
	struct td_ctx c;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_VP_FLUSH, 1);
	uint64_t st = td_lock_vcpu(m, &c, tdvpr, SEAM_EXCLUSIVE, OPND_RCX);
	if (st)
		goto out;
	if (c.td->lifecycle != TD_KEYS_CONFIGURED) {
		st = TDX_TD_KEYS_NOT_CONFIGURED;
		goto out;
	}
	struct tdx_vcpu *v = c.vcpu;
	if (1 + v->num_tdcx < TDX_TDVPS_PAGES) {
		st = TDX_TDCX_NUM_INCORRECT;
		goto out;
	}
	if (!v->associated) {
		st = TDX_VCPU_NOT_ASSOCIATED;
		goto out;
	}
	/* all checks passed */
	v->associated = false;
	v->tlb_flushes++;
	c.td->num_assoc_vcpus--;
out:
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_VP_FLUSH, st);
}
