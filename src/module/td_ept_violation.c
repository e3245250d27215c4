/* SPDX-License-Identifier: MIT */
/*
 * Guest accesses to private memory and the EPT violations they raise.
 *   - MAPPED leaf: the access goes through.
 *   - PENDING leaf, PENDING_VE_DISABLE 0: the module injects a #VE.
 *   - PENDING leaf, PENDING_VE_DISABLE 1: TD exit with extended info type
 *     PENDING_EPT_VIOLATION (the host treats it as a guest bug).
 *   - anything else (FREE, BLOCKED, missing table, ...): TD exit with no
 *     level information.
 * Exit registers: RAX 48 (EPT violation), RCX exit qualification, RDX
 * extended exit qualification, R8 GPA with bits 11:0 cleared.
 */
#include <stdlib.h>

#include "internal.h"

enum tdg_outcome tdx_guest_access(struct tdx_vcpu *v, uint64_t gpa, unsigned rwx, uint64_t *hpa)
{
	struct tdx_td *td = v->td;
	if (!v->in_td || (gpa & tdx_td_shared_bit(td)))
		abort();	/* caller bug: shared GPAs use the host's shared EPT */
	int level;
	uint64_t cur;
	sept_walk(td, gpa, TDX_LEVEL_4K, &level, &cur);
	enum sept_state s = septe_state(cur);
	if (s == SEPT_MAPPED) {
		*hpa = septe_hpa(cur) + (gpa & (tdx_level_size(level) - 1));
		return TDG_RETURN;
	}
	/* a VM exit into the module from here on, whether it ends in a #VE or a TD exit */
	td_step_check(v);
	/*
	 * The CPU's qualification: the access, the walk's RWX (none of the
	 * faulting states grants any) and a valid guest linear address.  A #VE
	 * gets it as it is; the TD exit clears bits 12:7 (td_other_exits.c,
	 * tdx_ept_violation_exit_to_vmm).
	 */
	uint64_t exitq = (rwx & 7) | EXITQ_GLA_VALID;
	if (s == SEPT_PENDING && !td->pending_ve_disable) {
		/*
		 * VE_INFO still holds a #VE the guest has not read (VEINFO.GET):
		 * the module injects #DF instead and leaves VE_INFO alone, as
		 * td_other_exits.c's tdx_inject_ve() does.
		 */
		if (v->ve_valid)
			return TDG_DF;
		v->ve_valid = true;
		v->ve = (struct tdx_ve_info){ EXIT_REASON_EPT_VIOLATION, exitq, gpa };
		seam_event(SEAM_EV_VE, gpa, 0);
		seam_charge(SEAM_COST_VE, 1);
		return TDG_VE;
	}
	uint64_t eeq = s == SEPT_PENDING ? EEQ_TYPE_PENDING_EPT_VIOLATION : EEQ_TYPE_NONE;
	/*
	 * The GPA is logged as the CPU reported it, page offset included, as
	 * td_ept_violation.c passes it to td_exit_epf_stepping_log(): two
	 * offsets in one page are two entries of the log.
	 */
	td_epf_log(v, gpa);
	td_exit(v, EXIT_REASON_EPT_VIOLATION, exitq & ~EXITQ_TD_EXIT_CLEARED, eeq,
		gpa & ~(SZ_4K - 1));
	return TDG_EXIT;
}
