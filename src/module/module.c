/* SPDX-License-Identifier: MIT */
/*
 * module.c - module instance, TD lookup and the preconditions common to
 * host calls (module-abi.md section 4), in the order the real module checks
 * them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "../engine/simheap.h"

void tdx_module_default_config(struct tdx_module_config *c)
{
	memset(c, 0, sizeof(*c));
	c->phys_size = 64 * SZ_1G;
	c->max_pa = 46;
	c->ept_5level = true;
	c->nr_hkids = 64;
	c->hp_timeout_ns = TDX_HP_LOCK_TIMEOUT_NS;
}

struct tdx_module *tdx_module_create(const struct tdx_module_config *c)
{
	if (c->nr_hkids == 0 || c->nr_hkids > 65535) {
		fprintf(stderr, "tdxsim: nr_hkids %u out of range 1..65535\n", c->nr_hkids);
		return NULL;
	}
	if (c->ntdmr < 0 || c->ntdmr > 16) {
		fprintf(stderr, "tdxsim: ntdmr %d out of range 0..16\n", c->ntdmr);
		return NULL;
	}
	if (c->dynamic_pamt && c->max_pa > TDX_DYNAMIC_PAMT_MAX_PA) {
		/* MAX_DYNAMIC_PAMT_HKID_START_BIT in pamt_manager.h of the 2025 module */
		fprintf(stderr, "tdxsim: Dynamic PAMT needs MAX_PA <= %u (got %u)\n",
			TDX_DYNAMIC_PAMT_MAX_PA, c->max_pa);
		return NULL;
	}
	struct tdx_module *m = sim_calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->cfg = *c;
	if (!m->cfg.hp_timeout_ns)
		m->cfg.hp_timeout_ns = TDX_HP_LOCK_TIMEOUT_NS;
	if (physmem_init(&m->pm, c->phys_size, c->max_pa))
		goto fail;
	m->pm.dynamic_pamt = c->dynamic_pamt;	/* before any chunk exists */
	if (c->ntdmr == 0) {
		uint64_t top = c->phys_size & ~(SZ_1G - 1);
		if (top <= SZ_1G) {
			fprintf(stderr, "tdxsim: need more than 1 GiB of memory for the default TDMR\n");
			goto fail;
		}
		if (physmem_add_tdmr(&m->pm, SZ_1G, top - SZ_1G))
			goto fail;
	}
	for (int i = 0; i < c->ntdmr; i++)
		if (physmem_add_tdmr(&m->pm, c->tdmr[i].base, c->tdmr[i].size))
			goto fail;
	/* key id 0 is the host's (TME) key; private keys are 1..nr_hkids */
	m->hkid_state = sim_calloc(c->nr_hkids + 1u, 1);
	m->hkid_wb_pending = sim_calloc(c->nr_hkids + 1u, 1);
	m->wb_selected = sim_calloc(c->nr_hkids + 1u, 1);
	if (!m->hkid_state || !m->hkid_wb_pending || !m->wb_selected)
		goto fail;
	return m;
fail:
	tdx_module_destroy(m);
	return NULL;
}

void td_free(struct tdx_td *td)
{
	for (uint32_t i = 0; i < td->nvcpus; i++)
		sim_free(td->vcpus[i]);
	sim_free(td->vcpus);
	mrtd_free(td);
	sim_free(td);
}

void tdx_module_destroy(struct tdx_module *m)
{
	if (!m)
		return;
	for (uint32_t i = 0; i < m->ntds; i++)
		if (m->tds[i])
			td_free(m->tds[i]);
	sim_free(m->tds);
	sim_free(m->hkid_state);
	sim_free(m->hkid_wb_pending);
	sim_free(m->wb_selected);
	physmem_destroy(&m->pm);
	sim_free(m);
}

struct physmem *tdx_module_physmem(struct tdx_module *m)
{
	return &m->pm;
}

struct tdx_td *td_lookup(struct tdx_module *m, uint32_t id)
{
	return (id && id <= m->ntds) ? m->tds[id - 1] : NULL;
}

/*
 * An explicit HPA operand: aligned to @align and within MAX_PA
 * (OPERAND_INVALID), inside a TDMR (OPERAND_ADDR_RANGE_ERROR).
 */
uint64_t hpa_operand_check(struct tdx_module *m, uint64_t hpa, uint64_t align, uint32_t opnd)
{
	if ((hpa & (align - 1)) || (hpa >> m->pm.max_pa))
		return err(TDX_OPERAND_INVALID, opnd);
	if (!physmem_valid(&m->pm, hpa) || !physmem_in_tdmr(&m->pm, hpa))
		return err(TDX_OPERAND_ADDR_RANGE_ERROR, opnd);
	return TDX_SUCCESS;
}

/*
 * Step 1: the TDR operand.  Valid page, PT_TDR, locked in @mode (the real
 * module's "TDR lock" is the PAMT lock of the TDR page).
 */
uint64_t td_lock_tdr(struct tdx_module *m, struct td_ctx *c, uint64_t tdr,
		     enum seam_lock_mode mode, uint32_t opnd)
{
	td_ctx_init(c, m);
	uint64_t st = pamt_check_lock(m, tdr, PAMT_4K, PT_TDR, mode,
				      SEAM_LOCK_PAMT_TDR, opnd, &c->tdr);
	if (st)
		return st;
	c->tdr_locked = true;
	c->td = td_lookup(m, c->tdr.leaf->owner);
	return TDX_SUCCESS;
}

/* Op states each leaf may run in (include/auto_gen/op_state_lookup.c). */
#define U (1u << OP_STATE_UNINITIALIZED)
#define I (1u << OP_STATE_INITIALIZED)
#define R (1u << OP_STATE_RUNNABLE)
const uint8_t td_op_state_table[TDH_NR_LEAVES] = {
	[TDH_VP_ENTER] = R,
	[TDH_MNG_ADDCX] = U,
	[TDH_MEM_PAGE_ADD] = I,
	[TDH_MEM_SEPT_ADD] = I | R,
	[TDH_VP_ADDCX] = I,
	[TDH_MEM_PAGE_RELOCATE] = I | R,
	[TDH_MEM_PAGE_AUG] = I | R,
	[TDH_MEM_RANGE_BLOCK] = I | R,
	[TDH_VP_CREATE] = I,
	[TDH_MNG_RD] = I | R,
	[TDH_MEM_PAGE_DEMOTE] = I | R,
	[TDH_MR_EXTEND] = I,
	[TDH_MR_FINALIZE] = I,
	[TDH_VP_FLUSH] = U | I | R,
	[TDH_MNG_INIT] = U,
	[TDH_VP_INIT] = I,
	[TDH_MEM_PAGE_PROMOTE] = I | R,
	[TDH_MEM_SEPT_RD] = I | R,
	[TDH_VP_RD] = I | R,
	[TDH_MEM_PAGE_REMOVE] = I | R,
	[TDH_MEM_SEPT_REMOVE] = I | R,
	[TDH_MEM_TRACK] = I | R,
	[TDH_MEM_RANGE_UNBLOCK] = I | R,
};
#undef U
#undef I
#undef R

/*
 * A TDVPR operand (@opnd), locked in @mode, then its TD's TDR locked shared
 * as an implicit operand (OPERAND_BUSY|TDR).
 */
uint64_t td_lock_vcpu(struct tdx_module *m, struct td_ctx *c, uint64_t tdvpr,
		      enum seam_lock_mode mode, uint32_t opnd)
{
	td_ctx_init(c, m);
	uint64_t st = pamt_check_lock(m, tdvpr, PAMT_4K, PT_TDVPR, mode,
				      SEAM_LOCK_PAMT_TDVPR, opnd, &c->tdvpr);
	if (st)
		return st;
	c->tdvpr_locked = true;
	c->td = td_lookup(m, c->tdvpr.leaf->owner);
	c->vcpu = c->td->vcpus[c->tdvpr.leaf->vcpu_index];
	if (pamt_walk_lock(m, c->td->tdr, PAMT_4K, SEAM_SHARED, SEAM_LOCK_PAMT_TDR, &c->tdr))
		return err(TDX_OPERAND_BUSY, OPND_TDR);
	c->tdr_locked = true;
	return TDX_SUCCESS;
}

/* The out-of-line copy of mem_prologue_inline() (internal.h) for the colder leaves. */
uint64_t mem_prologue(struct tdx_module *m, struct td_ctx *c, struct tdx_regs *out,
		      unsigned leaf, uint64_t tdr, uint64_t info, int min_level,
		      int max_level, enum seam_lock_mode tree_mode,
		      uint64_t *gpa, int *level, uint64_t **entry, uint64_t *cur)
{
	return mem_prologue_inline(m, c, out, leaf, tdr, info, min_level, max_level, tree_mode,
				   gpa, level, entry, cur);
}

/*
 * Step 8 of the remove-class leaves (PAGE.REMOVE, SEPT.REMOVE, UNBLOCK):
 * once the TD is runnable, the entry @cur must be blocked
 * (GPA_RANGE_NOT_BLOCKED|RCX, details in *out) and TLB tracking of its
 * block epoch @bepoch complete (TLB_TRACKING_NOT_DONE|@tracking_opnd).  In
 * the INITIALIZED op state no vCPU has run, so neither is required.
 */
uint64_t td_check_blocked_tracked(struct td_ctx *c, struct tdx_regs *out, uint64_t cur,
				  int level, uint64_t bepoch, uint32_t tracking_opnd)
{
	if (c->td->op_state != OP_STATE_RUNNABLE)
		return TDX_SUCCESS;
	if (!sept_state_is_blocked(septe_state(cur))) {
		sept_set_details(out, cur, level);
		return err(TDX_GPA_RANGE_NOT_BLOCKED, OPND_RCX);
	}
	if (!td_tlb_tracked(c->td, bepoch))
		return err(TDX_TLB_TRACKING_NOT_DONE, tracking_opnd);
	return TDX_SUCCESS;
}

/* Step 4: the S-EPT tree lock (OPERAND_BUSY|SEPT_TREE). */
uint64_t td_lock_sept(struct td_ctx *c, enum seam_lock_mode mode)
{
	if (!seam_sharex_try(&c->td->sept_lock, mode, SEAM_LOCK_SEPT_TREE))
		return err(TDX_OPERAND_BUSY, OPND_SEPT_TREE);
	c->sept_locked = true;
	c->sept_mode = mode;
	return TDX_SUCCESS;
}


/* Release everything @c holds, in reverse order of acquisition. */
void td_ctx_release(struct td_ctx *c)
{
	if (c->entry) {
		seam_bit_unlock(c->entry, SEPTE_LOCK, SEAM_LOCK_SEPT_ENTRY);
		c->entry = NULL;
	}
	if (c->sept_locked) {
		seam_sharex_release(&c->td->sept_lock, c->sept_mode, SEAM_LOCK_SEPT_TREE);
		c->sept_locked = false;
	}
	if (c->op_locked) {
		seam_sharex_release(&c->td->op_state_lock, c->op_mode, SEAM_LOCK_OP_STATE);
		c->op_locked = false;
	}
	if (c->tdr_locked) {
		pamt_unwalk(&c->tdr);
		c->tdr_locked = false;
	}
	if (c->tdvpr_locked) {
		pamt_unwalk(&c->tdvpr);
		c->tdvpr_locked = false;
	}
}

uint64_t tdx_td_shared_bit(const struct tdx_td *td)
{
	return td->gpaw ? BIT64(51) : BIT64(47);
}

/*
 * Step 3 (GPA part): private (shared bit clear) and no bits above the GPA
 * width (48 with GPAW 0, 52 with GPAW 1).  OPERAND_INVALID|RCX.
 */
uint64_t td_gpa_check(const struct tdx_td *td, uint64_t gpa)
{
	unsigned width = td->gpaw ? 52 : 48;
	if (gpa & tdx_td_shared_bit(td))
		return err(TDX_OPERAND_INVALID, OPND_RCX);
	if (width < 64 && (gpa >> width))
		return err(TDX_OPERAND_INVALID, OPND_RCX);
	return TDX_SUCCESS;
}

/*
 * Step 3 (encoding part): reserved bits zero, level within
 * [@min_level, @max_level], GPA aligned to the level's size.
 */
uint64_t gpa_info_check(uint64_t info, int min_level, int max_level)
{
	int level = (int)(info & GPA_INFO_LEVEL_MASK);
	uint64_t gpa = info & GPA_INFO_GPA_MASK;
	if (info & (GPA_INFO_RSVD0_MASK | GPA_INFO_RSVD1_MASK))
		return err(TDX_OPERAND_INVALID, OPND_RCX);
	if (level < min_level || level > max_level)
		return err(TDX_OPERAND_INVALID, OPND_RCX);
	if (gpa & (tdx_level_size(level) - 1))
		return err(TDX_OPERAND_INVALID, OPND_RCX);
	return TDX_SUCCESS;
}

/*
 * Is TLB tracking done for a page blocked in epoch @bepoch?  Yes if two
 * epochs have passed, or one has and no vCPU is still inside @bepoch.
 */
bool td_tlb_tracked(struct tdx_td *td, uint64_t bepoch)
{
	uint64_t epoch = seam_load64(&td->td_epoch);
	if (bepoch + 1 < epoch)
		return true;
	if (bepoch + 1 == epoch)
		return seam_load64(&td->refcount[bepoch & 1]) == 0;
	return false;
}


/* ---- inspection ---- */

struct tdx_td *tdx_td_by_tdr(struct tdx_module *m, uint64_t tdr)
{
	if (tdr & (SZ_4K - 1) || !physmem_valid(&m->pm, tdr) ||
	    pamt_peek_type(&m->pm, tdr, PAMT_4K) != PT_TDR)
		return NULL;
	return td_lookup(m, pamt_entry_of(&m->pm, tdr, PAMT_4K)->owner);
}

struct tdx_vcpu *tdx_vcpu_by_tdvpr(struct tdx_module *m, uint64_t tdvpr)
{
	if (tdvpr & (SZ_4K - 1) || !physmem_valid(&m->pm, tdvpr) ||
	    pamt_peek_type(&m->pm, tdvpr, PAMT_4K) != PT_TDVPR)
		return NULL;
	struct pamt_entry *e = pamt_entry_of(&m->pm, tdvpr, PAMT_4K);
	struct tdx_td *td = td_lookup(m, e->owner);
	if (!td || e->vcpu_index >= td->nvcpus)
		return NULL;
	return td->vcpus[e->vcpu_index];
}

struct tdx_td *tdx_td_by_tdvpr(struct tdx_module *m, uint64_t tdvpr)
{
	struct tdx_vcpu *v = tdx_vcpu_by_tdvpr(m, tdvpr);
	return v ? v->td : NULL;
}

struct tdx_td *tdx_hpa_owner(struct tdx_module *m, uint64_t hpa)
{
	struct phys_1g *g = physmem_valid(&m->pm, hpa) ? physmem_chunk1g(&m->pm, hpa, false) : NULL;
	if (!g)
		return NULL;
	const struct pamt_entry *e = &g->pamt1g;
	if (e->type != PT_REG) {
		e = &g->pamt2m[(hpa >> 21) & 511];
		if (e->type != PT_REG) {
			struct phys_2m *c = g->c2m[(hpa >> 21) & 511];
			e = c && c->pamt4k ? &c->pamt4k[(hpa >> 12) & 511] : NULL;
		}
	}
	return e && e->type == PT_REG ? td_lookup(m, e->owner) : NULL;
}

bool tdx_td_mrtd(const struct tdx_td *td, uint8_t mrtd[TDX_MRTD_BYTES])
{
	if (!td->mrtd_final)
		return false;
	memcpy(mrtd, td->mrtd, TDX_MRTD_BYTES);
	return true;
}

enum td_op_state tdx_td_op_state(const struct tdx_td *td) { return td->op_state; }
enum td_lifecycle tdx_td_lifecycle(const struct tdx_td *td) { return td->lifecycle; }
uint64_t tdx_td_epoch(const struct tdx_td *td) { return td->td_epoch; }
uint64_t tdx_td_child_count(const struct tdx_td *td) { return td->child_count; }
uint64_t tdx_td_attributes(const struct tdx_td *td) { return td->attributes; }
int tdx_td_levels(const struct tdx_td *td) { return td->root_level + 1; }
bool tdx_td_gpaw(const struct tdx_td *td) { return td->gpaw; }

const struct tdx_regs *tdx_vcpu_exit_regs(const struct tdx_vcpu *v) { return &v->exit; }
const struct tdx_ve_info *tdx_vcpu_ve(const struct tdx_vcpu *v) { return &v->ve; }
bool tdx_vcpu_in_td(const struct tdx_vcpu *v) { return v->in_td; }
void tdx_vcpu_set_interrupt_pending(struct tdx_vcpu *v, bool p) { v->interrupt_pending = p; }
void tdx_vcpu_set_rip(struct tdx_vcpu *v, uint64_t rip) { v->rip = rip; }
uint64_t tdx_vcpu_initial_rcx(const struct tdx_vcpu *v) { return v->initial_rcx; }
uint64_t tdx_vcpu_tlb_generation(const struct tdx_vcpu *v) { return v->tlb_flushes; }

void tdx_vcpu_zero_step(const struct tdx_vcpu *v, struct tdx_zero_step *zs)
{
	zs->epf_count = v->epf_count;
	zs->logged = v->nepf;
	zs->filter_runs = v->zs_filter_runs;
	zs->refused = v->zs_refused;
}

uint64_t tdx_module_features0(const struct tdx_module *m)
{
	/* this module always supports Dynamic PAMT; the host decides to enable it */
	uint64_t f = TDX_FEATURES0_DYNAMIC_PAMT;
	if (m->cfg.enhanced_demote_interruptibility)
		f |= TDX_FEATURES0_ENHANCED_DEMOTE_INTERRUPTIBILITY;
	if (m->cfg.sept_explicit_demotion)
		f |= TDX_FEATURES0_SEPT_EXPLICIT_DEMOTION;
	if (m->cfg.nonblocking_resize)
		f |= TDX_FEATURES0_NONBLOCKING_RESIZE;
	return f;
}

bool tdx_module_dynamic_pamt(const struct tdx_module *m)
{
	return m->cfg.dynamic_pamt;
}
