/* SPDX-License-Identifier: MIT */
/*
 * TDH.MEM.SEPT.REMOVE (leaf 30): unhook an empty S-EPT page from the entry
 * at GPA/level (1..root).  Once the TD is runnable the entry must be
 * NL_BLOCKED and tracked.  RCX out: the freed S-EPT page.  Version 1 also
 * reports the L2 S-EPT pages it freed in R9..R11: NULL_PA here, as the
 * simulator has no L2 VMs.
 */
#include "internal.h"

static uint64_t sept_remove(struct tdx_module *m, struct tdx_regs *out, unsigned version,
			    uint64_t info, uint64_t tdr)
{
	struct td_ctx c;
	struct pamt_lock pl = { 0 };
	uint64_t gpa, cur, *e;
	int level;
	out_clear(out);
	if (version)	/* the L2 pages it would free: none without L2 VMs */
		out->r9 = out->r10 = out->r11 = TDX_NULL_PA;
	seam_charge(SEAM_COST_SEAMCALL + TDH_MEM_SEPT_REMOVE, 1);
	uint64_t st = mem_prologue(m, &c, out, TDH_MEM_SEPT_REMOVE, tdr, info, TDX_LEVEL_2M,
				   -1, SEAM_EXCLUSIVE, &gpa, &level, &e, &cur);
	if (st)
		goto out;
	enum sept_state s = septe_state(cur);
	st = sept_check_state(SOP_SEPT_REMOVE, cur, level, out);
	if (st)
		goto out;
	uint64_t child = septe_hpa(cur);
	st = pamt_lock_implicit(m, child, PAMT_4K, SEAM_EXCLUSIVE, &pl);
	if (st) {
		st = err(st, OPND_RCX);
		goto out;
	}
	st = td_check_blocked_tracked(&c, out, cur, level, pl.leaf->bepoch, OPND_RCX);
	if (st)
		goto out;
	const uint64_t *kids = physmem_page_words(&m->pm, child);
	for (int i = 0; i < TDX_ENTRIES_PER_PAGE; i++) {
		if (septe_state(seam_load64(&kids[i])) != SEPT_FREE) {
			st = err(TDX_EPT_PAGE_NOT_FREE, OPND_RCX);
			sept_set_details(out, cur, level);
			goto out;
		}
	}
	/* all checks passed */
	c.td->sept_gen++;	/* the table goes away */
	sept_entry_write_unlock(e, septe_make(sept_rules[SOP_SEPT_REMOVE].next[s], 0));
	c.entry = NULL;
	physmem_zero_page(&m->pm, child);
	td_child_add(c.td, -1);
	pamt_set(pl.leaf, PT_NDA, 0);
	out->rcx = child;
out:
	pamt_unwalk(&pl);
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MEM_SEPT_REMOVE, st);
}

uint64_t tdh_mem_sept_remove(struct tdx_module *m, struct tdx_regs *out, uint64_t info,
			     uint64_t tdr)
{
	return sept_remove(m, out, 0, info, tdr);
}

uint64_t tdh_mem_sept_remove_v1(struct tdx_module *m, struct tdx_regs *out, uint64_t info,
				uint64_t tdr)
{
	return sept_remove(m, out, 1, info, tdr);
}
