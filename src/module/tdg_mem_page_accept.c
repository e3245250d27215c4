/* SPDX-License-Identifier: MIT */
/*
 * TDG.MEM.PAGE.ACCEPT (TDCALL leaf 6): the guest accepts a PENDING page at
 * 4K or 2M; the module zeroes it and maps it.  Outcomes (module-abi.md
 * section 7):
 *   - walk stops above the level at a MAPPED leaf: PAGE_ALREADY_ACCEPTED +
 *     the level found;
 *   - walk stops above the level at anything else: EPT-violation TD exit,
 *     extended info type ACCEPT with the requested level (the TDCALL runs
 *     again after the host acts);
 *   - at the level: guest entry lock (OPERAND_BUSY; host priority wins),
 *     present non-leaf: PAGE_SIZE_MISMATCH + level, MAPPED:
 *     PAGE_ALREADY_ACCEPTED + level, PENDING: zero and map, anything else:
 *     EPT-violation TD exit.
 * A 2M accept zeroes 512 pages, keeping its progress in the entry; a pending
 * interrupt stops it between pages (TDG_INTERRUPTED) and the next ACCEPT
 * resumes where it stopped.
 */
#include <stdlib.h>

#include "internal.h"


/*
 * The end of a TDCALL that returns to the guest: the block after the EXIT
 * label of td_call in the module's TD dispatcher (module-abi.md section 5).
 * A status of OPERAND_BUSY_HOST_PRIORITY reaches the guest as OPERAND_BUSY
 * (with the same operand id) and starts the host-priority busy timer, or,
 * when it has been running for the timeout, exits to the host with
 * HOST_PRIORITY_BUSY_TIMEOUT.  Any other status, including plain
 * OPERAND_BUSY from entry-lock contention, operand errors and an
 * interrupted ACCEPT (TDX_SUCCESS to the dispatcher), resets the timer.
 * A TDCALL that ends in an asynchronous TD exit never gets here, and
 * VP.ENTER does not touch the timer, so it keeps running across both.
 */
enum tdg_outcome tdcall_return(struct tdx_vcpu *v, enum tdg_outcome o, uint64_t *status)
{
	if (tdx_status_code(*status) != TDX_OPERAND_BUSY_HOST_PRIORITY) {
		v->hp_busy = false;
		return o;
	}
	*status = TDX_OPERAND_BUSY | (*status & TDX_STATUS_OPERAND_MASK);
	uint64_t now = seam_now_ns();
	if (!v->hp_busy) {
		v->hp_busy = true;
		v->hp_busy_since_ns = now;
	} else if (now - v->hp_busy_since_ns >= v->td->m->cfg.hp_timeout_ns) {
		v->hp_busy = false;
		td_exit(v, TDX_HOST_PRIORITY_BUSY_TIMEOUT, 0, 0, 0);
		return TDG_EXIT;
	}
	return o;
}

/*
 * The leaf proper.  TDG_RETURN / TDG_INTERRUPTED leave a status for
 * tdcall_return() (TDX_SUCCESS when interrupted); TDG_EXIT is an
 * asynchronous TD exit to the host.
 */
static enum tdg_outcome accept(struct tdx_vcpu *v, uint64_t info, uint64_t *status)
{
	struct tdx_td *td = v->td;
	struct physmem *pm = &td->m->pm;
	uint64_t gpa;
	int level;
	*status = gpa_info_decode(td, info, TDX_LEVEL_4K, TDX_LEVEL_2M, &gpa, &level);
	if (*status)
		return TDG_RETURN;

	int reached;
	uint64_t cur;
	uint64_t *e = sept_walk(td, gpa, level, &reached, &cur);
	if (reached != level) {
		if (septe_state(cur) == SEPT_MAPPED) {
			*status = TDX_PAGE_ALREADY_ACCEPTED | (uint32_t)reached;
			return TDG_RETURN;
		}
		td_exit_accept_violation(v, EEQ_TYPE_ACCEPT, gpa, level, cur, reached);
		return TDG_EXIT;
	}
	*status = td_lock_entry_guest(e, &cur);
	if (*status)
		return TDG_RETURN;
	enum sept_state s = septe_state(cur);
	if (s == SEPT_NL_MAPPED || s == SEPT_NL_BLOCKED) {
		seam_bit_unlock(e, SEPTE_LOCK, SEAM_LOCK_SEPT_ENTRY);
		*status = TDX_PAGE_SIZE_MISMATCH | (uint32_t)level;
		return TDG_RETURN;
	}
	if (s == SEPT_MAPPED) {
		seam_bit_unlock(e, SEPTE_LOCK, SEAM_LOCK_SEPT_ENTRY);
		*status = TDX_PAGE_ALREADY_ACCEPTED | (uint32_t)level;
		return TDG_RETURN;
	}
	if (!sept_allowed(SOP_ACCEPT, s)) {
		seam_bit_unlock(e, SEPTE_LOCK, SEAM_LOCK_SEPT_ENTRY);
		td_exit_accept_violation(v, EEQ_TYPE_ACCEPT, gpa, level, cur, level);
		return TDG_EXIT;
	}
	/*
	 * PENDING: zero the page(s), then commit.  As the module does, the new
	 * value (the copy read after locking, with HP clear) is written with
	 * the lock still set and the lock is released after it, so the write
	 * wipes a host-priority bit a host set while the guest held the entry.
	 */
	uint64_t hpa = septe_hpa(cur);
	enum tdg_outcome o = TDG_RETURN;
	uint64_t next = septe_make(sept_rules[SOP_ACCEPT].next[s], hpa);
	if (level == TDX_LEVEL_4K) {
		physmem_zero_page(pm, hpa);
		seam_charge(SEAM_COST_ZERO_4K, 1);
	} else {
		uint64_t done = (cur & SEPTE_ACNT_MASK) >> SEPTE_ACNT_SHIFT;
		for (;;) {
			physmem_zero_page(pm, hpa + done * SZ_4K);
			seam_charge(SEAM_COST_ZERO_4K, 1);
			if (done == TDX_ENTRIES_PER_PAGE - 1)
				break;
			done++;
			if (v->interrupt_pending) {
				next = (cur & ~SEPTE_ACNT_MASK) | (done << SEPTE_ACNT_SHIFT);
				o = TDG_INTERRUPTED;
				break;
			}
		}
	}
	sept_entry_write_locked(e, next);
	seam_bit_unlock(e, SEPTE_LOCK, SEAM_LOCK_SEPT_ENTRY);
	*status = TDX_SUCCESS;
	return o;
}

enum tdg_outcome tdg_mem_page_accept(struct tdx_vcpu *v, uint64_t info, uint64_t *status)
{
	if (!v->in_td)
		abort();	/* a caller bug: TDCALL from outside the TD */
	seam_charge(SEAM_COST_TDCALL, 1);
	td_step_check(v);	/* a TDCALL is a VM exit into the module */
	enum tdg_outcome o = accept(v, info, status);
	if (o != TDG_EXIT)
		o = tdcall_return(v, o, status);
	seam_event(SEAM_EV_RETURN, SEAM_COST_TDCALL, o == TDG_EXIT ? SEAM_EV_NO_STATUS : *status);
	return o;
}
