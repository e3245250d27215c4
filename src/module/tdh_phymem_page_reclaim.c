/* SPDX-License-Identifier: MIT */
/*
 * TDH.PHYMEM.PAGE.RECLAIM (leaf 28): give a page of a torn-down TD back to
 * the host.  RCX/RDX/R8 out: PAMT type, owner TDR, page size.  The TDR goes
 * last, when no child page is left.
 */
#include "internal.h"

uint64_t tdh_phymem_page_reclaim(struct tdx_module *m, struct tdx_regs *out, uint64_t hpa)
{
	struct pamt_lock pl = { 0 }, owner_lock = { 0 };
	struct tdx_td *free_td = NULL;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_PHYMEM_PAGE_RECLAIM, 1);
	uint64_t st = hpa_operand_check(m, hpa, SZ_4K, OPND_RCX);
	if (st)
		return seam_ret(SEAM_COST_SEAMCALL + TDH_PHYMEM_PAGE_RECLAIM, st);
	st = pamt_walk_lock(m, hpa, PAMT_4K, SEAM_EXCLUSIVE, SEAM_LOCK_PAMT_PAGE, &pl);
	if (st)
		return seam_ret(SEAM_COST_SEAMCALL + TDH_PHYMEM_PAGE_RECLAIM, err(st, OPND_RCX));
	struct pamt_entry *e = pl.leaf;
	if (e->type == PT_NDA || e->type == PT_RSVD) {
		st = err(TDX_PAGE_METADATA_INCORRECT, OPND_RCX);
		goto out;
	}
	struct tdx_td *td = td_lookup(m, e->owner);
	out->rcx = e->type;
	out->rdx = e->type == PT_TDR ? 0 : td->tdr;
	out->r8 = pl.size;
	if (hpa & ((SZ_4K << (9 * pl.size)) - 1)) {
		st = err(TDX_OPERAND_INVALID, OPND_RCX);
		goto out;
	}
	if (e->type != PT_TDR) {
		if (pamt_walk_lock(m, td->tdr, PAMT_4K, SEAM_SHARED, SEAM_LOCK_PAMT_TDR,
				   &owner_lock)) {
			st = err(TDX_OPERAND_BUSY, OPND_TDR);
			goto out;
		}
		if (td->lifecycle != TD_TEARDOWN) {
			st = TDX_LIFECYCLE_STATE_INCORRECT;
			goto out;
		}
		td_child_add(td, -(int64_t)(1ull << (9 * pl.size)));
	} else {
		if (td->lifecycle != TD_TEARDOWN) {
			st = TDX_LIFECYCLE_STATE_INCORRECT;
			goto out;
		}
		if (td->child_count != 0) {
			st = TDX_TD_ASSOCIATED_PAGES_EXIST;
			goto out;
		}
		free_td = td;
	}
	/* all checks passed */
	pamt_set(e, PT_NDA, 0);
out:
	pamt_unwalk(&owner_lock);
	pamt_unwalk(&pl);
	if (free_td) {
		m->tds[free_td->id - 1] = NULL;
		td_free(free_td);
	}
	return seam_ret(SEAM_COST_SEAMCALL + TDH_PHYMEM_PAGE_RECLAIM, st);
}
