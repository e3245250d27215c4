/* SPDX-License-Identifier: MIT */
/*
 * TDH.PHYMEM.PAMT.REMOVE (leaf 59): Dynamic PAMT.  Take back the pair of a
 * 2M range (RCX: HPA | level 1) whose 4K pages are all free again; the pair
 * comes back in RDX and R8 and the pages are ordinary free pages again.
 *
 * As tdh_phymem_pamt_remove.c of the 2025 module: Dynamic PAMT enabled
 * (else OPERAND_INVALID|RAX); RCX well formed; inside a TDMR; the range's
 * 2M entry exclusive (OPERAND_BUSY|RCX), which excludes every walk to one of
 * its 4K entries, so they are read unlocked; PT_PAMT at 2M (else
 * NO_PAMT_PAGE_PAIR|RCX); all 512 4K entries PT_NDA, else PAMT_PAGE_NOT_EMPTY
 * whose operand id is the index of the pair page holding the entry (0 for
 * entries 0..255, 1 for 256..511), as the real module reports it.
 */
#include "internal.h"

uint64_t tdh_phymem_pamt_remove(struct tdx_module *m, struct tdx_regs *out, uint64_t info)
{
	struct pamt_lock pl = { 0 };
	uint64_t range, pair[2];
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_PHYMEM_PAMT_REMOVE, 1);
	uint64_t st = err(TDX_OPERAND_INVALID, OPND_RAX);
	if (!m->pm.dynamic_pamt)
		goto out;
	st = pamt_range_operand_check(m, info, &range);
	if (st)
		goto out;
	st = pamt_walk_lock(m, range, PAMT_2M, SEAM_EXCLUSIVE, SEAM_LOCK_PAMT_PAGE, &pl);
	if (st) {
		st = err(st, OPND_RCX);
		goto out;
	}
	if (pl.size != PAMT_2M || pl.leaf->type != PT_PAMT) {
		st = err(TDX_NO_PAMT_PAGE_PAIR, OPND_RCX);
		goto out;
	}
	const struct pamt_entry *a = physmem_chunk2m(&m->pm, range, false)->pamt4k;
	for (uint32_t i = 0; i < 512; i++) {
		if (a[i].type != PT_NDA) {
			st = err(TDX_PAMT_PAGE_NOT_EMPTY, i / 256);
			goto out;
		}
	}
	/* all checks passed */
	pamt_pair_take_back(m, range, pl.leaf, PT_NDA, 0, pair);
	out->rdx = pair[0];
	out->r8 = pair[1];
out:
	pamt_unwalk(&pl);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_PHYMEM_PAMT_REMOVE, st);
}
