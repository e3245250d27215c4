/* SPDX-License-Identifier: MIT */
/*
 * TDH.VP.ENTER (leaf 0), entry half.  Returns TDX_SUCCESS when the vCPU
 * entered, EXIT_REASON_EPT_VIOLATION (0x30, success class) when the
 * zero-step filter refused entry with a synthesized exit, or an error.  On TDX_SUCCESS the vCPU is inside the
 * TD: the TDVPR and TDR PAMT locks stay held shared, and the vCPU counts in
 * refcount[td_epoch & 1], until the TD exit (td_exit.c) releases them and
 * writes VP.ENTER's output registers into the vCPU's exit record.  The engine
 * runs the guest program between the two halves.
 */
#include "internal.h"

#define ENTER_RCX_RSVD (GENMASK64(11, 0) | GENMASK64(63, 54))

uint64_t tdh_vp_enter(struct tdx_module *m, struct tdx_regs *out, uint64_t rcx)
{
	struct td_ctx c;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_VP_ENTER, 1);
	if (rcx & ENTER_RCX_RSVD)
		return seam_ret(SEAM_COST_SEAMCALL + TDH_VP_ENTER,
				err(TDX_OPERAND_INVALID, OPND_RCX));
	uint64_t tdvpr = rcx & GENMASK64(51, 12);
	uint64_t st = td_lock_vcpu(m, &c, tdvpr, SEAM_SHARED, OPND_RCX);
	if (st)
		goto fail;
	st = td_check_state(&c, TDH_VP_ENTER, SEAM_SHARED);
	if (st)
		goto fail;
	struct tdx_vcpu *v = c.vcpu;
	struct tdx_td *td = c.td;
	if (1 + v->num_tdcx < TDX_TDVPS_PAGES) {
		st = TDX_TDCX_NUM_INCORRECT;
		goto fail;
	}
	if (!v->initialized || v->in_td) {
		st = TDX_VCPU_STATE_INCORRECT;
		goto fail;
	}
	/*
	 * Associate first, then check the flags, as the module's
	 * tdh_vp_enter() does (check_and_associate_vcpu() before the
	 * host-recoverability hint and RESUME_L1): a VP.ENTER refused for its
	 * flags leaves the vCPU associated, so VP.FLUSH is then needed.
	 */
	bool new_association = !v->associated;
	if (new_association) {
		v->associated = true;
		td->num_assoc_vcpus++;
	}
	if ((rcx & VP_ENTER_HOST_RECOVERABILITY_HINT) && v->last_exit != LAST_EXIT_ASYNC_TRAP) {
		st = err(TDX_OPERAND_INVALID, OPND_RCX);
		goto fail;
	}
	/* RESUME_L1 needs a current L2 VM, which the simulator never has */
	if (rcx & VP_ENTER_RESUME_L1) {
		st = err(TDX_OPERAND_INVALID, OPND_RCX);
		goto fail;
	}
	/* TLB tracking: count this vCPU in the current epoch */
	if (!seam_sharex_try(&td->epoch_lock, SEAM_SHARED, SEAM_LOCK_EPOCH)) {
		st = err(TDX_OPERAND_BUSY, OPND_TD_EPOCH);
		goto fail;
	}
	uint64_t epoch = seam_load64(&td->td_epoch);
	seam_fetch_add64(&td->refcount[epoch & 1], 1);
	seam_sharex_release(&td->epoch_lock, SEAM_SHARED, SEAM_LOCK_EPOCH);
	if (epoch != v->epoch && !new_association)
		v->tlb_flushes++;
	v->epoch = epoch;

	/*
	 * Zero-step filter: if EPT violations at one RIP passed the threshold,
	 * re-check the logged GPAs under the exclusive tree lock and refuse to
	 * enter while one would still fault, returning a synthesized EPT
	 * violation exit instead: RAX 0x30, RCX qualification 0x2 (a write and
	 * nothing else, as emulate_ept_violation_td_exit() in the module's
	 * tdh_vp_enter.c builds it), R8 the GPA.
	 */
	v->rip_on_entry = v->rip;
	bool zs_locked = false;	/* the tree lock, kept until just before entry */
	if (v->nepf) {
		v->zs_filter_runs++;
		if (!seam_sharex_try(&td->sept_lock, SEAM_EXCLUSIVE, SEAM_LOCK_SEPT_TREE)) {
			seam_fetch_add64(&td->refcount[epoch & 1], (uint64_t)-1);
			st = err(TDX_OPERAND_BUSY, OPND_SEPT_TREE);
			goto fail;
		}
		uint64_t faulting = ~0ull;
		for (uint32_t i = 0; i < v->nepf && faulting == ~0ull; i++)
			if (td_gpa_would_fault(td, v->epf_gpa[i]))
				faulting = v->epf_gpa[i];
		if (faulting != ~0ull) {
			seam_sharex_release(&td->sept_lock, SEAM_EXCLUSIVE, SEAM_LOCK_SEPT_TREE);
			seam_fetch_add64(&td->refcount[epoch & 1], (uint64_t)-1);
			v->zs_refused++;
			seam_event(SEAM_EV_ZERO_STEP, faulting, 0);
			v->exit = (struct tdx_regs){ .rax = EXIT_REASON_EPT_VIOLATION,
						     .rcx = EXITQ_WRITE,
						     .r8 = faulting & ~(SZ_4K - 1) };
			v->last_exit = LAST_EXIT_ASYNC_FAULT;
			out->rcx = v->exit.rcx;
			out->r8 = v->exit.r8;
			st = EXIT_REASON_EPT_VIOLATION;
			goto fail;
		}
		/*
		 * Let in: the lock stays exclusive until just before entering,
		 * as td_entry_stepping_filter() and the module's tdh_vp_enter()
		 * do (released after the op-state lock, right before the return
		 * to the TD), so no S-EPT change slips in between the check and
		 * the entry.
		 */
		zs_locked = true;
	}

	/* entered: keep TDVPR and TDR held until the exit */
	v->in_td = true;	/* the host-priority timer is left running */
	v->enter_tdvpr = c.tdvpr;
	v->enter_tdr = c.tdr;
	c.tdvpr_locked = c.tdr_locked = false;
	td_ctx_release(&c);	/* the op-state lock is not held while running */
	if (zs_locked)
		seam_sharex_release(&td->sept_lock, SEAM_EXCLUSIVE, SEAM_LOCK_SEPT_TREE);
	seam_charge(SEAM_COST_TD_ENTRY, 1);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_VP_ENTER, TDX_SUCCESS);
fail:
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_VP_ENTER, st);
}
