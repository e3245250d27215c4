/* SPDX-License-Identifier: MIT */
/*
 * TDG.VM.RD (TDCALL leaf 7) and TDG.VM.WR (leaf 8), version 0: the guest
 * reads and writes TD-scope metadata (the 1.5 module's tdg_vm_rd_wr.c and
 * metadata_td.c).  Inputs: RCX = VM index (0: the TD itself; anything else
 * is an L2 VM, OPERAND_INVALID|RCX here), RDX = field id, for WR R8 = value
 * and R9 = write mask.  Output R8: the value (RD) or the old value (WR) on
 * success, 0 on any failure.
 *
 * Only two fields are modelled, the ones a guest uses to steer pending-page
 * #VE: CONFIG_FLAGS (read-only to the guest) and TD_CTLS, whose bit 0
 * PENDING_VE_DISABLE the guest may change only when the TD was configured
 * with FLEXIBLE_PENDING_VE (TDX_METADATA_FIELD_VALUE_NOT_VALID otherwise;
 * writing the same value succeeds).  Any other well-formed field id is
 * TDX_METADATA_FIELD_ID_INCORRECT, as a field the real table lacks is: a
 * fidelity gap for fields real modules have (docs/design.md).
 */
#include <stdlib.h>

#include "internal.h"

/* Bits a single-element field id must have clear (md_check_as_single_element_id). */
#define MD_ID_RSVD (GENMASK64(31, 24) | GENMASK64(49, 47) | BIT64(55) | BIT64(62) | \
		    GENMASK64(37, 34) | GENMASK64(46, 38))
/* What identifies a field: class code (61:56) and field code (23:0). */
#define MD_ID_KEY (GENMASK64(61, 56) | GENMASK64(23, 0))

struct md_field {
	uint64_t id;
	uint64_t guest_wr_mask;
};

static const struct md_field md_fields[] = {
	{ MD_TDCS_CONFIG_FLAGS, 0 },
	{ MD_TDCS_TD_CTLS, TD_CTLS_PENDING_VE_DISABLE },
};

static const struct md_field *md_find(uint64_t id)
{
	for (size_t i = 0; i < sizeof(md_fields) / sizeof(md_fields[0]); i++)
		if ((md_fields[i].id & MD_ID_KEY) == (id & MD_ID_KEY))
			return &md_fields[i];
	return NULL;
}

static uint64_t md_value(const struct tdx_td *td, const struct md_field *f)
{
	if (f->id == MD_TDCS_CONFIG_FLAGS)
		return td->config_flags;
	return td->pending_ve_disable ? TD_CTLS_PENDING_VE_DISABLE : 0;
}

static uint64_t vm_rd_wr(struct tdx_vcpu *v, bool write, uint64_t vm, uint64_t id,
			 uint64_t value, uint64_t mask, uint64_t *r8)
{
	struct tdx_td *td = v->td;
	*r8 = 0;
	if (vm != 0)
		return err(TDX_OPERAND_INVALID, OPND_RCX);
	if (id & MD_ID_RSVD)
		return TDX_METADATA_FIELD_ID_INCORRECT;
	const struct md_field *f = md_find(id);
	if (!f)
		return TDX_METADATA_FIELD_ID_INCORRECT;
	uint64_t old = md_value(td, f);
	if (!write) {
		*r8 = old;	/* both fields are guest-readable in full */
		return TDX_SUCCESS;
	}
	uint64_t combined = f->guest_wr_mask & mask;
	if (!combined)
		return TDX_METADATA_FIELD_NOT_WRITABLE;
	/* bits the mask names but the guest may not write must keep their value */
	if ((value ^ old) & mask & ~f->guest_wr_mask)
		return TDX_METADATA_FIELD_VALUE_NOT_VALID;
	uint64_t nv = (old & ~combined) | (value & combined);
	if (f->id == MD_TDCS_TD_CTLS && ((nv ^ old) & TD_CTLS_PENDING_VE_DISABLE) &&
	    !(td->config_flags & TD_CONFIG_FLEXIBLE_PENDING_VE))
		return TDX_METADATA_FIELD_VALUE_NOT_VALID;
	if (f->id == MD_TDCS_TD_CTLS)
		td->pending_ve_disable = nv & TD_CTLS_PENDING_VE_DISABLE;
	*r8 = old;
	return TDX_SUCCESS;
}

static uint64_t vm_call(struct tdx_vcpu *v, bool write, uint64_t vm, uint64_t id,
			uint64_t value, uint64_t mask, uint64_t *r8)
{
	if (!v->in_td)
		abort();	/* a caller bug: TDCALL from outside the TD */
	seam_charge(SEAM_COST_TDCALL, 1);
	td_step_check(v);
	uint64_t st = vm_rd_wr(v, write, vm, id, value, mask, r8);
	tdcall_return(v, TDG_RETURN, &st);
	seam_event(SEAM_EV_RETURN, SEAM_COST_TDCALL, st);
	return st;
}

uint64_t tdg_vm_rd(struct tdx_vcpu *v, uint64_t vm, uint64_t field, uint64_t *value)
{
	return vm_call(v, false, vm, field, 0, 0, value);
}

uint64_t tdg_vm_wr(struct tdx_vcpu *v, uint64_t vm, uint64_t field, uint64_t value,
		   uint64_t mask, uint64_t *old)
{
	return vm_call(v, true, vm, field, value, mask, old);
}
