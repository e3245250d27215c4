/* SPDX-License-Identifier: MIT */
/*
 * TDH.MR.EXTEND (leaf 16): extend MRTD with 256 bytes of a MAPPED private
 * page: one 128-byte header block ("MR.EXTEND", GPA) and the two blocks of
 * data.  Build time only; the exclusive TDR lock serialises it.
 */
#include "internal.h"

uint64_t tdh_mr_extend(struct tdx_module *m, struct tdx_regs *out, uint64_t gpa, uint64_t tdr)
{
	struct td_ctx c;
	uint8_t chunk[256];
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MR_EXTEND, 1);
	uint64_t st = td_lock_tdr(m, &c, tdr, SEAM_EXCLUSIVE, OPND_RDX);
	if (st)
		goto out;
	st = td_check_state(&c, TDH_MR_EXTEND, LOCK_NONE);
	if (st)
		goto out;
	if (gpa & 255) {
		st = err(TDX_OPERAND_INVALID, OPND_RCX);
		goto out;
	}
	st = td_gpa_check(c.td, gpa);
	if (st)
		goto out;
	int level;
	uint64_t cur;
	sept_walk(c.td, gpa, TDX_LEVEL_4K, &level, &cur);
	if (septe_state(cur) != SEPT_MAPPED) {
		st = err(TDX_EPT_ENTRY_NOT_PRESENT, OPND_RCX);
		sept_set_details(out, cur, level);
		goto out;
	}
	/* all checks passed */
	uint64_t hpa = septe_hpa(cur) + (gpa & (tdx_level_size(level) - 1));
	physmem_read(&m->pm, hpa, chunk, sizeof(chunk));
	mrtd_extend_block(c.td, "MR.EXTEND", gpa);
	mrtd_extend_data(c.td, chunk, sizeof(chunk));
out:
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MR_EXTEND, st);
}
