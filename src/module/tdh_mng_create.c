/* SPDX-License-Identifier: MIT */
/* TDH.MNG.CREATE (leaf 9): make a TDR page and assign a private key id. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "../engine/simheap.h"

static struct tdx_td *td_alloc(struct tdx_module *m)
{
	if (m->ntds >= PAMT_MAX_OWNER)
		return NULL;
	struct tdx_td **tds = sim_realloc(m->tds, (m->ntds + 1) * sizeof(*tds));
	if (!tds)
		return NULL;
	m->tds = tds;
	struct tdx_td *td = sim_calloc(1, sizeof(*td));
	if (!td)
		return NULL;
	td->m = m;
	td->id = ++m->ntds;
	m->tds[td->id - 1] = td;
	return td;
}

/*
 * RCX: the new TDR page (PT_NDA).  RDX: the key id (bits 15:0).
 * Errors: OPERAND_INVALID|RDX (reserved bits, key id out of range),
 * page checks |RCX, OPERAND_BUSY|KOT, HKID_NOT_FREE.
 */
uint64_t tdh_mng_create(struct tdx_module *m, struct tdx_regs *out, uint64_t tdr, uint64_t hkid)
{
	struct pamt_lock pl = { 0 };
	bool kot_locked = false;
	uint64_t st;

	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_MNG_CREATE, 1);
	if ((hkid >> 16) || hkid == 0 || hkid > m->cfg.nr_hkids)
		return seam_ret(SEAM_COST_SEAMCALL + TDH_MNG_CREATE,
				err(TDX_OPERAND_INVALID, OPND_RDX));
	st = pamt_check_lock_free(m, tdr, PAMT_4K, SEAM_LOCK_PAMT_TDR, OPND_RCX, &pl);
	if (st)
		goto out;
	if (!seam_sharex_try(&m->kot_lock, SEAM_EXCLUSIVE, SEAM_LOCK_KOT)) {
		st = err(TDX_OPERAND_BUSY, OPND_KOT);
		goto out;
	}
	kot_locked = true;
	if (m->hkid_state[hkid] != HKID_FREE) {
		st = TDX_HKID_NOT_FREE;
		goto out;
	}
	struct tdx_td *td = td_alloc(m);
	if (!td) {
		/* the simulator's own limit: report it as the module would a full table */
		st = TDX_HKID_NOT_FREE;
		goto out;
	}
	/* all checks passed */
	td->tdr = tdr;
	td->hkid = (uint16_t)hkid;
	td->lifecycle = TD_HKID_ASSIGNED;
	m->hkid_state[hkid] = HKID_ASSIGNED;
	physmem_zero_page(&m->pm, tdr);
	pamt_set(pl.leaf, PT_TDR, td->id);
out:
	if (kot_locked)
		seam_sharex_release(&m->kot_lock, SEAM_EXCLUSIVE, SEAM_LOCK_KOT);
	pamt_unwalk(&pl);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_MNG_CREATE, st);
}
