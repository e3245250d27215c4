/* SPDX-License-Identifier: MIT */
/*
 * TDG.VP.VEINFO.GET (TDCALL leaf 3): the guest reads the information of the
 * #VE it is handling, which frees VE_INFO for the next one.  Mirrors the
 * module's tdg_vp_veinfo_get.c: RCX exit reason, RDX exit qualification,
 * R8 guest linear address, R9 GPA, R10 instruction length and info, all
 * zero with TDX_NO_VALID_VE_INFO when VE_INFO is not valid.  A #VE that
 * comes while VE_INFO is still valid becomes #DF (td_ept_violation.c), so a
 * #VE handler calls this first, as Linux's does.
 */
#include <stdlib.h>

#include "internal.h"

uint64_t tdg_vp_veinfo_get(struct tdx_vcpu *v, struct tdx_regs *out)
{
	if (!v->in_td)
		abort();	/* a caller bug: TDCALL from outside the TD */
	seam_charge(SEAM_COST_TDCALL, 1);
	td_step_check(v);	/* a TDCALL is a VM exit into the module */
	out_clear(out);
	uint64_t st = TDX_NO_VALID_VE_INFO;
	if (v->ve_valid) {
		out->rcx = v->ve.exit_reason;
		out->rdx = v->ve.exit_qual;
		out->r8 = 0;		/* the simulator has no guest linear addresses */
		out->r9 = v->ve.gpa;
		out->r10 = 0;		/* nor instruction lengths */
		v->ve_valid = false;
		st = TDX_SUCCESS;
	}
	/*
	 * The TD dispatcher's end of every TDCALL (td_call): a status other
	 * than OPERAND_BUSY_HOST_PRIORITY, which this leaf never returns,
	 * resets the host-priority busy timer (see tdg_mem_page_accept.c).
	 */
	v->hp_busy = false;
	seam_event(SEAM_EV_RETURN, SEAM_COST_TDCALL, st);
	return st;
}
