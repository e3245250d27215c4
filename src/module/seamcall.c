/* SPDX-License-Identifier: MIT */
/*
 * seamcall.c - decode a raw SEAMCALL register file and dispatch to the
 * typed leaf handlers; leaf and status names.
 */
#include <stddef.h>

#include "internal.h"

/* Output registers each leaf writes (the rest keep their input values). */
enum { O_RCX = 1, O_RDX = 2, O_R8 = 4, O_R9 = 8, O_R10 = 16, O_R11 = 32 };

static const struct {
	const char *name;
	unsigned outs;
	unsigned maxver;	/* highest version (RAX bits 23:16) the leaf takes */
} leaves[TDH_NR_LEAVES] = {
	[TDH_VP_ENTER] = { "TDH.VP.ENTER", O_RCX | O_RDX | O_R8 },
	[TDH_MNG_ADDCX] = { "TDH.MNG.ADDCX", 0 },
	[TDH_MEM_PAGE_ADD] = { "TDH.MEM.PAGE.ADD", O_RCX | O_RDX },
	[TDH_MEM_SEPT_ADD] = { "TDH.MEM.SEPT.ADD", O_RCX | O_RDX | O_R8 | O_R9 | O_R10 | O_R11, 1 },
	[TDH_VP_ADDCX] = { "TDH.VP.ADDCX", 0 },
	[TDH_MEM_PAGE_RELOCATE] = { "TDH.MEM.PAGE.RELOCATE", O_RCX | O_RDX },
	[TDH_MEM_PAGE_AUG] = { "TDH.MEM.PAGE.AUG", O_RCX | O_RDX },
	[TDH_MEM_RANGE_BLOCK] = { "TDH.MEM.RANGE.BLOCK", O_RCX | O_RDX },
	[TDH_MNG_KEY_CONFIG] = { "TDH.MNG.KEY.CONFIG", 0 },
	[TDH_MNG_CREATE] = { "TDH.MNG.CREATE", 0 },
	[TDH_VP_CREATE] = { "TDH.VP.CREATE", 0 },
	[TDH_MEM_PAGE_DEMOTE] = { "TDH.MEM.PAGE.DEMOTE", O_RCX | O_RDX },
	[TDH_MR_EXTEND] = { "TDH.MR.EXTEND", O_RCX | O_RDX },
	[TDH_MR_FINALIZE] = { "TDH.MR.FINALIZE", 0 },
	[TDH_VP_FLUSH] = { "TDH.VP.FLUSH", 0 },
	[TDH_MNG_VPFLUSHDONE] = { "TDH.MNG.VPFLUSHDONE", 0 },
	[TDH_MNG_KEY_FREEID] = { "TDH.MNG.KEY.FREEID", 0 },
	[TDH_MNG_INIT] = { "TDH.MNG.INIT", O_RCX },
	[TDH_VP_INIT] = { "TDH.VP.INIT", 0 },
	[TDH_MEM_PAGE_PROMOTE] = { "TDH.MEM.PAGE.PROMOTE", O_RCX | O_RDX | O_R9 | O_R10 | O_R11, 1 },
	[TDH_MEM_SEPT_RD] = { "TDH.MEM.SEPT.RD", O_RCX | O_RDX | O_R8 },
	[TDH_PHYMEM_PAGE_RECLAIM] = { "TDH.PHYMEM.PAGE.RECLAIM",
				      O_RCX | O_RDX | O_R8 | O_R9 | O_R10 | O_R11 },
	[TDH_MEM_PAGE_REMOVE] = { "TDH.MEM.PAGE.REMOVE", O_RCX | O_RDX },
	[TDH_MEM_SEPT_REMOVE] = { "TDH.MEM.SEPT.REMOVE", O_RCX | O_RDX | O_R9 | O_R10 | O_R11, 1 },
	[TDH_MEM_TRACK] = { "TDH.MEM.TRACK", 0 },
	[TDH_MEM_RANGE_UNBLOCK] = { "TDH.MEM.RANGE.UNBLOCK", O_RCX | O_RDX },
	[TDH_PHYMEM_CACHE_WB] = { "TDH.PHYMEM.CACHE.WB", 0 },
	[TDH_PHYMEM_PAGE_WBINVD] = { "TDH.PHYMEM.PAGE.WBINVD", 0 },
	[TDH_PHYMEM_PAMT_ADD] = { "TDH.PHYMEM.PAMT.ADD", 0 },
	[TDH_PHYMEM_PAMT_REMOVE] = { "TDH.PHYMEM.PAMT.REMOVE", O_RDX | O_R8 },
};

const char *tdx_leaf_name(unsigned leaf)
{
	return leaf < TDH_NR_LEAVES ? leaves[leaf].name : NULL;
}

void tdx_seamcall(struct tdx_module *m, struct tdx_regs *r)
{
	struct tdx_regs out = { 0 };
	unsigned leaf = r->rax & 0xffff;
	unsigned ver = (r->rax >> 16) & 0xff;
	uint64_t st;

	/* bits 63:24 reserved; each leaf takes versions 0..maxver */
	if ((r->rax >> 24) != 0 || leaf >= TDH_NR_LEAVES || !leaves[leaf].name ||
	    ver > leaves[leaf].maxver) {
		r->rax = err(TDX_OPERAND_INVALID, OPND_RAX);
		return;
	}
	switch (leaf) {
	case TDH_VP_ENTER: st = tdh_vp_enter(m, &out, r->rcx); break;
	case TDH_MNG_ADDCX: st = tdh_mng_addcx(m, &out, r->rcx, r->rdx); break;
	case TDH_MEM_PAGE_ADD: st = tdh_mem_page_add(m, &out, r->rcx, r->rdx, r->r8, r->r9); break;
	case TDH_MEM_SEPT_ADD:
		if (ver == 0) {
			st = tdh_mem_sept_add(m, &out, r->rcx, r->rdx, r->r8);
			/* version 0 writes none of R8..R11 */
			out.r8 = r->r8;
			out.r9 = r->r9;
			out.r10 = r->r10;
			out.r11 = r->r11;
		} else if (r->r9 != TDX_NULL_PA || r->r10 != TDX_NULL_PA || r->r11 != TDX_NULL_PA) {
			/* an L2 S-EPT page for an L2 VM the TD does not have */
			st = err(TDX_OPERAND_INVALID, r->r9 != TDX_NULL_PA ? OPND_R9 :
				 r->r10 != TDX_NULL_PA ? OPND_R9 + 1 : OPND_R9 + 2);
			out.r8 = r->r8;
			out.r9 = r->r9;
			out.r10 = r->r10;
			out.r11 = r->r11;
		} else {
			st = tdh_mem_sept_add_v1(m, &out, r->rcx, r->rdx, r->r8);
		}
		break;
	case TDH_VP_ADDCX: st = tdh_vp_addcx(m, &out, r->rcx, r->rdx); break;
	case TDH_MEM_PAGE_RELOCATE: st = tdh_mem_page_relocate(m, &out, r->rcx, r->rdx, r->r8); break;
	case TDH_MEM_PAGE_DEMOTE:
		st = tdh_mem_page_demote(m, &out, r->rcx, r->rdx, r->r8, r->r12, r->r13);
		break;
	case TDH_MEM_PAGE_PROMOTE:
		st = tdh_mem_page_promote(m, &out, ver, r->rcx, r->rdx);
		/* R12/R13: the Dynamic PAMT pair of a 2M promote */
		if (st == TDX_SUCCESS && m->cfg.dynamic_pamt && (r->rcx & GPA_INFO_LEVEL_MASK) == 1) {
			r->r12 = out.r12;
			r->r13 = out.r13;
		}
		if (ver == 0) {
			out.r9 = r->r9;
			out.r10 = r->r10;
			out.r11 = r->r11;
		}
		break;
	case TDH_MEM_PAGE_AUG: st = tdh_mem_page_aug(m, &out, r->rcx, r->rdx, r->r8); break;
	case TDH_MEM_RANGE_BLOCK: st = tdh_mem_range_block(m, &out, r->rcx, r->rdx); break;
	case TDH_MNG_KEY_CONFIG: st = tdh_mng_key_config(m, &out, r->rcx); break;
	case TDH_MNG_CREATE: st = tdh_mng_create(m, &out, r->rcx, r->rdx); break;
	case TDH_VP_CREATE: st = tdh_vp_create(m, &out, r->rcx, r->rdx); break;
	case TDH_MR_EXTEND: st = tdh_mr_extend(m, &out, r->rcx, r->rdx); break;
	case TDH_MR_FINALIZE: st = tdh_mr_finalize(m, &out, r->rcx); break;
	case TDH_VP_FLUSH: st = tdh_vp_flush(m, &out, r->rcx); break;
	case TDH_MNG_VPFLUSHDONE: st = tdh_mng_vpflushdone(m, &out, r->rcx); break;
	case TDH_MNG_KEY_FREEID: st = tdh_mng_key_freeid(m, &out, r->rcx); break;
	case TDH_MNG_INIT: st = tdh_mng_init(m, &out, r->rcx, r->rdx); break;
	case TDH_VP_INIT: st = tdh_vp_init(m, &out, r->rcx, r->rdx); break;
	case TDH_MEM_SEPT_RD: st = tdh_mem_sept_rd(m, &out, r->rcx, r->rdx); break;
	case TDH_PHYMEM_PAGE_RECLAIM: st = tdh_phymem_page_reclaim(m, &out, r->rcx); break;
	case TDH_MEM_PAGE_REMOVE: st = tdh_mem_page_remove(m, &out, r->rcx, r->rdx); break;
	case TDH_MEM_SEPT_REMOVE:
		if (ver == 0) {
			st = tdh_mem_sept_remove(m, &out, r->rcx, r->rdx);
			out.r9 = r->r9;
			out.r10 = r->r10;
			out.r11 = r->r11;
		} else {
			st = tdh_mem_sept_remove_v1(m, &out, r->rcx, r->rdx);
		}
		break;
	case TDH_MEM_TRACK: st = tdh_mem_track(m, &out, r->rcx); break;
	case TDH_MEM_RANGE_UNBLOCK: st = tdh_mem_range_unblock(m, &out, r->rcx, r->rdx); break;
	case TDH_PHYMEM_CACHE_WB: st = tdh_phymem_cache_wb(m, &out, r->rcx); break;
	case TDH_PHYMEM_PAGE_WBINVD: st = tdh_phymem_page_wbinvd(m, &out, r->rcx); break;
	case TDH_PHYMEM_PAMT_ADD: st = tdh_phymem_pamt_add(m, &out, r->rcx, r->rdx, r->r8); break;
	case TDH_PHYMEM_PAMT_REMOVE: st = tdh_phymem_pamt_remove(m, &out, r->rcx); break;
	default:
		/* a named leaf the simulator does not implement yet */
		st = err(TDX_OPERAND_INVALID, OPND_RAX);
		break;
	}
	unsigned o = leaves[leaf].outs;
	r->rax = st;
	if (o & O_RCX) r->rcx = out.rcx;
	if (o & O_RDX) r->rdx = out.rdx;
	if (o & O_R8) r->r8 = out.r8;
	if (o & O_R9) r->r9 = out.r9;
	if (o & O_R10) r->r10 = out.r10;
	if (o & O_R11) r->r11 = out.r11;
}

#define N(x) { x, #x }
const struct tdx_status_desc tdx_status_catalog[] = {
	N(TDX_SUCCESS),
	N(TDX_INTERRUPTED_RESUMABLE),
	N(TDX_INTERRUPTED_RESTARTABLE),
	N(TDX_OPERAND_INVALID),
	N(TDX_OPERAND_ADDR_RANGE_ERROR),
	N(TDX_OPERAND_BUSY),
	N(TDX_PREVIOUS_TLB_EPOCH_BUSY),
	N(TDX_HOST_PRIORITY_BUSY_TIMEOUT),
	N(TDX_PAGE_METADATA_INCORRECT),
	N(TDX_PAGE_NOT_FREE),
	N(TDX_HPA_RANGE_NOT_FREE),
	N(TDX_NO_PAMT_PAGE_PAIR),
	N(TDX_PAMT_PAGE_NOT_EMPTY),
	N(TDX_MISSING_PAMT_PAGE_PAIR),
	N(TDX_TD_ASSOCIATED_PAGES_EXIST),
	N(TDX_TD_FATAL),
	N(TDX_TDCS_NOT_ALLOCATED),
	N(TDX_LIFECYCLE_STATE_INCORRECT),
	N(TDX_OP_STATE_INCORRECT),
	N(TDX_NO_VCPUS),
	N(TDX_TDCX_NUM_INCORRECT),
	N(TDX_VCPU_STATE_INCORRECT),
	N(TDX_NO_VALID_VE_INFO),
	N(TDX_VCPU_NOT_ASSOCIATED),
	N(TDX_MAX_VCPUS_EXCEEDED),
	N(TDX_TD_KEYS_NOT_CONFIGURED),
	N(TDX_WBCACHE_NOT_COMPLETE),
	N(TDX_HKID_NOT_FREE),
	N(TDX_NO_HKID_READY_TO_WBCACHE),
	N(TDX_WBCACHE_RESUME_ERROR),
	N(TDX_FLUSHVP_NOT_DONE),
	N(TDX_EPT_WALK_FAILED),
	N(TDX_EPT_ENTRY_NOT_PRESENT),
	N(TDX_GPA_RANGE_NOT_BLOCKED),
	N(TDX_GPA_RANGE_ALREADY_BLOCKED),
	N(TDX_TLB_TRACKING_NOT_DONE),
	N(TDX_EPT_INVALID_PROMOTE_CONDITIONS),
	N(TDX_PAGE_ALREADY_ACCEPTED),
	N(TDX_PAGE_SIZE_MISMATCH),
	N(TDX_EPT_ENTRY_STATE_INCORRECT),
	N(TDX_EPT_PAGE_NOT_FREE),
	N(TDX_METADATA_FIELD_ID_INCORRECT),
	N(TDX_METADATA_FIELD_NOT_WRITABLE),
	N(TDX_METADATA_FIELD_VALUE_NOT_VALID),
	{ 0, NULL },
};
#undef N

/* Codes defined by the ABI that this module never returns (for names only). */
static const struct tdx_status_desc other_codes[] = {
	{ TDX_NON_RECOVERABLE_VCPU, "TDX_NON_RECOVERABLE_VCPU" },
	{ TDX_NON_RECOVERABLE_TD, "TDX_NON_RECOVERABLE_TD" },
	{ TDX_OPERAND_BUSY_HOST_PRIORITY, "TDX_OPERAND_BUSY_HOST_PRIORITY" },
	{ TDX_PAGE_NOT_OWNED_BY_TD, "TDX_PAGE_NOT_OWNED_BY_TD" },
	{ TDX_VCPU_ASSOCIATED, "TDX_VCPU_ASSOCIATED" },
	{ TDX_KEY_STATE_INCORRECT, "TDX_KEY_STATE_INCORRECT" },
	{ TDX_KEY_CONFIGURED, "TDX_KEY_CONFIGURED" },
	{ 0, NULL },
};

const char *tdx_status_name(uint64_t status)
{
	uint64_t code = tdx_status_code(status);
	/* the fatal/non-recoverable bits are part of these codes' values */
	for (const struct tdx_status_desc *d = tdx_status_catalog; d->name; d++)
		if (d->code == code)
			return d->name;
	for (const struct tdx_status_desc *d = other_codes; d->name; d++)
		if (d->code == code)
			return d->name;
	return "TDX_UNKNOWN_STATUS";
}
