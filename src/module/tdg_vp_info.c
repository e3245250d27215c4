/* SPDX-License-Identifier: MIT */
/*
 * TDG.VP.INFO (TDCALL leaf 1): what a guest learns about its TD and vCPU
 * (the 1.5 module's tdg_vp_info.c).  No input is checked and it always
 * succeeds.  Outputs: RCX = GPAW as a number (52 or 48); RDX = the TD's
 * ATTRIBUTES (so a guest sees SEPT_VE_DISABLE and, where the module
 * supports the proposal, SEPT_EXPLICIT_DEMOTION); R8 = NUM_VCPUS in bits
 * 31:0, MAX_VCPUS in bits 63:32; R9 = VCPU_INDEX; R10 = the TDCALLs
 * available beyond the base set (bit 0: TDG.SYS.RD); R11 = 0.
 */
#include <stdlib.h>

#include "internal.h"

uint64_t tdg_vp_info(struct tdx_vcpu *v, struct tdx_regs *out)
{
	if (!v->in_td)
		abort();	/* a caller bug: TDCALL from outside the TD */
	seam_charge(SEAM_COST_TDCALL, 1);
	td_step_check(v);
	struct tdx_td *td = v->td;
	*out = (struct tdx_regs){
		.rcx = td->gpaw ? 52 : 48,
		.rdx = td->attributes,
		.r8 = (uint64_t)td->num_vcpus | ((uint64_t)td->max_vcpus << 32),
		.r9 = v->vcpu_index,
		.r10 = 1,
	};
	uint64_t st = TDX_SUCCESS;
	tdcall_return(v, TDG_RETURN, &st);
	seam_event(SEAM_EV_RETURN, SEAM_COST_TDCALL, st);
	return st;
}
