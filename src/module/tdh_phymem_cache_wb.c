/* SPDX-License-Identifier: MIT */
/*
 * TDH.PHYMEM.CACHE.WB (leaf 40): write back and invalidate the caches for
 * every key whose TD was blocked.  Interruptible: between cache sub-blocks
 * a pending host interrupt makes it return INTERRUPTED_RESUMABLE; the host
 * then calls again with RCX = 1 (RESUME).
 */
#include <string.h>

#include "internal.h"

uint64_t tdh_phymem_cache_wb(struct tdx_module *m, struct tdx_regs *out, uint64_t cmd)
{
	uint64_t st = TDX_SUCCESS;
	bool kot_locked = false;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_PHYMEM_CACHE_WB, 1);
	if (cmd > TDX_CACHEWB_RESUME)
		return seam_ret(SEAM_COST_SEAMCALL + TDH_PHYMEM_CACHE_WB,
				err(TDX_OPERAND_INVALID, OPND_RCX));
	if (!seam_sharex_try(&m->wbt_lock, SEAM_EXCLUSIVE, SEAM_LOCK_WBT))
		return seam_ret(SEAM_COST_SEAMCALL + TDH_PHYMEM_CACHE_WB,
				err(TDX_OPERAND_BUSY, OPND_WBCACHE));
	if (!seam_sharex_try(&m->kot_lock, SEAM_SHARED, SEAM_LOCK_KOT)) {
		st = err(TDX_OPERAND_BUSY, OPND_KOT);
		goto out;
	}
	kot_locked = true;
	if (cmd == TDX_CACHEWB_START) {
		bool any = false;
		m->wb_intr_point = 0;
		for (unsigned k = 1; k <= m->cfg.nr_hkids; k++) {
			m->wb_selected[k] = m->hkid_state[k] == HKID_FLUSHED;
			any |= m->wb_selected[k];
		}
		if (!any) {
			st = TDX_NO_HKID_READY_TO_WBCACHE;
			goto out;
		}
	} else if (m->wb_intr_point == 0) {
		st = TDX_WBCACHE_RESUME_ERROR;
		goto out;
	}
	while (m->wb_intr_point < TDX_WB_SUB_BLOCKS) {
		m->wb_intr_point++;
		if (m->wb_intr_point < TDX_WB_SUB_BLOCKS && host_interrupt_pending(m)) {
			st = TDX_INTERRUPTED_RESUMABLE;
			goto out;
		}
	}
	m->wb_intr_point = 0;
	for (unsigned k = 1; k <= m->cfg.nr_hkids; k++)
		if (m->wb_selected[k])
			m->hkid_wb_pending[k] = 0;
out:
	if (kot_locked)
		seam_sharex_release(&m->kot_lock, SEAM_SHARED, SEAM_LOCK_KOT);
	seam_sharex_release(&m->wbt_lock, SEAM_EXCLUSIVE, SEAM_LOCK_WBT);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_PHYMEM_CACHE_WB, st);
}

int tdx_module_post_host_interrupt(struct tdx_module *m, int cpu, bool pending)
{
	if (cpu < 0 || cpu >= TDX_MAX_LOGICAL_CPUS)
		return -1;
	unsigned c = (unsigned)cpu;
	if (pending)
		m->host_intr[c / 64] |= 1ull << (c % 64);
	else
		m->host_intr[c / 64] &= ~(1ull << (c % 64));
	return 0;
}

void tdx_module_set_host_interrupt(struct tdx_module *m, bool pending)
{
	for (unsigned i = 0; i < TDX_MAX_LOGICAL_CPUS / 64; i++)
		m->host_intr[i] = pending ? ~0ull : 0;
}
