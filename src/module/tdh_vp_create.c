/* SPDX-License-Identifier: MIT */
/* TDH.VP.CREATE (leaf 10): make a TDVPR page for a new vCPU. */
#include <stdlib.h>

#include "internal.h"
#include "../engine/simheap.h"

uint64_t tdh_vp_create(struct tdx_module *m, struct tdx_regs *out, uint64_t tdvpr, uint64_t tdr)
{
	struct td_ctx c;
	struct pamt_lock pl = { 0 };
	out_clear(out);
	seam_charge(SEAM_COST_SEAMCALL + TDH_VP_CREATE, 1);
	uint64_t st = td_lock_tdr(m, &c, tdr, SEAM_SHARED, OPND_RDX);
	if (st)
		goto out;
	st = td_check_state(&c, TDH_VP_CREATE, SEAM_SHARED);
	if (st)
		goto out;
	st = pamt_check_lock_free(m, tdvpr, PAMT_4K, SEAM_LOCK_PAMT_PAGE, OPND_RCX, &pl);
	if (st)
		goto out;
	struct tdx_td *td = c.td;
	struct tdx_vcpu **vs = sim_realloc(td->vcpus, (td->nvcpus + 1) * sizeof(*vs));
	struct tdx_vcpu *v = sim_calloc(1, sizeof(*v));
	if (vs)
		td->vcpus = vs;
	if (!vs || !v || td->nvcpus == UINT32_MAX) {
		sim_free(v);
		st = TDX_MAX_VCPUS_EXCEEDED;	/* the simulator's own limit */
		goto out;
	}
	/* all checks passed */
	v->td = td;
	v->index = td->nvcpus;
	v->tdvpr = tdvpr;
	td->vcpus[td->nvcpus++] = v;
	physmem_zero_page(&m->pm, tdvpr);
	td_child_add(td, 1);
	pamt_set(pl.leaf, PT_TDVPR, td->id);
	pl.leaf->vcpu_index = v->index;
out:
	pamt_unwalk(&pl);
	td_ctx_release(&c);
	return seam_ret(SEAM_COST_SEAMCALL + TDH_VP_CREATE, st);
}
