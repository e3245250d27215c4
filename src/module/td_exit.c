/* SPDX-License-Identifier: MIT */
/*
 * TD exit: the second half of TDH.VP.ENTER.  Leaves the epoch (without the
 * epoch lock, as the module does), drops the locks VP.ENTER kept, and
 * records the registers VP.ENTER returns.
 */
#include <stdlib.h>

#include "internal.h"

void td_exit(struct tdx_vcpu *v, uint64_t rax, uint64_t rcx, uint64_t rdx, uint64_t r8)
{
	if (!v->in_td)
		abort();	/* a caller bug: only a running vCPU exits */
	v->exit = (struct tdx_regs){ .rax = rax, .rcx = rcx, .rdx = rdx, .r8 = r8 };
	if (rax == TDX_HOST_PRIORITY_BUSY_TIMEOUT)
		v->last_exit = LAST_EXIT_ASYNC_TRAP;
	else if (rax == EXIT_REASON_TDCALL)
		v->last_exit = LAST_EXIT_TDVMCALL;
	else
		v->last_exit = LAST_EXIT_ASYNC_FAULT;
	seam_fetch_add64(&v->td->refcount[v->epoch & 1], (uint64_t)-1);
	v->in_td = false;
	seam_event(SEAM_EV_TD_EXIT, rax, r8);
	seam_charge(SEAM_COST_TD_EXIT, 1);
	pamt_unwalk(&v->enter_tdr);
	pamt_unwalk(&v->enter_tdvpr);
}

void tdx_td_exit(struct tdx_vcpu *v, uint64_t exit_reason, uint64_t rcx, uint64_t rdx)
{
	td_step_check(v);
	td_exit(v, exit_reason, rcx, rdx, 0);
}

/* Shared GPAs are not logged for zero-step, but the exit resets on progress. */
void tdx_td_exit_shared_ept(struct tdx_vcpu *v, uint64_t gpa, unsigned rwx)
{
	td_step_check(v);
	td_exit(v, EXIT_REASON_EPT_VIOLATION, rwx & 7, EEQ_TYPE_NONE, gpa & ~(SZ_4K - 1));
}

/*
 * The EPT-violation TD exit of a guest leaf that needs the host (ACCEPT,
 * type EEQ_TYPE_ACCEPT; ATTR.WR, EEQ_TYPE_ATTR_WR), as td_other_exits.c's
 * async_tdexit_ept_violation() builds it: the qualification says "write"
 * (both leaves write the entry) plus the R/W/X of @found, the entry where
 * the walk stopped (at @found_level), in bits 5:3; the extended
 * qualification carries the requested level, where the walk stopped, that
 * entry's public state and whether it is a leaf; R8 the GPA, 4K aligned.
 * The RWX bits come from the architectural view, which is the entry's own
 * permissions for every state (sept_arch_entry()).
 */
void td_exit_accept_violation(struct tdx_vcpu *v, unsigned eeq_type, uint64_t gpa, int req_level,
			      uint64_t found, int found_level)
{
	enum sept_state s = septe_state(found);
	uint64_t rwx = sept_arch_entry(found, found_level) & (EPTE_R | EPTE_W | EPTE_X);
	uint64_t exitq = EXITQ_WRITE | (rwx << 3);
	uint64_t eeq = (eeq_type & EEQ_TYPE_MASK) |
		       ((uint64_t)req_level << EEQ_ACCEPT_REQ_LEVEL_SHIFT) |
		       ((uint64_t)found_level << EEQ_ACCEPT_ERR_LEVEL_SHIFT) |
		       ((uint64_t)sept_public_state[s] << EEQ_ACCEPT_ERR_STATE_SHIFT) |
		       (sept_state_is_leaf(s) ? EEQ_ACCEPT_ERR_IS_LEAF : 0);
	td_exit(v, EXIT_REASON_EPT_VIOLATION, exitq, eeq, gpa & ~(SZ_4K - 1));
}

/*
 * Zero-step mitigation, exit side: an EPT violation on a private GPA (not
 * one caused by ACCEPT), after td_step_check() reset the tracking if the
 * guest made progress.  The first ZS_EPF_THRESHOLD violations at one RIP
 * only count; from then on each new faulting GPA is logged, and a
 * non-empty log makes the next VP.ENTER check it (tdh_vp_enter.c).
 */
void td_epf_log(struct tdx_vcpu *v, uint64_t gpa)
{
	if (v->epf_count < ZS_EPF_THRESHOLD) {
		v->epf_count++;
		return;
	}
	for (uint32_t i = 0; i < v->nepf; i++)
		if (v->epf_gpa[i] == gpa)
			return;
	if (v->nepf < ZS_GPA_LIST)
		v->epf_gpa[v->nepf++] = gpa;
}

/*
 * Would a guest access to private @gpa still take an EPT violation?  The
 * zero-step filter asks this of every logged GPA.  Only a MAPPED leaf lets
 * the access through.  A PENDING leaf counts as faulting whatever
 * SEPT_VE_DISABLE says: as td_exit_stepping.c's is_epf_expected() does,
 * the question is whether the CPU's walk (gpa_translate() for RWX) ends in
 * a violation that is not convertible to a #VE, and every L1 S-EPT entry
 * has suppress-#VE set; the #VE for a pending page is the module's own
 * choice after the VM exit (td_ept_violation.c), not the CPU's.  So a host
 * that AUGs a logged GPA does not let the vCPU in; the guest must be able to
 * run (and accept) first, which it cannot: with SEPT_VE_DISABLE 0 a logged
 * GPA that the host maps only by AUG keeps VP.ENTER refusing.
 */
bool td_gpa_would_fault(struct tdx_td *td, uint64_t gpa)
{
	int level;
	uint64_t cur;
	sept_walk(td, gpa, TDX_LEVEL_4K, &level, &cur);
	return septe_state(cur) != SEPT_MAPPED;
}
