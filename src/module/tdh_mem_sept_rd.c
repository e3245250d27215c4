/* SPDX-License-Identifier: MIT */
/*
 * TDH.MEM.SEPT.RD (leaf 25): read the entry at GPA/level.  RCX out: the
 * architectural EPT entry; RDX out: level (2:0) and public state (15:8).
 * RDX in bit 0 asks for L2 attributes, which only a DEBUG TD may do; the
 * simulator has no L2 VMs, so R8 out is 0.
 */
#include "internal.h"

uint64_t tdh_mem_sept_rd(struct tdx_module *m, struct tdx_regs *out, uint64_t info,
			 uint64_t handle)
{
	struct td_ctx c;
	uint64_t gpa, cur, *e;
	int level;
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MEM_SEPT_RD, 1);
	uint64_t tdr = handle & ~1ull;
	uint64_t st = td_lock_tdr(m, &c, tdr, SEAM_SHARED, OPND_RDX);
	if (st)
		goto out;
	st = td_check_state(&c, TDH_MEM_SEPT_RD, SEAM_SHARED);
	if (st)
		goto out;
	if ((handle & 1) && !(c.td->attributes & TD_ATTR_DEBUG)) {
		st = err(TDX_OPERAND_INVALID, OPND_RDX);
		goto out;
	}
	td_ctx_release(&c);
	st = mem_prologue(m, &c, out, TDH_MEM_SEPT_RD, tdr, info, TDX_LEVEL_4K, -1,
			  SEAM_SHARED, &gpa, &level, &e, &cur);
	if (st)
		goto out;
	sept_set_details(out, cur, level);
out:
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MEM_SEPT_RD, st);
}
