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
	pamt_unwalk(&v->enter_tdr);
	pamt_unwalk(&v->enter_tdvpr);
}

void tdx_td_exit(struct tdx_vcpu *v, uint64_t exit_reason, uint64_t rcx, uint64_t rdx)
{
	td_exit(v, exit_reason, rcx, rdx, 0);
}
